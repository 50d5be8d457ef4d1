package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

// Options configure a Bridge. The zero value is useful.
type Options struct {
	// Branch is the metadata branch (default bridge.DefaultBranch).
	Branch dkstore.BranchName
	// Capabilities say what the bridge may do; nil means All ("*:rw").
	Capabilities *Capabilities
	// Monitor are repositories to mark monitored (their .monitor file is
	// written) when the bridge starts: the --repositories flag. The
	// bridge syncs every monitored repository.
	Monitor []bridge.Repo
	// Only, if not empty, limits the bridge to these repositories: other
	// monitored repositories (fed by another bridge, say) are left
	// alone.
	Only []bridge.Repo
	// ResyncInterval is how often every repository is read again from
	// GitHub in full (conditional requests: unchanged resources cost
	// nothing against the rate limit); 0 means an hour, a negative
	// value never.
	ResyncInterval time.Duration
	// Webhook, if set, is where GitHub sends events: the bridge
	// registers it on the repositories (with the capability webhook:w)
	// and Handler receives the events.
	Webhook *HookConfig
	// Parallel is how many GitHub requests a sync makes at once; 0 means
	// 8.
	Parallel int
	// Logger receives what the bridge does (nil: discard). Tokens and
	// secrets are never logged.
	Logger *slog.Logger
	// Metrics, if set, count what the bridge does.
	Metrics *Metrics
}

// HookConfig is the bridge's webhook.
type HookConfig struct {
	// URL is the public URL GitHub posts events to.
	URL string
	// Secret signs the deliveries (HMAC-SHA256); it must not be empty.
	Secret []byte
}

// Bridge syncs the metadata branch of a store with GitHub. Its methods
// are safe for concurrent use; syncs run one at a time.
type Bridge struct {
	store dkstore.Store
	api   *api
	opts  Options
	caps  Capabilities
	log   *slog.Logger
	m     *Metrics
	only  map[bridge.Repo]bool

	kick   chan struct{} // wakes Run; holds at most one wake-up
	synced atomic.Bool   // a sync succeeded

	emu       sync.Mutex // guards the fields below
	events    []event
	overflow  bool // events were dropped: read everything again
	resyncDue bool
	warned    map[string]bool // warnOnce's keys

	syncMu  sync.Mutex // one sync at a time; guards the state below
	started bool
	dk      storeState
	gh      map[bridge.Repo]*ghRepo
	base    map[bridge.Repo]*baseRepo
	pending bool // a push failed on a server or network error: sync again
}

// baseRepo is what the bridge last saw the store and GitHub agree on,
// for the parts of the store GitHub can be told about (statuses, and the
// title, state and base of PRs), and the store values GitHub refused.
type baseRepo struct {
	statuses map[ckey]statusValue
	prs      map[int]pushable
	// Values of the store GitHub refused (a 4xx): left in the store,
	// not sent again until the store changes them.
	refusedStatus map[ckey]statusValue
	refusedPR     map[int]pushable
	// sent is the value the bridge last sent GitHub of each status in
	// the store. A store value equal to it is not sent again, even when
	// GitHub holds another writer's value since (another CI's bridge, a
	// person): the bridge does not fight other writers, and two CIs on
	// one repository settle. yielded is the other writer's value the
	// bridge last gave way to (said once in the log).
	sent    map[ckey]statusValue
	yielded map[ckey]statusValue
}

func newBaseRepo() *baseRepo {
	return &baseRepo{statuses: map[ckey]statusValue{}, prs: map[int]pushable{},
		refusedStatus: map[ckey]statusValue{}, refusedPR: map[int]pushable{},
		sent: map[ckey]statusValue{}, yielded: map[ckey]statusValue{}}
}

// maxEvents is how many webhook events wait for a sync; beyond, they are
// dropped and the next sync reads everything again.
const maxEvents = 10000

// New makes a bridge between store and GitHub. It checks the options
// but connects to nothing: Run and Sync do.
func New(store dkstore.Store, g GitHub, opts Options) (*Bridge, error) {
	if opts.Branch == "" {
		opts.Branch = bridge.DefaultBranch
	}
	if _, err := store.Branch(opts.Branch); err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = time.Hour
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	caps := All()
	if opts.Capabilities != nil {
		caps = *opts.Capabilities
	}
	if opts.Webhook != nil && len(opts.Webhook.Secret) == 0 {
		return nil, dkstore.Invalidf("github: the webhook needs a secret")
	}
	for _, r := range append(append([]bridge.Repo{}, opts.Monitor...), opts.Only...) {
		if err := r.Valid(); err != nil {
			return nil, fmt.Errorf("github: %w", err)
		}
	}
	a, err := newAPI(g, opts.Logger, opts.Metrics)
	if err != nil {
		return nil, err
	}
	b := &Bridge{
		store: store, api: a, opts: opts, caps: caps, log: opts.Logger, m: opts.Metrics,
		kick: make(chan struct{}, 1), gh: map[bridge.Repo]*ghRepo{}, base: map[bridge.Repo]*baseRepo{},
		warned: map[string]bool{},
	}
	if len(opts.Only) > 0 {
		b.only = map[bridge.Repo]bool{}
		for _, r := range opts.Only {
			b.only[r] = true
		}
	}
	return b, nil
}

// Capabilities returns what the bridge may do.
func (b *Bridge) Capabilities() Capabilities { return b.caps }

// wake asks Run for a sync; wake-ups coalesce.
func (b *Bridge) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Resync asks the next sync to read every repository again from GitHub,
// and wakes Run.
func (b *Bridge) Resync() {
	b.emu.Lock()
	b.resyncDue = true
	b.emu.Unlock()
	b.wake()
}

// Run syncs until ctx is done, then returns nil: at once, then whenever
// the metadata branch moves, webhook events arrive (see Handler), the
// resync interval passes, or a failed sync or push is due again (after
// 1s, doubling up to a minute). It returns an error if the store cannot
// be watched (a lost connection: the caller may connect again and call
// Run again), and if its first sync fails because GitHub rejects the
// credentials (ErrBadCredentials): the user must fix them. Later, that
// failure is logged and tried again, as others are (a repository GitHub
// does not know, ErrRepoNotFound, is always: the others sync).
func (b *Bridge) Run(ctx context.Context) error {
	br, err := b.store.Branch(b.opts.Branch)
	if err != nil {
		return fmt.Errorf("github: %w", err)
	}
	if err := b.start(ctx); err != nil {
		return err
	}
	w, err := br.WatchHead(ctx)
	if err != nil {
		return fmt.Errorf("github: watching %s: %w", b.opts.Branch, err)
	}
	defer w.Close()
	watchErr := make(chan error, 1)
	go func() {
		for {
			if _, err := w.Next(ctx); err != nil {
				watchErr <- err
				return
			}
			b.wake()
		}
	}()
	var tick <-chan time.Time
	if b.opts.ResyncInterval > 0 {
		t := time.NewTicker(b.opts.ResyncInterval)
		defer t.Stop()
		tick = t.C
	}
	b.log.Info("github bridge running", "branch", b.opts.Branch, "capabilities", b.caps.String(), "resync", b.opts.ResyncInterval.String())
	b.wake()
	var retry *time.Timer
	backoff := time.Second
	for {
		var retryC <-chan time.Time
		if retry != nil {
			retryC = retry.C
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("github: watching %s: %w", b.opts.Branch, err)
		case <-tick:
			b.Resync()
			continue
		case <-retryC:
			retry = nil
		case <-b.kick:
		}
		err := b.Sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		b.syncMu.Lock()
		again := b.pending
		b.syncMu.Unlock()
		switch {
		case err != nil && errors.Is(err, ErrBadCredentials) && !b.synced.Load():
			return err // at start-up: the user must fix the credentials
		case err != nil:
			b.log.Error("github bridge: sync failed; trying again", "in", backoff.String(), "err", err)
		case again:
			b.log.Info("github bridge: some changes did not reach GitHub; trying again", "in", backoff.String())
		default:
			backoff = time.Second
			continue
		}
		if retry == nil {
			retry = time.NewTimer(backoff)
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// start initialises the branch and marks Options.Monitor monitored,
// once.
func (b *Bridge) start(ctx context.Context) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	if b.started {
		return nil
	}
	if err := bridge.Init(ctx, b.store, b.opts.Branch); err != nil {
		return fmt.Errorf("github: %w", err)
	}
	if len(b.opts.Monitor) > 0 {
		if err := b.monitor(ctx); err != nil {
			return err
		}
	}
	b.started = true
	return nil
}

// monitor writes the .monitor files of Options.Monitor that are missing.
func (b *Bridge) monitor(ctx context.Context) error {
	br, err := b.store.Branch(b.opts.Branch)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		r, head, err := bridge.Snapshot(ctx, b.store, b.opts.Branch)
		if err != nil {
			return fmt.Errorf("github: %w", err)
		}
		var missing []bridge.Repo
		for _, repo := range b.opts.Monitor {
			if ok, err := isFile(ctx, r, bridge.MonitorPath(repo)); err != nil {
				return fmt.Errorf("github: %w", err)
			} else if !ok {
				missing = append(missing, repo)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		tx, err := br.Transaction(ctx, dkstore.TxOptions{From: head})
		if err != nil {
			return fmt.Errorf("github: %w", err)
		}
		var lines []string
		for _, repo := range missing {
			if err := bridge.SetMonitored(ctx, tx, repo); err != nil {
				tx.Abort(context.WithoutCancel(ctx))
				return fmt.Errorf("github: %w", err)
			}
			lines = append(lines, "Monitoring "+repo.String())
		}
		_, err = tx.Commit(ctx, joinLines(lines))
		if err == nil {
			for _, l := range lines {
				b.log.Info(l)
			}
			return nil
		}
		tx.Abort(context.WithoutCancel(ctx))
		if !errors.Is(err, dkstore.ErrConflict) || attempt == 4 {
			return fmt.Errorf("github: marking repositories monitored: %w", err)
		}
	}
}

func joinLines(ls []string) string {
	out := ""
	for i, l := range ls {
		if i > 0 {
			out += "\n"
		}
		out += l
	}
	return out
}

// warnOnce logs a warning the first time key is seen.
func (b *Bridge) warnOnce(key, msg string, args ...any) {
	b.emu.Lock()
	seen := b.warned[key]
	b.warned[key] = true
	b.emu.Unlock()
	if !seen {
		b.log.Warn(msg, args...)
	}
}

// sortedRepos returns the keys of m, sorted.
func sortedRepos[V any](m map[bridge.Repo]V) []bridge.Repo {
	out := make([]bridge.Repo, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
