package dkstore_test

// Auto-push to mirrors made with git init --bare, checked with git
// rev-parse in the mirror.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
)

// pushCall is one OnPush call.
type pushCall struct {
	branches []dkstore.BranchName
	d        time.Duration
	err      error
	at       time.Time
}

// pushRecorder records the OnPush calls of an AutoPush.
type pushRecorder struct {
	mu    sync.Mutex
	calls []pushCall
}

func (r *pushRecorder) onPush(branches []dkstore.BranchName, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, pushCall{branches, d, err, time.Now()})
}

func (r *pushRecorder) get() []pushCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// pushLog is a concurrency-safe buffer for a store's log.
type pushLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *pushLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *pushLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// pushStore opens an on-disk store that logs to log (if not nil).
func pushStore(t *testing.T, log *pushLog) *dkstore.GitStore {
	t.Helper()
	var opts dkstore.Options
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := dkstore.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pushStart runs AutoPush in a goroutine with opts (its OnPush calls are
// recorded by the returned recorder) once it watches the store, and
// returns a function that cancels it and returns its error. The test's
// cleanup calls that too.
func pushStart(t *testing.T, s *dkstore.GitStore, url string, opts dkstore.AutoPushOptions) (*pushRecorder, func() error) {
	t.Helper()
	rec := &pushRecorder{}
	opts.OnPush = rec.onPush
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	watching := s.OpenWatches()
	go func() { done <- s.AutoPush(ctx, url, opts) }()
	// Changes made before AutoPush watches are not its to push: wait.
	for s.OpenWatches() == watching {
		select {
		case err := <-done:
			t.Fatalf("AutoPush(%q) = %v at once", url, err)
		case <-time.After(time.Millisecond):
		}
	}
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("AutoPush(%q) still running 10s after its context was cancelled", url)
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return rec, stop
}

// pushWaitMirror waits until branch b of the bare repository mirror is at
// want (absent for the zero CommitID).
func pushWaitMirror(t *testing.T, mirror string, b dkstore.BranchName, want dkstore.CommitID) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, ok := gitfixture.RevParse(t, mirror, "refs/heads/"+string(b))
		if want.IsZero() && !ok || ok && got == want.String() {
			return
		}
		if time.Now().After(deadline) {
			if want.IsZero() {
				t.Fatalf("mirror %s has %s at %s, want it deleted", mirror, b, got)
			}
			t.Fatalf("mirror %s has %s at %q, want %s", mirror, b, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pushDelete deletes branch b of s.
func pushDelete(t *testing.T, s dkstore.Store, b dkstore.BranchName) {
	t.Helper()
	br, err := s.Branch(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Delete(t.Context()); err != nil {
		t.Fatalf("Delete(%s) = %v", b, err)
	}
}

// pushFast is AutoPushOptions quick enough for tests.
var pushFast = dkstore.AutoPushOptions{Delay: 50 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}

func TestAutoPush(t *testing.T) {
	gitfixture.Need(t)
	for _, tr := range []struct {
		name string
		url  func(t *testing.T, root string) string // of root/mirror.git
	}{
		{"path", func(t *testing.T, root string) string { return filepath.Join(root, "mirror.git") }},
		{"file URL", func(t *testing.T, root string) string {
			return "file://" + filepath.ToSlash(filepath.Join(root, "mirror.git"))
		}},
		{"git daemon", func(t *testing.T, root string) string { return gitfixture.Daemon(t, root, true) + "/mirror.git" }},
		{"smart HTTP", func(t *testing.T, root string) string { return gitfixture.HTTP(t, root, true) + "/mirror.git" }},
	} {
		t.Run(tr.name, func(t *testing.T) {
			root := t.TempDir()
			mirror := filepath.Join(root, "mirror.git")
			gitfixture.InitBare(t, mirror)
			url := tr.url(t, root)
			s := pushStore(t, nil)
			rec, stop := pushStart(t, s, url, pushFast)

			// New branches arrive.
			m1 := remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a\n"})
			f1 := remoteCommit(t, s, "feature/x", map[dkstore.Path]string{"b/c": "c\n"})
			pushWaitMirror(t, mirror, "master", m1)
			pushWaitMirror(t, mirror, "feature/x", f1)
			if got := gitfixture.Git(t, "", "--git-dir", mirror, "show", f1.String()+":b/c"); got != "c" {
				t.Errorf("git show %s:b/c in the mirror = %q, want %q", f1, got, "c")
			}

			// Moved branches follow; deleted ones disappear.
			m2 := remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a2\n"})
			pushDelete(t, s, "feature/x")
			pushWaitMirror(t, mirror, "master", m2)
			pushWaitMirror(t, mirror, "feature/x", dkstore.CommitID{})

			// A branch recreated with unrelated history is force-pushed.
			// Not master: the mirror's HEAD, whose deletion git refuses
			// if the deletion happens to be pushed on its own.
			t1 := remoteCommit(t, s, "topic", map[dkstore.Path]string{"y": "y\n"})
			pushWaitMirror(t, mirror, "topic", t1)
			pushDelete(t, s, "topic")
			t2 := remoteCommit(t, s, "topic", map[dkstore.Path]string{"z": "z\n"})
			pushWaitMirror(t, mirror, "topic", t2)

			gitfixture.Git(t, "", "--git-dir", mirror, "fsck", "--strict", "--no-progress")
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("AutoPush() after cancel = %v, want context.Canceled", err)
			}
			for _, c := range rec.get() {
				if c.err != nil {
					t.Errorf("push of %v failed: %v", c.branches, c.err)
				}
				if c.d <= 0 {
					t.Errorf("push of %v took %v, want a positive duration", c.branches, c.d)
				}
			}
		})
	}
}

// TestAutoPushBatches checks that changes within Delay of the first one
// are pushed together, once.
func TestAutoPushBatches(t *testing.T) {
	gitfixture.Need(t)
	mirror := filepath.Join(t.TempDir(), "mirror.git")
	gitfixture.InitBare(t, mirror)
	s := pushStore(t, nil)
	opts := pushFast
	opts.Delay = 1500 * time.Millisecond
	rec, _ := pushStart(t, s, mirror, opts)

	start := time.Now()
	var master, other dkstore.CommitID
	for i := range 5 {
		master = remoteCommit(t, s, "master", map[dkstore.Path]string{"n": strings.Repeat("x", i)})
		other = remoteCommit(t, s, "other", map[dkstore.Path]string{"n": strings.Repeat("y", i)})
	}
	if took := time.Since(start); took > opts.Delay/2 {
		t.Skipf("committing took %v, too long to test batching within %v", took, opts.Delay)
	}
	pushWaitMirror(t, mirror, "master", master)
	pushWaitMirror(t, mirror, "other", other)
	time.Sleep(2 * opts.Delay) // room for a wrong second push
	calls := rec.get()
	if len(calls) != 1 {
		t.Fatalf("OnPush calls = %v, want one push of [master other]", calls)
	}
	if want := []dkstore.BranchName{"master", "other"}; !slices.Equal(calls[0].branches, want) || calls[0].err != nil {
		t.Errorf("OnPush(%v, _, %v), want OnPush(%v, _, nil)", calls[0].branches, calls[0].err, want)
	}
	if wait := calls[0].at.Sub(start); wait < opts.Delay {
		t.Errorf("push %v after the first change, want at least Delay = %v", wait, opts.Delay)
	}
}

// TestAutoPushRetries checks that a failing mirror is retried with growing
// waits and, once it works, gets the changes made while it failed.
func TestAutoPushRetries(t *testing.T) {
	gitfixture.Need(t)
	mirror := filepath.Join(t.TempDir(), "mirror.git") // not there yet
	var log pushLog
	s := pushStore(t, &log)
	rec, stop := pushStart(t, s, mirror, pushFast)

	m1 := remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a\n"})
	var calls []pushCall
	for deadline := time.Now().Add(30 * time.Second); len(calls) < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("OnPush calls = %v, want 4 failures", calls)
		}
		calls = rec.get()
	}
	for _, c := range calls[:4] {
		if c.err == nil || !slices.Equal(c.branches, []dkstore.BranchName{"master"}) {
			t.Errorf("OnPush(%v, _, %v) to a missing mirror, want OnPush([master], _, error)", c.branches, c.err)
		}
	}
	// Backoff 20ms, 40ms, 80ms: at least 140ms from the first failure to the fourth.
	if gap := calls[3].at.Sub(calls[0].at); gap < 120*time.Millisecond {
		t.Errorf("4 failed pushes within %v, want a growing backoff (>= 140ms)", gap)
	}
	if !strings.Contains(log.String(), "auto-push failed") {
		t.Errorf("log = %q, want the failures logged", log.String())
	}

	m2 := remoteCommit(t, s, "other", map[dkstore.Path]string{"b": "b\n"})
	gitfixture.InitBare(t, mirror)
	pushWaitMirror(t, mirror, "master", m1)
	pushWaitMirror(t, mirror, "other", m2)
	// The mirror has the refs a moment before OnPush hears of the push.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		calls = rec.get()
		last := calls[len(calls)-1]
		if last.err == nil && slices.Equal(last.branches, []dkstore.BranchName{"master", "other"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last OnPush(%v, _, %v), want OnPush([master other], _, nil)", last.branches, last.err)
		}
	}
	stop()
}

// TestAutoPushAtStart checks that PushAtStart pushes the existing branches.
func TestAutoPushAtStart(t *testing.T) {
	gitfixture.Need(t)
	mirror := filepath.Join(t.TempDir(), "mirror.git")
	gitfixture.InitBare(t, mirror)
	s := pushStore(t, nil)
	a := remoteCommit(t, s, "a", map[dkstore.Path]string{"a": "a\n"})
	b := remoteCommit(t, s, "b", map[dkstore.Path]string{"b": "b\n"})
	opts := pushFast
	opts.PushAtStart = true
	pushStart(t, s, mirror, opts)
	pushWaitMirror(t, mirror, "a", a)
	pushWaitMirror(t, mirror, "b", b)
}

func TestAutoPushInvalid(t *testing.T) {
	ctx := t.Context()
	mem := dkstore.NewMemory(dkstore.Options{})
	defer mem.Close()
	disk := pushStore(t, nil)
	for _, c := range []struct {
		name   string
		s      *dkstore.GitStore
		url    string
		reason string
	}{
		{"memory", mem, t.TempDir(), "auto-push needs an on-disk store (--git)"},
		{"no URL", disk, "", "no mirror url"},
		{"bad URL", disk, "http://[::1/x", "invalid mirror url"},
		{"bad scheme", disk, "gopher://example.com/x", "invalid mirror url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.AutoPush(ctx, c.url, dkstore.AutoPushOptions{})
			if !errors.Is(err, dkstore.ErrInvalid) || !strings.HasPrefix(dkstore.Reason(err), c.reason) {
				t.Errorf("AutoPush(%q) = %v, want an ErrInvalid error %q", c.url, err, c.reason)
			}
		})
	}
	if n := disk.OpenWatches(); n != 0 {
		t.Errorf("OpenWatches() = %d after failed AutoPush calls, want 0", n)
	}
}

// TestAutoPushStops checks that AutoPush ends when its context is
// cancelled, whatever it is doing, or when the store closes, and leaves no
// goroutine behind.
func TestAutoPushStops(t *testing.T) {
	gitfixture.Need(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hung := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				close(hung)
				return
			}
			hung <- c // never answered
		}
	}()

	t.Run("idle", func(t *testing.T) {
		mirror := filepath.Join(t.TempDir(), "mirror.git")
		gitfixture.InitBare(t, mirror)
		s := pushStore(t, nil)
		_, stop := pushStart(t, s, mirror, pushFast)
		m := remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a\n"})
		pushWaitMirror(t, mirror, "master", m)
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("AutoPush() after cancel = %v, want context.Canceled", err)
		}
		if n := s.OpenWatches(); n != 0 {
			t.Errorf("OpenWatches() = %d after AutoPush returned, want 0", n)
		}
	})
	t.Run("batching", func(t *testing.T) {
		s := pushStore(t, nil)
		opts := pushFast
		opts.Delay = time.Hour
		_, stop := pushStart(t, s, filepath.Join(t.TempDir(), "mirror.git"), opts)
		remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a\n"})
		time.Sleep(50 * time.Millisecond)
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("AutoPush() after cancel = %v, want context.Canceled", err)
		}
	})
	t.Run("backoff", func(t *testing.T) {
		s := pushStore(t, nil)
		opts := pushFast
		opts.MinBackoff, opts.MaxBackoff = time.Hour, time.Hour
		rec, stop := pushStart(t, s, filepath.Join(t.TempDir(), "missing.git"), opts)
		remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a\n"})
		for deadline := time.Now().Add(30 * time.Second); len(rec.get()) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no push attempted in 30s")
			}
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("AutoPush() after cancel = %v, want context.Canceled", err)
		}
	})
	t.Run("pushing", func(t *testing.T) {
		s := pushStore(t, nil)
		rec, stop := pushStart(t, s, "git://"+hang.Addr().String()+"/mirror.git", pushFast)
		remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a\n"})
		select {
		case <-hung:
		case <-time.After(30 * time.Second):
			t.Fatal("no push reached the mirror in 30s")
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("AutoPush() after cancel = %v, want context.Canceled", err)
		}
		if calls := rec.get(); len(calls) != 0 {
			t.Errorf("OnPush calls = %v for a push cut short by cancellation, want none", calls)
		}
	})
	t.Run("store closed", func(t *testing.T) {
		s := pushStore(t, nil)
		done := make(chan error, 1)
		go func() { done <- s.AutoPush(t.Context(), t.TempDir(), pushFast) }()
		time.Sleep(50 * time.Millisecond)
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, dkstore.ErrClosed) {
				t.Errorf("AutoPush() after Close = %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("AutoPush still running 10s after the store closed")
		}
	})

	hang.Close()
	for c := range hung {
		c.Close()
	}
}
