package swarm

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/term"
)

func newExecutor(t testing.TB, o Options) *Executor {
	t.Helper()
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.NoNetwork == "" {
		o.NoNetwork = testNoNetwork
	}
	x := New(o)
	t.Cleanup(func() { x.Close() })
	return x
}

// A command's output, stdout and stderr, comes back in order, the last
// line without its newline too; the local image runs without a registry.
func TestRunSuccess(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	log := newLogBuffer("")
	err := x.Run(context.Background(), docker.RunOptions{
		Image:  baseImage,
		Cmd:    []string{"sh", "-c", "echo one; echo two >&2; sleep 1; echo three; printf four"},
		Labels: testLabels(),
	}, log)
	if err != nil {
		t.Fatalf("Run = %v\n%s", err, log)
	}
	// (stdout and stderr are two pipes: the node's log has their lines
	// in the order it read them)
	if got := log.String(); got != "one\ntwo\nthree\nfour" && got != "two\none\nthree\nfour" {
		t.Errorf("log = %q, want one and two, then three and four", got)
	}
	if s := services(t); len(s) != 0 {
		t.Errorf("services %v are left", s)
	}
}

// A failure is an *docker.ExitError naming the command as the container
// ran it (the image's entrypoint, here none, and the arguments).
func TestRunFailure(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	log := newLogBuffer("")
	err := x.Run(context.Background(), docker.RunOptions{
		Image:  baseImage,
		Cmd:    []string{"sh", "-c", "echo checking; echo FAIL: no such file; exit 3"},
		Labels: testLabels(),
	}, log)
	var exit *docker.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Run = %v, want an *ExitError\n%s", err, log)
	}
	if exit.Status != 3 || !reflect.DeepEqual(exit.Cmd, []string{"sh", "-c", "echo checking; echo FAIL: no such file; exit 3"}) {
		t.Errorf("ExitError = %+v", exit)
	}
	if want := `Command "sh" "-c" "echo checking; echo FAIL: no such file; exit 3" exited with status 3`; err.Error() != want {
		t.Errorf("Run = %q, want %q", err, want)
	}
	if !strings.HasSuffix(log.String(), "FAIL: no such file\n") || term.IsInfra(err) {
		t.Errorf("log = %q, infra = %v", log, term.IsInfra(err))
	}
}

// A missing image is the daemon's refusal, a plain error.
func TestRunMissingImage(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	err := x.Run(context.Background(), docker.RunOptions{Image: "dkgo-no-such-image:" + runID, Cmd: []string{"true"}, Labels: testLabels()}, nil)
	if err == nil || term.IsInfra(err) || !strings.Contains(err.Error(), "No such image") {
		t.Errorf("Run = %v, want the daemon's No such image", err)
	}
}

// Past its timeout a run's service is removed, and the error is the
// timeout's (ci/process's words).
func TestRunTimeout(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	log := newLogBuffer("started")
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		errc <- x.Run(context.Background(), docker.RunOptions{
			Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 300"},
			Timeout: 5 * time.Second, Labels: testLabels(),
		}, log)
	}()
	err := waitErr(t, errc, 2*time.Minute)
	var te *docker.TimeoutError
	if !errors.As(err, &te) || err.Error() != "Exceeded timeout of 5 seconds" {
		t.Fatalf("Run = %v, want the timeout\n%s", err, log)
	}
	if !strings.Contains(log.String(), "started") {
		t.Errorf("the output before the timeout was lost: %q", log)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("Run took %v", d)
	}
	if s := services(t); len(s) != 0 {
		t.Errorf("services %v are left after the timeout", s)
	}
}

// A cancelled run's service is removed at once, and the error wraps the
// cancellation.
func TestRunCancel(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	log := newLogBuffer("started")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- x.Run(ctx, docker.RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 300"}, Labels: testLabels()}, log)
	}()
	waitSeen(t, log, errc)
	if s := services(t); len(s) != 1 {
		t.Fatalf("while it runs: services %v, want 1", s)
	}
	cancel()
	err := waitErr(t, errc, time.Minute)
	if !errors.Is(err, context.Canceled) || term.IsInfra(err) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if s := services(t); len(s) != 0 {
		t.Errorf("services %v are left after the cancellation", s)
	}
}

// The first runs of an executor, started together, all make sure that
// its network for runs without one exists: only one creates it.
func TestConcurrentFirstRuns(t *testing.T) {
	needSwarm(t)
	network := "datakit-ci-none-first-" + runID
	defer removeNetwork(network)
	x := newExecutor(t, Options{NoNetwork: network})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := x.Run(context.Background(), docker.RunOptions{Image: baseImage, Cmd: []string{"true"}, Labels: testLabels()}, nil); err != nil {
				t.Errorf("run %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// A manager that cannot be reached is the infrastructure's failure, and
// so is a daemon that is not a swarm manager: term.Infra, the address in
// the message. (No swarm needed.)
func TestUnreachable(t *testing.T) {
	x := New(Options{Host: "unix://" + t.TempDir() + "/no.sock", CallTimeout: 10 * time.Second})
	defer x.Close()
	err := x.Run(context.Background(), docker.RunOptions{Image: "busybox", Cmd: []string{"true"}}, nil)
	if !term.IsInfra(err) || !strings.Contains(err.Error(), "no.sock") {
		t.Errorf("Run = %v, want an infrastructure error naming the address", err)
	}
}
