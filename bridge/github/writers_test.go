package github_test

import (
	"testing"

	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
)

// Two bridges on one repository, each with its own store where a CI
// writes its own value of the same status and writes it again whenever
// something else replaces it (as ci.Engine does): each bridge sends its
// value once, does not fight the other's, and the system settles, with
// no more statuses sent however often they sync.
func TestTwoWritersSettle(t *testing.T) {
	for _, c := range []string{"*:r,status[ci/datakit]:x", "*:rw"} {
		t.Run(c, func(t *testing.T) { testTwoWriters(t, c) })
	}
}

func testTwoWriters(t *testing.T, capabilities string) {
	a := newEnv(t)
	a.push("refs/heads/main", sha(1))
	b := &env{t: t, gh: a.gh, token: a.token, store: dkstore.NewMemory(dkstore.Options{}), repo: a.repo}
	t.Cleanup(func() { b.store.Close() })
	opts := func() github.Options {
		return github.Options{Capabilities: caps(t, capabilities), ResyncInterval: -1}
	}
	ba, bb := a.newBridge(opts()), b.newBridge(opts())
	const context = "ci/datakit/test"
	// ci makes sure e's store holds its CI's value.
	ci := func(e *env, descr string) {
		if e.storeStatuses(sha(1))[context] != "success "+descr {
			e.writeStatus(sha(1), context, "success", descr)
		}
	}
	posts := func() int { return a.gh.Count("POST /repos/{owner}/{repo}/statuses/{sha}") }
	round := func() {
		ba.Resync()
		a.sync(ba)
		ci(a, "by A")
		a.sync(ba)
		bb.Resync()
		b.sync(bb)
		ci(b, "by B")
		b.sync(bb)
	}
	for range 3 {
		round()
	}
	settled := posts()
	for range 5 {
		round()
	}
	if got := posts(); got != settled {
		t.Errorf("%d statuses sent after the bridges settled at %d (ping-pong)", got-settled, settled)
	}
	if settled > 4 {
		t.Errorf("%d statuses sent before settling, want each value sent about once", settled)
	}
	t.Logf("%d statuses sent; GitHub shows %q; A's store %q; B's store %q", settled, a.ghStatuses(sha(1))[context],
		a.storeStatuses(sha(1))[context], b.storeStatuses(sha(1))[context])

	// Both restart (new bridges on the same stores): each finds its value
	// in GitHub's history, and sends nothing again.
	ba, bb = a.newBridge(opts()), b.newBridge(opts())
	for range 3 {
		round()
	}
	if got := posts(); got != settled {
		t.Errorf("%d statuses sent again after a restart", got-settled)
	}
}
