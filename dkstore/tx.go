package dkstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

type gitTx struct {
	s    *GitStore
	b    BranchName
	opts TxOptions

	mu        sync.Mutex
	w         worktree
	start     Hash // tree the transaction started from
	startPars []CommitID
	parents   []CommitID
	conflicts map[Path]string
	closed    bool
}

func (s *GitStore) newTx(b BranchName, opts TxOptions) (*gitTx, error) {
	op := "transaction on " + string(b)
	from := opts.From
	if from.IsZero() {
		head, err := s.refs.get(b)
		if err != nil {
			return nil, fmt.Errorf("dkstore: %s: %w", op, err)
		}
		from = head
	}
	root := EmptyTree
	var parents []CommitID
	if !from.IsZero() {
		c, err := s.commit(op, from)
		if err != nil {
			return nil, err
		}
		root = c.Tree
		parents = []CommitID{from}
	}
	return &gitTx{
		s: s, b: b, opts: opts,
		w:     worktree{objs: s.objs, root: dirNode(root)},
		start: root, startPars: parents, parents: slices.Clone(parents),
		conflicts: map[Path]string{},
	}, nil
}

// begin locks the transaction for an operation on p.
func (t *gitTx) begin(op string, p Path) (func(), error) {
	if err := p.Valid(); err != nil {
		return nil, withOp(err, op)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, newErr(ErrClosed, op, "transaction is closed")
	}
	return t.mu.Unlock, nil
}

// resolve forgets the conflicts at and below p.
func (t *gitTx) resolve(p Path) {
	for c := range t.conflicts {
		if c.HasPrefix(p) {
			delete(t.conflicts, c)
		}
	}
}

func (t *gitTx) Stat(ctx context.Context, p Path) (Stat, error) {
	op := "stat " + string(p)
	unlock, err := t.begin(op, p)
	if err != nil {
		return Stat{}, err
	}
	defer unlock()
	return t.w.stat(op, p)
}

func (t *gitTx) ReadFile(ctx context.Context, p Path) ([]byte, error) {
	op := "read " + string(p)
	unlock, err := t.begin(op, p)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return t.w.readFile(op, p)
}

func (t *gitTx) ReadDir(ctx context.Context, p Path) ([]DirEntry, error) {
	op := "readdir " + string(p)
	unlock, err := t.begin(op, p)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return t.w.readDir(op, p)
}

// mutate runs f on the working tree and clears conflicts at p on success.
func (t *gitTx) mutate(op string, p Path, f func() error) error {
	unlock, err := t.begin(op, p)
	if err != nil {
		return err
	}
	defer unlock()
	if err := f(); err != nil {
		return err
	}
	t.resolve(p)
	return nil
}

func (t *gitTx) WriteFile(ctx context.Context, p Path, data []byte, kind Kind) error {
	op := "write " + string(p)
	if !kind.IsFile() {
		return newErr(ErrInvalid, op, "kind %v is not a kind of file", kind)
	}
	return t.mutate(op, p, func() error { return t.w.writeFile(op, p, data, kind) })
}

func (t *gitTx) WriteAt(ctx context.Context, p Path, data []byte, off int64) error {
	op := "write " + string(p)
	return t.mutate(op, p, func() error { return t.w.writeAt(op, p, data, off) })
}

func (t *gitTx) Truncate(ctx context.Context, p Path, size int64) error {
	op := "truncate " + string(p)
	return t.mutate(op, p, func() error { return t.w.truncate(op, p, size) })
}

func (t *gitTx) SetKind(ctx context.Context, p Path, kind Kind) error {
	op := "chmod " + string(p)
	return t.mutate(op, p, func() error { return t.w.setKind(op, p, kind) })
}

func (t *gitTx) MakeDirs(ctx context.Context, p Path) error {
	op := "mkdir " + string(p)
	return t.mutate(op, p, func() error { return t.w.makeDirs(op, p) })
}

func (t *gitTx) Remove(ctx context.Context, p Path) error {
	op := "remove " + string(p)
	return t.mutate(op, p, func() error { return t.w.remove(op, p) })
}

func (t *gitTx) Rename(ctx context.Context, from, to Path) error {
	op := "rename " + string(from)
	if err := to.Valid(); err != nil {
		return withOp(err, op)
	}
	return t.mutate(op, from, func() error {
		if err := t.w.rename(op, from, to); err != nil {
			return err
		}
		t.resolve(to)
		return nil
	})
}

func (t *gitTx) Parents(ctx context.Context) ([]CommitID, error) {
	unlock, err := t.begin("parents", Root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return slices.Clone(t.parents), nil
}

func (t *gitTx) SetParents(ctx context.Context, parents []CommitID) error {
	unlock, err := t.begin("set parents", Root)
	if err != nil {
		return err
	}
	defer unlock()
	for _, p := range parents {
		if p.IsZero() {
			return newErr(ErrInvalid, "set parents", "invalid-hash %q: zero commit id", p.String())
		}
	}
	t.parents = slices.Clone(parents)
	return nil
}

func (t *gitTx) Conflicts(ctx context.Context) ([]Conflict, error) {
	unlock, err := t.begin("conflicts", Root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return t.conflictList(), nil
}

func (t *gitTx) conflictList() []Conflict {
	out := make([]Conflict, 0, len(t.conflicts))
	for p, r := range t.conflicts {
		out = append(out, Conflict{Path: p, Reason: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (t *gitTx) Merge(ctx context.Context, id CommitID) (MergeResult, error) {
	op := "merge " + Hash(id).String()
	unlock, err := t.begin(op, Root)
	if err != nil {
		return MergeResult{}, err
	}
	defer unlock()
	if len(t.conflicts) > 0 {
		return MergeResult{}, newErr(ErrConflict, op, "conflicts file is not empty")
	}
	theirs, err := t.s.commit(op, id)
	if err != nil {
		return MergeResult{}, err
	}
	ours, err := t.w.store()
	if err != nil {
		return MergeResult{}, err
	}
	base := EmptyTree
	if len(t.parents) > 0 {
		lca, err := t.s.objs.mergeBase(t.parents, id)
		if err != nil {
			return MergeResult{}, err
		}
		if !lca.IsZero() {
			c, err := t.s.commit(op, lca)
			if err != nil {
				return MergeResult{}, err
			}
			base = c.Tree
		}
	}
	merged, conflicts, err := t.s.objs.merge3(Root, base, ours, theirs.Tree)
	if err != nil {
		return MergeResult{}, err
	}
	t.w.root = dirNode(merged)
	t.parents = append(t.parents, id)
	for _, c := range conflicts {
		t.conflicts[c.Path] = c.Reason
	}
	view := func(h Hash) Tree { return &treeView{objs: t.s.objs, root: h} }
	return MergeResult{Ours: view(ours), Theirs: view(theirs.Tree), Base: view(base), Conflicts: t.conflictList()}, nil
}

func (t *gitTx) Diff(ctx context.Context, from CommitID) ([]Change, error) {
	op := "diff " + Hash(from).String()
	unlock, err := t.begin(op, Root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := t.s.commit(op, from)
	if err != nil {
		return nil, err
	}
	return t.diffFrom(c.Tree)
}

func (t *gitTx) Changes(ctx context.Context) ([]Change, error) {
	unlock, err := t.begin("changes", Root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return t.diffFrom(t.start)
}

func (t *gitTx) diffFrom(tree Hash) ([]Change, error) {
	cur, err := t.w.store()
	if err != nil {
		return nil, err
	}
	var out []Change
	err = t.s.objs.diff(Root, tree, cur, &out)
	return out, err
}

func (t *gitTx) Abort(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

func (t *gitTx) Commit(ctx context.Context, msg string) (CommitID, error) {
	op := "commit to " + string(t.b)
	unlock, err := t.begin(op, Root)
	if err != nil {
		return CommitID{}, err
	}
	defer unlock()
	if len(t.conflicts) > 0 {
		return CommitID{}, newErr(ErrConflict, op, "conflicts file is not empty")
	}
	for _, p := range t.parents {
		if _, err := t.s.commit(op, p); err != nil {
			return CommitID{}, err
		}
	}
	tree, err := t.w.store()
	if err != nil {
		return CommitID{}, err
	}
	if t.opts.SkipIfEmpty && tree == t.start && slices.Equal(t.parents, t.startPars) {
		head, err := t.s.refs.get(t.b)
		if err != nil {
			return CommitID{}, err
		}
		t.closed = true
		return head, nil
	}
	if msg == "" {
		msg = NoMessage
	}
	sig := Signature{Name: AuthorName, Email: AuthorEmail, When: time.Unix(t.s.now().Unix(), 0).UTC()}
	id, err := t.s.objs.writeCommit(tree, t.parents, sig, sig, msg)
	if err != nil {
		return CommitID{}, err
	}
	final, err := t.s.land(op, t.b, id, t.parents, t.opts.FastForwardOnly)
	if err != nil {
		return CommitID{}, err
	}
	t.closed = true
	return final, nil
}

// land moves branch b to commit id (whose parents are given): a
// fast-forward if b's head is an ancestor of id, else a merge commit
// "Merge" of [head, id]. It retries while other writers move b.
func (s *GitStore) land(op string, b BranchName, id CommitID, parents []CommitID, ffOnly bool) (CommitID, error) {
	// Holding the branch lock from reading the head to moving it, no other
	// writer in this process can make the merge we compute stale; the
	// compare-and-swap still guards against other processes.
	defer s.lockBranch(b)()
	for {
		head, err := s.refs.get(b)
		if err != nil {
			return CommitID{}, err
		}
		target := id
		ff := head.IsZero() || slices.Contains(parents, head)
		if !ff {
			ff, err = s.objs.isAncestor(head, id)
			if err != nil {
				return CommitID{}, err
			}
		}
		if !ff {
			if ffOnly {
				return CommitID{}, newErr(ErrNotFastForward, op, "not-fast-forward")
			}
			target, err = s.mergeCommit(op, head, id)
			if err != nil {
				return CommitID{}, err
			}
		}
		err = s.casRef(b, head, target)
		if err == nil {
			return target, nil
		}
		if !errors.Is(err, errMoved) {
			return CommitID{}, fmt.Errorf("dkstore: %s: %w", op, err)
		}
		time.Sleep(time.Millisecond) // another process moved the branch
	}
}

// mergeCommit merges commit id into head, returning the merge commit.
func (s *GitStore) mergeCommit(op string, head, id CommitID) (CommitID, error) {
	hc, err := s.commit(op, head)
	if err != nil {
		return CommitID{}, err
	}
	ic, err := s.commit(op, id)
	if err != nil {
		return CommitID{}, err
	}
	base := EmptyTree
	lca, err := s.objs.mergeBase([]CommitID{head}, id)
	if err != nil {
		return CommitID{}, err
	}
	if !lca.IsZero() {
		lc, err := s.commit(op, lca)
		if err != nil {
			return CommitID{}, err
		}
		base = lc.Tree
	}
	tree, conflicts, err := s.objs.merge3(Root, base, hc.Tree, ic.Tree)
	if err != nil {
		return CommitID{}, err
	}
	if len(conflicts) > 0 {
		var parts []string
		for _, c := range conflicts {
			parts = append(parts, fmt.Sprintf("%s (%s)", c.Reason, c.Path))
		}
		return CommitID{}, newErr(ErrConflict, op, "Merge conflict: %s", strings.Join(parts, "; "))
	}
	sig := Signature{Name: AuthorName, Email: AuthorEmail, When: time.Unix(s.now().Unix(), 0).UTC()}
	return s.objs.writeCommit(tree, []CommitID{head, id}, sig, sig, "Merge")
}
