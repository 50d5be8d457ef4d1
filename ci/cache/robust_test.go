package cache_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// faultyStore wraps a store: it counts the reads of result branches'
// heads, and fails what the test asks it to.
type faultyStore struct {
	dkstore.Store
	mu         sync.Mutex
	heads      map[dkstore.BranchName]int
	failHeads  map[dkstore.BranchName]int // fail the next n Head calls
	failCommit map[string]int             // fail the next n commits with this message
}

func newFaultyStore() *faultyStore {
	return &faultyStore{Store: dkstore.NewMemory(dkstore.Options{}), heads: map[dkstore.BranchName]int{},
		failHeads: map[dkstore.BranchName]int{}, failCommit: map[string]int{}}
}

func (s *faultyStore) headReads(b string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heads[dkstore.BranchName(b)]
}

func (s *faultyStore) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(name)
	if err != nil {
		return nil, err
	}
	return faultyBranch{b, s}, nil
}

type faultyBranch struct {
	dkstore.Branch
	s *faultyStore
}

var errInjected = errors.New("injected failure")

func (b faultyBranch) Head(ctx context.Context) (dkstore.CommitID, error) {
	b.s.mu.Lock()
	b.s.heads[b.Name()]++
	fail := b.s.failHeads[b.Name()] > 0
	if fail {
		b.s.failHeads[b.Name()]--
	}
	b.s.mu.Unlock()
	if fail {
		return dkstore.CommitID{}, errInjected
	}
	return b.Branch.Head(ctx)
}

func (b faultyBranch) Transaction(ctx context.Context, o dkstore.TxOptions) (dkstore.Transaction, error) {
	tx, err := b.Branch.Transaction(ctx, o)
	if err != nil {
		return nil, err
	}
	return faultyTx{tx, b.s}, nil
}

type faultyTx struct {
	dkstore.Transaction
	s *faultyStore
}

func (t faultyTx) Commit(ctx context.Context, msg string) (dkstore.CommitID, error) {
	t.s.mu.Lock()
	fail := t.s.failCommit[msg] > 0
	if fail {
		t.s.failCommit[msg]--
	}
	t.s.mu.Unlock()
	if fail {
		return dkstore.CommitID{}, errInjected
	}
	return t.Transaction.Commit(ctx, msg)
}

// A builder that panics is an infrastructure error: status error, nothing
// cached, the stack in the log kept on the branch, and tried again.
func TestPanickingBuilder(t *testing.T) {
	var panics atomic.Bool
	panics.Store(true)
	f := newFake(func(ctx context.Context, _ *livelog.Log, _ string) (string, error) {
		if panics.Load() {
			panic("boom")
		}
		return "ok", nil
	})
	c := cache.New[string, string](f, cache.Options{RetryAfter: 300 * time.Millisecond})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }))
	h.SetBranch("me/p", "master", sha1)
	st := h.WaitStatus("me/p", sha1, "t", ci.Error)
	if st.Description != "builder fake panicked: boom" {
		t.Errorf("description = %q", st.Description)
	}
	cm, tree := headOf(t, h.Store, "fake-of-k")
	log, _ := tree.ReadFile(context.Background(), "log")
	if !strings.Contains(string(log), "goroutine ") || !strings.Contains(string(log), "] Failed: builder fake panicked: boom\n") {
		t.Errorf("log of the errored build (%q) = %q", cm.Message, log)
	}
	if _, err := tree.Stat(context.Background(), "live"); err != nil {
		t.Error("the errored build's log is not marked live: it could be taken for a result")
	}
	panics.Store(false)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
}

// A store that cannot be read, or that fails while the result is saved,
// gives status error; the step is looked up, or built, again later.
func TestStoreFailures(t *testing.T) {
	store := newFaultyStore()
	t.Cleanup(func() { store.Close() })
	store.failHeads["fake-of-read"] = 1
	store.failCommit["Cached successful result"] = 1
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) { return "ok " + key, nil })
	c := cache.New[string, string](f, cache.Options{RetryAfter: 300 * time.Millisecond})
	h := citest.New(t, config(func(tg ci.Target) ci.Jobs {
		if tg.IsTag() {
			return ci.Jobs{"t": c.Find("save")}
		}
		return ci.Jobs{"t": c.Find("read")}
	}), citest.WithStore(store))
	h.SetBranch("me/p", "master", sha1)
	const sha2 = "2222222222222222222222222222222222222222"
	h.SetTag("me/p", "v1", sha2)
	if st := h.WaitStatus("me/p", sha1, "t", ci.Error); !strings.Contains(st.Description, "injected failure") {
		t.Errorf("reading: %q", st.Description)
	}
	if st := h.WaitStatus("me/p", sha2, "t", ci.Error); st.Description != "cache: saving the result: injected failure" {
		t.Errorf("saving: %q", st.Description)
	}
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	h.WaitStatus("me/p", sha2, "t", ci.Success)
	h.WantStatus("me/p", sha1, "t", ci.Success, "ok read")
	h.WantStatus("me/p", sha2, "t", ci.Success, "ok save")
	if n := f.count("read"); n != 1 {
		t.Errorf("%d builds after a failed read, want 1", n)
	}
}

// Two caches for one branch (a cache made per job rather than once): the
// second is in error while the first builds, not stuck: once the first
// has saved the result, the second finds it. (The engine reports the two
// as a broken pipeline: allowed here.)
func TestTwoCachesOneBranch(t *testing.T) {
	gate := make(chan struct{})
	f := newFake(func(ctx context.Context, _ *livelog.Log, _ string) (string, error) { <-gate; return "ok", nil })
	a := cache.New[string, string](f, cache.Options{RetryAfter: 200 * time.Millisecond})
	b := cache.New[string, string](f, cache.Options{RetryAfter: 200 * time.Millisecond})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"a": a.Find("k"), "b": b.Find("k")} }), citest.AllowBadJobs())
	h.SetBranch("me/p", "master", sha1)
	st := h.WaitStatus("me/p", sha1, "b", ci.Error)
	if !strings.Contains(st.Description, "Can't create new live log on branch fake-of-k") {
		t.Errorf("second cache: %q", st.Description)
	}
	close(gate)
	h.WaitStatus("me/p", sha1, "a", ci.Success)
	h.WaitStatus("me/p", sha1, "b", ci.Success)
	if n := f.count("k"); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
}

// At a restart, a branch left by a build that never finished (marked live)
// is built again, and one marked for rebuilding is built as a rebuild.
func TestRestartAfterCrash(t *testing.T) {
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	for branch, marker := range map[string]string{"fake-of-crashed": "live", "fake-of-marked": "rebuild-requested"} {
		br, _ := store.Branch(dkstore.BranchName(branch))
		tx, _ := br.Transaction(ctx, dkstore.TxOptions{})
		tx.WriteFile(ctx, "log", []byte("=== half a log\n"), dkstore.KindFile)
		tx.WriteFile(ctx, "value", []byte("stale"), dkstore.KindFile)
		tx.WriteFile(ctx, dkstore.Path(marker), nil, dkstore.KindFile)
		if _, err := tx.Commit(ctx, "Log so far"); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	rebuilds := map[string]bool{}
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) {
		mu.Lock()
		rebuilds[key] = cache.IsRebuild(ctx)
		mu.Unlock()
		return "fresh", nil
	})
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"c": c.Find("crashed"), "m": c.Find("marked")} }), citest.WithStore(store))
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "c", ci.Success)
	h.WaitStatus("me/p", sha1, "m", ci.Success)
	h.WantStatus("me/p", sha1, "c", ci.Success, "fresh")
	mu.Lock()
	defer mu.Unlock()
	if len(rebuilds) != 2 || rebuilds["crashed"] || !rebuilds["marked"] {
		t.Errorf("builds (key: IsRebuild) = %v, want crashed: false, marked: true", rebuilds)
	}
	for _, b := range []string{"fake-of-crashed", "fake-of-marked"} {
		_, tree := headOf(t, store, b)
		for _, marker := range []dkstore.Path{"live", "rebuild-requested"} {
			if _, err := tree.Stat(ctx, marker); err == nil {
				t.Errorf("%s keeps the %s marker", b, marker)
			}
		}
	}
}

// Results unused for KeepFor leave memory: their jobs read them again from
// the store (no rebuild), and a rebuild request still reaches them.
func TestUnusedResultsLeaveMemory(t *testing.T) {
	store := newFaultyStore()
	t.Cleanup(func() { store.Close() })
	gate := make(chan struct{})
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) {
		if key == "slow" {
			<-gate
		}
		return "ok " + key, nil
	})
	c := cache.New[string, string](f, cache.Options{KeepFor: 200 * time.Millisecond})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("quick"), "slow": c.Find("slow")} }), citest.WithStore(store))
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	reads := store.headReads("fake-of-quick")
	time.Sleep(300 * time.Millisecond)
	close(gate) // the slow step's news: a Find, which drops the quick result
	h.WaitStatus("me/p", sha1, "slow", ci.Success)
	for deadline := time.Now().Add(5 * time.Second); store.headReads("fake-of-quick") == reads; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unused result was not read again from the store")
		}
	}
	h.Settle()
	h.WantStatus("me/p", sha1, "t", ci.Success, "ok quick")
	if n := f.count("quick"); n != 1 {
		t.Errorf("%d builds, want 1: a result dropped from memory was built again", n)
	}
	if ok, err := h.Engine.Rebuild(context.Background(), "fake-of-quick"); !ok || err != nil {
		t.Fatalf("Rebuild = %v, %v", ok, err)
	}
	for deadline := time.Now().Add(5 * time.Second); f.count("quick") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rebuild of a result read again did not start")
		}
	}
	h.WaitStatus("me/p", sha1, "t", ci.Success)
}

// A Load that reports an infrastructure error (the daemon holding an image
// is down) is not a reason to rebuild: status error, and looked up again.
func TestLoadInfraError(t *testing.T) {
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() })
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) { return "ok", nil })
	c := cache.New[string, string](f, cache.Options{})
	h := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }), citest.WithStore(store))
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "t", ci.Success)
	h.Stop()

	var down atomic.Bool
	down.Store(true)
	lf := &loadFails{fake: f, down: &down}
	c2 := cache.New[string, string](lf, cache.Options{RetryAfter: 200 * time.Millisecond})
	h2 := citest.New(t, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c2.Find("k")} }), citest.WithStore(store))
	if st := h2.WaitStatus("me/p", sha1, "t", ci.Error); st.Description != "daemon down" {
		t.Errorf("description = %q", st.Description)
	}
	down.Store(false)
	h2.WaitStatus("me/p", sha1, "t", ci.Success)
	if n := f.count("k"); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
}

type loadFails struct {
	*fake
	down *atomic.Bool
}

func (l *loadFails) Load(ctx context.Context, tree dkstore.Tree, key string) (string, error) {
	if l.down.Load() {
		return "", term.Infra(errors.New("daemon down"))
	}
	return l.fake.Load(ctx, tree, key)
}
