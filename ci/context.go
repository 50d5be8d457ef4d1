package ci

import (
	"context"

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
	ctx = context.WithValue(ctx, metricsKey{}, e.opts.Metrics)
	return withSnapshot(ctx, e.snap)
}

// BuildObserverOf returns what counts the builds of the steps evaluated in
// c: the engine's metrics (a no-op outside the engine, or without metrics).
func BuildObserverOf(c *term.Ctx) BuildObserver {
	m, _ := c.Context().Value(metricsKey{}).(*Metrics)
	return m // a nil *Metrics counts nothing
}

// Logs returns the engine's live logs.
func (e *Engine) Logs() *livelog.Manager { return e.opts.Logs }
