package ninep

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// diodTool finds one of diod's client tools (Debian package diod).
func diodTool(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: install Debian's diod package (make deps does)", name)
	}
	t.Skipf("SKIP: %s not found (Debian package diod)", name)
	return ""
}

// TestDiodTools: diod's userspace client lists and reads our tree. It asks
// for authentication first, which we answer "not required".
func TestDiodTools(t *testing.T) {
	diodls, diodcat := diodTool(t, "diodls"), diodTool(t, "diodcat")
	st, srv := testServer(t)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	addr := ln.Addr().String()
	run := func(tool string, args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, tool, append([]string{"-s", addr, "-a", "/", "-t", "10"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
		}
		return string(out)
	}
	if got, want := run(diodls, "/"), "branch\ncommits\ndebug\nremotes\nsnapshots\ntrees\n"; got != want {
		t.Errorf("diodls / = %q, want %q", got, want)
	}
	if got := run(diodls, "branch/master/ro/a"); got != "b\n" {
		t.Errorf("diodls branch/master/ro/a = %q, want %q", got, "b\n")
	}
	if got := run(diodcat, "branch/master/ro/a/b"); got != "hello\n" {
		t.Errorf("diodcat branch/master/ro/a/b = %q, want %q", got, "hello\n")
	}
	b, _ := st.Branch("master")
	head, _ := b.Head(ctx)
	if got := run(diodcat, "branch/master/head"); strings.TrimSpace(got) != head.String() {
		t.Errorf("diodcat head = %q, want %s", got, head)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
