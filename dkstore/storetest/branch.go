package storetest

import (
	"slices"
	"testing"

	"github.com/dkgo/datakit/dkstore"
)

func branches(t *testing.T, s dkstore.Store) []dkstore.BranchName {
	t.Helper()
	bs, err := s.Branches(t.Context())
	if err != nil {
		t.Fatalf("Branches() = %v", err)
	}
	return bs
}

func checkBranches(t *testing.T, s dkstore.Store, want ...dkstore.BranchName) {
	t.Helper()
	got := branches(t, s)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("Branches() = %q, want %q", got, want)
	}
}

// testBranches checks listing and deleting branches, including names with
// slashes.
func testBranches(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	checkBranches(t, s)
	master := branch(t, s, "master")
	// A handle alone does not make a branch.
	branch(t, s, "unused")
	checkBranches(t, s)

	m := commitFiles(t, master, "m", map[string]string{"f": "master"})
	dev := branch(t, s, "dev")
	d := commitFiles(t, dev, "d", map[string]string{"f": "dev"})
	feature := branch(t, s, "feature/x")
	fx := commitFiles(t, feature, "fx", map[string]string{"f": "feature"})
	deep := branch(t, s, "user/a/b-1.0_2")
	commitFiles(t, deep, "deep", map[string]string{"f": "deep"})
	checkBranches(t, s, "dev", "feature/x", "master", "user/a/b-1.0_2")

	// Heads, through a new handle each time.
	for _, c := range []struct {
		name string
		want dkstore.CommitID
	}{{"master", m}, {"dev", d}, {"feature/x", fx}, {"unused", dkstore.CommitID{}}} {
		if got := head(t, branch(t, s, c.name)); got != c.want {
			t.Errorf("%s.Head() = %s, want %s", c.name, got, c.want)
		}
	}
	checkFiles(t, "feature/x", headTree(t, s, feature), plain(map[string]string{"f": "feature"}))

	if err := dev.Delete(ctx); err != nil {
		t.Fatalf("Delete(dev) = %v", err)
	}
	checkBranches(t, s, "feature/x", "master", "user/a/b-1.0_2")
	if h := head(t, dev); !h.IsZero() {
		t.Errorf("dev.Head() after Delete = %s, want no commit", h)
	}
	wantErr(t, "Delete(dev) again", dev.Delete(ctx), nil)
	wantErr(t, "Delete(unused)", branch(t, s, "unused").Delete(ctx), nil)
	if err := feature.Delete(ctx); err != nil {
		t.Fatalf("Delete(feature/x) = %v", err)
	}
	checkBranches(t, s, "master", "user/a/b-1.0_2")
	// The commits of a deleted branch stay readable by id.
	checkFiles(t, "deleted dev's commit", treeOf(t, s, d), plain(map[string]string{"f": "dev"}))

	// A deleted branch can be made again.
	d2 := commitFiles(t, dev, "again", map[string]string{"f": "dev again"})
	if ps := parentsOf(t, s, d2); len(ps) != 0 {
		t.Errorf("Parents of the first commit of a re-made branch = %v, want []", ps)
	}
	checkBranches(t, s, "dev", "master", "user/a/b-1.0_2")

	// As in Git, a branch cannot be both a name and a directory of names.
	// (ErrExist in process; over 9P, where master/x would be a directory
	// inside branch master's directory, the error kind may differ.)
	if err := branch(t, s, "master/x").FastForward(ctx, m); err == nil {
		t.Errorf("FastForward(master/x) beside branch master = nil, want an error")
	}
	wantErr(t, "FastForward(user/a)", branch(t, s, "user/a").FastForward(ctx, m), dkstore.ErrExist)
	wantErr(t, "FastForward(user)", branch(t, s, "user").FastForward(ctx, m), dkstore.ErrExist)
	if err := deep.Delete(ctx); err != nil {
		t.Fatalf("Delete(user/a/b-1.0_2) = %v", err)
	}
	wantErr(t, "FastForward(user/a) once user/a/b-1.0_2 is gone", branch(t, s, "user/a").FastForward(ctx, m), nil)
	checkBranches(t, s, "dev", "master", "user/a")
}

// testFastForward checks Branch.FastForward's cases.
func testFastForward(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	c1 := commitFiles(t, master, "c1", map[string]string{"f": "1"})
	c2 := commitFiles(t, master, "c2", map[string]string{"f": "2"})
	side := branch(t, s, "side")
	tr := tx(t, side, dkstore.TxOptions{From: c1})
	write(t, tr, "s", "side")
	sideHead := commit(t, tr, "side")
	c3 := commitFiles(t, master, "c3", map[string]string{"f": "3"})
	if err := master.Delete(ctx); err != nil { // master goes back to c1 below
		t.Fatalf("Delete(master) = %v", err)
	}

	for _, step := range []struct {
		name     string
		id       dkstore.CommitID
		want     error
		wantHead dkstore.CommitID
	}{
		{"fork: a branch with no head", c1, nil, c1},
		{"already up to date", c1, nil, c1},
		{"to a descendant", c2, nil, c2},
		{"unknown commit", mustCommitID(t, missingCommit), dkstore.ErrNotExist, c2},
		{"to an ancestor", c1, dkstore.ErrNotFastForward, c2},
		{"to a commit on another line", sideHead, dkstore.ErrNotFastForward, c2},
		{"skipping a commit", c3, nil, c3},
		{"zero commit", dkstore.CommitID{}, nil, c3}, // checked below: any error
	} {
		err := master.FastForward(ctx, step.id)
		if step.id.IsZero() {
			if err == nil {
				t.Errorf("%s: FastForward(zero) = nil, want an error", step.name)
			}
		} else {
			wantErr(t, step.name+": FastForward("+step.id.String()+")", err, step.want)
		}
		if h := head(t, master); h != step.wantHead {
			t.Errorf("%s: Head() = %s, want %s", step.name, h, step.wantHead)
		}
	}

	// Forking: a new branch fast-forwarded to another's head.
	fork := branch(t, s, "fork/of/master")
	if err := fork.FastForward(ctx, mustHead(t, master)); err != nil {
		t.Fatalf("FastForward(fork, master's head) = %v", err)
	}
	if h := head(t, fork); h != c3 {
		t.Errorf("fork Head() = %s, want %s", h, c3)
	}
	checkBranches(t, s, "fork/of/master", "master", "side")
	// Committing to the fork leaves master alone.
	commitFiles(t, fork, "on fork", map[string]string{"f": "fork"})
	if h := head(t, master); h != c3 {
		t.Errorf("master Head() after committing to the fork = %s, want %s", h, c3)
	}
	// And master can catch up.
	fh := mustHead(t, fork)
	if err := master.FastForward(ctx, fh); err != nil {
		t.Errorf("FastForward(master, fork's head) = %v", err)
	}
	if h := head(t, master); h != fh {
		t.Errorf("master Head() = %s, want %s", h, fh)
	}
}

// testRenameBranch is the reference's 9P "Rename branch" with its error
// cases.
func testRenameBranch(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	old := branch(t, s, "old")
	h := commitFiles(t, old, "key", map[string]string{"key": "value"})
	if err := old.Rename(ctx, "new"); err != nil {
		t.Fatalf("Rename(old, new) = %v", err)
	}
	checkBranches(t, s, "new")
	newB := branch(t, s, "new")
	if got := head(t, newB); got != h {
		t.Errorf("new.Head() = %s, want %s", got, h)
	}
	if got := head(t, old); !got.IsZero() {
		t.Errorf("old.Head() after Rename = %s, want no commit", got)
	}
	checkFiles(t, "renamed branch", headTree(t, s, newB), plain(map[string]string{"key": "value"}))

	wantErr(t, "Rename(old, x) of a missing branch", old.Rename(ctx, "x"), dkstore.ErrNotExist)

	other := branch(t, s, "other")
	o := commitFiles(t, other, "other", map[string]string{"key": "other"})
	wantErr(t, "Rename(new, other) onto an existing branch", newB.Rename(ctx, "other"), dkstore.ErrExist)
	if got := head(t, newB); got != h {
		t.Errorf("new.Head() after a refused rename = %s, want %s", got, h)
	}
	if got := head(t, other); got != o {
		t.Errorf("other.Head() after a refused rename = %s, want %s", got, o)
	}

	if err := newB.Rename(ctx, "with/slashes/now"); err != nil {
		t.Fatalf("Rename(new, with/slashes/now) = %v", err)
	}
	checkBranches(t, s, "other", "with/slashes/now")
	slashed := branch(t, s, "with/slashes/now")
	if got := head(t, slashed); got != h {
		t.Errorf("with/slashes/now.Head() = %s, want %s", got, h)
	}
	if err := slashed.Rename(ctx, "plain"); err != nil {
		t.Fatalf("Rename(with/slashes/now, plain) = %v", err)
	}
	checkBranches(t, s, "other", "plain")

	if err := branch(t, s, "plain").Delete(ctx); err != nil {
		t.Fatalf("Delete(plain) = %v", err)
	}
	checkBranches(t, s, "other")
}
