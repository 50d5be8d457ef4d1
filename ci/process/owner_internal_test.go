package process

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillOrphansWhoseOwner: which marks make a process an orphan. Only
// a mark of this pid namespace naming a program that is gone does; a pid
// in use by another program than the one marked (a reused pid) is gone.
func TestKillOrphansWhoseOwner(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("orphans are found through Linux's /proc")
	}
	me, err := selfOwner()
	if err != nil {
		t.Fatal(err)
	}
	const noSuchPid = 1<<22 + 1 // above any pid_max
	tests := []struct {
		name   string
		mark   string // "" for none
		orphan bool
	}{
		{"owner gone", owner{pid: noSuchPid, start: 1, ns: me.ns}.String(), true},
		{"pid reused", owner{pid: me.pid, start: me.start + 1, ns: me.ns}.String(), true},
		{"owner alive", me.String(), false},
		{"other pid namespace", owner{pid: noSuchPid, start: 1, ns: "1." + strings.SplitN(me.ns, ".", 2)[1]}.String(), false},
		{"other time namespace", owner{pid: noSuchPid, start: 1, ns: strings.SplitN(me.ns, ".", 2)[0] + ".1"}.String(), false},
		{"malformed", fmt.Sprintf("%d:%d", noSuchPid, 1), false},
		{"no mark", "", false},
	}
	var cmds []*exec.Cmd
	for _, tt := range tests {
		cmd := exec.Command("sleep", "300")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		if tt.mark != "" {
			cmd.Env = append(cmd.Env, OwnerEnv+"="+tt.mark)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as Run does
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	n, err := KillOrphans(context.Background())
	if err != nil {
		t.Errorf("KillOrphans = %d, %v", n, err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exited(t, cmds[i]); got != tt.orphan {
				t.Errorf("killed = %v, want %v", got, tt.orphan)
			}
		})
	}
}

// TestKillOrphansLeavesForeignGroups: an orphan in a process group whose
// leader is alive and not an orphan is killed alone, not with its group.
func TestKillOrphansLeavesForeignGroups(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("orphans are found through Linux's /proc")
	}
	dir := t.TempDir()
	gone := owner{pid: 1<<22 + 1, start: 1, ns: mustSelf(t).ns}
	leader := exec.Command("sh", "-c", OwnerEnv+"="+gone.String()+` sleep 300 & echo $! > orphan; exec sleep 300`)
	leader.Dir = dir
	leader.Env = []string{"PATH=" + os.Getenv("PATH")}
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-leader.Process.Pid, syscall.SIGKILL); leader.Wait() })
	var orphan int
	for deadline := time.Now().Add(10 * time.Second); orphan == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no orphan pid")
		}
		b, _ := os.ReadFile(filepath.Join(dir, "orphan"))
		if s, ok := strings.CutSuffix(string(b), "\n"); ok {
			orphan, _ = strconv.Atoi(s)
		}
	}
	if _, err := KillOrphans(context.Background()); err != nil {
		t.Errorf("KillOrphans: %v", err)
	}
	if st, err := readStat(orphan); err == nil && !st.gone() {
		t.Errorf("the orphan runs on")
	}
	if exited(t, leader) {
		t.Errorf("the leader of the orphan's group, not an orphan, was killed")
	}
}

func mustSelf(t *testing.T) owner {
	t.Helper()
	me, err := selfOwner()
	if err != nil {
		t.Fatal(err)
	}
	return me
}

// exited reports whether the child cmd has exited (it is not reaped).
func exited(t *testing.T, cmd *exec.Cmd) bool {
	t.Helper()
	st, err := readStat(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("stat of pid %d: %v", cmd.Process.Pid, err)
	}
	return st.gone()
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in   string
		want procStat
		ok   bool
	}{
		{"42 (sleep) S 1 42 42 0 -1 4194560 83 0 0 0 0 0 0 0 20 0 1 0 123456 2363392 128 18446744073709551615",
			procStat{pid: 42, pgid: 42, state: 'S', start: 123456}, true},
		{"7 (a) b) (c) Z 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0", procStat{pid: 7, pgid: 5, state: 'Z', start: 99}, true},
		{"7 (tmux: server) R 1 6 6 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 8 0 0", procStat{pid: 7, pgid: 6, state: 'R', start: 8}, true},
		{"42 (sleep) S 1 42 42", procStat{}, false},
		{"(sleep) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0", procStat{}, false},
		{"x (sleep) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0", procStat{}, false},
		{"42 sleep S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0", procStat{}, false},
		{"42 (sleep) S 1 x 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0", procStat{}, false},
		{"42 (sleep) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -1 0 0", procStat{}, false},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseOwner(t *testing.T) {
	for _, s := range []string{"", "1:2", "1:2:3", "0:2:3.4", "-1:2:3.4", "01:2:3.4", "1:02:3.4", "1:2:3.", "1:2:.4", "1:2:3.4:5", "a:2:3.4", "1:2:3.4x"} {
		if o, err := parseOwner(s); err == nil {
			t.Errorf("parseOwner(%q) = %v, want an error", s, o)
		}
	}
	o := owner{pid: 123, start: 456, ns: "4026531836.4026531834"}
	if got, err := parseOwner(o.String()); err != nil || got != o {
		t.Errorf("parseOwner(%q) = %+v, %v; want %+v", o.String(), got, err, o)
	}
	env := []byte("A=1\x00" + OwnerEnv + "=" + o.String() + "\x00" + OwnerEnv + "=9:9:9.9\x00")
	if got, ok := ownerIn(env); !ok || got != o {
		t.Errorf("ownerIn = %+v, %v; want the first, %+v", got, ok, o)
	}
	if _, ok := ownerIn([]byte("X" + OwnerEnv + "=" + o.String())); ok {
		t.Errorf("ownerIn found the mark in another variable")
	}
}

func FuzzParseOwner(f *testing.F) {
	for _, s := range []string{"123:456:4026531836.4026531834", "1:2:3.0", "1:2", "::.", "9999999999999999999:1:1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOwner(s)
		if err != nil {
			return
		}
		if o.String() != s {
			t.Errorf("parseOwner(%q) = %+v, which reads %q", s, o, o.String())
		}
		if _, ok := ownerIn([]byte("A=b\x00" + OwnerEnv + "=" + s)); !ok {
			t.Errorf("ownerIn does not find %q", s)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (sleep) S 1 42 42 0 -1 4194560 83 0 0 0 0 0 0 0 20 0 1 0 123456 2363392 128"))
	f.Add([]byte("7 (a) b) (c) Z 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0"))
	f.Add([]byte("1 () R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err != nil {
			return
		}
		if st.pid <= 0 {
			t.Errorf("parseStat(%q) = %+v: pid %d", b, st, st.pid)
		}
		// The fields after COMM do not depend on what COMM holds.
		i, j := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		again := append([]byte(string(b[:i])+"(x)"), b[j+1:]...)
		if st2, err := parseStat(again); err != nil || st2 != st {
			t.Errorf("parseStat(%q) = %+v, but with COMM x: %+v, %v", b, st, st2, err)
		}
	})
}
