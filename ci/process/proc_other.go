//go:build unix && !linux

package process

import (
	"context"
	"errors"
	"syscall"
)

// identify fails: without Linux's /proc, a program's start time is not at
// hand, so Run marks no command with an owner.
func identify() (owner, error) {
	return owner{}, errors.New("process: owners of processes are known on Linux only")
}

// groupAlive reports whether the process group pgid has a process
// (zombies included: there is no /proc to tell them apart).
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// killOrphans does nothing: orphans are found through Linux's /proc.
func killOrphans(context.Context) (int, error) { return 0, nil }
