package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dkgo/datakit/term"
)

// ioGrace is how long Run keeps reading the output, and copying the input,
// of a command whose main process has exited and whose group has been
// killed: only a process that escaped the group can still hold the pipes.
const ioGrace = time.Second

// DefaultGrace is the time a cancelled command has to end (see
// Cmd.Grace) when its Cmd does not say: long enough for a tool to remove
// its temporary files, short enough that a CI's shutdown (ci.Engine.Close
// waits 10 s for its steps) sees its commands end.
const DefaultGrace = 5 * time.Second

// defaultPath is the PATH of a command when the calling process has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Cmd describes a command to run.
type Cmd struct {
	// Argv is the program and its arguments. A program name without a
	// slash is looked up in the PATH of the command's environment (absolute
	// entries only); a relative name with a slash is relative to Dir.
	Argv []string
	// Dir is the working directory; "" means the calling process's.
	Dir string
	// Env holds KEY=value entries added to a minimal environment: the
	// calling process's PATH (or a standard one), and its HOME and TMPDIR
	// when set. An entry here overrides one of the minimal environment.
	// Run adds OwnerEnv last, on Linux.
	Env []string
	// Stdin is the command's standard input; nil means the null device.
	// A reader that is not an *os.File is copied by a goroutine, which
	// ends at the reader's next return once the command has ended.
	Stdin io.Reader
	// Grace is how long the command has to end once Run's context is
	// done: its process group gets SIGINT at once (as from Ctrl-C in a
	// terminal), SIGTERM when half the grace has passed, and SIGKILL at
	// its end. 0 means DefaultGrace; a negative Grace means SIGKILL at
	// once.
	Grace time.Duration
	// Mask lists secret values shown as *** wherever the command itself is
	// displayed (String, error messages). It does not filter the
	// command's output: mask that in the writers given to Run.
	Mask []string
}

// String displays the command as the original DataKitCI did: each
// argument quoted, separated by spaces, with the Mask values replaced by
// ***: "sh" "-c" "exit 2".
func (c Cmd) String() string {
	var masks []string
	for _, m := range c.Mask {
		if m != "" {
			masks = append(masks, m)
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	sort.Slice(masks, func(i, j int) bool { return len(masks[i]) > len(masks[j]) })
	var b strings.Builder
	for i, a := range c.Argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		for _, m := range masks {
			a = strings.ReplaceAll(a, m, "***")
		}
		b.WriteString(strconv.Quote(a))
	}
	return b.String()
}

// ExitError reports a command that ran and did not succeed.
type ExitError struct {
	// Command is the command as displayed by Cmd.String (masked).
	Command string
	// Status is the exit status, or -1 if a signal ended the command.
	Status int
	// Signal is the signal that ended the command, or 0.
	Signal syscall.Signal
}

// Error reads `Command "ls" "-l" exited with status 2`, or
// `Command "sh" "-c" "kill $$" failed with signal 15 (terminated)`.
func (e *ExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("Command %s failed with signal %d (%v)", e.Command, int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("Command %s exited with status %d", e.Command, e.Status)
}

// Run runs c, streaming its standard output to stdout and its standard
// error to stderr as they are produced (a nil writer discards). It returns
// nil if the command exits with status 0, an *ExitError if it exits
// otherwise or a signal ends it, context.Cause(ctx) if ctx is done first
// (the command's process group is then stopped: SIGINT, SIGTERM, SIGKILL
// within Cmd.Grace), an error wrapped with term.Infra if the command
// cannot start, or an error if a writer fails (the output is then read
// and dropped until the command ends).
//
// Run returns only once the command and its group are gone (see the
// package documentation for processes that escape the group). Before its
// first command in a program, Run kills the orphans that commands of
// killed programs left (see KillOrphans).
func Run(ctx context.Context, c Cmd, stdout, stderr io.Writer) error {
	if len(c.Argv) == 0 {
		return errors.New("process: empty command")
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	env := c.environ()
	path, err := lookPath(c.Argv[0], env)
	if err != nil {
		return term.Infra(fmt.Errorf("Cannot run %s: %w", c, err))
	}
	if c.Dir != "" {
		// Checked here because, with SysProcAttr set, os/exec reports a
		// missing directory as a missing program.
		fi, err := os.Stat(c.Dir)
		if err == nil && !fi.IsDir() {
			err = fmt.Errorf("%s is not a directory", c.Dir)
		}
		if err != nil {
			return term.Infra(fmt.Errorf("Cannot run %s: working directory: %w", c, err))
		}
	}
	// Whatever an earlier run of a killed program left is killed before
	// this program's first command runs: it may hold what the command
	// needs (a pool's share of the machine, a port, a lock).
	sweepOnce.Do(func() { _, _ = killOrphans(context.Background()) })
	outR, outW, err := os.Pipe()
	if err != nil {
		return term.Infra(fmt.Errorf("Cannot run %s: %w", c, err))
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return term.Infra(fmt.Errorf("Cannot run %s: %w", c, err))
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        c.Argv,
		Dir:         c.Dir,
		Env:         env,
		Stdin:       c.Stdin,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		WaitDelay:   ioGrace, // bounds the copying of a Stdin reader
	}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return term.Infra(fmt.Errorf("Cannot run %s: %w", c, err))
	}
	pid := cmd.Process.Pid // also the id of the command's process group

	var (
		mu       sync.Mutex // serialises the writers; guards writeErr
		writeErr error
		copying  sync.WaitGroup
	)
	pump := func(r io.Reader, w io.Writer) {
		defer copying.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 && w != nil {
				mu.Lock()
				if _, werr := w.Write(buf[:n]); werr != nil {
					if writeErr == nil {
						writeErr = werr
					}
					w = nil
				}
				mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}
	copying.Add(2)
	go pump(outR, stdout)
	go pump(errR, stderr)

	var (
		waitErr error
		reaped  bool
		exited  = make(chan struct{})
	)
	go func() {
		defer close(exited)
		if !awaitExit(pid) {
			// No way to wait without reaping here: reap now, and kill
			// the rest of the group after (its id could in principle be
			// reused in between, if the group is empty by then).
			waitErr = cmd.Wait()
			reaped = true
		}
	}()
	killed := false
	select {
	case <-exited:
	case <-ctx.Done():
		stop(pid, c.grace(), exited)
		killed = true
	}
	killGroup(pid) // whatever the main process left behind
	if !reaped {
		waitErr = cmd.Wait()
	}

	var closeOnce sync.Once
	closeReaders := func() {
		closeOnce.Do(func() {
			outR.Close()
			errR.Close()
		})
	}
	timer := time.AfterFunc(ioGrace, closeReaders)
	copying.Wait()
	timer.Stop()
	closeReaders()

	if killed {
		return context.Cause(ctx)
	}
	if waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay) {
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			e := &ExitError{Command: c.String(), Status: ee.ExitCode()}
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				e.Signal = ws.Signal()
			}
			return e
		}
		return fmt.Errorf("process: %s: %w", c, waitErr)
	}
	if writeErr != nil {
		return fmt.Errorf("process: writing the output of %s: %w", c, writeErr)
	}
	return nil
}

// killGroup kills every process of the group pgid (none left is fine).
func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func (c Cmd) grace() time.Duration {
	if c.Grace == 0 {
		return DefaultGrace
	}
	return c.Grace
}

// stopPoll is how often stop looks for the processes left in a group
// whose main process has exited.
const stopPoll = 50 * time.Millisecond

// stop ends the command whose process group is pgid and whose main
// process's exit closes exited: SIGINT to the group, SIGTERM after half
// the grace, SIGKILL at its end (at once if grace is negative). It returns
// once the main process has exited and no other process of the group
// lives: a tool that cleans up after itself (go test removes its
// /tmp/go-build* on SIGINT) gets to finish even when the shell that ran
// it died at once.
func stop(pgid int, grace time.Duration, exited <-chan struct{}) {
	if grace < 0 {
		killGroup(pgid)
		<-exited
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	term := time.NewTimer(grace / 2)
	defer term.Stop()
	kill := time.NewTimer(grace)
	defer kill.Stop()
	var poll <-chan time.Time // ticks once the main process has exited
	for {
		select {
		case <-exited:
			if !groupAlive(pgid) {
				return
			}
			exited = nil
			t := time.NewTicker(stopPoll)
			defer t.Stop()
			poll = t.C
		case <-poll:
			if !groupAlive(pgid) {
				return
			}
		case <-term.C:
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
		case <-kill.C:
			killGroup(pgid)
			if exited != nil {
				<-exited
			}
			return
		}
	}
}

// environ is the command's environment: the minimal one, then c.Env (the
// last entry for a key wins, as in os/exec).
func (c Cmd) environ() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := []string{"PATH=" + path}
	for _, k := range []string{"HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, c.Env...)
	if o, err := selfOwner(); err == nil {
		env = append(env, OwnerEnv+"="+o.String())
	}
	return env
}

// lookPath finds the program name in the PATH of env, the command's
// environment (exec.LookPath would use the calling process's). Names with
// a slash are left to os/exec.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	if name == "" {
		return "", errors.New("empty program name")
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH %s", name, path)
}
