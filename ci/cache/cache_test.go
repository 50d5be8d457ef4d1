package cache_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("time.Sleep")) }

const sha1 = "1111111111111111111111111111111111111111"

// fake is a builder whose steps the test scripts.
type fake struct {
	mu     sync.Mutex
	builds map[string]int
	gen    func(ctx context.Context, log *livelog.Log, key string) (string, error)
}

func newFake(gen func(ctx context.Context, log *livelog.Log, key string) (string, error)) *fake {
	return &fake{builds: map[string]int{}, gen: gen}
}

func (f *fake) Name() string             { return "fake" }
func (f *fake) Branch(key string) string { return "fake-of-" + key }
func (f *fake) Title(key string) string  { return "Fake build of " + key }
func (f *fake) count(key string) int     { f.mu.Lock(); defer f.mu.Unlock(); return f.builds[key] }
func (f *fake) Generate(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, key string) (string, error) {
	f.mu.Lock()
	f.builds[key]++
	f.mu.Unlock()
	v, err := f.gen(ctx, log, key)
	if err != nil {
		return "", err
	}
	return v, tx.WriteFile(ctx, "value", []byte(v), dkstore.KindFile)
}
func (f *fake) Load(ctx context.Context, tree dkstore.Tree, key string) (string, error) {
	b, err := tree.ReadFile(ctx, "value")
	return string(b), err
}

func config(jobs func(ci.Target) ci.Jobs) ci.Config {
	return ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: jobs}}}
}

func headOf(t *testing.T, s dkstore.Store, branch string) (dkstore.Commit, dkstore.Tree) {
	t.Helper()
	ctx := context.Background()
	br, _ := s.Branch(dkstore.BranchName(branch))
	h, err := br.Head(ctx)
	if err != nil || h.IsZero() {
		t.Fatalf("branch %s: head %v, %v", branch, h, err)
	}
	c, _ := s.Commit(ctx, h)
	tree, _ := s.Tree(ctx, c.Tree)
	return c, tree
}

// Two jobs needing the same step share one build; the result is saved with
// its log, and a restart (a new engine and cache on the same store)
// reuses it without building.
func TestSharedBuildAndRestart(t *testing.T) {
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() }) // after the harnesses stop (cleanups run last first)
	release := make(chan struct{})
	f := newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
		log.Write([]byte("compiling\n"))
		<-release
		return "built " + key, nil
	})
	c := cache.New[string, string](f, cache.Options{})
	jobs := func(ci.Target) ci.Jobs {
		step := c.Find("k1")
		return ci.Jobs{
			"a": term.Map(step, func(v string) string { return "a: " + v }),
			"b": term.Map(step, func(v string) string { return "b: " + v }),
		}
	}
	h := citest.New(t, config(jobs), citest.WithStore(store))
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	h.WantStatus("me/p", sha1, "a", ci.Pending, "Fake build of k1")
	close(release)
	h.WaitStatus("me/p", sha1, "a", ci.Success)
	h.WaitStatus("me/p", sha1, "b", ci.Success)
	h.WantStatus("me/p", sha1, "b", ci.Success, "b: built k1")
	if n := f.count("k1"); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
	cm, tree := headOf(t, store, "fake-of-k1")
	if cm.Message != "Cached successful result" {
		t.Errorf("result commit message = %q", cm.Message)
	}
	log, _ := tree.ReadFile(context.Background(), "log")
	lines := strings.Split(string(log), "\n")
	if len(lines) != 5 || lines[0] != "=== Fake build of k1" || !strings.HasSuffix(lines[1], "] Starting...") || lines[2] != "compiling" || !strings.HasSuffix(lines[3], "] Success") {
		t.Errorf("saved log = %q", log)
	}
	h.Stop()

	// restart: a new cache finds the saved result
	c2 := cache.New[string, string](f, cache.Options{})
	h2 := citest.New(t, config(func(ci.Target) ci.Jobs {
		return ci.Jobs{"a": term.Map(c2.Find("k1"), func(v string) string { return "a: " + v })}
	}), citest.WithStore(store))
	h2.Settle()
	h2.WantStatus("me/p", sha1, "a", ci.Success, "a: built k1")
	if n := f.count("k1"); n != 1 {
		t.Errorf("%d builds after the restart, want 1 (the result should be reused)", n)
	}
}

func TestFailureCachedAndRebuild(t *testing.T) {
	fails := true
	var mu sync.Mutex
	gate := make(chan struct{}) // holds the rebuild until both requests are in
	f := newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
		mu.Lock()
		failing := fails
		mu.Unlock()
		if failing {
			return "", errors.New("tests failed")
		}
		<-gate
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	st := h.WaitStatus("me/p", sha1, "t", ci.Failure)
	if st.Description != "tests failed" {
		t.Errorf("description = %q", st.Description)
	}
	cm, tree := headOf(t, h.Store, "fake-of-k")
	if cm.Message != "Cached failure: tests failed" {
		t.Errorf("message = %q", cm.Message)
	}
	if b, err := tree.ReadFile(context.Background(), "failure"); err != nil || string(b) != "tests failed\n" {
		t.Errorf("failure file = %q, %v", b, err)
	}
	mu.Lock()
	fails = false
	mu.Unlock()
	// two concurrent rebuild requests start one build
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Rebuild(context.Background(), h.Store, "k"); err != nil {
				t.Errorf("Rebuild: %v", err)
			}
		}()
	}
	wg.Wait()
	close(gate)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	if n := f.count("k"); n != 2 {
		t.Errorf("%d builds, want 2 (one, then one rebuild)", n)
	}
}

func TestCancelAndTimeout(t *testing.T) {
	started := make(chan struct{}, 1)
	f := newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
		started <- struct{}{}
		<-ctx.Done()
		return "", ctx.Err()
	})
	c := cache.New[string, string](f, cache.Options{})
	timed := cache.New[string, string](newFake(func(ctx context.Context, _ *livelog.Log, _ string) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}), cache.Options{Timeout: time.Second})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k"), "slow": timed.Find("s")} }))
	h.SetBranch("me/p", "master", sha1)
	<-started
	if c.Cancel("fake-of-nothing") {
		t.Error("Cancel of a branch that is not building = true")
	}
	if !c.Cancel("fake-of-k") {
		t.Error("Cancel = false, want true")
	}
	st := h.WaitStatus("me/p", sha1, "t", ci.Failure)
	if st.Description != "Cancelled at user's request" {
		t.Errorf("cancelled: %q", st.Description)
	}
	_, tree := headOf(t, h.Store, "fake-of-k")
	if log, _ := tree.ReadFile(context.Background(), "log"); !strings.Contains(string(log), "] Cancelled at user's request\n") {
		t.Errorf("log = %q", log)
	}
	st = h.WaitStatus("me/p", sha1, "slow", ci.Failure)
	if st.Description != "Exceeded timeout of 1 seconds" {
		t.Errorf("timeout: %q", st.Description)
	}
}

// An infrastructure failure is reported as an error, not saved, and tried
// again later.
func TestInfraErrorRetried(t *testing.T) {
	var mu sync.Mutex
	down := true
	f := newFake(func(ctx context.Context, _ *livelog.Log, _ string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return "", term.Infra(errors.New("docker: cannot reach the daemon"))
		}
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{RetryAfter: 200 * time.Millisecond})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	st := h.WaitStatus("me/p", sha1, "t", ci.Error)
	if st.Description != "docker: cannot reach the daemon" {
		t.Errorf("description = %q", st.Description)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	h.WaitStatus("me/p", sha1, "t", ci.Success)
}

// The pending reason follows the live log's reason stack.
func TestPendingReason(t *testing.T) {
	step := make(chan struct{})
	f := newFake(func(ctx context.Context, log *livelog.Log, _ string) (string, error) {
		pop := log.PushReason(`Waiting for resource in "docker"`)
		<-step
		pop()
		<-step
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	waitDescr(t, h, `Waiting for resource in "docker"`)
	step <- struct{}{}
	waitDescr(t, h, "Fake build of k")
	close(step)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
}

func waitDescr(t *testing.T, h *citest.Harness, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h.Settle()
		if st, ok := h.Status("me/p", sha1, "t"); ok && st.Description == want {
			return
		}
	}
	st, _ := h.Status("me/p", sha1, "t")
	t.Fatalf("description = %q, want %q", st.Description, want)
}

// A long step's log is saved in chunks while it runs, marked live, and the
// final result follows them.
func TestLogSavedInChunks(t *testing.T) {
	step := make(chan struct{})
	f := newFake(func(ctx context.Context, log *livelog.Log, _ string) (string, error) {
		for i := 0; i < 10000; i++ {
			log.Printf("line %d", i)
		}
		<-step
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{SaveEvery: 50 * time.Millisecond})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	var tree dkstore.Tree
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		br, _ := h.Store.Branch("fake-of-k")
		if hd, _ := br.Head(context.Background()); !hd.IsZero() {
			_, tree = headOf(t, h.Store, "fake-of-k")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no log chunk saved while running")
		}
	}
	if _, err := tree.Stat(context.Background(), "live"); err != nil {
		t.Errorf("a chunk lacks the live marker: %v", err)
	}
	close(step)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	cm, final := headOf(t, h.Store, "fake-of-k")
	if _, err := final.Stat(context.Background(), "live"); err == nil {
		t.Error("the final result keeps the live marker")
	}
	log, _ := final.ReadFile(context.Background(), "log")
	if n := strings.Count(string(log), "\n"); n != 10003 {
		t.Errorf("final log has %d lines, want 10003", n)
	}
	// history: a few chunks, then the result, on a line (the result
	// fast-forwards the chunks: no merge)
	if len(cm.Parents) != 1 {
		t.Fatalf("the result has parents %v, want the last chunk", cm.Parents)
	}
	if p, _ := h.Store.Commit(context.Background(), cm.Parents[0]); p.Message != "Log so far" {
		t.Errorf("the result's parent is %q, want the last chunk", p.Message)
	}
	commits := 0
	for id := cm.ID; !id.IsZero(); commits++ {
		c, _ := h.Store.Commit(context.Background(), id)
		if len(c.Parents) > 1 {
			t.Errorf("merge commit %q on the result branch", c.Message)
		}
		if len(c.Parents) == 0 {
			break
		}
		id = c.Parents[0]
	}
	if commits < 1 || commits > 10 {
		t.Errorf("%d commits on the result branch, want a few", commits+1)
	}
}

// The engine reaches a step by its branch, for the web UI's rebuild and
// cancel buttons.
func TestEngineRebuildAndCancel(t *testing.T) {
	gate := make(chan struct{}, 10)
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) {
		select {
		case <-gate:
			return "ok", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	if err := h.Engine.Cancel("no-such-branch"); err == nil || err.Error() != `Branch "no-such-branch" is not currently building` {
		t.Errorf("Cancel(unknown) = %v", err)
	}
	if _, err := h.Engine.Rebuild(context.Background(), "no-such-branch"); !errors.Is(err, ci.ErrNoStep) {
		t.Errorf("Rebuild(unknown) = %v", err)
	}
	if ok, err := h.Engine.Rebuild(context.Background(), "fake-of-k"); ok || err != nil {
		t.Errorf("Rebuild while building = %v, %v; want false (ignored)", ok, err)
	}
	if err := h.Engine.Cancel("fake-of-k"); err != nil {
		t.Errorf("Cancel = %v", err)
	}
	h.WaitStatus("me/p", sha1, "t", ci.Failure)
	gate <- struct{}{}
	if ok, err := h.Engine.Rebuild(context.Background(), "fake-of-k"); !ok || err != nil {
		t.Errorf("Rebuild = %v, %v", ok, err)
	}
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	if n := f.count("k"); n != 2 {
		t.Errorf("%d builds, want 2", n)
	}
}

// Secrets named in the configuration never reach the store: not in logs
// (even split across writes), statuses or history.
func TestSecretsMasked(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	f := newFake(func(ctx context.Context, log *livelog.Log, _ string) (string, error) {
		log.Write([]byte("token is hunter2"))
		log.Write([]byte("-s3cr3t, do not tell\n"))
		return "", errors.New("login with " + secret + " failed")
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": c.Find("k"), "ok": term.Return("used " + secret)}
	}), citest.WithOptions(ci.Options{Secrets: []string{secret}}))
	h.SetBranch("me/p", "master", sha1)
	st := h.WaitStatus("me/p", sha1, "t", ci.Failure)
	if st.Description != "login with *** failed" {
		t.Errorf("status = %q", st.Description)
	}
	h.WantStatus("me/p", sha1, "ok", ci.Success, "used ***")
	ctx := context.Background()
	branches, _ := h.Store.Branches(ctx)
	for _, b := range branches {
		br, _ := h.Store.Branch(b)
		for id, _ := br.Head(ctx); !id.IsZero(); {
			cm, _ := h.Store.Commit(ctx, id)
			if strings.Contains(cm.Message, "s3cr3t") {
				t.Errorf("%s: commit message %q holds the secret", b, cm.Message)
			}
			tree, _ := h.Store.Tree(ctx, cm.Tree)
			fs.WalkDir(dkstore.FS(ctx, tree), ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					data, _ := fs.ReadFile(dkstore.FS(ctx, tree), p)
					if strings.Contains(string(data), "s3cr3t") {
						t.Errorf("%s:%s holds the secret: %q", b, p, data)
					}
				}
				return nil
			})
			if len(cm.Parents) == 0 {
				break
			}
			id = cm.Parents[0]
		}
	}
}

// A requested rebuild is marked as such, so that steps queue it behind
// work someone waits for.
func TestIsRebuild(t *testing.T) {
	var mu sync.Mutex
	var seen []bool
	f := newFake(func(ctx context.Context, _ *livelog.Log, _ string) (string, error) {
		mu.Lock()
		seen = append(seen, cache.IsRebuild(ctx))
		mu.Unlock()
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	if _, err := h.Engine.Rebuild(context.Background(), "fake-of-k"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); f.count("k") < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] || !seen[1] {
		t.Errorf("IsRebuild in the builds = %v, want [false true]", seen)
	}
}

// The reference's "Logs" test: a job made of two steps in parallel keeps
// both steps' logs; the failing one's message is the job's.
func TestLogsOfParallelSteps(t *testing.T) {
	f := newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
		log.Write([]byte("working on " + key + "\n"))
		if key == "b" {
			return "", errors.New("b broke")
		}
		return "ok " + key, nil
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.Map(term.Pair(c.Find("a"), c.Find("b")), func(p term.Tuple[string, string]) string { return p.A + p.B })}
	}))
	h.SetBranch("me/p", "master", sha1)
	if st := h.WaitStatus("me/p", sha1, "t", ci.Failure); st.Description != "b broke" {
		t.Errorf("description = %q", st.Description)
	}
	_, tree := headOf(t, h.Store, "status-me-p-ref-heads-master")
	out, err := tree.ReadFile(context.Background(), "job/t/output")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"branch":"fake-of-a"`, `"branch":"fake-of-b"`, `"failed":true`, `"title":"Fake build of b"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("job output lacks %s: %s", want, out)
		}
	}
}

// Rebuild and cancel by job: every step of the job.
func TestRebuildAndCancelByJob(t *testing.T) {
	gate := make(chan struct{})
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) {
		if key == "slow" {
			select {
			case <-gate:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs {
		return ci.Jobs{
			"quick": term.Map(term.Pair(c.Find("a"), c.Find("b")), func(term.Tuple[string, string]) string { return "ok" }),
			"slow":  c.Find("slow"),
		}
	}))
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "quick", ci.Success)
	id := ci.Branch("me/p", "master")
	if n, err := h.Engine.RebuildJob(context.Background(), id, "quick"); n != 2 || err != nil {
		t.Errorf("RebuildJob = %d, %v; want 2 steps", n, err)
	}
	if n, err := h.Engine.CancelJob(id, "slow"); n != 1 || err != nil {
		t.Errorf("CancelJob = %d, %v; want 1 step", n, err)
	}
	h.WaitStatus("me/p", sha1, "slow", ci.Failure)
	for deadline := time.Now().Add(5 * time.Second); (f.count("a") < 2 || f.count("b") < 2) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if f.count("a") != 2 || f.count("b") != 2 {
		t.Errorf("builds of a, b = %d, %d; want 2 each", f.count("a"), f.count("b"))
	}
	if _, err := h.Engine.RebuildJob(context.Background(), id, "nope"); err == nil {
		t.Error("RebuildJob of an unknown job succeeded")
	}
}

// Builds are counted in the engine's metrics, by builder name.
func TestBuildMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) {
		if key == "bad" {
			return "", errors.New("no")
		}
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"good": c.Find("good"), "bad": c.Find("bad")} }),
		citest.WithOptions(ci.Options{Metrics: ci.NewMetrics(reg)}))
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "good", ci.Success)
	h.WaitStatus("me/p", sha1, "bad", ci.Failure)
	want := `
# HELP datakitci_cache_builds_started_total Builds started.
# TYPE datakitci_cache_builds_started_total counter
datakitci_cache_builds_started_total{name="fake"} 2
# HELP datakitci_cache_builds_succeeded_total Builds that succeeded.
# TYPE datakitci_cache_builds_succeeded_total counter
datakitci_cache_builds_succeeded_total{name="fake"} 1
# HELP datakitci_cache_builds_failed_total Builds that failed.
# TYPE datakitci_cache_builds_failed_total counter
datakitci_cache_builds_failed_total{name="fake"} 1
# HELP datakitci_cache_builds_in_progress Builds running.
# TYPE datakitci_cache_builds_in_progress gauge
datakitci_cache_builds_in_progress{name="fake"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "datakitci_cache_builds_started_total",
		"datakitci_cache_builds_succeeded_total", "datakitci_cache_builds_failed_total", "datakitci_cache_builds_in_progress"); err != nil {
		t.Error(err)
	}
}

// A build no job wants any more (every target that used it moved on or
// went away) is cancelled, with the reason; nothing is saved, so the next
// use builds again. While one target still uses it, it goes on.
func TestAbandonedBuildCancelled(t *testing.T) {
	const sha2 = "2222222222222222222222222222222222222222"
	f, started, causes := untilCancelled()
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(tg ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find(tg.Head)} }))
	h.SetBranch("me/p", "master", sha1)
	h.OpenPR("me/p", 1, sha1, "shares the build")
	<-started
	h.Settle()

	h.SetBranch("me/p", "master", sha2) // the PR still wants the build of sha1
	<-started                           // sha2's
	h.Settle()
	select {
	case err := <-causes:
		t.Fatalf("build cancelled (%v) while PR 1 still uses it", err)
	case <-time.After(200 * time.Millisecond):
	}

	h.ClosePR("me/p", 1)
	var cause error
	select {
	case cause = <-causes:
	case <-time.After(10 * time.Second):
		t.Fatal("the build of sha1 goes on with no target left to use it")
	}
	if want := "Cancelled: PR 1 was closed"; cause == nil || cause.Error() != want {
		t.Errorf("cancelled with %v, want %q", cause, want)
	}
	if c.Cancel("fake-of-" + sha1) {
		t.Error("Cancel of an abandoned build = true, want false (it is not building any more)")
	}
	// Nothing saved as a result: the branch holds at most the live log.
	br, _ := h.Store.Branch("fake-of-" + sha1)
	if head, _ := br.Head(context.Background()); !head.IsZero() {
		_, tree := headOf(t, h.Store, "fake-of-"+sha1)
		if _, err := tree.Stat(context.Background(), "live"); err != nil {
			t.Errorf("an abandoned build left a result on its branch (no live marker: %v)", err)
		}
	}

	// sha1 wanted again: built again, not a cached failure.
	h.SetBranch("me/p", "master", sha1)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("sha1 wanted again is not built again")
	}
	if n := f.count(sha1); n != 2 {
		t.Errorf("%d builds of sha1, want 2", n)
	}
	if st := h.WaitStatus("me/p", sha1, "t", ci.Pending); st.Description != "Fake build of "+sha1 {
		t.Errorf("status of sha1 wanted again: %q", st.Description)
	}
}

// A step whose key does not change when the head moves (a base image keyed
// by its Dockerfile, say) is still wanted by the new head's job.
func TestMovedHeadKeepsSharedStep(t *testing.T) {
	const sha2 = "2222222222222222222222222222222222222222"
	f, started, causes := untilCancelled()
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("base")} }))
	h.SetBranch("me/p", "master", sha1)
	<-started
	h.Settle()
	for range 20 { // the cancellation depended on timing: try it often
		h.SetBranch("me/p", "master", sha2)
		h.Settle()
		h.SetBranch("me/p", "master", sha1)
		h.Settle()
	}
	select {
	case err := <-causes:
		t.Errorf("build cancelled (%v) although master's new head uses it; builds: %d", err, f.count("base"))
	case <-time.After(300 * time.Millisecond):
	}
	if n := f.count("base"); n != 1 {
		t.Errorf("%d builds of base, want 1", n)
	}
}

// Closing the engine cancels the steps building and waits for them to end
// (to clean up), so that a CI that stops leaves nothing running.
func TestCloseWaitsForBuilds(t *testing.T) {
	started := make(chan struct{}, 1)
	var mu sync.Mutex
	cleaned := false
	f := newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(200 * time.Millisecond) // removing a container, say
		mu.Lock()
		cleaned = true
		mu.Unlock()
		return "", ctx.Err()
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	<-started
	h.Stop()
	mu.Lock()
	defer mu.Unlock()
	if !cleaned {
		t.Error("Stop (Engine.Close) returned before the cancelled build ended")
	}
}

// untilCancelled is a builder whose builds say when they start, and run
// until cancelled, saying why.
func untilCancelled() (f *fake, started chan struct{}, causes chan error) {
	started, causes = make(chan struct{}, 4), make(chan error, 4)
	f = newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
		started <- struct{}{}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return "", ctx.Err()
	})
	return f, started, causes
}

// A step with a pool waits for a slot, with the pool's reason as its
// status meanwhile, and its timeout counts from when it holds the slot,
// as in the original: a step queued for longer than its timeout still
// runs.
func TestPoolAndTimeoutFromSlot(t *testing.T) {
	p := pool.New("build", 1, nil)
	release, err := p.Acquire(context.Background(), pool.Request{Label: "blocker"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) {
		if key == "slow" {
			<-ctx.Done()
			return "", ctx.Err()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
			return "ok", nil
		}
	})
	c := cache.New[string, string](f, cache.Options{Pool: p, Timeout: 300 * time.Millisecond})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("quick"), "slow": c.Find("slow")} }))
	h.SetBranch("me/p", "master", sha1)
	waitDescr(t, h, `Waiting for resource in "build"`)
	time.Sleep(500 * time.Millisecond) // longer than the timeout, queued
	release()
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	if st := h.WaitStatus("me/p", sha1, "slow", ci.Failure); st.Description != "Exceeded timeout of 0.3 seconds" {
		t.Errorf("slow: %q", st.Description)
	}
	if st := p.Status(); len(st.Active)+len(st.Queued) != 0 {
		t.Errorf("the pool after the steps: %+v", st)
	}
}

// A requested rebuild waits in the pool at pool.Low, behind work that a
// job waits for, whatever the step's priority.
func TestRebuildQueuesLow(t *testing.T) {
	p := pool.New("build", 1, nil)
	f := newFake(func(context.Context, *livelog.Log, string) (string, error) { return "ok", nil })
	c := cache.New[string, string](f, cache.Options{Pool: p, Priority: pool.High})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	release, err := p.Acquire(context.Background(), pool.Request{Label: "blocker"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Engine.Rebuild(context.Background(), "fake-of-k"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(p.Status().Queued) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rebuild did not queue")
		}
	}
	if q := p.Status().Queued[0]; q.Priority != pool.Low || q.Label != "Fake build of k" {
		t.Errorf("queued: %+v, want the rebuild at pool.Low", q)
	}
	release()
	for deadline := time.Now().Add(5 * time.Second); f.count("k") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rebuild did not run")
		}
	}
	h.WaitStatus("me/p", sha1, "t", ci.Success)
}
