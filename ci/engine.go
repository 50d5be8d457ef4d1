package ci

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// StatusContextPrefix is the prefix of the contexts of the statuses the CI
// writes: job "test" reports as "ci/datakit/test".
const StatusContextPrefix = "ci/datakit/"

// Options tune an Engine. The zero value is useful.
type Options struct {
	// Branch is the metadata branch (default "github-metadata").
	Branch dkstore.BranchName
	// WebUI is the public base URL of the web UI, for the statuses' target
	// URLs (default "http://127.0.0.1:8080/").
	WebUI string
	// Canaries, if set, restrict the targets to these.
	Canaries []TargetID
	// Logger receives a line per status change and the errors (default:
	// slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, is updated by the engine.
	Metrics *Metrics
	// Logs holds the live logs of running steps (a new manager if nil).
	Logs *livelog.Manager
	// Secrets are values masked as "***" in every log, status and history
	// entry the CI writes.
	Secrets []string
	// OnBadJobs, if set, is told when a project's Jobs function panics or
	// names a job invalidly (the engine logs it, skips what is bad and
	// carries on), and when two different steps use one result branch (a
	// step made inside Jobs: see RegisterStep); ci/citest fails the test.
	OnBadJobs func(TargetID, error)
}

// Engine evaluates the jobs of every target and writes their statuses. It
// keeps its state (targets, jobs, their background work) across
// reconnections to the store. Its methods are safe for concurrent use.
//
// It coordinates a few parts, each owned by the goroutine in Run: the
// targets and the commits they test (targetSet), which jobs read which
// metadata and which are due (depIndex), the statuses written and to
// write (statusWriter), and the status branches and commit index still
// to record (recorder). What other goroutines see (woken jobs, the
// summary, progress for Settle) is under mu.
type Engine struct {
	cfg      Config
	projects map[Repo]project
	opts     Options
	log      *slog.Logger
	canaries map[TargetID]bool

	// Owned by the goroutine in Run.
	store     dkstore.Store
	snap      *snapshot
	targets   *targetSet
	deps      *depIndex
	statuses  *statusWriter
	history   *recorder
	touched   map[TargetID]struct{} // targets whose summary changed
	retry     bool
	swept     bool // stale pending statuses were cancelled (once, at startup)
	remonitor bool // the metadata branch was deleted: write .monitor when it is back
	envCtx    context.Context
	envClose  context.CancelCauseFunc
	closing   []closing // environments of dropped targets, closed after the round
	builds    running   // cached steps building

	steps *steps

	mu       sync.Mutex
	woken    map[*job]struct{}
	wake     chan struct{}
	progress chan struct{}
	seen     dkstore.CommitID // the metadata head last processed
	looked   bool             // a head (maybe none) has been processed since Run began
	running  bool
	summary  map[TargetID]TargetSummary
	idle     bool
}

// NewEngine checks cfg and returns an engine for it.
func NewEngine(cfg Config, opts Options) (*Engine, error) {
	ps, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if opts.Branch == "" {
		opts.Branch = bridge.DefaultBranch
	}
	if opts.WebUI == "" {
		opts.WebUI = "http://127.0.0.1:8080/"
	}
	if !strings.HasSuffix(opts.WebUI, "/") {
		opts.WebUI += "/"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Logs == nil {
		opts.Logs = livelog.NewManager(nil)
	}
	if len(opts.Secrets) > 0 {
		opts.Logs.SetSecrets(opts.Secrets)
	}
	e := &Engine{
		cfg: cfg, opts: opts, log: opts.Logger,
		projects: map[Repo]project{},
		targets:  newTargetSet(),
		deps:     newDepIndex(),
		statuses: newStatusWriter(opts.Branch, opts.Logger, opts.Metrics),
		history:  newRecorder(),
		touched:  map[TargetID]struct{}{},
		summary:  map[TargetID]TargetSummary{},
		woken:    map[*job]struct{}{},
		steps:    &steps{m: map[string]stepEntry{}},
		wake:     make(chan struct{}, 1),
		progress: make(chan struct{}),
	}
	for _, p := range ps {
		e.projects[p.repo] = p
	}
	if len(opts.Canaries) > 0 {
		e.canaries = map[TargetID]bool{}
		for _, c := range opts.Canaries {
			if _, ok := e.projects[c.Repo]; !ok {
				return nil, fmt.Errorf("ci: canary %s: %s is not a configured project", c, c.Repo)
			}
			e.canaries[c] = true
		}
	}
	e.envCtx, e.envClose = context.WithCancelCause(context.Background())
	return e, nil
}

// errStopped is the cause of the cancellation of all work by Close: a
// cancelled step's log ends "Failed: Cancelled: the CI was stopped".
var errStopped = errors.New("the CI was stopped")

// closeWait bounds how long Close waits for the cancelled builds to end.
const closeWait = 10 * time.Second

// Close cancels all background work of all jobs, with the cause "the CI
// was stopped" (which a cancelled step's log shows), and waits (up to 10 s)
// for the cached steps still building to end, so that they clean up
// (containers, checkouts) before the program exits. The engine must not be
// run again.
func (e *Engine) Close() {
	e.envClose(errStopped)
	if !e.builds.wait(closeWait) {
		e.log.Warn("ci: stopped waiting for builds that do not end when cancelled", "after", closeWait)
	}
}

// Run connects the engine to store and runs it until ctx is done (it then
// returns nil) or the store fails (it returns the error; the caller may
// reconnect and Run again with a new store). Only one Run at a time.
func (e *Engine) Run(ctx context.Context, store dkstore.Store) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("ci: engine already running")
	}
	e.running = true
	// Nothing of this connection is processed yet: Settle must wait for
	// the first round, even if the head is one seen before.
	e.seen, e.looked, e.idle = dkstore.CommitID{}, false, false
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running = false
		e.mu.Unlock()
	}()
	defer e.closeDropped()
	e.mu.Lock()
	e.store = store // read by Rebuild from other goroutines
	e.mu.Unlock()
	e.snap = nil
	if err := e.monitor(ctx); err != nil {
		return e.runErr(ctx, err)
	}
	br, err := store.Branch(e.opts.Branch)
	if err != nil {
		return err
	}
	w, err := br.WatchHead(ctx)
	if err != nil {
		return e.runErr(ctx, err)
	}
	defer w.Close()
	heads := make(chan dkstore.CommitID, 1)
	watchErr := make(chan error, 1)
	go func() {
		for {
			h, err := w.Next(ctx)
			if err != nil {
				watchErr <- err
				return
			}
			select { // keep only the latest head
			case <-heads:
			default:
			}
			heads <- h
		}
	}()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			return e.runErr(ctx, fmt.Errorf("ci: watching %s: %w", e.opts.Branch, err))
		case h := <-heads:
			if e.opts.Metrics != nil {
				e.opts.Metrics.updateNotifications.Inc()
			}
			e.log.Debug("metadata changed", "branch", string(e.opts.Branch), "head", short(h.String()))
			if err := e.advance(ctx, h); err != nil {
				return e.runErr(ctx, err)
			}
		case <-e.wake:
		case <-retry:
		}
		retry = nil
		e.takeWoken()
		e.round(ctx)
		if e.retry {
			retry = time.After(time.Second)
		}
		e.publish()
	}
}

func (e *Engine) runErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// monitor writes .monitor for every project (commit "Add .monitor files",
// only if one was missing).
func (e *Engine) monitor(ctx context.Context) error {
	br, err := e.store.Branch(e.opts.Branch)
	if err != nil {
		return err
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{SkipIfEmpty: true})
	if err != nil {
		return fmt.Errorf("ci: writing .monitor files: %w", err)
	}
	defer tx.Abort(ctx)
	for _, r := range e.sortedRepos() {
		if err := bridge.SetMonitored(ctx, tx, r); err != nil {
			return fmt.Errorf("ci: writing .monitor files: %w", err)
		}
	}
	if _, err := tx.Commit(ctx, "Add .monitor files"); err != nil {
		return fmt.Errorf("ci: writing .monitor files: %w", err)
	}
	return nil
}

func (e *Engine) sortedRepos() []Repo {
	var rs []Repo
	for r := range e.projects {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].String() < rs[j].String() })
	return rs
}

// advance moves the engine to metadata commit head: it updates the targets
// and marks dirty the jobs whose inputs changed.
func (e *Engine) advance(ctx context.Context, head dkstore.CommitID) error {
	if e.snap != nil && head == e.snap.id {
		return nil
	}
	next := &snapshot{id: head}
	if !head.IsZero() {
		c, err := e.store.Commit(ctx, head)
		if err != nil {
			return fmt.Errorf("ci: reading metadata commit %s: %w", head, err)
		}
		if next.tree, err = e.store.Tree(ctx, c.Tree); err != nil {
			return fmt.Errorf("ci: reading metadata tree: %w", err)
		}
	}
	var reader dkstore.Reader = bridge.Empty
	if next.tree != nil {
		reader = next.tree
	}
	prev := e.snap
	e.snap = next
	if head.IsZero() && prev != nil && !prev.id.IsZero() {
		// The metadata branch was deleted: no targets are left. Nothing is
		// written (it would make a branch of statuses alone); the .monitor
		// files are written again when the branch comes back.
		e.log.Warn("the metadata branch was deleted: no targets until it comes back", "branch", string(e.opts.Branch))
		if err := e.reload(ctx, reader); err != nil {
			return err
		}
		e.statuses.dropQueued()
		e.remonitor = true
		return nil
	}
	if e.remonitor && !head.IsZero() {
		e.remonitor = false
		if err := e.monitor(ctx); err != nil {
			return err
		}
	}
	if prev == nil || prev.id.IsZero() || head.IsZero() {
		// A first look (or a reconnection): reconcile every target, and
		// re-evaluate every job, as anything may have changed. What the
		// store holds of our statuses is read again, so that what differs
		// (and only that) is written.
		e.statuses.forgetStore()
		if err := e.reload(ctx, reader); err != nil {
			return err
		}
		for _, t := range e.targets.byID {
			for _, j := range t.jobs {
				e.deps.mark(j)
				e.statuses.load(ctx, reader, statusKey{t.ID.Repo, t.Head, j.name})
			}
		}
		return nil
	}
	changes, err := e.store.Diff(ctx, prev.id, head)
	if err != nil {
		return fmt.Errorf("ci: diffing metadata %s..%s: %w", prev.id, head, err)
	}
	touched := map[TargetID]bool{}
	ours := map[statusKey]bool{}
	for _, ch := range changes {
		e.deps.markPath(string(ch.Path))
		loc, ok := bridge.Locate(ch.Path)
		if !ok {
			continue
		}
		if _, ok := e.projects[loc.Repo]; !ok {
			continue
		}
		switch loc.Kind {
		case bridge.KindPR:
			touched[TargetID{Repo: loc.Repo, PR: loc.PR}] = true
		case bridge.KindRef:
			touched[TargetID{Repo: loc.Repo, Ref: loc.Ref}] = true
		case bridge.KindStatus:
			// One of our statuses changed: by our own write (read back,
			// nothing to do) or by someone else (a bridge, a person),
			// whose value is then replaced by the job's.
			if job, ok := strings.CutPrefix(loc.Context, StatusContextPrefix); ok && !strings.Contains(job, "/") {
				ours[statusKey{loc.Repo, loc.Commit, job}] = true
			}
		}
	}
	for k := range ours {
		if !e.statuses.reread(ctx, reader, k) {
			continue // our own write, read back
		}
		for t := range e.targets.at(Commit{Repo: k.repo, Hash: k.commit}) {
			if j := t.jobs[k.job]; j != nil && j.done {
				e.deps.mark(j)
			}
		}
	}
	ids := make([]TargetID, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	sortIDs(ids)
	for _, id := range ids {
		t, ok, err := resolve(ctx, reader, id)
		if err != nil {
			return fmt.Errorf("ci: reading %s: %w", id, err)
		}
		e.reconcile(ctx, id, t, ok)
	}
	return nil
}

// reload reconciles every target with the metadata.
func (e *Engine) reload(ctx context.Context, r dkstore.Reader) error {
	found := map[TargetID]Target{}
	for repo := range e.projects {
		prs, err := bridge.ReadPRs(ctx, r, repo)
		if err != nil {
			return fmt.Errorf("ci: reading PRs of %s: %w", repo, err)
		}
		for _, pr := range prs {
			if pr.State != "open" {
				continue
			}
			id := TargetID{Repo: repo, PR: pr.Number}
			found[id] = Target{ID: id, Head: pr.Head, Title: pr.Title, Owner: pr.Owner, Base: pr.Base}
		}
		refs, err := bridge.ReadRefs(ctx, r, repo)
		if err != nil {
			return fmt.Errorf("ci: reading refs of %s: %w", repo, err)
		}
		for _, ref := range refs {
			id := TargetID{Repo: repo, Ref: ref.Name}
			found[id] = Target{ID: id, Head: ref.Head}
		}
	}
	var ids []TargetID
	for id := range found {
		ids = append(ids, id)
	}
	for id := range e.targets.byID {
		if _, ok := found[id]; !ok {
			ids = append(ids, id)
		}
	}
	sortIDs(ids)
	for _, id := range ids {
		t, ok := found[id]
		e.reconcile(ctx, id, t, ok)
	}
	if !e.swept && e.canaries == nil {
		e.swept = true
		return e.sweep(ctx, r)
	}
	return nil
}

// sweep cancels, once at startup, the CI's pending statuses on commits that
// are no longer the head of any target: their heads moved on, or their
// targets went away, while the CI was not running, and nothing would ever
// finish them.
func (e *Engine) sweep(ctx context.Context, r dkstore.Reader) error {
	for repo := range e.projects {
		heads := map[string]bool{}
		for _, t := range e.targets.byID {
			if t.ID.Repo == repo {
				heads[t.Head] = true
			}
		}
		ents, err := r.ReadDir(ctx, repo.Path().Join("commit"))
		if errors.Is(err, dkstore.ErrNotExist) || errors.Is(err, dkstore.ErrNotDir) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ci: listing the commits of %s: %w", repo, err)
		}
		for _, ent := range ents {
			if heads[ent.Name] || ent.Kind != dkstore.KindDir {
				continue
			}
			sts, err := bridge.ReadStatuses(ctx, r, repo, ent.Name)
			if err != nil {
				return fmt.Errorf("ci: reading statuses of %s@%s: %w", repo, short(ent.Name), err)
			}
			for _, st := range sts {
				job, ok := strings.CutPrefix(st.Context, StatusContextPrefix)
				if !ok || st.State != "pending" || strings.Contains(job, "/") {
					continue
				}
				k := statusKey{repo, st.Commit, job}
				e.statuses.know(k, statusValue{st.State, st.Description, st.TargetURL})
				e.statuses.set(k, write{value: statusValue{state: "error", url: st.TargetURL,
					descr: trimDescr("Cancelled: " + short(st.Commit) + " is no longer the head of any target")}})
			}
		}
	}
	return nil
}

func sortIDs(ids []TargetID) {
	sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
}

func lessID(a, b TargetID) bool {
	if a.Repo != b.Repo {
		return a.Repo.String() < b.Repo.String()
	}
	if a.IsPR() != b.IsPR() {
		return a.IsPR()
	}
	if a.PR != b.PR {
		return a.PR < b.PR
	}
	return a.Ref < b.Ref
}

// reconcile brings target id in line with the metadata: ok says whether it
// exists, t is what the metadata says of it.
func (e *Engine) reconcile(ctx context.Context, id TargetID, t Target, ok bool) {
	if ok && e.canaries != nil && !e.canaries[id] {
		ok = false
	}
	old := e.targets.get(id)
	e.touched[id] = struct{}{}
	switch {
	case !ok && old == nil:
		return
	case !ok:
		e.dropTarget(old, removedReason(id))
		e.markAll(e.targets.remove(old))
		e.log.Info("target removed", "target", id.String())
		return
	case old == nil:
		nt := &target{Target: t, env: term.NewEnv(e.envCtx)}
		e.targets.add(nt)
		e.makeJobs(ctx, nt)
		e.log.Info("new target", "target", id.String(), "head", t.Commit().Short())
		return
	case old.Head != t.Head:
		reason := fmt.Sprintf("%s head moved to %s", id.Short(), t.Commit().Short())
		e.dropTarget(old, reason)
		e.markAll(e.targets.move(old, t))
		old.env = term.NewEnv(e.envCtx)
		e.makeJobs(ctx, old)
		e.log.Info("target moved", "target", id.String(), "head", t.Commit().Short())
	case old.Target != t:
		// Same head, new title (or base...): ask for the jobs again.
		// Background work carries over (same environment); a job no
		// longer wanted is cancelled.
		jobs := old.jobs
		for _, j := range jobs {
			e.dropJob(j)
		}
		old.Target = t
		e.makeJobs(ctx, old)
		for name, j := range jobs {
			if _, ok := old.jobs[name]; !ok {
				e.cancelJob(old, j, fmt.Sprintf("%s is no longer a job of %s", name, id.Short()))
			}
		}
	}
}

func removedReason(id TargetID) string {
	if id.IsPR() {
		return id.Short() + " was closed"
	}
	return id.Short() + " was deleted"
}

// markAll marks dirty every job of the targets ts (the others at a head
// a target left: one of them may own its statuses now).
func (e *Engine) markAll(ts iter.Seq[*target]) {
	for t := range ts {
		for _, j := range t.jobs {
			e.deps.mark(j)
		}
	}
}

// dropTarget cancels a target's work (with reason) and drops its jobs.
func (e *Engine) dropTarget(t *target, reason string) {
	// Closed once the round has evaluated the new jobs: a step the new
	// head still uses (a key that does not change with the head) then has
	// a job waiting for it again and is not cancelled.
	e.closing = append(e.closing, closing{t.env, errors.New(reason)})
	for _, j := range t.jobs {
		e.cancelJob(t, j, reason)
		e.dropJob(j)
	}
	t.jobs = nil
}

// cancelJob settles the status of a job that goes away: if it was
// pending, its status becomes error "Cancelled: <reason>" — if the status
// was this target's (see targetSet.owns). Another target still testing
// the commit with a job of that name is evaluated again in this round and
// its result replaces the cancellation; when several targets at the
// commit go away together, the reason is the owner's ("PR 4 head
// moved…", not that of a branch at the same commit). A finished job's
// status, if not written yet, still is.
func (e *Engine) cancelJob(t *target, j *job, reason string) {
	if !j.done || j.result.State != term.Pending || !e.targets.owns(j) {
		return
	}
	k := statusKey{t.ID.Repo, t.Head, j.name}
	if by, ok := e.statuses.queuedBy(k); ok && by != (TargetID{}) && lessID(by, t.ID) {
		return // the owner, gone before it in this round, said why
	}
	e.statuses.set(k, write{value: statusValue{state: "error", descr: trimDescr("Cancelled: " + reason), url: e.targetURL(t.Commit(), j.name)}, target: t.ID})
}

func (e *Engine) dropJob(j *job) {
	j.dropped = true
	e.targets.njobs--
	e.watch(j, nil)
	e.deps.forget(j)
	e.mu.Lock()
	delete(e.woken, j)
	e.mu.Unlock()
}

// makeJobs asks the project for the target's jobs.
func (e *Engine) makeJobs(ctx context.Context, t *target) {
	p := e.projects[t.ID.Repo]
	jobs, err := callJobs(p.Jobs, t.Target)
	if err != nil {
		e.log.Error("project's Jobs function failed", "target", t.ID.String(), "err", err)
		e.badJobs(t.ID, fmt.Errorf("project's Jobs function failed: %w", err))
	}
	t.jobs = map[string]*job{}
	var r dkstore.Reader = bridge.Empty
	if e.snap != nil && e.snap.tree != nil {
		r = e.snap.tree
	}
	for name, tm := range jobs {
		if !validJobName(name) {
			e.log.Error(`invalid job name (want letters, digits, '.', '_', '-'; not "state", "description" or "target_url")`, "target", t.ID.String(), "job", name)
			e.badJobs(t.ID, fmt.Errorf(`invalid job name %q (want letters, digits, '.', '_', '-'; not "state", "description" or "target_url")`, name))
			continue
		}
		j := &job{t: t, name: name, term: tm}
		t.jobs[name] = j
		e.targets.njobs++
		e.deps.mark(j)
		e.statuses.load(ctx, r, statusKey{t.ID.Repo, t.Head, name})
	}
	e.history.due[t] = struct{}{}
}

func (e *Engine) badJobs(id TargetID, err error) {
	if e.opts.OnBadJobs != nil {
		e.opts.OnBadJobs(id, err)
	}
}

func callJobs(f func(Target) Jobs, t Target) (jobs Jobs, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return f(t), nil
}

// validJobName reports whether s can name a job: its status context
// ci/datakit/<s> must be storable, so no '/', and not the name of a
// status value file.
func validJobName(s string) bool {
	switch s {
	case "", ".", "..", "state", "description", "target_url":
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// watch replaces the events j waits for: when one fires, j is woken.
func (e *Engine) watch(j *job, events []*term.Event) {
	for _, u := range j.unsub {
		u()
	}
	j.unsub = nil
	fired := false
	for _, ev := range events {
		if ev.Fired() {
			fired = true
			continue
		}
		// Check again after subscribing: an event firing in between calls
		// the subscriber later, in a goroutine of its own, and Settle
		// could return before it runs.
		j.unsub = append(j.unsub, ev.Subscribe(func() { e.wakeJob(j) }))
		if ev.Fired() {
			e.wakeJob(j)
		}
	}
	// A term that depends on an event that has fired already asks to be
	// evaluated again at once. One that keeps doing so (a source that
	// never replaces its fired event) would spin the engine: stop it.
	switch {
	case !fired:
		j.spins = 0
	case j.spins < maxSpins:
		j.spins++
		e.wakeJob(j)
	case j.spins == maxSpins:
		j.spins++
		e.log.Error("a job's term keeps depending on an event that has already fired; not re-evaluating it until something else changes",
			"target", j.t.ID.String(), "job", j.name)
	}
}

// maxSpins bounds the immediate re-evaluations of a job (see setDeps).
const maxSpins = 100

// wakeJob queues j for re-evaluation (called when an event it waits for
// fires, from any goroutine).
func (e *Engine) wakeJob(j *job) {
	e.mu.Lock()
	e.woken[j] = struct{}{}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Engine) takeWoken() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.idle = false // until publish says otherwise: Settle must wait for this round
	for j := range e.woken {
		if !j.dropped {
			e.deps.mark(j)
		}
	}
	clear(e.woken)
}

// round evaluates the dirty jobs and writes what changed.
func (e *Engine) round(ctx context.Context) {
	e.retry = false
	defer e.closeDropped()
	if e.snap == nil {
		return
	}
	ectx := e.evalContext(ctx)
	start := time.Now()
	jobs := e.deps.take()
	for _, j := range jobs {
		e.eval(ectx, j)
	}
	if len(jobs) > 0 && e.log.Enabled(ctx, slog.LevelDebug) {
		e.log.Debug("evaluated jobs", "count", len(jobs), "statuses", len(e.statuses.queued), "took", time.Since(start).Round(time.Microsecond).String())
	}
	e.publishTargets() // before the statuses: the web UI is never behind them
	if e.statuses.flush(ctx, e.store) {
		e.retry = true
	} else {
		e.statuses.forgetUnused(e.targets.njobs, e.targets.statusKeys)
	}
	e.flushHistory(ctx)
}

// closeDropped closes the environments of the targets dropped since the
// last round, cancelling their background work.
func (e *Engine) closeDropped() {
	for _, c := range e.closing {
		c.env.Close(c.cause)
	}
	clear(e.closing)
	e.closing = e.closing[:0]
}

// eval evaluates one job and queues its status if it changed.
func (e *Engine) eval(ctx context.Context, j *job) {
	r, deps, stack := safeRun(e.jobContext(ctx, j.t.ID), j.t.env, j.term)
	if stack != "" {
		e.log.Error("job panicked", "target", j.t.ID.String(), "job", j.name, "err", r.Msg, "stack", stack)
	}
	e.deps.setPaths(j, deps.Keys)
	e.watch(j, deps.Events)
	if r.State == term.Success {
		r.Msg = r.Value
	}
	if len(e.opts.Secrets) > 0 {
		r.Msg = e.opts.Logs.Mask(r.Msg) // before it is written anywhere
	}
	if !j.done || r.State != j.result.State || r.Msg != j.result.Msg || !sameLogs(r.Logs, j.result.Logs) {
		e.history.due[j.t] = struct{}{}
	}
	j.result, j.done = r, true
	e.touched[j.t.ID] = struct{}{}
	k := statusKey{j.t.ID.Repo, j.t.Head, j.name}
	v := statusValue{state: r.State.String(), descr: trimDescr(r.Msg), url: e.targetURL(j.t.Commit(), j.name)}
	if !e.targets.owns(j) {
		return // the owner's result is the status
	}
	e.statuses.set(k, write{value: v, target: j.t.ID})
}

// safeRun runs t, turning a panic into an Error result ("panic: <value>")
// and its stack.
func safeRun(ctx context.Context, env *term.Env, t term.Term[string]) (r term.Result[string], d term.Deps, stack string) {
	defer func() {
		if p := recover(); p != nil {
			r = term.Result[string]{State: term.Error, Msg: fmt.Sprintf("panic: %v", p)}
			stack = string(debug.Stack())
		}
	}()
	r, d = term.Run(ctx, env, t)
	return r, d, ""
}

func sameLogs(a, b []term.Log) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (e *Engine) targetURL(c Commit, jobName string) string {
	return fmt.Sprintf("%s%s/commit/%s?test=%s", e.opts.WebUI, c.Repo, c.Hash, jobName)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// Connect opens (or reopens) the store for RunConnected.
type Connect func(ctx context.Context) (dkstore.Store, error)

// RunConnected runs the engine until ctx is done, connecting to the store
// with connect and reconnecting, with backoff (1 s doubling to 30 s), when
// the connection fails or is lost. Jobs and their background work survive
// reconnections. The store is closed after each connection.
func (e *Engine) RunConnected(ctx context.Context, connect Connect) error {
	backoff := time.Second
	for {
		if e.opts.Metrics != nil {
			e.opts.Metrics.connectionAttempts.Inc()
		}
		store, err := connect(ctx)
		if err == nil {
			start := time.Now()
			err = e.Run(ctx, store)
			store.Close()
			if time.Since(start) > time.Minute {
				backoff = time.Second
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if e.opts.Metrics != nil {
			e.opts.Metrics.connectionFailures.Inc()
		}
		e.log.Warn("store connection failed; reconnecting", "in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
