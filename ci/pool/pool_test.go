package pool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/pool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// acquire takes a slot or fails the test.
func acquire(t *testing.T, p *pool.Pool, label string) func() {
	t.Helper()
	release, err := p.Acquire(context.Background(), pool.Request{Label: label})
	if err != nil {
		t.Fatalf("Acquire(%s) = %v", label, err)
	}
	return release
}

// queue starts a request in the background and returns once it waits in
// the queue. The result arrives on the returned channel.
type result struct {
	label   string
	release func()
	err     error
}

func queue(t *testing.T, ctx context.Context, p *pool.Pool, label string, prio pool.Priority, results chan result) {
	t.Helper()
	queued := make(chan struct{})
	go func() {
		release, err := p.Acquire(ctx, pool.Request{Label: label, Priority: prio, OnQueued: func() { close(queued) }})
		results <- result{label, release, err}
	}()
	select {
	case <-queued:
	case r := <-results:
		t.Fatalf("Acquire(%s) = %v without waiting", label, r.err)
	case <-time.After(5 * time.Second):
		t.Fatalf("Acquire(%s) neither queued nor returned", label)
	}
}

func queuedLabels(p *pool.Pool) []string {
	var ls []string
	for _, u := range p.Status().Queued {
		ls = append(ls, u.Label)
	}
	return ls
}

func activeLabels(p *pool.Pool) []string {
	var ls []string
	for _, u := range p.Status().Active {
		ls = append(ls, u.Label)
	}
	return ls
}

func TestReason(t *testing.T) {
	tests := []struct{ name, want string }{
		{"docker", `Waiting for resource in "docker"`},
		{`a"b`, `Waiting for resource in "a\"b"`},
	}
	for _, tt := range tests {
		if got := pool.New(tt.name, 1, nil).Reason(); got != tt.want {
			t.Errorf("New(%q).Reason() = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestCapacityRespected(t *testing.T) {
	const capacity, users, rounds = 3, 40, 25
	p := pool.New("build", capacity, nil)
	var inUse, most atomic.Int32
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				release, err := p.Acquire(context.Background(), pool.Request{Label: fmt.Sprint(u, "/", r), Priority: pool.Priority(r % 3)})
				if err != nil {
					t.Errorf("Acquire = %v", err)
					return
				}
				n := inUse.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				if a := len(p.Status().Active); a > capacity {
					t.Errorf("Status().Active has %d users, capacity %d", a, capacity)
				}
				if r%5 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
				inUse.Add(-1)
				release()
			}
		}()
	}
	wg.Wait()
	if m := most.Load(); m > capacity {
		t.Errorf("%d users at once, capacity %d", m, capacity)
	}
	if s := p.Status(); len(s.Active) != 0 || len(s.Queued) != 0 {
		t.Errorf("Status() after all released = %+v, want no users", s)
	}
}

func TestFIFOWithinPriorityHigherFirst(t *testing.T) {
	p := pool.New("docker", 1, nil)
	hold := acquire(t, p, "holder")
	results := make(chan result, 10)
	order := []struct {
		label string
		prio  pool.Priority
	}{
		{"low1", pool.Low}, {"normal1", pool.Normal}, {"low2", pool.Low}, {"high1", pool.High},
		{"normal2", pool.Normal}, {"high2", pool.High}, {"urgent", 7},
	}
	for _, o := range order {
		queue(t, context.Background(), p, o.label, o.prio, results)
	}
	want := []string{"urgent", "high1", "high2", "normal1", "normal2", "low1", "low2"}
	if got := queuedLabels(p); !reflect.DeepEqual(got, want) {
		t.Errorf("Status().Queued = %v, want %v", got, want)
	}
	hold()
	var got []string
	for range want {
		r := <-results
		if r.err != nil {
			t.Fatalf("Acquire(%s) = %v", r.label, r.err)
		}
		got = append(got, r.label)
		if a := activeLabels(p); !reflect.DeepEqual(a, []string{r.label}) {
			t.Errorf("Status().Active = %v, want [%s]", a, r.label)
		}
		r.release()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("served in order %v, want %v", got, want)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := pool.New("docker", 1, pool.NewMetrics(reg))
	hold := acquire(t, p, "holder")
	results := make(chan result, 3)
	ctx, cancel := context.WithCancelCause(context.Background())
	queue(t, context.Background(), p, "first", pool.Normal, results)
	queue(t, ctx, p, "cancelled", pool.High, results)
	queue(t, context.Background(), p, "last", pool.Normal, results)
	if got, want := queuedLabels(p), []string{"cancelled", "first", "last"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Status().Queued = %v, want %v", got, want)
	}
	stop := errors.New("cancelled at user's request")
	cancel(stop)
	r := <-results
	if r.label != "cancelled" || r.err != stop || r.release != nil {
		t.Fatalf("Acquire(%s) = %v, %v; want nil, the context's cause", r.label, r.release != nil, r.err)
	}
	if got, want := queuedLabels(p), []string{"first", "last"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Status().Queued after cancel = %v, want %v", got, want)
	}
	if got := gauge(t, reg, "qlen", "docker"); got != 2 {
		t.Errorf("qlen after cancel = %v, want 2", got)
	}
	hold()
	for _, want := range []string{"first", "last"} {
		r := <-results
		if r.label != want || r.err != nil {
			t.Fatalf("served %s (%v), want %s", r.label, r.err, want)
		}
		r.release()
	}
	// No slot leaked, none added.
	release := acquire(t, p, "again")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := p.Acquire(ctx2, pool.Request{Label: "second"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire beyond capacity = %v, want context.DeadlineExceeded", err)
	}
	release()
}

func TestCancelRacingGrant(t *testing.T) {
	// Requests time out at random moments while slots change hands: in the
	// end no slot is lost or gained, and nobody is left queued.
	reg := prometheus.NewRegistry()
	const capacity = 2
	p := pool.New("race", capacity, pool.NewMetrics(reg))
	var wg sync.WaitGroup
	var inUse atomic.Int32
	for u := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(u), 1))
			for range 30 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(200))*time.Microsecond)
				release, err := p.Acquire(ctx, pool.Request{Label: "u"})
				if err == nil {
					if n := inUse.Add(1); n > capacity {
						t.Errorf("%d users at once, capacity %d", n, capacity)
					}
					time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
					inUse.Add(-1)
					release()
					release()
				} else if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Acquire = %v", err)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if s := p.Status(); len(s.Active) != 0 || len(s.Queued) != 0 {
		t.Errorf("Status() = %+v, want no users", s)
	}
	if q, u := gauge(t, reg, "qlen", "race"), gauge(t, reg, "resources_in_use", "race"); q != 0 || u != 0 {
		t.Errorf("qlen, resources_in_use = %v, %v; want 0, 0", q, u)
	}
	var releases []func()
	for i := range capacity {
		releases = append(releases, acquire(t, p, fmt.Sprint(i)))
	}
	for _, r := range releases {
		r()
	}
}

func TestReleaseTwiceIsHarmless(t *testing.T) {
	p := pool.New("docker", 1, nil)
	release := acquire(t, p, "a")
	release()
	release()
	release2 := acquire(t, p, "b")
	queuedCalls := 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx, pool.Request{Label: "c", OnQueued: func() { queuedCalls++ }}); err == nil {
		t.Errorf("a second slot appeared after a double release")
	}
	if queuedCalls != 1 {
		t.Errorf("OnQueued called %d times, want 1", queuedCalls)
	}
	release() // a's release again: must not free b's slot
	if got := activeLabels(p); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("Status().Active = %v, want [b]", got)
	}
	release2()
}

func TestOnQueuedOnlyWhenWaiting(t *testing.T) {
	p := pool.New("docker", 1, nil)
	called := false
	release, err := p.Acquire(context.Background(), pool.Request{OnQueued: func() { called = true }})
	if err != nil || called {
		t.Errorf("Acquire on a free pool = %v, OnQueued called %v; want nil, false", err, called)
	}
	release()
}

func TestDoneContext(t *testing.T) {
	p := pool.New("docker", 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Acquire(ctx, pool.Request{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire(done ctx) = %v, want context.Canceled", err)
	}
	if s := p.Status(); len(s.Active) != 0 {
		t.Errorf("Status().Active = %v, want empty", s.Active)
	}
}

func TestZeroCapacityWaits(t *testing.T) {
	for _, c := range []int{0, -1} {
		p := pool.New("off", c, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		if _, err := p.Acquire(ctx, pool.Request{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("New(%d).Acquire = %v, want context.DeadlineExceeded", c, err)
		}
		cancel()
		if got := p.Status().Capacity; got != 0 {
			t.Errorf("New(%d).Status().Capacity = %d, want 0", c, got)
		}
	}
}

func TestStatus(t *testing.T) {
	p := pool.New("docker", 2, nil)
	before := time.Now()
	r1 := acquire(t, p, "one")
	r2 := acquire(t, p, "two")
	results := make(chan result, 1)
	queue(t, context.Background(), p, "three", pool.High, results)
	s := p.Status()
	if s.Name != "docker" || s.Capacity != 2 || len(s.Active) != 2 || len(s.Queued) != 1 {
		t.Fatalf("Status() = %+v", s)
	}
	if s.Active[0].Label != "one" || s.Active[1].Label != "two" || s.Queued[0].Label != "three" || s.Queued[0].Priority != pool.High {
		t.Errorf("Status() = %+v, want active one, two; queued three (high)", s)
	}
	for _, u := range append(s.Active, s.Queued...) {
		if u.Since.Before(before) || u.Since.After(time.Now()) {
			t.Errorf("%s: Since = %v, out of range", u.Label, u.Since)
		}
	}
	r1()
	r := <-results
	if got, want := activeLabels(p), []string{"two", "three"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Status().Active = %v, want %v", got, want)
	}
	r.release()
	r2()
}

// gauge is the value of gauge datakitci_pool_<name> for a pool.
func gauge(t *testing.T, reg *prometheus.Registry, name, pool string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "datakitci_pool_"+name && len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == pool {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no datakitci_pool_%s{name=%q}", name, pool)
	return 0
}

// summaryCount is the number of observations of summary
// datakitci_pool_<name> for a pool.
func summaryCount(t *testing.T, reg *prometheus.Registry, name, pool string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "datakitci_pool_"+name && len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == pool {
				return m.GetSummary().GetSampleCount()
			}
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := pool.NewMetrics(reg)
	p := pool.New("docker", 2, m)
	pool.New("git", 5, m)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP datakitci_pool_capacity Total pool capacity.
# TYPE datakitci_pool_capacity gauge
datakitci_pool_capacity{name="docker"} 2
datakitci_pool_capacity{name="git"} 5
`), "datakitci_pool_capacity"); err != nil {
		t.Error(err)
	}
	r1 := acquire(t, p, "one")
	r2 := acquire(t, p, "two")
	results := make(chan result, 2)
	queue(t, context.Background(), p, "three", pool.Normal, results)
	queue(t, context.Background(), p, "four", pool.Normal, results)
	want := `
# HELP datakitci_pool_qlen Number of users waiting for a resource.
# TYPE datakitci_pool_qlen gauge
datakitci_pool_qlen{name="docker"} 2
datakitci_pool_qlen{name="git"} 0
# HELP datakitci_pool_resources_in_use Number of resources currently being used.
# TYPE datakitci_pool_resources_in_use gauge
datakitci_pool_resources_in_use{name="docker"} 2
datakitci_pool_resources_in_use{name="git"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "datakitci_pool_qlen", "datakitci_pool_resources_in_use"); err != nil {
		t.Error(err)
	}
	if n := summaryCount(t, reg, "wait_time_seconds", "docker"); n != 2 {
		t.Errorf("wait_time_seconds count = %d, want 2", n)
	}
	r1()
	r2()
	for range 2 {
		(<-results).release()
	}
	want = `
# HELP datakitci_pool_qlen Number of users waiting for a resource.
# TYPE datakitci_pool_qlen gauge
datakitci_pool_qlen{name="docker"} 0
datakitci_pool_qlen{name="git"} 0
# HELP datakitci_pool_resources_in_use Number of resources currently being used.
# TYPE datakitci_pool_resources_in_use gauge
datakitci_pool_resources_in_use{name="docker"} 0
datakitci_pool_resources_in_use{name="git"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "datakitci_pool_qlen", "datakitci_pool_resources_in_use"); err != nil {
		t.Error(err)
	}
	if n := summaryCount(t, reg, "wait_time_seconds", "docker"); n != 4 {
		t.Errorf("wait_time_seconds count = %d, want 4", n)
	}
	if n := summaryCount(t, reg, "use_time_seconds", "docker"); n != 4 {
		t.Errorf("use_time_seconds count = %d, want 4", n)
	}
}

func TestRegistry(t *testing.T) {
	var r pool.Registry
	if got := r.List(); len(got) != 0 {
		t.Errorf("zero Registry.List() = %v, want empty", got)
	}
	for _, name := range []string{"git", "docker", "build"} {
		if err := r.Add(pool.New(name, 1, nil)); err != nil {
			t.Fatalf("Add(%s) = %v", name, err)
		}
	}
	if err := r.Add(pool.New("docker", 3, nil)); err == nil {
		t.Errorf("Add(a second docker) = nil, want an error")
	}
	var names []string
	for _, p := range r.List() {
		names = append(names, p.Name())
	}
	if want := []string{"build", "docker", "git"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List() = %v, want %v", names, want)
	}
}
