package dkstore_test

// Crash safety: a writer process killed with SIGKILL at random moments
// must leave a repository git accepts, with every commit it reported
// reachable from its branch.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// crashEnv names the store directory of the writer process.
const crashEnv = "DKSTORE_CRASH_WRITER_DIR"

// crashWorkers are the writer's goroutines, by branch: two share master,
// so that some commits land as merges.
var crashWorkers = []dkstore.BranchName{"master", "master", "crash/a", "crash/b"}

// TestCrashWriter is the writer process of TestCrashSafety; run on its own
// it is skipped. It commits in a loop until killed, and prints
// "committed <branch> <id>" once Commit has returned.
func TestCrashWriter(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("the writer process of TestCrashSafety")
	}
	s, err := dkstore.Open(dir, dkstore.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "error open: %v\n", err)
		os.Exit(2)
	}
	var outMu sync.Mutex
	tag := rand.Uint32()
	for i, name := range crashWorkers {
		b, err := s.Branch(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error branch %s: %v\n", name, err)
			os.Exit(2)
		}
		go func() {
			ctx := context.Background()
			for n := 0; ; n++ {
				tx, err := b.Transaction(ctx, dkstore.TxOptions{})
				if err != nil {
					fmt.Fprintf(os.Stderr, "error transaction %s: %v\n", name, err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				p := dkstore.Path(fmt.Sprintf("w%d/f%02d", i, n%16))
				err = tx.WriteFile(ctx, p, fmt.Appendf(nil, "%08x %d %d\n", tag, i, n), dkstore.KindFile)
				if err == nil && n%7 == 6 {
					// Now and then a removal, and a file in a deeper directory.
					err = tx.Remove(ctx, dkstore.Path(fmt.Sprintf("w%d/f%02d", i, (n+5)%16)))
					if err == nil {
						err = tx.WriteFile(ctx, dkstore.Path(fmt.Sprintf("w%d/sub/g%d", i, n%3)), []byte(p), dkstore.KindExec)
					}
				}
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintf(os.Stderr, "error write %s: %v\n", name, err)
				}
				id, err := tx.Commit(ctx, fmt.Sprintf("writer %08x worker %d commit %d", tag, i, n))
				if err != nil {
					fmt.Fprintf(os.Stderr, "error commit %s: %v\n", name, err)
					continue
				}
				// One write(2) per line, and only after Commit returned.
				outMu.Lock()
				os.Stdout.WriteString("committed " + string(name) + " " + id.String() + "\n")
				outMu.Unlock()
			}
		}()
	}
	select {} // until killed
}

// crashLines collects the writer's committed lines as they arrive.
type crashLines struct {
	mu      sync.Mutex
	partial []byte
	got     []crashCommit
	first   chan struct{}
	once    sync.Once
	junk    []string
}

type crashCommit struct {
	branch dkstore.BranchName
	id     string
}

func (c *crashLines) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(c.partial[:i])
		c.partial = c.partial[i+1:]
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "committed" {
			c.got = append(c.got, crashCommit{dkstore.BranchName(f[1]), f[2]})
			c.once.Do(func() { close(c.first) })
		} else if line != "" {
			c.junk = append(c.junk, line)
		}
	}
}

var refContent = regexp.MustCompile(`^[0-9a-f]{40}\n$`)

func TestCrashSafety(t *testing.T) {
	compatNeedGit(t)
	if testing.Short() {
		t.Skip("kills a writer 50 times; skipped in -short mode")
	}
	const kills = 50
	dir := t.TempDir()
	gitdir := filepath.Join(dir, ".git")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	committed := map[dkstore.BranchName][]string{}
	var (
		total, staleLocks, writerErrors int
		slowStarts                      int
		slowestStart                    time.Duration
		started                         = time.Now()
		fsckTime                        time.Duration
	)
	for k := 0; k < kills; k++ {
		lines := &crashLines{first: make(chan struct{})}
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1", "-test.timeout=0")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		cmd.Stdout, cmd.Stderr = lines, &stderr
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-lines.first:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("kill %d: the writer committed nothing in 20s; its stderr:\n%s", k, stderr.String())
		}
		// A lock file left by the previous kill may delay the first
		// commit until it is stale (3s), but not much longer.
		startTime := time.Since(t0)
		slowestStart = max(slowestStart, startTime)
		if startTime > time.Second {
			slowStarts++
		}
		if startTime > 5*time.Second {
			t.Errorf("kill %d: the writer's first commit took %v: left-over lock files block it too long", k, startTime)
		}
		// Mostly a kill soon after the first commit; every fourth writer
		// lives long enough to recycle files (spare.go) and to pack.
		if k%4 == 3 {
			time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		} else {
			time.Sleep(time.Duration(5+rng.IntN(56)) * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: the writer ended by itself (%v) before it was killed; its stderr:\n%s", k, err, stderr.String())
		}
		if len(lines.junk) > 0 {
			t.Errorf("kill %d: the writer printed unexpected lines: %q", k, lines.junk)
		}
		if n := strings.Count(stderr.String(), "error "); n > 0 {
			writerErrors += n
			t.Logf("kill %d: the writer reported errors:\n%s", k, strings.TrimSpace(stderr.String()))
		}
		for _, c := range lines.got {
			committed[c.branch] = append(committed[c.branch], c.id)
		}
		total += len(lines.got)

		t1 := time.Now()
		if out, err := (gitRun{}).try(t, "--git-dir", gitdir, "fsck", "--strict", "--no-dangling", "--no-progress"); err != nil {
			t.Fatalf("kill %d: git fsck --strict: %v\n%s", k, err, out)
		}
		fsckTime += time.Since(t1)
		staleLocks += crashCheckRefFiles(t, k, gitdir)
		// A packer killed half-way leaves a temporary pack, which the next
		// writer removes: there is never more than one or two.
		if tmp, _ := filepath.Glob(filepath.Join(gitdir, "objects", "pack", "tmp_*")); len(tmp) > 4 {
			t.Errorf("kill %d: temporary files pile up in objects/pack: %q", k, tmp)
		}
		crashCheckCommits(t, k, gitdir, committed)
		if t.Failed() {
			return
		}
	}
	for b, ids := range committed {
		t.Logf("%s: %d commits reported", b, len(ids))
	}
	t.Logf("%d kills (SIGKILL) in %v; %d commits reported and found on their branches; checked with git fsck --strict (%v in all)",
		kills, time.Since(started).Round(time.Millisecond), total, fsckTime.Round(time.Millisecond))
	t.Logf("writer start to its first commit: slowest %v, %d of %d over 1s; lock files seen after kills: %d; writer errors: %d",
		slowestStart.Round(time.Millisecond), slowStarts, kills, staleLocks, writerErrors)
}

// crashCheckRefFiles checks that every ref file under refs/heads holds a
// commit id, and returns the number of lock files left there.
func crashCheckRefFiles(t *testing.T, k int, gitdir string) (locks int) {
	t.Helper()
	root := filepath.Join(gitdir, "refs", "heads")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(path, ".lock") {
			locks++
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("kill %d: ref %s unreadable: %v", k, path, err)
		} else if !refContent.Match(data) {
			t.Errorf("kill %d: ref %s holds %q, want a commit id and a newline", k, path, data)
		}
		return nil
	})
	if err != nil {
		t.Errorf("kill %d: walking refs: %v", k, err)
	}
	return locks
}

// crashCheckCommits checks that every reported commit exists and is an
// ancestor of (or equal to) its branch head.
func crashCheckCommits(t *testing.T, k int, gitdir string, committed map[dkstore.BranchName][]string) {
	t.Helper()
	var all strings.Builder
	for _, ids := range committed {
		for _, id := range ids {
			all.WriteString(id + "\n")
		}
	}
	out := gitRun{stdin: []byte(all.String())}.run(t, "--git-dir", gitdir, "cat-file", "--batch-check")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) < 2 || f[1] != "commit" {
			t.Errorf("kill %d: a reported commit is not in the repository: git cat-file --batch-check says %q", k, sc.Text())
		}
	}
	for b, ids := range committed {
		reachable := map[string]bool{}
		for _, id := range strings.Fields(gitDir(t, gitdir, "rev-list", b.Ref())) {
			reachable[id] = true
		}
		for _, id := range ids {
			if !reachable[id] {
				t.Errorf("kill %d: commit %s reported on %s is not reachable from it", k, id, b)
			}
		}
		last := ids[len(ids)-1]
		if _, err := (gitRun{}).try(t, "--git-dir", gitdir, "merge-base", "--is-ancestor", last, b.Ref()); err != nil {
			t.Errorf("kill %d: git merge-base --is-ancestor %s %s: %v", k, last, b, err)
		}
	}
}

// TestCrashDuringCreate reopens a store whose creation was cut short: a
// writer killed inside Open, after it made the Git directory's folders but
// before it wrote HEAD and config, leaves exactly this. The next Open must
// finish the job, or git cannot read the repository.
func TestCrashDuringCreate(t *testing.T) {
	compatNeedGit(t)
	dir := t.TempDir()
	gitdir := filepath.Join(dir, ".git")
	for _, d := range []string{"objects/info", "objects/pack", "refs/heads", "refs/tags"} {
		if err := os.MkdirAll(filepath.Join(gitdir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := dkstore.Open(dir, dkstore.Options{})
	if err != nil {
		t.Fatalf("Open after an interrupted creation: %v", err)
	}
	defer s.Close()
	b, err := s.Branch("master")
	if err != nil {
		t.Fatal(err)
	}
	id := commitFiles(t, b, "after the crash\n", map[dkstore.Path]compatFile{"f": {dkstore.KindFile, []byte("f\n")}})
	if out, err := (gitRun{}).try(t, "--git-dir", gitdir, "rev-parse", "master"); err != nil || strings.TrimSpace(out) != id.String() {
		t.Errorf("git rev-parse master = %q, %v; want %s (is %s a Git directory? HEAD: %v)", out, err, id, gitdir, crashStat(gitdir, "HEAD"))
	}
	if out, err := (gitRun{}).try(t, "--git-dir", gitdir, "fsck", "--strict", "--no-progress"); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, out)
	}
}

func crashStat(dir, name string) error {
	_, err := os.Stat(filepath.Join(dir, name))
	return err
}
