package cimain_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/gitfixture"
)

// stepProc is a running process of a step, as /proc shows it.
type stepProc struct {
	pid, pgid int
	start     string // the start time, in clock ticks since boot
}

func (p stepProc) String() string { return fmt.Sprintf("pid %d (group %d)", p.pid, p.pgid) }

// marked lists the live (not zombie) processes whose environment holds
// SLEEPERCI_MARK=mark: the processes of sleeperci's step and their
// children.
func marked(mark string) []stepProc {
	want := []byte("SLEEPERCI_MARK=" + mark + "\x00")
	entries, _ := os.ReadDir("/proc")
	var ps []stepProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, want...)) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		pgid, _ := strconv.Atoi(f[2])
		ps = append(ps, stepProc{pid: pid, pgid: pgid, start: f[19]})
	}
	return ps
}

// groups returns the process groups of ps.
func groups(ps []stepProc) []int {
	seen := map[int]bool{}
	var gs []int
	for _, p := range ps {
		if !seen[p.pgid] {
			seen[p.pgid] = true
			gs = append(gs, p.pgid)
		}
	}
	sort.Ints(gs)
	return gs
}

// TestNoStepProcessOutlivesAKilledCI kills a CI (SIGKILL) while its step
// runs a command with a child in the background, then starts it again on
// the same state directory: the restarted CI kills what the first one
// left before it runs the step again, so no process of the first run
// remains 10 s after the restart and the step's pool (capacity 1) never
// has two of the commands running at once.
func TestNoStepProcessOutlivesAKilledCI(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test reads /proc")
	}
	gitfixture.Need(t)
	bin := filepath.Join(t.TempDir(), "sleeperci")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/sleeperci").CombinedOutput(); err != nil {
		t.Fatalf("go build testdata/sleeperci: %v\n%s", err, out)
	}
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "app"))
	repo.Commit("first", map[string]string{"README": "app\n"})
	mark := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { // whatever happened, nothing of ours runs on
		for _, p := range marked(mark) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	state := t.TempDir()
	args := []string{"--state-dir", state, "--listen", "off", "--local-repo", "me/app:" + repo.Dir}
	run := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SLEEPERCI_SRC="+repo.Dir, "SLEEPERCI_WORK="+t.TempDir(), "SLEEPERCI_TOKEN="+mark)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}

	// The first run: wait for the step's command and its child.
	cmd, out := run()
	var first []stepProc
	for deadline := time.Now().Add(30 * time.Second); len(first) < 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the step's processes did not start; found %v; the CI said:\n%s", first, out)
		}
		first = marked(mark) // sh, and its two sleeps
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	time.Sleep(100 * time.Millisecond)
	if left := marked(mark); len(left) == 0 {
		t.Fatalf("no process of the step ran on after the CI was killed: the test shows nothing")
	}

	// The restart: within 10 s, nothing of the first run is left; and
	// never two runs of the step at once.
	cmd, out = run()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	defer func() {
		stop()
		if t.Failed() {
			t.Logf("the restarted CI said:\n%s", out)
		}
	}()
	isFirst := map[stepProc]bool{}
	for _, p := range first {
		isFirst[p] = true
	}
	restart := time.Now()
	var (
		overlap  bool
		rerun    bool // the restarted CI runs the step again
		leftover []stepProc
	)
	for time.Since(restart) < 10*time.Second {
		ps := marked(mark)
		leftover = leftover[:0]
		for _, p := range ps {
			if isFirst[p] {
				leftover = append(leftover, p)
			} else {
				rerun = true
			}
		}
		if gs := groups(ps); len(gs) > 1 && !overlap {
			overlap = true
			t.Errorf("%.1fs after the restart, the step runs in %d process groups at once (%v), in a pool of capacity 1",
				time.Since(restart).Seconds(), len(gs), ps)
		}
		if rerun && len(leftover) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(leftover) > 0 {
		t.Errorf("10 s after the restart, processes of the killed CI's step still run: %v", leftover)
	}
	if !rerun {
		t.Errorf("the restarted CI did not run the step again within 10 s")
	}
	stop()
	if !strings.Contains(out.String(), "killed processes left by an earlier run of a CI count=3") {
		t.Errorf("the restarted CI did not say that it killed the 3 processes left")
	}
}

// TestStoppedCIStepLogSaysWhy stops a CI (SIGINT, as Ctrl-C) while its
// step runs: the CI ends within its grace, no process of the step is left,
// and the step's log on its result branch says why it was cancelled ("the
// CI was stopped"), not a bare "context canceled".
func TestStoppedCIStepLogSaysWhy(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test reads /proc")
	}
	gitfixture.Need(t)
	bin := filepath.Join(t.TempDir(), "sleeperci")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/sleeperci").CombinedOutput(); err != nil {
		t.Fatalf("go build testdata/sleeperci: %v\n%s", err, out)
	}
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "app"))
	repo.Commit("first", map[string]string{"README": "app\n"})
	mark := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		for _, p := range marked(mark) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	state := t.TempDir()
	cmd := exec.Command(bin, "--state-dir", state, "--listen", "off", "--local-repo", "me/app:"+repo.Dir)
	cmd.Env = append(os.Environ(), "SLEEPERCI_SRC="+repo.Dir, "SLEEPERCI_WORK="+t.TempDir(), "SLEEPERCI_TOKEN="+mark)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); len(marked(mark)) < 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the step's processes did not start; the CI said:\n%s", out.String())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the CI, stopped with SIGINT: %v, want status 0\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("the CI did not stop within 15 s of SIGINT:\n%s", out.String())
	}
	if left := marked(mark); len(left) > 0 {
		t.Errorf("processes of the step outlive the stopped CI: %v", left)
	}
	refs, err := exec.Command("git", "-C", state, "for-each-ref", "--format=%(refname:short)", "refs/heads/shell-of-sleep-*").Output()
	if err != nil || len(strings.Fields(string(refs))) != 1 {
		t.Fatalf("the step's result branch: %q, %v", refs, err)
	}
	log, err := exec.Command("git", "-C", state, "show", strings.TrimSpace(string(refs))+":log").Output()
	if err != nil {
		t.Fatalf("the step's log: %v", err)
	}
	if want := "Failed: Cancelled: the CI was stopped"; !strings.Contains(string(log), want) {
		t.Errorf("the step's log does not say why it was cancelled (want %q):\n%s", want, log)
	}
}
