package term

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Return is a term that succeeds with v (the original's return).
func Return[T any](v T) Term[T] {
	return New(func(*Ctx) Result[T] { return Result[T]{State: Success, Value: v} })
}

// Failf is a term that fails with a formatted message (the original's fail).
func Failf[T any](format string, args ...any) Term[T] {
	msg := fmt.Sprintf(format, args...)
	return New(func(*Ctx) Result[T] { return Result[T]{State: Failure, Msg: msg} })
}

// Errorf is a term that fails as an infrastructure error (status "error").
func Errorf[T any](format string, args ...any) Term[T] {
	msg := fmt.Sprintf(format, args...)
	return New(func(*Ctx) Result[T] { return Result[T]{State: Error, Msg: msg} })
}

// Pendingf is a term that is pending with a formatted reason (the
// original's pending). Nothing wakes it: it stays pending until its job is
// re-evaluated for another reason.
func Pendingf[T any](format string, args ...any) Term[T] {
	msg := fmt.Sprintf(format, args...)
	return New(func(*Ctx) Result[T] { return Result[T]{State: Pending, Msg: msg} })
}

// StateOf reifies t's outcome as a successful value, whatever it is (the
// original's state).
func StateOf[T any](t Term[T]) Term[Result[T]] {
	return New(func(c *Ctx) Result[Result[T]] {
		r := t.Eval(c)
		return Result[Result[T]]{State: Success, Value: r, Logs: r.Logs}
	})
}

// OfState turns a reified outcome back into a term (the original's
// of_state). r's logs are not repeated: they belong to the evaluation r
// came from, which reported them already (StateOf and Catch keep them), so
// Bind(StateOf(t), OfState) shows t's logs once, as in the original.
func OfState[T any](r Result[T]) Term[T] {
	r.Logs = nil
	return New(func(*Ctx) Result[T] { return r })
}

// Catch turns t's failure into a successful value, so that a pipeline can
// react to it; a pending t stays pending (the original's catch).
func Catch[T any](t Term[T]) Term[Result[T]] {
	return New(func(c *Ctx) Result[Result[T]] {
		r := t.Eval(c)
		if r.State == Pending {
			return fail[Result[T]](r)
		}
		return Result[Result[T]]{State: Success, Value: r, Logs: r.Logs}
	})
}

// Map applies f to t's value.
func Map[A, B any](t Term[A], f func(A) B) Term[B] {
	return New(func(c *Ctx) Result[B] {
		r := t.Eval(c)
		if r.State != Success {
			return fail[B](r)
		}
		return Result[B]{State: Success, Value: f(r.Value), Logs: r.Logs}
	})
}

// Then replaces t's value by v once t succeeds, e.g. the status message of
// a job: Then(build, "Build succeeded").
func Then[A, B any](t Term[A], v B) Term[B] {
	return Map(t, func(A) B { return v })
}

// Bind feeds t's value to f and continues with the term f returns (the
// original's >>=). The logs of both are kept, t's first.
func Bind[A, B any](t Term[A], f func(A) Term[B]) Term[B] {
	return New(func(c *Ctx) Result[B] {
		r := t.Eval(c)
		if r.State != Success {
			return fail[B](r)
		}
		r2 := f(r.Value).Eval(c)
		r2.Logs = concatLogs(r.Logs, r2.Logs)
		return r2
	})
}

// Join flattens a term of a term.
func Join[T any](t Term[Term[T]]) Term[T] {
	return Bind(t, func(inner Term[T]) Term[T] { return inner })
}

// Tuple is the value of Pair.
type Tuple[A, B any] struct {
	A A
	B B
}

// Pair evaluates a and b, both every time (so that the work of both goes
// on), and succeeds with both values. If either is not a success, a's
// outcome wins, then b's. The logs of both are kept.
func Pair[A, B any](a Term[A], b Term[B]) Term[Tuple[A, B]] {
	return New(func(c *Ctx) Result[Tuple[A, B]] {
		ra, rb := a.Eval(c), b.Eval(c)
		logs := concatLogs(ra.Logs, rb.Logs)
		switch {
		case ra.State != Success:
			return Result[Tuple[A, B]]{State: ra.State, Msg: ra.Msg, Logs: logs}
		case rb.State != Success:
			return Result[Tuple[A, B]]{State: rb.State, Msg: rb.Msg, Logs: logs}
		}
		return Result[Tuple[A, B]]{State: Success, Value: Tuple[A, B]{ra.Value, rb.Value}, Logs: logs}
	})
}

// All evaluates every term, each time, and succeeds with all their values
// in order. Otherwise the first term that is not a success (in order)
// gives the outcome. The logs of all are kept.
func All[T any](ts ...Term[T]) Term[[]T] {
	return New(func(c *Ctx) Result[[]T] {
		vals := make([]T, len(ts))
		var logs []Log
		var first *Result[T]
		for i, t := range ts {
			r := t.Eval(c)
			logs = concatLogs(logs, r.Logs)
			if r.State != Success && first == nil {
				first = &r
			}
			vals[i] = r.Value
		}
		if first != nil {
			return Result[[]T]{State: first.State, Msg: first.Msg, Logs: logs}
		}
		return Result[[]T]{State: Success, Value: vals, Logs: logs}
	})
}

// MapList applies f to every element and evaluates the terms as All does
// (the original's list_map_p).
func MapList[A, B any](xs []A, f func(A) Term[B]) Term[[]B] {
	ts := make([]Term[B], len(xs))
	for i, x := range xs {
		ts[i] = f(x)
	}
	return All(ts...)
}

// WithoutLogs hides t's logs from the result.
func WithoutLogs[T any](t Term[T]) Term[T] {
	return New(func(c *Ctx) Result[T] {
		r := t.Eval(c)
		r.Logs = nil
		return r
	})
}

// WaitFor waits for t, replacing its messages: pending with whilePending
// while t is pending, failure with onFailure when it fails (an
// infrastructure error stays an error).
func WaitFor[T any](t Term[T], whilePending, onFailure string) Term[struct{}] {
	return New(func(c *Ctx) Result[struct{}] {
		r := t.Eval(c)
		switch r.State {
		case Pending:
			return Result[struct{}]{State: Pending, Msg: whilePending, Logs: r.Logs}
		case Failure, Error:
			return Result[struct{}]{State: r.State, Msg: onFailure, Logs: r.Logs}
		}
		return Result[struct{}]{State: Success, Logs: r.Logs}
	})
}

// Waitable is any Term, whatever its value type: what WaitForAll and Named
// accept.
type Waitable interface {
	outcome(c *Ctx) Result[struct{}]
}

func (t Term[T]) outcome(c *Ctx) Result[struct{}] { return fail[struct{}](t.Eval(c)) }

// NamedTerm is a term with the name WaitForAll reports it by.
type NamedTerm struct {
	Name string
	Term Waitable
}

// Named names a term for WaitForAll.
func Named(name string, t Waitable) NamedTerm { return NamedTerm{Name: name, Term: t} }

// WaitForAll waits for every named term. Messages name the terms, as the
// original: pending "Waiting for a, b" while some are pending and none
// failed; "a, b failed" when some failed and none is pending; pending "a
// failed (still waiting for b)" when both (as in the original: the result
// stays pending until every term has finished). More than 10 names
// read "N tasks". All terms are evaluated every time; the logs of all are
// kept. A finished failure is Error only when every failed term is an
// infrastructure error, else Failure.
func WaitForAll(ts ...NamedTerm) Term[struct{}] {
	return New(func(c *Ctx) Result[struct{}] {
		var pending, failed []string
		var logs []Log
		infra := true
		for _, nt := range ts {
			r := nt.Term.outcome(c)
			logs = concatLogs(logs, r.Logs)
			switch r.State {
			case Pending:
				pending = append(pending, nt.Name)
			case Failure:
				infra = false
				failed = append(failed, nt.Name)
			case Error:
				failed = append(failed, nt.Name)
			}
		}
		st := Failure
		if infra {
			st = Error
		}
		switch {
		case len(failed) == 0 && len(pending) == 0:
			return Result[struct{}]{State: Success, Logs: logs}
		case len(failed) == 0:
			return Result[struct{}]{State: Pending, Msg: "Waiting for " + names(pending), Logs: logs}
		case len(pending) == 0:
			return Result[struct{}]{State: st, Msg: names(failed) + " failed", Logs: logs}
		}
		return Result[struct{}]{State: Pending, Msg: names(failed) + " failed (still waiting for " + names(pending) + ")", Logs: logs}
	})
}

// Gate holds t until cond is true: pending with reason while cond is
// false, then t. cond pending or failing gives its own outcome; t is not
// evaluated (so none of its work starts) until the gate opens.
func Gate[T any](cond Term[bool], reason string, t Term[T]) Term[T] {
	return New(func(c *Ctx) Result[T] {
		r := cond.Eval(c)
		switch {
		case r.State != Success:
			return fail[T](r)
		case !r.Value:
			return Result[T]{State: Pending, Msg: reason, Logs: r.Logs}
		}
		r2 := t.Eval(c)
		r2.Logs = concatLogs(r.Logs, r2.Logs)
		return r2
	})
}

// Retry re-runs t when it fails with an infrastructure error (state
// Error), up to attempts times in all. See RetryIf.
func Retry[T any](t Term[T], attempts int) Term[T] {
	return RetryIf(t, attempts, func(r Result[T]) bool { return r.State == Error })
}

// RetryIf runs t again, in a fresh scope (so background work memoised by
// the failed attempt starts anew), while it fails in a way transient
// accepts, up to attempts runs in all. Every attempt stays visible: the
// logs of all attempts are kept, and from the second attempt on messages
// say which attempt they come from, e.g. "Waiting for fetch (attempt 2 of
// 3)" or "connection refused (attempt 3 of 3)". Once the evaluation or
// the job's environment is cancelled, a failure is not retried: it is
// the cancellation, and a new attempt would start work for nothing.
func RetryIf[T any](t Term[T], attempts int, transient func(Result[T]) bool) Term[T] {
	if attempts < 1 {
		attempts = 1
	}
	return New(func(c *Ctx) Result[T] {
		var logs []Log
		for i := 0; ; i++ {
			r := t.Eval(c.within(fmt.Sprintf("attempt-%d", i)))
			logs = concatLogs(logs, r.Logs)
			if r.State.Failed() && i+1 < attempts && transient(r) && !c.cancelled() {
				continue
			}
			r.Logs = logs
			if i > 0 && r.State != Success {
				r.Msg = fmt.Sprintf("%s (attempt %d of %d)", r.Msg, i+1, attempts)
			}
			return r
		}
	})
}

type asyncState[T any] struct {
	once sync.Once
	mu   sync.Mutex
	done bool
	res  Result[T]
	ev   *Event
}

// Async runs fn once per job (per key, in the evaluation's scope) in the
// background, under the job's environment: the term is pending with reason
// until fn returns, then a success with its value or a failure with its
// error (state Error for errors wrapped with Infra). When the environment
// is closed (the job dropped, its head moved on) fn's context is
// cancelled; context.Cause gives the reason, and the term is in state
// Error with message "Cancelled: <cause>" unless fn succeeded anyway. In an
// environment closed already, fn is not started at all.
//
// The key names the work within the job: terms with the same key share
// one run. Using one key for two value types is a mistake, reported as an
// Error.
func Async[T any](key, reason string, fn func(ctx context.Context) (T, error)) Term[T] {
	return New(func(c *Ctx) Result[T] {
		st, ok := c.Memo("async\x00"+key, func() any { return &asyncState[T]{ev: NewEvent()} }).(*asyncState[T])
		if !ok {
			return Result[T]{State: Error, Msg: fmt.Sprintf("term: Async key %q is used for values of two types", key)}
		}
		env := c.env
		st.once.Do(func() {
			if env.ctx.Err() != nil {
				st.mu.Lock()
				st.done, st.res = true, Result[T]{State: Error, Msg: "Cancelled: " + causeText(env.ctx)}
				st.mu.Unlock()
				st.ev.Fire()
				return
			}
			go func() {
				v, err := fn(env.ctx)
				r := FromError(v, err)
				if err != nil && env.ctx.Err() != nil {
					r = Result[T]{State: Error, Msg: "Cancelled: " + causeText(env.ctx)}
				}
				st.mu.Lock()
				st.done, st.res = true, r
				st.mu.Unlock()
				st.ev.Fire()
			}()
		})
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.done {
			return st.res
		}
		c.WakeOn(st.ev)
		return Result[T]{State: Pending, Msg: reason}
	})
}

// cancelled reports whether the evaluation or the job's environment has
// ended.
func (c *Ctx) cancelled() bool { return c.ctx.Err() != nil || c.env.ctx.Err() != nil }

// concatLogs is a's logs then b's, without the logs of b whose step
// (Branch) a already has: two parts that share a step (the fetch of a
// commit that a test and a vet both use) list its log once.
func concatLogs(a, b []Log) []Log {
	switch {
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	}
	out := make([]Log, 0, len(a)+len(b))
	out = append(out, a...)
	for _, l := range b {
		if l.Branch != "" && slices.ContainsFunc(a, func(m Log) bool { return m.Branch == l.Branch }) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// Describe renders a list of log titles for messages ("a, b").
func Describe(logs []Log) string {
	titles := make([]string, len(logs))
	for i, l := range logs {
		titles[i] = l.Title
	}
	return strings.Join(titles, ", ")
}
