// Package selfci is the CI that tests DataKit for Go itself, written with
// the public API only, as a model for a user's own pipeline: cmd/selfci is
// its main, and `make run` runs it on this checkout through the local
// bridge.
//
// # Jobs
//
// For every branch, tag and pull request of the repository:
//
//   - test-store, test-ninep, test-ci, test-web: `go test -race` of the
//     packages of an area (Groups), so that a failure points at its area;
//     the status of a failure names the packages and tests that failed;
//   - examples: the examples' tests and the dependency-direction test;
//   - tutorial: docs/tutorial.md followed literally (docs/tutorial_test.go);
//   - vet and gofmt;
//   - image: the server's Docker image (the repository's Dockerfile, FROM
//     scratch), built and run once, as `make image` does;
//   - all: waits for every other job.
//
// # Where the Go jobs run
//
// With Docker, the Go jobs run in containers of the Go image, which is made
// from this machine's own files, with no registry: its Go toolchain (GOROOT),
// its C compiler (go test -race needs cgo), git and a static busybox, each
// program with the shared libraries it loads (package selfci/rootfs). The
// image is tagged with a digest of that content: it is built once (about
// 350 MB, half a minute) and found again until the toolchain changes. Each job
// gets a fresh checkout of the commit at /src, no network, the host's module
// cache read-only (GOPROXY=off: a commit that needs a module the machine has
// never downloaded fails, saying so), and a build cache of the CI's own in
// its work directory. Tests that need a device or a daemon (Docker, FUSE, the
// kernel's 9p client, a browser) skip there, as they do on any machine
// without them; `make test` runs them.
//
// Without Docker the Go jobs run on the host, in fresh checkouts, and the
// image job reports status error ("Docker is not available: ...") while the
// others go on. Options.GoIn chooses.
//
// Heavy jobs (tests, vet, builds) wait in the pool "heavy", one at a time
// per four CPUs: on a small machine two never run together.
//
// # Results are kept
//
// Every step is a cached step (package ci/cache): its result and log live on
// a branch of the store named by everything that decides it (the command,
// the commit, the Go image's digest), so a second run reuses every finished
// result, and a changed job runs again.
//
// # Concurrency
//
// A Pipeline is made once, before the CI starts, and is then used by the
// engine's goroutines: its steps are safe for concurrent use.
package selfci
