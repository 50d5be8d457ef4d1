package citest

import (
	"context"
	"sync"

	"github.com/dkgo/datakit/term"
)

// Step is a scriptable fake of a slow step (a build, a fetch): a term that
// is pending until the test resolves it, and that wakes the engine each
// time the test changes it, also after it succeeded or failed (a rebuild).
// Its methods are safe for concurrent use.
type Step[T any] struct {
	mu     sync.Mutex
	result term.Result[T]
	ev     *term.Event
	evals  int
	envs   []context.Context
}

// NewStep returns a step pending with reason.
func NewStep[T any](reason string) *Step[T] {
	return &Step[T]{result: term.Result[T]{State: term.Pending, Msg: reason}, ev: term.NewEvent()}
}

// Term is the step as a term: its current outcome.
func (s *Step[T]) Term() term.Term[T] {
	return term.New(func(c *term.Ctx) term.Result[T] {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.evals++
		env := c.Env().Context()
		known := false
		for _, e := range s.envs {
			known = known || e == env
		}
		if !known {
			s.envs = append(s.envs, env)
		}
		// Whatever the outcome, the test may change it again (a rebuild
		// that fails this time): wake the job when it does.
		c.WakeOn(s.ev)
		return s.result
	})
}

func (s *Step[T]) set(r term.Result[T]) {
	s.mu.Lock()
	s.result = r
	ev := s.ev
	s.ev = term.NewEvent()
	s.mu.Unlock()
	ev.Fire()
}

// Pend makes the step pending with reason.
func (s *Step[T]) Pend(reason string) { s.set(term.Result[T]{State: term.Pending, Msg: reason}) }

// Succeed makes the step succeed with v.
func (s *Step[T]) Succeed(v T) { s.set(term.Result[T]{State: term.Success, Value: v}) }

// Fail makes the step fail with msg.
func (s *Step[T]) Fail(msg string) { s.set(term.Result[T]{State: term.Failure, Msg: msg}) }

// Error makes the step fail as an infrastructure error.
func (s *Step[T]) Error(msg string) { s.set(term.Result[T]{State: term.Error, Msg: msg}) }

// Evals is how many times the step has been evaluated.
func (s *Step[T]) Evals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evals
}

// Cancelled returns, for each job environment that evaluated the step, in
// order, why its work was cancelled ("" while it is not): e.g. "PR 7 head
// moved to def4567".
func (s *Step[T]) Cancelled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.envs))
	for i, e := range s.envs {
		if e.Err() != nil {
			out[i] = context.Cause(e).Error()
		}
	}
	return out
}
