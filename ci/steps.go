package ci

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// Step is a cached step's control, as a cache gives it to the engine: the
// web UI (or a test) rebuilds or cancels a step by its result branch.
type Step interface {
	// RebuildBranch marks the result on branch for rebuilding and wakes
	// the jobs that use it. false if it is being built (the request is
	// ignored then).
	RebuildBranch(ctx context.Context, store dkstore.Store, branch string) (bool, error)
	// Cancel cancels the build running on branch; false if none is.
	Cancel(branch string) bool
}

// steps maps result branches to the steps that own them. Entries that no
// evaluation has registered for an hour are dropped now and then, so that
// a long-running CI does not keep every branch it ever built.
type steps struct {
	mu    sync.Mutex
	m     map[string]stepEntry
	adds  int
	clock func() time.Time
}

type stepEntry struct {
	step Step
	seen time.Time
}

// stepTTL is how long a step stays reachable by branch after its last use.
const stepTTL = time.Hour

type stepsKey struct{}

// RegisterStep tells the engine evaluating c that step owns branch, so that
// Engine.Rebuild and Engine.Cancel can reach it. Caches call it when they
// are evaluated; outside the engine it does nothing.
func RegisterStep(c *term.Ctx, branch string, step Step) {
	s, _ := c.Context().Value(stepsKey{}).(*steps)
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.m[branch] = stepEntry{step, now}
	if s.adds++; s.adds >= 1024 {
		s.adds = 0
		for b, e := range s.m {
			if now.Sub(e.seen) > stepTTL {
				delete(s.m, b)
			}
		}
	}
}

func (s *steps) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

func (s *steps) get(branch string) Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[branch].step
}

// ErrNoStep is returned for a branch no job's step has used.
var ErrNoStep = errors.New("no job depends on this branch")

// Rebuild asks for the step whose result is on branch to be built again
// (the original's rebuild button). It returns false if the step is being
// built (the request is then ignored).
func (e *Engine) Rebuild(ctx context.Context, branch string) (bool, error) {
	st := e.steps.get(branch)
	if st == nil {
		return false, fmt.Errorf("rebuild %s: %w", branch, ErrNoStep)
	}
	e.mu.Lock()
	store := e.store
	e.mu.Unlock()
	if store == nil {
		return false, errors.New("rebuild: the engine is not connected to a store")
	}
	return st.RebuildBranch(ctx, store, branch)
}

// Cancel cancels the build running on branch (the original's cancel
// button): it fails with "Cancelled at user's request".
func (e *Engine) Cancel(branch string) error {
	st := e.steps.get(branch)
	if st == nil || !st.Cancel(branch) {
		return fmt.Errorf("Branch %q is not currently building", branch)
	}
	return nil
}

// job finds a job's summary.
func (e *Engine) jobSummary(id TargetID, job string) (JobSummary, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts, ok := e.summary[id]
	if !ok {
		return JobSummary{}, false
	}
	for _, j := range ts.Jobs {
		if j.Name == job {
			return j, true
		}
	}
	return JobSummary{}, false
}

// RebuildJob asks for every finished step of a job to be built again; it
// returns how many were. Steps still running are left alone.
func (e *Engine) RebuildJob(ctx context.Context, id TargetID, job string) (int, error) {
	j, ok := e.jobSummary(id, job)
	if !ok {
		return 0, fmt.Errorf("rebuild: %s has no job %q", id, job)
	}
	n := 0
	for _, l := range j.Logs {
		if l.Branch == "" || l.Live {
			continue
		}
		ok, err := e.Rebuild(ctx, l.Branch)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// CancelJob cancels every running step of a job; it returns how many were.
func (e *Engine) CancelJob(id TargetID, job string) (int, error) {
	j, ok := e.jobSummary(id, job)
	if !ok {
		return 0, fmt.Errorf("cancel: %s has no job %q", id, job)
	}
	n := 0
	for _, l := range j.Logs {
		if l.Live && e.Cancel(l.Branch) == nil {
			n++
		}
	}
	return n, nil
}
