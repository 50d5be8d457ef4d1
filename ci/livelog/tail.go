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
// command said last, usually why it failed. Write the command's output to
// it beside its log (io.MultiWriter). Lines are kept up to tailLine bytes.
// A Tail is safe for concurrent use; its zero value is ready.
type Tail struct {
	mu   sync.Mutex
	last []byte
	cur  []byte
}

// tailLine bounds the line a Tail keeps (its start).
const tailLine = 512

// Write records p; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range p {
		if b == '\n' || b == '\r' {
			if len(bytes.TrimSpace(t.cur)) > 0 {
				t.last = append(t.last[:0], t.cur...)
			}
			t.cur = t.cur[:0]
			continue
		}
		if len(t.cur) < tailLine {
			t.cur = append(t.cur, b)
		}
	}
	return len(p), nil
}

// Line returns the last non-empty line (the unfinished one, if it has
// text), without terminal escape sequences (colours), other control
// characters and surrounding spaces: ready to end a status.
func (t *Tail) Line() string {
	t.mu.Lock()
	line := t.last
	if len(bytes.TrimSpace(t.cur)) > 0 {
		line = t.cur
	}
	s := string(line)
	t.mu.Unlock()
	return clean(s)
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
			suffix = ": " + abbreviate(reason, keep)
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

type explained struct {
	err error
	msg string
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
