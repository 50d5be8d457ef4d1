package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dkgo/datakit/dkstore"
)

// historyNode is a commit and its ancestors, parents sorted by message, as
// the reference's history helper builds it.
type historyNode struct {
	id      dkstore.CommitID
	msg     string
	parents []historyNode
}

func history(t *testing.T, s dkstore.Store, id dkstore.CommitID, depth int) historyNode {
	t.Helper()
	c := commitOf(t, s, id)
	n := historyNode{id: id, msg: strings.TrimSpace(c.Message)}
	if depth == 0 {
		return n
	}
	for _, p := range c.Parents {
		n.parents = append(n.parents, history(t, s, p, depth-1))
	}
	slices.SortFunc(n.parents, func(a, b historyNode) int { return strings.Compare(a.msg, b.msg) })
	return n
}

func (n historyNode) String() string {
	var b strings.Builder
	var pr func(n historyNode, indent string)
	pr = func(n historyNode, indent string) {
		fmt.Fprintf(&b, "%s%s %q\n", indent, n.id, n.msg)
		for _, p := range n.parents {
			pr(p, indent+"  ")
		}
	}
	pr(n, "")
	return b.String()
}

func parentsOf(t *testing.T, s dkstore.Store, id dkstore.CommitID) []dkstore.CommitID {
	t.Helper()
	return commitOf(t, s, id).Parents
}

// sameSet reports whether a and b hold the same commits, in any order.
func sameSet(a, b []dkstore.CommitID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func txParents(t *testing.T, tr dkstore.Transaction) []dkstore.CommitID {
	t.Helper()
	ps, err := tr.Parents(t.Context())
	if err != nil {
		t.Fatalf("Parents() = %v", err)
	}
	return ps
}

// testParents is the reference's "Parents": commit parents, set parents,
// rejection of bad parents, and nested transactions on one branch.
func testParents(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master, dev := branch(t, s, "master"), branch(t, s, "dev")
	if h := head(t, master); !h.IsZero() {
		t.Fatalf("Head() of a new branch = %s, want no commit", h)
	}

	tr := tx(t, master, dkstore.TxOptions{})
	write(t, tr, "file", "data")
	commit1 := commit(t, tr, "commit1")
	if ps := parentsOf(t, s, mustHead(t, master)); len(ps) != 0 {
		t.Errorf("master no parent: Parents = %v, want []", ps)
	}
	tr = tx(t, master, dkstore.TxOptions{})
	write(t, tr, "file", "data2")
	commit2 := commit(t, tr, "commit2")
	if ps := parentsOf(t, s, mustHead(t, master)); !slices.Equal(ps, []dkstore.CommitID{commit1}) {
		t.Errorf("master second commit: Parents = %v, want [%s]", ps, commit1)
	}

	tr = tx(t, dev, dkstore.TxOptions{})
	write(t, tr, "file", "dev")
	if err := tr.SetParents(ctx, []dkstore.CommitID{commit2}); err != nil {
		t.Fatalf("SetParents([commit2]) = %v", err)
	}
	if ps := txParents(t, tr); !slices.Equal(ps, []dkstore.CommitID{commit2}) {
		t.Errorf("Parents() after SetParents = %v, want [%s]", ps, commit2)
	}
	commit(t, tr, "commit3")
	devHead := mustHead(t, dev)
	if ps := parentsOf(t, s, devHead); !slices.Equal(ps, []dkstore.CommitID{commit2}) {
		t.Errorf("dev from master: Parents = %v, want [%s]", ps, commit2)
	}

	// Invalid hash: not even a CommitID. Missing hash: refused at commit.
	_, err := dkstore.ParseCommitID("hello")
	wantErr(t, `ParseCommitID("hello")`, err, dkstore.ErrInvalid)
	for _, bad := range []struct {
		name string
		id   dkstore.CommitID
		want error
	}{
		{"Missing hash", mustCommitID(t, missingCommit), dkstore.ErrNotExist},
		{"Zero hash", dkstore.CommitID{}, dkstore.ErrInvalid},
	} {
		tr := tx(t, dev, dkstore.TxOptions{})
		write(t, tr, "file", bad.name)
		err := tr.SetParents(ctx, []dkstore.CommitID{commit2, bad.id})
		if err == nil {
			_, err = tr.Commit(ctx, bad.name)
		}
		wantErr(t, bad.name+": SetParents then Commit", err, bad.want)
		if h := head(t, dev); h != devHead {
			t.Errorf("%s: dev Head() = %s, want it unchanged at %s", bad.name, h, devHead)
		}
	}

	// Nested transactions: the inner one commits first; the outer one,
	// with dev's head as an extra parent, lands as a merge.
	t1 := tx(t, master, dkstore.TxOptions{})
	t2 := tx(t, master, dkstore.TxOptions{})
	write(t, t2, "from_inner", "inner")
	commit(t, t2, "From inner")
	afterInner := mustHead(t, master)
	write(t, t1, "from_outer", "outer")
	ps := txParents(t, t1)
	if len(ps) != 1 {
		t.Fatalf("outer Parents() = %v, want one parent", ps)
	}
	realParent := ps[0]
	if realParent != commit2 {
		t.Errorf("outer Parents() = [%s], want [%s] (the head when it started)", realParent, commit2)
	}
	if err := t1.SetParents(ctx, []dkstore.CommitID{realParent, devHead}); err != nil {
		t.Fatalf("SetParents([real, dev]) = %v", err)
	}
	landed := commit(t, t1, "From outer")
	newHead := mustHead(t, master)
	if landed != newHead {
		t.Errorf("outer Commit() = %s, but Head() = %s", landed, newHead)
	}
	h := history(t, s, newHead, 2)
	ok := h.msg == "Merge" && len(h.parents) == 2 &&
		h.parents[0].msg == "From inner" && len(h.parents[0].parents) == 1 &&
		h.parents[1].msg == "From outer" && len(h.parents[1].parents) == 2 &&
		h.parents[1].parents[0].msg == "commit2" && h.parents[1].parents[1].msg == "commit3"
	if !ok {
		t.Fatalf("history of master = \n%s want Merge of {From inner, From outer of {commit2, commit3}}", h)
	}
	if h.parents[0].id != afterInner {
		t.Errorf("First parent = %s, want the inner commit %s", h.parents[0].id, afterInner)
	}
	if got := h.parents[1].parents[1].id; got != devHead {
		t.Errorf("Dev parent = %s, want %s", got, devHead)
	}
	if got := h.parents[1].parents[0].id; got != realParent {
		t.Errorf("Orig parent = %s, want %s", got, realParent)
	}
	if got := parentsOf(t, s, h.parents[1].id); !slices.Equal(got, []dkstore.CommitID{realParent, devHead}) {
		t.Errorf("outer commit's Parents = %v, want [%s %s] in the order set", got, realParent, devHead)
	}
	checkFiles(t, "master after the merge", treeOf(t, s, newHead),
		plain(map[string]string{"file": "data2", "from_inner": "inner", "from_outer": "outer"}))
}

// testMerge is the reference's "Merge".
func testMerge(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	mergeA := commitFiles(t, master, "init", map[string]string{"file": "from-master"})
	pr := branch(t, s, "pr")
	if _, err := s.Commit(ctx, mustCommitID(t, missingCommit)); err == nil {
		t.Fatalf("Commit(%s) = nil error, want the commit not to be in the store", missingCommit)
	}
	wantErr(t, "FastForward(missing)", pr.FastForward(ctx, mustCommitID(t, missingCommit)), dkstore.ErrNotExist)
	if h := head(t, pr); !h.IsZero() {
		t.Errorf("pr Head() after a failed fast-forward = %s, want no commit", h)
	}
	if err := pr.FastForward(ctx, mergeA); err != nil {
		t.Fatalf("FastForward(pr, %s) = %v", mergeA, err)
	}
	tr := tx(t, pr, dkstore.TxOptions{})
	old := readFile(t, tr, "file")
	write(t, tr, "file", old+"+pr")
	mergeB := commit(t, tr, "mod")

	tr = tx(t, master, dkstore.TxOptions{})
	write(t, tr, "mine", "pre-merge")
	res, err := tr.Merge(ctx, mergeB)
	if err != nil {
		t.Fatalf("Merge(%s) = %v", mergeB, err)
	}
	if len(res.Conflicts) != 0 {
		t.Errorf("Merge(%s).Conflicts = %v, want none", mergeB, res.Conflicts)
	}
	checkFile(t, res.Ours, "mine", "pre-merge")
	checkFile(t, res.Theirs, "file", "from-master+pr")
	checkFile(t, res.Base, "file", "from-master")
	checkFile(t, tr, "file", "from-master+pr")
	checkFile(t, tr, "mine", "pre-merge")
	if cs, err := tr.Conflicts(ctx); err != nil || len(cs) != 0 {
		t.Errorf("Conflicts() = %v, %v, want none", cs, err)
	}
	if ps := txParents(t, tr); !slices.Equal(ps, []dkstore.CommitID{mergeA, mergeB}) {
		t.Errorf("Parents() after Merge = %v, want [%s %s]", ps, mergeA, mergeB)
	}
	mergeCommit := commit(t, tr, "merge")
	if h := mustHead(t, master); h != mergeCommit {
		t.Errorf("Commit() = %s, but Head() = %s", mergeCommit, h)
	}
	if ps := parentsOf(t, s, mergeCommit); !sameSet(ps, []dkstore.CommitID{mergeB, mergeA}) {
		t.Errorf("Merge parents = %v, want {%s, %s}", ps, mergeB, mergeA)
	}
	checkFiles(t, "Merge result", treeOf(t, s, mergeCommit), plain(map[string]string{"file": "from-master+pr", "mine": "pre-merge"}))
}

// testDiff is the reference's "Diff": commit diffs and transaction diffs,
// compared as sets.
func testDiff(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	write(t, tr, "file", "from-master")
	makeDirs(t, tr, "src")
	write(t, tr, "src/Makefile", "all: build test")
	head1 := commit(t, tr, "init")

	tr = tx(t, master, dkstore.TxOptions{})
	write(t, tr, "foo", "foo")
	old := readFile(t, tr, "file")
	write(t, tr, "file", old+"+pr")
	head2 := commit(t, tr, "mod")

	cs, err := s.Diff(ctx, head1, head2)
	checkDiff(t, "Diff(head1, head2)", cs, err, "+ foo", "* file")
	cs, err = s.Diff(ctx, head2, head1)
	checkDiff(t, "Diff(head2, head1)", cs, err, "- foo", "* file")
	cs, err = s.Diff(ctx, head2, head2)
	checkDiff(t, "Diff(head2, head2)", cs, err)

	tr = tx(t, master, dkstore.TxOptions{})
	write(t, tr, "file", "from-master")
	cs, err = tr.Diff(ctx, head1)
	checkDiff(t, "tx.Diff(head1)", cs, err, "+ foo")
	cs, err = tr.Diff(ctx, head2)
	checkDiff(t, "tx.Diff(head2)", cs, err, "* file")
	write(t, tr, "file", "from-master+pr")
	cs, err = tr.Diff(ctx, head2)
	checkDiff(t, "tx.Diff(head2) after restoring file", cs, err)
	cs, err = tr.Changes(ctx)
	checkDiff(t, "Changes() after restoring file", cs, err)

	// Kind changes are updates; a removed directory lists its files; a
	// file turned into a directory is a removal and an addition.
	if err := tr.SetKind(ctx, "foo", dkstore.KindExec); err != nil {
		t.Fatalf("SetKind(foo, KindExec) = %v", err)
	}
	remove(t, tr, "src")
	remove(t, tr, "file")
	write(t, tr, "file/inner", "x")
	writeFile(t, tr, "new/link", "foo", dkstore.KindLink)
	want := []string{"* foo", "- src/Makefile", "- file", "+ file/inner", "+ new/link"}
	cs, err = tr.Diff(ctx, head2)
	checkDiff(t, "tx.Diff(head2) after more changes", cs, err, want...)
	cs, err = tr.Changes(ctx)
	checkDiff(t, "Changes()", cs, err, want...)
	head3 := commit(t, tr, "more")
	cs, err = s.Diff(ctx, head2, head3)
	checkDiff(t, "Diff(head2, head3)", cs, err, want...)
	cs, err = s.Diff(ctx, head1, head3)
	checkDiff(t, "Diff(head1, head3)", cs, err, "+ foo", "- src/Makefile", "- file", "+ file/inner", "+ new/link")
}

// testMergeMetadata is the reference's "Merge_metadata": kind-only
// changes merge like content changes.
func testMergeMetadata(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	writeFile(t, tr, "a", "from-master", dkstore.KindExec)
	checkKind(t, tr, "a", dkstore.KindExec)
	writeFile(t, tr, "b", "from-master", dkstore.KindLink)
	writeFile(t, tr, "c", "from-master", dkstore.KindExec)
	mergeA := commit(t, tr, "init") // base: exec, link, exec

	pr := branch(t, s, "pr")
	tr = tx(t, pr, dkstore.TxOptions{})
	if _, err := tr.Merge(ctx, mergeA); err != nil {
		t.Fatalf("pr: Merge(%s) = %v", mergeA, err)
	}
	checkKind(t, tr, "a", dkstore.KindExec)
	if err := tr.SetKind(ctx, "b", dkstore.KindExec); err != nil {
		t.Fatalf("SetKind(b, KindExec) = %v", err)
	}
	remove(t, tr, "c")
	writeFile(t, tr, "c", "foo", dkstore.KindLink)
	mergeB := commit(t, tr, "mod") // theirs: exec, exec, link

	tr = tx(t, master, dkstore.TxOptions{})
	if err := tr.SetKind(ctx, "c", dkstore.KindFile); err != nil {
		t.Fatalf("SetKind(c, KindFile) = %v", err)
	}
	res, err := tr.Merge(ctx, mergeB) // ours: exec, link, normal
	if err != nil {
		t.Fatalf("Merge(%s) = %v", mergeB, err)
	}
	checkKind(t, res.Ours, "a", dkstore.KindExec)
	checkKind(t, res.Ours, "b", dkstore.KindLink)
	checkKind(t, res.Theirs, "b", dkstore.KindExec)
	checkKind(t, res.Base, "b", dkstore.KindLink)
	// rw: exec, exec, conflict (normal)
	checkKind(t, tr, "a", dkstore.KindExec)
	checkKind(t, tr, "b", dkstore.KindExec)
	checkFile(t, tr, "b", "from-master")
	checkKind(t, tr, "c", dkstore.KindFile)
	checkFile(t, tr, "c", "** Conflict **\nChanged on both branches\n")
	want := []dkstore.Conflict{{Path: "c", Reason: "Changed on both branches"}}
	if !slices.Equal(res.Conflicts, want) {
		t.Errorf("Merge(%s).Conflicts = %v, want %v", mergeB, res.Conflicts, want)
	}
	write(t, tr, "c", "Resolved")
	if err := tr.SetKind(ctx, "c", dkstore.KindExec); err != nil {
		t.Fatalf("SetKind(c, KindExec) = %v", err)
	}
	commit(t, tr, "merge")
	checkFiles(t, "master after the merge", headTree(t, s, master),
		map[string]string{"a": "X:from-master", "b": "X:from-master", "c": "X:Resolved"})
}

// testMergeEmpty is the reference's "Merge empty": merging into a
// transaction on a branch with no history yields theirs' files.
func testMergeEmpty(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	h := commitFiles(t, master, "init", map[string]string{"file": "from-master"})
	newBranch := branch(t, s, "new")
	tr := tx(t, newBranch, dkstore.TxOptions{})
	res, err := tr.Merge(ctx, h)
	if err != nil {
		t.Fatalf("Merge(%s) = %v", h, err)
	}
	if len(res.Conflicts) != 0 {
		t.Errorf("Merge(%s).Conflicts = %v, want none", h, res.Conflicts)
	}
	if got := res.Base.Hash(); got != dkstore.EmptyTree {
		t.Errorf("Merge(%s).Base.Hash() = %s, want the empty tree %s", h, got, dkstore.EmptyTree)
	}
	checkNames(t, res.Base, "")
	checkNames(t, res.Ours, "")
	if ps := txParents(t, tr); !slices.Equal(ps, []dkstore.CommitID{h}) {
		t.Errorf("Parents() after Merge = %v, want [%s]", ps, h)
	}
	commit(t, tr, "init")
	root := headTree(t, s, newBranch)
	checkNames(t, root, "", "file")
	checkFile(t, root, "file", "from-master")
	if got := mustHead(t, master); got != h {
		t.Errorf("master Head() = %s, want it unchanged at %s", got, h)
	}
}

// testConflicts is the reference's "Conflicts", with its exact reasons and
// conflict markers.
func testConflicts(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	baseHead := populate(t, master, [][2]string{
		{"a", "a-from-base"}, {"b", "b-from-base"}, {"c", "c-from-base"}, {"d", "d-from-base"},
		{"e", "e-from-base"}, {"f", "f-from-base"}, {"dir/a", "a-from-base"}, {"dir2/b", "b-from-base"},
	})
	theirs := branch(t, s, "theirs")
	if err := theirs.FastForward(ctx, baseHead); err != nil {
		t.Fatalf("FastForward(theirs, %s) = %v", baseHead, err)
	}
	populate(t, master, [][2]string{
		{"a", "a-ours"},      // edit a
		{"b", "b-from-base"}, //
		{"c", "c-ours"},      // edit c
		/* delete d */
		{"e", "e-from-base"},
		/* delete f */
		{"g", "g-same"},          // create g
		{"h", "h-ours"},          // create h
		{"dir", "ours-now-file"}, // convert dir to file
		{"dir2/b", "b-theirs"},   // edit dir2/b
	})
	theirsHead := populate(t, theirs, [][2]string{
		{"a", "a-theirs"}, // edit a
		{"b", "b-theirs"}, // edit b
		{"c", "c-from-base"},
		{"d", "d-from-base"},
		/* delete e */
		{"f", "f-theirs"},
		{"g", "g-same"},             // create g
		{"h", "h-theirs"},           // create h
		{"dir/a", "a-theirs"},       // edit dir/a
		{"dir2", "theirs-now-file"}, // convert dir2 to file
	})

	tr := tx(t, master, dkstore.TxOptions{})
	res, err := tr.Merge(ctx, theirsHead)
	if err != nil {
		t.Fatalf("Merge(%s) = %v", theirsHead, err)
	}
	wantConflicts := []dkstore.Conflict{
		{Path: "a", Reason: "Changed on both branches"},
		{Path: "dir", Reason: "File vs dir"},
		{Path: "dir2", Reason: "File vs dir"},
		{Path: "f", Reason: "option: add/del"},
		{Path: "h", Reason: "default: add/add and no common ancestor"},
	}
	if !slices.Equal(res.Conflicts, wantConflicts) {
		t.Errorf("Merge(%s).Conflicts = %v, want %v", theirsHead, res.Conflicts, wantConflicts)
	}
	_, err = tr.Commit(ctx, "commit")
	wantErr(t, "Commit() with conflicts", err, dkstore.ErrConflict)
	_, err = tr.Merge(ctx, theirsHead)
	wantErr(t, "Merge() with conflicts", err, dkstore.ErrConflict)

	checkNames(t, tr, "", "a", "b", "c", "dir", "dir2", "f", "g", "h")
	for _, f := range []struct{ path, want string }{
		{"a", "** Conflict **\nChanged on both branches\n"},
		{"b", "b-theirs"},
		{"c", "c-ours"},
		{"f", "** Conflict **\noption: add/del\n"},
		{"g", "g-same"},
		{"h", "** Conflict **\ndefault: add/add and no common ancestor\n"},
		{"dir", "** Conflict **\nFile vs dir\n"},
		{"dir2", "** Conflict **\nFile vs dir\n"},
	} {
		checkFile(t, tr, f.path, f.want)
		checkKind(t, tr, f.path, dkstore.KindFile)
	}
	checkFile(t, res.Theirs, "dir2", "theirs-now-file")
	checkFile(t, res.Ours, "dir", "ours-now-file")
	checkFile(t, res.Base, "dir/a", "a-from-base")
	checkConflicts(t, tr, "a", "dir", "dir2", "f", "h")

	remove(t, tr, "a")
	remove(t, tr, "dir")
	remove(t, tr, "dir2")
	write(t, tr, "f", readFile(t, res.Theirs, "f"))
	checkConflicts(t, tr, "h")
	_, err = tr.Commit(ctx, "commit")
	wantErr(t, "Commit() with one conflict left", err, dkstore.ErrConflict)
	remove(t, tr, "h")
	checkConflicts(t, tr)
	commit(t, tr, "try_merge_client")

	root := headTree(t, s, master)
	checkNames(t, root, "", "b", "c", "f", "g")
	checkFile(t, root, "f", "f-theirs")
}

func checkConflicts(t *testing.T, tr dkstore.Transaction, want ...string) {
	t.Helper()
	cs, err := tr.Conflicts(t.Context())
	if err != nil {
		t.Fatalf("Conflicts() = %v", err)
	}
	got := make([]string, len(cs))
	for i, c := range cs {
		got[i] = string(c.Path)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Conflicts() = %q, want %q", got, want)
	}
}

// testMovedBranch commits transactions into a branch that moved since
// they started: a "Merge" commit, or a merge conflict that leaves the
// transaction open.
func testMovedBranch(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	base := commitFiles(t, master, "base", map[string]string{"a": "a", "b": "b"})
	t1 := tx(t, master, dkstore.TxOptions{})
	t2 := tx(t, master, dkstore.TxOptions{})
	write(t, t1, "a", "a1")
	one := commit(t, t1, "one")
	if h := mustHead(t, master); h != one {
		t.Errorf("Head() after a fast-forward = %s, want %s", h, one)
	}
	if ps := parentsOf(t, s, one); !slices.Equal(ps, []dkstore.CommitID{base}) {
		t.Errorf("Parents of the fast-forwarded commit = %v, want [%s]", ps, base)
	}

	write(t, t2, "b", "b2")
	landed := commit(t, t2, "two")
	h := mustHead(t, master)
	if landed != h {
		t.Errorf("Commit() = %s, but Head() = %s", landed, h)
	}
	mc := commitOf(t, s, h)
	if mc.Message != "Merge" {
		t.Errorf("merge commit Message = %q, want %q", mc.Message, "Merge")
	}
	if mc.Author.Name != "datakit" || mc.Author.Email != "datakit@mobyproject.org" {
		t.Errorf("merge commit Author = %s <%s>, want datakit <datakit@mobyproject.org>", mc.Author.Name, mc.Author.Email)
	}
	if len(mc.Parents) != 2 || mc.Parents[0] != one {
		t.Fatalf("merge commit Parents = %v, want [%s, the new commit]", mc.Parents, one)
	}
	two := commitOf(t, s, mc.Parents[1])
	if two.Message != "two" || !slices.Equal(two.Parents, []dkstore.CommitID{base}) {
		t.Errorf("second parent of the merge = %q with parents %v, want %q with parents [%s]", two.Message, two.Parents, "two", base)
	}
	checkFiles(t, "merged tree", treeOf(t, s, h), plain(map[string]string{"a": "a1", "b": "b2"}))
	checkFiles(t, "the new commit's own tree", treeOf(t, s, two.ID), plain(map[string]string{"a": "a", "b": "b2"}))

	// A conflicting concurrent change.
	t3 := tx(t, master, dkstore.TxOptions{})
	t4 := tx(t, master, dkstore.TxOptions{})
	write(t, t3, "a", "x")
	three := commit(t, t3, "three")
	write(t, t4, "a", "y")
	_, err := t4.Commit(ctx, "four")
	if wantErr(t, "Commit() conflicting with the moved head", err, dkstore.ErrConflict) {
		if r := dkstore.Reason(err); !strings.HasPrefix(r, "Merge conflict: ") {
			t.Errorf("Reason(Commit()) = %q, want it to start with %q", r, "Merge conflict: ")
		}
	}
	if got := mustHead(t, master); got != three {
		t.Errorf("Head() after a refused commit = %s, want %s", got, three)
	}
	// The transaction stays open: resolve and commit again.
	checkFile(t, t4, "a", "y")
	write(t, t4, "a", "x")
	write(t, t4, "c", "c")
	final := commit(t, t4, "four")
	fc := commitOf(t, s, final)
	if fc.Message != "Merge" || len(fc.Parents) != 2 || fc.Parents[0] != three {
		t.Errorf("Commit() after resolving = %q with parents %v, want \"Merge\" with parents [%s, …]", fc.Message, fc.Parents, three)
	}
	checkFiles(t, "tree after resolving", treeOf(t, s, final), plain(map[string]string{"a": "x", "b": "b2", "c": "c"}))
}

// testTxOptions checks From, FastForwardOnly and SkipIfEmpty.
func testTxOptions(t *testing.T, open func(t *testing.T) dkstore.Store) {
	t.Run("From", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		master := branch(t, s, "master")
		c1 := commitFiles(t, master, "c1", map[string]string{"f": "1"})
		c2 := commitFiles(t, master, "c2", map[string]string{"f": "2"})
		tr := tx(t, master, dkstore.TxOptions{From: c1})
		checkFile(t, tr, "f", "1")
		if ps := txParents(t, tr); !slices.Equal(ps, []dkstore.CommitID{c1}) {
			t.Errorf("Parents() = %v, want [%s]", ps, c1)
		}
		write(t, tr, "g", "new")
		landed := commit(t, tr, "from c1")
		c := commitOf(t, s, landed)
		if c.Message != "Merge" || len(c.Parents) != 2 || c.Parents[0] != c2 {
			t.Errorf("Commit() = %q with parents %v, want \"Merge\" with parents [%s, …]", c.Message, c.Parents, c2)
		}
		checkFiles(t, "merged", treeOf(t, s, landed), plain(map[string]string{"f": "2", "g": "new"}))

		_, err := master.Transaction(ctx, dkstore.TxOptions{From: mustCommitID(t, missingCommit)})
		wantErr(t, "Transaction(From: missing)", err, dkstore.ErrNotExist)

		// From on a branch with no head starts it there.
		fork := branch(t, s, "fork")
		tr = tx(t, fork, dkstore.TxOptions{From: c1})
		write(t, tr, "h", "fork")
		forked := commit(t, tr, "fork")
		if ps := parentsOf(t, s, forked); !slices.Equal(ps, []dkstore.CommitID{c1}) {
			t.Errorf("fork's Parents = %v, want [%s]", ps, c1)
		}
		if h := mustHead(t, fork); h != forked {
			t.Errorf("fork Head() = %s, want %s", h, forked)
		}
	})

	t.Run("FastForwardOnly", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		master := branch(t, s, "master")
		commitFiles(t, master, "c1", map[string]string{"f": "1"})
		tr := tx(t, master, dkstore.TxOptions{FastForwardOnly: true})
		write(t, tr, "g", "ff")
		ff := commit(t, tr, "ff")
		if h := mustHead(t, master); h != ff {
			t.Errorf("Head() = %s, want %s", h, ff)
		}

		tr = tx(t, master, dkstore.TxOptions{FastForwardOnly: true})
		write(t, tr, "g", "late")
		moved := commitFiles(t, master, "meanwhile", map[string]string{"other": "x"})
		_, err := tr.Commit(ctx, "late")
		wantErr(t, "Commit() with FastForwardOnly after the branch moved", err, dkstore.ErrNotFastForward)
		if h := mustHead(t, master); h != moved {
			t.Errorf("Head() = %s, want it unchanged at %s", h, moved)
		}
	})

	t.Run("SkipIfEmpty", func(t *testing.T) {
		s := open(t)
		master := branch(t, s, "master")
		c1 := commitFiles(t, master, "c1", map[string]string{"f": "1"})

		tr := tx(t, master, dkstore.TxOptions{SkipIfEmpty: true})
		if got := commit(t, tr, "nothing"); got != c1 {
			t.Errorf("Commit() of nothing = %s, want the head %s", got, c1)
		}
		tr = tx(t, master, dkstore.TxOptions{SkipIfEmpty: true})
		write(t, tr, "f", "changed")
		write(t, tr, "f", "1")
		if got := commit(t, tr, "changed back"); got != c1 {
			t.Errorf("Commit() of a change undone = %s, want the head %s", got, c1)
		}
		if h := mustHead(t, master); h != c1 {
			t.Errorf("Head() after skipped commits = %s, want %s", h, c1)
		}

		tr = tx(t, master, dkstore.TxOptions{SkipIfEmpty: true})
		write(t, tr, "f", "2")
		c2 := commit(t, tr, "real")
		if c2 == c1 || mustHead(t, master) != c2 {
			t.Errorf("Commit() of a change = %s, head %s, want a new head", c2, mustHead(t, master))
		}

		// New parents alone are a change.
		side := commitFiles(t, branch(t, s, "side"), "side", map[string]string{"s": "side"})
		tr = tx(t, master, dkstore.TxOptions{SkipIfEmpty: true})
		if err := tr.SetParents(t.Context(), []dkstore.CommitID{c2, side}); err != nil {
			t.Fatalf("SetParents() = %v", err)
		}
		c3 := commit(t, tr, "parents only")
		if c := commitOf(t, s, c3); !slices.Equal(c.Parents, []dkstore.CommitID{c2, side}) || c.Tree != commitOf(t, s, c2).Tree {
			t.Errorf("Commit() with new parents only = parents %v, tree %s, want a commit with parents [%s %s] and the same tree", c.Parents, c.Tree, c2, side)
		}

		// Without the option an empty commit is still made.
		tr = tx(t, master, dkstore.TxOptions{})
		c4 := commit(t, tr, "empty")
		if c4 == c3 {
			t.Fatalf("Commit() of nothing without SkipIfEmpty = the old head, want a new commit")
		}
		c := commitOf(t, s, c4)
		if !slices.Equal(c.Parents, []dkstore.CommitID{c3}) || c.Tree != commitOf(t, s, c3).Tree {
			t.Errorf("empty commit: Parents %v, Tree %s, want [%s] and the same tree", c.Parents, c.Tree, c3)
		}
	})

	t.Run("Changes", func(t *testing.T) {
		s := open(t)
		master := branch(t, s, "master")
		commitFiles(t, master, "c1", map[string]string{"f": "1", "g": "1", "d/h": "1"})
		tr := tx(t, master, dkstore.TxOptions{})
		cs, err := tr.Changes(t.Context())
		checkDiff(t, "Changes() of a new transaction", cs, err)
		write(t, tr, "n", "new")
		write(t, tr, "f", "2")
		remove(t, tr, "g")
		remove(t, tr, "d")
		makeDirs(t, tr, "empty/dir")
		cs, err = tr.Changes(t.Context())
		checkDiff(t, "Changes()", cs, err, "+ n", "* f", "- g", "- d/h")
	})
}
