package livelog

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Tail remembers the last non-empty line of the output written to it (a
// carriage return, as progress bars use, ends a line too): what a failing
// command said last, usually why it failed. Lines that only say that
// something failed are passed over for the line before them: go test's
// "FAIL", "FAIL\tpkg\t0.01s" and "FAIL\tpkg [build failed]", its "ok"
// and "no test files" lines of other packages, "exit status 1", make's
// "*** [target] Error 1". So `go test ./...` failing ends its status with
// the failed assertion or the compiler's error, not with "FAIL". Write
// the command's output to it beside its log (io.MultiWriter). Lines are
// kept up to tailLine bytes. A Tail is safe for concurrent use; its zero
// value is ready.
type Tail struct {
	mu   sync.Mutex
	last []byte // the last non-empty line
	told []byte // the last non-empty line that is not a mere verdict
	cur  []byte
}

// tailLine bounds the line a Tail keeps (its start).
const tailLine = 512

// verdict matches (once cleaned) an output line that says a command or a
// test failed, or another passed, without saying why.
var verdict = regexp.MustCompile(`^(` +
	`FAIL|PASS|` +
	`(FAIL|ok) +\S+ +(\(cached\)|[0-9.]+m?s)( .*)?|` + // go test, per package
	`FAIL +\S+ +\[[a-z ]+\]|` + // [build failed], [setup failed]
	`\? +\S+ +\[no test files\]|` +
	`exit status [0-9]+|` +
	`make(\[[0-9]+\])?: \*\*\* .*Error [0-9]+( \(ignored\))?` +
	`)$`)

// Write records p; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range p {
		if b == '\n' || b == '\r' {
			t.endLine()
			continue
		}
		if len(t.cur) < tailLine {
			t.cur = append(t.cur, b)
		}
	}
	return len(p), nil
}

// endLine records the current line, if it has text. Called with t.mu held.
func (t *Tail) endLine() {
	if len(bytes.TrimSpace(t.cur)) > 0 {
		t.last = append(t.last[:0], t.cur...)
		if !verdict.MatchString(clean(string(t.cur))) {
			t.told = append(t.told[:0], t.cur...)
		}
	}
	t.cur = t.cur[:0]
}

// Line returns the last non-empty line that is not a mere verdict (else
// the last non-empty line; the unfinished one counts), without terminal
// escape sequences (colours), other control characters and surrounding
// spaces: ready to end a status.
func (t *Tail) Line() string {
	t.mu.Lock()
	told, last := string(t.told), string(t.last)
	if cur := clean(string(t.cur)); cur != "" {
		last = string(t.cur)
		if !verdict.MatchString(cur) {
			told = last
		}
	}
	t.mu.Unlock()
	if told != "" {
		return clean(told)
	}
	return clean(last)
}

// escape matches a terminal escape sequence (colours, cursor moves,
// titles).
var escape = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])`)

// clean removes escape sequences, control characters and invalid UTF-8
// from s, and trims it.
func clean(s string) string {
	s = escape.ReplaceAllString(s, "")
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// MessageLimit is the length, in characters, of the longest message that
// a status shows whole: GitHub's limit for a status description, which
// the CI applies to every status.
const MessageLimit = 140

// minCommand is how many characters of a command a failure message keeps
// at least, however long the reason.
const minCommand = 24

// Explain returns err, the failure of a command displayed as cmd, with a
// message that ends with reason (the last line of the command's output:
// Tail.Line), and that fits in MessageLimit characters by abbreviating
// the command rather than the reason: what(c) is the message for the
// command displayed as c (e.g. `Command "make" "test" exited with status
// 2`), and the result reads what(cmd') + ": " + reason, where cmd' is cmd
// cut short with "…" if needed. The reason is cut only if it does not fit
// beside a command of a few characters. Without a reason the message is
// what(cmd'). errors.Is and errors.As see err through the result.
func Explain(err error, what func(cmd string) string, cmd, reason string) error {
	reason = clean(reason)
	suffix := ""
	if reason != "" {
		suffix = ": " + reason
	}
	msg := what(cmd) + suffix
	if n := utf8.RuneCountInString(msg); n > MessageLimit {
		fixed := utf8.RuneCountInString(what("")) + utf8.RuneCountInString(suffix)
		room := MessageLimit - fixed
		if room < minCommand && reason != "" {
			room = min(minCommand, utf8.RuneCountInString(cmd))
			// the reason gives way for the rest
			keep := MessageLimit - utf8.RuneCountInString(what(abbreviate(cmd, room))) - len(": ")
			suffix = ": " + abbreviateStart(reason, keep) // its end says most
		}
		msg = what(abbreviate(cmd, room)) + suffix
	}
	return &explained{err: err, msg: msg}
}

// abbreviate cuts s to n characters, the last one "…", if it is longer.
func abbreviate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return "…"
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// abbreviateStart cuts s to n characters, the first one "…", if it is
// longer: the end of s is kept.
func abbreviateStart(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return "…"
	}
	r := []rune(s)
	return "…" + strings.TrimLeft(string(r[len(r)-(n-1):]), " ")
}

type explained struct {
	err error
	msg string
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
