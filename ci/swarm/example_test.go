package swarm_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/ci/swarm"
)

// Run a command as a service of the swarm the local daemon manages, with
// resources and a placement constraint. (Not run as a test: it needs a
// swarm.)
func Example() {
	x := swarm.New(swarm.Options{
		Reserve:     swarm.Resources{CPUs: 1, Memory: 512 << 20},
		Limit:       swarm.Resources{Memory: 2 << 30, Pids: 1024},
		Constraints: []string{"node.labels.ci==true"},
	})
	defer x.Close()
	err := x.Run(context.Background(), docker.RunOptions{
		Image:   "sha256:…", // an image the nodes have
		Cmd:     []string{"make", "test"},
		Timeout: 30 * time.Minute,
	}, os.Stdout)
	fmt.Println(err)
}

// The one option that moves an Engine's run steps to the swarm.
func Example_engine() {
	eng := docker.NewEngine(docker.Options{
		Owner:    "myci:/var/lib/myci",
		Executor: swarm.New(swarm.Options{}),
	})
	defer eng.Close()
	test := docker.NewRun(eng, "test", docker.RunOptions{Cmd: []string{"make", "test"}}, docker.StepOptions{})
	_ = test // test.In(image) is the step's term, as with the local engine
}
