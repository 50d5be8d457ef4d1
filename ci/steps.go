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
	step     Step
	seen     time.Time
	reported bool // as used by two steps
}

// stepTTL is how long a step stays reachable by branch after its last use.
const stepTTL = time.Hour

type (
	stepsKey struct{}
	jobKey   struct{}
)

// jobInfo is what a job's evaluation context says of the job.
type jobInfo struct {
	e  *Engine
	id TargetID
}

// jobContext is the context a job of target id is evaluated in.
func (e *Engine) jobContext(ctx context.Context, id TargetID) context.Context {
	return context.WithValue(ctx, jobKey{}, jobInfo{e, id})
}

// RegisterStep tells the engine evaluating c that step owns branch, so that
// Engine.Rebuild and Engine.Cancel can reach it. Caches call it when they
// are evaluated; outside the engine it does nothing.
//
// A branch belongs to one step. When another step (not == to the owner)
// registers a branch that a step used within the hour, the engine reports
// it once as an error, in its log and to Options.OnBadJobs (ci/citest fails
// the test): two steps that share a result branch fight over it. The usual
// cause is a step made inside a Jobs function, so made again for each
// target and each head; steps are made once, outside Jobs.
func RegisterStep(c *term.Ctx, branch string, step Step) {
	s, _ := c.Context().Value(stepsKey{}).(*steps)
	if s == nil {
		return
	}
	if s.register(branch, step) {
		if j, ok := c.Context().Value(jobKey{}).(jobInfo); ok {
			j.e.duplicateStep(j.id, branch)
		}
	}
}

// register records that step owns branch. It reports whether another step
// owned it within stepTTL (the first time only, for each branch).
func (s *steps) register(branch string, step Step) (duplicate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	old, ok := s.m[branch]
	reported := old.reported
	if ok && now.Sub(old.seen) <= stepTTL && !sameStep(old.step, step) && !reported {
		duplicate, reported = true, true
	}
	s.m[branch] = stepEntry{step, now, reported}
	if s.adds++; s.adds >= 1024 {
		s.adds = 0
		for b, e := range s.m {
			if now.Sub(e.seen) > stepTTL {
				delete(s.m, b)
			}
		}
	}
	return duplicate
}

// sameStep reports whether a and b are the same step; true if they cannot
// be compared (a step type that is not comparable).
func sameStep(a, b Step) (same bool) {
	defer func() {
		if recover() != nil {
			same = true
		}
	}()
	return a == b
}

// duplicateStep reports that two steps use branch, found while evaluating
// a job of target id.
func (e *Engine) duplicateStep(id TargetID, branch string) {
	const why = "two different steps use one result branch, and fight over it: make steps once, outside Jobs (a step made inside a Jobs function is made again for every target and head)"
	e.log.Error(why, "branch", branch, "target", id.String())
	e.badJobs(id, fmt.Errorf("two different steps use the result branch %s, and fight over it: make steps once, outside Jobs (a step made inside a Jobs function is made again for every target and head)", branch))
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
