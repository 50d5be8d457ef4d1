package ninep

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep/internal/styx"
)

// Each benchmark measures its baseline in the same run and reports the
// ratio: these machines are noisy.

// tcpRoundTrip measures one 1-byte ping-pong over loopback TCP.
func tcpRoundTrip(b *testing.B, n int) time.Duration {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			c.Write(buf)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1)
	start := time.Now()
	for i := 0; i < n; i++ {
		c.Write(buf)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// serveTCP serves st on loopback TCP; it returns the address and a stop
// function.
func serveTCP(b *testing.B, st dkstore.Store) (string, func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(st, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	return ln.Addr().String(), func() { cancel(); <-done }
}

// tcpServer serves st on loopback TCP and returns a connected raw client.
func tcpServer(b *testing.B, st dkstore.Store, msize uint32) (p9.File, func()) {
	b.Helper()
	addr, stopServer := serveTCP(b, st)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c, err := p9.NewClient(conn, p9.WithMessageSize(msize))
	if err != nil {
		b.Fatal(err)
	}
	root, err := c.Attach("")
	if err != nil {
		b.Fatal(err)
	}
	return root, func() { c.Close(); stopServer() }
}

// BenchmarkColdHeadRead: reading branch/master/head with a fresh fid
// (walk, open, read, clunk) against one loopback TCP round trip.
func BenchmarkColdHeadRead(b *testing.B) {
	st, _ := testServer(b)
	defer st.Close()
	root, stop := tcpServer(b, st, 64<<10)
	defer stop()
	rtt := tcpRoundTrip(b, 2000)
	buf := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, f, err := root.Walk([]string{"branch", "master", "head"})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := f.Open(p9.ReadOnly); err != nil {
			b.Fatal(err)
		}
		if n, err := f.ReadAt(buf, 0); err != nil || n != 41 {
			b.Fatalf("read = %d, %v", n, err)
		}
		f.Close()
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(rtt.Nanoseconds()), "rtt-ns")
	b.ReportMetric(float64(per)/float64(rtt), "round-trips")
}

// BenchmarkTransaction10Writes: a transaction of 10 small files and a
// commit over 9P, against the same through the in-process API.
func BenchmarkTransaction10Writes(b *testing.B) {
	ctx := context.Background()
	st, _ := testServer(b)
	defer st.Close()
	root, stop := tcpServer(b, st, 64<<10)
	defer stop()
	br, _ := st.Branch("master")
	direct := func(i int) {
		tx, err := br.Transaction(ctx, dkstore.TxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 10; j++ {
			tx.WriteFile(ctx, dkstore.Path(fmt.Sprintf("d/f%d", j)), []byte(fmt.Sprint(i)), dkstore.KindFile)
		}
		if _, err := tx.Commit(ctx, "direct"); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	const baseN = 200
	for i := 0; i < baseN; i++ {
		direct(i)
	}
	base := time.Since(start) / baseN

	_, txs, err := root.Walk([]string{"branch", "master", "transactions"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprint("t", i)
		if _, err := txs.Mkdir(name, 0o755, 0, 0); err != nil {
			b.Fatal(err)
		}
		_, rw, err := root.Walk([]string{"branch", "master", "transactions", name, "rw"})
		if err != nil {
			b.Fatal(err)
		}
		rw.Mkdir("d", 0o755, 0, 0)
		_, d, _ := rw.Walk([]string{"d"})
		for j := 0; j < 10; j++ {
			_, dd, _ := d.Walk(nil)
			f, _, _, err := dd.Create(fmt.Sprintf("f%d", j), p9.WriteOnly, 0o644, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			f.WriteAt([]byte(fmt.Sprint(i)), 0)
			f.Close()
		}
		d.Close()
		rw.Close()
		_, ctl, _ := root.Walk([]string{"branch", "master", "transactions", name, "ctl"})
		ctl.Open(p9.WriteOnly)
		if _, err := ctl.WriteAt([]byte("commit"), 0); err != nil {
			b.Fatal(err)
		}
		ctl.Close()
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(base.Nanoseconds()), "direct-ns")
	b.ReportMetric(float64(per)/float64(base), "9p/direct")
}

// BenchmarkSequentialWrite64K: 64 KiB writes into a transaction file with
// a 256 KiB message size, in MB/s, against raw loopback TCP. The file
// wraps at 16 MiB, so that what is measured is the 9P path rather than the
// growth of one huge in-memory file.
func BenchmarkSequentialWrite64K(b *testing.B) {
	st, _ := testServer(b)
	defer st.Close()
	root, stop := tcpServer(b, st, 256<<10)
	defer stop()
	raw := tcpThroughput(b, 64<<10, 2000)
	_, txs, _ := root.Walk([]string{"branch", "master", "transactions"})
	txs.Mkdir("big", 0o755, 0, 0)
	_, rw, _ := root.Walk([]string{"branch", "master", "transactions", "big", "rw"})
	f, _, _, err := rw.Create("blob", p9.WriteOnly, 0o644, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := f.WriteAt(chunk, int64(i%256)*int64(len(chunk))); err != nil || n != len(chunk) {
			b.Fatalf("write = %d, %v", n, err)
		}
	}
	b.StopTimer()
	mbs := float64(b.N) * float64(len(chunk)) / b.Elapsed().Seconds() / 1e6
	b.ReportMetric(raw, "tcp-MB/s")
	b.ReportMetric(mbs/raw, "9p/tcp")
}

// tcpThroughput sends n chunks of size bytes over loopback TCP; MB/s.
func tcpThroughput(b *testing.B, size, n int) float64 {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		k, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- k
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, size)
	start := time.Now()
	for i := 0; i < n; i++ {
		c.Write(buf)
	}
	c.Close()
	k := <-got
	return float64(k) / time.Since(start).Seconds() / 1e6
}

// BenchmarkWatchLatency9P: from Commit returning in-process to a blocked
// head.live read over 9P returning the new head; p50 and p99.
func BenchmarkWatchLatency9P(b *testing.B) {
	ctx := context.Background()
	st, _ := testServer(b)
	defer st.Close()
	root, stop := tcpServer(b, st, 64<<10)
	defer stop()
	br, _ := st.Branch("master")
	_, f, err := root.Walk([]string{"branch", "master", "head.live"})
	if err != nil {
		b.Fatal(err)
	}
	f.Open(p9.ReadOnly)
	buf := make([]byte, 64)
	off := int64(0)
	read := func() string {
		for {
			n, err := f.ReadAt(buf, off)
			if err != nil && err != io.EOF {
				b.Fatal(err)
			}
			off += int64(n)
			if n > 0 {
				return strings.TrimSpace(string(buf[:n]))
			}
		}
	}
	read() // the current head
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, _ := br.Transaction(ctx, dkstore.TxOptions{})
		tx.WriteFile(ctx, "n", []byte(fmt.Sprint(i)), dkstore.KindFile)
		id, err := tx.Commit(ctx, "tick")
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for read() != id.String() {
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkClientHead: Branch.Head through the Go client (a read of
// branch/master/head) against one loopback TCP round trip.
func BenchmarkClientHead(b *testing.B) {
	ctx := context.Background()
	st, _ := testServer(b)
	defer st.Close()
	addr, stop := serveTCP(b, st)
	defer stop()
	c, err := Dial(ctx, "tcp://"+addr, ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br, _ := c.Branch("master")
	rtt := tcpRoundTrip(b, 2000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if id, err := br.Head(ctx); err != nil || id.IsZero() {
			b.Fatalf("Head() = %v, %v", id, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rtt.Nanoseconds()), "rtt-ns")
	b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(rtt), "round-trips")
}

// BenchmarkColdHeadReadDialects: reading branch/master/head with a fresh
// fid (walk, open, read, clunk) in 9P2000 and 9P2000.u, against the same
// through p9 in 9P2000.L in the same run (ratio "vs-L"), and against one
// loopback TCP round trip.
func BenchmarkColdHeadReadDialects(b *testing.B) {
	for _, version := range styxDialects {
		b.Run(version, func(b *testing.B) {
			st, srv := testServer(b)
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			root, stop := tcpServer(b, st, 64<<10)
			defer stop()
			s := dialStyx(b, ctx, srv, version)
			if _, err := s.attach(ctx, 0, "", ""); err != nil {
				b.Fatal(err)
			}
			rtt := tcpRoundTrip(b, 2000)
			buf := make([]byte, 64)
			readL := func() {
				_, f, err := root.Walk([]string{"branch", "master", "head"})
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := f.Open(p9.ReadOnly); err != nil {
					b.Fatal(err)
				}
				if n, err := f.ReadAt(buf, 0); err != nil || n != 41 {
					b.Fatalf("read = %d, %v", n, err)
				}
				f.Close()
			}
			readStyx := func() {
				if _, err := s.walk(ctx, 0, 1, "branch", "master", "head"); err != nil {
					b.Fatal(err)
				}
				if _, err := s.open(ctx, 1, styx.OREAD); err != nil {
					b.Fatal(err)
				}
				if n, err := s.read(ctx, 1, buf, 0); err != nil || n != 41 {
					b.Fatalf("read = %d, %v", n, err)
				}
				if err := s.clunk(ctx, 1); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			for i := 0; i < b.N; i++ {
				readL()
			}
			perL := time.Since(start) / time.Duration(b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				readStyx()
			}
			b.StopTimer()
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(rtt.Nanoseconds()), "rtt-ns")
			b.ReportMetric(float64(per)/float64(rtt), "round-trips")
			b.ReportMetric(float64(per)/float64(perL), "vs-L")
		})
	}
}
