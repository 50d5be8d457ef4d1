package ninep

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

func TestSmokeTransaction(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := dkstore.NewMemory(dkstore.Options{})
	srv := NewServer(st, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := p9.NewClient(conn, p9.WithMessageSize(256<<10))
	if err != nil {
		t.Fatal(err)
	}
	root, err := c.Attach("")
	if err != nil {
		t.Fatal(err)
	}
	walk := func(path string) p9.File {
		t.Helper()
		_, f, err := root.Walk(strings.Split(path, "/"))
		if err != nil {
			t.Fatalf("walk %s: %v", path, err)
		}
		return f
	}
	_, br, _ := root.Walk([]string{"branch"})
	if _, err := br.Mkdir("master", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	txs := walk("branch/master/transactions")
	if _, err := txs.Mkdir("t1", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	rw := walk("branch/master/transactions/t1/rw")
	f, _, _, err := rw.Create("hello", p9.WriteOnly, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("world\n"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctl := walk("branch/master/transactions/t1/ctl")
	if _, _, err := ctl.Open(p9.ReadWrite); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.WriteAt([]byte("commit\n"), 0); err != nil {
		t.Fatal(err)
	}
	head := walk("branch/master/head")
	head.Open(p9.ReadOnly)
	buf := make([]byte, 100)
	n, err := head.ReadAt(buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := st.Branch("master")
	id, _ := b.Head(ctx)
	if got := string(buf[:n]); got != id.String()+"\n" {
		t.Fatalf("head = %q, want %q", got, id.String()+"\n")
	}
	ro := walk("branch/master/ro/hello")
	ro.Open(p9.ReadOnly)
	n, _ = ro.ReadAt(buf, 0)
	if string(buf[:n]) != "world\n" {
		t.Fatalf("ro/hello = %q", buf[:n])
	}
	// A failing command: the file then says why.
	txs.Mkdir("t2", 0o755, 0, 0)
	ctl2 := walk("branch/master/transactions/t2/ctl")
	ctl2.Open(p9.ReadWrite)
	if _, err := ctl2.WriteAt([]byte("bogus"), 0); err == nil {
		t.Fatal("bogus command accepted")
	}
	n, _ = ctl2.ReadAt(buf, 0)
	if got := string(buf[:n]); !strings.HasPrefix(got, "error: Unknown command \"bogus\"") {
		t.Fatalf("ctl after error = %q", got)
	}
	// head.live: first line now; blocks until a commit.
	live := walk("branch/master/head.live")
	live.Open(p9.ReadOnly)
	n, _ = live.ReadAt(buf, 0)
	if string(buf[:n]) != id.String()+"\n" {
		t.Fatalf("head.live = %q", buf[:n])
	}
	off := int64(n)
	if n, _ := live.ReadAt(buf, off); n != 0 {
		t.Fatalf("flush read = %d bytes", n)
	}
	got := make(chan string)
	go func() {
		n, _ := live.ReadAt(buf, off)
		got <- string(buf[:n])
	}()
	tx, _ := b.Transaction(ctx, dkstore.TxOptions{})
	tx.WriteFile(ctx, "x", []byte("y"), dkstore.KindFile)
	id2, _ := tx.Commit(ctx, "m")
	if g := <-got; g != id2.String()+"\n" {
		t.Fatalf("head.live next = %q, want %s", g, id2)
	}
	c.Close()
	cancel()
	<-done
}
