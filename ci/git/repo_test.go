package git_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/term"
)

// A fetched commit names the repository it came from (ci/docker labels
// the images it builds with it); a Commit no Remote made names none.
func TestCommitRepo(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	head := repo.Commit("first", map[string]string{"a": "1"})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"repo": term.Map(remote.Fetch(tg.Commit()), git.Commit.Repo)}
	}}}})
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", head)
	if st := h.WaitStatus("me/p", head, "repo", ci.Success); st.Description != repo.Dir {
		t.Errorf("Repo() = %q, want %q", st.Description, repo.Dir)
	}
	if got := (git.Commit{Hash: head}).Repo(); got != "" {
		t.Errorf("Repo() of a Commit no Remote made = %q, want none", got)
	}
}
