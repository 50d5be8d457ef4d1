package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

// TestDockerImage builds the FROM scratch image as `make image` does, runs
// it, commits through the Go client and reads the commit back after a
// restart of the container (the store is on a volume).
func TestDockerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds a Docker image; not in -short mode")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker is needed (docker info: %v)", err)
		}
		t.Skipf("SKIP: no Docker engine (%v)", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("go", "build", "-trimpath", "-o", "bin/datakit-static", "./cmd/datakit")
	// A tag and volume of this run's own, so that runs (-count, parallel CI jobs)
	// never remove each other's image.
	run1 := strings.ToLower(filepath.Base(filepath.Dir(t.TempDir()))) // e.g. testdockerimage1234567
	tag := "datakit-test:" + run1
	run("docker", "build", "-q", "-t", tag, ".")
	// Cleanups run last-in first-out: the containers go before the image.
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	volume := "datakit-test-" + run1
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", volume).Run() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	start := func() string {
		id := run("docker", "run", "-d", "-p", "127.0.0.1:"+itoa(port)+":5640", "-v", volume+":/data", tag)
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
		return id
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := func() *ninep.Client {
		t.Helper()
		for {
			c, err := ninep.Dial(ctx, "tcp://127.0.0.1:"+itoa(port), ninep.ClientOptions{})
			if err == nil {
				return c
			}
			if ctx.Err() != nil {
				t.Fatalf("dial the container: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	id := start()
	c := dial()
	b, _ := c.Branch("master")
	tx, err := b.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx.WriteFile(ctx, "hello", []byte("from the image\n"), dkstore.KindFile)
	head, err := tx.Commit(ctx, "in a container")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	run("docker", "stop", "-t", "10", id) // SIGTERM: a clean stop
	start()
	c = dial()
	defer c.Close()
	b, _ = c.Branch("master")
	if got, err := b.Head(ctx); err != nil || got != head {
		t.Fatalf("after restart Head() = %v, %v; want %v", got, err, head)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
