package process_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dkgo/datakit/ci/process"
)

func needProc(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("orphans are found through Linux's /proc")
	}
}

// startProgram starts the test binary as a program that runs script with
// process.Run in dir (see TestMain).
func startProgram(t *testing.T, dir, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), programEnv+"="+script, "GORACE=atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// killAtCleanup kills the processes at the test's end, whatever happened.
func killAtCleanup(t *testing.T, pids ...int) {
	t.Cleanup(func() {
		for _, pid := range pids {
			if alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// TestKillOrphansAfterProgramKilled: a program killed with SIGKILL in the
// middle of a command leaves the command's processes running;
// KillOrphans kills them all, and returns once they are gone.
func TestKillOrphansAfterProgramKilled(t *testing.T) {
	needProc(t)
	dir := t.TempDir()
	prog := startProgram(t, dir, `echo $$ > leader; sh -c 'echo $$ > child; exec sleep 300' & sleep 300`)
	leader := readPid(t, filepath.Join(dir, "leader"))
	child := readPid(t, filepath.Join(dir, "child"))
	killAtCleanup(t, leader, child)
	prog.Process.Kill()
	prog.Wait()
	if !alive(leader) || !alive(child) {
		t.Fatalf("the command's processes did not run on after their program was killed: the test shows nothing")
	}

	n, err := process.KillOrphans(context.Background())
	if err != nil {
		t.Errorf("KillOrphans = %d, %v; want no error", n, err)
	}
	if n < 3 { // sh, its child, their two sleeps: one execs the child
		t.Errorf("KillOrphans = %d, want at least 3", n)
	}
	for what, pid := range map[string]int{"the command": leader, "its child": child} {
		if alive(pid) {
			t.Errorf("%s (pid %d) runs on after KillOrphans returned", what, pid)
		}
	}
	if n, err := process.KillOrphans(context.Background()); n != 0 || err != nil {
		t.Errorf("KillOrphans again = %d, %v; want 0, nil", n, err)
	}
}

// TestKillOrphansSparesTheLiving: the commands of programs still running
// (this one, another one) are not orphans.
func TestKillOrphansSparesTheLiving(t *testing.T) {
	needProc(t)
	dir := t.TempDir()
	// A command of this program.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := sh(`echo $$ > mine; exec sleep 300`)
	c.Dir = dir
	go func() { done <- process.Run(ctx, c, nil, nil) }()
	defer func() { cancel(); <-done }()
	mine := readPid(t, filepath.Join(dir, "mine"))
	// A command of another program, alive.
	startProgram(t, dir, `echo $$ > theirs; exec sleep 300`)
	theirs := readPid(t, filepath.Join(dir, "theirs"))
	killAtCleanup(t, theirs)

	if n, err := process.KillOrphans(context.Background()); err != nil {
		t.Errorf("KillOrphans = %d, %v; want no error", n, err)
	}
	if !alive(mine) {
		t.Errorf("KillOrphans killed a command of this program")
	}
	if !alive(theirs) {
		t.Errorf("KillOrphans killed a command of another program that runs")
	}
}

// TestRunKillsOrphansFirst: a program that uses Run, not KillOrphans,
// still kills what a killed program left before its first command runs.
func TestRunKillsOrphansFirst(t *testing.T) {
	needProc(t)
	dir := t.TempDir()
	first := startProgram(t, dir, `echo $$ > leader; sleep 300`)
	leader := readPid(t, filepath.Join(dir, "leader"))
	killAtCleanup(t, leader)
	first.Process.Kill()
	first.Wait()
	if !alive(leader) {
		t.Fatalf("the command did not run on after its program was killed: the test shows nothing")
	}
	second := exec.Command(os.Args[0])
	second.Env = append(os.Environ(), programEnv+"=true", "GORACE=atexit_sleep_ms=0")
	if out, err := second.CombinedOutput(); err != nil {
		t.Fatalf("the second program: %v\n%s", err, out)
	}
	if alive(leader) {
		t.Errorf("the command left by a killed program (pid %d) runs on after another program ran a command", leader)
	}
}

// TestRunMarksCommands: every command carries the mark of its program.
func TestRunMarksCommands(t *testing.T) {
	needProc(t)
	var out, errOut bytes.Buffer
	c := process.Cmd{Argv: []string{"sh", "-c", `printf %s "$` + process.OwnerEnv + `"`}, Env: []string{process.OwnerEnv + "=forged"}}
	if err := process.Run(context.Background(), c, &out, &errOut); err != nil {
		t.Fatalf("Run = %v (%s)", err, errOut.String())
	}
	if want := strconv.Itoa(os.Getpid()) + ":"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("%s = %q, want this program's (%s...)", process.OwnerEnv, out.String(), want)
	}
}
