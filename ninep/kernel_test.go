package ninep

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dkgo/datakit/dkstore"
)

// linux9p finds the tool that runs a script against a 9P server through
// the real Linux kernel client, in a small VM (../shared/tools/linux9p).
func linux9p(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"../../shared/tools/linux9p/linux9p", "../shared/tools/linux9p/linux9p"} {
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("linux9p not found beside the checkout (shared/tools/linux9p): cannot test the kernel client")
	}
	t.Skip("SKIP: linux9p not found (shared/tools/linux9p)")
	return ""
}

// TestKernelClient runs the docs' shell recipes through Linux's own 9p
// client (v9fs, 9p2000.L over a unix socket) against our server.
func TestKernelClient(t *testing.T) {
	runKernelScript(t, "testdata/kernel_recipes.sh")
}

// TestKernelInterrupt: through the kernel's client, a `cat` blocked on a
// stream file ends within 2 s of `kill` (the kernel flushes its read, and
// the server answers the Tflush at once), with no commit made, and the
// mount works after (the same script as the FUSE mount's
// TestInterruptStreams).
func TestKernelInterrupt(t *testing.T) {
	runKernelScript(t, "testdata/interrupt_streams.sh")
}

// runKernelScript serves a memory store and runs the shell script in a
// VM that mounts it with the kernel's 9p client; it must print ALL OK.
func runKernelScript(t *testing.T, script string) {
	if testing.Short() {
		t.Skip("SKIP: boots a VM; not in -short mode")
	}
	tool := linux9p(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	srv := NewServer(store, Options{Sources: []LogSource{{Name: "datakit", Doc: "DataKit server", Level: level}}})
	sock := filepath.Join(t.TempDir(), "dk.sock")
	ln, err := Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	cmd := exec.CommandContext(ctx, tool, "--server", "unix:"+sock, "--script", script, "--timeout", "300")
	out, err := cmd.CombinedOutput()
	if exitCode(err) == 125 {
		t.Fatalf("linux9p never reached the script (VM, cache or mount failed):\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "ALL OK") {
		t.Fatalf("%s through the kernel client failed (%v):\n%s", filepath.Base(script), err, out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve() = %v", err)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
