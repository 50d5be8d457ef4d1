package cimain_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
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

// buildExample builds examples/<name> into a temporary directory.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	return buildProgram(t, "../../examples/"+name)
}

// buildProgram builds the main package in dir into a temporary directory.
func buildProgram(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// process is a CI program running in the background.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGTERM", bin)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), p.output())
		}
	})
	return p
}

// waitStatus polls the store until commit sha of repo has job's status in
// state want.
func waitStatus(t *testing.T, store dkstore.Store, repo, sha, job, want string) bridge.Status {
	t.Helper()
	r, _ := bridge.ParseRepo(repo)
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	var last bridge.Status
	for time.Now().Before(deadline) {
		br, _ := store.Branch(bridge.DefaultBranch)
		if head, err := br.Head(ctx); err == nil && !head.IsZero() {
			c, err := store.Commit(ctx, head)
			if err == nil {
				if tree, err := store.Tree(ctx, c.Tree); err == nil {
					st, ok, _ := bridge.ReadStatus(ctx, tree, r, sha, "ci/datakit/"+job)
					if ok && st.State == want {
						return st
					}
					last = st
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("status %s of %s@%s: got %+v, want state %s", job, repo, sha[:7], last, want)
	return last
}

// TestHelloEndToEnd runs examples/hello as a user would: on a local
// repository with a branch and a PR ref, through --local-repo, with the
// embedded on-disk store; statuses appear for both targets and follow the
// PR when its head moves.
func TestHelloEndToEnd(t *testing.T) {
	gitfixture.Need(t)
	bin := buildExample(t, "hello")
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "project"))
	master := repo.Commit("first", map[string]string{"README": "hello\n"})
	repo.Git("checkout", "-q", "-b", "feature")
	pr1 := repo.Commit("Add a feature", map[string]string{"feature": "1\n"})
	repo.SetPR(1, pr1)
	state := t.TempDir()

	p := start(t, bin, "--state-dir", state, "--listen", "127.0.0.1:0", "--local-repo", "me/my-project:"+repo.Dir)

	store, err := dkstore.Open(state, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st := waitStatus(t, store, "me/my-project", master, "my-test", "success")
	if st.Description != "Success!" {
		t.Errorf("description = %q", st.Description)
	}
	waitStatus(t, store, "me/my-project", pr1, "my-test", "success")

	pr1b := repo.Commit("Fix the feature", map[string]string{"feature": "2\n"})
	repo.SetPR(1, pr1b)
	waitStatus(t, store, "me/my-project", pr1b, "my-test", "success")

	// the status command lists the targets from the store
	out, err := exec.Command(bin, "status", "--state-dir", state).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"me/my-project/prs/1", pr1b[:7], "me/my-project/heads/master", "my-test", "success", "Success!"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(p.output(), `(`+pr1b[:7]+`) my-test: success "Success!"`) {
		t.Errorf("no readable log line for the status change; output:\n%s", p.output())
	}
}

// TestRemoteStoreReconnects runs the CI against a DataKit over 9P that
// goes away and comes back: the CI reconnects and carries on.
func TestRemoteStoreReconnects(t *testing.T) {
	gitfixture.Need(t)
	bin := buildExample(t, "hello")
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "project"))
	master := repo.Commit("first", map[string]string{"README": "hello\n"})

	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			ninep.NewServer(store, ninep.Options{}).Serve(ctx, ln)
		}()
		return func() { cancel(); ln.Close(); <-done }
	}
	stop := serve(ln)

	p := start(t, bin, "--store", "tcp://"+addr, "--listen", "off", "--local-repo", "me/my-project:"+repo.Dir)
	waitStatus(t, store, "me/my-project", master, "my-test", "success")

	stop() // the server goes away, with its connections
	time.Sleep(300 * time.Millisecond)
	second := repo.Commit("second", map[string]string{"README": "hello again\n"})
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	stop = serve(ln2)
	defer stop()
	waitStatus(t, store, "me/my-project", second, "my-test", "success")
	select {
	case err := <-p.done:
		t.Fatalf("the CI exited: %v", err)
	default:
	}
	if !strings.Contains(p.output(), "reconnecting") {
		t.Errorf("no reconnection logged:\n%s", p.output())
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// TestListen9P: a CI with an in-memory store serves it over 9P; a bridge
// elsewhere (here, the test through the Go client) feeds it targets and
// reads the statuses back.
func TestListen9P(t *testing.T) {
	bin := buildExample(t, "hello")
	sock := filepath.Join(t.TempDir(), "ci.sock")
	start(t, bin, "--store", "memory", "--listen", "off", "--listen-9p", "unix://"+sock)
	ctx := context.Background()
	var store dkstore.Store
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := ninep.Dial(ctx, "unix://"+sock, ninep.ClientOptions{})
		if err == nil {
			store = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dialing the CI's 9P socket: %v", err)
		}
	}
	defer store.Close()
	br, _ := store.Branch(bridge.DefaultBranch)
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := bridge.ParseRepo("me/my-project")
	const head = "abcdef0123456789abcdef0123456789abcdef01"
	if err := bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/master", Head: head}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, "a branch, over 9P"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, store, "me/my-project", head, "my-test", "success")
}

// TestStatusClosedStdout: "PROG status | head" ends quietly when head
// closes the pipe.
func TestStatusClosedStdout(t *testing.T) {
	bin := buildExample(t, "hello")
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
	repo, _ := bridge.ParseRepo("me/my-project")
	if err := bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/master", Head: "abcdef0123456789abcdef0123456789abcdef01"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, "a branch"); err != nil {
		t.Fatal(err)
	}
	store.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone before the first write
	defer w.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "status", "--state-dir", state)
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("status with a closed stdout: %v, stderr %q; want success and nothing said", err, stderr.String())
	}
}

// TestProgramFlags runs a CI with a flag of its own (testdata/flagci): the
// configuration function sees the flag's value and is called once; status
// takes the program's flags too.
func TestProgramFlags(t *testing.T) {
	gitfixture.Need(t)
	bin := buildProgram(t, "./testdata/flagci")
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "project"))
	master := repo.Commit("first", map[string]string{"README": "hello\n"})
	state := t.TempDir()
	p := start(t, bin, "--greeting", "Hi there", "--state-dir", state, "--listen", "off", "--local-repo", "me/p:"+repo.Dir)
	store, err := dkstore.Open(state, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if st := waitStatus(t, store, "me/p", master, "greet", "success"); st.Description != "Hi there" {
		t.Errorf("description = %q, want the --greeting", st.Description)
	}
	if out := p.output(); !strings.Contains(out, `configure call 1: greeting "Hi there"`) || strings.Contains(out, "configure call 2") {
		t.Errorf("want one call of the configuration function, after the flags are parsed; output:\n%s", out)
	}
	out, err := exec.Command(bin, "status", "--state-dir", state, "--greeting", "Hi there").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Hi there") {
		t.Errorf("status: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-greeting") || strings.Contains(string(out), "configure call") {
		t.Errorf("--help: %v, want the program's flag listed and no configuration made:\n%s", err, out)
	}
	// status --help lists its flags as --help does: argument names, defaults.
	out, err = exec.Command(bin, "status", "--help").CombinedOutput()
	for _, want := range []string{"-greeting string", `(default "hello")`, "-state-dir DIR", "-store URL"} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("status --help: %v, want it to show %q:\n%s", err, want, out)
		}
	}
	if strings.Contains(string(out), "`") || strings.Contains(string(out), "-listen") {
		t.Errorf("status --help shows raw back quotes, or flags status does not use:\n%s", out)
	}
}

// TestOneCIPerStateDir: a second CI on a state directory exits at once,
// non-zero, naming the first (pid and command line), which carries on;
// once the first is killed (SIGKILL), a new one starts there.
func TestOneCIPerStateDir(t *testing.T) {
	gitfixture.Need(t)
	bin := buildExample(t, "hello")
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "project"))
	first := repo.Commit("first", map[string]string{"README": "hello\n"})
	state := t.TempDir()
	args := []string{"--state-dir", state, "--listen", "off", "--local-repo", "me/my-project:" + repo.Dir}
	a := start(t, bin, args...)
	store, err := dkstore.Open(state, dkstore.Options{}) // a reader beside the CI
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitStatus(t, store, "me/my-project", first, "my-test", "success")

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // if it does not give up
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("the second CI took %v to give up", d)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("the second CI: %v, want exit status 1", err)
	}
	for _, want := range []string{
		"--state-dir " + state + " is in use",
		fmt.Sprintf("pid %d, started as: %s --state-dir %s --listen off", a.cmd.Process.Pid, bin, state),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the second CI's message lacks %q:\n%s", want, out)
		}
	}

	// The first carries on.
	second := repo.Commit("second", map[string]string{"README": "hello again\n"})
	waitStatus(t, store, "me/my-project", second, "my-test", "success")
	select {
	case err := <-a.done:
		t.Fatalf("the first CI exited: %v", err)
	default:
	}

	// Killed, it leaves the directory free: the kernel drops the lock.
	a.cmd.Process.Kill()
	<-a.done
	a.done <- nil // for the cleanup
	start(t, bin, args...)
	third := repo.Commit("third", map[string]string{"README": "hello once more\n"})
	waitStatus(t, store, "me/my-project", third, "my-test", "success")
}
