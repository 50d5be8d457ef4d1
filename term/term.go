// Package term is the pipeline language of the CI: typed, composable
// computations that are, each time they are evaluated, a success with a
// value, pending with a reason, or a failure with a message.
//
// A Term[T] is a description, not a running computation: the CI engine
// evaluates a job's term once per round, against the latest state of the
// world (the metadata snapshot, the builds in progress), and writes the
// result as a commit status. Evaluation never blocks: a step that takes time
// (a build, a fetch) starts in the background, reports Pending meanwhile,
// and wakes the engine when it has news.
//
// Evaluation records what a term depended on (Deps): keys of inputs it read
// and events it waits for, so the engine re-evaluates a job when, and only
// when, one of those changes.
//
// The package imports only the standard library; sources of values (store
// reads, builds) are terms supplied by package ci.
//
// Concurrency: a Term is an immutable value and may be evaluated by several
// goroutines at once, each Run with its own Ctx (a Ctx belongs to one
// evaluation and one goroutine). Env and Event are safe for concurrent use.
package term

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// State is the outcome of evaluating a term.
type State uint8

const (
	// Success: the term has a value.
	Success State = iota
	// Pending: the term is waiting; Msg says for what.
	Pending
	// Failure: the code under test failed; Msg says how.
	Failure
	// Error: the infrastructure failed (a daemon down, a clone that could
	// not be made), not the code under test. Combinators treat it as a
	// failure; the CI reports it as status "error".
	Error
)

// String gives the state as a commit status state: "success", "pending",
// "failure" or "error".
func (s State) String() string {
	switch s {
	case Success:
		return "success"
	case Pending:
		return "pending"
	case Failure:
		return "failure"
	case Error:
		return "error"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Failed reports whether s is Failure or Error.
func (s State) Failed() bool { return s == Failure || s == Error }

// Log refers to the log of one step (a build, a fetch) that contributed to a
// result. The engine shows these on the job's page.
type Log struct {
	Title  string // what the step did, e.g. "Build Dockerfile"
	Branch string // the store branch holding the step's result and log, if any
	Commit string // the commit of the saved log; "" while it is live
	Failed bool   // the step failed
	Live   bool   // the step is still running
}

// Result is what evaluating a Term[T] gives.
type Result[T any] struct {
	State State
	Value T      // meaningful when State is Success
	Msg   string // the pending reason or the failure message
	Logs  []Log  // the logs of the steps that produced this result, in order
}

// OK reports whether r is a success.
func (r Result[T]) OK() bool { return r.State == Success }

// String describes r in one line, e.g. "success: 42" or "pending: Waiting for build".
func (r Result[T]) String() string {
	if r.State == Success {
		return fmt.Sprintf("success: %v", r.Value)
	}
	return r.State.String() + ": " + r.Msg
}

// fail converts a non-success result of one type into another type.
func fail[B, A any](r Result[A]) Result[B] {
	return Result[B]{State: r.State, Msg: r.Msg, Logs: r.Logs}
}

// Term is a computation yielding a T. The zero Term fails with
// "uninitialised term" when evaluated.
type Term[T any] struct {
	eval func(*Ctx) Result[T]
}

// New makes a term from an evaluation function: the way to write sources
// of values. f must not block: start slow work in the background (see
// Async) and return Pending until it is done.
func New[T any](f func(*Ctx) Result[T]) Term[T] {
	return Term[T]{eval: f}
}

// Eval evaluates t in c. Sources and combinators call it on their
// sub-terms; the engine calls Run.
func (t Term[T]) Eval(c *Ctx) Result[T] {
	evals.Add(1)
	if t.eval == nil {
		return Result[T]{State: Failure, Msg: "uninitialised term"}
	}
	if err := c.ctx.Err(); err != nil {
		return Result[T]{State: Error, Msg: "Cancelled: " + causeText(c.ctx)}
	}
	return t.eval(c)
}

var evals atomic.Uint64

// Evals returns how many terms (sub-terms included) have been evaluated by
// this process: the CI exports it as datakitci_term_evals_total.
func Evals() uint64 { return evals.Load() }

// Deps are the inputs an evaluation depended on.
type Deps struct {
	// Keys of the inputs read, as the sources named them (for the CI:
	// paths in the metadata branch). Sorted, without duplicates.
	Keys []string
	// Events that will fire when something the result waits for has news,
	// each once, in no particular order.
	Events []*Event
}

// Ctx is the context of one evaluation: where sources find their inputs
// and record what they depended on. A Ctx is used by one goroutine.
type Ctx struct {
	ctx   context.Context
	env   *Env
	scope string
	deps  *depSet
}

type depSet struct {
	keys   map[string]struct{}
	events map[*Event]struct{}
}

// Context returns the evaluation's context: values the caller put there
// (the CI's snapshot, the target), and cancellation of the round.
func (c *Ctx) Context() context.Context { return c.ctx }

// Env returns the environment the term is evaluated in.
func (c *Ctx) Env() *Env { return c.env }

// Depend records that the result depends on the input named key.
func (c *Ctx) Depend(key string) { c.deps.keys[key] = struct{}{} }

// WakeOn records that the result should be recomputed when e fires.
func (c *Ctx) WakeOn(e *Event) {
	if e != nil {
		c.deps.events[e] = struct{}{}
	}
}

// Scope names the part of the job the evaluation is in: Retry evaluates
// each attempt in a scope of its own, so that background work started by
// one attempt is not reused by the next. Keys given to Memo are relative to
// it.
func (c *Ctx) Scope() string { return c.scope }

// within returns a copy of c evaluating in a sub-scope.
func (c *Ctx) within(scope string) *Ctx {
	d := *c
	d.scope = c.scope + "/" + scope
	return &d
}

// Memo returns the value stored under key in the current scope of the
// environment, creating it with create on first use. Sources use it to
// keep state (background work) across evaluations of the same job.
func (c *Ctx) Memo(key string, create func() any) any {
	return c.env.memo(c.scope+"\x00"+key, create)
}

// Env is the lifetime of a job's background work: the CI makes one per job
// and target head, and closes it (cancelling that work) when the job is
// dropped or the head moves on.
type Env struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	memos  map[string]any
}

// NewEnv returns an environment whose background work ends with parent or
// Close.
func NewEnv(parent context.Context) *Env {
	ctx, cancel := context.WithCancelCause(parent)
	return &Env{ctx: ctx, cancel: cancel, memos: map[string]any{}}
}

// Context is cancelled when the environment is closed: background work
// started for the job runs under it.
func (e *Env) Context() context.Context { return e.ctx }

// Close cancels the environment's background work with cause (its text is
// the reason recorded for the cancellation).
func (e *Env) Close(cause error) {
	if cause == nil {
		cause = context.Canceled
	}
	e.cancel(cause)
}

func (e *Env) memo(key string, create func() any) any {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.memos[key]
	if !ok {
		v = create()
		e.memos[key] = v
	}
	return v
}

// Run evaluates t in env with ctx, returning its result and what it
// depended on. A cancelled ctx gives state Error, "Cancelled: <cause>".
// A nil env stands for a fresh environment that is never closed, good for
// tests and one-off evaluations: memos (and so Async work) do not carry
// over from one such Run to the next.
func Run[T any](ctx context.Context, env *Env, t Term[T]) (Result[T], Deps) {
	if env == nil {
		env = NewEnv(context.Background())
	}
	c := &Ctx{ctx: ctx, env: env, deps: &depSet{keys: map[string]struct{}{}, events: map[*Event]struct{}{}}}
	r := t.Eval(c)
	var d Deps
	for k := range c.deps.keys {
		d.Keys = append(d.Keys, k)
	}
	sort.Strings(d.Keys)
	for e := range c.deps.events {
		d.Events = append(d.Events, e)
	}
	return r, d
}

func causeText(ctx context.Context) string {
	err := context.Cause(ctx)
	if err == nil {
		err = ctx.Err()
	}
	return err.Error()
}

// Event is a one-shot notification: something a pending term waits for has
// happened. Sources create one per wait, record it with Ctx.WakeOn, and
// fire it when the awaited thing changes; the engine subscribes.
type Event struct {
	mu    sync.Mutex
	fired bool
	next  int
	subs  map[int]func()
	done  chan struct{}
}

// NewEvent returns an event that has not fired. Make events with it: the
// zero Event is not ready for use.
func NewEvent() *Event { return &Event{subs: map[int]func(){}, done: make(chan struct{})} }

// Fire fires the event: every subscriber is called once, synchronously, in
// the firing goroutine (subscribers must not block). Firing again does
// nothing.
func (e *Event) Fire() {
	e.mu.Lock()
	if e.fired {
		e.mu.Unlock()
		return
	}
	e.fired = true
	subs := e.subs
	e.subs = nil
	close(e.done)
	e.mu.Unlock()
	for _, f := range subs {
		f()
	}
}

// Fired reports whether the event has fired.
func (e *Event) Fired() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fired
}

// Done returns a channel closed when the event fires.
func (e *Event) Done() <-chan struct{} { return e.done }

// Subscribe arranges for f to be called when the event fires (by Fire, in
// the firing goroutine); if it has fired already, f is called at once in a
// goroutine of its own, so that a caller holding a lock f takes does not
// deadlock. The returned function cancels the subscription.
func (e *Event) Subscribe(f func()) (unsubscribe func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fired {
		go f()
		return func() {}
	}
	id := e.next
	e.next++
	e.subs[id] = f
	return func() {
		e.mu.Lock()
		delete(e.subs, id)
		e.mu.Unlock()
	}
}

// InfraError marks an error as a failure of the infrastructure rather than
// of the code under test: terms failing with it are in state Error.
type InfraError struct{ Err error }

func (e *InfraError) Error() string { return e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

// Infra wraps err as an infrastructure failure (nil stays nil).
func Infra(err error) error {
	if err == nil {
		return nil
	}
	return &InfraError{Err: err}
}

// IsInfra reports whether err is, or wraps, an infrastructure failure.
func IsInfra(err error) bool {
	var ie *InfraError
	return errors.As(err, &ie)
}

// FromError makes the result of a Go error: Success(v) when err is nil,
// Error for an infrastructure failure, else Failure. The message is the
// error's text.
func FromError[T any](v T, err error) Result[T] {
	switch {
	case err == nil:
		return Result[T]{State: Success, Value: v}
	case IsInfra(err):
		return Result[T]{State: Error, Msg: err.Error()}
	default:
		return Result[T]{State: Failure, Msg: err.Error()}
	}
}

// names renders a list of names as the reference does: "a, b", or "N
// tasks" for more than 10.
func names(ns []string) string {
	if len(ns) > 10 {
		return fmt.Sprintf("%d tasks", len(ns))
	}
	return strings.Join(ns, ", ")
}
