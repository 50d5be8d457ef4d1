package ninep

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep/internal/styx"
)

// testServer serves a memory store with one commit on master.
func testServer(t testing.TB) (*dkstore.GitStore, *Server) {
	t.Helper()
	st := dkstore.NewMemory(dkstore.Options{})
	ctx := context.Background()
	b, _ := st.Branch("master")
	tx, err := b.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx.WriteFile(ctx, "a/b", []byte("hello\n"), dkstore.KindFile)
	if _, err := tx.Commit(ctx, "init"); err != nil {
		t.Fatal(err)
	}
	return st, NewServer(st, Options{})
}

// pipeClient connects a p9 client to srv over a loopback TCP connection.
//
// Rarely (about once in a few thousand handshakes here) p9's client finds
// its own connection closed during the version handshake, while the
// server side still waits for requests; the cause has not been found. A
// failed handshake is retried, with a log line, so that tests judge the
// server rather than that.
func pipeClient(t testing.TB, ctx context.Context, srv *Server) (*p9.Client, p9.File, net.Conn, chan struct{}) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		c, root, conn, done, e := dialServer(ctx, srv)
		if e == nil {
			return c, root, conn, done
		}
		err = e
		t.Logf("handshake %d failed, retrying: %v", attempt, e)
	}
	t.Fatal(err)
	return nil, nil, nil, nil
}

func dialServer(ctx context.Context, srv *Server) (*p9.Client, p9.File, net.Conn, chan struct{}, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer ln.Close()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	c2, err := ln.Accept()
	if err != nil {
		c1.Close()
		return nil, nil, nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		srv.ServeConn(ctx, c2)
		close(done)
	}()
	fail := func(err error) (*p9.Client, p9.File, net.Conn, chan struct{}, error) {
		c1.Close()
		<-done
		return nil, nil, nil, nil, err
	}
	c, err := p9.NewClient(c1, p9.WithMessageSize(64<<10))
	if err != nil {
		return fail(err)
	}
	root, err := c.Attach("")
	if err != nil {
		return fail(err)
	}
	return c, root, c1, done, nil
}

// TestWatchCyclesLeaveNothing: connect, block in a head.live read,
// disconnect; 1,000 times. Every blocked read ends, every watch goes.
func TestWatchCyclesLeaveNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	st, srv := testServer(t)
	defer st.Close()
	ctx := context.Background()
	n := 1000
	if testing.Short() {
		n = 100
	}
	flaky := 0
	for i := 0; i < n; i++ {
		c, root, conn, done := pipeClient(t, ctx, srv)
		clientClosed := func(err error) bool {
			// See pipeClient: p9's client now and then finds its own
			// connection closed; redo the cycle, a few times at most.
			// p9 wraps the error in one without Unwrap: match its text.
			if err == nil || !strings.Contains(err.Error(), net.ErrClosed.Error()) || flaky >= n/50 {
				return false
			}
			flaky++
			t.Logf("cycle %d: client connection closed under it, redone: %v", i, err)
			conn.Close()
			<-done
			c.Close()
			i--
			return true
		}
		_, f, err := root.Walk([]string{"branch", "master", "head.live"})
		if err != nil {
			if clientClosed(err) {
				continue
			}
			t.Fatal(err)
		}
		if _, _, err := f.Open(p9.ReadOnly); err != nil {
			if clientClosed(err) {
				continue
			}
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		k, err := f.ReadAt(buf, 0)
		if err != nil || k != 41 {
			if clientClosed(err) {
				continue
			}
			t.Fatalf("first read = %d, %v", k, err)
		}
		blocked := make(chan struct{})
		go func() {
			f.ReadAt(buf, 41) // the flush read
			f.ReadAt(buf, 41) // blocks until the connection goes
			close(blocked)
		}()
		time.Sleep(time.Millisecond)
		conn.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("cycle %d: the server kept the connection after the client left", i)
		}
		<-blocked
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for st.OpenWatches() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w := st.OpenWatches(); w != 0 {
		t.Fatalf("OpenWatches() = %d after %d cycles, want 0", w, n)
	}
}

// recorder keeps what a client sends, to seed the fuzzer with real
// 9P2000.L conversations.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// conversation records a client session that touches most of the tree.
func conversation(t testing.TB) []byte {
	st, srv := testServer(t)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c1, c2 := net.Pipe()
	go srv.ServeConn(ctx, c2)
	rec := &recorder{Conn: c1}
	c, err := p9.NewClient(rec, p9.WithMessageSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := c.Attach("")
	walk := func(p string) p9.File {
		_, f, err := root.Walk(strings.Split(p, "/"))
		if err != nil {
			t.Fatalf("walk %s: %v", p, err)
		}
		return f
	}
	txs := walk("branch/master/transactions")
	txs.Mkdir("t", 0o755, 0, 0)
	rw := walk("branch/master/transactions/t/rw")
	f, _, _, _ := rw.Create("x", p9.ReadWrite, 0o644, 0, 0)
	f.WriteAt([]byte("data"), 0)
	f.Close()
	ctl := walk("branch/master/transactions/t/ctl")
	ctl.Open(p9.ReadWrite)
	ctl.WriteAt([]byte("commit"), 0)
	h := walk("branch/master/head")
	h.Open(p9.ReadOnly)
	h.ReadAt(make([]byte, 64), 0)
	d := walk("branch")
	d.Open(p9.ReadOnly)
	d.Readdir(0, 4096)
	c.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]byte(nil), rec.buf.Bytes()...)
}

// FuzzServer sends arbitrary bytes (seeded with real conversations and
// mangled ones) to a server connection. The server must not crash, must
// drop the connection cleanly, and must keep serving others with the
// store intact.
func FuzzServer(f *testing.F) {
	conv := conversation(f)
	f.Add(conv)
	f.Add(conv[:len(conv)/2])
	for _, cut := range []int{7, 19, 23, 40} {
		if cut < len(conv) {
			m := append([]byte(nil), conv...)
			m[cut] ^= 0xff
			f.Add(m)
		}
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 100, 0, 0})
	for _, d := range []styx.Dialect{styx.Plain, styx.Unix} {
		f.Add(styxConversation(f, d))
	}
	files, _ := filepath.Glob("testdata/transcripts/*.txt")
	for _, file := range files {
		f.Add(transcriptRequests(f, file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, srv := testServer(t)
		defer st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, _ := st.Branch("master")
		before, _ := b.Head(ctx)

		c1, c2 := net.Pipe()
		done := make(chan struct{})
		go func() {
			srv.ServeConn(ctx, c2)
			close(done)
		}()
		go io.Copy(io.Discard, c1)
		c1.SetWriteDeadline(time.Now().Add(time.Second))
		c1.Write(data)
		c1.Close()
		select {
		case <-done:
		case <-ctx.Done():
			var stacks strings.Builder
			pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Fatalf("the server kept a connection open after its client closed; goroutines:\n%s", stacks.String())
		}

		// Another client still works, and master is intact or moved by a
		// real commit that the bytes happened to make.
		c, root, conn, served := pipeClient(t, ctx, srv)
		_, hf, err := root.Walk([]string{"branch", "master", "ro", "a", "b"})
		after, _ := b.Head(ctx)
		if after == before && err != nil {
			t.Fatalf("after the fuzzed connection, walk master/ro/a/b: %v", err)
		}
		if err == nil {
			hf.Close()
		}
		c.Close()
		conn.Close()
		<-served
	})
}

// TestWriteFarPastEnd: a write or truncate that would make a file over
// maxFileSize fails with EFBIG rather than zero-filling memory up to its
// offset (a fuzzed write at offset 2^41 ran the process out of memory).
func TestWriteFarPastEnd(t *testing.T) {
	st, srv := testServer(t)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, root, conn, done := pipeClient(t, ctx, srv)
	defer func() {
		c.Close()
		conn.Close()
		<-done
	}()
	_, txs, err := root.Walk([]string{"branch", "master", "transactions"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txs.Mkdir("t", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	_, rw, err := root.Walk([]string{"branch", "master", "transactions", "t", "rw"})
	if err != nil {
		t.Fatal(err)
	}
	f, _, _, err := rw.Create("f", p9.WriteOnly, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 1<<41); err != linux.EFBIG {
		t.Fatalf("WriteAt(offset 2^41) error %v, want EFBIG", err)
	}
	if err := f.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 1 << 41}); err != linux.EFBIG {
		t.Fatalf("truncate to 2^41 error %v, want EFBIG", err)
	}
	if _, err := f.WriteAt([]byte("x"), 1<<20); err != nil {
		t.Fatalf("WriteAt(offset 1 MiB) error %v", err)
	}
}

// TestBadFrameEndsBlockedRead: bytes that are no 9P message, or a message
// over the msize, end the connection even while a read is blocked on a
// stream. p9 stops serving such a connection only once its requests in
// flight have ended, so the wire must end the blocked read (FuzzServer
// found a connection left open for good).
func TestBadFrameEndsBlockedRead(t *testing.T) {
	for name, frame := range map[string][]byte{
		"size below a header": {3, 0, 0, 0, 0, 0, 0},
		"over the msize":      binary.LittleEndian.AppendUint32(nil, p9MaxMessage+1),
		// p9 would change its session under the replies going out (a
		// data race) and wait for the blocked read.
		"a second Tversion": func() []byte {
			v := "9P2000.L"
			b := binary.LittleEndian.AppendUint32(nil, uint32(headerSize+4+2+len(v)))
			b = append(b, msgTversion, 0xff, 0xff)
			b = binary.LittleEndian.AppendUint32(b, 8192)
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
			return append(b, v...)
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			st, srv := testServer(t)
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, root, conn, done := pipeClient(t, ctx, srv)
			defer c.Close()
			_, f, err := root.Walk([]string{"branch", "master", "head.live"})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.Open(p9.ReadOnly); err != nil {
				t.Fatal(err)
			}
			// The first read returns the head; the second blocks.
			buf := make([]byte, 100)
			if _, err := f.ReadAt(buf, 0); err != nil {
				t.Fatal(err)
			}
			go f.ReadAt(buf, 41)
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write(frame); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the server kept serving a connection that sent a bad frame, with a read blocked")
			}
		})
	}
}
