package record_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
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

// shellSet is what a person types in a `datakit mount` to set tests/ncpu
// on master: a transaction, a file, a commit.
const shellSet = `set -e
mkdir branch/master/transactions/shell
mkdir -p branch/master/transactions/shell/rw/tests
echo 7 > branch/master/transactions/shell/rw/tests/ncpu
echo "More CPUs" > branch/master/transactions/shell/msg
echo commit > branch/master/transactions/shell/ctl
`

// TestFUSEChangeReachesWait: a program blocked in Wait (its record in
// process, or over its own 9P connection) gets a value written through a
// FUSE mount of the server with a shell, and the state branch it mirrors
// reads back through the mount.
func TestFUSEChangeReachesWait(t *testing.T) {
	needFUSE(t)
	for _, over := range []string{"in-process", "9p"} {
		t.Run(over, func(t *testing.T) {
			store := dkstore.NewMemory(dkstore.Options{})
			url := serve(t, store, "unix")
			var s dkstore.Store = store
			if over == "9p" {
				s = dial(t, url)
			}
			r := open(t, s, testOptions)
			ncpu := intField(t, r, "ncpu", 2)
			seal(t, r)

			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			dir := t.TempDir()
			fsrv, err := mount.Mount(ctx, url, dir, mount.Options{})
			if err != nil {
				t.Fatalf("Mount() = %v", err)
			}
			defer func() {
				if err := fsrv.Unmount(); err != nil {
					t.Errorf("Unmount() = %v", err)
				}
				fsrv.Wait()
			}()

			waited := make(chan error, 1)
			go func() {
				_, err := r.Wait(ctx)
				waited <- err
			}()
			if got := inMount(t, dir, "cat branch/defaults/ro/tests/ncpu"); got != "2" {
				t.Fatalf("defaults through the mount: ncpu = %q, want 2", got)
			}
			select {
			case err := <-waited:
				t.Fatalf("Wait() returned before any change: %v", err)
			default:
			}

			inMount(t, dir, shellSet)
			select {
			case err := <-waited:
				if err != nil {
					t.Fatalf("Wait() = %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("Wait() did not return within a minute of the shell's commit")
			}
			if got, _ := ncpu.Get(); got != 7 {
				t.Errorf("ncpu = %d after the shell's commit, want 7", got)
			}
			if got := inMount(t, dir, "cat branch/state/ro/tests/ncpu"); got != "7" {
				t.Errorf("state through the mount: ncpu = %q, want 7", got)
			}
			if got := inMount(t, dir, "cat snapshots/$(cat branch/master/head)/msg"); got != "More CPUs" {
				t.Errorf("master's message = %q", got)
			}
		})
	}
}

// inMount runs script with sh in the mounted directory dir and returns its
// output, trimmed; it fails the test if the script fails. The shell
// changes into the mount itself: a child made by os/exec would chdir
// between fork and exec, and a garbage collection in this process (which
// serves the mount) can then wait for the forking thread, which waits for
// the mount.
func inMount(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", `cd "$1" && eval "$2"`, "sh", dir, script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh in the mount: %v\n%s\n%s", err, script, out)
	}
	return strings.TrimSpace(string(out))
}
