package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

// server is a datakit process.
type server struct {
	cmd    *exec.Cmd
	exited chan error
}

// kill kills the server with SIGKILL and waits for its end.
func (s server) kill() {
	s.cmd.Process.Kill()
	err := <-s.exited
	s.exited <- err // for the cleanup
}

// serve starts the datakit binary serving --git dir on the unix socket
// sock, and waits until it answers there.
func serve(t *testing.T, bin, dir, sock string) server {
	t.Helper()
	var out lockedBuffer
	cmd := exec.Command(bin, "--git", dir, "--listen-9p", "unix://"+sock)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s := server{cmd, exited}
	t.Cleanup(s.kill)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := ninep.Dial(context.Background(), "unix://"+sock, ninep.ClientOptions{}); err == nil {
			c.Close()
			return s
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("datakit exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("datakit does not answer on %s\n%s", sock, out.String())
		}
	}
}

// branches lists the branches of the DataKit at sock.
func branches(t *testing.T, sock string) ([]dkstore.BranchName, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ninep.Dial(ctx, "unix://"+sock, ninep.ClientOptions{})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Branches(ctx)
}

// One server per repository: a second datakit on the same --git exits at
// once, non-zero, naming the first (pid and command line), which goes on
// serving; once the first is killed (SIGKILL), a new one starts there.
func TestOneServerPerGitDir(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds the datakit binary; not in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "datakit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir, socks := t.TempDir(), t.TempDir()
	first := serve(t, bin, dir, filepath.Join(socks, "1"))

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // if it does not give up
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--git", dir, "--listen-9p", "unix://"+filepath.Join(socks, "2")).CombinedOutput()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("the second server took %v to give up", d)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("the second server: %v, want a non-zero exit", err)
	}
	want := fmt.Sprintf("--git %s: dkstore: open %s: in use by another process: pid %d, started as: %s --git %s --listen-9p unix://%s",
		dir, filepath.Join(dir, ".git"), first.cmd.Process.Pid, bin, dir, filepath.Join(socks, "1"))
	if !strings.Contains(string(out), want) {
		t.Errorf("the second server says:\n%s\nwant it to say %q", out, want)
	}

	if _, err := branches(t, filepath.Join(socks, "1")); err != nil {
		t.Errorf("the first server no longer serves: %v", err)
	}
	first.kill()
	serve(t, bin, dir, filepath.Join(socks, "3"))
	if _, err := branches(t, filepath.Join(socks, "3")); err != nil {
		t.Errorf("the server started after the first was killed does not serve: %v", err)
	}
}
