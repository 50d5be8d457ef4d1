package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestExitStatus: --help succeeds, a command line that makes no sense
// exits 2 with its error printed once, other failures exit 1.
func TestExitStatus(t *testing.T) {
	bin := buildDatakit(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want int
		once string // printed exactly once
	}{
		{"help", []string{"--help"}, 0, ""},
		{"mount help", []string{"mount", "--help"}, 0, ""},
		{"bad flag", []string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"extra argument", []string{"serve"}, 2, `unexpected argument "serve"`},
		{"mount without dir", []string{"mount"}, 2, "mount needs one directory"},
		{"bad store", []string{"--git", file, "--listen-9p", "unix://" + filepath.Join(t.TempDir(), "s")}, 1, "datakit: --git " + file},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command(bin, c.args...).CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.want {
				t.Errorf("datakit %q exited with %d, want %d:\n%s", c.args, code, c.want, out)
			}
			if c.once != "" && strings.Count(string(out), c.once) != 1 {
				t.Errorf("datakit %q printed %q %d times, want once:\n%s", c.args, c.once, strings.Count(string(out), c.once), out)
			}
		})
	}
}
