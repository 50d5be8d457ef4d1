package cimain_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/term"
)

// cfg is the CI most tests run.
func cfg() ci.Config {
	return ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"t": term.Return("ok")} }}},
		Pools: []*pool.Pool{pool.New("docker", 3, nil)}}
}

func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--canary", "me/p"}, "--canary: invalid target"},
		{[]string{"--canary", "other/p/heads/master", "--store", "memory", "--listen", "off"}, "other/p is not a configured project"},
		{[]string{"--local-repo", "nopath"}, "--local-repo"},
		{[]string{"--local-repo", "me/p:/nonexistent", "--store", "memory", "--listen", "off"}, "--local-repo me/p:/nonexistent: dkstore: open repository /nonexistent"},
		{[]string{"--local-repo", "me/p:" + t.TempDir(), "--store", "memory", "--listen", "off"}, "not a Git repository"},
		{[]string{"--store", "ftp://x", "--listen", "off"}, "--store"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"status", "--state-dir", t.TempDir(), "extra"}, `status: unexpected argument "extra"`},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
	} {
		var stderr bytes.Buffer
		err := cimain.Run(context.Background(), cfg, c.args, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), c.want) {
			t.Errorf("Run(%q) = %v (stderr %q), want an error mentioning %q", c.args, err, stderr.String(), c.want)
		}
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := cimain.Run(context.Background(), cfg, []string{"--help"}, io.Discard, &stderr)
	if err == nil {
		t.Fatal("--help returned nil, want flag.ErrHelp")
	}
	for _, want := range []string{"-store", "-web-ui", "-listen", "-secrets-dir", "-canary", "-listen-prometheus", "-local-repo", "-v", "status"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %s:\n%s", want, stderr.String())
		}
	}
}

// TestMetrics scrapes --listen-prometheus: the original's metric names in
// Prometheus style.
func TestMetrics(t *testing.T) {
	port := gitfixture.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cimain.Run(ctx, cfg, []string{"--store", "memory", "--listen", "off", "--listen-prometheus", fmt.Sprintf("127.0.0.1:%d", port)}, io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, "datakitci_engine_active_targets") {
			break
		}
	}
	for _, want := range []string{"datakitci_term_evals_total", "datakitci_engine_connection_attempts_total", "datakitci_engine_connection_failures_total",
		"datakitci_engine_status_updates_total", "datakitci_engine_update_notifications_total", `datakitci_engine_active_targets{type="pr"}`, "go_goroutines", "process_start_time_seconds", `datakitci_pool_capacity{name="docker"} 3`, `datakitci_pool_qlen{name="docker"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestStatusNoStore: status on a state directory that holds no store says
// so, naming it, and creates nothing.
func TestStatusNoStore(t *testing.T) {
	for name, dir := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "nonexistent"),
		"empty":   t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := cimain.Run(context.Background(), cfg, []string{"status", "--state-dir", dir}, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "no store in "+dir) {
				t.Errorf("status --state-dir %s = %v, want an error naming the directory", dir, err)
			}
			if _, err := os.Stat(filepath.Join(dir, ".git")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("status created %s/.git (stat: %v)", dir, err)
			}
			if name == "missing" {
				if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("status created %s (stat: %v)", dir, err)
				}
			}
		})
	}
}

// TestLocalRepoOtherProject: a --local-repo of a repository that is not a
// project runs (a bridge may feed other CIs), with a warning naming the
// projects.
func TestLocalRepoOtherProject(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, t.TempDir())
	repo.Commit("first", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var stderr lockedBuffer
	err := cimain.Run(ctx, cfg, []string{"--store", "memory", "--listen", "off", "--local-repo", "me/other:" + repo.Dir}, io.Discard, &stderr)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := "warning: --local-repo me/other:" + repo.Dir + ": me/other is not a project of this CI (me/p)"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The configuration function is called once, after the flags are parsed,
// by a run and by status; not for --help, --version or bad flags.
func TestConfigureOnce(t *testing.T) {
	state := t.TempDir()
	for _, c := range []struct {
		name  string
		args  []string
		calls int
	}{
		{"help", []string{"--help"}, 0},
		{"version", []string{"--version"}, 0},
		{"bad flag", []string{"--no-such-flag"}, 0},
		{"bad canary", []string{"--canary", "me/p"}, 0},
		{"run", []string{"--store", "memory", "--listen", "off"}, 1},
		{"run on disk", []string{"--state-dir", state, "--listen", "off"}, 1},
		{"status", []string{"status", "--state-dir", state}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			cimain.Run(ctx, func() ci.Config { calls++; return cfg() }, c.args, io.Discard, io.Discard)
			if calls != c.calls {
				t.Errorf("Run(%q) called the configuration function %d times, want %d", c.args, calls, c.calls)
			}
		})
	}
}

// Without --state-dir, the store is in XDG_STATE_HOME/datakit-ci/NAME,
// NAME from the configuration the function returns.
func TestStateDirDefault(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_STATE_HOME", home)
	named := func() ci.Config { c := cfg(); c.Name = "named-ci"; return c }
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := cimain.Run(ctx, named, []string{"--listen", "off"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, "datakit-ci", "named-ci", ".git", "objects")); err != nil {
		t.Errorf("no store in the default state directory: %v", err)
	}
}

// status lists the targets that have jobs, each job with its status (or
// none yet), and no target the pipeline gives no jobs (here tags and
// gh-pages).
func TestStatusOnlyTargetsWithJobs(t *testing.T) {
	state := t.TempDir()
	store, err := dkstore.Open(state, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	br, _ := store.Branch(bridge.DefaultBranch)
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := bridge.ParseRepo("me/p")
	const sha1, sha2, sha3 = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333"
	for _, err := range []error{
		bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/master", Head: sha1}),
		bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/gh-pages", Head: sha2}),
		bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "tags/v1", Head: sha1}),
		bridge.WritePR(ctx, tx, bridge.PR{Repo: repo, Number: 3, Head: sha3, State: "open", Title: "Fix", Owner: "me", Base: "master"}),
		bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: sha1, Context: "ci/datakit/build", State: "success", Description: "Built"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Commit(ctx, "targets"); err != nil {
		t.Fatal(err)
	}
	store.Close()
	config := func() ci.Config {
		return ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(t ci.Target) ci.Jobs {
			if t.IsTag() || t.BranchName() == "gh-pages" {
				return nil
			}
			return ci.Jobs{"build": term.Return("Built"), "test": term.Return("Passed")}
		}}}}
	}
	var stdout bytes.Buffer
	if err := cimain.Run(ctx, config, []string{"status", "--state-dir", state}, &stdout, io.Discard); err != nil {
		t.Fatalf("status: %v", err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n")[1:] {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"me/p/prs/3 3333333 build - no status yet",
		"me/p/prs/3 3333333 test - no status yet",
		"me/p/heads/master 1111111 build success Built",
		"me/p/heads/master 1111111 test - no status yet",
	}
	if !slices.Equal(got, want) {
		t.Errorf("status lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// With --canary, as the CI was run (make run's self-CI tests only the
	// checkout's branch): only that target, as the web UI shows it, not
	// every other branch with "no status yet" it will never get.
	stdout.Reset()
	if err := cimain.Run(ctx, config, []string{"status", "--state-dir", state, "--canary", "me/p/heads/master"}, &stdout, io.Discard); err != nil {
		t.Fatalf("status --canary: %v", err)
	}
	got = nil
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n")[1:] {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	if want := want[2:]; !slices.Equal(got, want) {
		t.Errorf("status --canary lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestVerbose: -v adds debug lines from the engine (the metadata's
// changes, each round's evaluations); without it there are none.
func TestVerbose(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, t.TempDir())
	repo.Commit("first", nil)
	for _, c := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"-v"}, true}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var stderr lockedBuffer
		args := append([]string{"--store", "memory", "--listen", "off", "--local-repo", "me/p:" + repo.Dir}, c.args...)
		if err := cimain.Run(ctx, cfg, args, io.Discard, &stderr); err != nil {
			t.Fatalf("Run: %v", err)
		}
		cancel()
		out := stderr.String()
		for _, line := range []string{" DEBUG metadata changed branch=github-metadata head=", " DEBUG evaluated jobs count=1 statuses=1 took="} {
			if strings.Contains(out, line) != c.want {
				t.Errorf("with %q, stderr has %q: %v, want %v:\n%s", c.args, line, !c.want, c.want, out)
			}
		}
	}
}
