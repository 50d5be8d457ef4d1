package ninep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// session is the state of one connection: the original rebuilt the whole
// tree for each connection, so transactions, remotes, command results and
// mkdir'ed branches are private to it and vanish when it closes.
type session struct {
	ctx   context.Context
	srv   *Server
	store dkstore.Store
	qids  qids
	reqs  *inflight // the requests in flight, with the reads' contexts

	mu       sync.Mutex
	branches map[dkstore.BranchName]bool // made by mkdir, maybe not in the store yet
	txs      map[dkstore.BranchName]map[string]*txState
	remotes  map[string]*remoteState
	results  map[string]*textBuf // command files' results, by path
}

func newSession(ctx context.Context, srv *Server) *session {
	return &session{
		ctx: ctx, srv: srv, store: srv.store,
		qids:     qids{ids: map[string]uint64{}},
		reqs:     newInflight(ctx),
		branches: map[dkstore.BranchName]bool{},
		txs:      map[dkstore.BranchName]map[string]*txState{},
		remotes:  map[string]*remoteState{},
		results:  map[string]*textBuf{},
	}
}

// result returns the result buffer of the command file at path.
func (s *session) result(path string) *textBuf {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.results[path]
	if b == nil {
		b = &textBuf{}
		s.results[path] = b
	}
	return b
}

func (s *session) cmd(path string, run func(ctx context.Context, arg string) (string, error)) *cmdFile {
	return &cmdFile{p: path, result: s.result(path), run: run}
}

// close drops the connection's transactions.
func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.txs {
		for _, t := range m {
			t.get().Abort(context.Background())
		}
	}
	s.txs = nil
}

// parentOf resolves the parent of n by walking from the root.
func (s *session) parentOf(n node) node {
	p := n.path()
	var root node = &rootDir{s: s}
	if p == "" {
		return root
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return root
	}
	_, parent, err := s.walk(root, strings.Split(p[:i], "/"))
	if err != nil {
		return root
	}
	return parent
}

// The root: branch trees commits snapshots remotes debug.
type rootDir struct{ s *session }

func (d *rootDir) path() string { return "" }
func (d *rootDir) list(context.Context) ([]dirent, error) {
	var out []dirent
	for _, n := range []string{"branch", "commits", "debug", "remotes", "snapshots", "trees"} {
		out = append(out, dirent{n, true})
	}
	return out, nil
}
func (d *rootDir) lookup(_ context.Context, name string) (node, error) {
	s := d.s
	switch name {
	case "branch":
		return &branchesDir{s: s}, nil
	case "trees":
		return &treesDir{s: s}, nil
	case "commits":
		return &commitsDir{s: s}, nil
	case "snapshots":
		return &snapshotsDir{s: s}, nil
	case "remotes":
		return &remotesDir{s: s}, nil
	case "debug":
		return &debugDir{s: s}, nil
	}
	return nil, dkstore.ErrNotExist
}

// branchesDir lists branches. Branch names may contain '/': a name's
// leading components appear as directories (prefix "feature/" here).
type branchesDir struct {
	s      *session
	prefix string
}

func (d *branchesDir) path() string {
	return strings.TrimSuffix("branch/"+d.prefix, "/")
}

func (d *branchesDir) names(ctx context.Context) (map[dkstore.BranchName]bool, error) {
	bs, err := d.s.store.Branches(ctx)
	if err != nil {
		return nil, err
	}
	all := map[dkstore.BranchName]bool{}
	for _, b := range bs {
		all[b] = true
	}
	d.s.mu.Lock()
	for b := range d.s.branches {
		all[b] = true
	}
	d.s.mu.Unlock()
	return all, nil
}

func (d *branchesDir) list(ctx context.Context) ([]dirent, error) {
	all, err := d.names(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []dirent
	for b := range all {
		rest, ok := strings.CutPrefix(string(b), d.prefix)
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(rest, "/")
		if !seen[first] {
			seen[first] = true
			out = append(out, dirent{first, true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (d *branchesDir) lookup(ctx context.Context, name string) (node, error) {
	if d.prefix == "" {
		// Hidden files, beyond the original ('.' cannot start a branch
		// name): .heads lists "<branch> <head>" lines; .changes streams
		// "<branch> <old> <new>" lines ("-" for none) as branches move.
		switch name {
		case ".heads":
			return &staticFile{p: "branch/.heads", content: d.heads}, nil
		case ".changes":
			return &streamFile{p: "branch/.changes", watch: func(ctx context.Context) (lineWatch, error) {
				w, err := d.s.store.WatchRefs(ctx)
				if err != nil {
					return nil, err
				}
				return &changesWatch{w: w}, nil
			}}, nil
		}
	}
	full := dkstore.BranchName(d.prefix + name)
	if full.Valid() == nil {
		d.s.mu.Lock()
		made := d.s.branches[full]
		d.s.mu.Unlock()
		if made {
			return &branchDir{s: d.s, name: full}, nil
		}
		b, err := d.s.store.Branch(full)
		if err != nil {
			return nil, err
		}
		if head, err := b.Head(ctx); err != nil {
			return nil, err
		} else if !head.IsZero() {
			return &branchDir{s: d.s, name: full}, nil
		}
	}
	// Not a branch: maybe the leading part of some ("feature" of
	// "feature/x").
	all, err := d.names(ctx)
	if err != nil {
		return nil, err
	}
	for b := range all {
		if strings.HasPrefix(string(b), string(full)+"/") {
			return &branchesDir{s: d.s, prefix: string(full) + "/"}, nil
		}
	}
	return nil, dkstore.ErrNotExist
}

func (d *branchesDir) heads(ctx context.Context) ([]byte, error) {
	bs, err := d.s.store.Branches(ctx)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	for _, name := range bs {
		b, err := d.s.store.Branch(name)
		if err != nil {
			return nil, err
		}
		id, err := b.Head(ctx)
		if err != nil {
			return nil, err
		}
		if !id.IsZero() {
			fmt.Fprintf(&out, "%s %s\n", name, id)
		}
	}
	return []byte(out.String()), nil
}

// changesWatch formats ref changes. Two consecutive changes never read the
// same (each starts where the branch's previous one ended), so the
// stream's dropping of repeated lines loses none.
type changesWatch struct {
	w dkstore.Watch[dkstore.RefChange]
}

func (c *changesWatch) Next(ctx context.Context) (string, error) {
	ch, err := c.w.Next(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %s", ch.Branch, orDash(ch.Old), orDash(ch.New)), nil
}

func (c *changesWatch) Close() error { return c.w.Close() }

func orDash(id dkstore.CommitID) string {
	if id.IsZero() {
		return "-"
	}
	return id.String()
}

// mkdir succeeds for a valid name (even an existing branch's); the branch
// exists in Git once something is committed or fast-forwarded to it. A
// name that leads existing branches ("feature" of "feature/x") is their
// directory already: EEXIST.
func (d *branchesDir) mkdir(ctx context.Context, name string) error {
	b, err := dkstore.ParseBranchName(d.prefix + name)
	if err != nil {
		return err
	}
	all, err := d.names(ctx)
	if err != nil {
		return err
	}
	for other := range all {
		if strings.HasPrefix(string(other), string(b)+"/") {
			return dkstore.ErrExist
		}
	}
	d.s.mu.Lock()
	d.s.branches[b] = true
	d.s.mu.Unlock()
	return nil
}

func (d *branchesDir) remove(ctx context.Context, name string) error {
	b, err := d.s.store.Branch(dkstore.BranchName(d.prefix + name))
	if err != nil {
		return err
	}
	d.s.mu.Lock()
	delete(d.s.branches, b.Name())
	d.s.mu.Unlock()
	return b.Delete(ctx)
}

func (d *branchesDir) rename(ctx context.Context, from, to string) error {
	return d.renameTo(ctx, from, dkstore.BranchName(d.prefix+to))
}

// renameTo renames the branch named from (in this directory) to the full
// name target, which may lie in another directory of branch/.
func (d *branchesDir) renameTo(ctx context.Context, from string, target dkstore.BranchName) error {
	if err := target.Valid(); err != nil {
		return err
	}
	b, err := d.s.store.Branch(dkstore.BranchName(d.prefix + from))
	if err != nil {
		return err
	}
	head, err := b.Head(ctx)
	if err != nil {
		return err
	}
	if head.IsZero() { // only mkdir'ed: rename the name
		d.s.mu.Lock()
		defer d.s.mu.Unlock()
		if !d.s.branches[b.Name()] {
			return dkstore.ErrNotExist
		}
		delete(d.s.branches, b.Name())
		d.s.branches[target] = true
		return nil
	}
	if err := b.Rename(ctx, target); err != nil {
		if errors.Is(err, dkstore.ErrExist) {
			return userErr(dkstore.ErrIsDir, "Is a directory")
		}
		return err
	}
	d.s.mu.Lock()
	delete(d.s.branches, b.Name())
	d.s.mu.Unlock()
	return nil
}

// create refuses files: "Can only contain directories".
func (d *branchesDir) create(context.Context, string, dkstore.Kind, string) error {
	return errDirsOnly
}

// branchDir is /branch/<name>.
type branchDir struct {
	s    *session
	name dkstore.BranchName
}

func (d *branchDir) path() string { return "branch/" + string(d.name) }
func (d *branchDir) list(context.Context) ([]dirent, error) {
	return []dirent{{"fast-forward", false}, {"head", false}, {"head.live", false}, {"reflog", false},
		{"ro", true}, {"transactions", true}, {"watch", true}}, nil
}

func (d *branchDir) branch() (dkstore.Branch, error) { return d.s.store.Branch(d.name) }

// mkdir makes the branch <name>/<child>: a branch made by mkdir that has
// no commit yet turns into the directory of branches below it, so that
// `mkdir -p branch/feature/x` makes the branch feature/x. The branch's
// own entries exist already: the original's Go bindings make
// branch/<b>/transactions/<t> as `mkdir -p`, which must leave the branch
// alone.
func (d *branchDir) mkdir(ctx context.Context, child string) error {
	ents, _ := d.list(ctx)
	for _, e := range ents {
		if e.name == child {
			return userErr(dkstore.ErrExist, "Already exists")
		}
	}
	b, err := d.branch()
	if err != nil {
		return err
	}
	head, err := b.Head(ctx)
	if err != nil {
		return err
	}
	if !head.IsZero() {
		return userErr(dkstore.ErrPermission, "branch %s exists: it cannot hold other branches", d.name)
	}
	sub, err := dkstore.ParseBranchName(string(d.name) + "/" + child)
	if err != nil {
		return err
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	delete(d.s.branches, d.name)
	d.s.branches[sub] = true
	return nil
}

func (d *branchDir) lookup(_ context.Context, name string) (node, error) {
	s, p := d.s, d.path()
	b, err := d.branch()
	if err != nil {
		return nil, err
	}
	switch name {
	case "head":
		return &staticFile{p: p + "/head", content: func(ctx context.Context) ([]byte, error) {
			id, err := b.Head(ctx)
			return []byte(id.String() + "\n"), err
		}}, nil
	case "head.live":
		return &streamFile{p: p + "/head.live", watch: func(ctx context.Context) (lineWatch, error) {
			w, err := b.WatchHead(ctx)
			if err != nil {
				return nil, err
			}
			return watchText[dkstore.CommitID]{w, dkstore.CommitID.String}, nil
		}}, nil
	case "reflog":
		return &streamFile{p: p + "/reflog", watch: func(ctx context.Context) (lineWatch, error) {
			w, err := b.WatchHead(ctx)
			if err != nil {
				return nil, err
			}
			return &reflogWatch{w: w}, nil
		}}, nil
	case "fast-forward":
		return s.cmd(p+"/fast-forward", func(ctx context.Context, arg string) (string, error) {
			id, err := dkstore.ParseCommitID(arg)
			if err != nil {
				return "", err
			}
			return "", b.FastForward(ctx, id)
		}), nil
	case "ro":
		return &treeDir{s: s, p: p + "/ro", src: func(ctx context.Context) (dkstore.Reader, error) {
			return headTree(ctx, s.store, b)
		}}, nil
	case "watch":
		return &watchDir{s: s, b: b, p: p + "/watch"}, nil
	case "transactions":
		return &txsDir{s: s, b: b, p: p + "/transactions"}, nil
	}
	return nil, dkstore.ErrNotExist
}

// reflogWatch emits an empty line first, then each new head.
type reflogWatch struct {
	w       dkstore.Watch[dkstore.CommitID]
	started bool
}

func (r *reflogWatch) Next(ctx context.Context) (string, error) {
	if !r.started {
		// Skip the current head: the reflog shows changes from now on.
		// (Not started until then: a read interrupted here skips it on
		// the next try.)
		if _, err := r.w.Next(ctx); err != nil {
			return "", err
		}
		r.started = true
		return "", nil
	}
	id, err := r.w.Next(ctx)
	return id.String(), err
}

func (r *reflogWatch) Close() error { return r.w.Close() }

// headTree returns the tree of b's head (the empty tree if none).
func headTree(ctx context.Context, st dkstore.Store, b dkstore.Branch) (dkstore.Reader, error) {
	id, err := b.Head(ctx)
	if err != nil {
		return nil, err
	}
	if id.IsZero() {
		return st.Tree(ctx, dkstore.EmptyTree)
	}
	c, err := st.Commit(ctx, id)
	if err != nil {
		return nil, err
	}
	return st.Tree(ctx, c.Tree)
}

// watchDir is watch/…: tree.live plus <child>.node for each child present.
type watchDir struct {
	s   *session
	b   dkstore.Branch
	p   string
	sub dkstore.Path
}

func (d *watchDir) path() string { return d.p }
func (d *watchDir) list(ctx context.Context) ([]dirent, error) {
	out := []dirent{{"tree.live", false}}
	t, err := headTree(ctx, d.s.store, d.b)
	if err != nil {
		return nil, err
	}
	ents, err := t.ReadDir(ctx, d.sub)
	if err == nil {
		for _, e := range ents {
			out = append(out, dirent{e.Name + ".node", true})
		}
	}
	return out, nil
}

func (d *watchDir) lookup(_ context.Context, name string) (node, error) {
	if name == "tree.live" {
		return &streamFile{p: d.p + "/tree.live", watch: func(ctx context.Context) (lineWatch, error) {
			w, err := d.b.WatchPath(ctx, d.sub)
			if err != nil {
				return nil, err
			}
			return watchText[dkstore.Object]{w, dkstore.Object.String}, nil
		}}, nil
	}
	step, ok := strings.CutSuffix(name, ".node")
	if !ok || step == "" {
		return nil, dkstore.ErrNotExist
	}
	sub := d.sub.Join(step)
	if err := sub.Valid(); err != nil {
		return nil, dkstore.ErrNotExist
	}
	return &watchDir{s: d.s, b: d.b, p: d.p + "/" + name, sub: sub}, nil
}

// treeDir is a directory of a tree, read-only unless src yields a
// transaction (the rw/ tree).
type treeDir struct {
	s   *session
	p   string
	sub dkstore.Path
	src func(ctx context.Context) (dkstore.Reader, error)
	tx  *txState // for rw/: writes go to the transaction
}

func (d *treeDir) path() string { return d.p }

func (d *treeDir) list(ctx context.Context) ([]dirent, error) {
	r, err := d.src(ctx)
	if err != nil {
		return nil, err
	}
	ents, err := r.ReadDir(ctx, d.sub)
	if err != nil {
		return nil, err
	}
	out := make([]dirent, len(ents))
	for i, e := range ents {
		out[i] = dirent{e.Name, e.Kind == dkstore.KindDir}
	}
	return out, nil
}

func (d *treeDir) lookup(ctx context.Context, name string) (node, error) {
	r, err := d.src(ctx)
	if err != nil {
		return nil, err
	}
	p := d.sub.Join(name)
	if err := p.Valid(); err != nil {
		return nil, dkstore.ErrNotExist
	}
	st, err := r.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	if st.Kind == dkstore.KindDir {
		return &treeDir{s: d.s, p: d.p + "/" + name, sub: p, src: d.src, tx: d.tx}, nil
	}
	return &treeFile{s: d.s, p: d.p + "/" + name, sub: p, src: d.src, tx: d.tx}, nil
}

// target gives the transaction of an rw/ directory and the path of its
// entry name; a read-only treeDir refuses to change.
func (d *treeDir) target(name string) (dkstore.Transaction, dkstore.Path, error) {
	if d.tx == nil {
		return nil, "", errReadOnly
	}
	p := d.sub.Join(name)
	if err := p.Valid(); err != nil {
		return nil, "", err
	}
	return d.tx.get(), p, nil
}

func (d *treeDir) mkdir(ctx context.Context, name string) error {
	tx, p, err := d.target(name)
	if err != nil {
		return err
	}
	if _, err := tx.Stat(ctx, p); err == nil {
		return dkstore.ErrExist
	}
	return tx.MakeDirs(ctx, p)
}

func (d *treeDir) create(ctx context.Context, name string, kind dkstore.Kind, target string) error {
	tx, p, err := d.target(name)
	if err != nil {
		return err
	}
	return tx.WriteFile(ctx, p, []byte(target), kind)
}

func (d *treeDir) remove(ctx context.Context, name string) error {
	tx, p, err := d.target(name)
	if err != nil {
		return err
	}
	return tx.Remove(ctx, p)
}

func (d *treeDir) rename(ctx context.Context, from, to string) error {
	tx, p, err := d.target(from)
	if err != nil {
		return err
	}
	return tx.Rename(ctx, p, d.sub.Join(to))
}

// treeFile is a file of a tree (read-only, or of a transaction's rw/).
type treeFile struct {
	s   *session
	p   string
	sub dkstore.Path
	src func(ctx context.Context) (dkstore.Reader, error)
	tx  *txState
}

func (f *treeFile) path() string { return f.p }

func (f *treeFile) stat(ctx context.Context) (dkstore.Kind, int64, error) {
	r, err := f.src(ctx)
	if err != nil {
		return 0, 0, err
	}
	st, err := r.Stat(ctx, f.sub)
	return st.Kind, st.Size, err
}

func (f *treeFile) readlink(ctx context.Context) (string, error) {
	r, err := f.src(ctx)
	if err != nil {
		return "", err
	}
	data, err := r.ReadFile(ctx, f.sub)
	return string(data), err
}

func (f *treeFile) open(ctx context.Context, write bool) (handle, error) {
	if write && f.tx == nil {
		return nil, errReadOnly
	}
	return &treeHandle{f: f}, nil
}

func (f *treeFile) truncate(ctx context.Context, size int64) error {
	if f.tx == nil {
		return errReadOnly
	}
	return f.tx.get().Truncate(ctx, f.sub, size)
}

func (f *treeFile) setKind(ctx context.Context, kind dkstore.Kind) error {
	if f.tx == nil {
		return errReadOnly
	}
	return f.tx.get().SetKind(ctx, f.sub, kind)
}

type treeHandle struct {
	f *treeFile

	mu     sync.Mutex
	cached []byte // a read-only file's content, read once per open
}

func (h *treeHandle) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	if h.f.tx == nil {
		// Read-only trees do not change under an open file: read the
		// blob once, not once per request.
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.cached == nil {
			data, err := h.read(ctx)
			if err != nil {
				return 0, err
			}
			h.cached = data
		}
		return readBytes(h.cached, p, off)
	}
	data, err := h.read(ctx)
	if err != nil {
		return 0, err
	}
	return readBytes(data, p, off)
}

func (h *treeHandle) read(ctx context.Context) ([]byte, error) {
	r, err := h.f.src(ctx)
	if err != nil {
		return nil, err
	}
	data, err := r.ReadFile(ctx, h.f.sub)
	if data == nil && err == nil {
		data = []byte{}
	}
	return data, err
}

func (h *treeHandle) writeAt(ctx context.Context, p []byte, off int64) (int, error) {
	if h.f.tx == nil {
		return 0, errReadOnly
	}
	if err := h.f.tx.get().WriteAt(ctx, h.f.sub, p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *treeHandle) close() {}

// Hidden directories: listing shows nothing, lookups of valid names work.

type treesDir struct{ s *session }

func (d *treesDir) path() string                           { return "trees" }
func (d *treesDir) list(context.Context) ([]dirent, error) { return nil, nil }
func (d *treesDir) lookup(ctx context.Context, name string) (node, error) {
	o, err := dkstore.ParseObject(name)
	if err != nil || o.Kind == dkstore.KindNone {
		return nil, dkstore.ErrNotExist
	}
	st := d.s.store
	p := "trees/" + name
	if o.Kind == dkstore.KindDir {
		t, err := st.Tree(ctx, o.Hash)
		if err != nil {
			return nil, err
		}
		return &treeDir{s: d.s, p: p, src: func(context.Context) (dkstore.Reader, error) { return t, nil }}, nil
	}
	data, err := st.Blob(ctx, o.Hash)
	if err != nil {
		return nil, err
	}
	return &blobFile{p: p, kind: o.Kind, data: data}, nil
}

// blobFile is a read-only file of known content and kind.
type blobFile struct {
	p    string
	kind dkstore.Kind
	data []byte
}

func (f *blobFile) path() string { return f.p }
func (f *blobFile) stat(context.Context) (dkstore.Kind, int64, error) {
	return f.kind, int64(len(f.data)), nil
}
func (f *blobFile) open(_ context.Context, write bool) (handle, error) {
	if write {
		return nil, errReadOnly
	}
	return bytesHandle(f.data), nil
}
func (f *blobFile) readlink(context.Context) (string, error) {
	if f.kind != dkstore.KindLink {
		return "", dkstore.ErrInvalid
	}
	return string(f.data), nil
}

type commitsDir struct{ s *session }

func (d *commitsDir) path() string                           { return "commits" }
func (d *commitsDir) list(context.Context) ([]dirent, error) { return nil, nil }
func (d *commitsDir) lookup(ctx context.Context, name string) (node, error) {
	id, err := dkstore.ParseCommitID(name)
	if err != nil {
		return nil, dkstore.ErrNotExist
	}
	c, err := d.s.store.Commit(ctx, id)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(commitJSON(c), "", "  ")
	if err != nil {
		return nil, err
	}
	return &blobFile{p: "commits/" + name, kind: dkstore.KindFile, data: append(data, '\n')}, nil
}

// commitRecord is the JSON of /commits/<id>: the original left its form
// open (clients only checked that it exists); ours carries the whole commit.
type commitRecord struct {
	ID        string          `json:"id"`
	Tree      string          `json:"tree"`
	Parents   []string        `json:"parents"`
	Author    signatureRecord `json:"author"`
	Committer signatureRecord `json:"committer"`
	Message   string          `json:"message"`
}

type signatureRecord struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  time.Time `json:"date"`
}

func commitJSON(c dkstore.Commit) commitRecord {
	sig := func(s dkstore.Signature) signatureRecord { return signatureRecord{s.Name, s.Email, s.When} }
	r := commitRecord{
		ID: c.ID.String(), Tree: c.Tree.String(), Parents: []string{},
		Author: sig(c.Author), Committer: sig(c.Committer), Message: c.Message,
	}
	for _, p := range c.Parents {
		r.Parents = append(r.Parents, p.String())
	}
	return r
}

type snapshotsDir struct{ s *session }

func (d *snapshotsDir) path() string                           { return "snapshots" }
func (d *snapshotsDir) list(context.Context) ([]dirent, error) { return nil, nil }
func (d *snapshotsDir) lookup(ctx context.Context, name string) (node, error) {
	id, err := dkstore.ParseCommitID(name)
	if err != nil {
		return nil, err
	}
	c, err := d.s.store.Commit(ctx, id)
	if err != nil {
		return nil, err
	}
	return &snapshotDir{s: d.s, p: "snapshots/" + name, name: name, c: c}, nil
}

type snapshotDir struct {
	s    *session
	p    string
	name string
	c    dkstore.Commit
}

func (d *snapshotDir) path() string { return d.p }
func (d *snapshotDir) list(context.Context) ([]dirent, error) {
	return []dirent{{"diff", true}, {"hash", false}, {"msg", false}, {"parents", false}, {"ro", true}}, nil
}
func (d *snapshotDir) lookup(ctx context.Context, name string) (node, error) {
	switch name {
	case "ro":
		t, err := d.s.store.Tree(ctx, d.c.Tree)
		if err != nil {
			return nil, err
		}
		return &treeDir{s: d.s, p: d.p + "/ro", src: func(context.Context) (dkstore.Reader, error) { return t, nil }}, nil
	case "hash":
		return &staticFile{p: d.p + "/hash", content: fixed(d.name)}, nil
	case "msg":
		return &staticFile{p: d.p + "/msg", content: fixed(strings.TrimSuffix(d.c.Message, "\n") + "\n")}, nil
	case "parents":
		var b strings.Builder
		for _, p := range d.c.Parents {
			b.WriteString(p.String() + "\n")
		}
		return &staticFile{p: d.p + "/parents", content: fixed(b.String())}, nil
	case "diff":
		return &diffDir{s: d.s, p: d.p + "/diff", diff: func(ctx context.Context, other dkstore.CommitID) ([]dkstore.Change, error) {
			return d.s.store.Diff(ctx, other, d.c.ID)
		}}, nil
	}
	return nil, dkstore.ErrNotExist
}

// diffDir is a hidden directory: diff/<commit> lists the changes from that
// commit, a line each: "+ path", "- path" or "* path".
type diffDir struct {
	s    *session
	p    string
	diff func(ctx context.Context, from dkstore.CommitID) ([]dkstore.Change, error)
}

func (d *diffDir) path() string                           { return d.p }
func (d *diffDir) list(context.Context) ([]dirent, error) { return nil, nil }
func (d *diffDir) lookup(_ context.Context, name string) (node, error) {
	id, err := dkstore.ParseCommitID(name)
	if err != nil {
		return nil, err
	}
	return &staticFile{p: d.p + "/" + name, content: func(ctx context.Context) ([]byte, error) {
		changes, err := d.diff(ctx, id)
		if err != nil {
			return nil, err
		}
		return changeLines(changes), nil
	}}, nil
}

// randomName makes a transaction name, as the original's clients did.
func randomName() string { return fmt.Sprint(rand.Int64()) }
