package ninep

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"go.uber.org/goleak"
)

// TestRawConnInterrupt: reads blocked on two streams of one connection
// both end with EINTR when it is interrupted; the streams stay in place
// (the next read waits for the next change and gets it), and the
// connection goes on working.
func TestRawConnInterrupt(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	st, srv := testServer(t)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	c, err := DialRaw(ctx, "tcp://"+ln.Addr().String(), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	open := func(path string) p9.File {
		t.Helper()
		_, f, err := c.Root.Walk(strings.Split(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Open(p9.ReadOnly); err != nil {
			t.Fatal(err)
		}
		return f
	}
	head := func() string {
		b, _ := st.Branch("master")
		id, _ := b.Head(ctx)
		return id.String()
	}
	live, reflog := open("branch/master/head.live"), open("branch/master/reflog")
	buf := make([]byte, 100)
	// Each stream's first line, then the empty read after it.
	for _, r := range []struct {
		f    p9.File
		want string
	}{{live, head() + "\n"}, {reflog, "\n"}} {
		if n, err := r.f.ReadAt(buf, 0); err != nil || string(buf[:n]) != r.want {
			t.Fatalf("first read = %q, %v; want %q", buf[:n], err, r.want)
		}
		if n, err := r.f.ReadAt(buf, int64(len(r.want))); n != 0 || err != io.EOF {
			t.Fatalf("second read = %q, %v; want the empty read", buf[:n], err)
		}
	}

	type result struct {
		text string
		err  error
	}
	read := func(f p9.File, off int64) chan result {
		ch := make(chan result, 1)
		go func() {
			b := make([]byte, 100)
			n, err := f.ReadAt(b, off)
			ch <- result{string(b[:n]), err}
		}()
		return ch
	}
	wait := func(ch chan result, what string) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: still blocked after 2 s", what)
			return result{}
		}
	}
	quiet := func(ch chan result, what string) {
		t.Helper()
		select {
		case r := <-ch:
			t.Fatalf("%s ended by itself: %q, %v", what, r.text, r.err)
		case <-time.After(200 * time.Millisecond):
		}
	}

	r1, r2 := read(live, 41), read(reflog, 1)
	quiet(r1, "head.live read")
	quiet(r2, "reflog read")
	c.Interrupt()
	for _, r := range []result{wait(r1, "head.live read"), wait(r2, "reflog read")} {
		if !errors.Is(r.err, linux.EINTR) {
			t.Errorf("interrupted read = %q, %v; want EINTR", r.text, r.err)
		}
	}
	if n := c.Interrupts(); n != 1 {
		t.Errorf("Interrupts() = %d, want 1", n)
	}

	// In place: the reads block again, and a commit ends both.
	r1, r2 = read(live, 41), read(reflog, 1)
	quiet(r1, "head.live read after the interrupt")
	commitTo(t, st, "master", "after the interrupt")
	want := head() + "\n"
	for _, r := range []result{wait(r1, "head.live read"), wait(r2, "reflog read")} {
		if r.err != nil || r.text != want {
			t.Errorf("read after a commit = %q, %v; want %q", r.text, r.err, want)
		}
	}

	// An interrupt with nothing in flight changes nothing.
	c.Interrupt()
	f := open("branch/master/head")
	if n, err := f.ReadAt(buf, 0); err != nil || string(buf[:n]) != want {
		t.Errorf("head after an idle interrupt = %q, %v; want %q", buf[:n], err, want)
	}
	f.Close()
	live.Close()
	reflog.Close()
	c.Close()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for st.OpenWatches() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := st.OpenWatches(); n != 0 {
		t.Errorf("OpenWatches() = %d after the connection closed, want 0", n)
	}
}

// fakeConn is a net.Conn that reads from r and writes to w.
type fakeConn struct {
	net.Conn
	r io.Reader
	w bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// FuzzClientWire feeds arbitrary server bytes to the client's wire
// filter, with reads in flight and being flushed. Only the answers to the
// filter's own Tflushes are held back; it sends a Tflush only for a read
// in flight, one at a time.
func FuzzClientWire(f *testing.F) {
	f.Add([]byte{1, 2, 3}, bytes.Join([][]byte{rlerror(1, 4), rflush(0), rlerror(2, 4), rflush(0)}, nil))
	f.Add([]byte{5}, bytes.Join([][]byte{rflush(0), {9, 0, 0, 0, 117, 5, 0, 0, 0}}, nil))
	f.Add([]byte{}, []byte{3, 0, 0, 0, 1, 1, 1})
	f.Fuzz(func(t *testing.T, reads []byte, server []byte) {
		conn := &fakeConn{r: bytes.NewReader(server)}
		w := newClientWire(conn)
		for i, tag := range reads {
			if _, err := w.Write(treadMsg(uint16(tag)+1, uint32(i), 0, 10)); err != nil {
				t.Fatal(err)
			}
		}
		sent := conn.w.Len()
		w.interrupt()
		got, err := io.ReadAll(w)
		if err != nil {
			t.Fatal(err)
		}
		// What p9 got: the server's bytes less whole messages of tag 0.
		in := framer{r: bytes.NewReader(server)}
		var want []byte
		for {
			m, whole, err := in.next()
			if err != nil {
				break
			}
			if !whole || msgTag(m) != flushTag {
				want = append(want, m...)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("p9 got %x, want %x", got, want)
		}
		// What went out after the reads: Tflushes of tag 0, each of a
		// read, none twice.
		out := framer{r: bytes.NewReader(conn.w.Bytes()[sent:])}
		flushed := map[uint16]bool{}
		for {
			m, whole, err := out.next()
			if err != nil {
				break
			}
			if !whole || len(m) != tflushSize || m[4] != msgTflush || msgTag(m) != flushTag {
				t.Fatalf("sent %x, want a Tflush", m)
			}
			old := uint16(m[7]) | uint16(m[8])<<8
			if old == 0 || int(old) > 256 || flushed[old] {
				t.Fatalf("Tflush of tag %d: not a read, or twice", old)
			}
			flushed[old] = true
		}
	})
}
