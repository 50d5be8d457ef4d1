package swarm

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/ci/pool"
)

// BenchmarkTrivialStep runs `true` on the local engine (docker.Client.Run)
// and as a swarm service, in turns, and reports each one's time and the
// ratio: the swarm's overhead on a step that does nothing.
//
//	go test -run - -bench TrivialStep -benchtime 5x ./ci/swarm
func BenchmarkTrivialStep(b *testing.B) {
	needSwarm(b)
	x := newExecutor(b, Options{})
	o := docker.RunOptions{Image: baseImage, Cmd: []string{"true"}, Labels: testLabels()}
	ctx := context.Background()
	var tLocal, tSwarm time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		if err := local.Run(ctx, o, nil); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := x.Run(ctx, o, nil); err != nil {
			b.Fatal(err)
		}
		tLocal += mid.Sub(start)
		tSwarm += time.Since(mid)
		n++
	}
	b.ReportMetric(float64(tLocal.Milliseconds())/float64(n), "local-ms/step")
	b.ReportMetric(float64(tSwarm.Milliseconds())/float64(n), "swarm-ms/step")
	b.ReportMetric(tSwarm.Seconds()/tLocal.Seconds(), "swarm/local")
}

// BenchmarkThroughput50 runs 50 queued steps (`sleep 0.2`) through a pool
// of 8, on the local engine, then on the swarm, and reports steps per
// second of each and the ratio.
//
//	go test -run - -bench Throughput50 -benchtime 1x ./ci/swarm
func BenchmarkThroughput50(b *testing.B) {
	needSwarm(b)
	x := newExecutor(b, Options{})
	const steps, capacity = 50, 8
	o := docker.RunOptions{Image: baseImage, Cmd: []string{"sleep", "0.2"}, Labels: testLabels()}
	through := func(ex docker.Executor) time.Duration {
		p := pool.New("bench", capacity, nil)
		var wg sync.WaitGroup
		start := time.Now()
		for range steps {
			wg.Go(func() {
				release, err := p.Acquire(context.Background(), pool.Request{})
				if err != nil {
					b.Error(err)
					return
				}
				defer release()
				if err := ex.Run(context.Background(), o, nil); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	var tLocal, tSwarm time.Duration
	for b.Loop() {
		tLocal += through(local)
		tSwarm += through(x)
	}
	rate := func(d time.Duration) float64 { return float64(steps*b.N) / d.Seconds() }
	b.ReportMetric(rate(tLocal), "local-steps/s")
	b.ReportMetric(rate(tSwarm), "swarm-steps/s")
	b.ReportMetric(rate(tSwarm)/rate(tLocal), "swarm/local")
}
