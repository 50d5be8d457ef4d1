package ci_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
	sha3 = "3333333333333333333333333333333333333333"
)

func hello() ci.Config {
	return ci.Config{Projects: []ci.Project{{
		Repo: "me/my-project",
		Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"my-test": term.Return("Success!")} },
	}}}
}

func TestSimple(t *testing.T) {
	h := citest.New(t, hello())
	h.OpenPR("me/my-project", 7, sha1, "Fix the thing")
	h.SetBranch("me/my-project", "master", sha2)
	h.Settle()
	h.WantStatus("me/my-project", sha1, "my-test", ci.Success, "Success!")
	h.WantStatus("me/my-project", sha2, "my-test", ci.Success, "Success!")
	st, _ := h.Status("me/my-project", sha1, "my-test")
	if want := "http://127.0.0.1:8080/me/my-project/commit/" + sha1 + "?test=my-test"; st.TargetURL != want {
		t.Errorf("target URL = %q, want %q", st.TargetURL, want)
	}
	if n := len(h.Targets()); n != 2 {
		t.Errorf("%d targets, want 2", n)
	}
}

func TestBranchHeadMoves(t *testing.T) {
	h := citest.New(t, hello())
	h.SetBranch("me/my-project", "master", sha1)
	h.Settle()
	h.WantStatus("me/my-project", sha1, "my-test", ci.Success, "Success!")
	h.SetBranch("me/my-project", "master", sha2)
	h.Settle()
	h.WantStatus("me/my-project", sha2, "my-test", ci.Success, "Success!")
	// the old commit keeps its (finished) status
	h.WantStatus("me/my-project", sha1, "my-test", ci.Success, "Success!")
}

func TestPendingSequence(t *testing.T) {
	step := citest.NewStep[string]("Get key")
	cfg := ci.Config{Projects: []ci.Project{{
		Repo: "me/p",
		Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"test": step.Term()} },
	}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "test", ci.Pending, "Get key")
	step.Pend("Paused")
	h.Settle()
	h.WantStatus("me/p", sha1, "test", ci.Pending, "Paused")
	step.Pend("Get key")
	h.Settle()
	h.WantStatus("me/p", sha1, "test", ci.Pending, "Get key")
	step.Succeed("Done")
	h.Settle()
	h.WantStatus("me/p", sha1, "test", ci.Success, "Done")
}

func TestCrossProject(t *testing.T) {
	evals := 0
	cfg := ci.Config{Projects: []ci.Project{
		{Repo: "me/app", Jobs: func(ci.Target) ci.Jobs {
			lib := ci.BranchHead("me/lib", "master")
			return ci.Jobs{"with-lib": term.Map(lib, func(c ci.Commit) string { evals++; return "Tested with lib " + c.Short() })}
		}},
		{Repo: "me/lib", Jobs: func(ci.Target) ci.Jobs { return nil }},
	}}
	h := citest.New(t, cfg)
	h.SetBranch("me/app", "master", sha1)
	h.Settle()
	h.WantStatus("me/app", sha1, "with-lib", ci.Failure, "Target me/lib/heads/master does not exist")
	h.SetBranch("me/lib", "master", sha2)
	h.Settle()
	h.WantStatus("me/app", sha1, "with-lib", ci.Success, "Tested with lib 2222222")
	h.SetBranch("me/lib", "master", sha3)
	h.Settle()
	h.WantStatus("me/app", sha1, "with-lib", ci.Success, "Tested with lib 3333333")
	// an unrelated change does not re-evaluate the job
	before := evals
	h.SetBranch("me/lib", "other", sha1)
	h.Settle()
	if evals != before {
		t.Errorf("unrelated branch re-evaluated the job (%d evaluations, want %d)", evals, before)
	}
}

func TestSuccessTargetURL(t *testing.T) {
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		url := ci.SuccessTargetURL("ci/circleci", term.Return(tg.Commit()))
		return ci.Jobs{"deploy": term.Map(url, func(u string) string { return "Deployed " + u })}
	}}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "deploy", ci.Pending, "Waiting for ci/circleci status to appear")
	h.SetStatus("me/p", sha1, "ci/circleci", ci.Pending, "Running", "")
	h.Settle()
	h.WantStatus("me/p", sha1, "deploy", ci.Pending, "Waiting for ci/circleci to complete (Running)")
	h.SetStatus("me/p", sha1, "ci/circleci", ci.Failure, "Tests failed", "")
	h.Settle()
	h.WantStatus("me/p", sha1, "deploy", ci.Failure, "ci/circleci failed (Tests failed)")
	h.SetStatus("me/p", sha1, "ci/circleci", ci.Error, "", "")
	h.Settle()
	h.WantStatus("me/p", sha1, "deploy", ci.Failure, "ci/circleci errored")
	h.SetStatus("me/p", sha1, "ci/circleci", ci.Success, "", "")
	h.Settle()
	h.WantStatus("me/p", sha1, "deploy", ci.Failure, "ci/circleci succeeded, but has no URL!")
	h.SetStatus("me/p", sha1, "ci/circleci", ci.Success, "", "https://circle/1")
	h.Settle()
	h.WantStatus("me/p", sha1, "deploy", ci.Success, "Deployed https://circle/1")
}

// A PR whose head moves while its job is running: the work for the old
// head is cancelled with the reason, the old commit's status says so, and
// the new head gets its own job.
func TestCancelOnHeadMove(t *testing.T) {
	var steps []*citest.Step[string]
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		s := citest.NewStep[string]("Building")
		steps = append(steps, s)
		return ci.Jobs{"build": s.Term()}
	}}}}
	h := citest.New(t, cfg)
	h.OpenPR("me/p", 3, sha1, "Change")
	h.Settle()
	h.WantStatus("me/p", sha1, "build", ci.Pending, "Building")
	h.MoveHead("me/p", 3, sha2)
	h.Settle()
	h.WantStatus("me/p", sha1, "build", ci.Error, "Cancelled: PR 3 head moved to 2222222")
	h.WantStatus("me/p", sha2, "build", ci.Pending, "Building")
	if len(steps) != 2 {
		t.Fatalf("Jobs called %d times, want 2", len(steps))
	}
	if got := steps[0].Cancelled(); len(got) != 1 || got[0] != "PR 3 head moved to 2222222" {
		t.Errorf("old head's work cancelled = %q", got)
	}
	if got := steps[1].Cancelled(); len(got) != 1 || got[0] != "" {
		t.Errorf("new head's work cancelled = %q, want running", got)
	}
	// finishing the old step changes nothing
	steps[0].Succeed("late")
	steps[1].Succeed("Built")
	h.Settle()
	h.WantStatus("me/p", sha1, "build", ci.Error, "Cancelled: PR 3 head moved to 2222222")
	h.WantStatus("me/p", sha2, "build", ci.Success, "Built")

	h.ClosePR("me/p", 3)
	h.Settle()
	if n := len(h.Targets()); n != 0 {
		t.Errorf("%d targets after closing the PR, want 0", n)
	}
}

func TestTargetRemovedCancelsWork(t *testing.T) {
	step := citest.NewStep[string]("Building")
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"build": step.Term()} }}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "feature", sha1)
	h.Settle()
	h.DeleteBranch("me/p", "feature")
	h.Settle()
	h.WantStatus("me/p", sha1, "build", ci.Error, "Cancelled: branch feature was deleted")
	if got := step.Cancelled(); len(got) != 1 || got[0] != "branch feature was deleted" {
		t.Errorf("cancelled = %q", got)
	}
}

func TestSharedHeadNotCancelled(t *testing.T) {
	step := citest.NewStep[string]("Building")
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"build": step.Term()} }}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "feature", sha1)
	h.OpenPR("me/p", 1, sha1, "Feature")
	h.Settle()
	h.ClosePR("me/p", 1)
	h.Settle()
	// the branch still tests sha1: its status stays pending
	h.WantStatus("me/p", sha1, "build", ci.Pending, "Building")
}

func TestCanary(t *testing.T) {
	h := citest.New(t, hello(), citest.WithOptions(ci.Options{Canaries: []ci.TargetID{ci.Branch("me/my-project", "master")}}))
	h.SetBranch("me/my-project", "master", sha1)
	h.OpenPR("me/my-project", 2, sha2, "Not a canary")
	h.Settle()
	h.WantStatus("me/my-project", sha1, "my-test", ci.Success, "Success!")
	h.WantNoStatus("me/my-project", sha2, "my-test")
}

func TestHistory(t *testing.T) {
	step := citest.NewStep[string]("Building")
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"build": step.Term(), "lint": term.Return("Lint OK")}
	}}}}
	h := citest.New(t, cfg)
	h.OpenPR("me/p", 3907, sha1, "Change")
	h.Settle()
	step.Succeed("Built")
	h.Settle()
	ctx := context.Background()
	br, _ := h.Store.Branch("status-me-p-pr-3907")
	head, err := br.Head(ctx)
	if err != nil || head.IsZero() {
		t.Fatalf("status branch head = %v, %v", head, err)
	}
	c, _ := h.Store.Commit(ctx, head)
	if c.Message != "build -> Built" {
		t.Errorf("last history message = %q, want %q", c.Message, "build -> Built")
	}
	parent, _ := h.Store.Commit(ctx, c.Parents[0])
	if want := "2 updates (build, lint)\n\nbuild -> Building\nlint -> Lint OK"; parent.Message != want {
		t.Errorf("first history message = %q, want %q", parent.Message, want)
	}
	tree, _ := h.Store.Tree(ctx, c.Tree)
	src, _ := tree.ReadFile(ctx, "source-commit")
	if string(src) != sha1+"\n" {
		t.Errorf("source-commit = %q", src)
	}
	out, _ := tree.ReadFile(ctx, "job/build/output")
	var o ci.JobOutput
	if err := json.Unmarshal(out, &o); err != nil || o.Result.Status != "success" || o.Result.Descr != "Built" || string(o.Logs) != "null" {
		t.Errorf("job/build/output = %s (%v)", out, err)
	}
	if _, err := tree.ReadFile(ctx, "metadata-commit"); err != nil {
		t.Errorf("metadata-commit: %v", err)
	}
	// the commit index points at the status branch's commit
	ib, _ := h.Store.Branch(ci.CommitIndexBranch)
	ih, _ := ib.Head(ctx)
	ic, _ := h.Store.Commit(ctx, ih)
	itree, _ := h.Store.Tree(ctx, ic.Tree)
	idx, err := itree.ReadFile(ctx, dkstore.Path("me/p/commit/"+sha1+"/pr-3907"))
	if err != nil || strings.TrimSpace(string(idx)) != head.String() {
		t.Errorf("commit index = %q, %v; want %s", idx, err, head)
	}
}

func TestStatusBranchNames(t *testing.T) {
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/my_repo", Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"t": term.Return("ok")} }}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/my_repo", "feature/x-y", sha1)
	h.Settle()
	branches, _ := h.Store.Branches(context.Background())
	// the ref's first component, then the rest with its '/' escaped
	want := dkstore.BranchName("status-me-my_5frepo-ref-heads-feature_2fx_2dy")
	found := false
	for _, b := range branches {
		found = found || b == want
	}
	if !found {
		t.Errorf("branches = %v, want one named %s", branches, want)
	}
}

func TestDescriptionTrimmed(t *testing.T) {
	long := strings.Repeat("x", 200)
	cmd := `Command "sh" "-c" "` + strings.Repeat("y", 200) + `" exited with status 1`
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.Failf[string]("%s", long), "multi": term.Failf[string]("first line\nsecond"),
			"check": term.Failf[string]("%s: no license header in ./extra.go", cmd)}
	}}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "t", ci.Failure, strings.Repeat("x", 40)+"…"+strings.Repeat("x", 99))
	// The reason, at the end, survives; the command is abbreviated.
	h.WantStatus("me/p", sha1, "check", ci.Failure, cmd[:139-len(": no license header in ./extra.go")]+"…: no license header in ./extra.go")
	h.WantStatus("me/p", sha1, "multi", ci.Failure, "first line…")
}

func TestPanickingJob(t *testing.T) {
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"boom": term.Map(term.Return(0), func(int) string { panic("oops") })}
	}}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "boom", ci.Error, "panic: oops")
}

// TestRestart stops the CI with work in flight and starts it again on the
// same store: no status is lost, none is written twice, and the status
// branches get no duplicate commits.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() }) // after the harnesses stop
	step := citest.NewStep[string]("Building")
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"build": step.Term(), "lint": term.Return("Lint OK")}
	}}}}
	meta := func() dkstore.CommitID {
		br, _ := store.Branch("github-metadata")
		h, _ := br.Head(ctx)
		return h
	}
	statusHead := func() dkstore.CommitID {
		br, _ := store.Branch("status-me-p-ref-heads-master")
		h, _ := br.Head(ctx)
		return h
	}

	h1 := citest.New(t, cfg, citest.WithStore(store))
	h1.SetBranch("me/p", "master", sha1)
	h1.Settle()
	h1.WantStatus("me/p", sha1, "build", ci.Pending, "Building")
	h1.OpenPR("me/p", 5, sha2, "Stopped before it was seen")
	h1.Stop() // possibly before the PR was evaluated

	m0, s0 := meta(), statusHead()
	h2 := citest.New(t, cfg, citest.WithStore(store))
	h2.Settle()
	// the PR's statuses are there (none lost) ...
	h2.WantStatus("me/p", sha2, "lint", ci.Success, "Lint OK")
	// ... and master's, unchanged, were not written again
	h2.WantStatus("me/p", sha1, "build", ci.Pending, "Building")
	if s := statusHead(); s != s0 {
		t.Errorf("master's status branch moved on restart with nothing new (%s -> %s)", s0, s)
	}
	var count int
	for id := meta(); id != m0 && !id.IsZero(); count++ {
		c, _ := store.Commit(ctx, id)
		if strings.Contains(c.Message, "heads/master") {
			t.Errorf("restart rewrote master's statuses: %q", c.Message)
		}
		id = c.Parents[0]
	}
	h2.Stop()

	// a restart after the build finished, while the CI was down
	step.Succeed("Built")
	h3 := citest.New(t, cfg, citest.WithStore(store))
	h3.Settle()
	h3.WantStatus("me/p", sha1, "build", ci.Success, "Built")
	m1 := meta()
	h3.Stop()
	h4 := citest.New(t, cfg, citest.WithStore(store))
	h4.Settle()
	if m := meta(); m != m1 {
		c, _ := store.Commit(ctx, m)
		t.Errorf("a restart with nothing new wrote to the metadata: %q", c.Message)
	}
}

// TestHeadMovesDuringEvaluation: the bridge moves a PR's head while the
// engine is evaluating the old one. The old head's result is written (or
// cancelled), the new head gets evaluated, nothing is lost or crossed.
func TestHeadMovesDuringEvaluation(t *testing.T) {
	var h *citest.Harness
	moved := false
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"test": term.New(func(c *term.Ctx) term.Result[string] {
			if tg.Head == sha1 && !moved {
				moved = true
				// the bridge commits a new head right now, mid-round
				br, _ := h.Store.Branch("github-metadata")
				tx, _ := br.Transaction(context.Background(), dkstore.TxOptions{})
				repo, _ := bridge.ParseRepo("me/p")
				pr, _, _ := bridge.ReadPR(context.Background(), tx, repo, 1)
				pr.Head = sha2
				bridge.WritePR(context.Background(), tx, pr)
				if _, err := tx.Commit(context.Background(), "move during evaluation"); err != nil {
					t.Errorf("moving the head: %v", err)
				}
			}
			return term.Result[string]{State: term.Pending, Msg: "Testing " + tg.Commit().Short()}
		})}
	}}}}
	h = citest.New(t, cfg)
	h.OpenPR("me/p", 1, sha1, "Racy")
	h.Settle()
	h.WantStatus("me/p", sha2, "test", ci.Pending, "Testing 2222222")
	h.WantStatus("me/p", sha1, "test", ci.Error, "Cancelled: PR 1 head moved to 2222222")
	if ts := h.Targets(); len(ts) != 1 || ts[0].Target.Head != sha2 {
		t.Errorf("targets = %+v, want PR 1 at %s", ts, sha2)
	}
}

// A term that always depends on an event that has already fired does not
// spin the engine for ever: Settle returns.
func TestFiredEventDoesNotSpin(t *testing.T) {
	fired := term.NewEvent()
	fired.Fire()
	evals := 0
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.New(func(c *term.Ctx) term.Result[string] {
			evals++
			c.WakeOn(fired)
			return term.Result[string]{State: term.Pending, Msg: "spinning"}
		})}
	}}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "t", ci.Pending, "spinning")
	if evals > 200 {
		t.Errorf("%d evaluations", evals)
	}
}

// A status left pending by a CI that stopped, on a commit that is no
// longer any target's head when it starts again, is cancelled; the
// statuses of current heads, and other CIs' statuses, are left alone.
func TestStartupSweep(t *testing.T) {
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() })
	step := citest.NewStep[string]("Building")
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"build": step.Term()} }}}}
	h1 := citest.New(t, cfg, citest.WithStore(store))
	h1.SetBranch("me/p", "master", sha1)
	h1.SetStatus("me/p", sha1, "ci/other", ci.Pending, "Someone else's", "")
	h1.Settle()
	h1.WantStatus("me/p", sha1, "build", ci.Pending, "Building")
	h1.Stop()
	// while the CI is down, the branch moves on
	h1.SetBranch("me/p", "master", sha2)
	h2 := citest.New(t, cfg, citest.WithStore(store))
	h2.Settle()
	h2.WantStatus("me/p", sha1, "build", ci.Error, "Cancelled: 1111111 is no longer the head of any target")
	h2.WantStatus("me/p", sha2, "build", ci.Pending, "Building")
	ctx := context.Background()
	br, _ := store.Branch("github-metadata")
	head, _ := br.Head(ctx)
	c, _ := store.Commit(ctx, head)
	tree, _ := store.Tree(ctx, c.Tree)
	repo, _ := bridge.ParseRepo("me/p")
	if st, ok, err := bridge.ReadStatus(ctx, tree, repo, sha1, "ci/other"); err != nil || !ok || st.State != "pending" {
		t.Errorf("another CI's status was touched: %+v %v %v", st, ok, err)
	}
}

// The metadata branch deleted under a running CI: its targets go, nothing
// is written to a branch that is not there, Settle returns, and when the
// branch comes back the .monitor files are written again.
func TestMetadataBranchDeleted(t *testing.T) {
	h := citest.New(t, hello())
	h.SetBranch("me/my-project", "master", sha1)
	h.Settle()
	ctx := context.Background()
	br, _ := h.Store.Branch("github-metadata")
	if err := br.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	if n := len(h.Targets()); n != 0 {
		t.Errorf("%d targets with no metadata branch, want 0", n)
	}
	if head, _ := br.Head(ctx); !head.IsZero() {
		t.Errorf("the engine re-created the deleted branch (head %s)", head)
	}
	h.SetBranch("me/my-project", "master", sha2)
	h.Settle()
	h.WantStatus("me/my-project", sha2, "my-test", ci.Success, "Success!")
	head, _ := br.Head(ctx)
	c, _ := h.Store.Commit(ctx, head)
	tree, _ := h.Store.Tree(ctx, c.Tree)
	if _, err := tree.Stat(ctx, "me/my-project/.monitor"); err != nil {
		t.Errorf(".monitor not written again: %v", err)
	}
}

// A PR and a branch at the same commit share its statuses: when their jobs
// disagree, the PR's result is the status, whatever the order of
// evaluation; once the PR is closed, the branch's.
func TestSharedHeadPRWins(t *testing.T) {
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		if tg.IsPR() && tg.Title != "feat: good" {
			return ci.Jobs{"title": term.Failf[string]("bad PR title")}
		}
		return ci.Jobs{"title": term.Return("Title OK")}
	}}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "topic", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "title", ci.Success, "Title OK")
	h.OpenPR("me/p", 5, sha1, "stuff")
	h.Settle()
	h.WantStatus("me/p", sha1, "title", ci.Failure, "bad PR title")
	h.SetBranch("me/p", "other", sha1) // a branch evaluated later does not win
	h.Settle()
	h.WantStatus("me/p", sha1, "title", ci.Failure, "bad PR title")
	h.ClosePR("me/p", 5)
	h.Settle()
	h.WantStatus("me/p", sha1, "title", ci.Success, "Title OK")
}

// A status of ours that someone else overwrites (a bridge, a person) is
// set back to the job's result; our own writes cause no re-evaluation
// loop.
func TestOverwrittenStatusRestored(t *testing.T) {
	evals := 0
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.New(func(*term.Ctx) term.Result[string] {
			evals++
			return term.Result[string]{State: term.Success, Value: "ok"}
		})}
	}}}}
	h := citest.New(t, cfg)
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	before := evals
	h.SetStatus("me/p", sha1, "ci/datakit/t", ci.Failure, "forged", "")
	h.Settle()
	h.WantStatus("me/p", sha1, "t", ci.Success, "ok")
	if evals != before+1 {
		t.Errorf("%d evaluations after the overwrite, want 1", evals-before)
	}
}

// TestNoJobsNoHistory: a target for which the project has no jobs (here
// tags) gets no status branch and no commit index entry; one that loses
// its jobs records their removal.
func TestNoJobsNoHistory(t *testing.T) {
	ctx := context.Background()
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		if tg.ID.Ref == "heads/master" || tg.ID.IsPR() && tg.Title != "no jobs" {
			return ci.Jobs{"build": term.Return("Built")}
		}
		return nil
	}}}}
	h := citest.New(t, cfg)
	h.SetTag("me/p", "v1.0", sha1)
	h.SetBranch("me/p", "master", sha2)
	h.OpenPR("me/p", 4, sha1, "has jobs")
	h.Settle()
	h.WantStatus("me/p", sha2, "build", ci.Success, "Built")
	heads := func(name dkstore.BranchName) dkstore.CommitID {
		br, err := h.Store.Branch(name)
		if err != nil {
			t.Fatal(err)
		}
		id, err := br.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	if id := heads("status-me-p-ref-tags-v1.0"); !id.IsZero() {
		t.Errorf("the tag, which has no jobs, got a status branch (head %s)", id)
	}
	if heads("status-me-p-ref-heads-master").IsZero() || heads("status-me-p-pr-4").IsZero() {
		t.Error("a target with jobs got no status branch")
	}
	if got := readAt(t, h.Store, ci.CommitIndexBranch, "me/p/commit/"+sha1+"/ref-tags-v1.0"); got != "" {
		t.Errorf("the tag, which has no jobs, is in the commit index (%q)", got)
	}
	if got := readAt(t, h.Store, ci.CommitIndexBranch, "me/p/commit/"+sha1+"/pr-4"); got == "" {
		t.Error("the PR is not in the commit index")
	}
	pr := heads("status-me-p-pr-4")
	h.Update("Retitle", func(ctx context.Context, tx dkstore.Transaction) error {
		return tx.WriteFile(ctx, "me/p/pr/4/title", []byte("no jobs\n"), dkstore.KindFile)
	})
	h.Settle()
	if heads("status-me-p-pr-4") == pr {
		t.Error("the PR lost its jobs and its status branch did not record it")
	}
}

// TestCancelledSharedCommit: a PR and a branch test one commit, whose
// statuses are the PR's. When both move on in one update, the old
// commit's pending status is cancelled with the PR's reason; when only
// the PR moves, the branch's own pending status stays.
func TestCancelledSharedCommit(t *testing.T) {
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"test": term.Pendingf[string]("Testing %s", tg.Commit().Short())}
	}}}}
	h := citest.New(t, cfg)
	repo, _ := bridge.ParseRepo("me/p")
	h.OpenPR("me/p", 4, sha1, "Same as pr4")
	h.SetBranch("me/p", "pr4", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "test", ci.Pending, "Testing 1111111")
	h.Update("Move both", func(ctx context.Context, tx dkstore.Transaction) error {
		pr, _, err := bridge.ReadPR(ctx, tx, repo, 4)
		if err != nil {
			return err
		}
		pr.Head = sha2
		if err := bridge.WritePR(ctx, tx, pr); err != nil {
			return err
		}
		return tx.WriteFile(ctx, "me/p/ref/heads/pr4/head", []byte(sha2+"\n"), dkstore.KindFile)
	})
	h.Settle()
	h.WantStatus("me/p", sha1, "test", ci.Error, "Cancelled: PR 4 head moved to 2222222")

	h.SetBranch("me/p", "other", sha2)
	h.Settle()
	h.MoveHead("me/p", 4, sha3)
	h.Settle()
	h.WantStatus("me/p", sha2, "test", ci.Pending, "Testing 2222222") // the branches' still
}
