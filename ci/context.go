package ci

import (
	"context"
	"sync"
	"time"

	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// What the engine puts in an evaluation's context for the terms that need
// more than the metadata: the store (for result branches) and the live
// logs.
type (
	storeKey   struct{}
	logsKey    struct{}
	metricsKey struct{}
)

// StoreOf returns the store the engine is evaluating against: builders
// keep their results in it. ok is false outside the engine.
func StoreOf(c *term.Ctx) (s dkstore.Store, ok bool) {
	s, ok = c.Context().Value(storeKey{}).(dkstore.Store)
	return s, ok
}

// LogsOf returns the engine's live logs (ok is false outside the engine).
func LogsOf(c *term.Ctx) (m *livelog.Manager, ok bool) {
	m, ok = c.Context().Value(logsKey{}).(*livelog.Manager)
	return m, ok
}

func (e *Engine) evalContext(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, storeKey{}, e.store)
	ctx = context.WithValue(ctx, logsKey{}, e.opts.Logs)
	ctx = context.WithValue(ctx, stepsKey{}, e.steps)
	ctx = context.WithValue(ctx, metricsKey{}, observer{e.opts.Metrics, &e.builds})
	return withSnapshot(ctx, e.snap)
}

// BuildObserverOf returns what hears of the builds of the steps evaluated
// in c: the engine's metrics, and the count of running builds that Close
// waits for (a no-op outside the engine).
func BuildObserverOf(c *term.Ctx) BuildObserver {
	o, _ := c.Context().Value(metricsKey{}).(observer)
	return o
}

// observer counts builds in the engine's metrics (if any) and in running.
type observer struct {
	m       *Metrics
	running *running
}

func (o observer) BuildStarted(builder string) {
	o.running.add(1)
	o.m.BuildStarted(builder)
}

func (o observer) BuildFinished(builder string, s State, d time.Duration) {
	o.m.BuildFinished(builder, s, d)
	o.running.add(-1)
}

// running counts the builds in progress.
type running struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0, then replaced
}

func (r *running) add(d int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n += d
	if r.n == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

// wait waits until no build runs, or for at most d; it reports whether
// none does.
func (r *running) wait(d time.Duration) bool {
	r.mu.Lock()
	if r.n == 0 {
		r.mu.Unlock()
		return true
	}
	if r.idle == nil {
		r.idle = make(chan struct{})
	}
	idle := r.idle
	r.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-time.After(d):
		return false
	}
}

// Logs returns the engine's live logs.
func (e *Engine) Logs() *livelog.Manager { return e.opts.Logs }
