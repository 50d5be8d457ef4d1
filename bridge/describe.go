package bridge

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxDescription is GitHub's limit on a status description, in
// characters (runes).
const MaxDescription = 140

// ansiEscape matches a terminal escape sequence (colours, cursor moves),
// which a build's last output line often carries.
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])`)

// TrimDescription makes a status description fit GitHub's 140 characters,
// as plain text: terminal escape sequences and other control characters
// (but the first line break, which ends it) are dropped. A description too
// long is shortened in its middle, not at its end, where a failure says
// what went wrong ("Command … exited with status 1: no license header in
// x.go"): the longest part from a ": " to the end that fits is kept whole
// (the head, often a long command line, is abbreviated), else the first 40
// and the last 99 characters are. The CI writes its descriptions so, and
// the GitHub bridge cuts any other description the same way before it
// sends it. TrimDescription(TrimDescription(s)) == TrimDescription(s).
func TrimDescription(s string) string {
	s = ansiEscape.ReplaceAllString(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + "…"
	}
	if utf8.RuneCountInString(s) <= MaxDescription {
		return s
	}
	r := []rune(s)
	const minHead = 20
	for i := 1; i+2 < len(r); i++ {
		// The longest ": reason" tail that fits beside a head of minHead.
		if r[i] == ':' && r[i+1] == ' ' && len(r)-i <= MaxDescription-1-minHead {
			head := MaxDescription - 1 - (len(r) - i)
			return string(r[:head]) + "…" + string(r[i:])
		}
	}
	const keepHead = 40
	return string(r[:keepHead]) + "…" + string(r[len(r)-(MaxDescription-1-keepHead):])
}
