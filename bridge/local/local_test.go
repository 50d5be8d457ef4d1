package local_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/local"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
)

var repo = bridge.Repo{User: "u", Name: "r"}

func newStore(t *testing.T) *dkstore.GitStore {
	t.Helper()
	s := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { s.Close() })
	return s
}

// syncOnce runs Sync on one source and fails t on error.
func syncOnce(t *testing.T, s dkstore.Store, dir string, opts local.Options) (dkstore.CommitID, bool) {
	t.Helper()
	id, changed, err := local.Sync(context.Background(), s, []local.Source{{Repo: repo, Path: dir}}, opts)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return id, changed
}

func snapshot(t *testing.T, s dkstore.Store) dkstore.Reader {
	t.Helper()
	r, _, err := bridge.Snapshot(context.Background(), s, bridge.DefaultBranch)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// refs returns the refs of repo in the store, name → head.
func refs(t *testing.T, s dkstore.Store, repo bridge.Repo) map[string]string {
	t.Helper()
	rs, err := bridge.ReadRefs(context.Background(), snapshot(t, s), repo)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rs {
		out[r.Name] = r.Head
	}
	return out
}

func prs(t *testing.T, s dkstore.Store) map[int]bridge.PR {
	t.Helper()
	ps, err := bridge.ReadPRs(context.Background(), snapshot(t, s), repo)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bridge.PR{}
	for _, p := range ps {
		out[p.Number] = p
	}
	return out
}

// message returns the message of commit id, as a set of lines.
func message(t *testing.T, s dkstore.Store, id dkstore.CommitID) []string {
	t.Helper()
	c, err := s.Commit(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(c.Message), "\n")
	return lines
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	g := append([]string(nil), got...)
	w := append([]string(nil), want...)
	slices.Sort(g)
	slices.Sort(w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %q\nwant %q", what, got, want)
	}
}

func TestSyncRefsAndPRs(t *testing.T) {
	s := newStore(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("First", map[string]string{"a": "1"})
	g.Git("branch", "feature/x", c1)
	g.Git("tag", "light", c1)
	g.AnnotatedTag("v1.0", c1, "release")
	g.Git("checkout", "-q", "-b", "topic")
	c2 := g.Commit("Add the feature\n\nLong description.", map[string]string{"b": "2"})
	g.Git("checkout", "-q", "master")
	g.UpdateRef("refs/pull/3/head", c2)
	g.UpdateRef("refs/pull/junk/head", c2) // not a PR number: skipped

	id, changed := syncOnce(t, s, g.Dir, local.Options{})
	if !changed {
		t.Fatal("first Sync committed nothing")
	}
	want := map[string]string{"heads/master": c1, "heads/feature/x": c1, "heads/topic": c2, "tags/light": c1, "tags/v1.0": c1}
	if got := refs(t, s, repo); !reflect.DeepEqual(got, want) {
		t.Errorf("refs = %v\nwant %v", got, want)
	}
	wantPR := bridge.PR{Repo: repo, Number: 3, Head: c2, State: "open", Title: "Add the feature", Owner: gitfixture.Name, Base: "master"}
	if got := prs(t, s); !reflect.DeepEqual(got, map[int]bridge.PR{3: wantPR}) {
		t.Errorf("PRs = %+v\nwant %+v", got, wantPR)
	}
	sameLines(t, "first message", message(t, s, id), []string{
		"Tracking new branch feature/x of u/r",
		"Tracking new branch master of u/r",
		"Tracking new branch topic of u/r",
		"Tracking new tag light of u/r",
		"Tracking new tag v1.0 of u/r",
		"Tracking new PR 3 of u/r",
	})
	// The branch was initialised first.
	if data, err := snapshot(t, s).ReadFile(context.Background(), "README.md"); err != nil || string(data) != bridge.ReadmeText {
		t.Errorf("README.md = %q, %v", data, err)
	}

	// Nothing changed: no commit.
	again, changed := syncOnce(t, s, g.Dir, local.Options{})
	if changed || again != id {
		t.Errorf("second Sync = %v, %v; want %v, false", again, changed, id)
	}

	// Move, delete, close.
	c3 := g.Commit("Third", nil)
	g.Git("branch", "-D", "feature/x")
	g.Git("tag", "-d", "light")
	g.UpdateRef("refs/pull/4/head", c1)
	id, changed = syncOnce(t, s, g.Dir, local.Options{})
	if !changed {
		t.Fatal("Sync after changes committed nothing")
	}
	sameLines(t, "second message", message(t, s, id), []string{
		"Updating existing branch master of u/r to " + c3,
		"Removing deleted branch feature/x of u/r",
		"Removing deleted tag light of u/r",
		"Tracking new PR 4 of u/r",
	})
	want = map[string]string{"heads/master": c3, "heads/topic": c2, "tags/v1.0": c1}
	if got := refs(t, s, repo); !reflect.DeepEqual(got, want) {
		t.Errorf("refs = %v\nwant %v", got, want)
	}

	g.UpdateRef("refs/pull/3/head", c3)
	g.DeleteRef("refs/pull/4/head")
	id, _ = syncOnce(t, s, g.Dir, local.Options{})
	sameLines(t, "third message", message(t, s, id), []string{
		"Updating PR 3 of u/r to " + c3,
		`Updating title of PR 3 of u/r to "Third"`,
		"Closing PR 4 of u/r",
	})
	got := prs(t, s)
	if p := got[3]; p.Head != c3 || p.Title != "Third" || p.State != "open" {
		t.Errorf("PR 3 = %+v, want head %s, title Third, open", p, c3)
	}
	if p, ok := got[4]; !ok || p.State != "closed" || p.Head != c1 {
		t.Errorf("PR 4 = %+v, %v; want kept, closed, at %s", p, ok, c1)
	}

	// A closed PR whose ref comes back is reopened.
	g.UpdateRef("refs/pull/4/head", c2)
	id, _ = syncOnce(t, s, g.Dir, local.Options{})
	sameLines(t, "fourth message", message(t, s, id), []string{
		"Reopening PR 4 of u/r at " + c2,
		`Updating title of PR 4 of u/r to "Add the feature"`,
	})
	if p := prs(t, s)[4]; p.State != "open" || p.Title != "Add the feature" {
		t.Errorf("PR 4 = %+v, want open, titled from its new head", p)
	}
}

func TestPRBase(t *testing.T) {
	g := gitfixture.NewRepo(t, t.TempDir())
	g.Git("checkout", "-q", "-b", "main") // the default branch
	c1 := g.Commit("one", nil)
	c2 := g.Commit("two", nil)
	c3 := g.Commit("three", nil)
	g.Git("branch", "dev", c1)
	g.Git("branch", "also-main", c3)
	g.Git("branch", "b-side", c2)
	g.Git("branch", "a-side", c2)

	g.UpdateRef("refs/pull/1/head", c3) // no base ref
	g.UpdateRef("refs/pull/2/head", c3)
	g.SymbolicRef("refs/pull/2/base", "refs/heads/dev")
	g.UpdateRef("refs/pull/3/head", c3)
	g.UpdateRef("refs/pull/3/base", c1) // dev's head
	g.UpdateRef("refs/pull/4/head", c3)
	g.UpdateRef("refs/pull/4/base", c3) // main's and also-main's head: the default wins
	g.UpdateRef("refs/pull/5/head", c3)
	g.UpdateRef("refs/pull/5/base", c2) // a-side's and b-side's: the first
	g.UpdateRef("refs/pull/6/head", c3)
	g.Git("update-ref", "refs/pull/6/base", g.Commit("four", nil))
	g.Git("reset", "-q", "--hard", c3) // the base of 6 is on no branch
	g.UpdateRef("refs/pull/7/head", c3)
	g.SymbolicRef("refs/pull/7/base", "refs/heads/gone") // missing, but named

	s := newStore(t)
	syncOnce(t, s, g.Dir, local.Options{})
	want := map[int]string{1: "main", 2: "dev", 3: "dev", 4: "main", 5: "a-side", 6: "main", 7: "gone"}
	got := map[int]string{}
	for n, p := range prs(t, s) {
		got[n] = p.Base
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bases = %v\nwant %v", got, want)
	}

	// Moving a base ref updates the PR.
	g.SymbolicRef("refs/pull/2/base", "refs/heads/main")
	id, _ := syncOnce(t, s, g.Dir, local.Options{})
	sameLines(t, "message", message(t, s, id), []string{"Updating base of PR 2 of u/r to main"})

	// Head and base move in one pass: each change has its line.
	c4 := g.Git("commit-tree", "-p", c3, "-m", "four again", c3+"^{tree}") // on no branch
	g.UpdateRef("refs/pull/2/head", c4)
	g.SymbolicRef("refs/pull/2/base", "refs/heads/dev")
	var log bytes.Buffer
	id, _ = syncOnce(t, s, g.Dir, local.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	wantLines := []string{
		"Updating PR 2 of u/r to " + c4,
		"Updating base of PR 2 of u/r to dev",
		`Updating title of PR 2 of u/r to "four again"`,
	}
	sameLines(t, "message", message(t, s, id), wantLines)
	for _, w := range wantLines {
		if !strings.Contains(log.String(), strconv.Quote(w)) {
			t.Errorf("log lacks %q:\n%s", w, log.String())
		}
	}
	if p := prs(t, s)[2]; p.Head != c4 || p.Base != "dev" || p.Title != "four again" {
		t.Errorf("PR 2 = %+v, want head %s, base dev, title \"four again\"", p, c4)
	}
}

func TestOwner(t *testing.T) {
	for in, want := range map[string]string{
		"alice":        "alice",
		"Jane Doe":     "Jane-Doe",
		"  J. R. R.  ": "J.-R.-R",
		"Zoë Ünïcode":  "Zo-n-code",
		"日本":           "local",
		"":             "local",
		"..":           "local",
		"a_b-c.d":      "a_b-c.d",
		"x <y@z.org>":  "x-y-z.org",
	} {
		if got := local.Owner(in); got != want {
			t.Errorf("Owner(%q) = %q, want %q", in, got, want)
		}
		if !bridge.ValidName(local.Owner(in)) {
			t.Errorf("Owner(%q) = %q, not a valid name", in, local.Owner(in))
		}
	}
}

func TestParseSource(t *testing.T) {
	for _, c := range []struct {
		in   string
		want local.Source
		ok   bool
	}{
		{"me/proj:/src/proj", local.Source{Repo: bridge.Repo{User: "me", Name: "proj"}, Path: "/src/proj"}, true},
		{"me/proj:rel/dir", local.Source{Repo: bridge.Repo{User: "me", Name: "proj"}, Path: "rel/dir"}, true},
		{"me/proj:/a:b", local.Source{Repo: bridge.Repo{User: "me", Name: "proj"}, Path: "/a:b"}, true},
		{"me/proj", local.Source{}, false},
		{"me/proj:", local.Source{}, false},
		{"me:/x", local.Source{}, false},
		{"me/../x:/x", local.Source{}, false},
		{":/x", local.Source{}, false},
	} {
		got, err := local.ParseSource(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v, ok %v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "USER/REPO") && !strings.Contains(err.Error(), "invalid repository") {
			t.Errorf("ParseSource(%q) error %q does not say what is wanted", c.in, err)
		}
		if err == nil && got.String() != c.in {
			t.Errorf("ParseSource(%q).String() = %q", c.in, got.String())
		}
	}
}

// Other repositories' data, and refs that are not branches or tags, are
// left alone; names the layout cannot hold are skipped with a log line.
func TestSyncTouchesOnlyItsOwn(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	other := bridge.Repo{User: "o", Name: "x"}
	const sha = "0123456789abcdef0123456789abcdef01234567"
	b, _ := s.Branch(bridge.DefaultBranch)
	tx, _ := b.Transaction(ctx, dkstore.TxOptions{})
	for _, ref := range []bridge.Ref{{Repo: other, Name: "heads/master", Head: sha}, {Repo: repo, Name: "remotes/origin/x", Head: sha}} {
		if err := bridge.WriteRef(ctx, tx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if err := bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: sha, Context: "ci/datakit/test", State: "success"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, "others"); err != nil {
		t.Fatal(err)
	}

	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)
	g.Git("branch", "a+b", c1)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	syncOnce(t, s, g.Dir, local.Options{Logger: log})
	if got, want := refs(t, s, repo), map[string]string{"heads/master": c1, "remotes/origin/x": sha}; !reflect.DeepEqual(got, want) {
		t.Errorf("refs = %v, want %v", got, want)
	}
	if got, want := refs(t, s, other), map[string]string{"heads/master": sha}; !reflect.DeepEqual(got, want) {
		t.Errorf("other repo's refs = %v, want %v", got, want)
	}
	if sts, _ := bridge.ReadStatuses(ctx, snapshot(t, s), repo, sha); len(sts) != 1 {
		t.Errorf("statuses = %v, want the one written", sts)
	}
	if !strings.Contains(logs.String(), "refs/heads/a+b") {
		t.Errorf("no log line for the skipped branch a+b:\n%s", logs.String())
	}
}

// A repository that cannot be read is reported, and its data kept; the
// others are synced.
func TestSyncMissingRepository(t *testing.T) {
	s := newStore(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)
	syncOnce(t, s, g.Dir, local.Options{})

	moved := g.Dir + ".moved"
	if err := os.Rename(g.Dir, moved); err != nil {
		t.Fatal(err)
	}
	g2 := gitfixture.NewRepo(t, t.TempDir())
	c2 := g2.Commit("two", nil)
	r2 := bridge.Repo{User: "u", Name: "r2"}
	_, changed, err := local.Sync(context.Background(), s, []local.Source{{Repo: repo, Path: g.Dir}, {Repo: r2, Path: g2.Dir}}, local.Options{})
	if err == nil || !strings.Contains(err.Error(), g.Dir) {
		t.Errorf("Sync with a missing repository: error %v, want one naming %s", err, g.Dir)
	}
	if !changed {
		t.Errorf("Sync did not sync the repository that is there")
	}
	if got := refs(t, s, repo); got["heads/master"] != c1 {
		t.Errorf("the missing repository's refs were touched: %v", got)
	}
	if got := refs(t, s, r2); got["heads/master"] != c2 {
		t.Errorf("r2 refs = %v", got)
	}
}

// The watched repository is never written to (the original's #622).
func TestSyncReadOnlyRepository(t *testing.T) {
	s := newStore(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)
	g.AnnotatedTag("v1", c1, "tag")
	g.UpdateRef("refs/pull/1/head", c1)
	g.Git("gc", "-q")
	binds := gitfixture.ReadOnly(t, g.Dir)
	before := gitfixture.Listing(t, g.Dir)
	syncOnce(t, s, g.Dir, local.Options{})
	if got := refs(t, s, repo); got["heads/master"] != c1 || got["tags/v1"] != c1 {
		t.Errorf("refs = %v", got)
	}
	if p := prs(t, s)[1]; p.Title != "one" {
		t.Errorf("PR 1 = %+v", p)
	}
	if after := gitfixture.Listing(t, g.Dir); after != before {
		t.Errorf("the repository changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !binds {
		t.Log("running as root: permissions do not bind; checked that nothing changed instead")
	}
}

func TestRefuse(t *testing.T) {
	s := newStore(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	g.Commit("one", nil)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(g.Dir, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, path, refuse string }{
		{"git dir", g.Dir, g.GitDir()},
		{"work tree", g.Dir, g.Dir},
		{"through a symlink", link, g.GitDir() + "/"},
		{"refuse through a symlink", g.GitDir(), filepath.Join(link, ".git")},
	} {
		t.Run(c.name, func(t *testing.T) {
			srcs := []local.Source{{Repo: repo, Path: c.path}}
			opts := local.Options{Refuse: []string{"/elsewhere", c.refuse}}
			if _, _, err := local.Sync(context.Background(), s, srcs, opts); !errors.Is(err, local.ErrRefused) {
				t.Errorf("Sync error = %v, want ErrRefused", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := local.Run(ctx, s, srcs, opts); !errors.Is(err, local.ErrRefused) {
				t.Errorf("Run error = %v, want ErrRefused", err)
			}
		})
	}
	if b, _ := s.Branch(bridge.DefaultBranch); b != nil {
		if h, _ := b.Head(context.Background()); !h.IsZero() {
			t.Errorf("a refused Sync wrote to the store")
		}
	}
}

func TestInvalidSources(t *testing.T) {
	s := newStore(t)
	for name, srcs := range map[string][]local.Source{
		"none":      nil,
		"bad repo":  {{Repo: bridge.Repo{User: "a b", Name: "c"}, Path: "/x"}},
		"no path":   {{Repo: repo}},
		"duplicate": {{Repo: repo, Path: "/x"}, {Repo: repo, Path: "/y"}},
	} {
		if _, _, err := local.Sync(context.Background(), s, srcs, local.Options{}); !errors.Is(err, dkstore.ErrInvalid) {
			t.Errorf("%s: Sync error = %v, want ErrInvalid", name, err)
		}
		if err := local.Run(context.Background(), s, srcs, local.Options{}); !errors.Is(err, dkstore.ErrInvalid) {
			t.Errorf("%s: Run error = %v, want ErrInvalid", name, err)
		}
	}
}

// waitRef waits until ref of repo has head in s, and returns how long that
// took.
func waitRef(t *testing.T, s dkstore.Store, repo bridge.Repo, ref, head string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r, _, err := bridge.Snapshot(context.Background(), s, bridge.DefaultBranch)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := bridge.ReadRef(context.Background(), r, repo, ref)
		if err != nil {
			t.Fatal(err)
		}
		if ok && got.Head == head {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s %s is not %s after %v (got %+v, %v)", repo, ref, head, limit, got, ok)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a log destination for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newStore(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)
	later := filepath.Join(t.TempDir(), "later") // missing at first
	r2 := bridge.Repo{User: "u", Name: "later"}

	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- local.Run(ctx, s, []local.Source{{Repo: repo, Path: g.Dir}, {Repo: r2, Path: later}},
			local.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}()
	waitRef(t, s, repo, "heads/master", c1, 5*time.Second)

	// Changes are noticed within a second.
	for i := range 3 {
		c := g.Commit("change", nil)
		if d := waitRef(t, s, repo, "heads/master", c, 5*time.Second); d >= time.Second {
			t.Errorf("change %d noticed after %v, want < 1s", i, d)
		} else {
			t.Logf("change %d noticed after %v", i, d)
		}
	}

	// The missing repository is logged (once), and picked up when it
	// appears.
	g2 := gitfixture.NewRepo(t, later)
	c2 := g2.Commit("two", nil)
	waitRef(t, s, r2, "heads/master", c2, 5*time.Second)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), later) {
		t.Errorf("the missing repository was logged %d times, want once:\n%s", n, logs.String())
	}
}

// Run commits nothing while nothing changes.
func TestRunQuiet(t *testing.T) {
	s := newStore(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- local.Run(ctx, s, []local.Source{{Repo: repo, Path: g.Dir}}, local.Options{Interval: 10 * time.Millisecond})
	}()
	waitRef(t, s, repo, "heads/master", c1, 5*time.Second)
	b, _ := s.Branch(bridge.DefaultBranch)
	h1, _ := b.Head(context.Background())
	time.Sleep(200 * time.Millisecond)
	h2, _ := b.Head(context.Background())
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if h1 != h2 {
		t.Errorf("Run committed while nothing changed: %v then %v", h1, h2)
	}
}
