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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/term"
)

var cfg = ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"t": term.Return("ok")} }}},
	Pools: []*pool.Pool{pool.New("docker", 3, nil)}}

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
