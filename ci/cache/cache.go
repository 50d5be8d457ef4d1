// Package cache runs expensive build steps once and keeps their results in
// the store: each result lives on a branch of its own (named by the
// builder from the step's key), with the step's log, its failure message if
// it failed, and the artefacts the builder saved. A result is looked up in
// memory, then in the store, and only then built; a restart reuses every
// finished result. While a step runs its term is pending with the live
// log's current reason, and its job wakes when the step has news.
//
// A result branch holds:
//
//	log                the full log of the step
//	failure            the failure message, iff the step failed
//	value, value/…     what the builder saved
//	rebuild-requested  a marker: build again on next use
//	live               a marker on the log chunks saved while running
//
// A branch whose head has either marker holds no result: a step that was
// running when the CI stopped (or crashed) is built again.
//
// # Identity
//
// A result is found by its branch name alone, so the name must cover
// everything that decides the result (Builder.Branch): the key, and the
// step's own inputs (command, environment, build options...), which
// Digest turns into a short, stable digest. The steps of ci/git and
// ci/docker name their branches <kind>-<label>-<digest>-<of/on/in>-<key>.
// A step whose inputs change gets a new branch and builds; the branches
// of its old inputs are simply no longer used (they stay in the store,
// with their logs, until deleted).
//
// # Pools and timeouts
//
// With Options.Pool, a build waits for a slot in the pool before its
// builder runs (its status meanwhile says `Waiting for resource in
// "<pool>"`), and Options.Timeout counts from when it holds the slot.
//
// # Failures
//
// A step that fails (its builder returns an error) is saved as failed and
// stays failed until a rebuild is requested. An error wrapped with
// term.Infra, a builder that panics, a store that cannot be read or
// written, and a Load that reports term.Infra are infrastructure errors:
// nothing is saved, the jobs report status error, and the step is looked
// up (and built) again after Options.RetryAfter.
//
// # Cancellation
//
// A running step is cancelled when no job waits for it any more: every
// job that used it had its environment (term.Env) closed, because its
// target moved to another head or went away. The cause is the
// environment's ("Cancelled: PR 3 was closed"); like an infrastructure
// error nothing is saved, and the next use builds the step again. A step
// cancelled by request (Cancel) or by its timeout fails and is saved.
//
// # Memory
//
// A cache keeps in memory the steps running and the results used within
// Options.KeepFor; an older result is dropped (its jobs are woken and read
// it again from the store, with no rebuild), so memory follows the work in
// use, not the history. A finished step's log is not kept in memory.
//
// Caches are safe for concurrent use; make one per builder, at the top of
// the program. Two caches whose builders name the same branches fight over
// them: while one builds, the other's step is in error ("Can't create new
// live log on branch ...") and is tried again after RetryAfter.
package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/ci/process"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// Builder is a cached step (the original's BUILDER): K identifies what to
// build (e.g. a commit and a command), V is the result.
type Builder[K comparable, V any] interface {
	// Name names the builder in metrics.
	Name() string
	// Branch names key's result branch. It must change with anything that
	// decides the result: the key, and the step's own inputs (its command,
	// environment, build options...: Digest makes a short name of them),
	// or a changed step would take the old step's result for its own.
	// Distinct steps must not share a branch (ci.EscapeName and
	// ci.JoinBranch make names that never collide).
	Branch(key K) string
	// Title says what the step does: the log's title and the pending
	// reason while it runs, e.g. "Build Dockerfile of 1234567".
	Title(key K) string
	// Generate builds key, writing its log to log and the artefacts to
	// keep under "value" in tx. An error wrapped with term.Infra reports an
	// infrastructure failure: it is not saved, and the step is tried again
	// later.
	Generate(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, key K) (V, error)
	// Load rebuilds the value from a saved result's tree.
	Load(ctx context.Context, tree dkstore.Tree, key K) (V, error)
}

// Options tune a cache: how its steps run. The zero value is useful. The
// steps of ci/git and ci/docker take these options (docker.StepOptions is
// this type).
type Options struct {
	// Pool, if set, is where each build waits for a slot before its
	// builder runs; meanwhile its log's reason is the pool's ("Waiting for
	// resource in ..."). A build asked for by a rebuild request waits at
	// pool.Low at most, behind work that jobs wait for.
	Pool     *pool.Pool
	Priority pool.Priority
	// Timeout bounds each build once it holds its pool slot (none if 0):
	// as in the original, time spent queued does not count. The build
	// then fails with "Exceeded timeout of N seconds" (or minutes, as
	// process.TimeoutError says).
	Timeout time.Duration
	// Secrets are masked in the logs.
	Secrets []string
	// SaveEvery is how often a running step's log is saved to its result
	// branch (default 2 s): in chunks, not a commit per line.
	SaveEvery time.Duration
	// RetryAfter is how long an infrastructure failure is remembered before
	// the step is tried again (default 1 minute).
	RetryAfter time.Duration
	// KeepFor is how long a finished result stays in memory after its last
	// use (default 1 hour); see Memory in the package documentation.
	KeepFor time.Duration
	// MaxLogBytes bounds the output kept in a step's log
	// (livelog.Options.MaxBytes: livelog.DefaultMaxBytes if 0, no bound
	// if negative).
	MaxLogBytes int
}

// Cache is the results of one builder.
type Cache[K comparable, V any] struct {
	b         Builder[K, V]
	opts      Options
	mu        sync.Mutex
	entries   map[string]*entry[V]
	lastSweep time.Time
}

// New returns a cache of b's results.
func New[K comparable, V any](b Builder[K, V], opts Options) *Cache[K, V] {
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = 2 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Minute
	}
	if opts.KeepFor <= 0 {
		opts.KeepFor = time.Hour
	}
	return &Cache[K, V]{b: b, opts: opts, entries: map[string]*entry[V]{}, lastSweep: time.Now()}
}

// entry is a result in memory: being built, or finished.
type entry[V any] struct {
	branch, title string
	used          time.Time // last looked up (guarded by the cache's mu)
	mu            sync.Mutex
	phase         phase
	res           term.Result[V] // once finished
	commit        string
	log           *livelog.Log // while building
	ev            *term.Event  // fired at the next change, then replaced
	cancel        context.CancelCauseFunc
	users         map[context.Context]func() bool // while building: the lifetimes of the jobs waiting for it
}

// phase is where an entry is in its life. A build goes running (perhaps
// abandoned), saving, then done or, with an infrastructure error, retry;
// a result found in the store starts done, a failure to look one up
// starts in retry.
type phase int

const (
	running phase = iota // the builder runs: the step can be cancelled
	abandon              // cancelled because no job waits for it any more; the builder is ending
	saving               // the builder has returned (too late to cancel): the result is being saved
	done                 // a result, kept in memory until unused for KeepFor
	retry                // an error, forgotten after RetryAfter
)

// finished reports whether p has a result (or an error) for the jobs.
func (p phase) finished() bool { return p == done || p == retry }

// abandoned is the cause of a build cancelled because every job that
// wanted it went away (their targets moved on or were removed): not a
// result of the step, so nothing is saved and the next use builds again.
type abandoned struct{ cause error }

func (a abandoned) Error() string { return "Cancelled: " + a.cause.Error() }

// addUser records that the job whose background work lives in ctx (its
// environment's) waits for the build; when every such job has gone, the
// build is cancelled. Called with c.mu held.
func (e *entry[V]) addUser(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.phase.finished() || e.users == nil || e.users[ctx] != nil || ctx.Done() == nil {
		return // finished, or a lifetime that never ends
	}
	e.users[ctx] = context.AfterFunc(ctx, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.users == nil {
			return
		}
		delete(e.users, ctx)
		if len(e.users) == 0 && (e.phase == running || e.phase == abandon) {
			e.phase = abandon
			e.cancel(abandoned{context.Cause(ctx)})
		}
	})
}

// dropUsers stops watching the jobs' lifetimes (the build is over).
// Called with e.mu held.
func (e *entry[V]) dropUsers() {
	for _, stop := range e.users {
		stop()
	}
	e.users = nil
}

func (e *entry[V]) changed() {
	e.mu.Lock()
	ev := e.ev
	e.ev = term.NewEvent()
	e.mu.Unlock()
	ev.Fire()
}

// Find is the term of key's result: the saved one, or a build.
func (c *Cache[K, V]) Find(key K) term.Term[V] {
	return term.New(func(tc *term.Ctx) term.Result[V] {
		store, ok := ci.StoreOf(tc)
		logs, _ := ci.LogsOf(tc)
		if !ok || logs == nil {
			return term.Result[V]{State: term.Error, Msg: "cache: no store: this term must be evaluated by the CI engine"}
		}
		branch := c.b.Branch(key)
		ci.RegisterStep(tc, branch, c)
		e, evicted, err := c.entry(tc, store, logs, branch, key)
		for _, old := range evicted {
			old.changed()
		}
		if err != nil {
			return term.Result[V]{State: term.Error, Msg: err.Error()}
		}
		return e.result(tc)
	})
}

// entry returns key's entry, looking its result up or starting its build
// if it has none, and drops the results unused for KeepFor (which the
// caller wakes).
func (c *Cache[K, V]) entry(tc *term.Ctx, store dkstore.Store, logs *livelog.Manager, branch string, key K) (e *entry[V], evicted []*entry[V], err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.lastSweep) >= c.opts.KeepFor/4 {
		c.lastSweep = now
		for b, old := range c.entries {
			old.mu.Lock()
			idle := old.phase == done && now.Sub(old.used) >= c.opts.KeepFor
			old.mu.Unlock()
			if idle {
				delete(c.entries, b)
				evicted = append(evicted, old)
			}
		}
	}
	e = c.entries[branch]
	if e == nil {
		res, commit, rebuild, found, err := c.lookup(tc.Context(), store, branch, key)
		switch {
		case err != nil && tc.Context().Err() != nil:
			// this evaluation was cancelled: nothing was learnt
			return nil, evicted, err
		case err != nil:
			e = c.failed(branch, key, err)
		case found:
			e = &entry[V]{branch: branch, title: c.b.Title(key), phase: done, res: res, commit: commit, ev: term.NewEvent()}
		default:
			e = c.start(store, logs, ci.BuildObserverOf(tc), branch, key, rebuild)
		}
		c.entries[branch] = e
	}
	e.used = now
	if env := tc.Env(); env != nil {
		e.addUser(env.Context())
	}
	return e, evicted, nil
}

// failed is an entry in error that is forgotten after RetryAfter, when
// its jobs are woken to look the step up again.
func (c *Cache[K, V]) failed(branch string, key K, err error) *entry[V] {
	e := &entry[V]{branch: branch, title: c.b.Title(key), phase: retry, ev: term.NewEvent(),
		res: term.Result[V]{State: term.Error, Msg: err.Error()}}
	time.AfterFunc(c.opts.RetryAfter, func() { c.forget(e) })
	return e
}

func (e *entry[V]) result(tc *term.Ctx) term.Result[V] {
	e.mu.Lock()
	defer e.mu.Unlock()
	tc.WakeOn(e.ev)
	if !e.phase.finished() {
		reason := e.title
		if e.log != nil {
			reason = e.log.Reason()
		}
		return term.Result[V]{State: term.Pending, Msg: reason, Logs: []term.Log{{Title: e.title, Branch: e.branch, Live: true}}}
	}
	r := e.res
	r.Logs = []term.Log{{Title: e.title, Branch: e.branch, Commit: e.commit, Failed: r.State.Failed()}}
	return r
}

// lookup reads a finished result from its branch. Without one (found is
// false), rebuild says whether a rebuild was requested. An error is the
// store's, or an infrastructure error of Load.
func (c *Cache[K, V]) lookup(ctx context.Context, store dkstore.Store, branch string, key K) (res term.Result[V], commit string, rebuild, found bool, err error) {
	br, err := store.Branch(dkstore.BranchName(branch))
	if err != nil {
		return res, "", false, false, fmt.Errorf("cache: result branch %s: %w", branch, err)
	}
	head, err := br.Head(ctx)
	if err != nil || head.IsZero() {
		if err != nil {
			err = fmt.Errorf("cache: reading %s: %w", branch, err)
		}
		return res, "", false, false, err
	}
	cm, err := store.Commit(ctx, head)
	if err != nil {
		return res, "", false, false, fmt.Errorf("cache: reading %s: %w", branch, err)
	}
	tree, err := store.Tree(ctx, cm.Tree)
	if err != nil {
		return res, "", false, false, fmt.Errorf("cache: reading %s: %w", branch, err)
	}
	if _, err := tree.Stat(ctx, "rebuild-requested"); err == nil {
		return res, "", true, false, nil
	}
	if _, err := tree.Stat(ctx, "live"); err == nil {
		return res, "", false, false, nil // the build never finished
	}
	if msg, err := tree.ReadFile(ctx, "failure"); err == nil {
		return term.Result[V]{State: term.Failure, Msg: strings.TrimSpace(string(msg))}, head.String(), false, true, nil
	}
	v, err := load(ctx, c.b, tree, key)
	switch {
	case term.IsInfra(err):
		return res, "", false, false, err // e.g. the daemon that has the image is down: try later
	case err != nil:
		// An unreadable result is built again rather than trusted.
		return res, "", false, false, nil
	}
	return term.Result[V]{State: term.Success, Value: v}, head.String(), false, true, nil
}

// load calls the builder's Load, turning a panic into an error.
func load[K comparable, V any](ctx context.Context, b Builder[K, V], tree dkstore.Tree, key K) (v V, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("builder %s: Load panicked: %v", b.Name(), p)
		}
	}()
	return b.Load(ctx, tree, key)
}

// start begins building key in the background.
func (c *Cache[K, V]) start(store dkstore.Store, logs *livelog.Manager, obs ci.BuildObserver, branch string, key K, rebuild bool) *entry[V] {
	log, err := logs.Create(branch, c.b.Title(key), livelog.Options{Secrets: c.opts.Secrets, Pending: c.b.Title(key), MaxBytes: c.opts.MaxLogBytes})
	if err != nil {
		// Another cache builds on this branch: try again later.
		return c.failed(branch, key, err)
	}
	e := &entry[V]{branch: branch, title: c.b.Title(key), ev: term.NewEvent(), log: log, phase: running, users: map[context.Context]func() bool{}}
	ctx, cancel := context.WithCancelCause(context.Background())
	if rebuild {
		ctx = context.WithValue(ctx, rebuildKey{}, true)
	}
	e.cancel = cancel
	obs.BuildStarted(c.b.Name())
	// Wake the jobs when the pending reason changes. The baseline is taken
	// here, before the build starts, so that no change is missed.
	_, _, ch := log.Since(0)
	last := log.Reason()
	go func() {
		for {
			<-ch
			var finished bool
			_, finished, ch = log.Since(log.Len())
			if finished {
				return
			}
			if r := log.Reason(); r != last {
				last = r
				e.changed()
			}
		}
	}()
	go func() {
		defer cancel(nil)
		start := time.Now()
		res, commit := c.build(ctx, store, e, key)
		obs.BuildFinished(c.b.Name(), res.State, time.Since(start))
		e.mu.Lock()
		e.res, e.commit = res, commit
		e.phase = done
		if res.State == term.Error {
			e.phase = retry
		}
		e.log = nil // the text is saved (or lost with an error): free it
		e.dropUsers()
		e.mu.Unlock()
		switch {
		case errors.As(context.Cause(ctx), new(abandoned)) && res.State == term.Error:
			c.forget(e) // no one wanted it: the next use builds again
			return
		case res.State == term.Error:
			// not saved: try again after a while
			time.AfterFunc(c.opts.RetryAfter, func() { c.forget(e) })
		}
		e.changed()
	}()
	return e
}

// forget drops e from memory (if it is still the entry of its branch) and
// wakes its jobs, which look the result up again.
func (c *Cache[K, V]) forget(e *entry[V]) {
	c.mu.Lock()
	if c.entries[e.branch] == e {
		delete(c.entries, e.branch)
	}
	c.mu.Unlock()
	e.changed()
}

// build runs Generate and saves the result.
func (c *Cache[K, V]) build(ctx context.Context, store dkstore.Store, e *entry[V], key K) (term.Result[V], string) {
	log := e.log
	log.Heading(e.title)
	log.Printf("Starting...")
	fail := func(err error) (term.Result[V], string) {
		log.Printf("Failed: %v", err)
		log.Finish()
		return term.Result[V]{State: term.Error, Msg: err.Error()}, ""
	}
	br, err := store.Branch(dkstore.BranchName(e.branch))
	if err != nil {
		return fail(err)
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return fail(term.Infra(fmt.Errorf("cache: starting a transaction on %s: %w", e.branch, err)))
	}
	defer tx.Abort(context.Background())
	for _, p := range []dkstore.Path{"rebuild-requested", "failure", "value", "live"} {
		if err := tx.Remove(ctx, p); err != nil && !errors.Is(err, dkstore.ErrNotExist) {
			return fail(err)
		}
	}
	saver := c.saveChunks(store, e.branch, log)
	v, err := c.run(ctx, log, tx, e.title, key)
	e.mu.Lock()
	e.phase = saving // too late to cancel
	e.mu.Unlock()
	if errors.As(err, new(abandoned)) {
		err = term.Infra(err) // not the step's result: not saved
	}
	lastChunk := saver()
	res := term.FromError(v, err)
	res.Msg = log.Mask(res.Msg)
	msg := "Cached successful result"
	if err != nil {
		log.Printf("Failed: %s", res.Msg)
		msg = "Cached failure: " + res.Msg
	} else {
		log.Printf("Success")
	}
	text := log.Finish()
	if res.State == term.Error {
		// Not a result: the log is kept as a chunk (marked live, so never
		// taken for a result) for the job's page to show.
		id, err := saveChunk(store, e.branch, text)
		if err != nil {
			return res, ""
		}
		return res, id.String()
	}
	bg := context.Background() // save even if the build was cancelled
	if err := tx.WriteFile(bg, "log", text, dkstore.KindFile); err != nil {
		return term.Result[V]{State: term.Error, Msg: "cache: saving the log: " + err.Error()}, ""
	}
	if res.State == term.Failure {
		if err := tx.WriteFile(bg, "failure", []byte(res.Msg+"\n"), dkstore.KindFile); err != nil {
			return term.Result[V]{State: term.Error, Msg: "cache: saving the failure: " + err.Error()}, ""
		}
	}
	if !lastChunk.IsZero() {
		if err := tx.SetParents(bg, []dkstore.CommitID{lastChunk}); err != nil {
			return term.Result[V]{State: term.Error, Msg: "cache: " + err.Error()}, ""
		}
	}
	id, err := tx.Commit(bg, msg)
	if err != nil {
		return term.Result[V]{State: term.Error, Msg: "cache: saving the result: " + err.Error()}, ""
	}
	return res, id.String()
}

// run waits for a slot in the pool, then runs the builder within the
// timeout. When ctx ends (a timeout, a cancellation) the error is its
// cause, whatever failed on the way.
func (c *Cache[K, V]) run(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, title string, key K) (v V, err error) {
	if p := c.opts.Pool; p != nil {
		prio := c.opts.Priority
		if IsRebuild(ctx) && prio > pool.Low {
			prio = pool.Low // PR work first
		}
		pop := func() {}
		release, err := p.Acquire(ctx, pool.Request{Priority: prio, Label: title, OnQueued: func() { pop = log.PushReason(p.Reason()) }})
		pop()
		if err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			return v, err
		}
		defer release()
	}
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = process.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	v, err = generate(ctx, c.b, log, tx, key)
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx) // the timeout's or the cancellation's text
	}
	return v, err
}

// generate calls the builder, turning a panic into an infrastructure
// error (a bug of the CI, not of the code under test); the stack goes to
// the log.
func generate[K comparable, V any](ctx context.Context, b Builder[K, V], log *livelog.Log, tx dkstore.Transaction, key K) (v V, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Write(fmt.Appendf(nil, "\n%s", debug.Stack()))
			err = term.Infra(fmt.Errorf("builder %s panicked: %v", b.Name(), p))
		}
	}()
	return b.Generate(ctx, log, tx, key)
}

// chunkBytes paces the saving of a large log: a log of n bytes is saved
// at most every SaveEvery × n/chunkBytes, so that saving a log that grows
// for long writes about chunkBytes per SaveEvery, not its whole length
// each time.
const chunkBytes = 4 << 20

// saveChunks saves the log to the branch every SaveEvery while it grows,
// with the "live" marker; the returned function stops it and returns the
// last chunk's commit (zero if none). The result is committed on top of
// that chunk, so that the branch fast-forwards.
func (c *Cache[K, V]) saveChunks(store dkstore.Store, branch string, log *livelog.Log) func() dkstore.CommitID {
	stop := make(chan struct{})
	stopped := make(chan dkstore.CommitID, 1)
	go func() {
		var last dkstore.CommitID
		saved := 0
		var savedAt time.Time
		t := time.NewTicker(c.opts.SaveEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				stopped <- last
				return
			case <-t.C:
			}
			if log.Len() == saved || time.Since(savedAt) < c.opts.SaveEvery*time.Duration(saved/chunkBytes) {
				continue
			}
			text := log.Contents()
			id, err := saveChunk(store, branch, text)
			if err == nil {
				last, saved, savedAt = id, len(text), time.Now()
			}
		}
	}()
	return func() dkstore.CommitID {
		close(stop)
		return <-stopped
	}
}

func saveChunk(store dkstore.Store, branch string, text []byte) (dkstore.CommitID, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	br, err := store.Branch(dkstore.BranchName(branch))
	if err != nil {
		return dkstore.CommitID{}, err
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return dkstore.CommitID{}, err
	}
	defer tx.Abort(ctx)
	if err := tx.WriteFile(ctx, "log", text, dkstore.KindFile); err != nil {
		return dkstore.CommitID{}, err
	}
	if err := tx.WriteFile(ctx, "live", nil, dkstore.KindFile); err != nil {
		return dkstore.CommitID{}, err
	}
	return tx.Commit(ctx, "Log so far")
}

// Rebuild marks key's result for rebuilding (commit "Marked for rebuild")
// and wakes the jobs that use it, which start the new build. A request
// while the step is being built is ignored (false).
func (c *Cache[K, V]) Rebuild(ctx context.Context, store dkstore.Store, key K) (bool, error) {
	return c.RebuildBranch(ctx, store, c.b.Branch(key))
}

// RebuildBranch is Rebuild by result branch (ci.Step).
func (c *Cache[K, V]) RebuildBranch(ctx context.Context, store dkstore.Store, branch string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[branch]
	if e != nil {
		e.mu.Lock()
		building := !e.phase.finished()
		e.mu.Unlock()
		if building {
			return false, nil
		}
	}
	br, err := store.Branch(dkstore.BranchName(branch))
	if err != nil {
		return false, err
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return false, err
	}
	defer tx.Abort(ctx)
	if err := tx.WriteFile(ctx, "rebuild-requested", nil, dkstore.KindFile); err != nil {
		return false, err
	}
	if _, err := tx.Commit(ctx, "Marked for rebuild"); err != nil {
		return false, err
	}
	if e != nil {
		delete(c.entries, branch)
		go e.changed()
	}
	return true, nil
}

type rebuildKey struct{}

// IsRebuild reports whether the build running under ctx was asked for by
// a rebuild request, rather than by a job needing a result it never had:
// steps use it to queue rebuilds behind PR work (pool.Low).
func IsRebuild(ctx context.Context) bool {
	v, _ := ctx.Value(rebuildKey{}).(bool)
	return v
}

// Cancel cancels the build running on branch: its log says "Cancelled at
// user's request" and it fails. false if nothing is building there (or
// the builder has finished and the result is being saved).
func (c *Cache[K, V]) Cancel(branch string) bool {
	c.mu.Lock()
	e := c.entries[branch]
	c.mu.Unlock()
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.phase != running {
		return false
	}
	e.log.Printf("Cancelled at user's request")
	e.cancel(errors.New("Cancelled at user's request"))
	return true
}
