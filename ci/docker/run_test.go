package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/term"
)

// run runs cmd in the base image with the test's labels.
func run(t *testing.T, c *Client, o RunOptions) (*logBuffer, error) {
	t.Helper()
	if o.Image == "" {
		o.Image = baseImage
	}
	o.Labels = testLabels()
	log := newLogBuffer("")
	err := c.Run(context.Background(), o, log)
	return log, err
}

// A command that exits with a non-zero status gives an *ExitError with the
// original's wording; its output is kept; it is not an infrastructure
// failure.
func TestRunFailingCommand(t *testing.T) {
	c := needDocker(t)
	log, err := run(t, c, RunOptions{Cmd: []string{"sh", "-c", "echo some output; echo more >&2; exit 3"}})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Status != 3 {
		t.Fatalf("Run = %v, want an *ExitError with status 3", err)
	}
	if want := `Command "sh" "-c" "echo some output; echo more >&2; exit 3" exited with status 3`; err.Error() != want {
		t.Errorf("Run = %q, want %q", err, want)
	}
	if term.IsInfra(err) {
		t.Errorf("Run = %v is marked infra; a failing command is not", err)
	}
	if got := log.String(); !strings.Contains(got, "some output\n") || !strings.Contains(got, "more\n") {
		t.Errorf("log = %q, want the command's output", got)
	}
}

// The image's entrypoint is part of the command named in the error.
func TestRunEntrypoint(t *testing.T) {
	c := needDocker(t)
	log, err := run(t, c, RunOptions{Entrypoint: []string{"sh", "-c"}, Cmd: []string{"echo via entrypoint; exit 42"}})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Status != 42 {
		t.Fatalf("Run = %v, want status 42", err)
	}
	if want := `Command "sh" "-c" "echo via entrypoint; exit 42" exited with status 42`; err.Error() != want {
		t.Errorf("Run = %q, want %q", err, want)
	}
	if log.String() != "via entrypoint\n" {
		t.Errorf("log = %q", log)
	}
}

// A run past its timeout is killed and removed within seconds, with the
// original's message.
func TestRunTimeout(t *testing.T) {
	c := needDocker(t)
	start := time.Now()
	log, err := run(t, c, RunOptions{Cmd: []string{"sh", "-c", "echo started; sleep 30"}, Timeout: 1500 * time.Millisecond})
	elapsed := time.Since(start)
	var te *TimeoutError
	if !errors.As(err, &te) || err.Error() != "Exceeded timeout of 1.5 seconds" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want a *TimeoutError %q", err, "Exceeded timeout of 1.5 seconds")
	}
	if term.IsInfra(err) {
		t.Errorf("a timeout is marked infra")
	}
	if elapsed > 8*time.Second {
		t.Errorf("Run returned after %v, want about 1.5 s", elapsed)
	}
	if !strings.Contains(log.String(), "started") {
		t.Errorf("log = %q, want the output before the timeout", log)
	}
}

func TestTimeoutErrorText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "Exceeded timeout of 1 seconds"},
		{1500 * time.Millisecond, "Exceeded timeout of 1.5 seconds"},
		{200 * time.Millisecond, "Exceeded timeout of 0.2 seconds"},
		{119 * time.Second, "Exceeded timeout of 119 seconds"},
		{2 * time.Minute, "Exceeded timeout of 2 minutes"},
		{150 * time.Second, "Exceeded timeout of 2.5 minutes"},
		{100 * time.Second / 3, "Exceeded timeout of 33.33 seconds"},
		{90 * time.Minute, "Exceeded timeout of 90 minutes"},
	} {
		if got := (&TimeoutError{Timeout: tc.d}).Error(); got != tc.want {
			t.Errorf("TimeoutError{%v} = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// Cancelling the context while the command runs stops and removes the
// container; the error wraps context.Canceled, or is the context's cause
// if it has one, and is not infra.
func TestRunCancel(t *testing.T) {
	c := needDocker(t)
	rebuild := errors.New("rebuild requested")
	for _, tc := range []struct {
		name  string
		cause error
		want  error
	}{
		{"cancel", nil, context.Canceled},
		{"cancel with a cause", rebuild, rebuild},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			log := newLogBuffer("started")
			errc := make(chan error, 1)
			go func() {
				errc <- c.Run(ctx, RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 30"}, Labels: testLabels()}, log)
			}()
			waitSeen(t, log, errc)
			start := time.Now()
			cancel(tc.cause)
			err := waitErr(t, errc, 10*time.Second)
			if !errors.Is(err, tc.want) || term.IsInfra(err) {
				t.Errorf("Run = %v, want %v, not infra", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run returned %v after its cancellation", d)
			}
		})
	}
}

// Cancelling before Run makes no container at all.
func TestRunCancelledBefore(t *testing.T) {
	c := needDocker(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx, RunOptions{Image: baseImage, Cmd: []string{"true"}, Labels: testLabels()}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

// A log writer that panics unwinds through Run, which still removes the
// container.
func TestRunPanickingLog(t *testing.T) {
	c := needDocker(t)
	defer func() {
		if r := recover(); r != "log broke" {
			t.Errorf("recovered %v, want the log's panic", r)
		}
	}()
	c.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo hi; sleep 30"}, Labels: testLabels()}, panicWriter{})
	t.Error("Run returned; want a panic")
}

type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("log broke") }

// A log that fails ends the run (the container removed) with an infra
// error: the output has nowhere to go.
func TestRunFailingLog(t *testing.T) {
	c := needDocker(t)
	err := c.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo hi; sleep 30"}, Labels: testLabels()}, errWriter{})
	if !term.IsInfra(err) || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Run = %v, want an infra error naming the log's failure", err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// Requests the daemon refuses are plain errors with its message.
func TestRunRefused(t *testing.T) {
	c := needDocker(t)
	for _, tc := range []struct {
		name string
		o    RunOptions
		want string
	}{
		{"no such image", RunOptions{Image: "dkgo-datakit-no-such-image:1", Cmd: []string{"true"}}, "No such image"},
		{"no such command", RunOptions{Cmd: []string{"no-such-command"}}, "no-such-command"},
		{"no such user", RunOptions{Cmd: []string{"true"}, User: "no-such-user"}, "no-such-user"},
		{"relative mount", RunOptions{Cmd: []string{"true"}, Mounts: []Mount{{Source: "rel", Target: "/x"}}}, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, c, tc.o)
			if err == nil || term.IsInfra(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v (infra %v), want a plain error containing %q", err, term.IsInfra(err), tc.want)
			}
		})
	}
}

// By default a container has no network (only a loopback interface); with
// Network "bridge" it reaches a server on the host.
func TestRunNetwork(t *testing.T) {
	c := needDocker(t)
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := bufio.NewReader(conn).ReadString('\n')
		got <- line
	}()
	port := strings.TrimPrefix(ln.Addr().String(), "0.0.0.0:")

	// The host is the bridge network's gateway.
	script := `ls /sys/class/net; gw=$(ip route | awk '/^default/ {print $3}'); echo "gateway=$gw"; echo "hello from the container" | nc -w 3 "$gw" ` + port
	log, err := run(t, c, RunOptions{Network: "bridge", Cmd: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatalf("Run with the bridge network = %v\n%s", err, log)
	}
	select {
	case line := <-got:
		if line != "hello from the container\n" {
			t.Errorf("the host's server read %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the host's server got nothing\n%s", log)
	}
	var gateway string
	for _, l := range strings.Split(log.String(), "\n") {
		if g, ok := strings.CutPrefix(l, "gateway="); ok {
			gateway = g
		}
	}
	if gateway == "" {
		t.Fatalf("no gateway in %q", log)
	}

	// The same connection with the default network fails.
	script = `ls /sys/class/net; echo "hello again" | nc -w 2 ` + gateway + " " + port + " 2>&1" // one stream: in order
	log, err = run(t, c, RunOptions{Cmd: []string{"sh", "-c", script}})
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Errorf("Run with no network = %v, want the connection to fail\n%s", err, log)
	}
	if ifaces := strings.Fields(strings.SplitN(log.String(), "\n", 2)[0]); len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("interfaces with no network: %q, want only lo", ifaces)
	}
}

// Environment, user, working directory and a bind mount of a checkout:
// readable, read-only when asked, writable otherwise.
func TestRunEnvUserMount(t *testing.T) {
	c := needDocker(t)
	checkout := t.TempDir()
	os.Chmod(checkout, 0o755)
	writeFiles(t, checkout, map[string]string{"README": "the checkout\n"})

	log, err := run(t, c, RunOptions{
		Cmd:     []string{"sh", "-c", `echo "FOO=$FOO"; id -u; id -g; pwd; cat README; touch written 2>/dev/null || echo read-only`},
		Env:     []string{"FOO=bar baz"},
		User:    "1234:5678",
		WorkDir: "/src",
		Mounts:  []Mount{{Source: checkout, Target: "/src", ReadOnly: true}},
	})
	if err != nil {
		t.Fatalf("Run = %v\n%s", err, log)
	}
	if want := "FOO=bar baz\n1234\n5678\n/src\nthe checkout\nread-only\n"; log.String() != want {
		t.Errorf("log = %q, want %q", log, want)
	}

	log, err = run(t, c, RunOptions{
		Cmd:    []string{"sh", "-c", "echo from the container > /src/out"},
		Mounts: []Mount{{Source: checkout, Target: "/src"}},
	})
	if err != nil {
		t.Fatalf("Run = %v\n%s", err, log)
	}
	if b, err := os.ReadFile(filepath.Join(checkout, "out")); err != nil || string(b) != "from the container\n" {
		t.Errorf("file written in the mount: %q, %v", b, err)
	}
}

// RemoveContainers removes containers left by Run (here: made by hand the
// way Run makes them, and never started).
func TestRemoveContainers(t *testing.T) {
	c := needDocker(t)
	label := map[string]string{testLabel: runID, "org.dkgo.datakit.test-leftover": randomHex(4)}
	// A container whose Run could not remove it, as after a lost daemon.
	makeLeftover(t, c, label)
	makeLeftover(t, c, label)
	n, err := c.RemoveContainers(context.Background(), label)
	if n != 2 || err != nil {
		t.Errorf("RemoveContainers = %d, %v; want 2, nil", n, err)
	}
}

// CallTimeout bounds the calls around a command, not the command: a run
// longer than it streams and ends normally.
func TestRunLongerThanCallTimeout(t *testing.T) {
	needDocker(t)
	c, err := New(context.Background(), Options{CallTimeout: 3 * time.Second, Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log := newLogBuffer("")
	err = c.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo one; sleep 4; echo two"}, Labels: testLabels()}, log)
	if err != nil || log.String() != "one\ntwo\n" {
		t.Errorf("Run = %v, log %q; want nil, \"one\\ntwo\\n\"", err, log)
	}
}

// makeLeftover creates (and does not start) a container as Run does.
func makeLeftover(t *testing.T, c *Client, labels map[string]string) {
	t.Helper()
	l := map[string]string{OwnerLabel: "1"}
	for k, v := range labels {
		l[k] = v
	}
	_, err := c.api.ContainerCreate(context.Background(), client.ContainerCreateOptions{
		Config:     &container.Config{Image: baseImage, Cmd: []string{"true"}, Labels: l},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An Engine with an Owner removes, when it first connects, the containers
// an earlier run of the same CI left (killed mid-run), and no others, and
// says so through its Logger (the CI's: one format for every line); its
// run steps' containers carry the owner.
func TestEngineRemovesLeftovers(t *testing.T) {
	c := needDocker(t)
	owner := "test-ci-" + runID
	mine := map[string]string{testLabel: runID, CILabel: owner}
	other := map[string]string{testLabel: runID, CILabel: owner + "-other"}
	makeLeftover(t, c, mine)
	makeLeftover(t, c, mine)
	makeLeftover(t, c, other)
	count := func(labels map[string]string) int {
		f := client.Filters{}
		for k, v := range labels {
			f.Add("label", k+"="+v)
		}
		list, err := c.api.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	var logged bytes.Buffer
	e := NewEngine(Options{Owner: owner, Logger: slog.New(slog.NewJSONHandler(&logged, nil))})
	defer e.Close()
	if _, err := e.client(context.Background()); err != nil {
		t.Fatal(err)
	}
	var line struct {
		Level, Msg, Owner string
		Count             int
	}
	if err := json.Unmarshal(logged.Bytes(), &line); err != nil || line.Level != "INFO" || line.Count != 2 || line.Owner != owner ||
		line.Msg != "docker: removed containers left by an earlier run of this CI" {
		t.Errorf("the Engine logged %q (%v), want one line in the Logger's format", logged.String(), err)
	}
	if n := count(mine); n != 0 {
		t.Errorf("%d containers of this CI left after the Engine connected, want 0", n)
	}
	if n := count(other); n != 1 {
		t.Errorf("%d containers of another CI, want 1 (not ours to remove)", n)
	}
	if n, err := c.RemoveContainers(context.Background(), other); n != 1 || err != nil {
		t.Errorf("RemoveContainers(other) = %d, %v", n, err)
	}

	// The label is on the run step's containers.
	log, err := livelog.NewManager(nil).Create("owner-test", "owner test", livelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Finish()
	rb := runBuilder{r: NewRun(e, "label", RunOptions{Cmd: []string{"sh", "-c", "echo up; sleep 30"}, Labels: testLabels()}, StepOptions{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := rb.Generate(ctx, log, nil, baseImage); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for count(mine) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(mine); n != 1 {
		t.Errorf("%d running containers with the owner label, want 1", n)
	}
	cancel()
	<-done
}

// With Init, process 1 of the container is the daemon's init, which reaps
// what the command orphans; without it, the command itself.
func TestRunInit(t *testing.T) {
	c := needDocker(t)
	script := `read -r comm < /proc/1/comm; echo "pid1=$comm"; (sleep 0 &); sleep 1; ps -o stat= | grep -c Z || true`
	for _, init := range []bool{false, true} {
		log, err := run(t, c, RunOptions{Init: init, Cmd: []string{"sh", "-c", script}})
		if err != nil {
			t.Fatalf("Run(Init: %v) = %v\n%s", init, err, log)
		}
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("Run(Init: %v) printed %q", init, lines)
		}
		if isSh := lines[0] == "pid1=sh"; isSh == init {
			t.Errorf("Run(Init: %v): process 1 is %s", init, lines[0])
		}
		if init && lines[1] != "0" {
			t.Errorf("Run(Init: true): %s zombies, want none: the init reaps them", lines[1])
		}
	}
}
