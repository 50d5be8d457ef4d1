// Command swarmpipeline is examples/dockerpipeline with its test runs on a
// Docker Swarm: one option (docker.Options.Executor) moves them from the
// local engine to services of the swarm that the local daemon manages.
// Builds stay on the local engine, and the swarm's nodes must have the
// images (docs/ci.md, "Docker Swarm", says how): on a single-node swarm
// they do.
//
//	docker swarm init --advertise-addr 127.0.0.1   # if no swarm is active
//	go run ./examples/swarmpipeline --src /path/to/app \
//	    --local-repo me/app:/path/to/app --test "go test ./..."
//
// A CI killed while a test runs finds the test's service when it starts
// again, and adopts it: the test goes on, its output is read back from the
// start, and its result is the step's.
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
	"github.com/dkgo/datakit/ci/swarm"
	"github.com/dkgo/datakit/term"
)

func main() {
	src := flag.String("src", ".", "where commits are fetched from: a Git repository's path or URL")
	dockerfile := flag.String("dockerfile", "Dockerfile", "the Dockerfile, relative to the checkout")
	test := flag.String("test", "make test", "the test command, run with sh -c in the image")
	workDir := flag.String("work-dir", filepath.Join(os.TempDir(), "swarmpipeline"), "`DIR` for the Git mirror")
	cpus := flag.Float64("cpus", 0, "CPUs reserved for each test run (0: none)")
	memory := flag.Int64("memory", 0, "memory limit of each test run, in bytes (0: none)")
	var constraints []string
	flag.Func("constraint", "a placement constraint for the test runs, e.g. node.labels.ci==true (repeatable)", func(s string) error {
		constraints = append(constraints, s)
		return nil
	})
	cimain.Main(func() ci.Config {
		runs := pool.New("swarm", 8, nil) // the swarm takes more at a time than one engine
		builds := pool.New("docker", 2, nil)
		dk := docker.NewEngine(docker.Options{
			Owner: "swarmpipeline:" + *workDir,
			// the one option: run steps become swarm services
			Executor: swarm.New(swarm.Options{
				Reserve:     swarm.Resources{CPUs: *cpus},
				Limit:       swarm.Resources{Memory: *memory},
				Constraints: constraints,
			}),
		})
		remote := git.NewRemote(*src, *workDir, git.Options{})
		build := docker.NewBuild(dk, strings.ReplaceAll(*dockerfile, "/", "-"), docker.BuildOptions{Dockerfile: *dockerfile}, docker.StepOptions{Pool: builds})
		run := docker.NewRun(dk, "test", docker.RunOptions{Cmd: []string{"sh", "-c", *test}}, docker.StepOptions{Pool: runs})
		jobs := func(t ci.Target) ci.Jobs {
			image := term.Bind(remote.Fetch(t.Commit()), build.Of)
			tests := term.Bind(image, run.In)
			return ci.Jobs{
				"build": term.Map(image, func(i docker.Image) string { return "Built " + i.Short() }),
				"test":  term.Then(tests, "Tests passed"),
				"all":   term.Then(term.WaitForAll(term.Named("build", image), term.Named("test", tests)), "All checks passed"),
			}
		}
		return ci.Config{Name: "swarmpipeline", Projects: []ci.Project{{Repo: "me/app", Jobs: jobs}}, Pools: []*pool.Pool{builds, runs}}
	})
}
