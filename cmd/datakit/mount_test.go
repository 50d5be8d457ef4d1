package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needFUSE skips (or, in CI, fails) when this machine cannot mount FUSE.
func needFUSE(t *testing.T) {
	t.Helper()
	_, err := os.Stat("/dev/fuse")
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("FUSE is needed and /dev/fuse is missing: %v", err)
	}
	t.Skipf("SKIP: no FUSE here (%v)", err)
}

// mounted reports whether dir is a mount point, from /proc/self/mounts.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// Ctrl-C ends `datakit mount` even while the mount is busy: a shell's
// working directory is in it and a `cat` is blocked on a stream there.
// The mount cannot be unmounted then, so it is detached (as libfuse's
// programs do): it goes from the directory tree at once, the process
// exits, saying so, and the blocked reader ends with an error rather than
// hanging. (Before, the interrupt was silently dropped and the process
// stayed until fusermount -u or SIGKILL, whatever came later.)
func TestMountInterruptWhileBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds the datakit binary; not in -short mode")
	}
	needFUSE(t)
	bin := filepath.Join(t.TempDir(), "datakit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := filepath.Join(t.TempDir(), "dk.sock")
	serve(t, bin, t.TempDir(), sock)

	dir := t.TempDir()
	var out lockedBuffer
	mnt := exec.Command(bin, "mount", "--store", "unix://"+sock, dir)
	mnt.Stdout, mnt.Stderr = &out, &out
	if err := mnt.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- mnt.Wait() }()
	t.Cleanup(func() {
		if mounted(t, dir) {
			exec.Command("fusermount", "-u", "-z", dir).Run()
		}
		select {
		case <-exited:
		default:
			mnt.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "mounted on"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("datakit mount did not mount:\n%s", out.String())
		}
	}

	// The reader changes into the mount itself (see ninep/mount's
	// runInMount: no os/exec chdir into a FUSE mount).
	reader := exec.Command("sh", "-c", `cd "$1" && exec cat branch/.changes`, "sh", dir)
	var readerOut lockedBuffer
	reader.Stdout, reader.Stderr = &readerOut, &readerOut
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	readerDone := make(chan error, 1)
	go func() { readerDone <- reader.Wait() }()
	t.Cleanup(func() {
		select {
		case <-readerDone:
		default:
			reader.Process.Kill()
			<-readerDone
		}
	})
	time.Sleep(500 * time.Millisecond) // until cat blocks on the stream
	select {
	case err := <-readerDone:
		t.Fatalf("cat branch/.changes ended before the interrupt: %v\n%s", err, readerOut.String())
	default:
	}

	interrupted := time.Now()
	if err := mnt.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("datakit mount, interrupted: %v, want status 0\n%s", err, out.String())
		}
		t.Logf("datakit mount exited %v after SIGINT", time.Since(interrupted).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("datakit mount still runs 5 s after SIGINT, with the mount busy:\n%s", out.String())
	}
	if mounted(t, dir) {
		t.Errorf("%s is still mounted after datakit mount exited", dir)
	}
	if want := "busy"; !strings.Contains(out.String(), want) {
		t.Errorf("datakit mount does not say why it detached (want %q):\n%s", want, out.String())
	}
	select {
	case err := <-readerDone:
		readerDone <- err // for the cleanup
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("cat blocked in the mount: %v, want it to fail\n%s", err, readerOut.String())
		}
	case <-time.After(2 * time.Second):
		t.Errorf("cat blocked in the mount still runs 2 s after the mount ended")
	}
}
