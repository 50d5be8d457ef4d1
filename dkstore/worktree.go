package dkstore

import (
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
)

// wnode is a node of a transaction's working tree. Nodes are loaded lazily
// from the object store: a clean node's hash names its content exactly.
type wnode struct {
	mode   uint32
	hash   Hash
	clean  bool // hash is valid for the current content
	loaded bool // data (file) or base (dir) are in memory
	data   []byte
	// A directory is its stored entries (base, shared and immutable) with
	// the children touched since overlaid in kids; a nil kid is a removed
	// entry. So a change to one file of a large directory costs no copy of
	// the directory until it is stored, and then a merge, not a sort.
	base  *treeObj
	kids  map[string]*wnode
	extra bool // a directory made by MakeDirs that holds no file yet
}

// newDir returns an empty, dirty, in-memory directory.
func newDir(extra bool) *wnode {
	return &wnode{mode: modeDir, loaded: true, base: &treeObj{}, kids: map[string]*wnode{}, extra: extra}
}

// child returns the child name of the loaded directory n, or nil. The
// child is overlaid in n.kids so that it can be changed in place.
func (n *wnode) child(name string) *wnode {
	if k, ok := n.kids[name]; ok {
		return k
	}
	e, ok := n.base.find(name)
	if !ok {
		return nil
	}
	k := cleanNode(e)
	n.kids[name] = k
	return k
}

// empty reports whether the loaded directory n has no entry.
func (n *wnode) empty() bool {
	live := 0
	for _, k := range n.kids {
		if k != nil {
			live++
		}
	}
	if live > 0 {
		return false
	}
	for _, e := range n.base.entries {
		if _, ok := n.kids[e.name]; !ok {
			return false
		}
	}
	return true
}

func (n *wnode) isDir() bool { return n.mode == modeDir }

func cleanNode(e treeEntry) *wnode {
	return &wnode{mode: e.mode, hash: e.hash, clean: true}
}

func dirNode(root Hash) *wnode {
	return &wnode{mode: modeDir, hash: root, clean: true}
}

// worktree is a mutable tree over an object store. It is not safe for
// concurrent use; the transaction holding it locks.
type worktree struct {
	objs *objects
	root *wnode
}

func (w *worktree) loadDir(n *wnode) error {
	if n.loaded {
		return nil
	}
	t, err := w.objs.tree(n.hash)
	if err != nil {
		return err
	}
	n.base = t
	n.kids = map[string]*wnode{}
	n.loaded = true
	return nil
}

func (w *worktree) loadFile(n *wnode) error {
	if n.loaded {
		return nil
	}
	data, err := w.objs.blob(n.hash)
	if err != nil {
		return err
	}
	n.data = data
	n.loaded = true
	return nil
}

// find returns the node at p, or nil if absent. A file in the middle of
// the path gives ErrNotDir.
func (w *worktree) find(op string, p Path) (*wnode, error) {
	n := w.root
	for _, step := range p.Steps() {
		if !n.isDir() {
			return nil, newErr(ErrNotDir, op, "Is not a directory")
		}
		if err := w.loadDir(n); err != nil {
			return nil, err
		}
		n = n.child(step)
		if n == nil || kindOfMode(n.mode) == KindNone {
			return nil, nil
		}
	}
	return n, nil
}

func (w *worktree) mustFind(op string, p Path) (*wnode, error) {
	n, err := w.find(op, p)
	if err == nil && n == nil {
		err = newErr(ErrNotExist, op, "No such file or directory")
	}
	return n, err
}

// parentChain returns the nodes from the root down to p's parent, all
// directories, creating missing ones (as extra directories when mkdir is
// set, else as plain ones) if create is set. The chain is marked dirty.
func (w *worktree) parentChain(op string, p Path, create, mkdir bool) ([]*wnode, error) {
	chain := []*wnode{w.root}
	n := w.root
	steps := p.Steps()
	for _, step := range steps[:max(len(steps)-1, 0)] {
		if err := w.loadDir(n); err != nil {
			return nil, err
		}
		next := n.child(step)
		if next == nil {
			if !create {
				return nil, newErr(ErrNotExist, op, "No such file or directory")
			}
			next = newDir(mkdir)
			n.kids[step] = next
		} else if !next.isDir() {
			return nil, newErr(ErrNotDir, op, "Is not a directory")
		}
		chain = append(chain, next)
		n = next
	}
	if err := w.loadDir(n); err != nil {
		return nil, err
	}
	return chain, nil
}

func dirty(chain []*wnode) {
	for _, n := range chain {
		n.clean = false
	}
}

// materialise marks the chain as holding a real entry.
func materialise(chain []*wnode) {
	for _, n := range chain {
		n.extra = false
	}
}

func (w *worktree) writeFile(op string, p Path, data []byte, kind Kind) error {
	if p == Root {
		return newErr(ErrIsDir, op, "Is a directory")
	}
	chain, err := w.parentChain(op, p, true, false)
	if err != nil {
		return err
	}
	parent := chain[len(chain)-1]
	if old := parent.child(p.Base()); old != nil && old.isDir() {
		return newErr(ErrIsDir, op, "Is a directory")
	}
	parent.kids[p.Base()] = &wnode{mode: modeOfKind(kind), data: append([]byte(nil), data...), loaded: true}
	dirty(chain)
	materialise(chain)
	return nil
}

// file returns the loaded file node at p, with its parent chain dirtied.
func (w *worktree) file(op string, p Path) (*wnode, error) {
	if p == Root {
		return nil, newErr(ErrIsDir, op, "Is a directory")
	}
	chain, err := w.parentChain(op, p, false, false)
	if err != nil {
		return nil, err
	}
	n := chain[len(chain)-1].child(p.Base())
	switch {
	case n == nil:
		return nil, newErr(ErrNotExist, op, "No such file or directory")
	case n.isDir():
		return nil, newErr(ErrIsDir, op, "Is a directory")
	}
	if err := w.loadFile(n); err != nil {
		return nil, err
	}
	dirty(chain)
	n.clean = false
	return n, nil
}

func (w *worktree) writeAt(op string, p Path, data []byte, off int64) error {
	if off < 0 {
		return newErr(ErrInvalid, op, "Negative offset %d", off)
	}
	n, err := w.file(op, p)
	if err != nil {
		return err
	}
	end := off + int64(len(data))
	switch {
	case off == int64(len(n.data)):
		// The O(1) append path. Grow by doubling, not by append's 1.25
		// for large slices, so a file written in many chunks is copied
		// about once in all rather than several times.
		if need := len(n.data) + len(data); need > cap(n.data) {
			grown := make([]byte, len(n.data), max(need, 2*cap(n.data), 512))
			copy(grown, n.data)
			n.data = grown
		}
		n.data = append(n.data, data...)
	case end <= int64(len(n.data)):
		copy(n.data[off:], data)
	default:
		n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
		copy(n.data[off:], data)
	}
	return nil
}

func (w *worktree) truncate(op string, p Path, size int64) error {
	if size < 0 {
		return newErr(ErrInvalid, op, "Negative length %d", size)
	}
	n, err := w.file(op, p)
	if err != nil {
		return err
	}
	if size <= int64(len(n.data)) {
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	return nil
}

func (w *worktree) setKind(op string, p Path, kind Kind) error {
	if !kind.IsFile() {
		return newErr(ErrInvalid, op, "cannot change a file to kind %v", kind)
	}
	n, err := w.file(op, p)
	if err != nil {
		return err
	}
	n.mode = modeOfKind(kind)
	return nil
}

func (w *worktree) makeDirs(op string, p Path) error {
	if p == Root {
		return nil
	}
	chain, err := w.parentChain(op, p, true, true)
	if err != nil {
		return err
	}
	parent := chain[len(chain)-1]
	switch n := parent.child(p.Base()); {
	case n == nil:
		parent.kids[p.Base()] = newDir(true)
		dirty(chain)
	case !n.isDir():
		return newErr(ErrNotDir, op, "Is not a directory")
	}
	return nil
}

func (w *worktree) remove(op string, p Path) error {
	if p == Root {
		w.root = newDir(false)
		return nil
	}
	chain, err := w.parentChain(op, p, false, false)
	if err != nil {
		return err
	}
	parent := chain[len(chain)-1]
	if parent.child(p.Base()) == nil {
		return newErr(ErrNotExist, op, "No such file or directory")
	}
	parent.kids[p.Base()] = nil
	dirty(chain)
	w.prune(chain, p)
	return nil
}

// prune drops directories left empty by a removal, except extra ones
// (Git cannot hold empty directories; those made by MakeDirs stay).
func (w *worktree) prune(chain []*wnode, p Path) {
	steps := p.Steps()
	for i := len(chain) - 1; i > 0; i-- {
		n := chain[i]
		if n.extra || !n.empty() {
			return
		}
		chain[i-1].kids[steps[i-1]] = nil
	}
}

func (w *worktree) rename(op string, from, to Path) error {
	if from == Root || to == Root {
		return newErr(ErrPermission, op, "Operation not permitted")
	}
	if to.HasPrefix(from) {
		if to == from {
			_, err := w.mustFind(op, from)
			return err
		}
		return newErr(ErrInvalid, op, "cannot move %s below itself", from)
	}
	src, err := w.parentChain(op, from, false, false)
	if err != nil {
		return err
	}
	n := src[len(src)-1].child(from.Base())
	if n == nil {
		return newErr(ErrNotExist, op, "No such file or directory")
	}
	dst, err := w.parentChain(op, to, false, false)
	if err != nil {
		return err
	}
	dparent := dst[len(dst)-1]
	if old := dparent.child(to.Base()); old != nil && old.isDir() {
		return newErr(ErrIsDir, op, "Is a directory")
	}
	src[len(src)-1].kids[from.Base()] = nil
	dparent.kids[to.Base()] = n
	dirty(src)
	dirty(dst)
	if !n.isDir() || !n.extra {
		materialise(dst)
	}
	w.prune(src, from)
	return nil
}

// store writes the working tree's objects and returns the root tree hash.
func (w *worktree) store() (Hash, error) {
	h, empty, err := w.storeNode(w.root)
	if err != nil {
		return Hash{}, err
	}
	if empty {
		return w.objs.writeTree(nil)
	}
	return h, nil
}

func (w *worktree) storeNode(n *wnode) (h Hash, empty bool, err error) {
	if n.clean {
		return n.hash, false, nil
	}
	if !n.isDir() {
		h, err := w.objs.write(plumbing.BlobObject, n.data)
		if err != nil {
			return Hash{}, false, err
		}
		n.hash, n.clean = h, true
		return h, false, nil
	}
	// The touched children, stored and sorted, merged into the untouched
	// base entries (already in Git order).
	touched := make([]treeEntry, 0, len(n.kids))
	for name, k := range n.kids {
		if k == nil {
			continue
		}
		h, empty, err := w.storeNode(k)
		if err != nil {
			return Hash{}, false, err
		}
		if !empty {
			touched = append(touched, treeEntry{name: name, mode: k.mode, hash: h})
		}
	}
	sortEntries(touched)
	es := make([]treeEntry, 0, len(n.base.entries)+len(touched))
	i := 0
	for _, e := range n.base.entries {
		if _, ok := n.kids[e.name]; ok {
			continue
		}
		for i < len(touched) && gitLess(touched[i], e) {
			es = append(es, touched[i])
			i++
		}
		es = append(es, e)
	}
	es = append(es, touched[i:]...)
	if len(es) == 0 {
		return EmptyTree, true, nil
	}
	h, err = w.objs.writeTree(es)
	if err != nil {
		return Hash{}, false, err
	}
	n.hash, n.clean = h, true
	return h, false, nil
}

// Reading.

func (w *worktree) stat(op string, p Path) (Stat, error) {
	n, err := w.mustFind(op, p)
	if err != nil {
		return Stat{}, err
	}
	k := kindOfMode(n.mode)
	if k == KindDir {
		return Stat{Kind: k}, nil
	}
	if n.loaded {
		return Stat{Kind: k, Size: int64(len(n.data))}, nil
	}
	size, err := w.objs.blobSize(n.hash)
	return Stat{Kind: k, Size: size}, err
}

func (w *worktree) readFile(op string, p Path) ([]byte, error) {
	n, err := w.mustFind(op, p)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, newErr(ErrIsDir, op, "Is a directory")
	}
	if err := w.loadFile(n); err != nil {
		return nil, err
	}
	return append([]byte(nil), n.data...), nil
}

func (w *worktree) readDir(op string, p Path) ([]DirEntry, error) {
	n, err := w.mustFind(op, p)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, newErr(ErrNotDir, op, "Is not a directory")
	}
	if err := w.loadDir(n); err != nil {
		return nil, err
	}
	out := make([]DirEntry, 0, len(n.base.entries)+len(n.kids))
	for _, e := range n.base.entries {
		if _, ok := n.kids[e.name]; !ok {
			if kind := e.kind(); kind != KindNone {
				out = append(out, DirEntry{Name: e.name, Kind: kind})
			}
		}
	}
	for name, k := range n.kids {
		if k == nil {
			continue
		}
		if kind := kindOfMode(k.mode); kind != KindNone {
			out = append(out, DirEntry{Name: name, Kind: kind})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
