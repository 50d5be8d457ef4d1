package mount_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
	"github.com/dkgo/datakit/ninep/mount"
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

// TestShellRecipes runs the docs' shell recipes (the same script as the
// kernel client test) in a directory mounted with `datakit mount`.
func TestShellRecipes(t *testing.T) {
	runInMount(t, "../testdata/kernel_recipes.sh")
}

// TestInterruptStreams: a `cat` blocked on a stream file of the mount
// (head.live, reflog, tree.live, branch/.changes, a remote's head) ends
// within 2 s of `kill`, with no commit made, and the mount works after
// (the same script as the kernel client's TestKernelInterrupt).
func TestInterruptStreams(t *testing.T) {
	runInMount(t, "../testdata/interrupt_streams.sh")
}

// runInMount serves a memory store, mounts it, and runs the shell script
// in the mount; it must print ALL OK. A script still running after a
// minute is stopped by closing the server's connections, which ends any
// read the mount has blocked.
func runInMount(t *testing.T, script string) {
	needFUSE(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	srv := ninep.NewServer(store, ninep.Options{Sources: []ninep.LogSource{{Name: "datakit", Doc: "DataKit server", Level: levelWarn()}}})
	sock := filepath.Join(t.TempDir(), "dk.sock")
	ln, err := ninep.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	dir := t.TempDir()
	fsrv, err := mount.Mount(ctx, "unix://"+sock, dir, mount.Options{})
	if err != nil {
		t.Fatalf("Mount() = %v", err)
	}
	script, err = filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	// The shell changes into the mount itself: a child made by os/exec
	// would chdir between fork and exec, and a garbage collection in this
	// process (which serves the mount) can then wait for the forking
	// thread, which waits for the mount: a deadlock.
	cmd := exec.Command("sh", "-c", `cd "$1" && sh "$2"`, "sh", dir, script)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	timer := time.AfterFunc(time.Minute, cancel)
	out, err := cmd.CombinedOutput()
	stopped := !timer.Stop()
	if uerr := fsrv.Unmount(); uerr != nil {
		t.Errorf("Unmount() = %v", uerr)
	}
	fsrv.Wait()
	if stopped {
		t.Errorf("%s still ran after a minute: the server was stopped under it", filepath.Base(script))
	}
	if err != nil || !strings.Contains(string(out), "ALL OK") {
		t.Fatalf("%s through the FUSE mount failed (%v):\n%s", filepath.Base(script), err, out)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v", err)
	}
}
