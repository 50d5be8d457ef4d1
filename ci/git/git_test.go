package git_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/git"
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

// The reference's "Git" test: a command runs in a checkout of the target's
// commit; its result branch shell-of-ls-on-<sha> has the log.
func TestCommand(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	sha := repo.Commit("first", map[string]string{"src/main.c": "int main(){}\n"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	ls := remote.Command("ls", git.CommandOptions{Pool: pool.New("build", 1, nil)}, []string{"ls"})
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
	log, msg := readBranchFile(t, h.Store, "shell-of-ls-on-"+sha, "log")
	if !strings.Contains(log, "Running \"ls\"...\nsrc\n") || msg != "Cached successful result" {
		t.Errorf("log = %q (commit %q)", log, msg)
	}
	if _, msg := readBranchFile(t, h.Store, "git-pull-of-"+sha, "log"); msg != "Cached successful result" {
		t.Errorf("fetch result = %q", msg)
	}
	st := h.WaitStatus("me/p", sha, "fail", ci.Failure)
	if want := `Command "sh" "-c" "echo about to fail; exit 3" exited with status 3`; st.Description != want {
		t.Errorf("failure = %q, want %q", st.Description, want)
	}
	if log, _ := readBranchFile(t, h.Store, "shell-of-false-on-"+sha, "log"); !strings.Contains(log, "about to fail\n") {
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
	if log, _ := readBranchFile(t, h.Store, "shell-of-cat-on-"+sha, "log"); !strings.Contains(log, "1.0\n") {
		t.Errorf("log = %q", log)
	}
}

// A commit that is not in the repository fails the fetch (not an
// infrastructure error); an unreachable repository is one.
func TestFetchErrors(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	repo.Commit("first", map[string]string{"a": "1"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	gone := git.NewRemote(filepath.Join(t.TempDir(), "nowhere"), t.TempDir(), git.Options{})
	const missing = "0123456789012345678901234567890123456789"
	const other = "9876543210987654321098765432109876543210"
	// (one remote per commit: the fetch branch git-pull-of-<sha> is named
	// by the commit alone, as in the original)
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		if tg.IsTag() {
			return ci.Jobs{"fetch": term.Then(gone.Fetch(tg.Commit()), "fetched")}
		}
		return ci.Jobs{"fetch": term.Then(remote.Fetch(tg.Commit()), "fetched")}
	}}}})
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", missing)
	h.SetTag("me/p", "gone", other)
	st := h.WaitStatus("me/p", missing, "fetch", ci.Failure)
	if !strings.Contains(st.Description, "commit 0123456 is not in") {
		t.Errorf("missing commit: %q", st.Description)
	}
	st = h.WaitStatus("me/p", other, "fetch", ci.Error)
	if !strings.Contains(st.Description, "fetching") {
		t.Errorf("unreachable repository: %q", st.Description)
	}
}
