package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/dkgo/datakit/dkstore"
)

// Version counts the evaluations of a record that changed at least one
// field's value. A field's version is the record's version at its last
// change.
type Version uint64

// InitialVersion is the version of a new record.
const InitialVersion Version = 0

// SchemaKey is the key of the field that holds the record's schema version
// (see Record.Upgrade).
const SchemaKey = "schema-version"

// BranchCreated is the file New commits, empty, to a branch it needs and
// finds missing, as the original did.
const BranchCreated = "branch-created"

// Options say where a record lives.
type Options struct {
	// Lookup lists the branches a field's key is looked up in, highest
	// priority first, e.g. {"master", "defaults"}. Set writes to the first.
	// At least one is needed.
	Lookup []dkstore.BranchName
	// Defaults is the branch the program writes its defaults to. It is
	// usually the last lookup branch; if it is not a lookup branch, the
	// defaults are written but never read.
	Defaults dkstore.BranchName
	// State is the branch that mirrors the effective values; "" for none.
	// The record writes there only what changed since its own last write,
	// so it is the record's alone.
	State dkstore.BranchName
	// Dir is the record's directory in each branch (dkstore.Root for the
	// top).
	Dir dkstore.Path
	// Logger receives warnings (a value that does not parse) and
	// debugging messages. Nil discards them.
	Logger *slog.Logger
}

// Record is a typed view of a directory looked up in several branches. It
// is safe for concurrent use; Close releases its watches.
type Record struct {
	store dkstore.Store
	opts  Options
	log   *slog.Logger

	// evalMu serialises evaluations and declarations; upgradeMu upgrades.
	evalMu    sync.Mutex
	upgradeMu sync.Mutex

	mu      sync.RWMutex
	fields  []field
	keys    map[dkstore.Path]bool
	version Version
	// seen holds the head each lookup branch's watch returned last, and
	// reports counts them; evaluated holds the heads the fields were last
	// evaluated from. Evaluating only from heads a watch returned makes
	// sure that the watch reports any later difference.
	seen      []dkstore.CommitID
	reports   []uint64
	evaluated []dkstore.CommitID
	stale     bool // the state branch misses a change (a write failed)
	mirrored  bool // the state branch holds every field (written since the last declaration)
	redo      bool // a default changed: evaluate again
	// written holds what this record wrote to the state branch, so that
	// it writes only changes there (guarded by evalMu).
	written  map[dkstore.Path]mirror
	changed  chan struct{} // closed (and replaced) when seen, version or closed change
	watchErr error
	closed   bool

	schema *Field[int]

	stop  context.CancelFunc
	wg    sync.WaitGroup
	watch []dkstore.Watch[dkstore.CommitID]
}

// New opens the record described by opts in store s: it makes the lookup,
// defaults and state branches that do not exist yet, starts watching the
// head of each lookup branch, and declares the schema-version field. The
// watches end with Close (not with ctx, which bounds New only).
func New(ctx context.Context, s dkstore.Store, opts Options) (*Record, error) {
	if len(opts.Lookup) == 0 {
		return nil, fmt.Errorf("record: %w: no lookup branch", dkstore.ErrInvalid)
	}
	for _, b := range append(slices.Clone(opts.Lookup), opts.Defaults) {
		if err := b.Valid(); err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
	}
	if opts.State != "" {
		if err := opts.State.Valid(); err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
	}
	if err := opts.Dir.Valid(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	opts.Lookup = slices.Clone(opts.Lookup)
	r := &Record{
		store:   s,
		opts:    opts,
		log:     opts.Logger,
		keys:    map[dkstore.Path]bool{},
		written: map[dkstore.Path]mirror{},
		changed: make(chan struct{}),
		seen:    make([]dkstore.CommitID, len(opts.Lookup)),
		reports: make([]uint64, len(opts.Lookup)),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	made := map[dkstore.BranchName]bool{}
	for _, b := range append(append(slices.Clone(opts.Lookup), opts.Defaults), opts.State) {
		if b == "" || made[b] {
			continue
		}
		made[b] = true
		if err := r.ensureBranch(ctx, b); err != nil {
			return nil, err
		}
	}
	if err := r.startWatches(ctx); err != nil {
		return nil, err
	}
	schema, err := declare(ctx, r, SchemaKey, 1, intCodec, false)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.schema = schema
	return r, nil
}

// ensureBranch makes branch b, with an empty file BranchCreated, if it has
// no head.
func (r *Record) ensureBranch(ctx context.Context, b dkstore.BranchName) error {
	br, err := r.store.Branch(b)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	head, err := br.Head(ctx)
	if err != nil {
		return fmt.Errorf("record: branch %s: %w", b, err)
	}
	if !head.IsZero() {
		return nil
	}
	return r.commit(ctx, b, "Creating branch", func(tx dkstore.Transaction) error {
		return tx.WriteFile(ctx, BranchCreated, nil, dkstore.KindFile)
	})
}

// startWatches watches the head of every lookup branch: the first value
// of each is taken here (the fields are first evaluated from these), and
// a goroutine per watch follows the rest.
func (r *Record) startWatches(ctx context.Context) error {
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	for i, b := range r.opts.Lookup {
		br, err := r.store.Branch(b)
		if err == nil {
			var w dkstore.Watch[dkstore.CommitID]
			w, err = br.WatchHead(wctx) // a watch lives as long as its context
			if err == nil {
				r.watch = append(r.watch, w)
				r.seen[i], err = w.Next(ctx)
			}
		}
		if err != nil {
			r.Close()
			return fmt.Errorf("record: watch %s: %w", b, err)
		}
	}
	r.evaluated = slices.Clone(r.seen)
	for i, w := range r.watch {
		r.wg.Add(1)
		go r.follow(wctx, i, w)
	}
	return nil
}

// follow records each new head that watch w of lookup branch i returns,
// until the watch ends.
func (r *Record) follow(ctx context.Context, i int, w dkstore.Watch[dkstore.CommitID]) {
	defer r.wg.Done()
	for {
		head, err := w.Next(ctx)
		r.mu.Lock()
		if err != nil {
			if !r.closed && r.watchErr == nil {
				r.watchErr = fmt.Errorf("record: watch %s: %w", r.opts.Lookup[i], err)
				r.broadcastLocked()
			}
			r.mu.Unlock()
			return
		}
		if head != r.seen[i] {
			r.seen[i] = head
			r.reports[i]++
			r.broadcastLocked()
			r.log.Debug("record: lookup branch moved", "branch", r.opts.Lookup[i], "head", head.String())
		}
		r.mu.Unlock()
	}
}

func (r *Record) broadcastLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Close stops watching the lookup branches. Blocked and later Waits return
// an error that wraps dkstore.ErrClosed; fields keep their last values.
// Closing twice is not an error.
func (r *Record) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.broadcastLocked()
	r.mu.Unlock()
	if r.stop != nil {
		r.stop()
	}
	var errs []error
	for _, w := range r.watch {
		if err := w.Close(); err != nil && !errors.Is(err, dkstore.ErrClosed) {
			errs = append(errs, err)
		}
	}
	r.wg.Wait()
	return errors.Join(errs...)
}

// Version returns the record's current version.
func (r *Record) Version() Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.version
}

// SchemaVersion returns the record's schema version: the value of the
// field SchemaKey (1 until an Upgrade).
func (r *Record) SchemaVersion() int {
	v, _ := r.schema.Get()
	return v
}

// Seal evaluates every field now, from the heads of the lookup branches,
// and writes the state branch. Call it once the fields are declared.
func (r *Record) Seal(ctx context.Context) error {
	if err := r.sync(ctx); err != nil {
		return err
	}
	_, err := r.evaluate(ctx, true)
	return err
}

// sync waits until each lookup branch's watch has returned the branch's
// current head. A branch that keeps moving is read again a few times,
// then any later report is taken.
func (r *Record) sync(ctx context.Context) error {
	heads := make([]dkstore.CommitID, len(r.opts.Lookup))
	for attempt := 1; ; attempt++ {
		r.mu.RLock()
		start := slices.Clone(r.reports)
		r.mu.RUnlock()
		for i, b := range r.opts.Lookup {
			br, err := r.store.Branch(b)
			if err != nil {
				return fmt.Errorf("record: %w", err)
			}
			if heads[i], err = br.Head(ctx); err != nil {
				return fmt.Errorf("record: head of %s: %w", b, err)
			}
		}
		for again := false; !again; {
			r.mu.RLock()
			done, moved := true, false
			for i := range heads {
				if r.seen[i] != heads[i] {
					done = false
					moved = moved || r.reports[i] != start[i]
				}
			}
			closed, werr, ch := r.closed, r.watchErr, r.changed
			r.mu.RUnlock()
			switch {
			case done:
				return nil
			case moved && attempt == syncAttempts:
				return nil
			case moved:
				again = true
				continue
			case closed:
				return fmt.Errorf("record: %w", dkstore.ErrClosed)
			case werr != nil:
				return werr
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// syncAttempts bounds the times sync reads the heads of branches that
// keep moving.
const syncAttempts = 3

// Wait blocks until the value of at least one field changes, re-evaluates
// the fields and returns the new version. It is WaitAfter(ctx, r.Version()).
func (r *Record) Wait(ctx context.Context) (Version, error) {
	return r.WaitAfter(ctx, r.Version())
}

// WaitAfter blocks until the record's version is above v, and returns it.
// A change in a lookup branch is evaluated by whichever waiting goroutine
// notices it first. Errors: ctx's, one wrapping dkstore.ErrClosed after
// Close, or a watch's failure.
func (r *Record) WaitAfter(ctx context.Context, v Version) (Version, error) {
	for {
		r.mu.RLock()
		cur, pending, closed, werr, ch := r.version, r.stale || !slices.Equal(r.seen, r.evaluated), r.closed, r.watchErr, r.changed
		r.mu.RUnlock()
		switch {
		case cur > v:
			return cur, nil
		case closed:
			return cur, fmt.Errorf("record: wait: %w", dkstore.ErrClosed)
		case pending:
			if _, err := r.evaluate(ctx, false); err != nil {
				return cur, err
			}
			continue
		case werr != nil:
			return cur, werr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}

// trees returns the tree of each lookup branch's head in heads, nil for a
// branch without one.
func (r *Record) trees(ctx context.Context, heads []dkstore.CommitID) ([]dkstore.Tree, error) {
	out := make([]dkstore.Tree, len(r.opts.Lookup))
	for i, b := range r.opts.Lookup {
		head := heads[i]
		if head.IsZero() {
			continue
		}
		c, err := r.store.Commit(ctx, head)
		if err != nil {
			return nil, fmt.Errorf("record: commit %s of %s: %w", head, b, err)
		}
		if out[i], err = r.store.Tree(ctx, c.Tree); err != nil {
			return nil, fmt.Errorf("record: tree of %s: %w", b, err)
		}
	}
	return out, nil
}

// path returns the path of key in a branch.
func (r *Record) path(key dkstore.Path) dkstore.Path {
	if r.opts.Dir == dkstore.Root {
		return key
	}
	return r.opts.Dir + "/" + key
}

// lookup returns the content of key in the first tree that has it as a
// file; found is false if none has.
func (r *Record) lookup(ctx context.Context, trees []dkstore.Tree, key dkstore.Path) (raw []byte, found bool, err error) {
	p := r.path(key)
	for i, t := range trees {
		if t == nil {
			continue
		}
		data, err := t.ReadFile(ctx, p)
		switch {
		case err == nil:
			return data, true, nil
		case errors.Is(err, dkstore.ErrIsDir):
			r.log.Warn("record: a directory where a value is expected; ignored", "branch", r.opts.Lookup[i], "path", string(p))
		case errors.Is(err, dkstore.ErrNotExist), errors.Is(err, dkstore.ErrNotDir):
		default:
			return nil, false, fmt.Errorf("record: read %s in %s: %w", p, r.opts.Lookup[i], err)
		}
	}
	return nil, false, nil
}

// evaluate reads every field from the heads the watches returned last
// and installs the values, making a new version if one changed. It writes
// the state branch if a value changed (now or at an evaluation whose write
// failed), or if seal is true and the state branch misses a field. It
// does nothing when the values are those of the last evaluation: its
// heads, no new field, no new default.
func (r *Record) evaluate(ctx context.Context, seal bool) (changed bool, err error) {
	r.evalMu.Lock()
	defer r.evalMu.Unlock()
	r.mu.RLock()
	heads, prev := slices.Clone(r.seen), r.evaluated
	same := !r.stale && !r.redo // the values depend on the heads only
	fields := slices.Clone(r.fields)
	for _, f := range fields {
		same = same && !f.isNew()
	}
	mirrored := r.mirrored
	r.mu.RUnlock()
	if same && (!seal || mirrored) {
		if slices.Equal(heads, prev) {
			return false, nil
		}
		if !r.touchesDir(ctx, prev, heads) {
			r.mu.Lock()
			r.evaluated = heads
			r.mu.Unlock()
			return false, nil
		}
	}
	trees, err := r.trees(ctx, heads)
	if err != nil {
		return false, err
	}
	installs := make([]func(next, cur Version) bool, len(fields))
	for i, f := range fields {
		raw, found, err := r.lookup(ctx, trees, f.key())
		if err != nil {
			return false, err
		}
		installs[i] = f.resolve(raw, found)
	}
	r.mu.Lock()
	next := r.version + 1
	for _, install := range installs {
		if install(next, r.version) {
			changed = true
		}
	}
	r.evaluated = heads
	r.redo = false
	if changed {
		r.version = next
		r.stale = true
		r.broadcastLocked()
	}
	write := r.stale || seal && !r.mirrored
	r.mu.Unlock()
	if changed {
		r.log.Debug("record: new version", "version", next)
	}
	if !write {
		return changed, nil
	}
	if err := r.writeState(ctx, fields); err != nil {
		return changed, err
	}
	r.mu.Lock()
	r.stale = false
	r.mirrored = len(r.fields) == len(fields)
	r.mu.Unlock()
	return changed, nil
}

// touchesDir reports whether a commit between prev and heads changed a
// file under the record's directory in a lookup branch (or might have:
// true if a diff fails).
func (r *Record) touchesDir(ctx context.Context, prev, heads []dkstore.CommitID) bool {
	if r.opts.Dir == dkstore.Root {
		return true
	}
	for i := range heads {
		if heads[i] == prev[i] {
			continue
		}
		if heads[i].IsZero() || prev[i].IsZero() {
			return true
		}
		changes, err := r.store.Diff(ctx, prev[i], heads[i])
		if err != nil {
			return true
		}
		for _, c := range changes {
			if c.Path.HasPrefix(r.opts.Dir) {
				return true
			}
		}
	}
	return false
}

// writeState mirrors the effective values of fields into the state branch.
func (r *Record) writeState(ctx context.Context, fields []field) error {
	if r.opts.State == "" {
		return nil
	}
	type value struct {
		p    dkstore.Path
		text string
		set  bool
	}
	var values []value
	r.mu.RLock()
	for _, f := range fields {
		text, set := f.effective()
		p := r.path(f.key())
		if w, ok := r.written[p]; !ok || w != (mirror{text, set}) {
			values = append(values, value{p, text, set})
		}
	}
	r.mu.RUnlock()
	if len(values) == 0 {
		return nil
	}
	err := r.commit(ctx, r.opts.State, "Updating state branch", func(tx dkstore.Transaction) error {
		for _, v := range values {
			if err := put(ctx, tx, v.p, v.text, v.set); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, v := range values {
		r.written[v.p] = mirror{v.text, v.set}
	}
	return nil
}

// mirror is a value as written to the state branch.
type mirror struct {
	text string
	set  bool
}

// put writes text at p in tx, or removes p if set is false.
func put(ctx context.Context, tx dkstore.Transaction, p dkstore.Path, text string, set bool) error {
	if set {
		return tx.WriteFile(ctx, p, []byte(text), dkstore.KindFile)
	}
	if err := tx.Remove(ctx, p); err != nil && !errors.Is(err, dkstore.ErrNotExist) {
		return err
	}
	return nil
}

// commitAttempts bounds the retries of a commit that conflicts with a
// concurrent one.
const commitAttempts = 3

// commit applies edit in a transaction on branch b and commits it with
// msg; a commit that would change nothing is skipped. A conflict with a
// concurrent commit is retried from the new head.
func (r *Record) commit(ctx context.Context, b dkstore.BranchName, msg string, edit func(dkstore.Transaction) error) error {
	br, err := r.store.Branch(b)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	for attempt := 1; ; attempt++ {
		tx, err := br.Transaction(ctx, dkstore.TxOptions{SkipIfEmpty: true})
		if err != nil {
			return fmt.Errorf("record: transaction on %s: %w", b, err)
		}
		if err := edit(tx); err != nil {
			tx.Abort(ctx)
			return fmt.Errorf("record: %s: %w", b, err)
		}
		_, err = tx.Commit(ctx, msg)
		if err == nil {
			return nil
		}
		tx.Abort(ctx)
		if !errors.Is(err, dkstore.ErrConflict) || attempt == commitAttempts {
			return fmt.Errorf("record: commit to %s: %w", b, err)
		}
	}
}

// Upgrade moves the record to schemaVersion if that is above its current
// schema version: it writes every declared field's default (removing the
// keys whose default is nil) and the new schema version into the defaults
// branch in one commit "Upgrade to schema version N", then evaluates the
// fields. Values set in higher-priority branches stay: a program that
// must migrate them does so when Upgrade reports that it ran.
func (r *Record) Upgrade(ctx context.Context, schemaVersion int) (upgraded bool, err error) {
	r.upgradeMu.Lock()
	defer r.upgradeMu.Unlock()
	if cur := r.SchemaVersion(); schemaVersion <= cur {
		r.log.Debug("record: no schema upgrade needed", "version", schemaVersion, "current", cur)
		return false, nil
	}
	r.log.Info("record: schema upgrade", "version", schemaVersion)
	r.mu.Lock()
	r.schema.def = schemaVersion
	r.redo = true
	fields := slices.Clone(r.fields)
	r.mu.Unlock()
	err = r.commit(ctx, r.opts.Defaults, "Upgrade to schema version "+strconv.Itoa(schemaVersion), func(tx dkstore.Transaction) error {
		for _, f := range fields {
			r.mu.RLock()
			text, set := f.defaultText()
			r.mu.RUnlock()
			if err := put(ctx, tx, r.path(f.key()), text, set); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if err := r.Seal(ctx); err != nil {
		return true, err
	}
	return true, nil
}

// An Assignment is a value for a field, for SetMultiple: Field.To makes
// one.
type Assignment struct {
	f    field
	rec  *Record
	text string
	set  bool
}

// SetMultiple writes the values of assignments into the first lookup
// branch in one commit with message description. The fields see them at
// the next Wait or Seal.
func (r *Record) SetMultiple(ctx context.Context, description string, assignments ...Assignment) error {
	for _, a := range assignments {
		if a.rec != r {
			return fmt.Errorf("record: set: %w: an assignment for another record (or none)", dkstore.ErrInvalid)
		}
	}
	if len(assignments) == 0 {
		return nil
	}
	return r.commit(ctx, r.opts.Lookup[0], description, func(tx dkstore.Transaction) error {
		for _, a := range assignments {
			if err := put(ctx, tx, r.path(a.f.key()), a.text, a.set); err != nil {
				return err
			}
		}
		return nil
	})
}
