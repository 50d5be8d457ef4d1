package dkstore

import (
	"container/heap"
	"slices"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
)

// Merge reasons, in the original's wording.
const (
	reasonBoth     = "Changed on both branches"
	reasonFileDir  = "File vs dir"
	reasonAddDel   = "option: add/del"
	reasonAddAdd   = "default: add/add and no common ancestor"
	conflictMarker = "** Conflict **\n"
)

// conflictBody is what a conflicting path holds after a merge.
func conflictBody(reason string) []byte { return []byte(conflictMarker + reason + "\n") }

// slot is an optional tree entry.
type slot struct {
	e  treeEntry
	ok bool
}

func (s slot) isDir() bool  { return s.ok && s.e.mode == modeDir }
func (s slot) isFile() bool { return s.ok && s.e.mode != modeDir }
func (s slot) same(t slot) bool {
	return s.ok == t.ok && (!s.ok || s.e.mode == t.e.mode && s.e.hash == t.e.hash)
}
func (s slot) dirHash() Hash {
	if s.isDir() {
		return s.e.hash
	}
	return EmptyTree
}
func (s slot) file() slot {
	if s.isFile() {
		return s
	}
	return slot{}
}

// unionNames returns the sorted union of the names in the given trees.
func unionNames(lists ...[]treeEntry) []string {
	seen := map[string]bool{}
	var names []string
	for _, l := range lists {
		for _, e := range l {
			if !seen[e.name] {
				seen[e.name] = true
				names = append(names, e.name)
			}
		}
	}
	sort.Strings(names)
	return names
}

// changedNames returns, sorted, the names whose entries may differ
// between two trees: one merge walk over the entries in Git order, so that
// a large directory with one change costs comparisons, not lookups.
func changedNames(a, b []treeEntry) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = keyCmp(a[i].name, a[i].mode == modeDir, b[j].name, b[j].mode == modeDir)
		}
		switch {
		case c == 0:
			if a[i].mode != b[j].mode || a[i].hash != b[j].hash {
				out = append(out, a[i].name)
			}
			i++
			j++
		case c < 0:
			out = append(out, a[i].name)
			i++
		default:
			out = append(out, b[j].name)
			j++
		}
	}
	if len(out) > 1 {
		sort.Strings(out)
		out = slices.Compact(out)
	}
	return out
}

func slotIn(t *treeObj, name string) slot {
	e, ok := t.find(name)
	return slot{e, ok}
}

// merge3 merges the trees ours and theirs with common ancestor base
// (EmptyTree when there is none), path by path, writing the merged trees.
// Conflicting files are replaced by a conflict marker file.
func (o *objects) merge3(prefix Path, base, ours, theirs Hash) (Hash, []Conflict, error) {
	if ours == theirs || theirs == base {
		return ours, nil, nil
	}
	if ours == base {
		return theirs, nil, nil
	}
	bt, err := o.tree(base)
	if err != nil {
		return Hash{}, nil, err
	}
	ot, err := o.tree(ours)
	if err != nil {
		return Hash{}, nil, err
	}
	tt, err := o.tree(theirs)
	if err != nil {
		return Hash{}, nil, err
	}
	var out []treeEntry
	var conflicts []Conflict
	for _, name := range unionNames(bt.entries, ot.entries, tt.entries) {
		p := prefix.Join(name)
		b, us, th := slotIn(bt, name), slotIn(ot, name), slotIn(tt, name)
		res, cs, err := o.mergeEntry(p, b, us, th)
		if err != nil {
			return Hash{}, nil, err
		}
		conflicts = append(conflicts, cs...)
		if res.ok {
			res.e.name = name
			out = append(out, res.e)
		}
	}
	sortEntries(out)
	h, err := o.writeTree(out)
	return h, conflicts, err
}

func (o *objects) mergeEntry(p Path, b, us, th slot) (slot, []Conflict, error) {
	switch {
	case us.same(th):
		return us, nil, nil
	case us.same(b):
		return th, nil, nil
	case th.same(b):
		return us, nil, nil
	}
	if (us.isDir() || !us.ok) && (th.isDir() || !th.ok) {
		h, cs, err := o.merge3(p, b.dirHash(), us.dirHash(), th.dirHash())
		if err != nil || h == EmptyTree {
			return slot{}, cs, err
		}
		return slot{e: treeEntry{mode: modeDir, hash: h}, ok: true}, cs, nil
	}
	if us.isDir() || th.isDir() {
		return o.conflict(p, reasonFileDir)
	}
	// Both sides are files or absent: merge (content, kind) as an option.
	bf := b.file()
	switch {
	case us.same(bf):
		return th, nil, nil
	case th.same(bf):
		return us, nil, nil
	case us.ok && th.ok && bf.ok:
		return o.conflict(p, reasonBoth)
	case us.ok && th.ok:
		return o.conflict(p, reasonAddAdd)
	default:
		return o.conflict(p, reasonAddDel)
	}
}

func (o *objects) conflict(p Path, reason string) (slot, []Conflict, error) {
	h, err := o.write(plumbing.BlobObject, conflictBody(reason))
	if err != nil {
		return slot{}, nil, err
	}
	return slot{e: treeEntry{mode: modeFile, hash: h}, ok: true}, []Conflict{{Path: p, Reason: reason}}, nil
}

// diff lists the file changes from tree a to tree b.
func (o *objects) diff(prefix Path, a, b Hash, out *[]Change) error {
	if a == b {
		return nil
	}
	at, err := o.tree(a)
	if err != nil {
		return err
	}
	bt, err := o.tree(b)
	if err != nil {
		return err
	}
	for _, name := range changedNames(at.entries, bt.entries) {
		x, y := slotIn(at, name), slotIn(bt, name)
		if x.same(y) {
			continue
		}
		p := prefix.Join(name)
		if x.isDir() || y.isDir() {
			if err := o.diff(p, x.dirHash(), y.dirHash(), out); err != nil {
				return err
			}
		}
		xf, yf := fileSlot(x), fileSlot(y)
		switch {
		case xf.ok && yf.ok:
			if !xf.same(yf) {
				*out = append(*out, Change{Op: Updated, Path: p})
			}
		case xf.ok:
			*out = append(*out, Change{Op: Removed, Path: p})
		case yf.ok:
			*out = append(*out, Change{Op: Added, Path: p})
		}
	}
	return nil
}

// fileSlot is s if it is a visible file (not a directory or submodule).
func fileSlot(s slot) slot {
	if s.ok && s.e.kind().IsFile() {
		return s
	}
	return slot{}
}

// History.

// isAncestor reports whether a is b or one of b's ancestors.
func (o *objects) isAncestor(a, b CommitID) (bool, error) {
	if a == b {
		return true, nil
	}
	ac, err := o.commit(a)
	if err != nil {
		return false, err
	}
	// Walk back from b, newest first, and stop below a's date (with a day's
	// slack for clock skew), as git does without a commit graph.
	limit := ac.Committer.When.Unix() - 86400
	found := false
	err = o.walk([]CommitID{b}, func(c *Commit) bool {
		if c.ID == a {
			found = true
			return false
		}
		return c.Committer.When.Unix() >= limit
	})
	return found, err
}

// walk visits the ancestors of start, newest first by committer date,
// each once, following parents of the commits for which visit returns true.
func (o *objects) walk(start []CommitID, visit func(*Commit) bool) error {
	seen := map[CommitID]bool{}
	q := &commitQueue{}
	push := func(id CommitID) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		c, err := o.commit(id)
		if err != nil {
			return err
		}
		heap.Push(q, c)
		return nil
	}
	for _, id := range start {
		if err := push(id); err != nil {
			return err
		}
	}
	for q.Len() > 0 {
		c := heap.Pop(q).(*Commit)
		if !visit(c) {
			continue
		}
		for _, p := range c.Parents {
			if err := push(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeBase returns a lowest common ancestor of the commits as (taken
// together) and b, or the zero id if they share no history.
func (o *objects) mergeBase(as []CommitID, b CommitID) (CommitID, error) {
	if len(as) == 0 {
		return CommitID{}, nil
	}
	inA := map[CommitID]bool{}
	if err := o.walk(as, func(c *Commit) bool { inA[c.ID] = true; return true }); err != nil {
		return CommitID{}, err
	}
	var base CommitID
	err := o.walk([]CommitID{b}, func(c *Commit) bool {
		if !base.IsZero() {
			return false
		}
		if inA[c.ID] {
			base = c.ID
			return false
		}
		return true
	})
	return base, err
}

type commitQueue []*Commit

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	return q[i].Committer.When.After(q[j].Committer.When)
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(*Commit)) }
func (q *commitQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}
