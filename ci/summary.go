package ci

import (
	"context"
	"github.com/dkgo/datakit/term"
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
	Logs  []term.Log // the logs of the steps the result came from
	New   bool       // not evaluated yet
	// Reads are the metadata paths the job read when last evaluated
	// (another commit's status, a branch's head...): Explain follows them.
	Reads []string
}

// Targets returns the targets and their jobs' states as of the last round,
// sorted by target.
func (e *Engine) Targets() []TargetSummary {
	e.mu.Lock()
	out := make([]TargetSummary, 0, len(e.summary))
	for _, ts := range e.summary {
		out = append(out, ts)
	}
	e.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return lessID(out[a].Target.ID, out[b].Target.ID) })
	return out
}

// publish makes the round's outcome visible to Targets and Settle. It
// costs in proportion to the targets that changed, not to all.
func (e *Engine) publish() {
	e.publishTargets()
	if m := e.opts.Metrics; m != nil {
		for _, k := range []string{"pr", "branch", "tag"} {
			m.activeTargets.WithLabelValues(k).Set(float64(e.targets.kinds[k]))
		}
	}
	e.mu.Lock()
	if e.snap != nil {
		e.seen, e.looked = e.snap.id, true
	}
	e.idle = e.statuses.idle() && !e.retry && e.history.idle() && e.deps.idle()
	close(e.progress)
	e.progress = make(chan struct{})
	e.mu.Unlock()
}

// publishTargets makes the states of the targets evaluated since the
// last call visible to Targets. A round calls it before it writes the
// statuses, so that what Targets (the web UI) shows is never behind the
// statuses in the store (what the status command shows).
func (e *Engine) publishTargets() {
	if len(e.touched) == 0 {
		return
	}
	sums := make(map[TargetID]*TargetSummary, len(e.touched))
	for id := range e.touched {
		t := e.targets.get(id)
		if t == nil {
			sums[id] = nil
			continue
		}
		ts := &TargetSummary{Target: t.Target}
		for _, j := range t.jobs {
			ts.Jobs = append(ts.Jobs, JobSummary{Name: j.name, State: j.result.State, Descr: j.result.Msg, Logs: j.result.Logs, New: !j.done, Reads: j.paths})
		}
		sort.Slice(ts.Jobs, func(a, b int) bool { return ts.Jobs[a].Name < ts.Jobs[b].Name })
		sums[id] = ts
	}
	clear(e.touched)
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, ts := range sums {
		if ts == nil {
			delete(e.summary, id)
		} else {
			e.summary[id] = *ts
		}
	}
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
		// Take the engine's state first, then read the head: the head is
		// then the one the engine saw or a later one, which it will see
		// and publish (closing ch). Read the other way round, the engine
		// could go past a stale head before the check, and the wait
		// below would never end.
		e.mu.Lock()
		seen, looked, idle := e.seen, e.looked, e.running && len(e.woken) == 0 && e.idle
		ch := e.progress
		e.mu.Unlock()
		head, err := br.Head(ctx)
		if err != nil {
			return err
		}
		if idle && seen == head && (!head.IsZero() || looked) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
