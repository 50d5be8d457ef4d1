// Command gopipeline is a realistic CI for a Go project: for every target it
// fetches the commit, then builds, vets and checks the formatting in fresh
// checkouts, one Go command at a time, and reports an overall job that
// waits for the three. Each step is cached in the store with its log, so a
// restart redoes nothing that finished. On this very checkout (whose
// own, larger CI is cmd/selfci, run by `make run`):
//
//	go run ./examples/gopipeline --src . --local-repo dkgo/datakit:.
package main

import (
	"flag"
	"os"
	"path/filepath"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/term"
)

func main() {
	// Flags of this program's own: cimain.Main parses them with its flags,
	// then calls the function, once.
	src := flag.String("src", ".", "where commits are fetched from: a local Git repository or a URL")
	workDir := flag.String("work-dir", filepath.Join(os.TempDir(), "gopipeline"), "`DIR` for the mirror of --src")
	cimain.Main(func() ci.Config { return pipeline(*src, *workDir) })
}

// pipeline is the CI of the repository at src, mirrored under workDir. Its
// steps are made here, once; every target's jobs use them.
func pipeline(src, workDir string) ci.Config {
	goPool := pool.New("go", 1, nil) // one Go command at a time
	go1 := git.CommandOptions{Options: cache.Options{Pool: goPool}}
	remote := git.NewRemote(src, workDir, git.Options{})
	buildStep := remote.Command("build", go1, []string{"go", "build", "./..."})
	vetStep := remote.Command("vet", go1, []string{"go", "vet", "./..."})
	gofmtStep := remote.Command("gofmt", go1, []string{"sh", "-c", `test -z "$(gofmt -l .)" || { gofmt -l .; exit 1; }`})

	jobs := func(t ci.Target) ci.Jobs {
		src := remote.Fetch(t.Commit())
		build := term.Bind(src, buildStep)
		vet := term.Bind(src, vetStep)
		gofmt := term.Bind(src, gofmtStep)
		return ci.Jobs{
			"build": term.Then(build, "Build succeeded"),
			"vet":   term.Then(vet, "Vet passed"),
			"gofmt": term.Then(gofmt, "Formatted"),
			"all": term.Then(term.WaitForAll(term.Named("build", build), term.Named("vet", vet),
				term.Named("gofmt", gofmt)), "All checks passed"),
		}
	}
	return ci.Config{
		Name:     "gopipeline",
		Projects: []ci.Project{{Repo: "dkgo/datakit", Jobs: jobs}},
		Pools:    []*pool.Pool{goPool},
		CanRead:  ci.Everyone(),
		CanBuild: ci.User("admin"),
	}
}
