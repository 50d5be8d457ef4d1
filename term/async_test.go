package term_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dkgo/datakit/term"
)

// job is background work a test controls: each run blocks until the test
// finishes it, and counts how often it was started.
type job struct {
	started chan int // receives the run number when a run starts
	finish  chan error
	runs    atomic.Int32
}

func newJob() *job { return &job{started: make(chan int, 10), finish: make(chan error)} }

func (j *job) fn(ctx context.Context) (string, error) {
	n := int(j.runs.Add(1))
	j.started <- n
	select {
	case err := <-j.finish:
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("result %d", n), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func TestAsyncRunsOnceAcrossEvaluations(t *testing.T) {
	env := newEnv(t)
	j := newJob()
	a := term.Async("build", "Building", j.fn)
	var events []*term.Event
	for range 5 {
		r, d := term.Run(bg, env, a)
		check(t, "Async while running", r, term.Pending, "Building")
		if len(d.Events) != 1 {
			t.Fatalf("Async while running: %d events, want 1", len(d.Events))
		}
		events = append(events, d.Events[0])
	}
	<-j.started
	for _, e := range events[1:] {
		if e != events[0] {
			t.Error("Async recorded a different event on re-evaluation")
		}
	}
	if events[0].Fired() {
		t.Error("event fired before the work finished")
	}
	j.finish <- nil
	wait(t, events)
	for range 3 {
		r, d := term.Run(bg, env, a)
		if r.State != term.Success || r.Value != "result 1" || len(d.Events) != 0 {
			t.Errorf("Async after finishing = %v with %d events, want success: result 1 and no events", r, len(d.Events))
		}
	}
	if n := j.runs.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
}

func TestAsyncSharedAcrossTermsWithTheSameKey(t *testing.T) {
	// The same key in the same job is the same work: evaluating it from two
	// places in the tree starts it once.
	env := newEnv(t)
	j := newJob()
	image := term.Async("build", "Building", j.fn)
	x := term.Pair(term.Map(image, func(s string) int { return len(s) }), image)
	r, d := term.Run(bg, env, x)
	check(t, "Pair(build, build)", r, term.Pending, "Building")
	<-j.started
	j.finish <- nil
	wait(t, d.Events)
	r, _ = term.Run(bg, env, x)
	if r.State != term.Success || r.Value.B != "result 1" || j.runs.Load() != 1 {
		t.Errorf("Pair(build, build) = %v, fn ran %d times; want success, once", r, j.runs.Load())
	}
}

func TestAsyncPerEnvironment(t *testing.T) {
	// A new environment (the head moved on) starts the work again.
	j := newJob()
	a := term.Async("build", "Building", j.fn)
	for i := 1; i <= 2; i++ {
		env := term.NewEnv(bg)
		_, d := term.Run(bg, env, a)
		if n := <-j.started; n != i {
			t.Errorf("run %d, want %d", n, i)
		}
		j.finish <- nil
		wait(t, d.Events)
		r, _ := term.Run(bg, env, a)
		if want := fmt.Sprintf("result %d", i); r.Value != want {
			t.Errorf("env %d: %v, want %s", i, r, want)
		}
		env.Close(nil)
	}
}

func TestAsyncErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		st   term.State
		msg  string
	}{
		{"failure", errors.New("exit status 1"), term.Failure, "exit status 1"},
		{"infra", term.Infra(errors.New("daemon down")), term.Error, "daemon down"},
		{"wrapped infra", fmt.Errorf("build: %w", term.Infra(errors.New("no space"))), term.Error, "build: no space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			j := newJob()
			a := term.Async("k", "Working", j.fn)
			_, d := term.Run(bg, env, a)
			<-j.started
			j.finish <- tt.err
			wait(t, d.Events)
			r, _ := term.Run(bg, env, a)
			check(t, "Async", r, tt.st, tt.msg)
		})
	}
}

func TestAsyncCancelledByEnvClose(t *testing.T) {
	env := term.NewEnv(bg)
	j := newJob()
	var cause error
	a := term.Async("build", "Building", func(ctx context.Context) (string, error) {
		v, err := j.fn(ctx)
		cause = context.Cause(ctx)
		return v, err
	})
	_, d := term.Run(bg, env, a)
	<-j.started
	env.Close(errors.New("PR closed"))
	wait(t, d.Events)
	r, _ := term.Run(bg, env, a)
	check(t, "Async after Close", r, term.Error, "Cancelled: PR closed")
	if cause == nil || cause.Error() != "PR closed" {
		t.Errorf("context.Cause in fn = %v, want PR closed", cause)
	}
	if err := env.Context().Err(); err == nil {
		t.Error("Env.Context not done after Close")
	}

	// Close(nil) gives context.Canceled as the cause.
	env2 := term.NewEnv(bg)
	j2 := newJob()
	a2 := term.Async("build", "Building", j2.fn)
	_, d = term.Run(bg, env2, a2)
	<-j2.started
	env2.Close(nil)
	wait(t, d.Events)
	r, _ = term.Run(bg, env2, a2)
	check(t, "Async after Close(nil)", r, term.Error, "Cancelled: context canceled")
}

func TestAsyncEnvEndsWithParent(t *testing.T) {
	parent, cancel := context.WithCancelCause(bg)
	env := term.NewEnv(parent)
	j := newJob()
	a := term.Async("build", "Building", j.fn)
	_, d := term.Run(bg, env, a)
	<-j.started
	cancel(errors.New("engine stopping"))
	wait(t, d.Events)
	r, _ := term.Run(bg, env, a)
	check(t, "Async after parent cancelled", r, term.Error, "Cancelled: engine stopping")
	env.Close(nil)
}

func TestAsyncSucceedingDespiteClose(t *testing.T) {
	// Work that finishes successfully although cancelled keeps its value.
	env := term.NewEnv(bg)
	release := make(chan struct{})
	a := term.Async("k", "Working", func(ctx context.Context) (int, error) {
		<-ctx.Done()
		<-release
		return 7, nil
	})
	_, d := term.Run(bg, env, a)
	env.Close(errors.New("bye"))
	close(release)
	wait(t, d.Events)
	r, _ := term.Run(bg, env, a)
	if r.State != term.Success || r.Value != 7 {
		t.Errorf("Async = %v, want success: 7", r)
	}
}

func TestAsyncAfterCloseStartsNothing(t *testing.T) {
	env := term.NewEnv(bg)
	env.Close(errors.New("job dropped"))
	var started atomic.Bool
	a := term.Async("late", "Working", func(context.Context) (int, error) { started.Store(true); return 1, nil })
	r := settle(t, env, a)
	check(t, "Async in a closed env", r, term.Error, "Cancelled: job dropped")
	if started.Load() {
		t.Error("Async started work in a closed environment")
	}
}

func TestAsyncKeyWithTwoTypes(t *testing.T) {
	// A programming mistake, reported as an error, not a panic.
	env := newEnv(t)
	a := term.Async("k", "A", func(context.Context) (int, error) { return 1, nil })
	b := term.Async("k", "B", func(context.Context) (string, error) { return "x", nil })
	r := settle(t, env, term.Pair(a, b))
	if r.State != term.Error {
		t.Errorf("Pair(Async[int](k), Async[string](k)) = %v, want an error", r)
	}
}

func TestAsyncConcurrentRuns(t *testing.T) {
	// Term values are safe for concurrent evaluation (each Run has its own
	// Ctx); the work starts once.
	env := newEnv(t)
	var runs atomic.Int32
	release := make(chan struct{})
	a := term.Map(term.Async("k", "Working", func(context.Context) (int, error) {
		runs.Add(1)
		<-release
		return 1, nil
	}), func(x int) int { return x + 1 })
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				term.Run(bg, env, a)
			}
		}()
	}
	wg.Wait()
	close(release)
	r := settle(t, env, a)
	if r.Value != 2 || runs.Load() != 1 {
		t.Errorf("concurrent runs: %v, fn ran %d times; want 2, once", r, runs.Load())
	}
}

func TestPairStartsBothAsyncs(t *testing.T) {
	// Work starts on both sides even when the first is not a success.
	env := newEnv(t)
	ja, jb := newJob(), newJob()
	x := term.Pair(term.Async("a", "Building a", ja.fn), term.Async("b", "Building b", jb.fn))
	r, d := term.Run(bg, env, x)
	check(t, "Pair(a, b)", r, term.Pending, "Building a")
	if len(d.Events) != 2 {
		t.Errorf("Pair(a, b) waits on %d events, want 2", len(d.Events))
	}
	<-ja.started
	<-jb.started
	jb.finish <- errors.New("b broke")
	wait(t, d.Events)
	// b failed, but a's pending still wins the precedence.
	r, _ = term.Run(bg, env, x)
	check(t, "Pair(pending, failed)", r, term.Pending, "Building a")
	ja.finish <- nil
	r = settle(t, env, x)
	check(t, "Pair(ok, failed)", r, term.Failure, "b broke")
}

// scoped adds a log titled with the attempt's scope to t's result.
func scoped[T any](t term.Term[T]) term.Term[T] {
	return term.New(func(c *term.Ctx) term.Result[T] {
		r := t.Eval(c)
		r.Logs = append([]term.Log{{Title: "try" + c.Scope()}}, r.Logs...)
		return r
	})
}

func TestRetryAsyncSucceedsOnSecondAttempt(t *testing.T) {
	env := newEnv(t)
	j := newJob()
	x := term.Retry(scoped(term.Async("fetch", "Fetching", j.fn)), 3)

	r, d := term.Run(bg, env, x)
	check(t, "attempt 1 running", r, term.Pending, "Fetching")
	<-j.started
	j.finish <- term.Infra(errors.New("connection refused"))
	wait(t, d.Events)

	r, d = term.Run(bg, env, x)
	check(t, "attempt 2 running", r, term.Pending, "Fetching (attempt 2 of 3)")
	if n := <-j.started; n != 2 {
		t.Errorf("second attempt is run %d", n)
	}
	if want := []string{"try/attempt-0", "try/attempt-1"}; !reflect.DeepEqual(titles(r.Logs), want) {
		t.Errorf("logs = %q, want %q", titles(r.Logs), want)
	}
	j.finish <- nil
	wait(t, d.Events)

	r, _ = term.Run(bg, env, x)
	if r.State != term.Success || r.Value != "result 2" {
		t.Errorf("after attempt 2 = %v, want success: result 2", r)
	}
	if want := []string{"try/attempt-0", "try/attempt-1"}; !reflect.DeepEqual(titles(r.Logs), want) {
		t.Errorf("logs = %q, want %q (every attempt kept)", titles(r.Logs), want)
	}
	if n := j.runs.Load(); n != 2 {
		t.Errorf("fn ran %d times, want 2", n)
	}
}

func TestRetryExhausted(t *testing.T) {
	p := &probe{key: "k"}
	r, d := term.Run(bg, nil, term.Retry(probed(p, infra[int]("daemon down", "try")), 3))
	check(t, "Retry(error, 3)", r, term.Error, "daemon down (attempt 3 of 3)")
	if n := p.evals.Load(); n != 3 {
		t.Errorf("evaluated %d times, want 3", n)
	}
	if want := []string{"try", "try", "try"}; !reflect.DeepEqual(titles(r.Logs), want) {
		t.Errorf("logs = %q, want %q", titles(r.Logs), want)
	}
	if !reflect.DeepEqual(d.Keys, []string{"k"}) {
		t.Errorf("keys = %q", d.Keys)
	}
}

func TestRetryDoesNotRetry(t *testing.T) {
	tests := []struct {
		name     string
		x        term.Term[int]
		attempts int
		st       term.State
		msg      string
	}{
		{"success", ok(1, ""), 3, term.Success, ""},
		{"failure of the code", failure[int]("tests failed", ""), 3, term.Failure, "tests failed"},
		{"pending", pending[int]("Waiting", ""), 3, term.Pending, "Waiting"},
		{"one attempt", infra[int]("down", ""), 1, term.Error, "down"},
		{"zero attempts means one", infra[int]("down", ""), 0, term.Error, "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{}
			r, _ := term.Run(bg, nil, term.Retry(probed(p, tt.x), tt.attempts))
			check(t, "Retry", r, tt.st, tt.msg)
			if n := p.evals.Load(); n != 1 {
				t.Errorf("evaluated %d times, want 1", n)
			}
		})
	}
}

func TestRetryIf(t *testing.T) {
	flaky := func(r term.Result[int]) bool { return r.Msg == "flaky" }
	seq := func(outcomes ...term.Term[int]) (term.Term[int], *int) {
		n := 0
		return term.New(func(c *term.Ctx) term.Result[int] {
			r := outcomes[min(n, len(outcomes)-1)].Eval(c)
			n++
			return r
		}), &n
	}
	x, n := seq(failure[int]("flaky", ""), failure[int]("flaky", ""), ok(5, ""))
	r, _ := term.Run(bg, nil, term.RetryIf(x, 5, flaky))
	if r.Value != 5 || *n != 3 {
		t.Errorf("RetryIf(flaky, flaky, ok) = %v after %d runs, want 5 after 3", r, *n)
	}
	x, n = seq(failure[int]("flaky", ""), failure[int]("real", ""))
	r, _ = term.Run(bg, nil, term.RetryIf(x, 5, flaky))
	check(t, "RetryIf(flaky, real)", r, term.Failure, "real (attempt 2 of 5)")
	if *n != 2 {
		t.Errorf("ran %d times, want 2", *n)
	}
	// transient is asked only about failures.
	asked := 0
	term.Run(bg, nil, term.RetryIf(pending[int]("p", ""), 3, func(term.Result[int]) bool { asked++; return true }))
	if asked != 0 {
		t.Errorf("transient asked %d times about a pending result", asked)
	}
}

func TestRetryScopesNest(t *testing.T) {
	var scopes []string
	inner := term.New(func(c *term.Ctx) term.Result[int] {
		scopes = append(scopes, c.Scope())
		return term.Result[int]{State: term.Error, Msg: "down"}
	})
	term.Run(bg, nil, term.Retry(term.Retry(inner, 2), 2))
	want := []string{"/attempt-0/attempt-0", "/attempt-0/attempt-1", "/attempt-1/attempt-0", "/attempt-1/attempt-1"}
	if !reflect.DeepEqual(scopes, want) {
		t.Errorf("scopes = %q, want %q", scopes, want)
	}
}

func TestRetryStopsWhenClosed(t *testing.T) {
	// Once the job's environment is closed, a cancelled attempt is not
	// retried: no new work starts for a dropped job.
	env := term.NewEnv(bg)
	j := newJob()
	x := term.Retry(term.Async("fetch", "Fetching", j.fn), 3)
	_, d := term.Run(bg, env, x)
	<-j.started
	env.Close(errors.New("head moved"))
	wait(t, d.Events)
	r := settle(t, env, x)
	check(t, "Retry after Close", r, term.Error, "Cancelled: head moved")
	if n := j.runs.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
}

func TestMemoScopes(t *testing.T) {
	env := newEnv(t)
	get := term.New(func(c *term.Ctx) term.Result[int] {
		p := c.Memo("n", func() any { return new(int) }).(*int)
		*p++
		return term.Result[int]{State: term.Success, Value: *p}
	})
	for want := 1; want <= 3; want++ {
		r, _ := term.Run(bg, env, get)
		if r.Value != want {
			t.Errorf("Memo evaluation %d: %d", want, r.Value)
		}
	}
	// Another environment has its own memos.
	r, _ := term.Run(bg, newEnv(t), get)
	if r.Value != 1 {
		t.Errorf("Memo in a new env = %d, want 1", r.Value)
	}
}
