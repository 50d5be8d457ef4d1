package citest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatal{})
}

type fatal struct{}

// run runs f, which may call Fatalf, and returns the failures it recorded.
func (r *recorder) run(f func()) []string {
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(fatal); !ok {
					panic(p)
				}
			}
		}()
		f()
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

func config() ci.Config {
	return ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"test": term.Return("Passed"), "lint": term.Return("Clean")}
	}}}}
}

// The failure messages say what there is instead.
func TestFailureMessages(t *testing.T) {
	r := &recorder{TB: t}
	h := citest.New(r, config())
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	for _, c := range []struct {
		name string
		f    func()
		want []string
	}{
		{"ok", func() { h.WantStatus("me/p", sha1, "test", ci.Success, "Passed") }, nil},
		{"wrong description", func() { h.WantStatus("me/p", sha1, "test", ci.Success, "Failed") },
			[]string{`status of test on me/p@1111111 = success "Passed", want success "Failed"`}},
		{"wrong job", func() { h.WantStatus("me/p", sha1, "tests", ci.Success, "Passed") },
			[]string{`status of tests on me/p@1111111: none, want success "Passed"`, "the CI's statuses on me/p@1111111:", `lint: success "Clean"`, `test: success "Passed"`}},
		{"wrong commit", func() { h.WantStatus("me/p", sha2, "test", ci.Success, "Passed") },
			[]string{"the CI set no status on me/p@2222222", "the engine tests:", "me/p/heads/master at 1111111: lint test"}},
		{"unwanted", func() { h.WantNoStatus("me/p", sha1, "test") },
			[]string{`status of test on me/p@1111111 = success "Passed", want none`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := r.run(c.f)
			wantFailure(t, msgs, c.want)
		})
	}
}

func TestNoTargets(t *testing.T) {
	r := &recorder{TB: t}
	h := citest.New(r, config())
	h.SetBranch("other/p", "master", sha1) // not a configured project
	h.Settle()
	msgs := r.run(func() { h.WantStatus("me/p", sha1, "test", ci.Success, "Passed") })
	if len(msgs) != 1 || !strings.Contains(msgs[0], "the engine tests no target") {
		t.Errorf("failures %q", msgs)
	}
}

// Settle on a stopped engine fails at once, saying so.
func TestSettleStopped(t *testing.T) {
	r := &recorder{TB: t}
	h := citest.New(r, config())
	h.Stop()
	start := time.Now()
	msgs := r.run(h.Settle)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "the engine is not running (Stop was called)") {
		t.Errorf("failures %q", msgs)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Settle took %v to fail", d)
	}
}

// brokenStore cannot watch branches.
type brokenStore struct{ dkstore.Store }

func (s brokenStore) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(name)
	return brokenBranch{b}, err
}

type brokenBranch struct{ dkstore.Branch }

func (brokenBranch) WatchHead(context.Context) (dkstore.Watch[dkstore.CommitID], error) {
	return nil, errors.New("connection lost")
}

// Settle on an engine that failed reports the engine's error, not a
// timeout.
func TestSettleFailedEngine(t *testing.T) {
	mem := dkstore.NewMemory(dkstore.Options{})
	defer mem.Close()
	r := &recorder{TB: t}
	h := citest.New(r, config(), citest.WithStore(brokenStore{mem}))
	start := time.Now()
	msgs := r.run(h.Settle)
	// "the engine stopped (…)" or, if it failed before Settle was called,
	// "the engine is not running (…)"
	if len(msgs) != 1 || !strings.Contains(msgs[0], "(it failed: connection lost)") {
		t.Errorf("failures %q", msgs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Settle took %v to fail", d)
	}
	if msgs := r.run(h.Stop); len(msgs) != 1 || !strings.Contains(msgs[0], "citest: engine: connection lost") {
		t.Errorf("Stop: failures %q", msgs)
	}
}

// A Jobs function that panics or names a job in a way the engine refuses
// fails the test with the engine's message, unless the test allows it; a
// job whose term panics is a status to check, not a broken pipeline.
func TestBadJobs(t *testing.T) {
	ok := term.Return("Passed")
	for _, c := range []struct {
		name  string
		jobs  func(ci.Target) ci.Jobs
		allow bool
		want  []string // in the one failure; none if nil
	}{
		{"good", func(ci.Target) ci.Jobs { return ci.Jobs{"test": ok} }, false, nil},
		{"invalid name", func(ci.Target) ci.Jobs { return ci.Jobs{"test": ok, "bad name": ok} }, false,
			[]string{"citest: the pipeline is broken: me/p/heads/master: invalid job name \"bad name\""}},
		{"reserved name", func(ci.Target) ci.Jobs { return ci.Jobs{"test": ok, "state": ok} }, false,
			[]string{`invalid job name "state"`}},
		{"panic", func(ci.Target) ci.Jobs { panic("no config") }, false,
			[]string{"citest: the pipeline is broken: me/p/heads/master: project's Jobs function failed: panic: no config\n"}},
		{"allowed invalid name", func(ci.Target) ci.Jobs { return ci.Jobs{"test": ok, "bad name": ok} }, true, nil},
		{"allowed panic", func(ci.Target) ci.Jobs { panic("no config") }, true, nil},
		{"term panics", func(ci.Target) ci.Jobs {
			return ci.Jobs{"test": term.Map(ok, func(string) string { panic("oops") })}
		}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			var opts []citest.Option
			if c.allow {
				opts = append(opts, citest.AllowBadJobs())
			}
			h := citest.New(r, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: c.jobs}}}, opts...)
			h.SetBranch("me/p", "master", sha1)
			msgs := r.run(h.Settle)
			wantFailure(t, msgs, c.want)
		})
	}
}

// A logger that drops everything does not hide a broken pipeline.
func TestBadJobsQuietLogger(t *testing.T) {
	r := &recorder{TB: t}
	quiet := citest.WithOptions(ci.Options{Logger: slog.New(slog.DiscardHandler)})
	h := citest.New(r, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"bad/name": term.Return("x")}
	}}}}, quiet)
	h.SetBranch("me/p", "master", sha1)
	if msgs := r.run(h.Settle); len(msgs) != 1 || !strings.Contains(msgs[0], `invalid job name`) {
		t.Errorf("failures %q", msgs)
	}
}

// Asking for a status that nothing will write fails at once, saying why,
// instead of after Timeout.
func TestWaitForNothing(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(h *citest.Harness)
		wait   func(h *citest.Harness)
		want   []string
	}{
		{"unconfigured repo",
			func(h *citest.Harness) { h.OpenPR("other/p", 7, sha1, "Fix") },
			func(h *citest.Harness) { h.WaitStatus("other/p", sha1, "test", ci.Success) },
			[]string{"no status of test on other/p@1111111: other/p is not a configured project", "did the test open a PR or set a branch of a configured project?", "the configuration has me/p"}},
		{"unconfigured repo, WantStatus",
			func(h *citest.Harness) { h.SetBranch("other/p", "master", sha1) },
			func(h *citest.Harness) { h.WantStatus("other/p", sha1, "test", ci.Success, "Passed") },
			[]string{"other/p is not a configured project"}},
		{"commit of another repo",
			func(h *citest.Harness) { h.OpenPR("other/p", 7, sha1, "Fix") },
			func(h *citest.Harness) { h.WaitStatus("me/p", sha1, "test", ci.Success) },
			[]string{"status of test on me/p@1111111: none, want success, but no target tests that commit with job test", "the engine tests no target (did the test open a PR"}},
		{"no such job",
			func(h *citest.Harness) { h.OpenPR("me/p", 7, sha1, "Fix") },
			func(h *citest.Harness) { h.WaitStatus("me/p", sha1, "tests", ci.Success) },
			[]string{"no target tests that commit with job tests", "me/p/prs/7 at 1111111: lint test"}},
		{"moved away",
			func(h *citest.Harness) {
				h.OpenPR("me/p", 7, sha1, "Fix")
				h.Settle()
				h.MoveHead("me/p", 7, sha2)
			},
			func(h *citest.Harness) { h.WaitStatus("me/p", sha1, "test", ci.Failure) },
			[]string{`status of test on me/p@1111111: success "Passed", want failure, but no target tests that commit`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			h := citest.New(r, config())
			c.change(h)
			start := time.Now()
			msgs := r.run(func() { c.wait(h) })
			if d := time.Since(start); d > h.Timeout/2 {
				t.Errorf("took %v to fail", d)
			}
			wantFailure(t, msgs, c.want) // every case wants a failure
		})
	}
}

// The CI must leave repositories it does not test alone.
func TestWantNoStatusOtherRepo(t *testing.T) {
	const sha = "1111111111111111111111111111111111111111"
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.Return("ok")}
	}}}})
	h.SetBranch("other/p", "master", sha)
	h.Settle()
	h.WantNoStatus("other/p", sha, "t")
}

// A bridge (here a goroutine) shares the store and writes the target a
// little later: WaitStatus waits for it rather than failing at once.
func TestWaitStatusExternalWriter(t *testing.T) {
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() })
	const sha = "1111111111111111111111111111111111111111"
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.Return("ok")}
	}}}}, citest.WithStore(store))
	go func() {
		time.Sleep(100 * time.Millisecond)
		ctx := context.Background()
		br, _ := store.Branch(bridge.DefaultBranch)
		tx, err := br.Transaction(ctx, dkstore.TxOptions{})
		if err != nil {
			return
		}
		r, _ := bridge.ParseRepo("me/p")
		bridge.WriteRef(ctx, tx, bridge.Ref{Repo: r, Name: "heads/master", Head: sha})
		tx.Commit(ctx, "bridge")
	}()
	h.WaitStatus("me/p", sha, "t", ci.Success)
}

// wantFailure checks that msgs is one failure saying every one of want,
// or none if want is nil.
func wantFailure(t *testing.T, msgs, want []string) {
	t.Helper()
	if want == nil {
		if len(msgs) != 0 {
			t.Errorf("failures %q, want none", msgs)
		}
		return
	}
	if len(msgs) != 1 {
		t.Fatalf("failures %q, want one", msgs)
	}
	for _, w := range want {
		if !strings.Contains(msgs[0], w) {
			t.Errorf("failure %q does not say %q", msgs[0], w)
		}
	}
}

// greeter is a cached step whose result branch does not depend on the
// target: "greet-<key>".
type greeter struct{}

func (greeter) Name() string             { return "greeter" }
func (greeter) Branch(key string) string { return "greet-" + key }
func (greeter) Title(key string) string  { return "Greet " + key }
func (greeter) Generate(_ context.Context, log *livelog.Log, _ dkstore.Transaction, key string) (string, error) {
	return "Hello, " + key, nil
}
func (greeter) Load(_ context.Context, _ dkstore.Tree, key string) (string, error) {
	return "Hello, " + key, nil
}

// A step made inside Jobs is made again for each target: the copies share
// a result branch and fight over it. The test fails, saying to make steps
// once; a step made once, outside Jobs, is fine.
func TestStepMadeInJobs(t *testing.T) {
	once := cache.New[string, string](greeter{}, cache.Options{})
	for _, c := range []struct {
		name string
		jobs func(ci.Target) ci.Jobs
		want []string // in the one failure; none if nil
	}{
		{"outside Jobs", func(ci.Target) ci.Jobs { return ci.Jobs{"greet": once.Find("world")} }, nil},
		{"inside Jobs", func(ci.Target) ci.Jobs {
			step := cache.New[string, string](greeter{}, cache.Options{}) // wrong: a new step per call
			return ci.Jobs{"greet": step.Find("world")}
		}, []string{"citest: the pipeline is broken: me/p/", ": two different steps use the result branch greet-world, and fight over it: make steps once, outside Jobs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			var log syncBuffer
			logger := slog.New(slog.NewTextHandler(&log, nil))
			h := citest.New(r, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: c.jobs}}}, citest.WithOptions(ci.Options{Logger: logger}))
			h.SetBranch("me/p", "master", sha1)
			h.OpenPR("me/p", 7, sha2, "Fix")
			wantFailure(t, r.run(h.Settle), c.want)
			const logged = `level=ERROR msg="two different steps use one result branch, and fight over it: make steps once, outside Jobs`
			if got := strings.Count(log.String(), logged); got != len(c.want)/2 || c.want != nil && !strings.Contains(log.String(), "branch=greet-world") {
				t.Errorf("the log has %d error lines naming the branch, want %d:\n%s", got, len(c.want)/2, log.String())
			}
			if c.want == nil {
				h.T = t
				h.WaitStatus("me/p", sha1, "greet", ci.Success)
				h.WaitStatus("me/p", sha2, "greet", ci.Success)
			}
		})
	}
}

// syncBuffer is a strings.Builder safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitStatus waits for a description too: a pending reason that changes,
// a part of a failure message; a description that never comes fails after
// Timeout, saying what there is.
func TestWaitStatusDescription(t *testing.T) {
	step := citest.NewStep[string]("Waiting for resource in \"go\"")
	r := &recorder{TB: t}
	h := citest.New(r, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"build": step.Term()}
	}}}})
	h.SetBranch("me/p", "master", sha1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		step.Pend("Building 1111111")
		time.Sleep(50 * time.Millisecond)
		step.Fail("Command \"go build\" exited with status 1: main.go:3: syntax error")
	}()
	wantFailure(t, r.run(func() {
		h.WaitStatus("me/p", sha1, "build", ci.Pending, citest.Description(`Waiting for resource in "go"`))
		st := h.WaitStatus("me/p", sha1, "build", ci.Pending, citest.Description("Building 1111111"))
		if st.Description != "Building 1111111" {
			t.Errorf("WaitStatus returned %q", st.Description)
		}
		h.WaitStatus("me/p", sha1, "build", ci.Failure, citest.DescriptionContains("syntax error"), citest.DescriptionContains(`"go build"`))
	}), nil)

	h.Timeout = 200 * time.Millisecond
	start := time.Now()
	wantFailure(t, r.run(func() { h.WaitStatus("me/p", sha1, "build", ci.Failure, citest.Description("syntax error")) }),
		[]string{`status of build on me/p@1111111 = failure "Command \"go build\" exited with status 1: main.go:3: syntax error", want failure "syntax error" within 200ms`})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to fail", d)
	}
	wantFailure(t, r.run(func() { h.WaitStatus("me/p", sha2, "build", ci.Failure, citest.DescriptionContains("syntax")) }),
		[]string{`status of build on me/p@2222222: none, want failure containing "syntax", but no target tests that commit`})
}
