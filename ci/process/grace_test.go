package process_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/process"
)

// TestCancelGrace: a cancelled command's process group gets SIGINT, then
// SIGTERM when half the grace has passed, then SIGKILL at its end; a
// command that cleans up on either signal gets to do it, and Run returns
// as soon as the group is gone.
func TestCancelGrace(t *testing.T) {
	const grace = 2 * time.Second
	// The loops sleep in short steps: a shell runs its trap once the
	// foreground command ends.
	const loop = `echo ready > ready; while :; do sleep 0.05; done`
	tests := []struct {
		name     string
		script   string
		cleaned  bool          // the command writes the file cleaned
		min, max time.Duration // when Run returns after the cancel
	}{
		{"cleans up on SIGINT", `trap 'echo > cleaned; exit 1' INT; ` + loop,
			true, 0, grace/2 - 200*time.Millisecond},
		{"cleans up on SIGTERM", `trap '' INT; trap 'echo > cleaned; exit 1' TERM; ` + loop,
			true, grace / 2, grace - 200*time.Millisecond},
		{"ignores both", `trap '' INT TERM; ` + loop,
			false, grace, grace + time.Second},
		// The shell dies at the SIGINT; its child, in the background,
		// ignores it (a non-interactive shell's background jobs do) and
		// takes 0.3 s to clean up after the SIGTERM.
		{"its shell ends at once, a child in the background cleans up",
			`sh -c "trap 'sleep 0.3; echo > cleaned; exit' TERM; ` + loop + `" & exec sleep 100`,
			true, grace/2 + 300*time.Millisecond, grace - 100*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c := sh(tt.script)
			c.Dir, c.Grace = dir, grace
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- process.Run(ctx, c, nil, nil) }()
			waitFile(t, filepath.Join(dir, "ready"))
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
			case <-time.After(grace + 5*time.Second):
				t.Fatal("Run did not return 5 s after the grace")
			}
			if d := time.Since(start); d < tt.min || d > tt.max {
				t.Errorf("Run returned %v after the cancel, want between %v and %v", d, tt.min, tt.max)
			}
			_, err := os.Stat(filepath.Join(dir, "cleaned"))
			if cleaned := err == nil; cleaned != tt.cleaned {
				t.Errorf("cleaned up: %v, want %v", cleaned, tt.cleaned)
			}
		})
	}
}

// waitFile waits for a command to make file.
func waitFile(t *testing.T, file string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(file); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s", file)
		}
	}
}

// TestCancelledGoTestCleansUp: go test, cancelled while its test runs,
// removes its work directory (/tmp/go-build*) as it does on Ctrl-C; killed
// outright, or ended with SIGTERM, it leaves the directory behind.
func TestCancelledGoTestCleansUp(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	mod, tmp := t.TempDir(), t.TempDir()
	started := filepath.Join(t.TempDir(), "started")
	files := map[string]string{
		"go.mod": "module example.org/slow\n\ngo 1.22\n",
		"slow_test.go": `package slow

import (
	"os"
	"testing"
	"time"
)

func TestSlow(t *testing.T) {
	os.WriteFile(os.Getenv("STARTED"), nil, 0o644)
	time.Sleep(time.Minute)
}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := process.Cmd{Argv: []string{goBin, "test", "-count=1", "."}, Dir: mod,
		Env: []string{"GOTMPDIR=" + tmp, "STARTED=" + started, "GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS="}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var out syncBuffer
	go func() { done <- process.Run(ctx, c, &out, &out) }()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("go test ended before its test started: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the test did not start")
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) == 0 {
		t.Fatalf("go test has no work directory in GOTMPDIR: the test shows nothing")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		t.Errorf("go test left %s in GOTMPDIR", e.Name())
	}
}

// syncBuffer is a buffer that a test may read while Run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
