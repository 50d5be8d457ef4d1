package term_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/term"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// --- helpers shared by the tests of this package ---

var bg = context.Background()

// leaf is a source with a fixed outcome and, if title is not empty, the log
// of one step.
func leaf[T any](st term.State, v T, msg, title string) term.Term[T] {
	return term.New(func(*term.Ctx) term.Result[T] {
		r := term.Result[T]{State: st, Value: v, Msg: msg}
		if title != "" {
			r.Logs = []term.Log{{Title: title, Failed: st.Failed(), Live: st == term.Pending}}
		}
		return r
	})
}

func ok[T any](v T, title string) term.Term[T] { return leaf(term.Success, v, "", title) }
func pending[T any](msg, title string) term.Term[T] {
	var zero T
	return leaf(term.Pending, zero, msg, title)
}
func failure[T any](msg, title string) term.Term[T] {
	var zero T
	return leaf(term.Failure, zero, msg, title)
}
func infra[T any](msg, title string) term.Term[T] {
	var zero T
	return leaf(term.Error, zero, msg, title)
}

// probe counts its evaluations and records key as a dependency.
type probe struct {
	key   string
	evals atomic.Int32
}

func probed[T any](p *probe, t term.Term[T]) term.Term[T] {
	return term.New(func(c *term.Ctx) term.Result[T] {
		p.evals.Add(1)
		if p.key != "" {
			c.Depend(p.key)
		}
		return t.Eval(c)
	})
}

// dependOn is a successful source that depends on the given keys in order.
func dependOn(keys ...string) term.Term[int] {
	return term.New(func(c *term.Ctx) term.Result[int] {
		for _, k := range keys {
			c.Depend(k)
		}
		return term.Result[int]{State: term.Success, Value: len(keys)}
	})
}

// titles gives the titles of r's logs.
func titles(logs []term.Log) []string {
	out := []string{}
	for _, l := range logs {
		out = append(out, l.Title)
	}
	return out
}

// wait blocks until one of events fires, failing the test after a while.
func wait(t *testing.T, events []*term.Event) {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("wait: no events to wait for")
	}
	ch := make(chan struct{}, len(events))
	var unsub []func()
	for _, e := range events {
		unsub = append(unsub, e.Subscribe(func() { ch <- struct{}{} }))
	}
	defer func() {
		for _, u := range unsub {
			u()
		}
	}()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("wait: no event fired in 10s")
	}
}

// settle runs x in env until it is no longer pending with events to wait
// for, returning the last result.
func settle[T any](t *testing.T, env *term.Env, x term.Term[T]) term.Result[T] {
	t.Helper()
	for i := 0; ; i++ {
		r, d := term.Run(bg, env, x)
		if r.State != term.Pending || len(d.Events) == 0 {
			return r
		}
		if i > 100 {
			t.Fatalf("settle: still %v after 100 rounds", r)
		}
		wait(t, d.Events)
	}
}

func newEnv(t *testing.T) *term.Env {
	env := term.NewEnv(bg)
	t.Cleanup(func() { env.Close(errors.New("test over")) })
	return env
}

func check[T any](t *testing.T, what string, got term.Result[T], st term.State, msg string) {
	t.Helper()
	if got.State != st || (st != term.Success && got.Msg != msg) {
		t.Errorf("%s = %v, want %v: %q", what, got, st, msg)
	}
}

// --- State, Result, Term basics ---

func TestStateString(t *testing.T) {
	for st, want := range map[term.State]string{
		term.Success: "success", term.Pending: "pending", term.Failure: "failure", term.Error: "error", term.State(9): "State(9)",
	} {
		if got := st.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", uint8(st), got, want)
		}
	}
	for st, want := range map[term.State]bool{term.Success: false, term.Pending: false, term.Failure: true, term.Error: true} {
		if got := st.Failed(); got != want {
			t.Errorf("%v.Failed() = %v, want %v", st, got, want)
		}
	}
}

func TestResultString(t *testing.T) {
	tests := []struct {
		r    term.Result[int]
		want string
	}{
		{term.Result[int]{State: term.Success, Value: 42}, "success: 42"},
		{term.Result[int]{State: term.Pending, Msg: "Waiting for build"}, "pending: Waiting for build"},
		{term.Result[int]{State: term.Failure, Msg: "boom"}, "failure: boom"},
		{term.Result[int]{State: term.Error, Msg: "daemon down"}, "error: daemon down"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.r, got, tt.want)
		}
		if got := tt.r.OK(); got != (tt.r.State == term.Success) {
			t.Errorf("%v.OK() = %v", tt.r, got)
		}
	}
}

func TestZeroTerm(t *testing.T) {
	var zero term.Term[int]
	r, _ := term.Run(bg, nil, zero)
	check(t, "Run(zero Term)", r, term.Failure, "uninitialised term")

	// A zero term returned by a Bind continuation fails the same way.
	r, _ = term.Run(bg, nil, term.Bind(term.Return(1), func(int) term.Term[int] { return term.Term[int]{} }))
	check(t, "Bind(_, zero)", r, term.Failure, "uninitialised term")
}

func TestEvalsCounts(t *testing.T) {
	before := term.Evals()
	term.Run(bg, nil, term.Pair(term.Return(1), term.Map(term.Return(2), func(x int) int { return x })))
	// Pair, its two sides, the Map and its inner term: at least 4.
	if got := term.Evals() - before; got < 4 {
		t.Errorf("Evals() rose by %d over a tree of 4 terms, want >= 4", got)
	}
}

func TestRunNilEnv(t *testing.T) {
	r, _ := term.Run(bg, nil, term.Return("x"))
	check(t, "Run(nil env)", r, term.Success, "")
	if r.Value != "x" {
		t.Errorf("Run(nil env).Value = %q, want x", r.Value)
	}
}

func TestCancelledEvaluation(t *testing.T) {
	ctx, cancel := context.WithCancelCause(bg)
	cancel(errors.New("round superseded"))
	var started atomic.Bool
	a := term.Async("k", "Working", func(context.Context) (int, error) { started.Store(true); return 1, nil })
	p := &probe{key: "in"}
	r, d := term.Run(ctx, newEnv(t), term.Pair(probed(p, term.Return(1)), a))
	check(t, "Run(cancelled ctx)", r, term.Error, "Cancelled: round superseded")
	if started.Load() || p.evals.Load() != 0 {
		t.Errorf("a cancelled evaluation evaluated sub-terms (probe %d) or started work (%v)", p.evals.Load(), started.Load())
	}
	if len(d.Keys) != 0 || len(d.Events) != 0 {
		t.Errorf("a cancelled evaluation recorded deps %+v", d)
	}

	// Without a cause, the context's own error is the text.
	ctx2, cancel2 := context.WithCancel(bg)
	cancel2()
	r2, _ := term.Run(ctx2, nil, term.Return(1))
	check(t, "Run(cancelled ctx, no cause)", r2, term.Error, "Cancelled: context canceled")
}

func TestCtxAccessors(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(bg, key{}, "snapshot-1")
	env := newEnv(t)
	var gotVal any
	var gotEnv *term.Env
	var gotScope string
	term.Run(ctx, env, term.New(func(c *term.Ctx) term.Result[int] {
		gotVal, gotEnv, gotScope = c.Context().Value(key{}), c.Env(), c.Scope()
		return term.Result[int]{}
	}))
	if gotVal != "snapshot-1" || gotEnv != env || gotScope != "" {
		t.Errorf("Ctx: Context value %v, Env %p (want %p), Scope %q (want \"\")", gotVal, gotEnv, env, gotScope)
	}
}

// --- Deps ---

func TestDepsKeysSortedAndDeduplicated(t *testing.T) {
	_, d := term.Run(bg, nil, term.Pair(dependOn("b", "a", "b"), dependOn("c", "a")))
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(d.Keys, want) {
		t.Errorf("Deps.Keys = %q, want %q", d.Keys, want)
	}
	_, d = term.Run(bg, nil, term.Return(1))
	if len(d.Keys) != 0 || len(d.Events) != 0 {
		t.Errorf("Return: Deps = %+v, want none", d)
	}
}

func TestDepsOfNestedTerms(t *testing.T) {
	// Every sub-term evaluated contributes its keys, however deep.
	x := term.Map(
		term.All(
			term.Then(dependOn("pr/1/head"), 1),
			term.Bind(dependOn("pr/2/head"), func(int) term.Term[int] { return dependOn("refs/master") }),
			term.Join(term.Map(dependOn("config"), func(int) term.Term[int] { return dependOn("inner") })),
		),
		func(xs []int) int { return len(xs) },
	)
	wrapped := term.WithoutLogs(term.Then(term.WaitForAll(
		term.Named("x", x),
		term.Named("s", term.StateOf(dependOn("state"))),
		term.Named("c", term.Catch(dependOn("catch"))),
		term.Named("w", term.WaitFor(dependOn("waitfor"), "p", "f")),
		term.Named("g", term.Gate(term.Map(dependOn("cond"), func(int) bool { return true }), "closed", dependOn("body"))),
		term.Named("r", term.Retry(dependOn("retry"), 2)),
	), "ok"))
	r, d := term.Run(bg, nil, wrapped)
	check(t, "nested", r, term.Success, "")
	want := []string{"body", "catch", "cond", "config", "inner", "pr/1/head", "pr/2/head", "refs/master", "retry", "state", "waitfor"}
	if !reflect.DeepEqual(d.Keys, want) {
		t.Errorf("Deps.Keys = %q, want %q", d.Keys, want)
	}
}

func TestDepsEvents(t *testing.T) {
	e1, e2 := term.NewEvent(), term.NewEvent()
	src := func(e *term.Event) term.Term[int] {
		return term.New(func(c *term.Ctx) term.Result[int] {
			c.WakeOn(e)
			c.WakeOn(nil) // ignored
			return term.Result[int]{State: term.Pending, Msg: "waiting"}
		})
	}
	_, d := term.Run(bg, nil, term.Pair(src(e1), term.Pair(src(e2), src(e1))))
	if len(d.Events) != 2 || !(d.Events[0] == e1 && d.Events[1] == e2 || d.Events[0] == e2 && d.Events[1] == e1) {
		t.Errorf("Deps.Events = %v, want e1 and e2 once each", d.Events)
	}
}

// --- Event ---

func TestEventSubscribeBeforeFire(t *testing.T) {
	e := term.NewEvent()
	if e.Fired() {
		t.Fatal("NewEvent().Fired() = true")
	}
	select {
	case <-e.Done():
		t.Fatal("Done closed before Fire")
	default:
	}
	var calls atomic.Int32
	called := make(chan struct{}, 4)
	e.Subscribe(func() { calls.Add(1); called <- struct{}{} })
	e.Fire()
	e.Fire() // does nothing
	<-called
	<-e.Done()
	if !e.Fired() {
		t.Error("Fired() = false after Fire")
	}
	time.Sleep(10 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Errorf("subscriber called %d times after two Fires, want 1", n)
	}
}

func TestEventSubscribeAfterFire(t *testing.T) {
	e := term.NewEvent()
	e.Fire()
	called := make(chan struct{})
	unsub := e.Subscribe(func() { close(called) })
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe after Fire: f not called")
	}
	unsub() // harmless
}

func TestEventUnsubscribe(t *testing.T) {
	e := term.NewEvent()
	var dropped atomic.Int32
	unsub := e.Subscribe(func() { dropped.Add(1) })
	kept := make(chan struct{})
	e.Subscribe(func() { close(kept) })
	unsub()
	unsub() // twice is harmless
	e.Fire()
	<-kept
	time.Sleep(10 * time.Millisecond)
	if n := dropped.Load(); n != 0 {
		t.Errorf("unsubscribed function called %d times", n)
	}
}

func TestEventConcurrentUse(t *testing.T) {
	e := term.NewEvent()
	var wg sync.WaitGroup
	var calls atomic.Int32
	for range 20 {
		wg.Add(3) // the two goroutines, and the subscriber's call
		go func() {
			defer wg.Done()
			e.Subscribe(func() { calls.Add(1); wg.Done() })
		}()
		go func() { defer wg.Done(); e.Fire() }()
	}
	wg.Wait() // each subscriber is called once, whether before or after Fire
	if n := calls.Load(); n != 20 {
		t.Errorf("%d subscriber calls, want 20", n)
	}
}

// --- Errors ---

func TestFromErrorAndInfra(t *testing.T) {
	if term.Infra(nil) != nil {
		t.Error("Infra(nil) != nil")
	}
	base := errors.New("connection refused")
	wrapped := fmt.Errorf("fetch: %w", term.Infra(base))
	if !term.IsInfra(wrapped) || !errors.Is(wrapped, base) {
		t.Errorf("IsInfra(%v) = %v, errors.Is(base) = %v; want both true", wrapped, term.IsInfra(wrapped), errors.Is(wrapped, base))
	}
	if term.IsInfra(base) || term.IsInfra(nil) {
		t.Error("IsInfra of a plain error or nil = true")
	}
	tests := []struct {
		err  error
		st   term.State
		msg  string
		want int
	}{
		{nil, term.Success, "", 7},
		{base, term.Failure, "connection refused", 0},
		{wrapped, term.Error, "fetch: connection refused", 0},
	}
	for _, tt := range tests {
		r := term.FromError(7, tt.err)
		check(t, fmt.Sprintf("FromError(7, %v)", tt.err), r, tt.st, tt.msg)
		if tt.st == term.Success && r.Value != 7 {
			t.Errorf("FromError(7, nil).Value = %d", r.Value)
		}
	}
}

func TestDescribe(t *testing.T) {
	if got := term.Describe(nil); got != "" {
		t.Errorf("Describe(nil) = %q", got)
	}
	if got := term.Describe([]term.Log{{Title: "a"}, {Title: "b"}}); got != "a, b" {
		t.Errorf("Describe(a, b) = %q", got)
	}
}
