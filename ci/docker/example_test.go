package docker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/term"
)

// Build a checkout's Dockerfile, run its tests in the image with the
// checkout mounted read-only and no network, and tell the three outcomes
// apart. (Not run as a test: it needs a daemon and a checkout.)
func Example() {
	ctx := context.Background()
	c, err := docker.New(ctx, docker.Options{}) // DOCKER_HOST or the default socket
	if err != nil {
		fmt.Println(err) // term.IsInfra(err): no daemon
		return
	}
	defer c.Close()

	image, err := c.Build(ctx, docker.BuildOptions{
		ContextDir: "/src/checkout",
		Dockerfile: "Dockerfile.ci",
		BuildArgs:  map[string]string{"GO_VERSION": "1.26"},
		Target:     "test",
		Timeout:    20 * time.Minute,
	}, os.Stdout)
	if err != nil {
		fmt.Println(err)
		return
	}

	err = c.Run(ctx, docker.RunOptions{
		Image:   image,
		Cmd:     []string{"make", "test"},
		Mounts:  []docker.Mount{{Source: "/src/checkout", Target: "/src", ReadOnly: true}},
		WorkDir: "/src",
		Timeout: 30 * time.Minute,
	}, os.Stdout)
	var exit *docker.ExitError
	switch {
	case err == nil:
		fmt.Println("tests passed")
	case term.IsInfra(err):
		fmt.Println("error (not the code's fault):", err)
	case errors.As(err, &exit):
		fmt.Println("tests failed with status", exit.Status)
	default:
		fmt.Println("failure:", err) // timeout, refused request, cancellation
	}
}
