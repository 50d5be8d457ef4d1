package livelog_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dkgo/datakit/ci/livelog"
)

// A Tail keeps the last line with text: a carriage return ends a line too,
// and escape sequences and control characters are dropped.
func TestTail(t *testing.T) {
	for _, c := range []struct{ name, out, want string }{
		{"plain", "a\nFAIL: b\n", "FAIL: b"},
		{"blank lines after", "FAIL: b\n\n  \n", "FAIL: b"},
		{"no newline", "a\nunfinished", "unfinished"},
		{"progress bar", "50%\r100%\rdone: 3 failures\r\n", "done: 3 failures"},
		{"colours", "ok\n\x1b[31mFAIL\x1b[0m\tpkg\x07\n", "FAIL pkg"},
		{"spaces", "  indented reason  \n", "indented reason"},
		{"nothing", "", ""},
		// Lines that only say that something failed give way to the one
		// that says why.
		{"go test", "=== RUN   TestA\n--- FAIL: TestA (0.00s)\n    a_test.go:9: got 1, want 2\nFAIL\nFAIL\texample.com/a\t0.004s\nok  \texample.com/b\t(cached)\n?   \texample.com/c\t[no test files]\nFAIL\n", "a_test.go:9: got 1, want 2"},
		{"go build failed", "# example.com/a\n./a.go:3:1: syntax error: non-declaration statement outside function body\nFAIL\texample.com/a [build failed]\nFAIL\n", "./a.go:3:1: syntax error: non-declaration statement outside function body"},
		{"go run", "panic: boom\nexit status 2\n", "panic: boom"},
		{"make", "cc: error: x.c: No such file\nmake: *** [Makefile:3: all] Error 1\n", "cc: error: x.c: No such file"},
		{"only verdicts", "FAIL\n", "FAIL"},
		{"unfinished verdict", "why\nexit status 1", "why"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tail livelog.Tail
			for i := 0; i < len(c.out); i++ { // byte by byte: any split
				tail.Write([]byte{c.out[i]})
			}
			if got := tail.Line(); got != c.want {
				t.Errorf("Line() = %q, want %q", got, c.want)
			}
		})
	}
}

// exitMsg is the message of a command that exited with status 1.
func exitMsg(cmd string) string { return fmt.Sprintf("Command %s exited with status 1", cmd) }

// A failure message ends with the reason and fits in a status: the
// command gives way, not the reason.
func TestExplain(t *testing.T) {
	long := `"sh" "-c" "` + strings.Repeat("for f in $(git ls-files '*.go'); do check $f; done; ", 4) + `"`
	reason := "no license header in ./extra.go"
	for _, c := range []struct {
		name, cmd, reason, want string
	}{
		{"short", `"make" "test"`, "FAIL", `Command "make" "test" exited with status 1: FAIL`},
		{"no reason", `"make" "test"`, "", `Command "make" "test" exited with status 1`},
		{"long command", long, reason, `Command "sh" "-c" "for f in $(git ls-files '*.go'); do check $f; done; for f in $(git… exited with status 1: no license header in ./extra.go`},
		{"long command, no reason", long, "", exitMsg(abbrev(long, 140-len(exitMsg(""))))},
		{"long reason", long, strings.Repeat("x", 200) + " END", `Command "sh" "-c" "for f in $(g… exited with status 1: …` + strings.Repeat("x", 80) + " END"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := errors.New("base")
			err := livelog.Explain(base, exitMsg, c.cmd, c.reason)
			if got := err.Error(); got != c.want {
				t.Errorf("Explain = %q\nwant      %q", got, c.want)
			}
			if n := utf8.RuneCountInString(err.Error()); n > livelog.MessageLimit {
				t.Errorf("%d characters, more than %d", n, livelog.MessageLimit)
			}
			if !errors.Is(err, base) {
				t.Error("Explain hides the error it explains")
			}
		})
	}
}

func abbrev(s string, n int) string { return string([]rune(s)[:n-1]) + "…" }

// Whatever the command and its output, the message fits in a status and
// ends with the reason whenever the reason leaves room for the start of
// the command.
func FuzzExplain(f *testing.F) {
	f.Add(`"make" "test"`, "FAIL")
	f.Add(strings.Repeat("é", 300), "no license header in ./extra.go")
	f.Add("x", strings.Repeat("\x1b[31m", 50)+"red")
	f.Fuzz(func(t *testing.T, cmd, out string) {
		var tail livelog.Tail
		tail.Write([]byte(out))
		reason := tail.Line()
		msg := livelog.Explain(errors.New("x"), exitMsg, cmd, reason).Error()
		if n := utf8.RuneCountInString(msg); n > livelog.MessageLimit {
			t.Fatalf("%q: %d characters", msg, n)
		}
		if reason != "" && utf8.RuneCountInString(reason) <= livelog.MessageLimit-len(exitMsg(""))-30 && !strings.HasSuffix(msg, ": "+reason) {
			t.Fatalf("%q does not end with the reason %q", msg, reason)
		}
		if !strings.HasPrefix(msg, "Command ") {
			t.Fatalf("%q", msg)
		}
	})
}
