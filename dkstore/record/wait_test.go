package record_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/record"
)

// TestWaitIgnoresNoise: commits that change no field's value (outside the
// record's directory, a key no field has, the same value in other bytes)
// neither end Wait nor make a version; the next real change makes exactly
// one.
func TestWaitIgnoresNoise(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		r := open(t, s.rec, testOptions)
		n := intField(t, r, "n", 1)
		flag := boolField(t, r, "flag", false)
		seal(t, r)
		v0 := r.Version()
		write(t, s.other, "master", map[string]string{"elsewhere/n": "5"})
		write(t, s.other, "master", map[string]string{"tests/unknown": "5"})
		write(t, s.other, "master", map[string]string{"tests/n": " 1\n", "tests/flag": "F"})
		write(t, s.other, "defaults", map[string]string{"tests/other": "x"})
		write(t, s.other, "master", map[string]string{"tests/flag": "yes"}) // does not parse: the default
		// The noise reaches the watches within the short wait on an idle
		// machine (on a busy one this part may test less, but never fails).
		short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if v, err := r.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait() after noise = %d, %v; want DeadlineExceeded", v, err)
		}
		write(t, s.other, "master", map[string]string{"tests/n": "2"})
		v := wait(t, r)
		if v != v0+1 {
			t.Errorf("Wait() = version %d, want %d: one change", v, v0+1)
		}
		if got, nv := n.Get(); got != 2 || nv != v {
			t.Errorf("n = %d at version %d, want 2 at %d", got, nv, v)
		}
		if flag.HasChanged(v0) {
			t.Error("flag changed")
		}
	})
}

// TestWaitAfter: WaitAfter returns at once for a version the record has
// passed, so that a change between a Get and the wait is not missed.
func TestWaitAfter(t *testing.T) {
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	r := open(t, s, testOptions)
	n := intField(t, r, "n", 1)
	_, v := n.Get()
	write(t, s, "master", map[string]string{"tests/n": "2"})
	wait(t, r) // another goroutine's Wait evaluates the change
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	got, err := r.WaitAfter(ctx, v)
	if err != nil || got <= v {
		t.Fatalf("WaitAfter(%d) = %d, %v; want a later version at once", v, got, err)
	}
	if !n.HasChanged(v) {
		t.Error("n has not changed")
	}
}

// TestGitCommandReachesWait: a commit made by the git command in an
// on-disk store, beside the program, reaches the program's Wait.
func TestGitCommandReachesWait(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	s, err := dkstore.Open(dir, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := open(t, s, testOptions)
	n := intField(t, r, "n", 1)
	seal(t, r)
	_, v := n.Get()

	gitDir := dir + "/.git"
	env := append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "HOME="+t.TempDir(),
		"GIT_INDEX_FILE="+t.TempDir()+"/index", "GIT_AUTHOR_NAME=me", "GIT_AUTHOR_EMAIL=me@example.com",
		"GIT_COMMITTER_NAME=me", "GIT_COMMITTER_EMAIL=me@example.com")
	git := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"--git-dir", gitDir}, args...)...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	old := git("", "rev-parse", "refs/heads/master")
	git("", "read-tree", "refs/heads/master")
	blob := git("3\n", "hash-object", "-w", "--stdin")
	git("", "update-index", "--add", "--cacheinfo", "100644,"+blob+",tests/n")
	tree := git("", "write-tree")
	commit := git("", "commit-tree", tree, "-p", old, "-m", "set n with git")
	git("", "update-ref", "refs/heads/master", commit, old)

	got := wait(t, r)
	if x, xv := n.Get(); x != 3 || xv != got || xv <= v {
		t.Errorf("n = %d at version %d after git's commit, want 3 at %d", x, xv, got)
	}
}

// TestNoLostUpdate: a value that goes back and forth while other branches
// move is never lost. (Evaluating from heads the watches had not returned
// yet lost the way back: a watch that lagged behind a change and its
// undoing had nothing new to report.)
func TestNoLostUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		r := open(t, s.rec, record.Options{
			Lookup:   []dkstore.BranchName{"user", "defaults"},
			Defaults: "defaults",
			Dir:      "app",
		})
		mode := stringField(t, r, "mode", "fast")
		until := func(want string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			for {
				v := r.Version()
				if got, _ := mode.Get(); got == want {
					return
				}
				if _, err := r.WaitAfter(ctx, v); err != nil {
					got, _ := mode.Get()
					t.Fatalf("waiting for mode %q (it is %q): %v", want, got, err)
				}
			}
		}
		for i := range 30 {
			write(t, s.other, "defaults", map[string]string{"app/noise": strconv.Itoa(i)})
			write(t, s.other, "user", map[string]string{"app/mode": "turbo"})
			until("turbo")
			write(t, s.other, "defaults", map[string]string{"app/noise2": strconv.Itoa(i)})
			write(t, s.other, "user", map[string]string{"app/mode": ""})
			until("fast")
		}
	})
}

// laggingStore holds back the watches of one branch until release is
// closed: a watch that lags behind the branch, as one does on a busy
// machine.
type laggingStore struct {
	dkstore.Store
	branch  dkstore.BranchName
	release chan struct{}
}

type laggingBranch struct {
	dkstore.Branch
	s *laggingStore
}

type laggingWatch[T any] struct {
	dkstore.Watch[T]
	s     *laggingStore
	first bool
}

func (s *laggingStore) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(name)
	if err != nil || name != s.branch {
		return b, err
	}
	return laggingBranch{b, s}, nil
}

func (b laggingBranch) WatchHead(ctx context.Context) (dkstore.Watch[dkstore.CommitID], error) {
	w, err := b.Branch.WatchHead(ctx)
	return &laggingWatch[dkstore.CommitID]{w, b.s, true}, err
}

func (b laggingBranch) WatchPath(ctx context.Context, p dkstore.Path) (dkstore.Watch[dkstore.Object], error) {
	w, err := b.Branch.WatchPath(ctx, p)
	return &laggingWatch[dkstore.Object]{w, b.s, true}, err
}

// Next returns the first value at once, and holds back the later ones.
func (w *laggingWatch[T]) Next(ctx context.Context) (T, error) {
	if w.first {
		w.first = false
		return w.Watch.Next(ctx)
	}
	select {
	case <-w.s.release:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	return w.Watch.Next(ctx)
}

// TestLaggingWatch: a change and its undoing, both made while the
// branch's watch lags, leave the field at the undone value, even if other
// branches' changes make evaluations meanwhile.
func TestLaggingWatch(t *testing.T) {
	mem := dkstore.NewMemory(dkstore.Options{})
	defer mem.Close()
	s := &laggingStore{Store: mem, branch: "user", release: make(chan struct{})}
	r := open(t, s, record.Options{Lookup: []dkstore.BranchName{"user", "defaults"}, Defaults: "defaults", Dir: "app"})
	mode := stringField(t, r, "mode", "fast")

	write(t, mem, "user", map[string]string{"app/mode": "turbo"})
	write(t, mem, "defaults", map[string]string{"app/noise": "1"})
	short, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	r.Wait(short) // may see turbo, or nothing yet
	write(t, mem, "user", map[string]string{"app/mode": ""})
	close(s.release)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		v := r.Version()
		got, _ := mode.Get()
		if got == "fast" {
			break
		}
		if _, err := r.WaitAfter(ctx, v); err != nil {
			t.Fatalf("mode = %q with the branch back at fast: %v", got, err)
		}
	}
}

// TestNewContext: New's context bounds New only; the record keeps
// watching after it is cancelled.
func TestNewContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx, cancel := context.WithCancel(t.Context())
		r, err := record.New(ctx, s.rec, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		n := intField(t, r, "n", 1)
		cancel()
		write(t, s.other, "master", map[string]string{"tests/n": "2"})
		wait(t, r)
		if got, _ := n.Get(); got != 2 {
			t.Errorf("n = %d, want 2", got)
		}
	})
}

// treeCounter counts the trees a record reads.
type treeCounter struct {
	dkstore.Store
	trees atomic.Int64
}

func (s *treeCounter) Tree(ctx context.Context, h dkstore.Hash) (dkstore.Tree, error) {
	s.trees.Add(1)
	return s.Store.Tree(ctx, h)
}

// TestCommitsElsewhere: commits outside the record's directory are
// recognised by a diff, without reading the fields again.
func TestCommitsElsewhere(t *testing.T) {
	mem := dkstore.NewMemory(dkstore.Options{})
	defer mem.Close()
	s := &treeCounter{Store: mem}
	r := open(t, s, testOptions)
	n := intField(t, r, "n", 1)
	seal(t, r)
	before := s.trees.Load()
	for i := range 5 {
		write(t, mem, "master", map[string]string{"elsewhere/x": strconv.Itoa(i)})
		write(t, mem, "defaults", map[string]string{"testsuite/x": strconv.Itoa(i)})
		seal(t, r)
	}
	if got := s.trees.Load() - before; got != 0 {
		t.Errorf("%d trees read for commits outside tests/, want none", got)
	}
	write(t, mem, "master", map[string]string{"tests/n": "2"})
	seal(t, r)
	if got, _ := n.Get(); got != 2 || s.trees.Load() == before {
		t.Errorf("n = %d after a commit in tests/ (trees read: %d), want 2", got, s.trees.Load()-before)
	}
}
