package ci_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// script is a builder whose builds the test scripts: a build of key k
// fails while fail[k] is set, and waits on gate while hold is set.
type script struct {
	mu     sync.Mutex
	fail   map[string]bool
	builds map[string]int
	hold   bool
	gate   chan struct{}
}

func newScript() *script {
	return &script{fail: map[string]bool{}, builds: map[string]int{}, gate: make(chan struct{}, 10)}
}

func (s *script) Name() string             { return "script" }
func (s *script) Branch(key string) string { return "script-of-" + key }
func (s *script) Title(key string) string  { return "Script " + key }
func (s *script) Generate(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, key string) (string, error) {
	s.mu.Lock()
	s.builds[key]++
	fail, hold := s.fail[key], s.hold
	s.mu.Unlock()
	log.Write([]byte("building " + key + "\n"))
	if hold {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if fail {
		return "", errors.New(key + " broke")
	}
	return key, tx.WriteFile(ctx, "value", []byte(key), dkstore.KindFile)
}
func (s *script) Load(ctx context.Context, tree dkstore.Tree, key string) (string, error) {
	b, err := tree.ReadFile(ctx, "value")
	return string(b), err
}
func (s *script) count(key string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.builds[key] }

// History lists a target's recorded states newest first, StateAt reads
// one back with its jobs' logs, and Archived finds it from the commit.
func TestHistoryStateAtArchived(t *testing.T) {
	sc := newScript()
	c := cache.New[string, string](sc, cache.Options{})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(t ci.Target) ci.Jobs {
		return ci.Jobs{"build": c.Find(t.Head[:3])}
	}}}})
	ctx := context.Background()
	h.SetBranch("me/p", "feature/x-y", sha1)
	h.WaitStatus("me/p", sha1, "build", ci.Success)
	h.Settle()
	h.SetBranch("me/p", "feature/x-y", sha2)
	h.WaitStatus("me/p", sha2, "build", ci.Success)
	h.Settle()
	id := ci.Branch("me/p", "feature/x-y")
	hist, err := h.Engine.History(ctx, id, "", 100)
	if err != nil || len(hist) < 2 {
		t.Fatalf("History = %v, %v; want at least 2 states", hist, err)
	}
	st, err := h.Engine.StateAt(ctx, id, hist[0].Commit)
	if err != nil {
		t.Fatalf("StateAt(head): %v", err)
	}
	if st.Source != sha2 || len(st.Jobs) != 1 || st.Jobs[0].State != ci.Success || len(st.Jobs[0].Logs) != 1 || st.Jobs[0].Logs[0].Branch != "script-of-222" || st.Jobs[0].Logs[0].Commit == "" {
		t.Errorf("StateAt(head) = %+v", st)
	}
	if _, err := h.Engine.StateAt(ctx, ci.Branch("me/p", "other"), hist[0].Commit); !errors.Is(err, dkstore.ErrNotExist) {
		t.Errorf("StateAt(another target's state) = %v, want ErrNotExist", err)
	}
	if _, err := h.Engine.StateAt(ctx, id, "../../etc"); !errors.Is(err, dkstore.ErrInvalid) {
		t.Errorf("StateAt(bad commit) = %v, want ErrInvalid", err)
	}
	older, err := h.Engine.History(ctx, id, hist[0].Parent, 100)
	if err != nil || len(older) != len(hist)-1 || older[0].Commit != hist[1].Commit {
		t.Errorf("History(from parent) = %v, %v", older, err)
	}
	arch, err := h.Engine.Archived(ctx, id.Repo, sha1)
	if err != nil || len(arch) != 1 || arch[0].Target != id {
		t.Fatalf("Archived(sha1) = %+v, %v", arch, err)
	}
	old, err := h.Engine.StateAt(ctx, id, arch[0].State)
	if err != nil || old.Source != sha1 {
		t.Errorf("StateAt(archived) = %+v, %v", old, err)
	}
	log, err := h.Engine.SavedLog(ctx, "script-of-111", old.Jobs[0].Logs[0].Commit)
	if err != nil || !strings.Contains(string(log), "building 111") {
		t.Errorf("SavedLog = %q, %v", log, err)
	}
}

// RebuildFailed rebuilds the failed steps of a target's failed jobs, and
// only those; RebuildFailedProject does it for every target.
func TestRebuildFailed(t *testing.T) {
	sc := newScript()
	sc.fail["bad"] = true
	c := cache.New[string, string](sc, cache.Options{})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(t ci.Target) ci.Jobs {
		return ci.Jobs{
			"good": c.Find("good"),
			"bad":  c.Find("bad" + t.BranchName()),
		}
	}}}})
	ctx := context.Background()
	sc.fail["badmaster"], sc.fail["baddev"] = true, true
	h.SetBranch("me/p", "master", sha1)
	h.SetBranch("me/p", "dev", sha2)
	h.WaitStatus("me/p", sha1, "bad", ci.Failure)
	h.WaitStatus("me/p", sha2, "bad", ci.Failure)
	h.WaitStatus("me/p", sha1, "good", ci.Success)
	h.Settle()
	sc.mu.Lock()
	sc.fail["badmaster"] = false
	sc.mu.Unlock()
	n, err := h.Engine.RebuildFailed(ctx, ci.Branch("me/p", "master"))
	if n != 1 || err != nil {
		t.Fatalf("RebuildFailed = %d, %v; want 1", n, err)
	}
	h.WaitStatus("me/p", sha1, "bad", ci.Success)
	if sc.count("good") != 1 || sc.count("badmaster") != 2 || sc.count("baddev") != 1 {
		t.Errorf("builds good %d, badmaster %d, baddev %d; want 1, 2, 1", sc.count("good"), sc.count("badmaster"), sc.count("baddev"))
	}
	h.Settle()
	n, err = h.Engine.RebuildFailedProject(ctx, ci.Branch("me/p", "x").Repo)
	if n != 1 || err != nil {
		t.Fatalf("RebuildFailedProject = %d, %v; want 1 (dev's)", n, err)
	}
	for deadline := time.Now().Add(10 * time.Second); sc.count("baddev") < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if sc.count("baddev") != 2 {
		t.Errorf("baddev built %d times, want 2", sc.count("baddev"))
	}
	if _, err := h.Engine.RebuildFailed(ctx, ci.Branch("me/p", "gone")); err == nil {
		t.Error("RebuildFailed(unknown target) succeeded")
	}
}

// Explain follows a pending job to the step it waits for, the pool that
// step waits for (with its place in the queue), and another commit's
// status that it reads.
func TestExplain(t *testing.T) {
	sc := newScript()
	sc.hold = true
	p := pool.New("docker", 1, nil)
	c := cache.New[string, string](sc, cache.Options{Pool: p})
	h := citest.New(t, ci.Config{Pools: []*pool.Pool{p}, Projects: []ci.Project{{Repo: "me/p", Jobs: func(t ci.Target) ci.Jobs {
		up := ci.SuccessTargetURL("ci/datakit/lib", ci.BranchHead("me/lib", "master"))
		return ci.Jobs{
			"a":   c.Find("a" + t.BranchName()),
			"b":   c.Find("b" + t.BranchName()),
			"up":  term.Map(up, func(string) string { return "upstream ok" }),
			"all": term.Then(term.WaitForAll(term.Named("a", c.Find("a"+t.BranchName())), term.Named("b", c.Find("b"+t.BranchName()))), "all ok"),
			// The same steps twice, and the same status read twice.
			"twice": term.Then(term.WaitForAll(term.Named("a", c.Find("a"+t.BranchName())), term.Named("b", c.Find("b"+t.BranchName())),
				term.Named("again", term.Then(term.WaitForAll(term.Named("a", c.Find("a"+t.BranchName())), term.Named("b", c.Find("b"+t.BranchName())),
					term.Named("up", up)), "")), term.Named("up", up)), "twice ok"),
		}
	}}, {Repo: "me/lib", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"lib": term.Pendingf[string]("lib is slow")}
	}}}})
	h.SetBranch("me/lib", "master", sha3)
	h.SetBranch("me/p", "master", sha1)
	// a's and b's steps race for the pool: one holds it, the other waits.
	waiting, holder := "", ""
	for deadline := time.Now().Add(10 * time.Second); waiting == ""; time.Sleep(5 * time.Millisecond) {
		h.Settle()
		for _, j := range []string{"a", "b"} {
			if st, ok := h.Status("me/p", sha1, j); ok && st.Description == `Waiting for resource in "docker"` {
				waiting, holder = j, map[string]string{"a": "b", "b": "a"}[j]
			}
		}
		if time.Now().After(deadline) {
			t.Fatal(`neither a nor b is "Waiting for resource in \"docker\""`)
		}
	}
	id := ci.Branch("me/p", "master")
	chain, ok := h.Engine.Explain(id, waiting)
	if !ok || len(chain) != 3 {
		t.Fatalf("Explain(%s) = %+v, %v; want job, step, pool", waiting, chain, ok)
	}
	if chain[1].What != "step Script "+waiting+"master" || chain[1].Branch != "script-of-"+waiting+"master" || chain[1].Reason != `Waiting for resource in "docker"` {
		t.Errorf("step link = %+v", chain[1])
	}
	if hc, _ := h.Engine.Explain(id, holder); len(hc) != 2 || hc[1].Reason != "running" {
		t.Errorf("Explain(%s), whose step runs = %+v; want its step, running", holder, hc)
	}
	if chain[2].Pool == nil || chain[2].Position != 1 || len(chain[2].Pool.Active) != 1 || chain[2].Pool.Active[0].Label != "Script "+holder+"master" {
		t.Errorf("pool link = %+v", chain[2])
	}
	chain, _ = h.Engine.Explain(id, "all")
	if len(chain) < 3 || !strings.HasPrefix(chain[0].Reason, "pending: Waiting for a, b") {
		t.Errorf("Explain(all) = %+v", chain)
	}
	chain, _ = h.Engine.Explain(id, "up")
	var found bool
	for _, w := range chain {
		if strings.HasPrefix(w.What, "status ci/datakit/lib of me/lib@3333333") && w.Target == ci.Branch("me/lib", "master") && w.Reason == "pending: lib is slow" {
			found = true
		}
	}
	if !found {
		t.Errorf("Explain(up) = %+v; want the status of me/lib's master", chain)
	}
	// No link twice: a status read in several files, a step two terms
	// of a job share, is one link.
	for _, job := range []string{"a", "b", "up", "all", "twice"} {
		chain, _ := h.Engine.Explain(id, job)
		seen := map[string]bool{}
		for _, w := range chain {
			k := fmt.Sprint(w.Depth, w.What, w.Branch)
			if seen[k] && w.Depth < 2 {
				t.Errorf("Explain(%s) lists %q twice: %+v", job, w.What, chain)
			}
			seen[k] = true
		}
	}
	if _, ok := h.Engine.Explain(id, "nope"); ok {
		t.Error("Explain(unknown job) ok")
	}
	sc.gate <- struct{}{}
	sc.gate <- struct{}{}
	h.WaitStatus("me/p", sha1, "all", ci.Success)
}

func TestACL(t *testing.T) {
	alice := ci.Identity{User: "github:alice", GitHubOrgs: []string{"Moby"}, GitHubReadable: map[string]bool{"me/private": true}}
	bob := ci.Identity{User: "github:bob"}
	anon := ci.Identity{}
	admin := ci.Identity{User: "admin"}
	for _, tc := range []struct {
		name string
		acl  ci.ACL
		who  ci.Identity
		want bool
	}{
		{"everyone/anonymous", ci.Everyone(), anon, true},
		{"zero/anyone", ci.ACL{}, admin, false},
		{"user/match", ci.User("admin"), admin, true},
		{"user/other", ci.User("admin"), bob, false},
		{"user/anonymous", ci.User(""), anon, false},
		{"org/member (case differs)", ci.GitHubOrg("moby"), alice, true},
		{"org/not member", ci.GitHubOrg("moby"), bob, false},
		{"repo/readable", ci.CanReadGitHub("Me/Private"), alice, true},
		{"repo/unreadable", ci.CanReadGitHub("me/private"), bob, false},
		{"any/second", ci.Any(ci.User("admin"), ci.GitHubOrg("moby")), alice, true},
		{"any/none", ci.Any(ci.User("admin"), ci.GitHubOrg("docker")), alice, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.acl.Permits(tc.who); got != tc.want {
				t.Errorf("Permits(%+v) = %v, want %v", tc.who, got, tc.want)
			}
		})
	}
	if got := ci.Any(ci.CanReadGitHub("b/r"), ci.CanReadGitHub("A/R"), ci.CanReadGitHub("b/r")).GitHubRepos(); strings.Join(got, ",") != "a/r,b/r" {
		t.Errorf("GitHubRepos = %v", got)
	}
}

// ParseLogs reads back what outputJSON writes, and fails cleanly on
// anything else.
func FuzzParseLogs(f *testing.F) {
	f.Add(`null`)
	f.Add(`{"branch":"b"}`)
	f.Add(`[{"title":"t","branch":"b","commit":"c","failed":true},[{"branch":"x"},{"branch":"y"}]]`)
	f.Fuzz(func(t *testing.T, s string) {
		logs, err := ci.ParseLogs([]byte(s))
		if err != nil {
			return
		}
		for _, l := range logs {
			if l.Live != (l.Commit == "") {
				t.Fatalf("ParseLogs(%q): %+v is live iff it has no commit", s, l)
			}
		}
	})
}
