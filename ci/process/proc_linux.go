package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sweepLimit bounds how long KillOrphans waits for the processes it killed
// to be gone.
const sweepLimit = 5 * time.Second

// identify returns this program as an owner, from /proc/self, which must
// be the /proc of this program's pid namespace.
func identify() (owner, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return owner{}, fmt.Errorf("process: cannot identify this program: %w", err)
	}
	st, err := parseStat(b)
	if err != nil {
		return owner{}, err
	}
	if st.pid != os.Getpid() {
		return owner{}, fmt.Errorf("process: /proc is not of this program's pid namespace (it gives pid %d for pid %d)", st.pid, os.Getpid())
	}
	pidns, err := nsInode("pid")
	if err != nil {
		return owner{}, err
	}
	timens, err := nsInode("time")
	if errors.Is(err, os.ErrNotExist) { // no time namespaces before Linux 5.6
		timens, err = "0", nil
	}
	if err != nil {
		return owner{}, err
	}
	return owner{pid: st.pid, start: st.start, ns: pidns + "." + timens}, nil
}

// nsInode returns the inode number of this program's namespace of a kind,
// from the link /proc/self/ns/KIND -> "KIND:[INODE]".
func nsInode(kind string) (string, error) {
	l, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		return "", fmt.Errorf("process: cannot identify this program: %w", err)
	}
	inode, ok := strings.CutPrefix(l, kind+":[")
	inode, ok2 := strings.CutSuffix(inode, "]")
	if !ok || !ok2 || !isDigits(inode) {
		return "", fmt.Errorf("process: cannot identify this program: /proc/self/ns/%s is %q", kind, l)
	}
	return inode, nil
}

// readStat reads /proc/PID/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// procInfo is a process as the sweep sees it.
type procInfo struct {
	procStat
	owner    owner
	hasOwner bool
}

// scan lists the processes of /proc, with their owner when they have one
// (with environ false, it does not look: only the stat is read).
func scan(environ bool) ([]procInfo, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	ps := make([]procInfo, 0, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // gone, or unreadable
		}
		p := procInfo{procStat: st}
		if environ && !st.gone() {
			if env, err := os.ReadFile("/proc/" + name + "/environ"); err == nil {
				p.owner, p.hasOwner = ownerIn(env)
			}
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// groupAlive reports whether the process group pgid has a process that
// has not exited (zombies do not count: a killed group's orphans may wait
// long to be reaped, forever where pid 1 does not reap).
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	ps, err := scan(false)
	if err != nil {
		return true
	}
	for _, p := range ps {
		if p.pgid == pgid && !p.gone() {
			return true
		}
	}
	return false
}

func killOrphans(ctx context.Context) (int, error) {
	me, err := selfOwner()
	if err != nil {
		return 0, err
	}
	myGroup := syscall.Getpgrp()
	killed := map[procStat]bool{} // by pid, group and start time
	groups := map[int]bool{}      // groups killed whole
	deadline := time.Now().Add(sweepLimit)
	for {
		ps, err := scan(true)
		if err != nil {
			return len(killed), fmt.Errorf("process: looking for orphans: %w", err)
		}
		byPid := make(map[int]procInfo, len(ps))
		for _, p := range ps {
			byPid[p.pid] = p
		}
		// orphan reports whether p carries the mark of a program of this
		// namespace that is gone.
		orphan := func(p procInfo) bool {
			if !p.hasOwner || p.owner.ns != me.ns || p.gone() {
				return false
			}
			o, ok := byPid[p.owner.pid]
			return !ok || o.start != p.owner.start || o.gone()
		}
		var victims []procInfo
		for _, p := range ps {
			if p.pid == me.pid || p.gone() {
				continue
			}
			if orphan(p) || groups[p.pgid] {
				victims = append(victims, p)
			}
		}
		if len(victims) == 0 {
			return len(killed), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			var left []string
			for _, v := range victims {
				left = append(left, strconv.Itoa(v.pid))
			}
			return len(killed), fmt.Errorf("process: processes left by programs that are gone still run after SIGKILL: %s", strings.Join(left, ", "))
		}
		for _, v := range victims {
			// The whole group, unless it is ours, or its leader is alive
			// and not an orphan (the group then is not one of Run's).
			if g := v.pgid; g > 1 && g != myGroup && !groups[g] {
				if l, ok := byPid[g]; !ok || orphan(l) {
					groups[g] = true
					_ = syscall.Kill(-g, syscall.SIGKILL)
				}
			}
			kill(v.procStat)
			killed[procStat{pid: v.pid, pgid: v.pgid, start: v.start}] = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL to the process p, if it still is the process the
// scan saw: it is held by a pidfd (os.FindProcess) while its start time is
// checked, so that a reused pid is never signalled.
func kill(p procStat) {
	proc, err := os.FindProcess(p.pid)
	if err != nil {
		return
	}
	defer proc.Release()
	if st, err := readStat(p.pid); err != nil || st.start != p.start {
		return
	}
	_ = proc.Signal(syscall.SIGKILL)
}
