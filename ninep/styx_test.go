package ninep

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep/internal/styx"
)

// The dialects served beside 9P2000.L.
var styxDialects = []string{styx.VersionPlain, styx.VersionUnix}

// TestStyxVersion: Tversion picks the dialect; the msize is the smaller
// of the client's and the server's; an unknown version gets "unknown".
func TestStyxVersion(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	st, srv := testServer(t)
	defer st.Close()
	for _, c := range []struct {
		ask, want string
		msize     uint32
		wantMsize uint32
	}{
		{"9P2000", "9P2000", 8192, 8192},
		{"9P2000.u", "9P2000.u", 65536, 65536},
		{"9P2000.x", "9P2000", 8192, 8192},
		{"9P2000", "9P2000", 1 << 24, maxStyxMsize},
		{"bogus", "unknown", 8192, 8192},
		{"9P2000.L", "9P2000.L", 8192, 8192}, // p9's, as before
	} {
		t.Run(c.ask, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c1, c2 := net.Pipe()
			done := make(chan struct{})
			go func() {
				defer close(done)
				srv.ServeConn(ctx, c2)
			}()
			b, _ := styx.Append(styx.Plain, nil, &styx.Msg{Type: styx.Tversion, Tag: styx.NoTag, Msize: c.msize, Version: c.ask})
			if _, err := c1.Write(b); err != nil {
				t.Fatal(err)
			}
			m, err := styx.ReadMsg(c1, 1<<25)
			if err != nil {
				t.Fatal(err)
			}
			r, err := styx.Decode(styx.Plain, m)
			if err != nil || r.Type != styx.Rversion || r.Version != c.want || r.Msize != c.wantMsize {
				t.Fatalf("Tversion(%d, %s) = %+v, %v; want Rversion(%d, %s)", c.msize, c.ask, r, err, c.wantMsize, c.want)
			}
			c1.Close()
			<-done
		})
	}
}

// TestGoBindings drives the server as the original's Go bindings do
// (dkClient, over plain 9P2000 as go-p9p speaks it, and over 9P2000.u):
// transactions, a write larger than two messages, head, snapshots and
// their listings, watches, rm -f, and the original's error texts.
func TestGoBindings(t *testing.T) {
	for _, version := range styxDialects {
		t.Run(version, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			st, srv := testServer(t)
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, err := newDKClient(ctx, dialStyx(t, ctx, srv, version))
			if err != nil {
				t.Fatal(err)
			}
			testGoBindings(t, ctx, st, c)
			testGoBindingsRecord(t, ctx, c)
		})
	}
}

func testGoBindings(t *testing.T, ctx context.Context, st dkstore.Store, c *dkClient) {
	storeHead := func(b dkstore.BranchName) string {
		br, _ := st.Branch(b)
		id, err := br.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id.String()
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (2*int(c.s.msize)+150)/16+1)[:2*c.s.msize+150]

	// A transaction on a new branch, committed.
	tx, err := newDKTransaction(ctx, c, "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		path  []string
		value string
	}{{[]string{"a", "b"}, "hello"}, {[]string{"big"}, string(big)}, {[]string{"gone"}, "x"}} {
		if err := tx.Write(ctx, w.path, w.value); err != nil {
			t.Fatalf("Write(%v): %v", w.path, err)
		}
	}
	if err := tx.Remove(ctx, []string{"gone"}); err != nil {
		t.Fatalf("Remove(gone) = %v", err)
	}
	if err := tx.Remove(ctx, []string{"never", "was"}); err != nil {
		t.Fatalf("Remove of a missing path = %v, want nil (rm -f)", err)
	}
	if err := tx.Commit(ctx, "first"); err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	head, err := dkHead(ctx, c, "dev")
	if err != nil || head != storeHead("dev") {
		t.Fatalf("Head() = %q, %v; want %q", head, err, storeHead("dev"))
	}

	// Snapshots read and list the commit.
	snap := dkCommitSnapshot(c, head)
	if got, err := snap.Read(ctx, "a", "b"); err != nil || got != "hello" {
		t.Fatalf("snapshot Read(a/b) = %q, %v", got, err)
	}
	if got, err := snap.Read(ctx, "big"); err != nil || got != string(big) {
		t.Fatalf("snapshot Read(big) = %d bytes, %v; want %d", len(got), err, len(big))
	}
	if got, err := snap.List(ctx); err != nil || !slices.Equal(got, []string{"a", "big"}) {
		t.Fatalf("snapshot List() = %q, %v", got, err)
	}
	if got, err := snap.List(ctx, "a"); err != nil || !slices.Equal(got, []string{"b"}) {
		t.Fatalf("snapshot List(a) = %q, %v", got, err)
	}
	if _, err := snap.Read(ctx, "nope"); !isRerror(err, dkEnoent) {
		t.Fatalf("snapshot Read(nope) error %v, want %q", err, dkEnoent)
	}

	// A watch of a/b: the first object, then the next after a commit.
	w, err := newDKWatch(ctx, c, "dev", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	obj, err := w.Next(ctx)
	if err != nil || !strings.HasPrefix(obj, "F-") {
		t.Fatalf("watch Next() = %q, %v", obj, err)
	}
	if got, err := dkObjectSnapshot(c, obj).Read(ctx); err != nil || got != "hello" {
		t.Fatalf("object %s = %q, %v", obj, got, err)
	}
	tx2, err := newDKTransaction(ctx, c, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx2.Write(ctx, []string{"a", "b"}, "world"); err != nil {
		t.Fatal(err)
	}
	if err := tx2.Commit(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	obj2, err := w.Next(ctx)
	if err != nil || obj2 == obj {
		t.Fatalf("watch Next() after a commit = %q, %v (was %q)", obj2, err, obj)
	}
	if got, err := dkObjectSnapshot(c, obj2).Read(ctx); err != nil || got != "world" {
		t.Fatalf("object %s = %q, %v", obj2, got, err)
	}

	// Errors carry the original's texts (and, in .u, the errno).
	wantErr := func(what string, err error, text string, errno linux.Errno) {
		t.Helper()
		var r rerror
		if !errors.As(err, &r) || r.Ename != text {
			t.Fatalf("%s: error %v, want %q", what, err, text)
		}
		if c.s.dialect == styx.Unix && r.Errno != uint32(errno) {
			t.Fatalf("%s: errno %d, want %d", what, r.Errno, errno)
		}
	}
	tx3, err := newDKTransaction(ctx, c, "dev")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := c.Open(ctx, styx.ORDWR, tx3.path("ctl")...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ctl.Write(ctx, []byte("bogus"), 0)
	wantErr("write bogus to ctl", err, `Unknown command "bogus"`, linux.EINVAL)
	ctl.Close(ctx)
	hf, err := c.Open(ctx, styx.ORDWR, "branch", "dev", "head")
	if err != nil {
		t.Fatal(err)
	}
	_, err = hf.Write(ctx, []byte("x"), 0)
	wantErr("write head", err, "Read-only file", linux.EROFS)
	hf.Close(ctx)
	_, err = c.Open(ctx, styx.OREAD, "branch", "dev", "nope")
	wantErr("open a missing file", err, dkEnoent, linux.ENOENT)
	_, err = c.Create(ctx, "branch", "file")
	wantErr("create a file in branch/", err, "Can only contain directories", linux.EPERM)

	// A merge with a conflict: commit is refused with the original's text.
	if err := c.Mkdir(ctx, "branch", "feature"); err != nil {
		t.Fatal(err)
	}
	ff, err := c.Open(ctx, styx.ORDWR, "branch", "feature", "fast-forward")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ff.Write(ctx, []byte(storeHead("dev")), 0); err != nil {
		t.Fatalf("fast-forward: %v", err)
	}
	ff.Close(ctx)
	theirs, err := newDKTransaction(ctx, c, "feature")
	if err != nil {
		t.Fatal(err)
	}
	if err := theirs.Write(ctx, []string{"a", "b"}, "theirs"); err != nil {
		t.Fatal(err)
	}
	if err := theirs.Commit(ctx, "theirs"); err != nil {
		t.Fatal(err)
	}
	if err := tx3.Write(ctx, []string{"a", "b"}, "ours"); err != nil {
		t.Fatal(err)
	}
	mf, err := c.Open(ctx, styx.ORDWR, tx3.path("merge")...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mf.Write(ctx, []byte(storeHead("feature")), 0); err != nil {
		t.Fatalf("merge: %v", err)
	}
	mf.Close(ctx)
	err = tx3.Commit(ctx, "ours")
	wantErr("commit with conflicts", err, "conflicts file is not empty", linux.EBUSY)
	if err := tx3.Remove(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := tx3.Commit(ctx, "resolved"); err != nil {
		t.Fatalf("commit after resolving: %v", err)
	}
	if got, err := dkCommitSnapshot(c, storeHead("dev")).List(ctx); err != nil || !slices.Equal(got, []string{"big"}) {
		t.Fatalf("after the merge: List() = %q, %v", got, err)
	}
}

// testGoBindingsRecord goes through what the bindings' typed
// configuration records (NewRecord, Seal, Wait, Set) send: each branch is
// made sure of by committing an empty branch-created file (to existing
// branches too), a watch of the record's path starts where the path does
// not exist yet, a Set commits to the first lookup branch, which ends the
// watch's wait, and the fields are read from snapshots of the heads.
func testGoBindingsRecord(t *testing.T, ctx context.Context, c *dkClient) {
	for _, b := range []string{"master", "defaults", "state"} {
		tx, err := newDKTransaction(ctx, c, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Write(ctx, []string{"branch-created"}, ""); err != nil {
			t.Fatalf("%s: write branch-created: %v", b, err)
		}
		if err := tx.Commit(ctx, "Creating branch"); err != nil {
			t.Fatalf("%s: commit: %v", b, err)
		}
	}
	if err := c.Mkdir(ctx, "branch", "master"); err != nil {
		t.Fatal(err)
	}
	w, err := newDKWatch(ctx, c, "master", "com.docker", "settings")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	if obj, err := w.Next(ctx); err != nil || obj != "" {
		t.Fatalf("watch of a missing path: Next() = %q, %v; want \"\"", obj, err)
	}
	set, err := newDKTransaction(ctx, c, "master")
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Write(ctx, []string{"com.docker", "settings", "memory"}, "2048"); err != nil {
		t.Fatal(err)
	}
	if err := set.Commit(ctx, "set memory"); err != nil {
		t.Fatal(err)
	}
	if obj, err := w.Next(ctx); err != nil || !strings.HasPrefix(obj, "D-") {
		t.Fatalf("watch after Set: Next() = %q, %v; want a D- tree", obj, err)
	}
	for b, want := range map[string]string{"master": "2048", "defaults": ""} {
		head, err := dkHead(ctx, c, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dkCommitSnapshot(c, head).Read(ctx, "com.docker", "settings", "memory")
		if want == "" {
			if !isRerror(err, dkEnoent) {
				t.Fatalf("%s: a field not set: %q, %v; want %q", b, got, err, dkEnoent)
			}
			continue
		}
		if err != nil || got != want {
			t.Fatalf("%s: field = %q, %v; want %q", b, got, err, want)
		}
	}
	if got, err := dkCommitSnapshot(c, mustHead(t, ctx, c, "state")).Read(ctx, "branch-created"); err != nil || got != "" {
		t.Fatalf("state/branch-created = %q, %v", got, err)
	}
}

func mustHead(t *testing.T, ctx context.Context, c *dkClient, b string) string {
	t.Helper()
	h, err := dkHead(ctx, c, b)
	if err != nil || len(h) != 40 {
		t.Fatalf("head of %s = %q, %v", b, h, err)
	}
	return h
}

// TestStyxFlush: in both dialects a read blocked on head.live ends when
// flushed (an error reply, then the Rflush), the stream stays where it
// was, and a commit ends the next read with the new head.
func TestStyxFlush(t *testing.T) {
	for _, version := range styxDialects {
		t.Run(version, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			st, srv := testServer(t)
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := dialStyx(t, ctx, srv, version)
			head := func() string {
				b, _ := st.Branch("master")
				id, _ := b.Head(ctx)
				return id.String()
			}
			if _, err := s.attach(ctx, 0, "", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.walk(ctx, 0, 1, "branch", "master", "head.live"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.open(ctx, 1, styx.OREAD); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 100)
			if n, err := s.read(ctx, 1, p, 0); err != nil || string(p[:n]) != head()+"\n" {
				t.Fatalf("first read = %q, %v", p[:n], err)
			}
			if n, err := s.read(ctx, 1, p, 41); err != nil || n != 0 {
				t.Fatalf("second read = %q, %v; want nothing", p[:n], err)
			}
			readTag, readCh, err := s.start(&styx.Msg{Type: styx.Tread, Fid: 1, Offset: 41, Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-readCh:
				t.Fatalf("blocked read answered: %+v", r)
			case <-time.After(200 * time.Millisecond):
			}
			_, flushCh, err := s.start(&styx.Msg{Type: styx.Tflush, Oldtag: readTag})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.wait(ctx, flushCh, styx.Rflush); err != nil {
				t.Fatalf("Tflush: %v", err)
			}
			select {
			case r := <-readCh:
				if r.Type != styx.Rerror || (s.dialect == styx.Unix && r.Errno != uint32(linux.EINTR)) {
					t.Fatalf("flushed read's reply %+v, want Rerror (EINTR)", r)
				}
			default:
				t.Fatal("Rflush came before the flushed read's reply")
			}
			// A flush of nothing in flight is answered at once.
			if _, err := s.rpc(ctx, &styx.Msg{Type: styx.Tflush, Oldtag: 999}); err != nil {
				t.Fatalf("Tflush of nothing: %v", err)
			}
			_, readCh, err = s.start(&styx.Msg{Type: styx.Tread, Fid: 1, Offset: 41, Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-readCh:
				t.Fatalf("read after the flush answered before a commit: %+v", r)
			case <-time.After(200 * time.Millisecond):
			}
			commitTo(t, st, "master", "new")
			r, err := s.wait(ctx, readCh, styx.Rread)
			if err != nil || string(r.Data) != head()+"\n" {
				t.Fatalf("read after a commit = %+v, %v; want the new head", r, err)
			}
			if err := s.clunk(ctx, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The flushed reads left no watch behind (checked once the
	// connections have ended, by goleak above and here).
}

// styxFS is a test client that names files by path from an attached root
// (fid 0), with fresh fids.
type styxFS struct {
	t    *testing.T
	ctx  context.Context
	s    *styxSession
	next uint32
}

func newStyxFS(t *testing.T, ctx context.Context, s *styxSession) *styxFS {
	if _, err := s.attach(ctx, 0, "", ""); err != nil {
		t.Fatal(err)
	}
	return &styxFS{t: t, ctx: ctx, s: s, next: 100}
}

// walk returns a new fid for path ("" is the root), or the walk's error.
func (f *styxFS) walk(path string) (uint32, error) {
	f.next++
	var names []string
	if path != "" {
		names = strings.Split(path, "/")
	}
	_, err := f.s.walk(f.ctx, 0, f.next, names...)
	return f.next, err
}

func (f *styxFS) mustWalk(path string) uint32 {
	f.t.Helper()
	fid, err := f.walk(path)
	if err != nil {
		f.t.Fatalf("walk %s: %v", path, err)
	}
	return fid
}

// opened returns a new fid for path, opened with mode.
func (f *styxFS) opened(path string, mode uint8) uint32 {
	f.t.Helper()
	fid := f.mustWalk(path)
	if _, err := f.s.open(f.ctx, fid, mode); err != nil {
		f.t.Fatalf("open %s: %v", path, err)
	}
	return fid
}

// TestStyxProtocol: the original's protocol-level behaviour (reference
// 2.1) in both dialects.
func TestStyxProtocol(t *testing.T) {
	for _, version := range styxDialects {
		t.Run(version, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			st, srv := testServer(t)
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := dialStyx(t, ctx, srv, version)
			fs := newStyxFS(t, ctx, s)
			unix := s.dialect == styx.Unix
			want := func(what string, err error, text string) {
				t.Helper()
				if !isRerror(err, text) {
					t.Fatalf("%s: error %v, want %q", what, err, text)
				}
			}

			// Walks.
			_, err := fs.walk("branch/.")
			want("walk .", err, "'.' is not valid in 9p")
			_, err = fs.walk("branch/master/head/x")
			want("walk from a file", err, "Can't walk from a file")
			fid, err := fs.walk("branch/master/nope")
			want("walk to a missing name", err, "No such file or directory")
			want("the fid of a failed walk", s.clunk(ctx, fid), "Unknown fid "+itoa(uint64(fid)))
			if qids, err := s.walk(ctx, 0, 50, "branch", "master", ".."); err != nil || len(qids) != 3 || qids[2].Type != styx.QTDIR {
				t.Fatalf("walk branch/master/.. = %v, %v", qids, err)
			}
			// Qids: [dir, dir, file] to a head, the same paths each time.
			q1, err := s.walk(ctx, 0, 51, "branch", "master", "head")
			q2, err2 := s.walk(ctx, 0, 52, "branch", "master", "head")
			if err != nil || err2 != nil || len(q1) != 3 || q1[0].Type != styx.QTDIR || q1[1].Type != styx.QTDIR ||
				q1[2].Type != styx.QTFILE || !slices.Equal(q1, q2) {
				t.Fatalf("walks to branch/master/head = %v, %v and %v, %v", q1, err, q2, err2)
			}
			_, err = s.attach(ctx, 0, "", "")
			want("attach to a fid in use", err, "Fid 0 already in use")
			_, err = s.walk(ctx, 0, 50)
			want("walk to a fid in use", err, "Fid 50 already in use")

			// Open, read and write.
			head := fs.mustWalk("branch/master/head")
			_, err = s.read(ctx, head, make([]byte, 10), 0)
			want("read an unopened fid", err, "Can't read from unopened fid")
			if _, err := s.open(ctx, head, styx.OREAD); err != nil {
				t.Fatal(err)
			}
			_, err = s.open(ctx, head, styx.OREAD)
			want("open twice", err, "Already open")
			root := fs.opened("", styx.OREAD)
			_, err = s.create(ctx, root, "x", 0o644, styx.ORDWR, "")
			want("create in an opened fid", err, "Can't create in an opened fid")
			_, err = s.write(ctx, root, []byte("x"), 0)
			want("write a directory", err, "Can't write to directories")
			origin := fs.opened("branch/master/transactions", styx.OREAD)
			s.clunk(ctx, origin)
			tdir := fs.mustWalk("branch/master/transactions")
			if _, err := s.create(ctx, tdir, "t", styx.DMDIR|0o755, styx.OREAD, ""); err != nil {
				t.Fatalf("mkdir transactions/t: %v", err)
			}
			origin = fs.opened("branch/master/transactions/t/origin", styx.OREAD)
			_, err = s.read(ctx, origin, make([]byte, 10), 100)
			want("read past the end", err, "Offset 100 beyond end-of-file (len = 0)")
			rootFid := fs.mustWalk("")
			_, err = s.create(ctx, rootFid, "x", 0o644, styx.ORDWR, "")
			want("create in /", err, "Directory is read-only")
			file := fs.mustWalk("branch/master/head")
			_, err = s.create(ctx, file, "x", 0o644, styx.ORDWR, "")
			want("create under a file", err, `"head" is not a directory`)

			// Directory reads: whole entries that fit, sequential.
			names := func(b []byte) []string {
				var out []string
				for len(b) > 0 {
					st, rest, err := styx.DecodeStat(s.dialect, b)
					if err != nil {
						t.Fatal(err)
					}
					out, b = append(out, st.Name), rest
				}
				return out
			}
			d := fs.opened("", styx.OREAD)
			p := make([]byte, 4096)
			n, err := s.read(ctx, d, p[:10], 0)
			if err != nil || n != 0 {
				t.Fatalf("read of a directory into 10 bytes = %d, %v; want 0", n, err)
			}
			n1, err := s.read(ctx, d, p[:100], 0)
			if err != nil || len(names(p[:n1])) != 1 {
				t.Fatalf("read of one entry = %q, %v", names(p[:n1]), err)
			}
			_, err = s.read(ctx, d, p, 5)
			want("read a directory out of order", err, "Can't seek in a directory")
			n2, err := s.read(ctx, d, p, int64(n1))
			if got := names(p[:n2]); err != nil || !slices.Equal(got, []string{"commits", "debug", "remotes", "snapshots", "trees"}) {
				t.Fatalf("read of the rest = %q, %v", got, err)
			}
			if n3, err := s.read(ctx, d, p, int64(n1+n2)); err != nil || n3 != 0 {
				t.Fatalf("read at the end = %d, %v", n3, err)
			}
			if n, err := s.read(ctx, d, p, 0); err != nil || len(names(p[:n])) != 6 {
				t.Fatalf("read again from 0 = %q, %v", names(p[:n]), err)
			}

			// Stat, wstat, and a symlink (in .u).
			rw := "branch/master/transactions/t/rw"
			dir := fs.mustWalk(rw)
			if _, err := s.create(ctx, dir, "f", 0o644, styx.ORDWR, ""); err != nil {
				t.Fatalf("create f: %v", err)
			}
			if _, err := s.write(ctx, dir, []byte("data"), 0); err != nil {
				t.Fatalf("write f: %v", err)
			}
			f := fs.mustWalk(rw + "/f")
			sf, err := s.stat(ctx, f)
			if err != nil || sf.Name != "f" || sf.Length != 4 || sf.Mode != 0o664 || sf.Qid.Type != styx.QTFILE {
				t.Fatalf("stat f = %+v, %v", sf, err)
			}
			sd, err := s.stat(ctx, fs.mustWalk(rw))
			if err != nil || sd.Mode != styx.DMDIR|0o775 || sd.Qid.Type != styx.QTDIR || sd.Name != "rw" {
				t.Fatalf("stat rw = %+v, %v", sd, err)
			}
			both := blankStat()
			both.Name, both.Length = "g", 0
			want("wstat of name and length", s.wstat(ctx, f, both), "Can't rename/truncate/chmod at the same time")
			chmod := blankStat()
			chmod.Mode = 0o755
			if err := s.wstat(ctx, f, chmod); err != nil {
				t.Fatalf("chmod +x: %v", err)
			}
			if sf, err := s.stat(ctx, f); err != nil || sf.Mode != 0o775 {
				t.Fatalf("stat after chmod = %o, %v", sf.Mode, err)
			}
			rename := blankStat()
			rename.Name = "g"
			if err := s.wstat(ctx, f, rename); err != nil {
				t.Fatalf("rename f g: %v", err)
			}
			if sf, err := s.stat(ctx, f); err != nil || sf.Name != "g" {
				t.Fatalf("stat after rename = %+v, %v", sf, err)
			}
			far := fs.opened(rw+"/g", styx.OWRITE)
			_, err = s.write(ctx, far, []byte("x"), 1<<41)
			want("write at 2^41", err, "File too large")
			huge := blankStat()
			huge.Length = 1 << 41
			want("truncate to 2^41", s.wstat(ctx, far, huge), "File too large")
			trunc := blankStat()
			trunc.Length = 5
			want("extend ctl", s.wstat(ctx, fs.mustWalk("branch/master/transactions/t/ctl"), trunc), "Can't extend command file")
			dir = fs.mustWalk(rw)
			if unix {
				if _, err := s.create(ctx, dir, "l", styx.DMSYMLINK|0o777, styx.OREAD, "g"); err != nil {
					t.Fatalf("symlink: %v", err)
				}
				sl, err := s.stat(ctx, fs.mustWalk(rw+"/l"))
				if err != nil || sl.Mode&styx.DMSYMLINK == 0 || sl.Extension != "g" || sl.Qid.Type != styx.QTSYMLINK {
					t.Fatalf("stat of a symlink = %+v, %v", sl, err)
				}
			}
			if err := s.remove(ctx, fs.mustWalk(rw+"/g")); err != nil {
				t.Fatalf("remove g: %v", err)
			}
			if _, err := fs.walk(rw + "/g"); !isRerror(err, "No such file or directory") {
				t.Fatalf("walk to a removed file: %v", err)
			}
			_, err = s.rpc(ctx, &styx.Msg{Type: styx.Tauth, Afid: 7, Uname: "u"})
			want("Tauth", err, "Authentication not required")
		})
	}
}

// styxConversation is a session's requests in 9P2000 or 9P2000.u, as one
// byte stream (seeds for FuzzServer): a transaction that writes, links,
// renames, commits, and a stream read that is flushed.
func styxConversation(tb testing.TB, d styx.Dialect) []byte {
	ms := []styx.Msg{
		{Type: styx.Tversion, Tag: styx.NoTag, Msize: 8192, Version: d.String()},
		{Type: styx.Tattach, Fid: 0, Afid: styx.NoFid, Uname: "anyone", Aname: "/"},
		{Type: styx.Twalk, Fid: 0, Newfid: 1, Wnames: []string{"branch", "master", "transactions"}},
		{Type: styx.Tcreate, Fid: 1, Name: "t", Perm: styx.DMDIR | 0o755, Mode: styx.OREAD},
		{Type: styx.Tread, Fid: 1, Offset: 0, Count: 500},
		{Type: styx.Twalk, Fid: 0, Newfid: 2, Wnames: []string{"branch", "master", "transactions", "t", "rw"}},
		{Type: styx.Twalk, Fid: 2, Newfid: 3},
		{Type: styx.Tcreate, Fid: 2, Name: "f", Perm: 0o755, Mode: styx.ORDWR},
		{Type: styx.Twrite, Fid: 2, Offset: 0, Data: []byte("data")},
		{Type: styx.Tcreate, Fid: 3, Name: "l", Perm: styx.DMSYMLINK | 0o777, Mode: styx.OREAD, Extension: "f"},
		{Type: styx.Tstat, Fid: 2},
		{Type: styx.Twstat, Fid: 2, Stat: func() styx.Stat { s := blankStat(); s.Name = "g"; return s }()},
		{Type: styx.Twalk, Fid: 0, Newfid: 4, Wnames: []string{"branch", "master", "transactions", "t", "ctl"}},
		{Type: styx.Topen, Fid: 4, Mode: styx.ORDWR | styx.OTRUNC},
		{Type: styx.Twrite, Fid: 4, Offset: 0, Data: []byte("commit\n")},
		{Type: styx.Tread, Fid: 4, Offset: 0, Count: 100},
		{Type: styx.Twalk, Fid: 0, Newfid: 5, Wnames: []string{"branch", "master", "head.live"}},
		{Type: styx.Topen, Fid: 5, Mode: styx.OREAD},
		{Type: styx.Tread, Fid: 5, Offset: 0, Count: 100},
		{Type: styx.Tread, Fid: 5, Offset: 41, Count: 100},
		{Type: styx.Tread, Fid: 5, Offset: 41, Count: 100},
		{Type: styx.Tflush, Oldtag: 21},
		{Type: styx.Tremove, Fid: 3},
		{Type: styx.Tclunk, Fid: 5},
		{Type: styx.Tauth, Afid: 9},
	}
	var out []byte
	for i := range ms {
		if ms[i].Type != styx.Tversion {
			ms[i].Tag = uint16(i + 1)
		}
		var err error
		if out, err = styx.Append(d, out, &ms[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// TestStyxEndsBrokenConnection: a message the server cannot frame (here
// larger than the msize agreed) ends the connection, and the server
// closes it, so that the client sees the end (it once stayed open).
func TestStyxEndsBrokenConnection(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	st, srv := testServer(t)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c1, c2 := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(ctx, c2)
	}()
	defer func() { c1.Close(); <-done }()
	v, _ := styx.Append(styx.Plain, nil, &styx.Msg{Type: styx.Tversion, Tag: styx.NoTag, Msize: 8192, Version: "9P2000"})
	if _, err := c1.Write(v); err != nil {
		t.Fatal(err)
	}
	if _, err := styx.ReadMsg(c1, 8192); err != nil {
		t.Fatal(err)
	}
	c1.SetDeadline(time.Now().Add(10 * time.Second))
	big := []byte{0, 0, 1, 0, styx.Tread, 1, 0} // 65536 bytes claimed
	_, err := c1.Write(big)
	if err == nil {
		_, err = c1.Read(make([]byte, 100))
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after a message over the msize: %v, want the connection closed", err)
	}
}

// TestDialectsShareListener: on one listener, a 9P2000.L client (p9's),
// a 9P2000 and a 9P2000.u client at once, over the same store: a commit
// made in 9P2000 is the head the others read.
func TestDialectsShareListener(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	st, srv := testServer(t)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := Listen("unix://" + t.TempDir() + "/dk.sock")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	}()
	session := func(version string) *styxSession {
		conn, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		s := &styxSession{conn: conn, msize: 8192, waiting: map[uint16]chan *styx.Msg{}, done: make(chan struct{})}
		if version == styx.VersionUnix {
			s.dialect = styx.Unix
		}
		b, _ := styx.Append(styx.Plain, nil, &styx.Msg{Type: styx.Tversion, Tag: styx.NoTag, Msize: 8192, Version: version})
		conn.Write(b)
		m, err := styx.ReadMsg(conn, 8192)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := styx.Decode(styx.Plain, m); err != nil || r.Version != version {
			t.Fatalf("Tversion %s: %+v, %v", version, r, err)
		}
		go s.readReplies()
		return s
	}
	plain, err := newDKClient(ctx, session(styx.VersionPlain))
	if err != nil {
		t.Fatal(err)
	}
	unix, err := newDKClient(ctx, session(styx.VersionUnix))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lc, err := p9.NewClient(conn, p9.WithMessageSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	root, err := lc.Attach("")
	if err != nil {
		t.Fatal(err)
	}

	tx, err := newDKTransaction(ctx, plain, "master")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx, []string{"shared"}, "yes"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, "from 9P2000"); err != nil {
		t.Fatal(err)
	}
	want := mustHead(t, ctx, plain, "master")
	if got := mustHead(t, ctx, unix, "master"); got != want {
		t.Fatalf("9P2000.u reads head %s, want %s", got, want)
	}
	_, f, err := root.Walk([]string{"branch", "master", "head"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := f.ReadAt(buf, 0)
	if err != nil || string(buf[:n]) != want+"\n" {
		t.Fatalf("9P2000.L reads head %q, %v; want %s", buf[:n], err, want)
	}
}

// TestStyxClunkEndsRead: the original's Go bindings send no Tflush (a
// cancelled context leaves go-p9p's read in flight) and close a watch by
// clunking its fid: the clunk ends the blocked read, whose watch goes.
func TestStyxClunkEndsRead(t *testing.T) {
	for _, version := range styxDialects {
		t.Run(version, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			st, srv := testServer(t)
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, err := newDKClient(ctx, dialStyx(t, ctx, srv, version))
			if err != nil {
				t.Fatal(err)
			}
			w, err := newDKWatch(ctx, c, "master", "a")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Next(ctx); err != nil {
				t.Fatal(err)
			}
			// Next again, given up on after a while, as a program does.
			short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
			defer stop()
			if obj, err := w.Next(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next() with no change = %q, %v; want the context's end", obj, err)
			}
			if n := st.OpenWatches(); n != 1 {
				t.Fatalf("OpenWatches() = %d with a read blocked, want 1", n)
			}
			w.Close(ctx)
			deadline := time.Now().Add(10 * time.Second)
			for st.OpenWatches() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("OpenWatches() = %d 10 s after the clunk, want 0", st.OpenWatches())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
