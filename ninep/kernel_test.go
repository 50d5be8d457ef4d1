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

// kernelDialects are the versions the kernel mounts with: 9P2000.L
// (linux9p's default), and the original's 9P2000.u and 9P2000 (a later
// version= option overrides the default).
// The scripts print the mount's line of /proc/mounts, where the kernel
// shows the dialect: nothing for 9P2000.L, version=9p2000.u, or noextend
// for plain 9P2000.
var kernelDialects = []struct{ name, opts, shown string }{
	{"9p2000.L", "", ""},
	{"9p2000.u", "version=9p2000.u", "version=9p2000.u"},
	{"9p2000", "version=9p2000", "noextend"},
}

// TestKernelClient runs the docs' shell recipes through Linux's own 9p
// client (v9fs over a unix socket) against our server, in each dialect.
func TestKernelClient(t *testing.T) {
	for _, d := range kernelDialects {
		t.Run(d.name, func(t *testing.T) {
			checkDialect(t, runKernelScript(t, "testdata/kernel_recipes.sh", d.opts), d.shown)
		})
	}
}

// TestKernelInterrupt: through the kernel's client, a `cat` blocked on a
// stream file ends within 2 s of `kill` (the kernel flushes its read, and
// the server answers the Tflush at once), with no commit made, and the
// mount works after (the same script as the FUSE mount's
// TestInterruptStreams), in each dialect.
func TestKernelInterrupt(t *testing.T) {
	for _, d := range kernelDialects {
		t.Run(d.name, func(t *testing.T) {
			checkDialect(t, runKernelScript(t, "testdata/interrupt_streams.sh", d.opts), d.shown)
		})
	}
}

// runKernelScript serves a memory store and runs the shell script in a
// VM that mounts it with the kernel's 9p client (with extra mount
// options opts); it must print ALL OK. It returns the script's output.
func runKernelScript(t *testing.T, script, opts string) string {
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

	args := []string{"--server", "unix:" + sock, "--script", script, "--timeout", "300"}
	if opts != "" {
		args = append(args, "-o", opts)
	}
	cmd := exec.CommandContext(ctx, tool, args...)
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
	return string(out)
}

// checkDialect checks that the script's "mount:" line shows the dialect
// (shown), or no other for 9P2000.L (shown "").
func checkDialect(t *testing.T, out, shown string) {
	t.Helper()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "mount: ") {
			line = l
		}
	}
	t.Log(line)
	other := strings.Contains(line, "version=9p2000.u") || strings.Contains(line, "noextend")
	if !strings.Contains(line, " 9p ") || (shown == "" && other) || (shown != "" && !strings.Contains(line, shown)) {
		t.Fatalf("mounted as %q, want the dialect shown as %q", line, shown)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
