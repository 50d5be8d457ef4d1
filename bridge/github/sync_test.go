package github_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// The first sync imports the open PRs with their conversation, the
// branches and tags (annotated ones peeled) and the statuses of their
// heads; later syncs with nothing new call nothing, and a resync costs
// only 304s.
func TestImport(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	e.push("refs/heads/feature", sha(2))
	if err := e.gh.Push(repoName, fakegithub.Push{Ref: "refs/tags/v1", SHA: sha(1), TagMessage: "Version 1"}); err != nil {
		t.Fatal(err)
	}
	n := e.openPR("feature", "Add a feature")
	cid, _ := e.gh.AddComment(repoName, n, "", "Looks good")
	e.gh.SetStatus(repoName, sha(2), fakegithub.Status{State: "success", Context: "other/ci", Description: "Passed"})
	e.gh.SetStatus(repoName, sha(1), fakegithub.Status{State: "pending"})
	e.gh.Push(repoName, fakegithub.Push{Ref: "refs/heads/a+b", SHA: sha(3)}) // no place in the metadata

	b := e.newBridge(github.Options{})
	e.sync(b)
	if got, want := e.storeRefs(), map[string]string{"heads/main": sha(1), "heads/feature": sha(2), "tags/v1": sha(1)}; !reflect.DeepEqual(got, want) {
		t.Errorf("refs = %v, want %v", got, want)
	}
	want := bridge.PR{Repo: e.repo, Number: n, Head: sha(2), State: "open", Title: "Add a feature", Owner: "alice", Base: "main",
		Comments: []bridge.Comment{{ID: 0, User: "alice", Body: "About Add a feature"}, {ID: cid, User: "alice", Body: "Looks good"}}}
	if got := e.storePRs()[n]; !reflect.DeepEqual(got, want) {
		t.Errorf("PR = %+v, want %+v", got, want)
	}
	if got, want := e.storeStatuses(sha(2)), map[string]string{"other/ci": "success Passed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses of the PR's head = %v, want %v", got, want)
	}
	if got, want := e.storeStatuses(sha(1)), map[string]string{"": "pending "}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses of main = %v, want %v", got, want)
	}
	if _, err := e.snapshot().Stat(context.Background(), bridge.StatusPath(e.repo, sha(1), "").Join("state")); err != nil {
		t.Errorf("the empty context is not stored as default: %v", err)
	}

	e.gh.ResetStats()
	head := e.head()
	e.sync(b)
	if c := e.calls(); len(c) != 0 {
		t.Errorf("a sync with nothing new called %s", fmtCalls(c))
	}
	if e.head() != head {
		t.Errorf("a sync with nothing new committed")
	}
	b.Resync()
	e.sync(b)
	calls, notModified := e.gh.TotalCalls()
	if calls == 0 || calls != notModified {
		t.Errorf("a resync with nothing changed made %d calls, %d answered 304; want all 304 (%s)", calls, notModified, fmtCalls(e.calls()))
	}
	if e.head() != head {
		t.Errorf("a resync with nothing changed committed")
	}
}

// updates: one status written to the store is one call to GitHub; a PR
// title edited in the store is one call.
func TestUpdates(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	e.push("refs/heads/feature", sha(2))
	n := e.openPR("feature", "Fix")
	b := e.newBridge(github.Options{})
	e.sync(b)

	e.gh.ResetStats()
	e.writeStatus(sha(2), "ci/datakit/test", "pending", "Building")
	e.sync(b)
	e.sync(b)
	if got, want := e.calls(), map[string]int{"POST /repos/{owner}/{repo}/statuses/{sha}": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls after a status write = %s, want one POST", fmtCalls(got))
	}
	if got := e.ghStatuses(sha(2))["ci/datakit/test"]; got != "pending Building" {
		t.Errorf("GitHub's status = %q", got)
	}

	e.gh.ResetStats()
	e.write(func(ctx context.Context, tx dkstore.Transaction) error {
		return tx.WriteFile(ctx, bridge.PRPath(e.repo, n).Join("title"), []byte("Fix it all\n"), dkstore.KindFile)
	})
	e.sync(b)
	e.sync(b)
	if got, want := e.calls(), map[string]int{"PATCH /repos/{owner}/{repo}/pulls/{number}": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls after a title edit = %s, want one PATCH", fmtCalls(got))
	}
	if pr, _ := e.gh.PR(repoName, n); pr.Title != "Fix it all" {
		t.Errorf("GitHub's title = %q", pr.Title)
	}
	if pr := e.storePRs()[n]; pr.Title != "Fix it all" {
		t.Errorf("the store's title = %q", pr.Title)
	}
}

// cleanup: read-only capabilities never write to GitHub; the store
// follows GitHub, and syncs with nothing new commit nothing.
func TestCleanup(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	e.push("refs/heads/heho", sha(1))
	e.push("refs/heads/feature", sha(2))
	n := e.openPR("feature", "Fix")
	b := e.newBridge(github.Options{Capabilities: caps(t, "*:r")})
	e.sync(b)
	if got := e.storeRefs()["heads/heho"]; got != sha(1) {
		t.Fatalf("heads/heho = %q", got)
	}

	e.gh.ResetStats()
	e.writeStatus(sha(2), "ci/datakit/test", "success", "")
	e.write(func(ctx context.Context, tx dkstore.Transaction) error {
		return tx.WriteFile(ctx, bridge.PRPath(e.repo, n).Join("title"), []byte("Other\n"), dkstore.KindFile)
	})
	e.push("refs/heads/heho", sha(3))
	b.Resync()
	e.sync(b)
	for route := range e.calls() {
		if route[:3] != "GET" {
			t.Errorf("a read-only bridge called %s", route)
		}
	}
	if got := e.storeRefs()["heads/heho"]; got != sha(3) {
		t.Errorf("heads/heho = %q, want %q", got, sha(3))
	}
	if got := e.storeStatuses(sha(2)); len(got) != 0 {
		t.Errorf("the store kept statuses GitHub does not have: %v", got)
	}
	if got := e.storePRs()[n].Title; got != "Fix" {
		t.Errorf("the store's title = %q, want GitHub's", got)
	}
	head := e.head()
	for range 3 {
		e.sync(b)
	}
	if e.head() != head {
		t.Errorf("syncs with nothing new committed")
	}
}

// startup: a bridge restarted with statuses changed in the store while
// it was away makes GitHub agree with them only for what it has x on.
func TestStartup(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	b := e.newBridge(github.Options{})
	e.sync(b)
	e.writeStatus(sha(1), "foo/bar/baz", "pending", "")
	e.sync(b)
	if got := e.ghStatuses(sha(1))["foo/bar/baz"]; got != "pending " {
		t.Fatalf("GitHub's status = %q", got)
	}

	// A restart with nothing changed calls nothing but reads.
	e.gh.ResetStats()
	b = e.newBridge(github.Options{})
	e.sync(b)
	for route := range e.calls() {
		if route[:3] != "GET" {
			t.Errorf("a restart with nothing changed called %s", route)
		}
	}

	// The store changes while no bridge runs; without x, GitHub wins.
	e.writeStatus(sha(1), "foo/bar/baz", "failure", "")
	e.writeStatus(sha(1), "foo/other", "failure", "")
	b = e.newBridge(github.Options{Capabilities: caps(t, "*:rw")})
	e.sync(b)
	if got := e.ghStatuses(sha(1)); got["foo/bar/baz"] != "pending " || got["foo/other"] != "" {
		t.Errorf("without x, GitHub's statuses changed: %v", got)
	}
	if got := e.storeStatuses(sha(1)); got["foo/bar/baz"] != "pending " || got["foo/other"] != "" {
		t.Errorf("without x, the store's statuses are %v, want GitHub's", got)
	}

	// With x on the context, the store wins.
	e.writeStatus(sha(1), "foo/bar/baz", "failure", "")
	e.writeStatus(sha(1), "foo/other", "failure", "")
	e.gh.ResetStats()
	b = e.newBridge(github.Options{Capabilities: caps(t, "*:r,status[foo/bar/baz]:x")})
	e.sync(b)
	e.sync(b)
	if got := e.calls()["POST /repos/{owner}/{repo}/statuses/{sha}"]; got != 1 {
		t.Errorf("status calls = %d, want 1", got)
	}
	if got := e.ghStatuses(sha(1)); got["foo/bar/baz"] != "failure " || got["foo/other"] != "" {
		t.Errorf("with x on foo/bar/baz, GitHub's statuses are %v", got)
	}
	if got := e.storeStatuses(sha(1)); got["foo/bar/baz"] != "failure " || got["foo/other"] != "" {
		t.Errorf("with x on foo/bar/baz, the store's statuses are %v", got)
	}
}
