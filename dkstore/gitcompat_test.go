package dkstore_test

// Cross-checks of the on-disk store against the git command: the objects
// we write must be byte-identical to git's, repositories written by git
// must work as they are, and refs moved by git must reach our watches.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// compatTime is the clock of the stores in these tests, so that git can
// make the same commits.
var compatTime = time.Unix(1700000000, 0)

func compatNow() time.Time { return compatTime }

// compatNeedGit skips the test when the git command is missing.
func compatNeedGit(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git not installed")
	}
}

// compatEnv is an environment for git that ignores the user's and the
// system's configuration and names the store's identity at compatTime.
func compatEnv(tb testing.TB) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	date := fmt.Sprintf("@%d +0000", compatTime.Unix())
	return append(env,
		"HOME="+tb.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME="+dkstore.AuthorName,
		"GIT_AUTHOR_EMAIL="+dkstore.AuthorEmail,
		"GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_NAME="+dkstore.AuthorName,
		"GIT_COMMITTER_EMAIL="+dkstore.AuthorEmail,
		"GIT_COMMITTER_DATE="+date,
	)
}

// gitRun is one invocation of git.
type gitRun struct {
	dir   string   // working directory ("" for the current one)
	env   []string // nil: compatEnv
	stdin []byte
}

// run runs git with args and returns its standard output; it fails tb if
// git fails.
func (g gitRun) run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := g.try(tb, args...)
	if err != nil {
		tb.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// try runs git with args; the error includes git's standard error.
func (g gitRun) try(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = g.env
	if cmd.Env == nil {
		cmd.Env = compatEnv(tb)
	}
	if g.stdin != nil {
		cmd.Stdin = bytes.NewReader(g.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// gitDir runs git on the Git directory gitdir.
func gitDir(tb testing.TB, gitdir string, args ...string) string {
	tb.Helper()
	return gitRun{}.run(tb, append([]string{"--git-dir", gitdir}, args...)...)
}

// compatFsck runs git fsck --strict on gitdir and fails tb on any error
// that a second and a third run report too: fsck lists the packs before
// it checks them, so a pack the store's packer merges meanwhile can vanish
// under it (as beside git gc), once; damage is there every time.
func compatFsck(tb testing.TB, gitdir string) {
	tb.Helper()
	var out string
	var err error
	for range 3 {
		out, err = gitRun{}.try(tb, "--git-dir", gitdir, "fsck", "--strict", "--no-dangling", "--no-progress")
		if err == nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	tb.Fatalf("git fsck --strict, three times: %v\n%s", err, out)
}

// compatFile is a file the tests write: its kind and content (a
// symlink's target).
type compatFile struct {
	kind dkstore.Kind
	data []byte
}

// compatFiles is a tree that exercises Git's entry order (a directory
// sorts as its name followed by '/'), every kind, empty files, deep
// nesting and a 1 MiB file.
func compatFiles() map[dkstore.Path]compatFile {
	big := make([]byte, 1<<20)
	rng := rand.New(rand.NewChaCha8([32]byte{'d', 'k'}))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	f := func(s string) compatFile { return compatFile{dkstore.KindFile, []byte(s)} }
	x := func(s string) compatFile { return compatFile{dkstore.KindExec, []byte(s)} }
	l := func(s string) compatFile { return compatFile{dkstore.KindLink, []byte(s)} }
	return map[dkstore.Path]compatFile{
		"Z":                 f("upper case sorts first\n"),
		"a/x":               f("in directory a\n"),
		"a/b.txt":           f("sorts before directory a/b\n"),
		"a/b/c/deep":        f("deep\n"),
		"a/b/c/d/e/f/g/h":   f("deeper\n"),
		"a/b/uplink":        l("../../a.b"),
		"a-b":               f("a-b\n"),
		"a.b":               f("a.b\n"),
		"a0":                f("a0\n"),
		"ab":                f("ab\n"),
		"b":                 f("b\n"),
		"b-c/f":             f("in b-c\n"),
		"b.c":               f("b.c\n"),
		"big":               {dkstore.KindFile, big},
		"bin/run.sh":        x("#!/bin/sh\necho hello\n"),
		"dangling":          l("nowhere/at/all"),
		"dir/empty":         f(""),
		"empty":             f(""),
		"exec-empty":        x(""),
		"link":              l("a/x"),
		"with space":        f("spaces are fine\n"),
		"~":                 f("tilde\n"),
		"\u00fcn\u00efcode": f("non-ASCII names sort by bytes\n"),
	}
}

// compatRootOrder is the root of compatFiles in Git's order.
var compatRootOrder = []string{
	"Z", "a-b", "a.b", "a", "a0", "ab", "b", "b-c", "b.c", "big", "bin",
	"dangling", "dir", "empty", "exec-empty", "link", "with space", "~",
	"\u00fcn\u00efcode",
}

func gitMode(k dkstore.Kind) string {
	switch k {
	case dkstore.KindDir:
		return "040000"
	case dkstore.KindExec:
		return "100755"
	case dkstore.KindLink:
		return "120000"
	}
	return "100644"
}

// lsEntry is a line of git ls-tree.
type lsEntry struct {
	mode, typ, hash string
}

// lsTree runs git ls-tree -z with args and returns the entries by path,
// and the paths in git's output order.
func lsTree(tb testing.TB, gitdir string, args ...string) (map[string]lsEntry, []string) {
	tb.Helper()
	out := gitDir(tb, gitdir, append([]string{"ls-tree", "-z"}, args...)...)
	byPath := map[string]lsEntry{}
	var order []string
	for _, rec := range strings.Split(strings.TrimSuffix(out, "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		meta, path, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			tb.Fatalf("git ls-tree: bad record %q", rec)
		}
		byPath[path] = lsEntry{f[0], f[1], f[2]}
		order = append(order, path)
	}
	return byPath, order
}

// watchObject returns the object at p in the branch head, from the first
// value of a path watch.
func watchObject(tb testing.TB, b dkstore.Branch, p dkstore.Path) dkstore.Object {
	tb.Helper()
	ctx := context.Background()
	w, err := b.WatchPath(ctx, p)
	if err != nil {
		tb.Fatalf("WatchPath(%q) = %v", p, err)
	}
	defer w.Close()
	o, err := w.Next(ctx)
	if err != nil {
		tb.Fatalf("WatchPath(%q).Next = %v", p, err)
	}
	return o
}

// commitFiles commits files (nil data: remove) to branch b in one
// transaction.
func commitFiles(tb testing.TB, b dkstore.Branch, msg string, files map[dkstore.Path]compatFile) dkstore.CommitID {
	tb.Helper()
	ctx := context.Background()
	tx, err := b.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		tb.Fatalf("Transaction: %v", err)
	}
	for p, f := range files {
		if f.data == nil {
			err = tx.Remove(ctx, p)
		} else {
			err = tx.WriteFile(ctx, p, f.data, f.kind)
		}
		if err != nil {
			tb.Fatalf("writing %s: %v", p, err)
		}
	}
	id, err := tx.Commit(ctx, msg)
	if err != nil {
		tb.Fatalf("Commit(%q) = %v", msg, err)
	}
	return id
}

// gitCommitTree makes with git the commit that c should be, and returns
// its id.
func gitCommitTree(tb testing.TB, gitdir string, c dkstore.Commit) string {
	tb.Helper()
	args := []string{"--git-dir", gitdir, "commit-tree", c.Tree.String()}
	for _, p := range c.Parents {
		args = append(args, "-p", p.String())
	}
	// From standard input the message is taken as it is; -m would add a
	// newline.
	return strings.TrimSpace(gitRun{stdin: []byte(c.Message)}.run(tb, args...))
}

func TestGitObjectsIdentical(t *testing.T) {
	compatNeedGit(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, err := dkstore.Open(dir, dkstore.Options{Now: compatNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	gitdir := filepath.Join(dir, ".git")
	master, err := s.Branch("master")
	if err != nil {
		t.Fatal(err)
	}
	files := compatFiles()
	c1 := commitFiles(t, master, "initial\n", files)

	// A side branch from c1, merged back in below: a commit with two parents.
	side, err := s.Branch("side")
	if err != nil {
		t.Fatal(err)
	}
	if err := side.FastForward(ctx, c1); err != nil {
		t.Fatal(err)
	}
	sideHead := commitFiles(t, side, "side\n", map[dkstore.Path]compatFile{"side.txt": {dkstore.KindFile, []byte("side\n")}})

	// Second commit: a change of content, of kind, a removal and a rename.
	tx, err := master.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []error{
		tx.WriteFile(ctx, "a.b", []byte("changed\n"), dkstore.KindFile),
		tx.SetKind(ctx, "a0", dkstore.KindExec),
		tx.Remove(ctx, "ab"),
		tx.Rename(ctx, "b.c", "renamed"),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	c2, err := tx.Commit(ctx, "second commit, no final newline")
	if err != nil {
		t.Fatal(err)
	}
	files["a.b"] = compatFile{dkstore.KindFile, []byte("changed\n")}
	files["a0"] = compatFile{dkstore.KindExec, files["a0"].data}
	delete(files, "ab")
	files["renamed"] = files["b.c"]
	delete(files, "b.c")

	// Third: a merge with an empty message.
	tx, err = master.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Merge(ctx, sideHead); err != nil {
		t.Fatal(err)
	}
	c3, err := tx.Commit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	files["side.txt"] = compatFile{dkstore.KindFile, []byte("side\n")}

	compatFsck(t, gitdir)

	t.Run("commit-tree", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			id      dkstore.CommitID
			parents int
			msg     string
		}{
			{"root", c1, 0, "initial\n"},
			{"side", sideHead, 1, "side\n"},
			{"no-newline", c2, 1, "second commit, no final newline"},
			{"merge", c3, 2, dkstore.NoMessage},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := s.Commit(ctx, tc.id)
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Parents) != tc.parents || c.Message != tc.msg {
					t.Errorf("Commit(%s) has %d parents and message %q, want %d and %q", tc.id, len(c.Parents), c.Message, tc.parents, tc.msg)
				}
				if got := gitCommitTree(t, gitdir, c); got != tc.id.String() {
					t.Errorf("git commit-tree of the same tree, parents, identity, date and message = %s, we wrote %s\n%s",
						got, tc.id, gitDir(t, gitdir, "cat-file", "-p", tc.id.String()))
				}
				if got := strings.TrimSpace(gitDir(t, gitdir, "rev-parse", tc.id.String()+"^{tree}")); got != c.Tree.String() {
					t.Errorf("git rev-parse %s^{tree} = %s, Commit says %s", tc.id, got, c.Tree)
				}
				raw := gitDir(t, gitdir, "cat-file", "-p", tc.id.String())
				for _, role := range []string{"author", "committer"} {
					want := fmt.Sprintf("\n%s datakit <datakit@mobyproject.org> %d +0000\n", role, compatTime.Unix())
					if !strings.Contains(raw, want) {
						t.Errorf("git cat-file -p %s = %q, want a line %q", tc.id, raw, strings.TrimSpace(want))
					}
				}
			})
		}
		c, err := s.Commit(ctx, c3)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Parents, []dkstore.CommitID{c2, sideHead}) {
			t.Errorf("merge commit parents = %v, want [%s %s]", c.Parents, c2, sideHead)
		}
	})

	t.Run("ls-tree", func(t *testing.T) {
		byPath, _ := lsTree(t, gitdir, "-r", "-t", c3.String())
		dirs := map[string]bool{}
		for p, f := range files {
			o := watchObject(t, master, p)
			e, ok := byPath[string(p)]
			switch {
			case !ok:
				t.Errorf("git ls-tree -r does not list %s", p)
				continue
			case o.Kind != f.kind || e.mode != gitMode(f.kind) || e.typ != "blob":
				t.Errorf("%s: we report kind %v, wrote %v; git ls-tree shows mode %s type %s", p, o.Kind, f.kind, e.mode, e.typ)
			case e.hash != o.Hash.String():
				t.Errorf("%s: WatchPath reports blob %s, git ls-tree %s", p, o.Hash, e.hash)
			}
			for d := p.Dir(); !d.IsRoot(); d = d.Dir() {
				dirs[string(d)] = true
			}
		}
		for d := range dirs {
			o := watchObject(t, master, dkstore.Path(d))
			if e := byPath[d]; e.mode != "040000" || e.typ != "tree" || e.hash != o.Hash.String() || o.Kind != dkstore.KindDir {
				t.Errorf("directory %s: we report %v, git ls-tree shows %+v", d, o, e)
			}
		}
		if len(byPath) != len(files)+len(dirs) {
			t.Errorf("git ls-tree -r -t lists %d entries, want %d files and %d directories", len(byPath), len(files), len(dirs))
		}
		if o := watchObject(t, master, dkstore.Root); o.Kind != dkstore.KindDir {
			t.Errorf("WatchPath(root) = %v, want a directory", o)
		} else if c, err := s.Commit(ctx, c3); err != nil || c.Tree != o.Hash {
			t.Errorf("WatchPath(root) = %v, the head's tree is %v (%v)", o, c.Tree, err)
		}
	})

	t.Run("order", func(t *testing.T) {
		_, order := lsTree(t, gitdir, c1.String())
		if !slices.Equal(order, compatRootOrder) {
			t.Errorf("git ls-tree %s lists\n%q\nwant Git's order\n%q", c1, order, compatRootOrder)
		}
		_, order = lsTree(t, gitdir, c1.String()+":a")
		if want := []string{"b.txt", "b", "x"}; !slices.Equal(order, want) {
			t.Errorf("git ls-tree %s:a lists %q, want %q", c1, order, want)
		}
	})

	t.Run("hash-object", func(t *testing.T) {
		// One git process for all contents: hash-object --stdin-paths on
		// copies of them.
		tmp := t.TempDir()
		var paths []dkstore.Path
		var list strings.Builder
		for p, f := range files {
			name := filepath.Join(tmp, strconv.Itoa(len(paths)))
			if err := os.WriteFile(name, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
			list.WriteString(name + "\n")
		}
		out := gitRun{stdin: []byte(list.String())}.run(t, "--git-dir", gitdir, "hash-object", "--no-filters", "--stdin-paths")
		hashes := strings.Fields(out)
		if len(hashes) != len(paths) {
			t.Fatalf("git hash-object gave %d hashes for %d files", len(hashes), len(paths))
		}
		for i, p := range paths {
			o := watchObject(t, master, p)
			if o.Hash.String() != hashes[i] {
				t.Errorf("%s: WatchPath reports blob %s, git hash-object says %s", p, o.Hash, hashes[i])
			}
			if got, err := s.Blob(ctx, o.Hash); err != nil || !bytes.Equal(got, files[p].data) {
				t.Errorf("Blob(%s) of %s = %d bytes (%v), want the %d bytes written", o.Hash, p, len(got), err, len(files[p].data))
			}
			if got := gitDir(t, gitdir, "cat-file", "blob", o.Hash.String()); got != string(files[p].data) {
				t.Errorf("git cat-file blob %s (%s) = %d bytes, want the %d bytes written", o.Hash, p, len(got), len(files[p].data))
			}
		}
	})
}

// TestGitRepositoryPacked opens a repository written by plain git, with
// packed objects and packed refs, and works on it.
func TestGitRepositoryPacked(t *testing.T) {
	compatNeedGit(t)
	ctx := context.Background()
	dir := t.TempDir()
	wt := gitRun{dir: dir}
	wt.run(t, "init", "-q", "-b", "master")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README", "written by git\n")
	write("src/main.c", "int main(void) { return 0; }\n")
	wt.run(t, "add", "-A")
	wt.run(t, "commit", "-q", "-m", "first")
	write("src/util.c", "/* util */\n")
	wt.run(t, "add", "-A")
	wt.run(t, "commit", "-q", "-m", "second")
	wt.run(t, "branch", "packedonly")
	wt.run(t, "branch", "deep/packed/name")
	wt.run(t, "gc", "-q")
	gitdir := filepath.Join(dir, ".git")
	if _, err := os.Stat(filepath.Join(gitdir, "refs", "heads", "packedonly")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after git gc, refs/heads/packedonly is still loose (%v): the test needs packed refs", err)
	}
	if packs, _ := filepath.Glob(filepath.Join(gitdir, "objects", "pack", "*.pack")); len(packs) == 0 {
		t.Fatal("git gc wrote no pack: the test needs packed objects")
	}
	gitHead := strings.TrimSpace(wt.run(t, "rev-parse", "master"))

	s, err := dkstore.Open(dir, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	branches, err := s.Branches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []dkstore.BranchName{"deep/packed/name", "master", "packedonly"}; !slices.Equal(branches, want) {
		t.Errorf("Branches() = %q, want %q", branches, want)
	}
	master, err := s.Branch("master")
	if err != nil {
		t.Fatal(err)
	}
	head, err := master.Head(ctx)
	if err != nil || head.String() != gitHead {
		t.Fatalf("master.Head() = %s, %v; git rev-parse master = %s", head, err, gitHead)
	}
	c, err := s.Commit(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if c.Message != "second\n" || len(c.Parents) != 1 {
		t.Errorf("Commit(%s) = message %q, %d parents; want \"second\\n\", 1", head, c.Message, len(c.Parents))
	}
	tree, err := s.Tree(ctx, c.Tree)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[dkstore.Path]string{"README": "written by git\n", "src/util.c": "/* util */\n"} {
		if got, err := tree.ReadFile(ctx, p); err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
	if ents, err := tree.ReadDir(ctx, "src"); err != nil || len(ents) != 2 || ents[0].Name != "main.c" || ents[1].Name != "util.c" {
		t.Errorf("ReadDir(src) = %v, %v; want main.c and util.c", ents, err)
	}

	id := commitFiles(t, master, "on top of git's commits\n", map[dkstore.Path]compatFile{
		"new.txt":    {dkstore.KindFile, []byte("written by dkstore\n")},
		"src/main.c": {},
	})
	log := strings.Fields(gitDir(t, gitdir, "log", "--format=%H", "master"))
	if len(log) != 3 || log[0] != id.String() || log[1] != gitHead {
		t.Errorf("git log master = %q, want [%s %s <first>]", log, id, gitHead)
	}
	if got := gitDir(t, gitdir, "show", "master:new.txt"); got != "written by dkstore\n" {
		t.Errorf("git show master:new.txt = %q", got)
	}
	if _, err := (gitRun{}).try(t, "--git-dir", gitdir, "cat-file", "-e", "master:src/main.c"); err == nil {
		t.Errorf("src/main.c was removed but git still finds it in master")
	}
	compatFsck(t, gitdir)

	for _, name := range []dkstore.BranchName{"packedonly", "deep/packed/name"} {
		b, err := s.Branch(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx); err != nil {
			t.Fatalf("Delete(%s) of a packed-only branch: %v", name, err)
		}
		if h, err := b.Head(ctx); err != nil || !h.IsZero() {
			t.Errorf("after Delete, %s.Head() = %s, %v; want none", name, h, err)
		}
		if out, err := (gitRun{}).try(t, "--git-dir", gitdir, "show-ref", "--verify", name.Ref()); err == nil {
			t.Errorf("after Delete(%s), git show-ref --verify still finds it: %s", name, out)
		}
	}
	refs := gitDir(t, gitdir, "show-ref")
	if want := id.String() + " refs/heads/master\n"; refs != want {
		t.Errorf("git show-ref = %q, want %q", refs, want)
	}
	branches, err = s.Branches(ctx)
	if err != nil || !slices.Equal(branches, []dkstore.BranchName{"master"}) {
		t.Errorf("Branches() after the deletes = %q, %v; want [master]", branches, err)
	}
	// git fsck lists the packs before it checks them: the store's packer,
	// merging packs meanwhile, can make one vanish under it (as git gc
	// would). docs/dkstore.md: run fsck with the store closed.
	s.Close()
	compatFsck(t, gitdir)
}

// watchWithin waits up to limit for w to report a head other than old, and
// returns it with the time it took.
func watchWithin(t *testing.T, w dkstore.Watch[dkstore.CommitID], limit time.Duration, after func()) (dkstore.CommitID, time.Duration) {
	t.Helper()
	type result struct {
		id  dkstore.CommitID
		err error
		at  time.Time
	}
	ch := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		id, err := w.Next(ctx)
		ch <- result{id, err, time.Now()}
	}()
	time.Sleep(20 * time.Millisecond) // let Next block
	after()
	start := time.Now()
	r := <-ch
	if r.err != nil {
		t.Fatalf("WatchHead.Next = %v", r.err)
	}
	took := max(r.at.Sub(start), 0)
	if took > limit {
		t.Errorf("the watch saw the change after %v, want within %v", took, limit)
	}
	return r.id, took
}

// TestGitExternalUpdatesWatched moves a branch with git while a head
// watch is blocked: the watch must see the new head within a second.
func TestGitExternalUpdatesWatched(t *testing.T) {
	compatNeedGit(t)
	ctx := context.Background()
	dir := t.TempDir()
	gitdir := filepath.Join(dir, ".git")
	s, err := dkstore.Open(dir, dkstore.Options{Now: compatNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	master, err := s.Branch("master")
	if err != nil {
		t.Fatal(err)
	}
	c1 := commitFiles(t, master, "one\n", map[dkstore.Path]compatFile{"f": {dkstore.KindFile, []byte("1\n")}})
	w, err := master.WatchHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if id, err := w.Next(ctx); err != nil || id != c1 {
		t.Fatalf("first WatchHead.Next = %s, %v; want %s", id, err, c1)
	}

	t.Run("update-ref", func(t *testing.T) {
		c, err := s.Commit(ctx, c1)
		if err != nil {
			t.Fatal(err)
		}
		// A commit made by git alone, then the ref moved by git alone.
		next := strings.TrimSpace(gitRun{stdin: []byte("by git\n")}.run(t, "--git-dir", gitdir, "commit-tree", c.Tree.String(), "-p", c1.String()))
		got, took := watchWithin(t, w, time.Second, func() {
			gitDir(t, gitdir, "update-ref", "refs/heads/master", next, c1.String())
		})
		if got.String() != next {
			t.Errorf("the watch saw %s, git update-ref set %s", got, next)
		}
		t.Logf("update-ref seen after %v", took)
	})

	t.Run("push", func(t *testing.T) {
		// Receive pushes as packs, so that the new objects are only in a
		// pack the store has not seen.
		gitDir(t, gitdir, "config", "receive.unpackLimit", "1")
		clone := filepath.Join(t.TempDir(), "clone")
		gitRun{}.run(t, "clone", "-q", gitdir, clone)
		if err := os.WriteFile(filepath.Join(clone, "pushed.txt"), []byte("pushed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		wc := gitRun{dir: clone}
		wc.run(t, "add", "pushed.txt")
		wc.run(t, "commit", "-q", "-m", "pushed")
		pushed := strings.TrimSpace(wc.run(t, "rev-parse", "HEAD"))
		got, took := watchWithin(t, w, time.Second, func() {
			wc.run(t, "push", "-q", "origin", "master")
		})
		if got.String() != pushed {
			t.Fatalf("the watch saw %s, git push sent %s", got, pushed)
		}
		t.Logf("push seen after %v", took)
		if _, err := os.Stat(filepath.Join(gitdir, "objects", pushed[:2], pushed[2:])); err == nil {
			t.Fatalf("the pushed commit is a loose object: the test means to read it from a pack git added")
		}
		c, err := s.Commit(ctx, got)
		if err != nil {
			t.Fatalf("Commit(%s) of the pushed commit: %v", got, err)
		}
		tree, err := s.Tree(ctx, c.Tree)
		if err != nil {
			t.Fatal(err)
		}
		if data, err := tree.ReadFile(ctx, "pushed.txt"); err != nil || string(data) != "pushed\n" {
			t.Errorf("ReadFile(pushed.txt) in the pushed commit = %q, %v", data, err)
		}
		// And we can build on it.
		id := commitFiles(t, master, "after the push\n", map[dkstore.Path]compatFile{"g": {dkstore.KindFile, []byte("g\n")}})
		if out := gitDir(t, gitdir, "rev-parse", "master~1"); strings.TrimSpace(out) != pushed {
			t.Errorf("git rev-parse master~1 = %s, want the pushed %s (master is %s)", out, pushed, id)
		}
		compatFsck(t, gitdir)
	})
}
