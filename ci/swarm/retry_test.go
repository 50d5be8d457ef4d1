package swarm

import (
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/client"
)

// A task whose node goes away runs again (elsewhere when there is an
// elsewhere: on this single node, on the same node), and the log and the
// pending reason say so. The node's going away is the one thing faked:
// the executor is told so of the node that runs the first task, once it
// has printed its first line.
func TestNodeGoneRunsAgain(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	log := newLogBuffer("started")
	var mu sync.Mutex
	calls := 0
	x.nodeGone = func(ctx context.Context, node string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if calls == 0 {
			select {
			case <-log.Seen():
			case <-ctx.Done():
			}
		}
		calls++
		return calls == 1, nil
	}
	err := x.Run(context.Background(), docker.RunOptions{
		Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 2; echo finished"}, Labels: testLabels(),
	}, log)
	if err != nil {
		t.Fatalf("Run = %v\n%s", err, log)
	}
	out := log.String()
	if strings.Count(out, "started\n") != 2 || !strings.HasSuffix(out, "finished\n") || !strings.Contains(out, "went away: running the step again on another node (attempt 2 of 3)") {
		t.Errorf("log = %q, want the output twice, the retry said between", out)
	}
	// the step's pending status says so until the new task runs
	reasons := log.Reasons()
	i := slices.IndexFunc(reasons, func(r string) bool { return strings.Contains(r, "went away: running the step again") })
	if i < 0 {
		t.Fatalf("reasons = %q, want one saying the step runs again", reasons)
	}
	for _, r := range reasons[i:] {
		if !strings.Contains(r, "went away: running the step again") {
			t.Errorf("reasons = %q: after the move, %q", reasons, r)
			break
		}
	}
}

// A run whose nodes keep going away gives up after Options.Attempts, with
// an infrastructure error.
func TestNodeGoneGivesUp(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{Attempts: 2})
	x.nodeGone = func(context.Context, string) (bool, error) { return true, nil }
	log := newLogBuffer("")
	err := x.Run(context.Background(), docker.RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 30"}, Labels: testLabels()}, log)
	if !term.IsInfra(err) || !strings.Contains(err.Error(), "node went away 2 times") {
		t.Errorf("Run = %v, want an infrastructure error after 2 attempts\n%s", err, log)
	}
}

// Runs with one cache hint go to the node that ran the last one: the
// service is constrained to it.
func TestCacheHintSameNode(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	labels := testLabels()
	labels[HintLabel] = "me/app Dockerfile"
	if err := x.Run(context.Background(), docker.RunOptions{Image: baseImage, Cmd: []string{"true"}, Labels: labels}, nil); err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	node := x.hints["me/app Dockerfile"]
	x.mu.Unlock()
	if node == "" {
		t.Fatal("the hint names no node after a run")
	}
	log := newLogBuffer("started")
	errc := make(chan error, 1)
	go func() {
		errc <- x.Run(context.Background(), docker.RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 2"}, Labels: labels}, log)
	}()
	waitSeen(t, log, errc)
	s := services(t)
	if len(s) != 1 || !slices.Contains(s[0].Spec.TaskTemplate.Placement.Constraints, "node.id=="+node) {
		t.Errorf("the second run's service: %+v, want it placed on node %s", s, node)
	}
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// When the hinted node has no room (here: a node that cannot run the task
// at all), the run goes to any node after HintWait.
func TestCacheHintFallsBack(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{HintWait: time.Second})
	x.nodeReady = func(context.Context, string) bool { return true }
	x.hints["me/app Dockerfile"] = "nosuchnode0000000000000000" // ready, says the fake, and never scheduled
	labels := testLabels()
	labels[HintLabel] = "me/app Dockerfile"
	log := newLogBuffer("")
	if err := x.Run(context.Background(), docker.RunOptions{Image: baseImage, Cmd: []string{"echo", "ran"}, Labels: labels}, log); err != nil {
		t.Fatalf("Run = %v\n%s", err, log)
	}
	if out := log.String(); !strings.Contains(out, "has no room for it: running it on any node") || !strings.HasSuffix(out, "ran\n") {
		t.Errorf("log = %q", out)
	}
	if !slices.ContainsFunc(log.Reasons(), func(r string) bool { return strings.HasPrefix(r, "Waiting for a swarm node: ") }) {
		t.Errorf("reasons = %q, want the wait for a node", log.Reasons())
	}
}

// Resources and constraints reach the service, and a run without a
// network is on NoNetwork, which has no way out.
func TestSpec(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{
		Reserve:     Resources{CPUs: 0.1, Memory: 16 << 20},
		Limit:       Resources{CPUs: 1, Memory: 64 << 20, Pids: 100},
		Constraints: []string{"node.role==manager"},
	})
	log := newLogBuffer("started")
	errc := make(chan error, 1)
	go func() {
		errc <- x.Run(context.Background(), docker.RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 2"}, Labels: testLabels()}, log)
	}()
	waitSeen(t, log, errc)
	s := services(t)
	if len(s) != 1 {
		t.Fatalf("services %v, want 1", s)
	}
	tt := s[0].Spec.TaskTemplate
	if r := tt.Resources; r == nil || r.Limits == nil || r.Limits.NanoCPUs != 1e9 || r.Limits.MemoryBytes != 64<<20 || r.Limits.Pids != 100 ||
		r.Reservations == nil || r.Reservations.NanoCPUs != 1e8 || r.Reservations.MemoryBytes != 16<<20 {
		t.Errorf("resources = %+v", r)
	}
	if !slices.Contains(tt.Placement.Constraints, "node.role==manager") {
		t.Errorf("constraints = %v", tt.Placement.Constraints)
	}
	if tt.RestartPolicy == nil || tt.RestartPolicy.Condition != "none" {
		t.Errorf("restart policy = %+v, want none", tt.RestartPolicy)
	}
	nw, err := api.NetworkInspect(context.Background(), testNoNetwork, client.NetworkInspectOptions{})
	if err != nil || !nw.Network.Internal || len(tt.Networks) != 1 || tt.Networks[0].Target != nw.Network.ID {
		t.Errorf("networks = %+v, want only %s (%+v, %v), internal", tt.Networks, testNoNetwork, nw.Network.ID, err)
	}
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// The final read of a task's log adds exactly what the stream had not
// delivered, also after a retry and lines of the executor's own: here the
// first attempt's stream delivers its first line, the second's nothing,
// and the log is still whole.
func TestFinalReadAfterRetry(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	log := newLogBuffer("started")
	var mu sync.Mutex
	calls := 0
	x.nodeGone = func(ctx context.Context, node string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if calls == 0 {
			select {
			case <-log.Seen():
			case <-ctx.Done():
			}
			x.noFollow.Store(true)
		}
		calls++
		return calls == 1, nil
	}
	// a plain writer: the executor's own lines are written to it
	err := x.Run(context.Background(), docker.RunOptions{
		Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 2; echo finished; printf 'the last line'"}, Labels: testLabels(),
	}, struct{ io.Writer }{log})
	if err != nil {
		t.Fatalf("Run = %v\n%s", err, log)
	}
	want := regexp.MustCompile(`^started\nswarm: Node \S+ went away: running the step again on another node \(attempt 2 of 3\)\nstarted\nfinished\nthe last line$`)
	if !want.MatchString(log.String()) {
		t.Errorf("log = %q, want it to match %s", log, want)
	}
}
