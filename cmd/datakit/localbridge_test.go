package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/ninep"
)

// serveMemory serves an in-memory store on loopback TCP until the test
// ends, and returns the store and the URL to dial.
func serveMemory(t *testing.T) (*dkstore.GitStore, string) {
	t.Helper()
	st := dkstore.NewMemory(dkstore.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ninep.NewServer(st, ninep.Options{}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
		st.Close()
	})
	return st, "tcp://" + ln.Addr().String()
}

// waitBranch waits until the store's metadata has ref heads/<name> of
// repo at head.
func waitBranch(t *testing.T, st dkstore.Store, repo bridge.Repo, name, head string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _, err := bridge.Snapshot(context.Background(), st, bridge.DefaultBranch)
		if err != nil {
			t.Fatal(err)
		}
		ref, ok, err := bridge.ReadRef(context.Background(), r, repo, "heads/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if ok && ref.Head == head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("branch %s of %s is not %s after 10s (got %+v, %v)", name, repo, head, ref, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is an io.Writer for several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLocalBridge(t *testing.T) {
	st, url := serveMemory(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)
	g.Git("branch", "feature/x", c1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"local-bridge", "--store", url, "--interval", "50ms", "-v", "me/proj:" + g.Dir}, io.Discard, &stderr)
	}()
	repo := bridge.Repo{User: "me", Name: "proj"}
	waitBranch(t, st, repo, "master", c1)
	waitBranch(t, st, repo, "feature/x", c1)
	c2 := g.Commit("two", nil)
	waitBranch(t, st, repo, "master", c2)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("local-bridge did not stop when its context ended")
	}
	for _, want := range []string{"mirroring me/proj:", "Tracking new branch master of me/proj", "stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// A server that goes away and comes back is connected to again.
func TestLocalBridgeReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) (*dkstore.GitStore, func()) {
		st := dkstore.NewMemory(dkstore.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ninep.NewServer(st, ninep.Options{}).Serve(ctx, ln) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve = %v", err)
				}
				st.Close()
			})
		}
		t.Cleanup(stop)
		return st, stop
	}
	st1, stop1 := serve(ln)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"local-bridge", "--store", "tcp://" + addr, "me/proj:" + g.Dir}, io.Discard, &stderr)
	}()
	repo := bridge.Repo{User: "me", Name: "proj"}
	waitBranch(t, st1, repo, "master", c1)

	stop1()
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	st2, _ := serve(ln2)
	c2 := g.Commit("two", nil)
	waitBranch(t, st2, repo, "master", c2) // a new, empty store: all of it again
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("local-bridge did not stop")
	}
	if !strings.Contains(stderr.String(), "connecting again") {
		t.Errorf("stderr does not mention the reconnection:\n%s", stderr.String())
	}
}

// The binary itself: built, run against the server, stopped by SIGINT.
func TestLocalBridgeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds the datakit binary; not in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "datakit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, url := serveMemory(t)
	g := gitfixture.NewRepo(t, t.TempDir())
	c1 := g.Commit("one", nil)

	var stderr lockedBuffer
	cmd := exec.Command(bin, "local-bridge", "--store", url, "me/proj:"+g.Dir)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitBranch(t, st, bridge.Repo{User: "me", Name: "proj"}, "master", c1)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("datakit local-bridge exited with %v after SIGINT\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("datakit local-bridge did not exit after SIGINT\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr lacks \"stopped\":\n%s", stderr.String())
	}
}

func TestLocalBridgeUsage(t *testing.T) {
	_, url := serveMemory(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string // in the error or the output
	}{
		{"help", []string{"--help"}, "Usage: datakit local-bridge"},
		{"no sources", nil, "at least one USER/REPO:PATH"},
		{"no path", []string{"--store", url, "me/proj"}, "want USER/REPO:PATH"},
		{"bad repo", []string{"--store", url, "me/a b:" + dir}, "invalid repository"},
		{"bad branch", []string{"--store", url, "--branch", "a..b", "me/p:" + dir}, "--branch"},
		{"bad interval", []string{"--store", url, "--interval", "0s", "me/p:" + dir}, "--interval"},
		{"no server", []string{"--store", "tcp://127.0.0.1:1", "me/p:" + dir}, "127.0.0.1:1"},
		{"refused", []string{"--store", url, "--refuse", filepath.Join(dir, ".git"), "me/p:" + dir}, "refusing to watch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "refused" {
				gitfixture.NewRepo(t, dir)
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, append([]string{"local-bridge"}, c.args...), &out, &out)
			if err == nil {
				t.Fatalf("run succeeded; output:\n%s", out.String())
			}
			if c.name == "help" && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("--help: error %v, want flag.ErrHelp", err)
			}
			if text := err.Error() + "\n" + out.String(); !strings.Contains(text, c.want) {
				t.Errorf("error %v, output:\n%s\nwant %q in either", err, out.String(), c.want)
			}
		})
	}
	// The main usage names the subcommand.
	var out bytes.Buffer
	run(context.Background(), []string{"--help"}, &out, &out)
	if !strings.Contains(out.String(), "datakit local-bridge") {
		t.Errorf("datakit --help does not mention local-bridge:\n%s", out.String())
	}
}
