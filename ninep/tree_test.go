package ninep

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// fsClient is a raw 9P client on a test server, with helpers that read
// like a shell session.
type fsClient struct {
	t    *testing.T
	root p9.File
}

func newFSClient(t *testing.T) (*fsClient, func()) {
	t.Helper()
	st, srv := testServer(t)
	ctx := context.Background()
	c, root, conn, done := pipeClient(t, ctx, srv)
	return &fsClient{t: t, root: root}, func() {
		c.Close()
		conn.Close()
		<-done
		st.Close()
	}
}

func (c *fsClient) walk(path string) (p9.File, error) {
	_, f, err := c.root.Walk(strings.Split(path, "/"))
	return f, err
}

func (c *fsClient) mustWalk(path string) p9.File {
	c.t.Helper()
	f, err := c.walk(path)
	if err != nil {
		c.t.Fatalf("walk %s: %v", path, err)
	}
	return f
}

func (c *fsClient) read(path string) (string, error) {
	f, err := c.walk(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		return "", err
	}
	buf := make([]byte, 1<<16)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n == 0 && err.Error() != "EOF" {
		return "", err
	}
	return string(buf[:n]), nil
}

func (c *fsClient) write(path, data string) error {
	f, err := c.walk(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, err := f.Open(p9.ReadWrite); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(data), 0)
	return err
}

func (c *fsClient) mkdir(dir, name string) error {
	f, err := c.walk(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Mkdir(name, 0o755, 0, 0)
	return err
}

func (c *fsClient) create(dir, name, data string) {
	c.t.Helper()
	d := c.mustWalk(dir)
	f, _, _, err := d.Create(name, p9.ReadWrite, 0o644, 0, 0)
	if err != nil {
		c.t.Fatalf("create %s/%s: %v", dir, name, err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		c.t.Fatalf("write %s/%s: %v", dir, name, err)
	}
	f.Close()
}

func isErrno(err error, want linux.Errno) bool {
	var e linux.Errno
	return errors.As(err, &e) && e == want
}

// TestQids: walking branch/master/head gives qid types [dir, dir, file],
// and the same path keeps its inode number.
func TestQids(t *testing.T) {
	c, done := newFSClient(t)
	defer done()
	qs, f, err := c.root.Walk([]string{"branch", "master", "head"})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	types := []p9.QIDType{qs[0].Type, qs[1].Type, qs[2].Type}
	if types[0] != p9.TypeDir || types[1] != p9.TypeDir || types[2] != p9.TypeRegular {
		t.Errorf("qid types = %v, want [dir dir file]", types)
	}
	again, f2, err := c.root.Walk([]string{"branch", "master", "head"})
	if err != nil {
		t.Fatal(err)
	}
	f2.Close()
	for i := range qs {
		if qs[i].Path != again[i].Path {
			t.Errorf("inode of step %d = %d then %d, want stable", i, qs[i].Path, again[i].Path)
		}
	}
	if _, _, err := c.root.Walk([]string{"."}); err == nil {
		t.Error(`walk "." worked, want an error ('.' is not valid in 9p)`)
	}
	// p9 refuses this before asking us (EINVAL); the original said
	// "Can't walk from a file".
	if _, _, err := c.root.Walk([]string{"branch", "master", "head", "x"}); err == nil {
		t.Error("walk from a file worked")
	}
}

// TestRange: reading past the end of a file is an error (the original's
// "Offset 100 beyond end-of-file (len = 0)").
func TestRange(t *testing.T) {
	c, done := newFSClient(t)
	defer done()
	if err := c.mkdir("branch/master/transactions", "t"); err != nil {
		t.Fatal(err)
	}
	f := c.mustWalk("branch/master/transactions/t/origin")
	defer f.Close()
	f.Open(p9.ReadOnly)
	if _, err := f.ReadAt(make([]byte, 10), 100); !isErrno(err, linux.EINVAL) {
		t.Errorf("read origin at 100 = %v, want EINVAL", err)
	}
}

// TestRenameFile: renames in rw/, onto a directory (EISDIR) and of a
// missing file (ENOENT).
func TestRenameFile(t *testing.T) {
	c, done := newFSClient(t)
	defer done()
	c.mkdir("branch/master/transactions", "t")
	rw := "branch/master/transactions/t/rw"
	c.create(rw, "old", "data")
	c.mkdir(rw, "dir")
	c.create(rw+"/dir", "f", "x")
	d := c.mustWalk(rw)
	if err := d.RenameAt("old", d, "new"); err != nil {
		t.Fatalf("rename old new: %v", err)
	}
	if got, _ := c.read(rw + "/new"); got != "data" {
		t.Errorf("new = %q, want %q", got, "data")
	}
	if err := d.RenameAt("new", d, "dir"); !isErrno(err, linux.EISDIR) {
		t.Errorf("rename onto a directory = %v, want EISDIR", err)
	}
	if err := d.RenameAt("gone", d, "x"); !isErrno(err, linux.ENOENT) {
		t.Errorf("rename of a missing file = %v, want ENOENT", err)
	}
	sub := c.mustWalk(rw + "/dir")
	if err := d.RenameAt("new", sub, "moved"); err != nil {
		t.Errorf("rename across directories of rw/: %v", err)
	}
	if got, _ := c.read(rw + "/dir/moved"); got != "data" {
		t.Errorf("dir/moved = %q", got)
	}
}

// TestTruncate: 4 bytes, extend to 6 with NULs, back to 0.
func TestTruncate(t *testing.T) {
	c, done := newFSClient(t)
	defer done()
	c.mkdir("branch/master/transactions", "t")
	rw := "branch/master/transactions/t/rw"
	c.create(rw, "f", "hello")
	f := c.mustWalk(rw + "/f")
	for _, tc := range []struct {
		size uint64
		want string
	}{{4, "hell"}, {6, "hell\x00\x00"}, {0, ""}} {
		if err := f.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: tc.size}); err != nil {
			t.Fatalf("truncate %d: %v", tc.size, err)
		}
		if got, _ := c.read(rw + "/f"); got != tc.want {
			t.Errorf("after truncate %d = %q, want %q", tc.size, got, tc.want)
		}
	}
	ctl := c.mustWalk("branch/master/transactions/t/ctl")
	if err := ctl.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 3}); !isErrno(err, linux.EINVAL) {
		t.Errorf("extend a command file = %v, want EINVAL (Can't extend command file)", err)
	}
}

// TestRenameBranch: mv branch/a branch/b; onto an existing branch fails.
func TestRenameBranch(t *testing.T) {
	c, done := newFSClient(t)
	defer done()
	c.mkdir("branch", "dev")
	head, _ := c.read("branch/master/head")
	if err := c.write("branch/dev/fast-forward", head); err != nil {
		t.Fatal(err)
	}
	br := c.mustWalk("branch")
	if err := br.RenameAt("dev", br, "master"); !isErrno(err, linux.EISDIR) {
		t.Errorf("rename onto an existing branch = %v, want EISDIR", err)
	}
	if err := br.RenameAt("dev", br, "feature"); err != nil {
		t.Fatalf("rename dev feature: %v", err)
	}
	if got, _ := c.read("branch/feature/head"); got != head {
		t.Errorf("feature head = %q, want %q", got, head)
	}
	if _, err := c.walk("branch/dev"); !isErrno(err, linux.ENOENT) {
		t.Errorf("walk branch/dev after rename = %v, want ENOENT", err)
	}
}

// TestRemotes: fetch from a repository made with git; head shows the
// fetched commit, readable under /snapshots. Bad inputs say why.
func TestRemotes(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("SKIP: no git")
	}
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	exec.Command("sh", "-c", "echo foo > "+filepath.Join(repo, "foo")).Run()
	git("add", ".")
	git("commit", "-qm", "init")
	want := git("rev-parse", "HEAD")

	c, done := newFSClient(t)
	defer done()
	if err := c.mkdir("remotes", "origin"); err != nil {
		t.Fatal(err)
	}
	if err := c.mkdir("remotes", "origin"); !isErrno(err, linux.EEXIST) {
		t.Errorf("mkdir remotes/origin twice = %v, want EEXIST", err)
	}
	if err := c.write("remotes/origin/fetch", "main"); err == nil {
		t.Error("fetch without url worked")
	} else if got, _ := c.read("remotes/origin/fetch"); got != "error: remote url is not defined\n" {
		t.Errorf("fetch file after error = %q", got)
	}
	if err := c.write("remotes/origin/url", repo); err != nil {
		t.Fatal(err)
	}
	if err := c.write("remotes/origin/fetch", "main"); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if got, _ := c.read("remotes/origin/head"); strings.TrimSpace(got) != want {
		t.Errorf("remotes/origin/head = %q, want %s", got, want)
	}
	if got, _ := c.read("snapshots/" + want + "/ro/foo"); got != "foo\n" {
		t.Errorf("fetched foo = %q", got)
	}
	if err := c.write("remotes/origin/fetch", "nope"); err == nil {
		t.Error("fetch of a missing branch worked")
	} else if got, _ := c.read("remotes/origin/fetch"); !strings.HasPrefix(got, "error: cannot fetch") {
		t.Errorf("fetch file after a failed fetch = %q", got)
	}
}

// TestKeptFidRereads: a status file re-read at offset 0 through the same
// open fid shows the current value (one request per read for clients that
// keep fids).
func TestKeptFidRereads(t *testing.T) {
	c, done := newFSClient(t)
	defer done()
	f := c.mustWalk("branch/master/head")
	defer f.Close()
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := f.ReadAt(buf, 0)
	first := string(buf[:n])
	c.mkdir("branch/master/transactions", "t")
	c.create("branch/master/transactions/t/rw", "new", "x")
	if err := c.write("branch/master/transactions/t/ctl", "commit"); err != nil {
		t.Fatal(err)
	}
	n, _ = f.ReadAt(buf, 0)
	if again := string(buf[:n]); again == first || len(again) != 41 {
		t.Errorf("re-read of head = %q, first read %q: want the new head", again, first)
	}
}

// headsWatch is a dkstore.Watch of fixed heads that honours its context
// (as the Go client's watches do; the store's return a first value at
// once).
type headsWatch struct{ ids []dkstore.CommitID }

func (w *headsWatch) Next(ctx context.Context) (dkstore.CommitID, error) {
	if err := ctx.Err(); err != nil {
		return dkstore.CommitID{}, err
	}
	id := w.ids[0]
	w.ids = w.ids[1:]
	return id, nil
}

func (w *headsWatch) Close() error { return nil }

// TestReflogInterruptedFirstRead: a reflog read interrupted before it
// skipped the current head still skips it on the next read, so the head
// of before the open never shows as a change.
func TestReflogInterruptedFirstRead(t *testing.T) {
	old, next := dkstore.CommitID{1}, dkstore.CommitID{2}
	r := &reflogWatch{w: &headsWatch{ids: []dkstore.CommitID{old, next}}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(cancelled); err == nil {
		t.Fatal("Next(cancelled context) = nil error")
	}
	ctx := context.Background()
	for _, want := range []string{"", next.String()} {
		if got, err := r.Next(ctx); err != nil || got != want {
			t.Fatalf("Next() = %q, %v; want %q", got, err, want)
		}
	}
}
