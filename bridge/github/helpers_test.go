package github_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// env is a test's GitHub stand-in with a user alice and her repository
// alice/proj, and an in-memory store.
type env struct {
	t     testing.TB
	gh    *fakegithub.Server
	token string
	store *dkstore.GitStore
	repo  bridge.Repo
}

const repoName = "alice/proj"

func newEnv(t testing.TB) *env {
	t.Helper()
	s := fakegithub.New(fakegithub.Options{})
	t.Cleanup(s.Close)
	token, err := s.AddUser("alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRepo(repoName, fakegithub.RepoOptions{}); err != nil {
		t.Fatal(err)
	}
	st := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { st.Close() })
	return &env{t: t, gh: s, token: token, store: st, repo: bridge.Repo{User: "alice", Name: "proj"}}
}

// sha makes a commit id from a number.
func sha(n int) string { return fmt.Sprintf("%040x", n) }

func (e *env) push(ref, commit string) {
	e.t.Helper()
	if err := e.gh.Push(repoName, fakegithub.Push{Ref: ref, SHA: commit}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) openPR(head, title string) int {
	e.t.Helper()
	n, err := e.gh.OpenPR(repoName, fakegithub.NewPR{Title: title, Head: head, Body: "About " + title})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) github() github.GitHub {
	return github.GitHub{URL: e.gh.URL(), Token: e.token}
}

// newBridge makes a bridge monitoring alice/proj.
func (e *env) newBridge(opts github.Options) *github.Bridge {
	e.t.Helper()
	opts.Monitor = append(opts.Monitor, e.repo)
	b, err := github.New(e.store, e.github(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func caps(t testing.TB, s string) *github.Capabilities {
	t.Helper()
	c := mustCaps(t, s)
	return &c
}

func (e *env) sync(b *github.Bridge) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Sync(ctx); err != nil {
		e.t.Fatalf("Sync: %v", err)
	}
}

func (e *env) head() dkstore.CommitID {
	e.t.Helper()
	br, _ := e.store.Branch(bridge.DefaultBranch)
	h, err := br.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func (e *env) snapshot() dkstore.Reader {
	e.t.Helper()
	r, _, err := bridge.Snapshot(context.Background(), e.store, bridge.DefaultBranch)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// write changes the metadata branch in one commit, as the CI or a user
// would.
func (e *env) write(f func(ctx context.Context, tx dkstore.Transaction) error) {
	e.t.Helper()
	ctx := context.Background()
	br, _ := e.store.Branch(bridge.DefaultBranch)
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := f(ctx, tx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, "test"); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) writeStatus(commit, statusContext, state, descr string) {
	e.t.Helper()
	e.write(func(ctx context.Context, tx dkstore.Transaction) error {
		return bridge.WriteStatus(ctx, tx, bridge.Status{Repo: e.repo, Commit: commit, Context: statusContext, State: state, Description: descr})
	})
}

func (e *env) storeStatuses(commit string) map[string]string {
	e.t.Helper()
	sts, err := bridge.ReadStatuses(context.Background(), e.snapshot(), e.repo, commit)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range sts {
		out[s.Context] = s.State + " " + s.Description
	}
	return out
}

// ghStatuses returns GitHub's latest status of each context of commit.
func (e *env) ghStatuses(commit string) map[string]string {
	e.t.Helper()
	sts, err := e.gh.Statuses(repoName, commit)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range sts {
		c := s.Context
		if c == "default" {
			c = ""
		}
		out[c] = s.State + " " + s.Description
	}
	return out
}

func (e *env) storePRs() map[int]bridge.PR {
	e.t.Helper()
	prs, err := bridge.ReadPRs(context.Background(), e.snapshot(), e.repo)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int]bridge.PR{}
	for _, pr := range prs {
		out[pr.Number] = pr
	}
	return out
}

func (e *env) storeRefs() map[string]string {
	e.t.Helper()
	refs, err := bridge.ReadRefs(context.Background(), e.snapshot(), e.repo)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range refs {
		out[r.Name] = r.Head
	}
	return out
}

// calls returns the API calls made since the last ResetStats, by route,
// without those answered 304.
func (e *env) calls() map[string]int {
	out := map[string]int{}
	for route, st := range e.gh.Stats() {
		if n := st.Calls - st.NotModified; n > 0 {
			out[route] = n
		}
	}
	return out
}

func fmtCalls(m map[string]int) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s: %d; ", k, v)
	}
	return b.String()
}

func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.gh.FlushHooks(ctx); err != nil {
		e.t.Fatal(err)
	}
}
