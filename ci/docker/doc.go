// Package docker is the low-level Docker layer of the CI: build an image
// from a Dockerfile in a checkout and run a command in an image, talking to
// the Docker Engine API through github.com/moby/moby/client.
//
// # Model
//
// A [Client] is one connection (pool) to one daemon. [New] pings the daemon
// and negotiates the API version (this client speaks API 1.40 and later;
// Docker Engine 19.03 and later). [Client.Build] sends a directory as the
// build context (honouring its .dockerignore), streams the build's output
// to a log as it comes, and returns the image ID. [Client.Run] creates a
// container, attaches to its output, starts it, streams its stdout and
// stderr to a log as they come, waits for it and always removes it.
//
// A run refers to a local image (a missing one is an error, never
// pulled). Builds use the classic builder without --pull, so a FROM image
// that is present is used as it is; one that is missing is pulled by the
// daemon, as docker build does (with no registry reachable the build fails
// with the daemon's message).
// A run has no network unless [RunOptions.Network] asks for one (a build's
// RUN steps have the daemon's default network, as with docker build).
// Containers log nothing on the daemon's side: their output is streamed.
//
// # Errors
//
// Three kinds of error come out of Build and Run, so that a CI can tell the
// code under test from its infrastructure:
//
//   - The command or the Dockerfile failed: an [*ExitError] (`Command "sh"
//     "-c" "exit 3" exited with status 3`), a failed build step (the
//     daemon's message), or a request the daemon refused (no such image,
//     unknown user, ...). These are plain errors.
//   - The time limit passed: a [*TimeoutError] (`Exceeded timeout of 2
//     seconds`, ci/process's wording), also a plain error. When the
//     caller's context ends, the error is the context's cause if it was
//     given one (so a step's own timeout keeps its text), else it wraps
//     context.Canceled or context.DeadlineExceeded.
//   - The daemon could not be reached, the connection to it broke, or it
//     stopped answering: an error wrapped with term.Infra (term.IsInfra
//     reports true), whose text names the daemon's address. Every call that
//     could block on a dead daemon is bounded ([Options.CallTimeout]), and
//     while output streams a heartbeat pings the daemon
//     ([Options.Heartbeat]), so a daemon that hangs gives an error, not a
//     hang.
//
// # Clean-up
//
// Every container Run creates carries the label [OwnerLabel] and is removed
// before Run returns, whatever happened: success, failure, timeout,
// cancellation, a daemon error, or a panic in the log writer. Clean-up uses
// a fresh context with a deadline, so a cancelled caller still gets its
// container removed. Only when the daemon itself cannot be reached does a
// container survive (the error says so); [Client.RemoveContainers] removes
// such leftovers later. So does a CI killed mid-run: with
// [Options.Owner] set, an [Engine] labels its run steps' containers with
// it ([CILabel]) and, when it first connects, removes those a previous run
// of the same CI left, saying so through [Options.Logger].
//
// Images are not removed: a build step's image is its result, which later
// lookups use. With [Options.Owner] set, the build steps' images carry
// [CILabel] too, so that they can be pruned (docs/ci.md says how); a step
// whose image is gone builds it again.
//
// # Steps
//
// [NewBuild] and [NewRun] make cached steps (package ci/cache) of a build
// and a run, through an [Engine]. A step's result branch is named by its
// label, a digest of the options that decide its result (so that a
// changed step does not take an old result for its own) and the commit or
// image: see [BuildStep] and [RunStep].
//
// # Executors
//
// A run step runs its command through an [Executor]: [Options.Executor],
// else the Client itself (the local engine). Package ci/swarm's runs it as
// a Docker Swarm service. The step labels its run with [StepLabel] (and
// the CI's [CILabel]), so that an executor can find the run of a step
// again after a restart; a build step labels its image with
// [SourceLabel] (its repository and Dockerfile), so that an executor can
// send the runs of one source to the same machine. Neither is part of a
// step's identity.
//
// # Concurrency
//
// A Client is safe for concurrent use by several goroutines. Build and Run
// write to their log only from the calling goroutine, so a log writer need
// not be safe for concurrent use, and a panic in it unwinds through Run's
// clean-up.
package docker
