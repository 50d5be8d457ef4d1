package swarm

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"go.uber.org/goleak"
)

// The tests run against a real single-node swarm: the local Docker
// daemon's, started here (docker swarm init --advertise-addr 127.0.0.1)
// when none is active, and left at the end if this process started it.
// With CI=true a missing daemon fails them; otherwise they skip. The test
// image is built here, FROM scratch with a static busybox (there is no
// registry: the swarm's single node runs the local image), and removed at
// the end, as is NoNetwork if this process made it.
var (
	api           *client.Client // the daemon, for the tests' own checks
	local         *docker.Client // the local engine, for builds and baselines
	skipReason    string
	baseImage     string // "dkgo-datakit-swarm-test:<run>"
	runID         string // this process's value of testLabel
	ownSwarm      bool   // a test process started the swarm
	testNoNetwork string // the tests' Options.NoNetwork
)

// testLabel marks every service (and container) a test makes.
const testLabel = "org.dkgo.datakit.test"

func TestMain(m *testing.M) {
	code := runTests(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: leaked goroutines: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	runID = randomHex(6)
	cleanup, err := setUp(ctx)
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: the swarm tests need a Docker daemon that can run a swarm, and busybox-static (CI=true): %v\n", err)
			return 1
		}
		skipReason = err.Error()
		return m.Run()
	}
	code := m.Run()
	if err := cleanup(); err != nil {
		fmt.Fprintf(os.Stderr, "cleaning up: %v\n", err)
		code = 1
	}
	return code
}

// setUp connects, makes sure the swarm is active and builds the image.
// cleanup undoes what it did.
func setUp(ctx context.Context) (cleanup func() error, err error) {
	var undo []func() error
	cleanup = func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	api, err = client.New(client.FromEnv)
	if err != nil {
		return nil, err
	}
	undo = append(undo, api.Close)
	local, err = docker.New(ctx, docker.Options{CallTimeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	undo = append(undo, local.Close)
	leave, err := joinTestSwarm(ctx)
	if err != nil {
		return nil, err
	}
	undo = append(undo, leave)
	// This process's own network for runs without one (the tests'
	// executors use it), removed at the end: test processes that share
	// the daemon do not remove each other's.
	testNoNetwork = "datakit-ci-none-test-" + runID
	undo = append(undo, func() error { return removeNetwork(testNoNetwork) })
	bb, err := staticBusybox()
	if err != nil {
		return nil, err
	}
	baseImage = "dkgo-datakit-swarm-test:" + runID
	if err := buildBase(ctx, bb, baseImage); err != nil {
		return nil, err
	}
	undo = append(undo, func() error { return local.RemoveImage(context.Background(), baseImage) })
	return cleanup, nil
}

// staticBusybox finds a statically linked busybox, as FROM scratch needs.
func staticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no static busybox (apt-get install busybox-static; `make deps` does it)")
}

// buildBase builds the test image: busybox and its applets in /bin.
func buildBase(ctx context.Context, busybox, tag string) error {
	dir, err := os.MkdirTemp("", "dkgo-swarm-base-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", busybox, err)
	}
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
				return err
			}
		}
	}
	files := map[string]string{
		"rootfs/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"rootfs/etc/group":  "root:x:0:\nnogroup:x:65534:\n",
		"Dockerfile":        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nLABEL " + testLabel + "=" + runID + "\nCMD [\"sh\"]\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	var log strings.Builder
	if _, err := local.Build(ctx, docker.BuildOptions{ContextDir: dir, Tags: []string{tag}}, &log); err != nil {
		return fmt.Errorf("building %s: %w\n%s", tag, err, log.String())
	}
	return nil
}

// needSwarm skips (or, with CI=true, has failed in TestMain) without a
// swarm, and checks when t ends that no service of this test run is left,
// nor, after a while for the node to stop them, their containers.
func needSwarm(t testing.TB) {
	t.Helper()
	if api == nil {
		t.Skip("SKIP: " + skipReason)
	}
	t.Cleanup(func() { checkNothingLeft(t) })
}

func checkNothingLeft(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", testLabel+"="+runID)
	list, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	if err != nil {
		t.Fatalf("listing services: %v", err)
	}
	for _, s := range list.Items {
		t.Errorf("service %s is left over", s.Spec.Name)
		api.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{})
	}
	var left []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		cs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatalf("listing containers: %v", err)
		}
		left = left[:0]
		for _, c := range cs.Items {
			left = append(left, c.ID)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, id := range left {
		t.Errorf("container %.12s is left over", id)
		api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
	}
}

// testLabels are the labels of every run a test makes.
func testLabels() map[string]string { return map[string]string{testLabel: runID} }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logBuffer is a log a test reads while Run writes it; Seen is closed
// once the awaited text has appeared. It records pushed reasons and the
// executor's own lines, as a *livelog.Log shows them.
type logBuffer struct {
	mu      sync.Mutex
	buf     strings.Builder
	waitOn  string
	seen    chan struct{}
	reasons []string
}

func newLogBuffer(text string) *logBuffer {
	return &logBuffer{waitOn: text, seen: make(chan struct{})}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.waitOn != "" && strings.Contains(l.buf.String(), l.waitOn) {
		close(l.seen)
		l.waitOn = ""
	}
	return len(p), nil
}

func (l *logBuffer) Printf(format string, args ...any) {
	fmt.Fprintf(l, "[time] "+format+"\n", args...)
}

func (l *logBuffer) PushReason(reason string) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reasons = append(l.reasons, reason)
	return func() {}
}

func (l *logBuffer) Reasons() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reasons...)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) Seen() <-chan struct{} { return l.seen }

func waitSeen(t *testing.T, log *logBuffer, errc <-chan error) {
	t.Helper()
	select {
	case <-log.Seen():
	case err := <-errc:
		t.Fatalf("ended with %v before it started\n%s", err, log)
	case <-time.After(60 * time.Second):
		t.Fatalf("did not start\n%s", log)
	}
}

func waitErr(t *testing.T, errc <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		t.Fatalf("no return within %v", d)
		return nil
	}
}

// services lists the services of this test run.
func services(t testing.TB) []swarm.Service {
	t.Helper()
	f := client.Filters{}.Add("label", testLabel+"="+runID)
	list, err := api.ServiceList(context.Background(), client.ServiceListOptions{Filters: f})
	if err != nil {
		t.Fatalf("listing services: %v", err)
	}
	return list.Items
}

// The swarm is shared by the test processes on one daemon (make test and
// a go test, say): the first that finds none starts it, and the last to
// end leaves it. Each holds a shared lock on lockFile while it runs; the
// one that gets the exclusive lock at its end is the last. stateFile says
// that test processes started the swarm (and whether docker_gwbridge and
// NoNetwork were there before).
var (
	lockFile  = filepath.Join(os.TempDir(), "dkgo-datakit-swarm-test.lock")
	stateFile = filepath.Join(os.TempDir(), "dkgo-datakit-swarm-test.state")
)

// joinTestSwarm makes sure the swarm is active and returns the function
// that, in the last test process, leaves it if test processes started it.
func joinTestSwarm(ctx context.Context) (leave func() error, err error) {
	f, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	info, err := api.Info(ctx, client.InfoOptions{})
	if err == nil {
		switch info.Info.Swarm.LocalNodeState {
		case swarm.LocalNodeStateActive:
			if !info.Info.Swarm.ControlAvailable {
				err = errors.New("this daemon is a swarm worker, not a manager")
			}
		case swarm.LocalNodeStateInactive:
			var before []string
			for _, n := range []string{"docker_gwbridge", NoNetwork} {
				if _, nerr := api.NetworkInspect(ctx, n, client.NetworkInspectOptions{}); nerr == nil {
					before = append(before, n)
				}
			}
			if _, err = api.SwarmInit(ctx, client.SwarmInitOptions{ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1"}); err != nil {
				err = fmt.Errorf("docker swarm init: %w", err)
				break
			}
			var sw client.SwarmInspectResult
			if sw, err = api.SwarmInspect(ctx, client.SwarmInspectOptions{}); err == nil {
				err = os.WriteFile(stateFile, []byte(strings.Join(append([]string{"started", sw.Swarm.ID}, before...), "\n")+"\n"), 0o644)
			}
		default:
			err = fmt.Errorf("the daemon's swarm is %s", info.Info.Swarm.LocalNodeState)
		}
	}
	if err == nil {
		ownSwarm = testsStarted(ctx)
	}
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		defer f.Close()
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			return nil // another test process uses the swarm: the last leaves it
		}
		ctx := context.Background()
		if !testsStarted(ctx) {
			return nil // it was there before the tests
		}
		state, _ := os.ReadFile(stateFile)
		if !strings.Contains(string(state), "\n"+NoNetwork+"\n") {
			// the examples' executors made it (its bridge outlives a
			// leave that finds it there)
			if err := removeNetwork(NoNetwork); err != nil {
				return err
			}
		}
		if _, err := api.SwarmLeave(ctx, client.SwarmLeaveOptions{Force: true}); err != nil {
			return err
		}
		os.Remove(stateFile)
		// swarm init made the gateway bridge, and leave does not remove it
		if !strings.Contains(string(state), "\ndocker_gwbridge\n") {
			return removeNetwork("docker_gwbridge")
		}
		return nil
	}, nil
}

// testsStarted reports whether test processes started the active swarm
// (stateFile names it).
func testsStarted(ctx context.Context) bool {
	state, err := os.ReadFile(stateFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(state), "\n")
	sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
	return err == nil && len(lines) > 1 && lines[0] == "started" && lines[1] == sw.Swarm.ID
}

// removeNetwork removes a network once nothing uses it any more.
func removeNetwork(name string) error {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := api.NetworkRemove(context.Background(), name, client.NetworkRemoveOptions{})
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}
