package pool_test

import (
	"context"
	"fmt"

	"github.com/dkgo/datakit/ci/pool"
	"github.com/prometheus/client_golang/prometheus"
)

func Example() {
	reg := prometheus.NewRegistry()
	docker := pool.New("docker", 1, pool.NewMetrics(reg))
	var pools pool.Registry
	if err := pools.Add(docker); err != nil {
		fmt.Println(err)
	}

	release, _ := docker.Acquire(context.Background(), pool.Request{Label: "me/repo prs/3 build", Priority: pool.High})
	// A background rebuild has to wait, and says why.
	waiting := make(chan func())
	go func() {
		r, _ := docker.Acquire(context.Background(), pool.Request{
			Label:    "me/repo heads/main rebuild",
			Priority: pool.Low,
			OnQueued: func() { fmt.Println(docker.Reason()); waiting <- nil },
		})
		waiting <- r
	}()
	<-waiting
	for _, p := range pools.List() {
		s := p.Status()
		fmt.Printf("%s: %d / %d [%d queued]\n", s.Name, len(s.Active), s.Capacity, len(s.Queued))
	}
	release()
	(<-waiting)()
	// Output:
	// Waiting for resource in "docker"
	// docker: 1 / 1 [1 queued]
}
