package ninep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/storetest"
)

// clientServe serves st on a new listener ("tcp" on loopback, or "unix")
// until the test ends, then closes st, and returns the URL to dial.
func clientServe(t *testing.T, st dkstore.Store, network string) string {
	t.Helper()
	var (
		ln  net.Listener
		url string
		err error
	)
	switch network {
	case "tcp":
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		url = "tcp://" + ln.Addr().String()
	case "unix":
		// A short path: socket paths are limited to about 100 bytes.
		dir, derr := os.MkdirTemp("", "dk")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "s")
		ln, err = Listen("unix://" + path)
		url = "unix://" + path
	}
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(st, Options{}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store Close() = %v", err)
		}
	})
	return url
}

// clientDial dials url; the client closes when the test ends, before the
// server stops.
func clientDial(t *testing.T, url string) *Client {
	t.Helper()
	c, err := Dial(t.Context(), url, ClientOptions{})
	if err != nil {
		t.Fatalf("Dial(%s) = %v", url, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close() = %v", err)
		}
	})
	return c
}

// clientSkips lists the conformance subtests the server cannot pass yet,
// by name as t.Name() shows it, with the reason. Each fails only where it
// makes or renames a branch whose name has a '/'.
var clientSkips = map[string]string{}

// runConformance runs storetest against a Client of a server of a store
// from newStore, each over loopback TCP.
func runConformance(t *testing.T, newStore func(t *testing.T) dkstore.Store) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	storetest.Run(t, func(t *testing.T) dkstore.Store {
		_, sub, _ := strings.Cut(t.Name(), "/")
		for name, reason := range clientSkips {
			if sub == name || strings.HasPrefix(sub, name+"/") {
				t.Skip("server: " + reason)
			}
		}
		return clientDial(t, clientServe(t, newStore(t), "tcp"))
	})
}

func TestClientMemory(t *testing.T) {
	runConformance(t, func(*testing.T) dkstore.Store { return dkstore.NewMemory(dkstore.Options{}) })
}

func TestClientDisk(t *testing.T) {
	runConformance(t, func(t *testing.T) dkstore.Store {
		st, err := dkstore.Open(t.TempDir(), dkstore.Options{})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		return st
	})
}

// commitFile commits p = data to branch b of s.
func commitFile(t *testing.T, s dkstore.Store, b dkstore.BranchName, p, data string) dkstore.CommitID {
	t.Helper()
	ctx := t.Context()
	br, err := s.Branch(b)
	if err != nil {
		t.Fatalf("Branch(%s) = %v", b, err)
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatalf("Transaction() = %v", err)
	}
	if err := tx.WriteFile(ctx, dkstore.Path(p), []byte(data), dkstore.KindFile); err != nil {
		t.Fatalf("WriteFile(%s) = %v", p, err)
	}
	id, err := tx.Commit(ctx, "commit "+p)
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	return id
}

func mustBranch(t *testing.T, s dkstore.Store, name dkstore.BranchName) dkstore.Branch {
	t.Helper()
	b, err := s.Branch(name)
	if err != nil {
		t.Fatalf("Branch(%s) = %v", name, err)
	}
	return b
}

// TestClientUnix uses a unix socket: a commit, a read, a watch.
func TestClientUnix(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("unix", func(t *testing.T) {
		st := dkstore.NewMemory(dkstore.Options{})
		url := clientServe(t, st, "unix")
		c := clientDial(t, url)
		ctx := t.Context()
		master := mustBranch(t, c, "master")
		w, err := master.WatchHead(ctx)
		if err != nil {
			t.Fatalf("WatchHead() = %v", err)
		}
		defer w.Close()
		if got, err := w.Next(ctx); err != nil || !got.IsZero() {
			t.Fatalf("Next() = %s, %v, want no commit", got, err)
		}
		id := commitFile(t, c, "master", "a/b", "hello")
		if got, err := w.Next(ctx); err != nil || got != id {
			t.Errorf("Next() = %s, %v, want %s", got, err, id)
		}
		// The server's store sees the commit.
		if h, err := mustBranch(t, st, "master").Head(ctx); err != nil || h != id {
			t.Errorf("store Head() = %s, %v, want %s", h, err, id)
		}
		c2 := clientDial(t, url)
		if bs, err := c2.Branches(ctx); err != nil || !slices.Equal(bs, []dkstore.BranchName{"master"}) {
			t.Errorf("second client Branches() = %q, %v, want [master]", bs, err)
		}
	})
}

// TestClientWatchCycles: 200 times, connect, watch, wait in Next, and go
// away, by closing the watch or only the client. No goroutine stays on
// either side, and the server's store holds no watch.
func TestClientWatchCycles(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("cycles", func(t *testing.T) {
		st := dkstore.NewMemory(dkstore.Options{})
		head := commitFile(t, st, "master", "f", "x")
		url := clientServe(t, st, "tcp")
		for i := range 200 {
			ctx := t.Context()
			c, err := Dial(ctx, url, ClientOptions{})
			if err != nil {
				t.Fatalf("cycle %d: Dial() = %v", i, err)
			}
			var w dkstore.Watch[dkstore.CommitID]
			var wctx context.Context = ctx
			var cancelWatch context.CancelFunc = func() {}
			if i%3 == 2 {
				wctx, cancelWatch = context.WithCancel(ctx)
			}
			if i%2 == 0 {
				w, err = mustBranch(t, c, "master").WatchHead(wctx)
			} else {
				var pw dkstore.Watch[dkstore.Object]
				pw, err = mustBranch(t, c, "master").WatchPath(wctx, "f")
				if err == nil {
					w = objectAsHead{pw}
				}
			}
			if err != nil {
				t.Fatalf("cycle %d: watch = %v", i, err)
			}
			if _, err := w.Next(ctx); err != nil {
				t.Fatalf("cycle %d: first Next() = %v", i, err)
			}
			nctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			if got, err := w.Next(nctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cycle %d: Next() = %v, %v, want to wait for the deadline", i, got, err)
			}
			cancel()
			switch i % 3 {
			case 0:
				w.Close()
			case 2:
				cancelWatch()
			}
			c.Close()
			if _, err := w.Next(ctx); !errors.Is(err, dkstore.ErrClosed) {
				t.Fatalf("cycle %d: Next() after the client closed = %v, want ErrClosed", i, err)
			}
			cancelWatch()
		}
		deadline := time.Now().Add(5 * time.Second)
		for st.OpenWatches() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := st.OpenWatches(); n != 0 {
			t.Errorf("OpenWatches() = %d after 200 cycles, want 0", n)
		}
		if h, err := mustBranch(t, st, "master").Head(t.Context()); err != nil || h != head {
			t.Errorf("Head() = %s, %v, want %s", h, err, head)
		}
	})
}

// objectAsHead adapts a path watch to the head watch's type, for the
// cycles test.
type objectAsHead struct{ w dkstore.Watch[dkstore.Object] }

func (o objectAsHead) Next(ctx context.Context) (dkstore.CommitID, error) {
	v, err := o.w.Next(ctx)
	return dkstore.CommitID(v.Hash), err
}
func (o objectAsHead) Close() error { return o.w.Close() }

// TestClientReasons: the texts of command files come through.
func TestClientReasons(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("reasons", func(t *testing.T) {
		c := clientDial(t, clientServe(t, dkstore.NewMemory(dkstore.Options{}), "tcp"))
		ctx := t.Context()
		c1 := commitFile(t, c, "master", "f", "1")
		commitFile(t, c, "master", "f", "2")
		master := mustBranch(t, c, "master")
		err := master.FastForward(ctx, c1)
		if !errors.Is(err, dkstore.ErrNotFastForward) || dkstore.Reason(err) != "not-fast-forward" {
			t.Errorf("FastForward(ancestor) = %v (reason %q), want ErrNotFastForward, %q", err, dkstore.Reason(err), "not-fast-forward")
		}
		err = master.FastForward(ctx, dkstore.CommitID{1})
		if !errors.Is(err, dkstore.ErrNotExist) || !strings.Contains(dkstore.Reason(err), "0100000000") {
			t.Errorf("FastForward(unknown) = %v, want ErrNotExist naming the commit", err)
		}

		// Two transactions change f: the second commit is a merge conflict.
		t1, _ := master.Transaction(ctx, dkstore.TxOptions{})
		t2, _ := master.Transaction(ctx, dkstore.TxOptions{})
		defer t2.Abort(ctx)
		t1.WriteFile(ctx, "f", []byte("one"), dkstore.KindFile)
		t2.WriteFile(ctx, "f", []byte("two"), dkstore.KindFile)
		if _, err := t1.Commit(ctx, "one"); err != nil {
			t.Fatalf("Commit() = %v", err)
		}
		_, err = t2.Commit(ctx, "two")
		if !errors.Is(err, dkstore.ErrConflict) || !strings.HasPrefix(dkstore.Reason(err), "Merge conflict: ") {
			t.Errorf("Commit() = %v (reason %q), want ErrConflict, \"Merge conflict: …\"", err, dkstore.Reason(err))
		}

		// A merge that leaves a conflict: commit refuses.
		side := commitFile(t, c, "side", "f", "side")
		t3, _ := master.Transaction(ctx, dkstore.TxOptions{})
		defer t3.Abort(ctx)
		res, err := t3.Merge(ctx, side)
		if err != nil || len(res.Conflicts) != 1 || res.Conflicts[0].Reason != "default: add/add and no common ancestor" {
			t.Fatalf("Merge() = %+v, %v, want one add/add conflict", res, err)
		}
		_, err = t3.Commit(ctx, "m")
		if !errors.Is(err, dkstore.ErrConflict) || dkstore.Reason(err) != "conflicts file is not empty" {
			t.Errorf("Commit() with a conflict = %v (reason %q), want ErrConflict, %q", err, dkstore.Reason(err), "conflicts file is not empty")
		}
	})
}

// TestClientSlashedBranches: branches with '/' made in the store directly
// are listed, read, watched and deleted through the client.
func TestClientSlashedBranches(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("slashes", func(t *testing.T) {
		st := dkstore.NewMemory(dkstore.Options{})
		x := commitFile(t, st, "feature/x", "f", "x")
		deep := commitFile(t, st, "user/a/b", "f", "deep")
		c := clientDial(t, clientServe(t, st, "tcp"))
		ctx := t.Context()
		if bs, err := c.Branches(ctx); err != nil || !slices.Equal(bs, []dkstore.BranchName{"feature/x", "user/a/b"}) {
			t.Errorf("Branches() = %q, %v", bs, err)
		}
		fx := mustBranch(t, c, "feature/x")
		if h, err := fx.Head(ctx); err != nil || h != x {
			t.Errorf("feature/x Head() = %s, %v, want %s", h, err, x)
		}
		w, err := mustBranch(t, c, "user/a/b").WatchHead(ctx)
		if err != nil {
			t.Fatalf("WatchHead() = %v", err)
		}
		defer w.Close()
		if h, err := w.Next(ctx); err != nil || h != deep {
			t.Errorf("Next() = %s, %v, want %s", h, err, deep)
		}
		// A commit through the client to an existing slashed branch.
		y := commitFile(t, c, "feature/x", "g", "y")
		if h, err := mustBranch(t, st, "feature/x").Head(ctx); err != nil || h != y {
			t.Errorf("store feature/x Head() = %s, %v, want %s", h, err, y)
		}
		// And a new one beside it, in the existing directory.
		commitFile(t, c, "feature/z", "f", "z")
		if err := fx.Delete(ctx); err != nil {
			t.Fatalf("Delete(feature/x) = %v", err)
		}
		if h, err := fx.Head(ctx); err != nil || !h.IsZero() {
			t.Errorf("Head() after Delete = %s, %v, want none", h, err)
		}
		if bs, err := c.Branches(ctx); err != nil || !slices.Equal(bs, []dkstore.BranchName{"feature/z", "user/a/b"}) {
			t.Errorf("Branches() = %q, %v", bs, err)
		}
		// "user" holds branches: it cannot be one.
		if _, err := mustBranch(t, c, "user").Transaction(ctx, dkstore.TxOptions{}); !errors.Is(err, dkstore.ErrExist) {
			t.Errorf("Transaction(user) = %v, want ErrExist", err)
		}
	})
}

// TestClientClose: closing the client ends its watches and calls.
func TestClientClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("close", func(t *testing.T) {
		url := clientServe(t, dkstore.NewMemory(dkstore.Options{}), "tcp")
		ctx := t.Context()
		c, err := Dial(ctx, url, ClientOptions{MessageSize: 80 << 10})
		if err != nil {
			t.Fatal(err)
		}
		master := mustBranch(t, c, "master")
		tx, err := master.Transaction(ctx, dkstore.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("0123456789abcdef", 20<<10) // 320 KiB, four messages
		if err := tx.WriteFile(ctx, "big", []byte(big), dkstore.KindFile); err != nil {
			t.Fatalf("WriteFile(320 KiB) = %v", err)
		}
		if got, err := tx.ReadFile(ctx, "big"); err != nil || string(got) != big {
			t.Fatalf("ReadFile(big) = %d bytes, %v", len(got), err)
		}
		w, err := master.WatchHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Next(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := w.Next(ctx)
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if err := <-errc; !errors.Is(err, dkstore.ErrClosed) {
			t.Errorf("Next() across Close = %v, want ErrClosed", err)
		}
		if _, err := master.Head(ctx); !errors.Is(err, dkstore.ErrClosed) {
			t.Errorf("Head() after Close = %v, want ErrClosed", err)
		}
		if _, err := master.WatchHead(ctx); !errors.Is(err, dkstore.ErrClosed) {
			t.Errorf("WatchHead() after Close = %v, want ErrClosed", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close() = %v", err)
		}
	})
}

func TestDialAddresses(t *testing.T) {
	ctx := t.Context()
	for _, url := range []string{"", "http://x", "nohost"} {
		if c, err := Dial(ctx, url, ClientOptions{}); err == nil {
			c.Close()
			t.Errorf("Dial(%q) = nil error, want one", url)
		}
	}
	t.Run("bare host:port", func(t *testing.T) {
		url := clientServe(t, dkstore.NewMemory(dkstore.Options{}), "tcp")
		c := clientDial(t, strings.TrimPrefix(url, "tcp://"))
		if bs, err := c.Branches(t.Context()); err != nil || len(bs) != 0 {
			t.Errorf("Branches() = %q, %v, want none", bs, err)
		}
	})
}

// ExampleDial commits a file through a server and reads it back.
func ExampleDial() {
	ctx := context.Background()
	st := dkstore.NewMemory(dkstore.Options{})
	defer st.Close()
	ln, err := Listen("tcp://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	serving, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- NewServer(st, Options{}).Serve(serving, ln) }()
	defer func() { stop(); <-done }()

	c, err := Dial(ctx, "tcp://"+ln.Addr().String(), ClientOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	master, _ := c.Branch("master")
	tx, _ := master.Transaction(ctx, dkstore.TxOptions{})
	tx.WriteFile(ctx, "README", []byte("hello\n"), dkstore.KindFile)
	id, err := tx.Commit(ctx, "first")
	if err != nil {
		fmt.Println(err)
		return
	}
	commit, _ := c.Commit(ctx, id)
	tree, _ := c.Tree(ctx, commit.Tree)
	data, _ := tree.ReadFile(ctx, "README")
	fmt.Printf("%s: %q\n", commit.Message, data)
	// Output: first: "hello\n"
}
