package gitrepo_test

import (
	"strings"
	"testing"

	"github.com/dkgo/datakit/ci/citest/gitrepo"
)

// refs lists the repository's refs as "name id" lines, and HEAD's branch.
func refs(r *gitrepo.Repo) string {
	return r.Git("for-each-ref", "--format=%(refname) %(objectname)") + "\nHEAD " + r.Git("symbolic-ref", "HEAD")
}

// A repository gets commits, branches, tags and PR refs, and says what it
// has with plain git.
func TestRepo(t *testing.T) {
	r := gitrepo.New(t)
	first := r.Commit("first", map[string]string{"README": "hello\n", "dir/a": "a\n"})
	r.Checkout("feature")
	r.Remove("dir/a")
	second := r.Commit("second", map[string]string{"README": "hello again\n"})
	if r.Head() != second {
		t.Errorf("Head = %s, want the last commit %s", r.Head(), second)
	}
	r.Checkout("master")
	if r.Head() != first {
		t.Errorf("after Checkout(master), Head = %s, want %s", r.Head(), first)
	}
	r.SetPR(1, second)
	r.SetPR(2, first)
	r.SetTag("v1", first)
	tag := r.AnnotatedTag("v2", second, "Version 2")
	r.SetBranch("old", first)
	r.SetBranch("gone", first)
	r.DeleteBranch("gone")
	r.SetTag("gone", first)
	r.DeleteTag("gone")
	r.SetPR(3, first)
	r.DeletePR(3)
	want := strings.Join([]string{
		"refs/heads/feature " + second,
		"refs/heads/master " + first,
		"refs/heads/old " + first,
		"refs/pull/1/head " + second,
		"refs/pull/2/head " + first,
		"refs/tags/v1 " + first,
		"refs/tags/v2 " + tag,
		"HEAD refs/heads/master",
	}, "\n")
	if got := refs(r); got != want {
		t.Errorf("refs:\n%s\nwant\n%s", got, want)
	}
	if got := r.Git("show", "-s", "--format=%an <%ae> %ad", "--date=raw", second); got != gitrepo.Name+" <"+gitrepo.Email+"> 1700000000 +0000" {
		t.Errorf("author = %q", got)
	}
	if got := r.Git("ls-tree", "-r", "--name-only", second); got != "README" {
		t.Errorf("files of the second commit: %q, want README alone", got)
	}
}

// Commit ids are the same in every repository and at every run.
func TestReproducible(t *testing.T) {
	a, b := gitrepo.New(t), gitrepo.New(t)
	files := map[string]string{"main.go": "package main\n"}
	if ca, cb := a.Commit("same", files), b.Commit("same", files); ca != cb {
		t.Errorf("the same commit in two repositories: %s and %s", ca, cb)
	}
}
