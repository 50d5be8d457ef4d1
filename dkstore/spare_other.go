//go:build !linux

package dkstore

import (
	"errors"
	"os"
)

// Elsewhere than Linux, files are not recycled: there is no portable
// rename that refuses to replace, nor leases.
const canRecycle = false

func rewriteSpare(path string, data []byte, perm os.FileMode) error {
	return errors.ErrUnsupported
}

func renameNoReplace(from, to string) error { return errors.ErrUnsupported }

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
