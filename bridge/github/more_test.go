package github_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// .dirty files ask the bridge to read a repository, a PR or a ref again
// (here, changes GitHub made with no webhook and no resync to tell); the
// bridge then removes them.
func TestDirty(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	e.push("refs/heads/fix", sha(2))
	n := e.openPR("fix", "Fix")
	b := e.newBridge(github.Options{ResyncInterval: -1})
	e.sync(b)
	dirty := func(p dkstore.Path) {
		e.write(func(ctx context.Context, tx dkstore.Transaction) error {
			return tx.WriteFile(ctx, p, nil, dkstore.KindFile)
		})
	}
	gone := func(p dkstore.Path) bool {
		_, err := e.snapshot().Stat(context.Background(), p)
		return err != nil
	}

	// A PR.
	title := "Fixed"
	e.gh.EditPR(repoName, n, fakegithub.PREdit{Title: &title}) // no webhook: the bridge does not know
	e.sync(b)
	if got := e.storePRs()[n].Title; got != "Fix" {
		t.Fatalf("title = %q before .dirty: the test needs the bridge not to know", got)
	}
	e.gh.ResetStats()
	dirty(bridge.PRPath(e.repo, n).Join(".dirty"))
	e.sync(b)
	if got := e.storePRs()[n].Title; got != title {
		t.Errorf("after pr/%d/.dirty, title = %q", n, got)
	}
	if !gone(bridge.PRPath(e.repo, n).Join(".dirty")) {
		t.Errorf("pr/%d/.dirty was not removed", n)
	}
	if c := e.calls(); c["GET /repos/{owner}/{repo}/pulls"] != 0 || c["GET /repos/{owner}/{repo}/pulls/{number}"] != 1 {
		t.Errorf("a PR's .dirty read %s; want that PR only", fmtCalls(c))
	}

	// A ref, and one the store does not have yet.
	e.push("refs/heads/main", sha(3))
	e.push("refs/heads/new", sha(4))
	dirty(bridge.RefPath(e.repo, "heads/main").Join(".dirty"))
	dirty(bridge.RefPath(e.repo, "heads/new").Join(".dirty"))
	e.sync(b)
	if got := e.storeRefs(); got["heads/main"] != sha(3) || got["heads/new"] != sha(4) {
		t.Errorf("after the refs' .dirty, refs = %v", got)
	}
	if !gone(bridge.RefPath(e.repo, "heads/main").Join(".dirty")) || !gone(bridge.RefPath(e.repo, "heads/new").Join(".dirty")) {
		t.Errorf("the refs' .dirty files were not removed")
	}

	// The repository: everything is read again.
	e.gh.SetStatus(repoName, sha(2), fakegithub.Status{State: "failure", Context: "other"})
	e.gh.ResetStats()
	dirty(bridge.DirtyPath(e.repo))
	e.sync(b)
	if got := e.storeStatuses(sha(2))["other"]; got != "failure " {
		t.Errorf("after .dirty, the status = %q", got)
	}
	if !gone(bridge.DirtyPath(e.repo)) {
		t.Errorf(".dirty was not removed")
	}
	if e.calls()["GET /repos/{owner}/{repo}/pulls"] != 1 {
		t.Errorf("the repository's .dirty did not read the PRs again: %s", fmtCalls(e.calls()))
	}

	// Nothing else to do: the commit says so.
	dirty(bridge.DirtyPath(e.repo))
	e.sync(b)
	c, err := e.store.Commit(context.Background(), e.head())
	if err != nil {
		t.Fatal(err)
	}
	if c.Message != "Cleaning up .dirty files" {
		t.Errorf("commit message = %q", c.Message)
	}
}

// A description longer than GitHub takes is cut by the CI's rule, keeping
// its end, and sent once; the store then holds what GitHub has.
func TestLongDescription(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	b := e.newBridge(github.Options{})
	e.sync(b)
	e.gh.ResetStats()
	long := "Command " + strings.Repeat("x", 200) + " failed: the reason"
	e.writeStatus(sha(1), "ci/datakit/test", "failure", long)
	for range 3 {
		e.sync(b)
	}
	if got := e.calls()["POST /repos/{owner}/{repo}/statuses/{sha}"]; got != 1 {
		t.Errorf("%d status calls, want 1", got)
	}
	want := "failure " + bridge.TrimDescription(long)
	if got := e.ghStatuses(sha(1))["ci/datakit/test"]; got != want {
		t.Errorf("GitHub's status = %q, want %q", got, want)
	}
	if got := e.storeStatuses(sha(1))["ci/datakit/test"]; got != want {
		t.Errorf("the store's status = %q", got)
	}
	if !strings.HasSuffix(want, ": the reason") || utf8.RuneCountInString(want)-len("failure ") > 140 {
		t.Errorf("cut description %q", want)
	}
}

// conflictStore makes someone else commit, once, just before the
// bridge's next commit.
type conflictStore struct {
	dkstore.Store
	before func()
}

func (s *conflictStore) Branch(n dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(n)
	return &conflictBranch{b, s}, err
}

type conflictBranch struct {
	dkstore.Branch
	s *conflictStore
}

func (b *conflictBranch) Transaction(ctx context.Context, o dkstore.TxOptions) (dkstore.Transaction, error) {
	tx, err := b.Branch.Transaction(ctx, o)
	return &conflictTx{tx, b.s}, err
}

type conflictTx struct {
	dkstore.Transaction
	s *conflictStore
}

func (t *conflictTx) Commit(ctx context.Context, msg string) (dkstore.CommitID, error) {
	if f := t.s.before; f != nil {
		t.s.before = nil
		f()
	}
	return t.Transaction.Commit(ctx, msg)
}

// When the branch changes under the bridge's commit in a conflicting way,
// the sync runs again: the later write (a user's) wins, on both sides.
func TestCommitConflict(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	e.push("refs/heads/fix", sha(2))
	n := e.openPR("fix", "Fix")
	cs := &conflictStore{Store: e.store}
	var log strings.Builder
	b, err := github.New(cs, e.github(), github.Options{Monitor: []bridge.Repo{e.repo}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.sync(b)
	title := "From GitHub"
	e.gh.EditPR(repoName, n, fakegithub.PREdit{Title: &title})
	cs.before = func() {
		e.write(func(ctx context.Context, tx dkstore.Transaction) error {
			return tx.WriteFile(ctx, bridge.PRPath(e.repo, n).Join("title"), []byte("From the store\n"), dkstore.KindFile)
		})
	}
	b.Resync()
	e.sync(b)
	if cs.before != nil {
		t.Fatal("the bridge made no commit to conflict with")
	}
	if !strings.Contains(log.String(), "the branch changed under the sync; syncing again") {
		t.Errorf("no conflict, no second try:\n%s", log.String())
	}
	if got := e.storePRs()[n].Title; got != "From the store" {
		t.Errorf("the store's title = %q", got)
	}
	if pr, _ := e.gh.PR(repoName, n); pr.Title != "From the store" {
		t.Errorf("GitHub's title = %q", pr.Title)
	}
}
