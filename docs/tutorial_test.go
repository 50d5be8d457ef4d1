// Package docs holds the tests of the documentation: TestTutorial follows
// tutorial.md literally, as a newcomer would.
package docs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/format"
	"io"
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

// A block is a fenced code block of a page: its info string ("sh",
// "go file=main.go", "sh background", "text") and its text.
type block struct {
	info, text string
	line       int
}

// blocks reads the fenced code blocks (```) of a Markdown page.
func blocks(page string) []block {
	var bs []block
	var cur *block
	var text strings.Builder
	for i, l := range strings.Split(page, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{info: strings.TrimSpace(strings.TrimPrefix(l, "```")), line: i + 1}
			text.Reset()
		case cur != nil && strings.TrimSpace(l) == "```":
			cur.text = text.String()
			bs = append(bs, *cur)
			cur = nil
		case cur != nil:
			text.WriteString(l + "\n")
		}
	}
	return bs
}

func TestBlocks(t *testing.T) {
	bs := blocks("text\n```sh\necho a\n```\n\n```go file=x.go\npackage x\n```\n")
	if len(bs) != 2 || bs[0].info != "sh" || bs[0].text != "echo a\n" || bs[1].info != "go file=x.go" || bs[1].text != "package x\n" || bs[1].line != 6 {
		t.Errorf("blocks() = %+v", bs)
	}
}

// statusLine is how the CI logs a status: "me/hello/heads/main (1c2d3e4)
// test: success "Tests passed"".
var statusLine = regexp.MustCompile(`(\S+/heads/\S+) \(([0-9a-f]+)\) (\S+): (\w+) "([^"]*)"`)

// TestTutorial follows docs/tutorial.md in a temporary directory, as a
// newcomer would: every sh block runs in order (in the directory the
// previous one ended in, with sh -e), every `go file=NAME` block is written to NAME,
// and the `sh background` block (the CI) runs until the statuses its
// following text block shows have appeared, then is stopped as Ctrl-C
// stops it. The module it makes uses this checkout through a replace
// directive ($DATAKIT), with the machine's module cache and no network.
func TestTutorial(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds and runs a CI; not in -short mode")
	}
	for _, tool := range []string{"go", "git", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the tutorial needs %s (CI=true): %v", tool, err)
			}
			t.Skipf("SKIP: no %s", tool)
		}
	}
	page, err := os.ReadFile("tutorial.md")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := append(os.Environ(),
		"DATAKIT="+root,
		"GOFLAGS=-mod=mod", // the new module's go.mod may change as it builds
		"GOPROXY=off",      // no network: the modules come from this machine's cache,
		"GOSUMDB=off",      // verified when it was filled
		"GOWORK=off",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	)
	pwdFile := filepath.Join(t.TempDir(), "pwd")
	cwd := dir
	bs := blocks(string(page))
	ran := map[string]int{}
	for i := 0; i < len(bs); i++ {
		b := bs[i]
		fields := strings.Fields(b.info)
		if len(fields) == 0 {
			continue
		}
		where := fmt.Sprintf("tutorial.md:%d", b.line)
		switch {
		case fields[0] == "go" && len(fields) == 2 && strings.HasPrefix(fields[1], "file="):
			name := strings.TrimPrefix(fields[1], "file=")
			if src, err := format.Source([]byte(b.text)); err != nil {
				t.Fatalf("%s: %s does not parse: %v", where, name, err)
			} else if !bytes.Equal(src, []byte(b.text)) {
				t.Errorf("%s: %s is not gofmt-formatted; formatted it reads:\n%s", where, name, src)
			}
			if err := os.WriteFile(filepath.Join(cwd, name), []byte(b.text), 0o644); err != nil {
				t.Fatal(err)
			}
			ran["go"]++
		case fields[0] == "sh" && len(fields) == 1:
			out, err := runBlock(cwd, env, pwdFile, b.text)
			t.Logf("%s: $ %s\n%s", where, strings.TrimSpace(b.text), out)
			if err != nil {
				t.Fatalf("%s: the block failed: %v\n%s", where, err, out)
			}
			data, err := os.ReadFile(pwdFile)
			if err != nil {
				t.Fatal(err)
			}
			cwd = strings.TrimSpace(string(data))
			checkOutput(t, where, out, bs, i)
			ran["sh"]++
		case fields[0] == "sh" && len(fields) == 2 && fields[1] == "background":
			// The text block after it shows the statuses to wait for.
			var want []string
			if i+1 < len(bs) && bs[i+1].info == "text" {
				for _, m := range statusLine.FindAllStringSubmatch(bs[i+1].text, -1) {
					want = append(want, m[1]+" "+m[3]+": "+m[4]+` "`+m[5]+`"`)
				}
			}
			if len(want) == 0 {
				t.Fatalf("%s: no text block with the statuses to wait for follows the background block", where)
			}
			runBackground(t, where, cwd, env, b.text, want)
			ran["background"]++
		case fields[0] == "text":
		default:
			t.Fatalf("%s: a block this test does not know how to follow: %q", where, b.info)
		}
	}
	if ran["go"] < 3 || ran["sh"] < 5 || ran["background"] != 1 {
		t.Fatalf("followed %v: the page lost its blocks?", ran)
	}
}

// runBlock runs a sh block with sh -e in dir (POSIX sh: the Go image of
// the self-CI has busybox's, not bash), and records where it ended in
// pwdFile.
func runBlock(dir string, env []string, pwdFile, text string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-e", "-c", text+"\npwd > "+shellQuote(pwdFile)+"\n")
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// checkOutput compares a block's output with the text block after it, if
// any: its status table's rows (the commit aside, which the page cannot
// know) must be there.
func checkOutput(t *testing.T, where, out string, bs []block, i int) {
	t.Helper()
	if i+1 >= len(bs) || bs[i+1].info != "text" || !strings.HasPrefix(bs[i+1].text, "TARGET") {
		return
	}
	norm := func(row string) string {
		f := strings.Fields(row)
		if len(f) >= 2 {
			f[1] = "HEAD" // the commit
		}
		return strings.Join(f, " ")
	}
	got := map[string]bool{}
	for _, row := range strings.Split(out, "\n") {
		got[norm(row)] = true
	}
	for _, row := range strings.Split(strings.TrimSpace(bs[i+1].text), "\n")[1:] {
		if !got[norm(row)] {
			t.Errorf("%s: the output lacks the row %q the page shows:\n%s", where, row, out)
		}
	}
}

// runBackground starts a block that runs until stopped (the CI), waits
// until its output has every line of want, then stops it as Ctrl-C would
// (SIGINT to its process group) and checks that it stops cleanly.
func runBackground(t *testing.T, where, dir string, env []string, text string, want []string) {
	t.Helper()
	cmd := exec.Command("sh", "-e", "-c", text)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	var mu sync.Mutex
	var output strings.Builder
	seen := make(chan struct{})
	var once sync.Once
	go func() {
		missing := map[string]bool{}
		for _, w := range want {
			missing[w] = true
		}
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			output.WriteString(line + "\n")
			mu.Unlock()
			if m := statusLine.FindStringSubmatch(line); m != nil {
				delete(missing, m[1]+" "+m[3]+": "+m[4]+` "`+m[5]+`"`)
				if len(missing) == 0 {
					once.Do(func() { close(seen) })
				}
			}
		}
	}()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever happens
	out := func() string { mu.Lock(); defer mu.Unlock(); return output.String() }
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("%s: the CI ended (%v) before the statuses %q appeared:\n%s", where, err, want, out())
	case <-time.After(5 * time.Minute):
		t.Fatalf("%s: the statuses %q did not appear within 5 minutes:\n%s", where, want, out())
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // Ctrl-C
	select {
	case err := <-done:
		// The shell and go run end with the signal (or go run with status
		// 1), whatever the CI does (it exits 0 on SIGINT): what matters is
		// that the CI stops, soon and cleanly.
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Errorf("%s: after Ctrl-C: %v:\n%s", where, err, out())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s: the shell did not end within 30 s of Ctrl-C:\n%s", where, out())
	}
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(-cmd.Process.Pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%s: the CI did not stop within 30 s of Ctrl-C:\n%s", where, out())
			break
		}
	}
	if o := out(); strings.Contains(o, "panic:") || strings.Contains(o, " ERROR ") || strings.Contains(o, "DATA RACE") {
		t.Errorf("%s: the CI's output shows an error:\n%s", where, o)
	}
	t.Logf("%s: $ %s\n%s", where, strings.TrimSpace(text), out())
}
