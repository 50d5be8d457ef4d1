package cimain_test

import (
	"flag"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/term"
)

// A whole CI program: one project, one job. Run it with --help for its
// flags.
func ExampleMain() {
	cimain.Main(func() ci.Config {
		return ci.Config{Projects: []ci.Project{{
			Repo: "me/my-project",
			Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"my-test": term.Return("Success!")} },
		}}}
	})
}

// A program with flags of its own makes its steps from them, once, in the
// function it gives Main: Main calls it after parsing the flags. Every
// target's jobs share the steps (a step made inside Jobs would be made
// again for every target, and the CI reports the copies).
func ExampleMain_steps() {
	src := flag.String("src", ".", "the repository to test: a path or a URL")
	workDir := flag.String("work-dir", "/var/lib/ci/git", "`DIR` for the mirror of --src")
	cimain.Main(func() ci.Config {
		goPool := pool.New("go", 1, nil) // one Go command at a time
		remote := git.NewRemote(*src, *workDir, git.Options{})
		vet := remote.Command("vet", git.CommandOptions{Options: cache.Options{Pool: goPool}}, []string{"go", "vet", "./..."})
		return ci.Config{
			Projects: []ci.Project{{
				Repo: "me/my-project",
				Jobs: func(t ci.Target) ci.Jobs {
					return ci.Jobs{"vet": term.Then(term.Bind(remote.Fetch(t.Commit()), vet), "Vet passed")}
				},
			}},
			Pools: []*pool.Pool{goPool},
		}
	})
}
