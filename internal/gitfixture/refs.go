package gitfixture

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// ReadOnly removes write permission from everything below dir, like
// chmod -R a-w, and gives it back at tb's cleanup (so that t.TempDir can
// remove it). It reports whether the permissions bind: they do not for
// root, who may write anyway.
func ReadOnly(tb testing.TB, dir string) bool {
	tb.Helper()
	type saved struct {
		path string
		mode fs.FileMode
	}
	var modes []saved
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		modes = append(modes, saved{p, fi.Mode().Perm()})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	// A directory made read-only still lets its owner change its entries'
	// modes, so the order does not matter.
	for _, m := range modes {
		if err := os.Chmod(m.path, m.mode&^0o222); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		for _, m := range modes {
			os.Chmod(m.path, m.mode)
		}
	})
	return os.Geteuid() != 0
}

// Listing describes every entry below dir, one line each (path, mode,
// size, modification time), sorted: two equal listings mean nothing was
// written, created or removed in between.
func Listing(tb testing.TB, dir string) string {
	tb.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		size := fi.Size()
		if fi.IsDir() {
			size = 0 // some file systems count entries
		}
		lines = append(lines, fmt.Sprintf("%s %v %d %d", filepath.ToSlash(rel), fi.Mode(), size, fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
