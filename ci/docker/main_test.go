package docker

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"go.uber.org/goleak"
)

// The tests run against the real Docker engine. With CI=true a missing
// daemon fails them; otherwise they skip. The base image is built here,
// FROM scratch with Debian's static busybox (there is no registry to pull
// from), under a tag of this process's own, and removed at the end.
var (
	dockerClient *Client // connected to the real daemon
	skipReason   string  // why the daemon tests skip, if they do
	baseImage    string  // "dkgo-datakit-test-busybox:<run>"
	runID        string  // this process's value of testLabel
)

// testLabel marks every container a test makes, with runID as its value.
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
	c, err := New(ctx, Options{CallTimeout: 30 * time.Second, Heartbeat: 2 * time.Second})
	if err == nil {
		var bb string
		bb, err = staticBusybox()
		if err == nil {
			baseImage = "dkgo-datakit-test-busybox:" + runID
			err = buildBase(ctx, c, bb, baseImage)
		}
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: the Docker tests need a Docker daemon and busybox-static (CI=true): %v\n", err)
			return 1
		}
		skipReason = err.Error()
		return m.Run()
	}
	dockerClient = c
	code := m.Run()
	if err := c.RemoveImage(ctx, baseImage); err != nil {
		fmt.Fprintf(os.Stderr, "removing %s: %v\n", baseImage, err)
	}
	c.Close()
	return code
}

// staticBusybox finds Debian's busybox-static binary: a statically linked
// busybox (no ELF interpreter), as a FROM scratch image needs.
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

// buildBase builds the base image: busybox and a symbolic link for each of
// its applets in /bin, an /etc/passwd, a /tmp.
func buildBase(ctx context.Context, c *Client, busybox, tag string) error {
	dir, err := os.MkdirTemp("", "dkgo-docker-base-")
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
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			return err
		}
	}
	files := map[string]string{
		"rootfs/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"rootfs/etc/group":  "root:x:0:\nnogroup:x:65534:\n",
		// The label makes this run's image (and so the "ancestor" of its
		// containers) its own: another test process's leftover check must
		// not take our containers for its own.
		"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nLABEL " + testLabel + "=" + runID + "\nCMD [\"sh\"]\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	var log strings.Builder
	if _, err := c.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{tag}}, &log); err != nil {
		return fmt.Errorf("building %s: %w\n%s", tag, err, log.String())
	}
	return nil
}

// needDocker skips (or, with CI=true, has failed in TestMain) when there is
// no daemon, and checks when t ends that no container of this test run is
// left: neither a run's (by label) nor a build's (by ancestor image).
func needDocker(t *testing.T) *Client {
	t.Helper()
	if dockerClient == nil {
		t.Skip("SKIP: " + skipReason)
	}
	t.Cleanup(func() { checkNoContainers(t) })
	return dockerClient
}

func checkNoContainers(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	api := dockerClient.api
	filters := []client.Filters{
		client.Filters{}.Add("label", testLabel+"="+runID),
		client.Filters{}.Add("ancestor", baseImage),
	}
	// A build's intermediate containers are removed by the daemon, after
	// the build's answer ends: give it a few seconds.
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left = left[:0]
		for _, f := range filters {
			list, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
			if err != nil {
				t.Fatalf("listing containers: %v", err)
			}
			for _, c := range list.Items {
				left = append(left, c.ID)
			}
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

// testLabels are the labels of every container a test runs.
func testLabels() map[string]string { return map[string]string{testLabel: runID} }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logBuffer is a log that a test can read while Run writes it, and that
// tells when some text has appeared.
type logBuffer struct {
	mu     sync.Mutex
	buf    strings.Builder
	waitOn string
	seen   chan struct{}
}

// newLogBuffer returns a log whose Seen channel is closed once text has
// been written (text may be "").
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

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Seen is closed once the awaited text has been written.
func (l *logBuffer) Seen() <-chan struct{} { return l.seen }

var _ io.Writer = (*logBuffer)(nil)

// writeFiles writes files (slash-separated names relative to dir).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func waitSeen(t *testing.T, log *logBuffer, errc <-chan error) {
	t.Helper()
	select {
	case <-log.Seen():
	case err := <-errc:
		t.Fatalf("ended with %v before it started\n%s", err, log)
	case <-time.After(30 * time.Second):
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
