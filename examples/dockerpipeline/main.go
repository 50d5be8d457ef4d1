// Command dockerpipeline builds each target's Dockerfile and runs its tests
// in the image, with at most two Docker steps at a time; "all" waits for
// both jobs. Every step is cached in the store with its log: a restart
// redoes nothing that finished.
//
//	go run ./examples/dockerpipeline --src /path/to/app \
//	    --local-repo me/app:/path/to/app --test "go test ./..."
package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/term"
)

func main() {
	src := flag.String("src", ".", "where commits are fetched from: a Git repository's path or URL")
	dockerfile := flag.String("dockerfile", "Dockerfile", "the Dockerfile, relative to the checkout")
	test := flag.String("test", "make test", "the test command, run with sh -c in the image")
	workDir := flag.String("work-dir", filepath.Join(os.TempDir(), "dockerpipeline"), "`DIR` for the Git mirror")
	// cimain parses the flags, then calls this once: the steps are made
	// here, and every target's jobs share them.
	cimain.Main(func() ci.Config {
		dockerPool := pool.New("docker", 2, nil) // two Docker steps at a time
		// Owner: the containers of a run of this CI that was killed are
		// removed at the next start.
		dk := docker.NewEngine(docker.Options{Owner: "dockerpipeline:" + *workDir})
		opts := docker.StepOptions{Pool: dockerPool}
		remote := git.NewRemote(*src, *workDir, git.Options{})
		build := docker.NewBuild(dk, strings.ReplaceAll(*dockerfile, "/", "-"), docker.BuildOptions{Dockerfile: *dockerfile}, opts)
		run := docker.NewRun(dk, "test", docker.RunOptions{Cmd: []string{"sh", "-c", *test}}, opts)
		jobs := func(t ci.Target) ci.Jobs {
			image := term.Bind(remote.Fetch(t.Commit()), build.Of)
			tests := term.Bind(image, run.In)
			return ci.Jobs{
				"build": term.Map(image, func(i docker.Image) string { return "Built " + i.Short() }),
				"test":  term.Then(tests, "Tests passed"),
				"all":   term.Then(term.WaitForAll(term.Named("build", image), term.Named("test", tests)), "All checks passed"),
			}
		}
		return ci.Config{Name: "dockerpipeline", Projects: []ci.Project{{Repo: "me/app", Jobs: jobs}}, Pools: []*pool.Pool{dockerPool}}
	})
}
