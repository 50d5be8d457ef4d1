package process_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/process"
	"github.com/dkgo/datakit/term"
)

func sh(script string) process.Cmd { return process.Cmd{Argv: []string{"sh", "-c", script}} }

func TestRunSeparatesStdoutAndStderr(t *testing.T) {
	var out, errOut bytes.Buffer
	err := process.Run(context.Background(), sh("echo out1; echo err1 >&2; echo out2; echo err2 >&2"), &out, &errOut)
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got, want := out.String(), "out1\nout2\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := errOut.String(), "err1\nerr2\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestRunOneWriterForBothStreams(t *testing.T) {
	// Run never calls the writers concurrently (the race detector checks),
	// so a plain buffer can take both streams.
	var both bytes.Buffer
	err := process.Run(context.Background(), sh("for i in $(seq 200); do echo o$i; echo e$i >&2; done"), &both, &both)
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got := strings.Count(both.String(), "\n"); got != 400 {
		t.Errorf("lines = %d, want 400", got)
	}
}

func TestRunNilWritersDiscard(t *testing.T) {
	if err := process.Run(context.Background(), sh("echo out; echo err >&2"), nil, nil); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestRunExitStatus(t *testing.T) {
	tests := []struct {
		name   string
		cmd    process.Cmd
		status int
		signal syscall.Signal
		text   string
	}{
		{"success", sh("true"), 0, 0, ""},
		{"status 1", process.Cmd{Argv: []string{"false"}}, 1, 0, `Command "false" exited with status 1`},
		{"status 2", sh("exit 2"), 2, 0, `Command "sh" "-c" "exit 2" exited with status 2`},
		{"status 255", sh("exit 255"), 255, 0, `Command "sh" "-c" "exit 255" exited with status 255`},
		{"quoting", process.Cmd{Argv: []string{"sh", "-c", `echo "a\b"; exit 3`, "x y"}}, 3, 0,
			`Command "sh" "-c" "echo \"a\\b\"; exit 3" "x y" exited with status 3`},
		{"SIGTERM", sh("kill -TERM $$"), -1, syscall.SIGTERM, `Command "sh" "-c" "kill -TERM $$" failed with signal 15 (terminated)`},
		{"SIGKILL", sh("kill -KILL $$"), -1, syscall.SIGKILL, `Command "sh" "-c" "kill -KILL $$" failed with signal 9 (killed)`},
		{"masked", process.Cmd{Argv: []string{"sh", "-c", "echo token=hunter2 >/dev/null; exit 4"}, Mask: []string{"hunter2", ""}}, 4, 0,
			`Command "sh" "-c" "echo token=*** >/dev/null; exit 4" exited with status 4`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := process.Run(context.Background(), tt.cmd, nil, nil)
			if tt.text == "" {
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
				return
			}
			var ee *process.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("Run = %v (%T), want an *ExitError", err, err)
			}
			if ee.Status != tt.status || ee.Signal != tt.signal {
				t.Errorf("Run: status %d, signal %d; want %d, %d", ee.Status, ee.Signal, tt.status, tt.signal)
			}
			if err.Error() != tt.text {
				t.Errorf("Run = %q, want %q", err, tt.text)
			}
			if term.IsInfra(err) {
				t.Errorf("Run = %v: an infrastructure error, want a plain failure", err)
			}
		})
	}
}

func TestCmdString(t *testing.T) {
	c := process.Cmd{Argv: []string{"curl", "-H", "Authorization: token abc123", "https://x/abc"}, Mask: []string{"abc", "abc123"}}
	if got, want := c.String(), `"curl" "-H" "Authorization: token ***" "https://x/***"`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestRunCannotStartIsInfra(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cmd  process.Cmd
		want string
	}{
		{"missing program", process.Cmd{Argv: []string{"no-such-program-dk", "x"}}, `Cannot run "no-such-program-dk" "x": "no-such-program-dk" not found in PATH`},
		{"missing path", process.Cmd{Argv: []string{"/no/such/program"}}, `Cannot run "/no/such/program": `},
		{"not executable", process.Cmd{Argv: []string{file}}, `Cannot run "` + file + `": `},
		{"missing dir", process.Cmd{Argv: []string{"true"}, Dir: "/no/such/dir"}, `Cannot run "true": working directory: stat /no/such/dir: no such file or directory`},
		{"dir is a file", process.Cmd{Argv: []string{"true"}, Dir: file}, `Cannot run "true": working directory: ` + file + ` is not a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := process.Run(context.Background(), tt.cmd, nil, nil)
			if !term.IsInfra(err) {
				t.Fatalf("Run = %v, want an infrastructure error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Run = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestRunEmptyCommand(t *testing.T) {
	err := process.Run(context.Background(), process.Cmd{}, nil, nil)
	if err == nil || term.IsInfra(err) {
		t.Errorf("Run(empty) = %v, want a plain error", err)
	}
}

func TestRunDirEnvStdin(t *testing.T) {
	t.Setenv("DK_PROCESS_TEST_LEAK", "leaked")
	dir := t.TempDir()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "hello"), []byte("#!/bin/sh\necho hello from bin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cmd  process.Cmd
		want string
	}{
		{"dir", process.Cmd{Argv: []string{"pwd"}, Dir: dir}, dir + "\n"},
		{"env added", process.Cmd{Argv: []string{"sh", "-c", `echo "$FOO"`}, Env: []string{"FOO=bar"}}, "bar\n"},
		{"minimal env", sh(`echo "[$DK_PROCESS_TEST_LEAK]"`), "[]\n"},
		{"PATH of the command", process.Cmd{Argv: []string{"hello"}, Env: []string{"PATH=" + bin}}, "hello from bin\n"},
		{"relative to dir", process.Cmd{Argv: []string{"./hello"}, Dir: bin}, "hello from bin\n"},
		{"stdin", process.Cmd{Argv: []string{"cat"}, Stdin: strings.NewReader("some input")}, "some input"},
		{"no stdin", process.Cmd{Argv: []string{"cat"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := process.Run(context.Background(), tt.cmd, &out, &errOut); err != nil {
				t.Fatalf("Run = %v (stderr %q), want nil", err, errOut.String())
			}
			if out.String() != tt.want {
				t.Errorf("stdout = %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestRunStdinNotConsumed(t *testing.T) {
	// A command that ignores its input still succeeds.
	big := strings.NewReader(strings.Repeat("x", 1<<20))
	if err := process.Run(context.Background(), process.Cmd{Argv: []string{"true"}, Stdin: big}, nil, nil); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// readPid waits for a command to write a pid to file.
func readPid(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(file)
		if s := strings.TrimSpace(string(b)); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("pid file %s: %q", file, b)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", file)
	return 0
}

// alive reports whether process pid exists and is not a zombie (a killed
// grandchild is reparented to pid 1, which may be slow to reap it, or not
// reap at all in a container).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits a little for pid to die: SIGKILL is asynchronous.
func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%s (pid %d) still running after Run returned", what, pid)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCancelKillsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A grandchild in the background holding stdout open, a child in the
	// foreground; both write their pids. The child ends at the SIGINT; the
	// grandchild ignores it (a non-interactive shell's background jobs
	// do) and ends at the SIGTERM, when half the default grace has passed.
	c := sh(`sh -c 'echo $$ > grandchild; exec sleep 100' & sh -c 'echo $$ > child; exec sleep 100'`)
	c.Dir = dir
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- process.Run(ctx, c, &out, nil) }()
	grandchild := readPid(t, filepath.Join(dir, "grandchild"))
	child := readPid(t, filepath.Join(dir, "child"))
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		if d, want := time.Since(start), process.DefaultGrace/2+time.Second; d > want {
			t.Errorf("Run returned %v after the cancel, want at most %v", d, want)
		}
	case <-time.After(process.DefaultGrace + 5*time.Second):
		t.Fatal("Run did not return 5s after the grace")
	}
	waitGone(t, "grandchild", grandchild)
	waitGone(t, "child", child)
}

func TestTimeoutKillsAndSaysSo(t *testing.T) {
	ctx, cancel := process.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	dir := t.TempDir()
	c := sh(`sh -c 'echo $$ > grandchild; exec sleep 100' & sleep 100`)
	c.Dir = dir
	c.Grace = -1 // no grace: SIGKILL at once
	start := time.Now()
	err := process.Run(ctx, c, nil, nil)
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Run took %v with a 200ms timeout", d)
	}
	if got, want := err.Error(), "Exceeded timeout of 0.2 seconds"; got != want {
		t.Errorf("Run = %q, want %q", got, want)
	}
	var te *process.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %#v, want a *TimeoutError matching context.DeadlineExceeded", err)
	}
	waitGone(t, "grandchild", readPid(t, filepath.Join(dir, "grandchild")))
}

func TestLeftoversKilledWhenTheCommandExits(t *testing.T) {
	// The main process exits at once, leaving a background process that
	// holds stdout: Run must not wait for it, and must not leave it behind.
	dir := t.TempDir()
	c := sh(`sh -c 'echo $$ > grandchild; exec sleep 100' & while [ ! -s grandchild ]; do sleep 0.01; done; echo done`)
	c.Dir = dir
	var out bytes.Buffer
	start := time.Now()
	if err := process.Run(context.Background(), c, &out, nil); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %v, want well under 1s", d)
	}
	if out.String() != "done\n" {
		t.Errorf("stdout = %q, want %q", out.String(), "done\n")
	}
	waitGone(t, "grandchild", readPid(t, filepath.Join(dir, "grandchild")))
}

func TestEscapedProcessDoesNotHoldRun(t *testing.T) {
	// A process that leaves the group (setsid) cannot be killed, but Run
	// stops reading its output a second after the command ends.
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("no setsid")
	}
	dir := t.TempDir()
	c := sh(`setsid sh -c 'echo $$ > escaped; exec sleep 100' & while [ ! -s escaped ]; do sleep 0.01; done; echo done`)
	c.Dir = dir
	var out bytes.Buffer
	start := time.Now()
	err := process.Run(context.Background(), c, &out, nil)
	escaped := readPid(t, filepath.Join(dir, "escaped"))
	syscall.Kill(escaped, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("Run took %v, want about 1s", d)
	}
	if out.String() != "done\n" {
		t.Errorf("stdout = %q, want %q", out.String(), "done\n")
	}
}

func TestRunStreamsOutput(t *testing.T) {
	// The first line reaches the writer while the command still runs.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- process.Run(ctx, sh("echo first; sleep 100"), pw, nil)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line = %q, %v; want %q", line, err, "first\n")
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before the command ended", err)
	default:
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

func TestRunWithDoneContextDoesNotStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	file := filepath.Join(t.TempDir(), "ran")
	err := process.Run(ctx, process.Cmd{Argv: []string{"touch", file}}, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Errorf("the command ran")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("log closed") }

func TestRunWriterFails(t *testing.T) {
	// The output is still drained, so the command does not block on a full
	// pipe, and the writer's error is reported.
	err := process.Run(context.Background(), sh("head -c 1000000 /dev/zero"), failingWriter{}, nil)
	if err == nil || !strings.Contains(err.Error(), "log closed") {
		t.Errorf("Run = %v, want the writer's error", err)
	}
	// A failing command's status wins over the writer.
	err = process.Run(context.Background(), sh("echo x; exit 3"), failingWriter{}, nil)
	var ee *process.ExitError
	if !errors.As(err, &ee) || ee.Status != 3 {
		t.Errorf("Run = %v, want exit status 3", err)
	}
}

func TestTimeoutErrorText(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Second, "Exceeded timeout of 10 seconds"},
		{200 * time.Millisecond, "Exceeded timeout of 0.2 seconds"},
		{1234 * time.Millisecond, "Exceeded timeout of 1.23 seconds"},
		{time.Minute, "Exceeded timeout of 60 seconds"},
		{119 * time.Second, "Exceeded timeout of 119 seconds"},
		{2 * time.Minute, "Exceeded timeout of 2 minutes"},
		{150 * time.Second, "Exceeded timeout of 2.5 minutes"},
		{30 * time.Minute, "Exceeded timeout of 30 minutes"},
		{time.Hour, "Exceeded timeout of 60 minutes"},
	}
	for _, tt := range tests {
		err := &process.TimeoutError{Timeout: tt.d}
		if got := err.Error(); got != tt.want {
			t.Errorf("TimeoutError{%v} = %q, want %q", tt.d, got, tt.want)
		}
	}
}
