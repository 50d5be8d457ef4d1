package docs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// commitID is how a commit or object id reads: the page's ids are
// examples, the store's its own.
var commitID = regexp.MustCompile(`[0-9a-f]{40}`)

// bashLine is the line number bash puts in its messages when it reads a
// script ("bash: line 28: echo: write error"), which a terminal does not.
var bashLine = regexp.MustCompile(`(?m)^bash: line \d+: `)

// TestFilesystem runs the shell session of docs/filesystem.md for real: a
// datakit server on a store of its own, mounted with datakit mount, every
// `sh` block run in order in one bash, each output compared with the `text`
// block after it.
func TestFilesystem(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: runs a server and a FUSE mount; not in -short mode")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the filesystem page needs FUSE (CI=true): %v", err)
		}
		t.Skipf("SKIP: no FUSE: %v", err)
	}
	for _, tool := range []string{"git", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the filesystem page needs %s (CI=true): %v", tool, err)
			}
			t.Skipf("SKIP: no %s", tool)
		}
	}
	page, err := os.ReadFile("filesystem.md")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "datakit")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/datakit").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(tmp, "db")
	mnt := filepath.Join(tmp, "mnt")
	os.Mkdir(mnt, 0o755)
	sock := "unix://" + filepath.Join(tmp, "9p.sock")
	server := start(t, bin, "--git", db, "--listen-9p", sock)
	waitDial(t, filepath.Join(tmp, "9p.sock"), server)
	mount := start(t, bin, "mount", "--store", sock, mnt)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(mnt, "branch")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mount did not appear:\n%s", mount.out())
		}
	}
	t.Cleanup(func() {
		exec.Command("fusermount", "-u", mnt).Run()
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})

	sh := newShell(t, mnt, append(os.Environ(), "DB="+db, "MNT="+mnt, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"))
	bs := blocks(string(page))
	ran := 0
	for i, b := range bs {
		where := fmt.Sprintf("filesystem.md:%d", b.line)
		switch b.info {
		case "sh":
			out, err := sh.run(b.text)
			if err != nil {
				t.Fatalf("%s: %v\n%s\nserver:\n%s\nmount:\n%s", where, err, out, server.out(), mount.out())
			}
			ran++
			if i+1 < len(bs) && bs[i+1].info == "text" {
				norm := func(s string) string {
					s = bashLine.ReplaceAllString(s, "bash: ")
					return strings.TrimRight(commitID.ReplaceAllString(s, "<id>"), "\n ")
				}
				if got, want := norm(out), norm(bs[i+1].text); got != want {
					t.Errorf("%s: $ %s\ngot:\n%s\nwant (the page's):\n%s", where, strings.TrimSpace(b.text), out, bs[i+1].text)
				}
			}
		case "sh setup", "sh norun", "text":
		default:
			t.Fatalf("%s: a block this test does not know how to run: %q", where, b.info)
		}
	}
	if ran < 10 {
		t.Fatalf("ran %d blocks: the page lost its blocks?", ran)
	}
}

// proc is a process of the test, its output kept.
type proc struct {
	cmd *exec.Cmd
	buf *lockedBuffer
}

func (p *proc) out() string { return p.buf.String() }

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	buf := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return &proc{cmd: cmd, buf: buf}
}

func waitDial(t *testing.T, path string, p *proc) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not answer on %s:\n%s", path, p.out())
		}
	}
}

// shell is one bash that runs the blocks one after the other, so that a
// block's cd and variables hold for the next, as in a person's terminal.
type shell struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
}

const endMark = "@@ block done @@"

func newShell(t *testing.T, dir string, env []string) *shell {
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e")
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &shell{t: t, stdin: stdin, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	go func() { cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	return s
}

// run runs a block and returns its output (stdout and stderr), or an error
// if the shell ended (a command failed: bash -e) or the block took too long.
func (s *shell) run(text string) (string, error) {
	if _, err := io.WriteString(s.stdin, text+"\necho '"+endMark+"'\n"); err != nil {
		return "", err
	}
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return out.String(), fmt.Errorf("the shell ended: a command failed")
			}
			if line == endMark {
				return out.String(), nil
			}
			out.WriteString(line + "\n")
		case <-ctx.Done():
			return out.String(), fmt.Errorf("the block did not end within a minute")
		}
	}
}

// lockedBuffer is an output buffer written by a process and read by the
// test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
