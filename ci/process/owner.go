package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// OwnerEnv is the environment variable that Run sets in every command it
// runs, after Cmd.Env (so it wins), and that the command's children
// inherit: it names the program that ran the command, as
// PID:START:NAMESPACES (its process id, its start time in clock ticks
// since boot, and the inode numbers of its pid and time namespaces), so
// that KillOrphans can tell which processes were left behind by a program
// that is gone. Its value means nothing to the command.
const OwnerEnv = "DATAKIT_PROCESS_OWNER"

// owner identifies a running program: a process id alone can be reused
// once the process is gone, but not together with its start time, and
// both only mean something in one pid (and time) namespace.
type owner struct {
	pid   int
	start uint64 // in clock ticks since boot, as /proc/PID/stat gives it
	ns    string // "PIDNS.TIMENS" (inode numbers; 0 for no time namespace)
}

func (o owner) String() string { return fmt.Sprintf("%d:%d:%s", o.pid, o.start, o.ns) }

// parseOwner parses an OwnerEnv value.
func parseOwner(s string) (owner, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return owner{}, fmt.Errorf("process: bad owner %q", s)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 || strconv.Itoa(pid) != f[0] {
		return owner{}, fmt.Errorf("process: bad owner %q: process id", s)
	}
	start, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || strconv.FormatUint(start, 10) != f[1] {
		return owner{}, fmt.Errorf("process: bad owner %q: start time", s)
	}
	pidns, timens, ok := strings.Cut(f[2], ".")
	if !ok || !isDigits(pidns) || !isDigits(timens) {
		return owner{}, fmt.Errorf("process: bad owner %q: namespaces", s)
	}
	return owner{pid: pid, start: start, ns: f[2]}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// procStat is what the sweep needs of /proc/PID/stat.
type procStat struct {
	pid, pgid int
	state     byte   // R, S, D, Z, X, ...
	start     uint64 // clock ticks since boot
}

// gone reports whether the process has exited (a zombie is only waiting
// to be reaped).
func (s procStat) gone() bool { return s.state == 'Z' || s.state == 'X' || s.state == 'x' }

// parseStat parses the content of /proc/PID/stat: "PID (COMM) STATE PPID
// PGRP SESSION ..." with the start time as the 22nd field. COMM may hold
// spaces and parentheses: the fields that follow it start after the last
// ')'.
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	close := bytes.LastIndexByte(b, ')')
	if open < 1 || close < open {
		return procStat{}, errors.New("process: bad /proc stat line")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil || pid <= 0 {
		return procStat{}, errors.New("process: bad /proc stat line: pid")
	}
	f := bytes.Fields(b[close+1:])
	// f[0] is the 3rd field (state), so field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, errors.New("process: bad /proc stat line: too short")
	}
	pgid, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return procStat{}, errors.New("process: bad /proc stat line: pgrp")
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, errors.New("process: bad /proc stat line: starttime")
	}
	return procStat{pid: pid, pgid: pgid, state: f[0][0], start: start}, nil
}

// ownerIn returns the owner named by OwnerEnv in environ, the NUL-separated
// content of /proc/PID/environ (the first entry for the name counts, as
// for getenv).
func ownerIn(environ []byte) (owner, bool) {
	prefix := []byte(OwnerEnv + "=")
	for len(environ) > 0 {
		kv := environ
		if i := bytes.IndexByte(environ, 0); i >= 0 {
			kv, environ = environ[:i], environ[i+1:]
		} else {
			environ = nil
		}
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			o, err := parseOwner(string(v))
			return o, err == nil
		}
	}
	return owner{}, false
}

var (
	selfOnce sync.Once
	self     owner // the zero owner if this program cannot be identified
	selfErr  error

	sweepOnce sync.Once // Run's sweep, before the first command
)

// selfOwner is this program as an owner.
func selfOwner() (owner, error) {
	selfOnce.Do(func() { self, selfErr = identify() })
	return self, selfErr
}

// KillOrphans kills the processes that commands run by Run left running
// when the program that ran them ended without ending them — killed with
// SIGKILL, say, in the middle of a build step — and returns how many it
// killed. It finds them by their OwnerEnv: every live process that
// carries one naming a program of this program's namespaces that is gone,
// with its process group (unless that group's leader is alive and not
// such a process). It waits until they are gone, or until ctx is done, or
// for at most 5 s (a process in uninterruptible sleep can take that long
// to die); then any that are left make an error. Processes of programs
// still running, including this one, are left alone.
//
// Run calls KillOrphans once, before its first command, in every program
// that uses it; a CI program calls it as it starts (package cimain), so
// that a restarted CI never runs a step beside what its killed
// predecessor left. It needs Linux's /proc; elsewhere it does nothing.
// Processes whose environment this program may not read (other users',
// unless it runs as root) are left alone, and so is a process that
// cleared its environment and left its process group.
func KillOrphans(ctx context.Context) (int, error) {
	sweepOnce.Do(func() {}) // Run need not sweep again
	return killOrphans(ctx)
}
