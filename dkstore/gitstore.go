package dkstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Options configure a store. The zero value is useful.
type Options struct {
	// Logger receives the store's diagnostics (nil: discard).
	Logger *slog.Logger
	// Now gives the time of new commits (nil: time.Now).
	Now func() time.Time
	// PollInterval is how often an on-disk store looks for refs changed by
	// other programs (default 100ms).
	PollInterval time.Duration
	// Exclusive makes the opener of an on-disk store its owner while the
	// store is open: Open and OpenGitDir take an exclusive lock (flock) on
	// GITDIR/datakit.lock, and fail at once, with an error that wraps
	// ErrLocked and names the holder (its pid and command line), if another
	// owner holds it, in this process or another. The kernel releases the
	// lock when the holder exits, even killed. A DataKit server and a CI
	// set it (one of them per repository); readers and tools that only
	// write branches of their own need not: they open the store beside
	// the owner.
	Exclusive bool
}

// GitStore is the store implemented on a Git repository, on disk or in
// memory. It is safe for concurrent use.
type GitStore struct {
	objs   *objects
	refs   refStore
	gitdir string // "" in memory
	st     storage.Storer
	hub    *hub
	log    *slog.Logger
	now    func() time.Time

	refMu sync.Mutex // guards known; orders notifications with rescans
	known map[BranchName]CommitID

	branchMu    sync.Mutex
	branchLocks map[BranchName]*sync.Mutex // one writer per branch in this process

	pollStop chan struct{}
	pollDone chan struct{}
	lock     *os.File // held for Options.Exclusive, released by Close
	closeMu  sync.Once
	fetchMu  sync.Mutex
}

var _ Store = (*GitStore)(nil)

// NewMemory returns a store held in memory only.
func NewMemory(opts Options) *GitStore {
	st := memory.NewStorage()
	s := newGitStore(st, newMemRefs(), "", opts)
	return s
}

// Open opens the repository at path the way `datakit --git PATH` does: its
// Git directory is PATH/.git, created (bare, with no work tree) if absent.
// An existing repository written by plain git is used as it is, packed
// objects and refs included; the work tree is never touched.
func Open(path string, opts Options) (*GitStore, error) {
	gitdir := filepath.Join(path, ".git")
	if err := initGitDir(gitdir); err != nil {
		return nil, fmt.Errorf("dkstore: open %s: %w", path, err)
	}
	return openGitDir(gitdir, opts)
}

// OpenGitDir opens a Git directory directly (e.g. a bare repository),
// which must exist.
func OpenGitDir(gitdir string, opts Options) (*GitStore, error) {
	if _, err := os.Stat(filepath.Join(gitdir, "objects")); err != nil {
		return nil, fmt.Errorf("dkstore: open %s: not a Git directory: %w", gitdir, err)
	}
	return openGitDir(gitdir, opts)
}

func openGitDir(gitdir string, opts Options) (_ *GitStore, err error) {
	var lock *os.File
	if opts.Exclusive {
		if lock, err = lockGitDir(gitdir); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				lock.Close()
			}
		}()
	}
	objCache := cache.NewObjectLRU(32 << 20)
	reopen := func() storage.Storer {
		return filesystem.NewStorageWithOptions(osfs.New(gitdir), objCache, filesystem.Options{})
	}
	st := reopen()
	spares := newSpares(gitdir)
	s := newGitStore(st, &fileRefs{gitdir: gitdir, spares: spares}, gitdir, opts)
	s.objs.loose = filepath.Join(gitdir, "objects")
	s.objs.reopen = reopen
	s.objs.spares = spares
	s.objs.packer = newPacker(s.objs, s.log)
	spares.onMiss = s.objs.packer.wake
	s.objs.packs = newPackSet(filepath.Join(gitdir, "objects", "pack"))
	known, err := s.refs.list()
	if err != nil {
		return nil, fmt.Errorf("dkstore: open %s: %w", gitdir, err)
	}
	s.known = known
	s.lock = lock
	interval := opts.PollInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	s.pollStop, s.pollDone = make(chan struct{}), make(chan struct{})
	go s.poll(interval)
	spares.tryOwn()
	s.objs.packer.start()
	return s, nil
}

func newGitStore(st storage.Storer, refs refStore, gitdir string, opts Options) *GitStore {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &GitStore{
		objs: newObjects(st), refs: refs, gitdir: gitdir, st: st,
		hub: newHub(), log: log, now: now, known: map[BranchName]CommitID{},
	}
}

// initGitDir makes sure gitdir has a repository's layout, creating (bare)
// whatever is missing and leaving what exists alone, so that a creation
// cut short by a crash is completed by the next Open. Files appear whole:
// each is written to a temporary file and renamed.
func initGitDir(gitdir string) error {
	for _, d := range []string{"objects/info", "objects/pack", "refs/heads", "refs/tags"} {
		if err := os.MkdirAll(filepath.Join(gitdir, d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, content string }{
		{"config", "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"},
		{"description", "DataKit store\n"},
		{"HEAD", "ref: refs/heads/master\n"},
	} {
		path := filepath.Join(gitdir, f.name)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := writeAtomic(path, []byte(f.content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// GitDir returns the Git directory of an on-disk store ("" in memory).
func (s *GitStore) GitDir() string { return s.gitdir }

// lockBranch serialises this process's updates of b (other processes are
// kept out by the ref's lock file) and returns the unlock function.
func (s *GitStore) lockBranch(b BranchName) func() {
	s.branchMu.Lock()
	if s.branchLocks == nil {
		s.branchLocks = map[BranchName]*sync.Mutex{}
	}
	mu := s.branchLocks[b]
	if mu == nil {
		mu = &sync.Mutex{}
		s.branchLocks[b] = mu
	}
	s.branchMu.Unlock()
	mu.Lock()
	return mu.Unlock
}

// casRef moves b from old to new by compare-and-swap and notifies
// watchers. The caller holds b's branch lock, so that b's notifications
// go out in the order of its updates.
func (s *GitStore) casRef(b BranchName, old, new CommitID) error {
	if err := s.refs.cas(b, old, new); err != nil {
		return err
	}
	s.refMu.Lock()
	s.noteRef(b, new)
	s.refMu.Unlock()
	return nil
}

// setRef is casRef under b's branch lock.
func (s *GitStore) setRef(b BranchName, old, new CommitID) error {
	defer s.lockBranch(b)()
	return s.casRef(b, old, new)
}

// noteRef records b's new value and publishes the change; refMu is held.
func (s *GitStore) noteRef(b BranchName, new CommitID) {
	old := s.known[b]
	if old == new {
		return
	}
	if new.IsZero() {
		delete(s.known, b)
	} else {
		s.known[b] = new
	}
	s.hub.publish(b, old, new)
}

// poll notices refs changed by other programs (git push, git commit).
func (s *GitStore) poll(interval time.Duration) {
	defer close(s.pollDone)
	fr := s.refs.(*fileRefs)
	sig := fr.signature()
	t := time.NewTicker(interval)
	defer t.Stop()
	n, again := 0, false
	for {
		select {
		case <-s.pollStop:
			return
		case <-t.C:
		}
		n++
		now := fr.signature()
		// Directory times catch lock-and-rename updates. File times are
		// coarse, so after a change we look once more; and a full rescan
		// now and then catches tools that rewrite ref files in place.
		if now == sig && !again && n%5 != 0 {
			continue
		}
		again = now != sig
		sig = now
		s.rescan()
	}
}

func (s *GitStore) rescan() {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	refs, err := s.refs.list()
	if err != nil {
		s.log.Warn("dkstore: scanning refs", "err", err)
		return
	}
	var gone []BranchName
	for b := range s.known {
		if _, ok := refs[b]; !ok {
			gone = append(gone, b)
		}
	}
	for _, b := range gone {
		s.noteRef(b, CommitID{})
	}
	for b, id := range refs {
		s.noteRef(b, id)
	}
}

// Branches lists the branches that have a head.
func (s *GitStore) Branches(ctx context.Context) ([]BranchName, error) {
	refs, err := s.refs.list()
	if err != nil {
		return nil, fmt.Errorf("dkstore: list branches: %w", err)
	}
	out := make([]BranchName, 0, len(refs))
	for b := range refs {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// Branch returns a handle on branch name.
func (s *GitStore) Branch(name BranchName) (Branch, error) {
	if err := name.Valid(); err != nil {
		return nil, err
	}
	return &gitBranch{s: s, name: name}, nil
}

// Commit returns a commit's metadata.
func (s *GitStore) Commit(ctx context.Context, id CommitID) (Commit, error) {
	c, err := s.commit("commit", id)
	if err != nil {
		return Commit{}, err
	}
	out := *c
	out.Parents = append([]CommitID(nil), c.Parents...)
	return out, nil
}

func (s *GitStore) commit(op string, id CommitID) (*Commit, error) {
	c, err := s.objs.commit(id)
	if errors.Is(err, errNoObject) {
		return nil, newErr(ErrNotExist, op, "No such file or directory: commit %s", Hash(id))
	}
	return c, err
}

// Tree returns the tree with hash h.
func (s *GitStore) Tree(ctx context.Context, h Hash) (Tree, error) {
	if _, err := s.objs.tree(h); err != nil {
		if errors.Is(err, errNoObject) {
			return nil, newErr(ErrNotExist, "tree", "No such file or directory: tree %s", h)
		}
		return nil, err
	}
	return &treeView{objs: s.objs, root: h}, nil
}

// Blob returns the content of a blob.
func (s *GitStore) Blob(ctx context.Context, h Hash) ([]byte, error) {
	data, err := s.objs.blob(h)
	if errors.Is(err, errNoObject) {
		return nil, newErr(ErrNotExist, "blob", "No such file or directory: blob %s", h)
	}
	return data, err
}

// Diff lists the files changed from commit from to commit to.
func (s *GitStore) Diff(ctx context.Context, from, to CommitID) ([]Change, error) {
	a, err := s.commit("diff", from)
	if err != nil {
		return nil, err
	}
	b, err := s.commit("diff", to)
	if err != nil {
		return nil, err
	}
	var out []Change
	err = s.objs.diff(Root, a.Tree, b.Tree, &out)
	return out, err
}

// WatchRefs streams branch changes.
func (s *GitStore) WatchRefs(ctx context.Context) (Watch[RefChange], error) {
	return s.hub.watchRefs(ctx)
}

// OpenWatches counts the watches not yet closed.
func (s *GitStore) OpenWatches() int { return s.hub.open() }

// Close stops the store's background work and ends blocked watches.
func (s *GitStore) Close() error {
	s.closeMu.Do(func() {
		close(s.hub.closed)
		if s.pollStop != nil {
			close(s.pollStop)
			<-s.pollDone
		}
		s.objs.packer.close()
		s.objs.spares.close()
		if s.lock != nil {
			s.lock.Close() // releases the lock
		}
	})
	return nil
}

type gitBranch struct {
	s    *GitStore
	name BranchName
}

func (b *gitBranch) Name() BranchName { return b.name }

func (b *gitBranch) Head(ctx context.Context) (CommitID, error) {
	id, err := b.s.refs.get(b.name)
	if err != nil {
		return CommitID{}, fmt.Errorf("dkstore: head of %s: %w", b.name, err)
	}
	return id, nil
}

func (b *gitBranch) FastForward(ctx context.Context, id CommitID) error {
	op := "fast-forward " + string(b.name)
	if _, err := b.s.commit(op, id); err != nil {
		return err
	}
	head, err := b.Head(ctx)
	if err != nil {
		return err
	}
	if head == id {
		return nil
	}
	if !head.IsZero() {
		ok, err := b.s.objs.isAncestor(head, id)
		if err != nil {
			return err
		}
		if !ok {
			return newErr(ErrNotFastForward, op, "not-fast-forward")
		}
	}
	// A head that moved meanwhile is not fast-forwarded over: the caller
	// decides again.
	err = b.s.setRef(b.name, head, id)
	if errors.Is(err, errMoved) {
		return newErr(ErrNotFastForward, op, "not-fast-forward")
	}
	return err
}

func (b *gitBranch) Delete(ctx context.Context) error {
	for {
		head, err := b.Head(ctx)
		if err != nil || head.IsZero() {
			return err
		}
		if err := b.s.setRef(b.name, head, CommitID{}); !errors.Is(err, errMoved) {
			return err
		}
	}
}

func (b *gitBranch) Rename(ctx context.Context, to BranchName) error {
	op := "rename " + string(b.name)
	if err := to.Valid(); err != nil {
		return withOp(err, op)
	}
	if to == b.name {
		return nil
	}
	head, err := b.Head(ctx)
	if err != nil {
		return err
	}
	if head.IsZero() {
		return newErr(ErrNotExist, op, "No such file or directory")
	}
	if err := b.s.setRef(to, CommitID{}, head); err != nil {
		if errors.Is(err, errMoved) {
			return newErr(ErrExist, op, "Is a directory: branch %s exists", to)
		}
		return err
	}
	if err := b.s.setRef(b.name, head, CommitID{}); err != nil && !errors.Is(err, errMoved) {
		return err
	}
	return nil
}

func (b *gitBranch) WatchHead(ctx context.Context) (Watch[CommitID], error) {
	return newValueWatch(ctx, b.s.hub, b.name, func() (CommitID, error) { return b.s.refs.get(b.name) },
		func(id CommitID) (CommitID, error) { return id, nil })
}

func (b *gitBranch) WatchPath(ctx context.Context, p Path) (Watch[Object], error) {
	if err := p.Valid(); err != nil {
		return nil, err
	}
	return newValueWatch(ctx, b.s.hub, b.name, func() (CommitID, error) { return b.s.refs.get(b.name) },
		func(id CommitID) (Object, error) { return b.s.objectAt(id, p) })
}

// objectAt returns the object at p in commit id's tree (the empty tree for
// the root of no commit).
func (s *GitStore) objectAt(id CommitID, p Path) (Object, error) {
	root := EmptyTree
	if !id.IsZero() {
		c, err := s.commit("watch", id)
		if err != nil {
			return Object{}, err
		}
		root = c.Tree
	}
	e, ok, err := s.objs.lookup(root, p)
	if err != nil || !ok {
		return Object{}, err
	}
	return Object{Kind: e.kind(), Hash: e.hash}, nil
}

// ObjectAt returns the object at p in a commit's tree, or the zero Object.
func (s *GitStore) ObjectAt(ctx context.Context, id CommitID, p Path) (Object, error) {
	if err := p.Valid(); err != nil {
		return Object{}, err
	}
	return s.objectAt(id, p)
}

func (b *gitBranch) Transaction(ctx context.Context, opts TxOptions) (Transaction, error) {
	return b.s.newTx(b.name, opts)
}

// treeView is a read-only Tree over the object store.
type treeView struct {
	objs *objects
	root Hash
}

func (t *treeView) Hash() Hash { return t.root }

func (t *treeView) entry(op string, p Path) (treeEntry, error) {
	if err := p.Valid(); err != nil {
		return treeEntry{}, withOp(err, op)
	}
	e, ok, err := t.objs.lookup(t.root, p)
	if err != nil {
		return treeEntry{}, err
	}
	if !ok {
		return treeEntry{}, newErr(ErrNotExist, op, "No such file or directory")
	}
	return e, nil
}

func (t *treeView) Stat(ctx context.Context, p Path) (Stat, error) {
	e, err := t.entry("stat "+string(p), p)
	if err != nil {
		return Stat{}, err
	}
	if e.mode == modeDir {
		return Stat{Kind: KindDir}, nil
	}
	n, err := t.objs.blobSize(e.hash)
	return Stat{Kind: e.kind(), Size: n}, err
}

func (t *treeView) ReadFile(ctx context.Context, p Path) ([]byte, error) {
	op := "read " + string(p)
	e, err := t.entry(op, p)
	if err != nil {
		return nil, err
	}
	if e.mode == modeDir {
		return nil, newErr(ErrIsDir, op, "Is a directory")
	}
	return t.objs.blob(e.hash)
}

func (t *treeView) ReadDir(ctx context.Context, p Path) ([]DirEntry, error) {
	op := "readdir " + string(p)
	e, err := t.entry(op, p)
	if err != nil {
		return nil, err
	}
	if e.mode != modeDir {
		return nil, newErr(ErrNotDir, op, "Is not a directory")
	}
	tr, err := t.objs.tree(e.hash)
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, 0, len(tr.entries))
	for _, e := range tr.entries {
		if k := e.kind(); k != KindNone {
			out = append(out, DirEntry{Name: e.name, Kind: k})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
