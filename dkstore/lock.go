package dkstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrLocked is the error Open and OpenGitDir return, with Options.Exclusive,
// when another opener holds the repository: a DataKit server or a CI that
// owns it already.
var ErrLocked = errors.New("in use by another process")

// lockName is the lock file's name in the Git directory.
const lockName = "datakit.lock"

// lockGitDir takes the exclusive lock on gitdir, or returns an error
// wrapping ErrLocked that names the holder. The lock is the returned
// file's: closing it (or the process's end, however it ends) releases it.
// The file holds the holder's pid and command line, for the message a
// second opener gives.
func lockGitDir(gitdir string) (*os.File, error) {
	path := filepath.Join(gitdir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dkstore: open %s: lock: %w", gitdir, err)
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dkstore: open %s: lock %s: %w", gitdir, path, err)
	}
	if !ok {
		f.Close()
		return nil, fmt.Errorf("dkstore: open %s: %w: %s (lock %s, freed when it exits)", gitdir, ErrLocked, holder(path), path)
	}
	info := strconv.Itoa(os.Getpid()) + "\n" + commandLine(os.Args) + "\n"
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(info), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dkstore: open %s: lock %s: %w", gitdir, path, err)
	}
	return f, nil
}

// holder describes the process that holds the lock at path, as it wrote
// itself down.
func holder(path string) string {
	b, err := os.ReadFile(path)
	pid, cmd, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if err != nil || pid == "" {
		return "another process holds it (it has not said which yet)"
	}
	return "pid " + pid + ", started as: " + cmd
}

// commandLine gives args as a shell would take them back.
func commandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.:=@%+,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
