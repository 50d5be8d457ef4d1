package ci

import (
	"context"
	"sort"

	"github.com/dkgo/datakit/dkstore"
)

// TargetSummary is the state of one target, as the engine last evaluated
// it.
type TargetSummary struct {
	Target Target
	Jobs   []JobSummary // sorted by name
}

// JobSummary is the state of one job.
type JobSummary struct {
	Name  string
	State State
	Descr string
	Logs  int  // how many step logs the result refers to
	New   bool // not evaluated yet
}

// Targets returns the targets and their jobs' states as of the last round,
// sorted by target.
func (e *Engine) Targets() []TargetSummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]TargetSummary(nil), e.summary...)
}

// publish makes the round's outcome visible to Targets and Settle.
func (e *Engine) publish() {
	sum := make([]TargetSummary, 0, len(e.targets))
	for _, t := range e.targets {
		ts := TargetSummary{Target: t.Target}
		for _, j := range t.jobs {
			ts.Jobs = append(ts.Jobs, JobSummary{Name: j.name, State: j.result.State, Descr: j.result.Msg, Logs: len(j.result.Logs), New: !j.done})
		}
		sort.Slice(ts.Jobs, func(a, b int) bool { return ts.Jobs[a].Name < ts.Jobs[b].Name })
		sum = append(sum, ts)
	}
	sort.Slice(sum, func(a, b int) bool { return lessID(sum[a].Target.ID, sum[b].Target.ID) })
	if m := e.opts.Metrics; m != nil {
		counts := map[string]float64{"pr": 0, "branch": 0, "tag": 0}
		for id := range e.targets {
			counts[id.Kind()]++
		}
		for k, n := range counts {
			m.activeTargets.WithLabelValues(k).Set(n)
		}
	}
	e.mu.Lock()
	e.summary = sum
	if e.snap != nil {
		e.seen = e.snap.id
	}
	e.idle = len(e.writes) == 0 && !e.retry && len(e.hist) == 0
	close(e.progress)
	e.progress = make(chan struct{})
	e.mu.Unlock()
}

// Settle waits until the engine has processed the metadata branch's
// current head and every job woken since: every input that changed before
// the call is reflected in the store when it returns. It does not wait for
// background work still running (a job pending on a build stays pending).
func (e *Engine) Settle(ctx context.Context, store dkstore.Store) error {
	br, err := store.Branch(e.opts.Branch)
	if err != nil {
		return err
	}
	for {
		head, err := br.Head(ctx)
		if err != nil {
			return err
		}
		e.mu.Lock()
		settled := e.running && e.seen == head && !head.IsZero() && len(e.woken) == 0 && e.idle
		ch := e.progress
		e.mu.Unlock()
		if settled {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
