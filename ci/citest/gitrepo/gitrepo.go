// Package gitrepo makes Git repositories for the tests of a pipeline:
// commits with files, branches, tags and pull-request refs
// (refs/pull/N/head, the refs GitHub gives a PR, which the local bridge,
// --local-repo, mirrors as PR N). A pipeline whose steps fetch from a
// repository (git.NewRemote takes a path as well as a URL) is tested on one
// of these.
//
//	func TestPipeline(t *testing.T) {
//		repo := gitrepo.New(t)
//		good := repo.Commit("Add main", map[string]string{"go.mod": "module m\n", "main.go": "package main\n\nfunc main() {}\n"})
//		repo.Checkout("fix")
//		fix := repo.Commit("Fix", map[string]string{"main.go": "package main\n\nfunc main() { println() }\n"})
//		repo.SetPR(1, fix)
//		h := citest.New(t, pipeline(repo.Dir, t.TempDir()))
//		h.SetBranch("me/p", "master", good)
//		h.OpenPR("me/p", 1, fix, "Fix")
//		h.WaitStatus("me/p", fix, "build", ci.Success)
//	}
//
// It runs the git command. Every git it runs ignores the user's and the
// system's configuration and commits as "gitrepo <gitrepo@example.com>" at
// a fixed date, so that commit ids are the same at every run. When git is
// missing, the functions skip the test, or fail it when the environment
// variable CI is "true", so that a CI machine cannot pass by skipping.
//
// The functions may be called from several tests at once; a Repo is for
// one goroutine.
package gitrepo

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The identity and date of the commits git makes here.
const (
	Name  = "gitrepo"
	Email = "gitrepo@example.com"
	Date  = "@1700000000 +0000"
)

// Env returns the environment the git commands run with: the process's,
// without GIT_* variables, plus a fixed identity and date and no user or
// system configuration.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME="+Name,
		"GIT_AUTHOR_EMAIL="+Email,
		"GIT_AUTHOR_DATE="+Date,
		"GIT_COMMITTER_NAME="+Name,
		"GIT_COMMITTER_EMAIL="+Email,
		"GIT_COMMITTER_DATE="+Date,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	)
}

// Need skips tb (fails it when CI is "true") unless the git command is
// installed.
func Need(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		Missing(tb, "git", err)
	}
}

// Missing skips tb, or fails it when the environment variable CI is
// "true", because what the test needs is not available (err says why).
func Missing(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is not available (%v); CI must install it", what, err)
	}
	tb.Skipf("%s is not available: %v", what, err)
}

// Run runs git with args in dir ("" for the current directory), in Env,
// and returns its standard output with surrounding space trimmed. The
// error includes git's standard error.
func Run(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Repo is a repository with a work tree, for making commits.
type Repo struct {
	Dir string // the work tree; the Git directory is Dir/.git
	tb  testing.TB
}

// New creates a repository in a new temporary directory of tb's, on
// branch master.
func New(tb testing.TB) *Repo {
	tb.Helper()
	return NewAt(tb, tb.TempDir())
}

// NewAt creates a repository at dir (made if missing) on branch master.
func NewAt(tb testing.TB, dir string) *Repo {
	tb.Helper()
	Need(tb)
	if _, err := Run("", "init", "-q", "--initial-branch=master", dir); err != nil {
		tb.Fatal(err)
	}
	return &Repo{Dir: dir, tb: tb}
}

// Git runs git with args in the work tree and returns its output; it fails
// the test if git fails.
func (r *Repo) Git(args ...string) string {
	r.tb.Helper()
	out, err := Run(r.Dir, args...)
	if err != nil {
		r.tb.Fatal(err)
	}
	return out
}

// GitDir returns the repository's Git directory.
func (r *Repo) GitDir() string { return filepath.Join(r.Dir, ".git") }

// Commit writes files (slash-separated paths to contents) into the work
// tree, commits everything with message msg on the current branch and
// returns the new commit's id. An empty content does not remove a file:
// Remove does.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.tb.Helper()
	for name, data := range files {
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			r.tb.Fatal(err)
		}
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "--no-gpg-sign", "-m", msg)
	return r.Git("rev-parse", "HEAD")
}

// Remove removes files (slash-separated paths) from the work tree, for the
// next Commit.
func (r *Repo) Remove(files ...string) {
	r.tb.Helper()
	for _, name := range files {
		if err := os.RemoveAll(filepath.Join(r.Dir, filepath.FromSlash(name))); err != nil {
			r.tb.Fatal(err)
		}
	}
}

// Checkout makes branch the current branch (where Commit commits),
// creating it at the current commit if it does not exist.
func (r *Repo) Checkout(branch string) {
	r.tb.Helper()
	if _, err := Run(r.Dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); err == nil {
		r.Git("checkout", "-q", branch)
		return
	}
	r.Git("checkout", "-q", "-b", branch)
}

// Head returns the id of the current commit.
func (r *Repo) Head() string {
	r.tb.Helper()
	return r.Git("rev-parse", "HEAD")
}

// SetBranch creates branch at commit rev, or moves it there.
func (r *Repo) SetBranch(branch, rev string) { r.tb.Helper(); r.UpdateRef("refs/heads/"+branch, rev) }

// DeleteBranch deletes branch.
func (r *Repo) DeleteBranch(branch string) { r.tb.Helper(); r.DeleteRef("refs/heads/" + branch) }

// SetTag creates the lightweight tag name at rev, or moves it there.
func (r *Repo) SetTag(name, rev string) { r.tb.Helper(); r.UpdateRef("refs/tags/"+name, rev) }

// AnnotatedTag makes the annotated tag name on rev with message msg and
// returns the tag object's id.
func (r *Repo) AnnotatedTag(name, rev, msg string) string {
	r.tb.Helper()
	r.Git("tag", "-a", "-m", msg, name, rev)
	return r.Git("rev-parse", "refs/tags/"+name)
}

// DeleteTag deletes the tag name.
func (r *Repo) DeleteTag(name string) { r.tb.Helper(); r.DeleteRef("refs/tags/" + name) }

// SetPR points refs/pull/N/head, the ref GitHub gives pull request n, at
// rev: the local bridge mirrors it as PR n, open with head rev.
func (r *Repo) SetPR(n int, rev string) {
	r.tb.Helper()
	r.UpdateRef("refs/pull/"+strconv.Itoa(n)+"/head", rev)
}

// DeletePR deletes refs/pull/N/head: the local bridge closes PR n.
func (r *Repo) DeletePR(n int) { r.tb.Helper(); r.DeleteRef("refs/pull/" + strconv.Itoa(n) + "/head") }

// UpdateRef points the ref name (full, e.g. "refs/pull/3/head") at rev.
func (r *Repo) UpdateRef(name, rev string) {
	r.tb.Helper()
	r.Git("update-ref", name, rev)
}

// DeleteRef deletes the ref name (full), loose or packed.
func (r *Repo) DeleteRef(name string) {
	r.tb.Helper()
	r.Git("update-ref", "-d", name)
}

// SymbolicRef makes the ref name (full) a symbolic ref to target (full).
func (r *Repo) SymbolicRef(name, target string) {
	r.tb.Helper()
	r.Git("symbolic-ref", name, target)
}
