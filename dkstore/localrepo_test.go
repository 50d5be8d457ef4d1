package dkstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
)

func mustID(t *testing.T, s string) dkstore.CommitID {
	t.Helper()
	id, err := dkstore.ParseCommitID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func readerRefs(t *testing.T, r *dkstore.RepoReader) map[string]dkstore.GitRef {
	t.Helper()
	refs, err := r.Refs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dkstore.GitRef{}
	for i, g := range refs {
		if i > 0 && refs[i-1].Name >= g.Name {
			t.Errorf("Refs not sorted: %q before %q", refs[i-1].Name, g.Name)
		}
		out[g.Name] = g
	}
	return out
}

func TestRepoReaderRefs(t *testing.T) {
	ctx := context.Background()
	repo := gitfixture.NewRepo(t, t.TempDir())
	c1 := repo.Commit("First commit\n\nwith a body", map[string]string{"a": "1"})
	c2 := repo.Commit("Second", map[string]string{"a": "2"})
	repo.Git("branch", "feature/x", c1)
	repo.Git("tag", "light", c1)
	repo.AnnotatedTag("v1.0", c2, "release")
	repo.AnnotatedTag("nested", "v1.0", "tag of a tag")
	repo.UpdateRef("refs/pull/3/head", c2)
	repo.SymbolicRef("refs/pull/3/base", "refs/heads/master")
	repo.SymbolicRef("refs/dangling", "refs/heads/nope")
	tree := repo.Git("rev-parse", "HEAD^{tree}")
	repo.Git("tag", "treetag", tree)

	r, err := dkstore.OpenRepoReader(repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := r.GitDir(), repo.GitDir(); got != want {
		t.Errorf("GitDir = %q, want %q", got, want)
	}
	want := map[string]dkstore.GitRef{
		"refs/heads/master":    {Name: "refs/heads/master", Target: mustID(t, c2)},
		"refs/heads/feature/x": {Name: "refs/heads/feature/x", Target: mustID(t, c1)},
		"refs/tags/light":      {Name: "refs/tags/light", Target: mustID(t, c1)},
		"refs/tags/v1.0":       {Name: "refs/tags/v1.0", Target: mustID(t, c2)},
		"refs/tags/nested":     {Name: "refs/tags/nested", Target: mustID(t, c2)},
		"refs/pull/3/head":     {Name: "refs/pull/3/head", Target: mustID(t, c2)},
		"refs/pull/3/base":     {Name: "refs/pull/3/base", Target: mustID(t, c2), Symbolic: "refs/heads/master"},
		"refs/dangling":        {Name: "refs/dangling", Symbolic: "refs/heads/nope"},
	}
	if got := readerRefs(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("Refs (loose) = %v\nwant %v", got, want)
	}

	// The same once packed (annotated tags peeled by packed-refs' ^ lines).
	repo.Git("pack-refs", "--all")
	if _, err := os.Stat(filepath.Join(repo.GitDir(), "refs", "tags", "v1.0")); err == nil {
		t.Fatal("pack-refs left refs/tags/v1.0 loose")
	}
	if got := readerRefs(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("Refs (packed) = %v\nwant %v", got, want)
	}

	// Changes are seen at once: a loose ref overrides the packed one, a
	// deleted one disappears, objects packed after opening are found.
	c3 := repo.Commit("Third", nil)
	repo.DeleteRef("refs/heads/feature/x")
	repo.Git("tag", "-d", "v1.0")
	repo.Git("gc", "-q")
	repo.AnnotatedTag("v2", c3, "two")
	want["refs/heads/master"] = dkstore.GitRef{Name: "refs/heads/master", Target: mustID(t, c3)}
	want["refs/pull/3/base"] = dkstore.GitRef{Name: "refs/pull/3/base", Target: mustID(t, c3), Symbolic: "refs/heads/master"}
	want["refs/tags/v2"] = dkstore.GitRef{Name: "refs/tags/v2", Target: mustID(t, c3)}
	delete(want, "refs/heads/feature/x")
	delete(want, "refs/tags/v1.0")
	// "nested" still peels through the deleted tag's object, which gc keeps
	// (it is reachable from nested).
	if got := readerRefs(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("Refs (after changes) = %v\nwant %v", got, want)
	}

	subj, err := r.CommitSubject(ctx, mustID(t, c1))
	if err != nil || subj != "First commit" {
		t.Errorf("CommitSubject = %q, %v; want First commit", subj, err)
	}
	author, err := r.CommitAuthor(ctx, mustID(t, c3))
	if err != nil || author != gitfixture.Name {
		t.Errorf("CommitAuthor = %q, %v; want %q", author, err, gitfixture.Name)
	}
	if _, err := r.CommitSubject(ctx, mustID(t, "0123456789012345678901234567890123456789")); !errors.Is(err, dkstore.ErrNotExist) {
		t.Errorf("CommitSubject(unknown) error = %v, want ErrNotExist", err)
	}
	if b, err := r.DefaultBranch(ctx); err != nil || b != "master" {
		t.Errorf("DefaultBranch = %q, %v", b, err)
	}
	repo.Git("checkout", "-q", "--detach")
	if _, err := r.DefaultBranch(ctx); !errors.Is(err, dkstore.ErrNotExist) {
		t.Errorf("DefaultBranch (detached) error = %v, want ErrNotExist", err)
	}

	// A repository that goes away is an error, not a repository with no
	// refs.
	if err := os.Rename(repo.Dir, repo.Dir+".moved"); err != nil {
		t.Fatal(err)
	}
	if refs, err := r.Refs(ctx); !errors.Is(err, dkstore.ErrNotExist) {
		t.Errorf("Refs of a removed repository = %v, %v; want ErrNotExist", refs, err)
	}
}

func TestCommitSubject(t *testing.T) {
	repo := gitfixture.NewRepo(t, t.TempDir())
	for msg, want := range map[string]string{
		"one line":                      "one line",
		"two\nlines\n\nbody":            "two lines",
		"\n\n  spaced  \n\nbody\n":      "spaced",
		"Fix: thing (#12)\n\nCloses #1": "Fix: thing (#12)",
	} {
		repo.Git("commit", "-q", "--allow-empty", "--cleanup=verbatim", "-m", msg)
		r, err := dkstore.OpenRepoReader(repo.Dir)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.CommitSubject(context.Background(), mustID(t, repo.Git("rev-parse", "HEAD")))
		r.Close()
		if err != nil || got != want {
			t.Errorf("CommitSubject(%q) = %q, %v; want %q", msg, got, err, want)
		}
	}
}

func TestOpenRepoReaderPaths(t *testing.T) {
	dir := t.TempDir()
	repo := gitfixture.NewRepo(t, filepath.Join(dir, "work"))
	head := mustID(t, repo.Commit("c", map[string]string{"f": "x"}))
	bare := filepath.Join(dir, "bare.git")
	gitfixture.Git(t, "", "clone", "-q", "--bare", repo.Dir, bare)
	linked := filepath.Join(dir, "linked")
	repo.Git("worktree", "add", "-q", "-b", "side", linked)

	for _, c := range []struct {
		name, path, gitdir, head string
	}{
		{"work tree", repo.Dir, repo.GitDir(), "master"},
		{"git dir", repo.GitDir(), repo.GitDir(), "master"},
		{"bare", bare, bare, "master"},
		{"linked worktree", linked, filepath.Join(repo.GitDir(), "worktrees", "linked"), "side"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := dkstore.OpenRepoReader(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.GitDir() != c.gitdir {
				t.Errorf("GitDir = %q, want %q", r.GitDir(), c.gitdir)
			}
			if b, err := r.DefaultBranch(context.Background()); err != nil || b != c.head {
				t.Errorf("DefaultBranch = %q, %v; want %q", b, err, c.head)
			}
			if got := readerRefs(t, r)["refs/heads/master"].Target; got != head {
				t.Errorf("master = %v, want %v", got, head)
			}
		})
	}

	for _, bad := range []string{filepath.Join(dir, "missing"), t.TempDir()} {
		if _, err := dkstore.OpenRepoReader(bad); !errors.Is(err, dkstore.ErrNotExist) {
			t.Errorf("OpenRepoReader(%s) error = %v, want ErrNotExist", bad, err)
		}
	}
}

// The reader never writes to the repository (the original's #622): it
// works on a read-only one, and leaves every file as it was.
func TestRepoReaderReadOnly(t *testing.T) {
	ctx := context.Background()
	repo := gitfixture.NewRepo(t, t.TempDir())
	c1 := repo.Commit("one", map[string]string{"a": "1"})
	repo.AnnotatedTag("v1", c1, "tag")
	repo.Git("gc", "-q") // objects in a pack, refs packed
	c2 := repo.Commit("two", map[string]string{"a": "2"})
	repo.AnnotatedTag("v2", c2, "tag") // and some loose
	binds := gitfixture.ReadOnly(t, repo.Dir)
	before := gitfixture.Listing(t, repo.Dir)

	r, err := dkstore.OpenRepoReader(repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		refs := readerRefs(t, r)
		if refs["refs/tags/v1"].Target != mustID(t, c1) || refs["refs/tags/v2"].Target != mustID(t, c2) {
			t.Errorf("Refs = %v", refs)
		}
		if s, err := r.CommitSubject(ctx, mustID(t, c1)); err != nil || s != "one" {
			t.Errorf("CommitSubject = %q, %v", s, err)
		}
		if s, err := r.CommitAuthor(ctx, mustID(t, c2)); err != nil || s != gitfixture.Name {
			t.Errorf("CommitAuthor = %q, %v", s, err)
		}
		if _, err := r.DefaultBranch(ctx); err != nil {
			t.Error(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if after := gitfixture.Listing(t, repo.Dir); after != before {
		t.Errorf("the repository changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !binds {
		t.Log("running as root: permissions do not bind; checked that nothing changed instead")
	}
}
