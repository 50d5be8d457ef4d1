package mount_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	script, err := filepath.Abs("../testdata/kernel_recipes.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The shell changes into the mount itself: a child made by os/exec
	// would chdir between fork and exec, and a garbage collection in this
	// process (which serves the mount) can then wait for the forking
	// thread, which waits for the mount: a deadlock.
	cmd := exec.CommandContext(ctx, "sh", "-c", `cd "$1" && sh "$2"`, "sh", dir, script)
	out, err := cmd.CombinedOutput()
	if uerr := fsrv.Unmount(); uerr != nil {
		t.Errorf("Unmount() = %v", uerr)
	}
	fsrv.Wait()
	if err != nil || !strings.Contains(string(out), "ALL OK") {
		t.Fatalf("recipes through the FUSE mount failed (%v):\n%s", err, out)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v", err)
	}
}
