package ci_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// faultyStore makes transactions on chosen branches fail, as a store that
// lost its connection would.
type faultyStore struct {
	dkstore.Store
	mu       sync.Mutex
	failures map[dkstore.BranchName]int // how many more transactions fail
	failed   map[dkstore.BranchName]int // how many did
}

var errInjected = errors.New("injected failure")

func newFaultyStore(s dkstore.Store) *faultyStore {
	return &faultyStore{Store: s, failures: map[dkstore.BranchName]int{}, failed: map[dkstore.BranchName]int{}}
}

// failNext makes the next n transactions on branch fail.
func (s *faultyStore) failNext(branch dkstore.BranchName, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[branch] = n
}

func (s *faultyStore) failedOn(branch dkstore.BranchName) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[branch]
}

func (s *faultyStore) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(name)
	if err != nil {
		return nil, err
	}
	return faultyBranch{b, s}, nil
}

// Close leaves the store open: RunConnected closes its store after each
// connection, the test's cleanup closes the real one.
func (s *faultyStore) Close() error { return nil }

type faultyBranch struct {
	dkstore.Branch
	s *faultyStore
}

func (b faultyBranch) Transaction(ctx context.Context, opts dkstore.TxOptions) (dkstore.Transaction, error) {
	b.s.mu.Lock()
	fail := b.s.failures[b.Name()] > 0
	if fail {
		b.s.failures[b.Name()]--
		b.s.failed[b.Name()]++
	}
	b.s.mu.Unlock()
	if fail {
		return nil, errInjected
	}
	return b.Branch.Transaction(ctx, opts)
}

func memStore(t *testing.T) dkstore.Store {
	s := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { s.Close() })
	return s
}

// headOf returns the head of branch and the commit there.
func headOf(t *testing.T, s dkstore.Store, branch dkstore.BranchName) (dkstore.CommitID, dkstore.Commit) {
	t.Helper()
	ctx := context.Background()
	br, err := s.Branch(branch)
	if err != nil {
		t.Fatal(err)
	}
	h, err := br.Head(ctx)
	if err != nil || h.IsZero() {
		t.Fatalf("branch %s: head %v, %v", branch, h, err)
	}
	c, err := s.Commit(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	return h, c
}

// readAt reads file p at the head of branch ("" if absent).
func readAt(t *testing.T, s dkstore.Store, branch dkstore.BranchName, p string) string {
	t.Helper()
	ctx := context.Background()
	_, c := headOf(t, s, branch)
	tree, err := s.Tree(ctx, c.Tree)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tree.ReadFile(ctx, dkstore.Path(p))
	if err != nil {
		return ""
	}
	return string(b)
}

func oneJob(repo string, jobs func(ci.Target) ci.Jobs) ci.Config {
	return ci.Config{Projects: []ci.Project{{Repo: repo, Jobs: jobs}}}
}

// Status branches and commit index entries are named as in reference 6.4:
// the ref's first component, then the rest, '/' included, escaped. Names
// Git would refuse get their dots escaped instead of failing forever.
func TestStatusBranchAndIndexNames(t *testing.T) {
	for _, c := range []struct {
		name   string
		repo   string
		target func(h *citest.Harness)
		branch dkstore.BranchName
		index  string
	}{
		{"pr", "me/p", func(h *citest.Harness) { h.OpenPR("me/p", 3907, sha1, "x") }, "status-me-p-pr-3907", "me/p/commit/" + sha1 + "/pr-3907"},
		{"branch", "me/p", func(h *citest.Harness) { h.SetBranch("me/p", "master", sha1) }, "status-me-p-ref-heads-master", "me/p/commit/" + sha1 + "/ref-heads-master"},
		{"nested branch", "me/my_repo", func(h *citest.Harness) { h.SetBranch("me/my_repo", "feature/x-y", sha1) },
			"status-me-my_5frepo-ref-heads-feature_2fx_2dy", "me/my_repo/commit/" + sha1 + "/ref-heads-feature_2fx_2dy"},
		{"tag", "my-org/p", func(h *citest.Harness) { h.SetTag("my-org/p", "v1.0", sha1) }, "status-my_2dorg-p-ref-tags-v1.0", "my-org/p/commit/" + sha1 + "/ref-tags-v1.0"},
		{"dot dot", "me/p", func(h *citest.Harness) { h.SetBranch("me/p", "a..b", sha1) }, "status-me-p-ref-heads-a_2e_2eb", "me/p/commit/" + sha1 + "/ref-heads-a..b"},
		{"lock", "me/p", func(h *citest.Harness) { h.SetBranch("me/p", "x.lock", sha1) }, "status-me-p-ref-heads-x_2elock", "me/p/commit/" + sha1 + "/ref-heads-x.lock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := citest.New(t, oneJob(c.repo, func(ci.Target) ci.Jobs { return ci.Jobs{"t": term.Return("ok")} }))
			c.target(h)
			h.Settle()
			head, _ := headOf(t, h.Store, c.branch)
			if got := readAt(t, h.Store, ci.CommitIndexBranch, c.index); got != head.String()+"\n" {
				t.Errorf("commit index %s = %q, want %s", c.index, got, head)
			}
		})
	}
}

// The job output JSON of the status branches is the original's:
// live logs {"branch"}, saved ones with all four fields, several as
// nested pairs.
func TestJobOutputJSON(t *testing.T) {
	saved := term.Log{Title: "Build", Branch: "docker-build-of-111", Commit: "abc"}
	failed := term.Log{Title: "Test", Branch: "shell-of-test", Commit: "def", Failed: true}
	live := term.Log{Title: "Fetch", Branch: "git-pull-of-111", Live: true}
	withLogs := func(logs ...term.Log) term.Term[string] {
		return term.New(func(*term.Ctx) term.Result[string] {
			return term.Result[string]{State: term.Success, Value: "a <b> & c", Logs: logs}
		})
	}
	const res = `{"result":{"status":"success","descr":"a <b> & c"},"logs":`
	for _, c := range []struct {
		job  string
		term term.Term[string]
		want string
	}{
		{"none", withLogs(), res + `null}`},
		{"nobranch", withLogs(term.Log{Title: "no branch"}), res + `null}`},
		{"saved", withLogs(saved), res + `{"title":"Build","branch":"docker-build-of-111","commit":"abc","failed":false}}`},
		{"live", withLogs(live), res + `{"branch":"git-pull-of-111"}}`},
		{"two", withLogs(live, failed), res + `[{"branch":"git-pull-of-111"},{"title":"Test","branch":"shell-of-test","commit":"def","failed":true}]}`},
		{"three", withLogs(live, saved, failed), res + `[[{"branch":"git-pull-of-111"},{"title":"Build","branch":"docker-build-of-111","commit":"abc","failed":false}],{"title":"Test","branch":"shell-of-test","commit":"def","failed":true}]}`},
	} {
		t.Run(c.job, func(t *testing.T) {
			h := citest.New(t, oneJob("me/p", func(ci.Target) ci.Jobs { return ci.Jobs{c.job: c.term} }))
			h.SetBranch("me/p", "master", sha1)
			h.Settle()
			if got := readAt(t, h.Store, "status-me-p-ref-heads-master", "job/"+c.job+"/output"); got != c.want+"\n" {
				t.Errorf("output = %s\nwant     %s", got, c.want)
			}
		})
	}
}

// The commit messages of status updates are the original's, naming
// targets by their metadata directory.
func TestStatusCommitMessages(t *testing.T) {
	jobs := func(tg ci.Target) ci.Jobs {
		if tg.IsPR() {
			return ci.Jobs{"a": term.Return("A")}
		}
		return ci.Jobs{"a": term.Return("A"), "b": term.Return("B")}
	}
	r := bridge.Repo{User: "me", Name: "p"}
	for _, c := range []struct {
		name   string
		update func(ctx context.Context, tx dkstore.Transaction) error
		want   string
	}{
		{"one status", func(ctx context.Context, tx dkstore.Transaction) error {
			return bridge.WritePR(ctx, tx, bridge.PR{Repo: r, Number: 7, Head: sha1, State: "open", Owner: "me"})
		}, "Set me/p/pr/7:a to A"},
		{"one target", func(ctx context.Context, tx dkstore.Transaction) error {
			return bridge.WriteRef(ctx, tx, bridge.Ref{Repo: r, Name: "heads/master", Head: sha1})
		}, "Update 2 jobs in me/p/ref/heads/master"},
		{"several targets", func(ctx context.Context, tx dkstore.Transaction) error {
			if err := bridge.WritePR(ctx, tx, bridge.PR{Repo: r, Number: 7, Head: sha1, State: "open", Owner: "me"}); err != nil {
				return err
			}
			return bridge.WriteRef(ctx, tx, bridge.Ref{Repo: r, Name: "tags/v1", Head: sha2})
		}, "2 updates\n\nSet me/p/pr/7:a to A\nUpdate 2 jobs in me/p/ref/tags/v1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := citest.New(t, oneJob("me/p", jobs))
			h.Update("bridge", c.update)
			h.Settle()
			if _, cm := headOf(t, h.Store, "github-metadata"); cm.Message != c.want {
				t.Errorf("message = %q, want %q", cm.Message, c.want)
			}
		})
	}
}

// A job named like a status value file cannot be stored: it is refused
// (and logged) instead of making every status flush fail.
func TestReservedJobNames(t *testing.T) {
	h := citest.New(t, oneJob("me/p", func(ci.Target) ci.Jobs {
		return ci.Jobs{"state": term.Return("x"), "description": term.Return("x"), "target_url": term.Return("x"), "ok": term.Return("fine")}
	}), citest.AllowBadJobs())
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "ok", ci.Success, "fine")
	if ts := h.Targets(); len(ts) != 1 || len(ts[0].Jobs) != 1 {
		t.Errorf("targets = %+v, want one with job ok only", ts)
	}
}

// When a target goes away, its pending statuses are cancelled unless
// another target tests the same commit with a job of the same name.
func TestCancelPerJobName(t *testing.T) {
	build, prOnly := citest.NewStep[string]("Building"), citest.NewStep[string]("Checking")
	h := citest.New(t, oneJob("me/p", func(tg ci.Target) ci.Jobs {
		if tg.IsPR() {
			return ci.Jobs{"build": build.Term(), "pr-check": prOnly.Term()}
		}
		return ci.Jobs{"build": build.Term()}
	}))
	h.SetBranch("me/p", "feature", sha1)
	h.OpenPR("me/p", 1, sha1, "Feature")
	h.Settle()
	h.ClosePR("me/p", 1)
	h.Settle()
	h.WantStatus("me/p", sha1, "build", ci.Pending, "Building")
	h.WantStatus("me/p", sha1, "pr-check", ci.Error, "Cancelled: PR 1 was closed")
}

// A failed status flush is retried; a finished job whose status could not
// be written yet keeps that status when its target goes away meanwhile,
// rather than being reported cancelled or lost.
func TestFlushRetried(t *testing.T) {
	store := memStore(t)
	faulty := newFaultyStore(store)
	h := citest.New(t, oneJob("me/p", func(tg ci.Target) ci.Jobs { return ci.Jobs{"t": term.Return("Passed")} }), citest.WithStore(faulty))
	h.Store = store // the test's own updates do not fail
	h.Settle()

	faulty.failNext("github-metadata", 2)
	h.SetBranch("me/p", "feature", sha1)
	deadline := time.Now().Add(5 * time.Second)
	for faulty.failedOn("github-metadata") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the engine never tried to write the status")
		}
		time.Sleep(time.Millisecond)
	}
	h.DeleteBranch("me/p", "feature")
	h.Settle()
	h.WantStatus("me/p", sha1, "t", ci.Success, "Passed")
	if n := faulty.failedOn("github-metadata"); n != 2 {
		t.Errorf("%d failed attempts, want 2", n)
	}
}

// The commit index is retried too when its commit fails.
func TestCommitIndexRetried(t *testing.T) {
	store := memStore(t)
	faulty := newFaultyStore(store)
	faulty.failNext(ci.CommitIndexBranch, 1)
	faulty.failNext("status-me-p-ref-heads-master", 1)
	h := citest.New(t, hello2("me/p"), citest.WithStore(faulty))
	h.Store = store
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	head, _ := headOf(t, store, "status-me-p-ref-heads-master")
	if got := readAt(t, store, ci.CommitIndexBranch, "me/p/commit/"+sha1+"/ref-heads-master"); got != head.String()+"\n" {
		t.Errorf("commit index entry = %q, want %s", got, head)
	}
	if faulty.failedOn(ci.CommitIndexBranch)+faulty.failedOn("status-me-p-ref-heads-master") != 2 {
		t.Errorf("injected failures not all hit")
	}
}

func hello2(repo string) ci.Config {
	return oneJob(repo, func(ci.Target) ci.Jobs { return ci.Jobs{"t": term.Return("ok")} })
}

// The same engine run again (a reconnection) reloads from the store:
// nothing is written twice, what changed meanwhile is handled, and a
// status someone else changed meanwhile is written again.
func TestRunAgain(t *testing.T) {
	store := memStore(t)
	step := citest.NewStep[string]("Building")
	cfg := oneJob("me/p", func(ci.Target) ci.Jobs { return ci.Jobs{"build": step.Term(), "lint": term.Return("Lint OK")} })
	e, err := ci.NewEngine(cfg, ci.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx, store) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	settle := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Settle(ctx, store); err != nil {
			t.Fatalf("Settle: %v", err)
		}
	}
	h := citest.New(t, cfg, citest.WithStore(store)) // for its helpers only
	h.Stop()

	stop := run()
	h.SetBranch("me/p", "master", sha1)
	h.OpenPR("me/p", 1, sha2, "PR")
	settle()
	stop()
	meta, _ := headOf(t, store, "github-metadata")
	hist, _ := headOf(t, store, "status-me-p-ref-heads-master")

	stop = run()
	settle()
	if m, c := headOf(t, store, "github-metadata"); m != meta {
		t.Errorf("running again wrote to the metadata: %q", c.Message)
	}
	if s, _ := headOf(t, store, "status-me-p-ref-heads-master"); s != hist {
		t.Errorf("running again recorded history again")
	}
	stop()

	// meanwhile: the PR is closed, master's lint status is overwritten
	h.ClosePR("me/p", 1)
	h.SetStatus("me/p", sha1, "ci/datakit/lint", ci.Failure, "tampered", "")
	stop = run()
	settle()
	h.WantStatus("me/p", sha1, "lint", ci.Success, "Lint OK")
	h.WantStatus("me/p", sha2, "build", ci.Error, "Cancelled: PR 1 was closed")
	h.WantStatus("me/p", sha1, "build", ci.Pending, "Building")
	step.Succeed("Built")
	settle()
	h.WantStatus("me/p", sha1, "build", ci.Success, "Built")
	stop()
}

// RunConnected keeps trying to connect, and runs once connected.
func TestRunConnectedRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a reconnection backoff")
	}
	store := memStore(t)
	e, err := ci.NewEngine(hello2("me/p"), ci.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := citest.New(t, hello2("me/p"), citest.WithStore(store)) // for its helpers only
	h.Stop()
	var mu sync.Mutex
	attempts := 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.RunConnected(ctx, func(context.Context) (dkstore.Store, error) {
			mu.Lock()
			defer mu.Unlock()
			attempts++
			if attempts == 1 {
				return nil, errors.New("connection refused")
			}
			return newFaultyStore(store), nil
		})
	}()
	h.SetBranch("me/p", "master", sha1)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := e.Settle(sctx, store); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	h.WantStatus("me/p", sha1, "t", ci.Success, "ok")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunConnected: %v", err)
	}
}

// Jobs asked again for a new title may drop a job: its pending status is
// cancelled, and the status branch says "Remove old job X".
func TestJobSetChanges(t *testing.T) {
	wip := citest.NewStep[string]("Waiting for the WIP to end")
	h := citest.New(t, oneJob("me/p", func(tg ci.Target) ci.Jobs {
		jobs := ci.Jobs{"build": term.Return("Built")}
		if strings.HasPrefix(tg.Title, "WIP") {
			jobs["wip"] = wip.Term()
		}
		if strings.HasSuffix(tg.Title, "#") {
			jobs["title"] = term.Return(tg.Title)
		}
		return jobs
	}))
	history := func() string {
		_, c := headOf(t, h.Store, "status-me-p-pr-1")
		return c.Message
	}
	for _, c := range []struct {
		title   string
		wip     string // its status: "" for pending, else error's description
		history string
	}{
		{"WIP: a", "", "2 updates (build, wip)\n\nbuild -> Built\nwip -> Waiting for the WIP to end"},
		{"a", "Cancelled: wip is no longer a job of PR 1", "Remove old job wip"},
		{"WIP: b", "", "wip -> Waiting for the WIP to end"},
		{"c #", "Cancelled: wip is no longer a job of PR 1", "2 updates (title, wip)\n\ntitle -> c #\nRemove old job wip"},
	} {
		h.OpenPR("me/p", 1, sha1, c.title)
		h.Settle()
		if c.wip == "" {
			h.WantStatus("me/p", sha1, "wip", ci.Pending, "Waiting for the WIP to end")
		} else {
			h.WantStatus("me/p", sha1, "wip", ci.Error, c.wip)
		}
		if got := history(); got != c.history {
			t.Errorf("title %q: status branch message = %q, want %q", c.title, got, c.history)
		}
	}
	if got := readAt(t, h.Store, "status-me-p-pr-1", "job/wip/output"); got != "" {
		t.Errorf("job/wip/output still there: %s", got)
	}
}

// A PR closed then reopened at the same head, and a branch deleted then
// created again at the same head: the work is cancelled, then started
// again in a new environment.
func TestCloseReopen(t *testing.T) {
	var steps []*citest.Step[string]
	h := citest.New(t, oneJob("me/p", func(ci.Target) ci.Jobs {
		s := citest.NewStep[string]("Building")
		steps = append(steps, s)
		return ci.Jobs{"build": s.Term()}
	}))
	for _, c := range []struct {
		name          string
		open, close   func()
		head, reason  string
		wantJobsCalls int
	}{
		{"pr", func() { h.OpenPR("me/p", 1, sha1, "x") }, func() { h.ClosePR("me/p", 1) }, sha1, "PR 1 was closed", 2},
		{"branch", func() { h.SetBranch("me/p", "b", sha2) }, func() { h.DeleteBranch("me/p", "b") }, sha2, "branch b was deleted", 2},
		{"tag", func() { h.SetTag("me/p", "v1", sha3) }, func() { h.DeleteTag("me/p", "v1") }, sha3, "tag v1 was deleted", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			steps = nil
			c.open()
			h.Settle()
			c.close()
			h.Settle()
			h.WantStatus("me/p", c.head, "build", ci.Error, "Cancelled: "+c.reason)
			c.open()
			h.Settle()
			h.WantStatus("me/p", c.head, "build", ci.Pending, "Building")
			if len(steps) != c.wantJobsCalls {
				t.Fatalf("Jobs called %d times, want %d", len(steps), c.wantJobsCalls)
			}
			if got := steps[0].Cancelled(); len(got) != 1 || got[0] != c.reason {
				t.Errorf("first work cancelled = %q, want %q", got, c.reason)
			}
			if got := steps[1].Cancelled(); len(got) != 1 || got[0] != "" {
				t.Errorf("second work cancelled = %q, want running", got)
			}
			steps[1].Succeed("Built")
			h.Settle()
			h.WantStatus("me/p", c.head, "build", ci.Success, "Built")
			// gone and back with the job done: nothing to write
			c.close()
			h.Settle()
			c.open()
			h.Settle()
			h.WantStatus("me/p", c.head, "build", ci.Pending, "Building")
		})
	}
}

// Invalid data in the metadata is skipped; valid targets are tested, and
// fixing the data brings the target in.
func TestInvalidMetadata(t *testing.T) {
	h := citest.New(t, hello2("me/p"))
	h.Update("garbage", func(ctx context.Context, tx dkstore.Transaction) error {
		for p, v := range map[string]string{
			"me/p/pr/1/head": "not a sha\n", "me/p/pr/1/state": "open\n", "me/p/pr/1/owner": "me\n",
			"me/p/pr/2/head": sha2 + "\n", "me/p/pr/2/state": "weird\n", "me/p/pr/2/owner": "me\n",
			"me/p/pr/3/head": sha3 + "\n", "me/p/pr/3/state": "open\n", // no owner
			"me/p/pr/04/head": sha3 + "\n", "me/p/pr/04/state": "open\n", "me/p/pr/04/owner": "me\n",
			"me/p/ref/heads/x/head":                     "zz\n",
			"me/p/ref/heads/ok/head":                    strings.ToUpper(sha1) + "\n",
			"me/p/ref/tags":                             "a file where a directory belongs\n",
			"me/p/commit/xyz/status/ci/datakit/t/state": "success\n",
		} {
			if err := tx.WriteFile(ctx, dkstore.Path(p), []byte(v), dkstore.KindFile); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
	h.Settle()
	if ts := h.Targets(); len(ts) != 1 || ts[0].Target.ID != ci.Branch("me/p", "ok") {
		t.Errorf("targets = %+v, want only branch ok", ts)
	}
	h.WantStatus("me/p", sha1, "t", ci.Success, "ok")
	h.Update("fix", func(ctx context.Context, tx dkstore.Transaction) error {
		return tx.WriteFile(ctx, "me/p/pr/3/owner", []byte("me\n"), dkstore.KindFile)
	})
	h.Settle()
	h.WantStatus("me/p", sha3, "t", ci.Success, "ok")
}

// A Jobs function returning nil or panicking gives targets with no jobs;
// the engine carries on.
func TestJobsNilOrPanicking(t *testing.T) {
	h := citest.New(t, oneJob("me/p", func(tg ci.Target) ci.Jobs {
		switch {
		case tg.IsPR():
			panic("no jobs for PRs")
		case tg.IsTag():
			return nil
		}
		return ci.Jobs{"t": term.Return("ok")}
	}), citest.AllowBadJobs())
	h.OpenPR("me/p", 1, sha1, "x")
	h.SetTag("me/p", "v1", sha2)
	h.SetBranch("me/p", "master", sha3)
	h.Settle()
	h.WantNoStatus("me/p", sha1, "t")
	h.WantNoStatus("me/p", sha2, "t")
	h.WantStatus("me/p", sha3, "t", ci.Success, "ok")
	if n := len(h.Targets()); n != 3 {
		t.Errorf("%d targets, want 3", n)
	}
}

// Thousands of jobs on a target are written in one commit.
func TestManyJobs(t *testing.T) {
	const n = 2000
	h := citest.New(t, oneJob("me/p", func(ci.Target) ci.Jobs {
		jobs := ci.Jobs{}
		for i := 0; i < n; i++ {
			jobs[fmt.Sprintf("job-%d", i)] = term.Return(fmt.Sprintf("ok %d", i))
		}
		return jobs
	}))
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	if _, c := headOf(t, h.Store, "github-metadata"); c.Message != fmt.Sprintf("Update %d jobs in me/p/ref/heads/master", n) {
		t.Errorf("message = %q", c.Message)
	}
	h.WantStatus("me/p", sha1, "job-1999", ci.Success, "ok 1999")
	_, c := headOf(t, h.Store, "status-me-p-ref-heads-master")
	subject, _, _ := strings.Cut(c.Message, "\n")
	if want := fmt.Sprintf("%d updates (job-0, job-1, job-10, job-100, job-1000, job-1001, job-1002, job-1003, job-1004, job-1005, ...)", n); subject != want {
		t.Errorf("status branch message's subject = %q, want %q", subject, want)
	}
}

// A panicking term gives status error, and the others are still written.
func TestPanicInTermIsolated(t *testing.T) {
	h := citest.New(t, oneJob("me/p", func(ci.Target) ci.Jobs {
		return ci.Jobs{
			"boom": term.New(func(*term.Ctx) term.Result[string] { panic(errors.New("nil map")) }),
			"ok":   term.Return("fine"),
		}
	}))
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "boom", ci.Error, "panic: nil map")
	h.WantStatus("me/p", sha1, "ok", ci.Success, "fine")
}

// A status read for a commit given in upper case is re-evaluated when that
// status changes: the dependency is on the path the metadata uses.
func TestStatusOfUpperCaseCommit(t *testing.T) {
	h := citest.New(t, oneJob("me/p", func(tg ci.Target) ci.Jobs {
		c := ci.Commit{Repo: tg.ID.Repo, Hash: strings.ToUpper(tg.Head)}
		return ci.Jobs{"deploy": ci.SuccessTargetURL("ci/circleci", term.Return(c))}
	}))
	h.SetBranch("me/p", "master", "abcdef")
	h.Settle()
	h.WantStatus("me/p", "abcdef", "deploy", ci.Pending, "Waiting for ci/circleci status to appear")
	h.SetStatus("me/p", "abcdef", "ci/circleci", ci.Success, "", "https://circle/1")
	h.Settle()
	h.WantStatus("me/p", "abcdef", "deploy", ci.Success, "https://circle/1")
}

// slowHeadStore's first Head call reads the head, then waits for release
// before returning it: a caller that looked at the head just before the
// engine moved on.
type slowHeadStore struct {
	dkstore.Store
	once    sync.Once
	release func()
}

func (s *slowHeadStore) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(name)
	return slowHeadBranch{b, s}, err
}

type slowHeadBranch struct {
	dkstore.Branch
	s *slowHeadStore
}

func (b slowHeadBranch) Head(ctx context.Context) (dkstore.CommitID, error) {
	h, err := b.Branch.Head(ctx)
	b.s.once.Do(b.s.release)
	return h, err
}

// Settle must not wait forever when the head it read is already behind
// the engine: it used to read the head, then compare it with what the
// engine had seen, and the engine could have moved past it (writing its
// statuses) in between, never to publish again.
func TestSettleHeadBehindEngine(t *testing.T) {
	store := memStore(t)
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := citest.New(t, oneJob("me/p", func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.New(func(*term.Ctx) term.Result[string] {
			once.Do(func() { close(entered); <-gate }) // the first evaluation waits
			return term.Result[string]{State: term.Success, Value: "ok"}
		})}
	}), citest.WithStore(store))
	h.Settle()
	h.SetBranch("me/p", "master", sha1)
	<-entered // the engine is evaluating, before writing the status
	slow := &slowHeadStore{Store: store}
	slow.release = func() {
		// After the head was read: let the engine write its status and
		// process its own commit, and wait until it has.
		close(gate)
		h.Settle()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Engine.Settle(ctx, slow); err != nil {
		t.Fatalf("Settle with a head read before the engine moved on: %v", err)
	}
	h.WantStatus("me/p", sha1, "t", ci.Success, "ok")
}
