package git_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/term"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func readBranchFile(t *testing.T, s dkstore.Store, branch, file string) (string, string) {
	t.Helper()
	ctx := context.Background()
	br, _ := s.Branch(dkstore.BranchName(branch))
	h, err := br.Head(ctx)
	if err != nil || h.IsZero() {
		t.Fatalf("branch %s: %v %v", branch, h, err)
	}
	c, _ := s.Commit(ctx, h)
	tree, _ := s.Tree(ctx, c.Tree)
	b, err := tree.ReadFile(ctx, dkstore.Path(file))
	if err != nil {
		t.Fatalf("%s:%s: %v", branch, file, err)
	}
	return string(b), c.Message
}

// commandBranch is the result branch of the command step labelled label
// on commit sha: shell-of-<label>-<digest>-on-<sha>, found in the store or
// among the live logs (while it runs).
func commandBranch(t *testing.T, h *citest.Harness, label, sha string) string {
	t.Helper()
	found := commandBranches(t, h, label, sha)
	if len(found) != 1 {
		t.Fatalf("result branches of %q on %.7s: %v, want one", label, sha, found)
	}
	return found[0]
}

// commandBranches lists the result branches of the command steps labelled
// label on commit sha, in the store or among the live logs.
func commandBranches(t *testing.T, h *citest.Harness, label, sha string) []string {
	t.Helper()
	return matchCommandBranches(label, sha, append(h.Engine.Logs().List(), commandBranchesIn(t, h.Store, label, sha)...))
}

// commandBranchesIn lists the result branches of the command steps
// labelled label on commit sha in store.
func commandBranchesIn(t *testing.T, store dkstore.Store, label, sha string) []string {
	t.Helper()
	branches, err := store.Branches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range branches {
		names = append(names, string(b))
	}
	return matchCommandBranches(label, sha, names)
}

func matchCommandBranches(label, sha string, names []string) []string {
	re := regexp.MustCompile(`^shell-of-` + regexp.QuoteMeta(ci.EscapeName(label)) + `-[0-9a-f]{12}-on-` + sha + `$`)
	var found []string
	for _, n := range names {
		if re.MatchString(n) && !slices.Contains(found, n) {
			found = append(found, n)
		}
	}
	return found
}

// The reference's "Git" test: a command runs in a checkout of the target's
// commit; its result branch shell-of-ls-<digest>-on-<sha> has the log.
func TestCommand(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"src/main.c": "int main(){}\n"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	ls := remote.Command("ls", git.CommandOptions{Options: cache.Options{Pool: pool.New("build", 1, nil)}}, []string{"ls"})
	fails := remote.Command("false", git.CommandOptions{}, []string{"sh", "-c", "echo about to fail; exit 3"})
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		src := remote.Fetch(tg.Commit())
		return ci.Jobs{
			"ls":   term.Then(term.Bind(src, ls), "Listed"),
			"fail": term.Then(term.Bind(src, fails), "unreachable"),
		}
	}}}}
	h := citest.New(t, cfg)
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", sha)
	h.WaitStatus("me/p", sha, "ls", ci.Success)
	log, msg := readBranchFile(t, h.Store, commandBranch(t, h, "ls", sha), "log")
	if strings.Contains(log, "warning:") {
		t.Errorf("the checkout warns: %q", log)
	}
	if !strings.Contains(log, "Running \"ls\"...\nsrc\n") || msg != "Cached successful result" {
		t.Errorf("log = %q (commit %q)", log, msg)
	}
	if _, msg := readBranchFile(t, h.Store, "git-pull-of-"+sha, "log"); msg != "Cached successful result" {
		t.Errorf("fetch result = %q", msg)
	}
	st := h.WaitStatus("me/p", sha, "fail", ci.Failure)
	if want := `Command "sh" "-c" "echo about to fail; exit 3" exited with status 3: about to fail`; st.Description != want {
		t.Errorf("failure = %q, want %q", st.Description, want)
	}
	if log, _ := readBranchFile(t, h.Store, commandBranch(t, h, "false", sha), "log"); !strings.Contains(log, "about to fail\n") {
		t.Errorf("failure log = %q", log)
	}
}

// The reference's "Git tag" test: an annotated tag's commit is fetched and
// checked out.
func TestAnnotatedTag(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	repo.Commit("first", map[string]string{"a": "1"})
	sha := repo.Commit("second", map[string]string{"VERSION": "1.0\n"})
	repo.Git("tag", "-a", "-m", "release", "v1.0")
	repo.Git("checkout", "-q", "--detach", "HEAD~1")
	repo.Git("branch", "-f", "master", "HEAD") // only the tag reaches sha now
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	cat := remote.Command("cat", git.CommandOptions{}, []string{"cat", "VERSION"})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"cat": term.Then(term.Bind(remote.Fetch(tg.Commit()), cat), "ok")}
	}}}})
	h.Timeout = time.Minute
	h.SetTag("me/p", "v1.0", sha)
	h.WaitStatus("me/p", sha, "cat", ci.Success)
	if log, _ := readBranchFile(t, h.Store, commandBranch(t, h, "cat", sha), "log"); !strings.Contains(log, "1.0\n") {
		t.Errorf("log = %q", log)
	}
}

// A commit that is not in the repository is an error (not a cached
// failure: it is fetched again later, and found once pushed); an
// unreachable repository is an error too.
func TestFetchErrors(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	repo.Commit("first", map[string]string{"a": "1"})
	// a commit made elsewhere, pushed later
	other := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "other"))
	other.Git("pull", "-q", repo.Dir, "master")
	later := other.Commit("later", map[string]string{"b": "2"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{RetryAfter: 200 * time.Millisecond})
	gone := git.NewRemote(filepath.Join(t.TempDir(), "nowhere"), t.TempDir(), git.Options{})
	const unknown = "9876543210987654321098765432109876543210"
	// (one remote per commit: the fetch branch git-pull-of-<sha> is named
	// by the commit alone, as in the original)
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		if tg.IsTag() {
			return ci.Jobs{"fetch": term.Then(gone.Fetch(tg.Commit()), "fetched")}
		}
		return ci.Jobs{"fetch": term.Then(remote.Fetch(tg.Commit()), "fetched")}
	}}}})
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", later)
	h.SetTag("me/p", "gone", unknown)
	st := h.WaitStatus("me/p", later, "fetch", ci.Error)
	if want := "commit " + later[:7] + " is not in " + repo.Dir; st.Description != want {
		t.Errorf("missing commit: %q, want %q", st.Description, want)
	}
	st = h.WaitStatus("me/p", unknown, "fetch", ci.Error)
	if !strings.Contains(st.Description, "fetching") {
		t.Errorf("unreachable repository: %q", st.Description)
	}
	other.Git("push", "-q", repo.Dir, "HEAD:refs/heads/feature")
	h.WaitStatus("me/p", later, "fetch", ci.Success)
}

// A PR's head is fetched from refs/pull/<n>/head, and a commit no ref
// that is fetched reaches, by its hash (where the server allows it).
func TestFetchPullRefAndHash(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	repo.Commit("first", map[string]string{"a": "1"})
	repo.Git("checkout", "-q", "-b", "pr")
	pr := repo.Commit("pr", map[string]string{"a": "pr"})
	repo.UpdateRef("refs/pull/1/head", pr)
	repo.Git("checkout", "-q", "master")
	repo.Git("checkout", "-q", "-b", "hidden")
	hidden := repo.Commit("hidden", map[string]string{"a": "hidden"})
	repo.UpdateRef("refs/keep/hidden", hidden)
	repo.Git("checkout", "-q", "master")
	repo.Git("branch", "-q", "-D", "pr", "hidden")
	repo.Git("config", "uploadpack.allowAnySHA1InWant", "true")
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	cat := remote.Command("cat", git.CommandOptions{}, []string{"cat", "a"})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"cat": term.Then(term.Bind(remote.Fetch(tg.Commit()), cat), "ok")}
	}}}})
	h.Timeout = time.Minute
	h.OpenPR("me/p", 1, pr, "a PR")
	h.SetBranch("me/p", "hidden", hidden)
	h.WaitStatus("me/p", pr, "cat", ci.Success)
	h.WaitStatus("me/p", hidden, "cat", ci.Success)
	if log, _ := readBranchFile(t, h.Store, commandBranch(t, h, "cat", pr), "log"); !strings.Contains(log, "\npr") {
		t.Errorf("log = %q", log)
	}
	if log, _ := readBranchFile(t, h.Store, "git-pull-of-"+hidden, "log"); !strings.Contains(log, "fetching it by its hash") {
		t.Errorf("fetch log = %q", log)
	}
}

// Two Remotes on one work directory and URL share the mirror: their
// fetches take turns.
func TestTwoRemotesOneMirror(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	repo.Commit("first", map[string]string{"a": "1"})
	var shas []string
	for i := 0; i < 6; i++ {
		repo.Git("checkout", "-q", "-B", fmt.Sprint("b", i), "master")
		shas = append(shas, repo.Commit(fmt.Sprint("c", i), map[string]string{"f": fmt.Sprint(i)}))
	}
	work := t.TempDir()
	remotes := []*git.Remote{git.NewRemote(repo.Dir, work, git.Options{}), git.NewRemote(repo.Dir, work, git.Options{})}
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		i := strings.Index(strings.Join(shas, " "), tg.Head) / 41
		return ci.Jobs{"fetch": term.Then(remotes[i%2].Fetch(tg.Commit()), "fetched")}
	}}}})
	h.Timeout = time.Minute
	for i, sha := range shas {
		h.SetBranch("me/p", fmt.Sprint("b", i), sha)
	}
	for _, sha := range shas {
		h.WaitStatus("me/p", sha, "fetch", ci.Success)
	}
}

// Credentials in the URL never reach a status or a log.
func TestURLCredentialsMasked(t *testing.T) {
	gitfixture.Need(t)
	remote := git.NewRemote("http://ci-bot:hunter2-s3cret@127.0.0.1:1/me/p.git", t.TempDir(), git.Options{})
	const sha = "1111111111111111111111111111111111111111"
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"fetch": term.Then(remote.Fetch(tg.Commit()), "fetched")}
	}}}})
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", sha)
	st := h.WaitStatus("me/p", sha, "fetch", ci.Error)
	if strings.Contains(st.Description, "s3cret") || !strings.Contains(st.Description, "http://***@127.0.0.1:1/me/p.git") {
		t.Errorf("status = %q", st.Description)
	}
	log, _ := readBranchFile(t, h.Store, "git-pull-of-"+sha, "log")
	if strings.Contains(log, "s3cret") || !strings.Contains(log, "***") {
		t.Errorf("log = %q", log)
	}
}

// A cancelled command's checkout is removed.
func TestCheckoutRemovedOnCancel(t *testing.T) {
	gitfixture.Need(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"a": "1"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	sleep := remote.Command("sleep", git.CommandOptions{}, []string{"sh", "-c", "echo started; sleep 60"})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"sleep": term.Then(term.Bind(remote.Fetch(tg.Commit()), sleep), "slept")}
	}}}})
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", sha)
	var branch string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if b := commandBranches(t, h, "sleep", sha); len(b) == 1 {
			branch = b[0]
		}
		if l, ok := h.Engine.Logs().Get(branch); ok && strings.Contains(string(l.Contents()), "started") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
	}
	if checkouts, _ := filepath.Glob(filepath.Join(tmp, "datakit-ci-checkout-*")); len(checkouts) != 1 {
		t.Fatalf("checkouts while running: %v", checkouts)
	}
	if err := h.Engine.Cancel(branch); err != nil {
		t.Fatal(err)
	}
	if st := h.WaitStatus("me/p", sha, "sleep", ci.Failure); st.Description != "Cancelled at user's request" {
		t.Errorf("status = %q", st.Description)
	}
	if checkouts, _ := filepath.Glob(filepath.Join(tmp, "datakit-ci-checkout-*")); len(checkouts) != 0 {
		t.Errorf("checkouts left after the cancel: %v", checkouts)
	}
}

// A command's timeout counts from when it holds its pool slot, as in the
// original: a step queued for longer than its timeout still runs.
func TestTimeoutStartsWithSlot(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"a": "1"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	p := pool.New("build", 1, nil)
	quick := remote.Command("quick", git.CommandOptions{Options: cache.Options{Pool: p, Timeout: 2 * time.Second}}, []string{"true"})
	slow := remote.Command("slow", git.CommandOptions{Options: cache.Options{Timeout: 300 * time.Millisecond}}, []string{"sleep", "10"})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		src := remote.Fetch(tg.Commit())
		return ci.Jobs{"quick": term.Then(term.Bind(src, quick), "ok"), "slow": term.Then(term.Bind(src, slow), "ok")}
	}}}})
	h.Timeout = time.Minute
	release, err := p.Acquire(context.Background(), pool.Request{Label: "blocker"})
	if err != nil {
		t.Fatal(err)
	}
	h.SetBranch("me/p", "master", sha)
	if st := h.WaitStatus("me/p", sha, "slow", ci.Failure); st.Description != "Exceeded timeout of 0.3 seconds" {
		t.Errorf("slow: %q", st.Description)
	}
	for deadline := time.Now().Add(30 * time.Second); len(p.Status().Queued) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the quick step did not queue")
		}
	}
	time.Sleep(2500 * time.Millisecond) // longer than its timeout, queued
	release()
	h.WaitStatus("me/p", sha, "quick", ci.Success)
}

// CheckoutShallow gives a directory whose .git holds the commit itself:
// moved away from the mirror (as into a Docker image), git still works
// there; Checkout's .git has the whole history, through the mirror.
func TestCheckoutShallow(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	repo.Commit("first", map[string]string{"a": "1\n"})
	sha := repo.Commit("second", map[string]string{"a": "2\n"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	logs := livelog.NewManager(nil)
	away := filepath.Join(t.TempDir(), "away")
	check := func(cm git.Commit) (string, error) {
		log, err := logs.Create("checkout-test", "checkout", livelog.Options{})
		if err != nil {
			return "", err
		}
		defer log.Finish()
		full, cleanup, err := cm.Checkout(context.Background(), log)
		if err != nil {
			return "", err
		}
		n, _ := exec.Command("git", "-C", full, "rev-list", "--count", "HEAD").Output()
		cleanup()
		dir, cleanup, err := cm.CheckoutShallow(context.Background(), log)
		if err != nil {
			return "", err
		}
		defer cleanup()
		if err := os.Rename(dir, away); err != nil {
			return "", err
		}
		defer os.Rename(away, dir) // for cleanup
		if out, err := exec.Command("git", "-C", away, "fsck", "--no-progress").CombinedOutput(); err != nil {
			return "", fmt.Errorf("git fsck of the shallow checkout, moved: %v\n%s", err, out)
		}
		head, err := exec.Command("git", "-C", away, "log", "--format=%H %s").Output()
		if err != nil {
			return "", fmt.Errorf("git log in the shallow checkout: %v", err)
		}
		status, _ := exec.Command("git", "-C", away, "status", "--porcelain").Output()
		return fmt.Sprintf("full history %s; shallow %s; status %q", strings.TrimSpace(string(n)), strings.TrimSpace(string(head)), status), nil
	}
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"check": term.Bind(remote.Fetch(tg.Commit()), func(cm git.Commit) term.Term[string] {
			return term.New(func(*term.Ctx) term.Result[string] {
				s, err := check(cm)
				return term.FromError(s, err)
			})
		})}
	}}}}
	h := citest.New(t, cfg)
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", sha)
	st := h.WaitStatus("me/p", sha, "check", ci.Success)
	if want := fmt.Sprintf("full history 2; shallow %s second; status \"\"", sha); st.Description != want {
		t.Errorf("got %q, want %q", st.Description, want)
	}
}

// A command step's identity covers its commands and their environment:
// under the same label, a step whose command or Env changed runs after a
// restart (a new Remote and step over the same store and work directory),
// and the old result does not come back; an unchanged step finds its
// result without running.
func TestCommandIdentity(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"a": "1"})
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() })
	work, runs := t.TempDir(), filepath.Join(t.TempDir(), "runs")
	count := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "ran\n")
	}
	pass := []string{"sh", "-c", `echo ran >> "$RUNS"; test "$X" != fail`}
	fail3 := []string{"sh", "-c", `echo ran >> "$RUNS"; exit 3`}
	for i, c := range []struct {
		name  string
		argv  []string
		x     string
		state ci.State
		runs  int
	}{
		{"first", pass, "ok", ci.Success, 1},
		{"Env changed", pass, "fail", ci.Failure, 2},
		{"command changed", fail3, "ok", ci.Failure, 3},
		{"as first", pass, "ok", ci.Success, 3}, // the first run's result
	} {
		remote := git.NewRemote(repo.Dir, work, git.Options{})
		check := remote.Command("check", git.CommandOptions{Env: []string{"RUNS=" + runs, "X=" + c.x}}, c.argv)
		h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
			return ci.Jobs{"check": term.Then(term.Bind(remote.Fetch(tg.Commit()), check), "passed")}
		}}}}, citest.WithStore(store))
		h.Timeout = 30 * time.Second
		if i == 0 {
			h.SetBranch("me/p", "master", sha)
		}
		h.WaitStatus("me/p", sha, "check", c.state)
		h.Settle()
		if n := count(); n != c.runs {
			t.Errorf("%s: the command ran %d times in all, want %d", c.name, n, c.runs)
		}
		h.Stop()
	}
	if b := commandBranchesIn(t, store, "check", sha); len(b) != 3 {
		t.Errorf("result branches: %v, want 3 (one per distinct step)", b)
	}
}

// Distinct labels never share a result branch: "a/b" and "a-b" (which
// the escaping of earlier versions both turned into "a-b") keep their own
// results.
func TestCommandLabelsDistinct(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"a": "1"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	slash := remote.Command("a/b", git.CommandOptions{}, []string{"true"})
	dash := remote.Command("a-b", git.CommandOptions{}, []string{"true"})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		src := remote.Fetch(tg.Commit())
		return ci.Jobs{"slash": term.Then(term.Bind(src, slash), "slash"), "dash": term.Then(term.Bind(src, dash), "dash")}
	}}}})
	h.Timeout = 30 * time.Second
	h.SetBranch("me/p", "master", sha)
	h.WaitStatus("me/p", sha, "slash", ci.Success)
	h.WaitStatus("me/p", sha, "dash", ci.Success)
	a, b := commandBranch(t, h, "a/b", sha), commandBranch(t, h, "a-b", sha)
	if a == b || !strings.HasPrefix(a, "shell-of-a_2fb-") || !strings.HasPrefix(b, "shell-of-a_2db-") {
		t.Errorf("branches %q and %q", a, b)
	}
}

// A restart with another work directory (an empty mirror) changes nothing
// visible: the finished results are found without a fetch, and not one
// status is written (the metadata branch does not move). A step that must
// run afterwards fetches its commit again when it checks it out.
func TestRestartWithNewWorkDir(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"VERSION": "1.0\n"})
	store := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { store.Close() })
	harness := func(work string, argv ...[]string) *citest.Harness {
		remote := git.NewRemote(repo.Dir, work, git.Options{})
		cat := remote.Command("cat", git.CommandOptions{}, argv...)
		h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
			src := remote.Fetch(tg.Commit())
			return ci.Jobs{"fetch": term.Then(src, "fetched"), "cat": term.Then(term.Bind(src, cat), "read")}
		}}}}, citest.WithStore(store))
		h.Timeout = time.Minute
		return h
	}
	metadata := func() dkstore.CommitID {
		br, _ := store.Branch(dkstore.BranchName("github-metadata"))
		head, err := br.Head(context.Background())
		if err != nil || head.IsZero() {
			t.Fatalf("metadata branch: %v, %v", head, err)
		}
		return head
	}

	h := harness(t.TempDir(), []string{"cat", "VERSION"})
	h.SetBranch("me/p", "master", sha)
	h.WaitStatus("me/p", sha, "fetch", ci.Success)
	h.WaitStatus("me/p", sha, "cat", ci.Success)
	h.Settle()
	h.Stop()
	before := metadata()

	work := t.TempDir() // a new work directory: an empty mirror
	h = harness(work, []string{"cat", "VERSION"})
	h.Settle()
	time.Sleep(500 * time.Millisecond) // a fetch, had one started, would have said so by now
	h.Settle()
	h.WantStatus("me/p", sha, "cat", ci.Success, "read")
	if after := metadata(); after != before {
		t.Errorf("the restart wrote to the metadata branch (%s, then %s): statuses flapped", before, after)
	}
	if mirrors, _ := filepath.Glob(filepath.Join(work, "*.git")); len(mirrors) != 0 {
		t.Errorf("the restart fetched into %v", mirrors)
	}
	h.Stop()

	// A step that runs (its command changed) fetches the commit again.
	h = harness(work, []string{"cat", "VERSION"}, []string{"true"})
	h.WaitStatus("me/p", sha, "cat", ci.Success)
	branches := commandBranches(t, h, "cat", sha)
	if len(branches) != 2 {
		t.Fatalf("result branches %v, want 2", branches)
	}
	var logs string
	for _, b := range branches {
		l, _ := readBranchFile(t, store, b, "log")
		logs += l
	}
	if !strings.Contains(logs, "is not in the mirror (a new work directory?): fetching it again") || !strings.Contains(logs, "Fetching "+sha[:7]) {
		t.Errorf("the new step's log does not show the fetch: %q", logs)
	}
}

// A failing command's status ends with the last line of its output, the
// command abbreviated so that the reason survives the status's 140
// characters.
func TestFailureExplained(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"main.go": "// Copyright me\npackage main\n", "extra.go": "package main\n"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	const script = `for f in $(git ls-files '*.go'); do head -n 1 "$f" | grep -q Copyright || { echo "no license header in ./$f"; exit 1; }; done`
	license := remote.Command("license", git.CommandOptions{}, []string{"sh", "-c", script})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"license": term.Then(term.Bind(remote.Fetch(tg.Commit()), license), "headers")}
	}}}})
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", sha)
	st := h.WaitStatus("me/p", sha, "license", ci.Failure)
	const start, end = `Command "sh" "-c" "for f in $(git ls-files '*.go'); do head`, `… exited with status 1: no license header in ./extra.go`
	if !strings.HasPrefix(st.Description, start) || !strings.HasSuffix(st.Description, end) || utf8.RuneCountInString(st.Description) > 140 {
		t.Errorf("status = %q (%d characters), want %q…%q within 140", st.Description, utf8.RuneCountInString(st.Description), start, end)
	}
	if failure, _ := readBranchFile(t, h.Store, commandBranch(t, h, "license", sha), "failure"); strings.TrimSpace(failure) != st.Description {
		t.Errorf("saved failure %q, status %q", failure, st.Description)
	}
}

// TestGoTestFailureExplained: a failing `go test ./...`, the commonest Go
// check, ends its status with the failed assertion, not with go test's
// closing "FAIL" lines.
func TestGoTestFailureExplained(t *testing.T) {
	gitfixture.Need(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{
		"go.mod":    "module example.com/a\n\ngo 1.21\n",
		"a.go":      "package a\n\nfunc One() int { return 1 }\n",
		"a_test.go": "package a\n\nimport \"testing\"\n\nfunc TestOne(t *testing.T) {\n\tif got := One(); got != 2 {\n\t\tt.Errorf(\"One() = %d, want 2\", got)\n\t}\n}\n",
		"b/b.go":    "package b\n",
	})
	gocache, err := exec.Command(goBin, "env", "GOCACHE").Output() // warm: the test's own
	if err != nil {
		t.Fatal(err)
	}
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	test := remote.Command("test", git.CommandOptions{Env: []string{"PATH=" + filepath.Dir(goBin) + ":/usr/bin:/bin", "GOFLAGS=-mod=mod", "GOCACHE=" + strings.TrimSpace(string(gocache))}},
		[]string{"go", "test", "./..."})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"test": term.Then(term.Bind(remote.Fetch(tg.Commit()), test), "tests passed")}
	}}}})
	h.Timeout = 2 * time.Minute
	h.SetBranch("me/p", "master", sha)
	st := h.WaitStatus("me/p", sha, "test", ci.Failure)
	if want := `exited with status 1: a_test.go:7: One() = 1, want 2`; !strings.HasSuffix(st.Description, want) {
		t.Errorf("status = %q, want it to end with %q", st.Description, want)
	}
}

// A relative path names the repository from the program's directory (as
// --src . or ../app on a command line mean), not from the mirror's.
func TestRelativeLocalPath(t *testing.T) {
	gitfixture.Need(t)
	dir := t.TempDir()
	repo := gitfixture.NewRepo(t, filepath.Join(dir, "app"))
	sha := repo.Commit("first", map[string]string{"README": "hi\n"})
	t.Chdir(filepath.Join(dir, "app"))
	for _, rel := range []string{".", "../app", "./"} {
		remote := git.NewRemote(rel, t.TempDir(), git.Options{})
		ls := remote.Command("ls", git.CommandOptions{}, []string{"ls"})
		h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
			return ci.Jobs{"ls": term.Then(term.Bind(remote.Fetch(tg.Commit()), ls), "Listed")}
		}}}})
		h.Timeout = time.Minute
		h.SetBranch("me/p", "master", sha)
		h.WaitStatus("me/p", sha, "ls", ci.Success, citest.Description("Listed"))
		h.Stop()
	}
}
