package citest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
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
			if c.want == nil {
				if len(msgs) != 0 {
					t.Errorf("failures %q, want none", msgs)
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("failures %q, want one", msgs)
			}
			for _, w := range c.want {
				if !strings.Contains(msgs[0], w) {
					t.Errorf("failure %q does not say %q", msgs[0], w)
				}
			}
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
