package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

// syncBuffer is a bytes.Buffer that run writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until out contains want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output after a minute:\n%s", want, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSettings runs the program against a DataKit server over 9P, changes
// settings from another client as a shell user would, and reads the
// changes in its output; the state branch holds what it uses.
func TestSettings(t *testing.T) {
	defer goleak.VerifyNone(t)
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- ninep.NewServer(store, ninep.Options{}).Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	}()
	addr := "tcp://" + ln.Addr().String()

	var out syncBuffer
	progCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- run(progCtx, []string{"--addr", addr}, &out) }()
	waitFor(t, &out, "proxy = (none)")
	for _, want := range []string{"cpus = 2\n", "memory-mib = 2048\n", `name = "default-vm"`, "gui = false\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output:\n%s", want, &out)
		}
	}

	master, err := store.Branch("master")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := master.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx.WriteFile(ctx, "vm/cpus", []byte("4\n"), dkstore.KindFile)
	tx.WriteFile(ctx, "vm/proxy", []byte("http://proxy:3128\n"), dkstore.KindFile)
	if _, err := tx.Commit(ctx, "More CPUs, and a proxy"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, `proxy = "http://proxy:3128"`)
	if !strings.Contains(out.String(), ": cpus = 4\n") || strings.Contains(out.String(), ": memory-mib") {
		t.Errorf("the change's lines are wrong:\n%s", &out)
	}
	stop()
	if err := <-ran; err != nil {
		t.Errorf("run() = %v after an interrupt, want nil", err)
	}

	state, err := store.Branch("state")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := state.Head(ctx)
	c, err := store.Commit(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := store.Tree(ctx, c.Tree)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tree.ReadFile(ctx, "vm/cpus"); err != nil || string(got) != "4" {
		t.Errorf("state: vm/cpus = %q, %v; want 4", got, err)
	}
}

// TestSettingsOnce: --once on a store of its own prints the defaults.
func TestSettingsOnce(t *testing.T) {
	var out syncBuffer
	if err := run(t.Context(), []string{"--git", t.TempDir(), "--once"}, &out); err != nil {
		t.Fatalf("run() = %v", err)
	}
	if !strings.Contains(out.String(), "cpus = 2\n") {
		t.Errorf("output:\n%s", &out)
	}
}

// TestSettingsBadValueSaysWhy: a value that does not parse counts as the
// default, and the program says so (it printed only "cpus = 2", and the
// user who typed "lots" could not tell why).
func TestSettingsBadValueSaysWhy(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	store, err := dkstore.Open(dir, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	master, err := store.Branch("master")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := master.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx.WriteFile(ctx, "vm/cpus", []byte("lots\n"), dkstore.KindFile)
	if _, err := tx.Commit(ctx, "Many CPUs"); err != nil {
		t.Fatal(err)
	}
	store.Close()
	var out syncBuffer
	if err := run(ctx, []string{"--git", dir, "--once"}, &out); err != nil {
		t.Fatalf("run() = %v", err)
	}
	if !strings.Contains(out.String(), "cpus = 2\n") || strings.Count(out.String(), `value="lots`) != 1 {
		t.Errorf("want one warning about the value lots, and the default 2:\n%s", &out)
	}
}
