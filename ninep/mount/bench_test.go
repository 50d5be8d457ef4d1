package mount_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
	"github.com/dkgo/datakit/ninep/mount"
)

// mounted serves an in-memory store and mounts it; it returns the mount
// point and a stop function.
func mounted(b *testing.B) (string, func()) {
	b.Helper()
	_, err := os.Stat("/dev/fuse")
	if err != nil {
		b.Skipf("SKIP: no FUSE here (%v)", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	store := dkstore.NewMemory(dkstore.Options{})
	srv := ninep.NewServer(store, ninep.Options{})
	sock := filepath.Join(b.TempDir(), "dk.sock")
	ln, err := ninep.Listen("unix://" + sock)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	dir := b.TempDir()
	fsrv, err := mount.Mount(ctx, "unix://"+sock, dir, mount.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return dir, func() { fsrv.Unmount(); fsrv.Wait(); cancel(); store.Close() }
}

// writeChunks writes 64 KiB chunks to f, wrapping at 16 MiB, and returns
// MB/s.
func writeChunks(b *testing.B, f *os.File, n int) float64 {
	chunk := make([]byte, 64<<10)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := f.WriteAt(chunk, int64(i%256)*int64(len(chunk))); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) * float64(len(chunk)) / time.Since(start).Seconds() / 1e6
}

// BenchmarkMountWrite64K: 64 KiB writes into a transaction's rw/ file
// through the FUSE mount, against the same writes to a local file.
func BenchmarkMountWrite64K(b *testing.B) {
	dir, stop := mounted(b)
	defer stop()
	local, err := os.Create(filepath.Join(b.TempDir(), "local"))
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	base := writeChunks(b, local, 2000)

	tx := filepath.Join(dir, "branch/master/transactions/t")
	if err := os.MkdirAll(tx, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(tx, "rw/blob"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(64 << 10)
	b.ResetTimer()
	mbs := writeChunks(b, f, b.N)
	b.StopTimer()
	b.ReportMetric(base, "local-MB/s")
	b.ReportMetric(mbs/base, "mount/local")
}

// BenchmarkMountRead: reading a committed 16 MiB file through the mount,
// against reading it from a local file.
func BenchmarkMountRead(b *testing.B) {
	dir, stop := mounted(b)
	defer stop()
	data := make([]byte, 16<<20)
	localPath := filepath.Join(b.TempDir(), "local")
	os.WriteFile(localPath, data, 0o644)
	tx := filepath.Join(dir, "branch/master/transactions/t")
	if err := os.MkdirAll(tx, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tx, "rw/blob"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tx, "ctl"), []byte("commit"), 0o644); err != nil {
		b.Fatal(err)
	}
	read := func(p string) float64 {
		start := time.Now()
		got, err := os.ReadFile(p)
		if err != nil || len(got) != len(data) {
			b.Fatalf("read %s: %d bytes, %v", p, len(got), err)
		}
		return float64(len(data)) / time.Since(start).Seconds() / 1e6
	}
	base := read(localPath)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var mbs float64
	for i := 0; i < b.N; i++ {
		mbs = read(filepath.Join(dir, "branch/master/ro/blob"))
	}
	b.StopTimer()
	b.ReportMetric(base, "local-MB/s")
	b.ReportMetric(mbs/base, "mount/local")
}
