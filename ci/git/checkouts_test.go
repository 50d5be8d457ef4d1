package git

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The checkouts of a CI process that is gone are removed; those of live
// processes (this one, pid 1) and other files are not.
func TestRemoveDeadCheckouts(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{ // name -> kept
		fmt.Sprintf("%s%d-123", checkoutPrefix, dead.Process.Pid): false,
		fmt.Sprintf("%s%d-456", checkoutPrefix, os.Getpid()):      true,
		checkoutPrefix + "1-789":                                  true,
		checkoutPrefix + "666212445":                              true, // no pid: not ours to judge
		"other-dir":                                               true,
	}
	for n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removeDeadCheckouts(dir)
	for n, kept := range names {
		_, err := os.Stat(filepath.Join(dir, n))
		if (err == nil) != kept {
			t.Errorf("%s: kept = %v, want %v", n, err == nil, kept)
		}
	}
}
