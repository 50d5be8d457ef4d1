package bridge_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dkgo/datakit/bridge"
)

func TestTrimDescription(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"  Success!  ":           "Success!",
		"two\nlines":             "two…",
		"\x1b[31mred\x1b[0m":     "red",
		strings.Repeat("x", 140): strings.Repeat("x", 140),
		strings.Repeat("x", 141): strings.Repeat("x", 40) + "…" + strings.Repeat("x", 99),
		// The end, where a failure says why, is kept.
		"Command " + strings.Repeat("c", 150) + " failed: the reason": "Command " + strings.Repeat("c", 139-len("Command ")-len(": the reason")) + "…: the reason",
	} {
		got := bridge.TrimDescription(in)
		if got != want {
			t.Errorf("TrimDescription(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzTrimDescription(f *testing.F) {
	for _, s := range []string{"ok", strings.Repeat("é", 200), "a: b: " + strings.Repeat("z", 200), "x\x1b[2Ky\n", "\t \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := bridge.TrimDescription(s)
		if utf8.ValidString(s) && utf8.RuneCountInString(got) > bridge.MaxDescription {
			t.Errorf("TrimDescription(%q) has %d characters", s, utf8.RuneCountInString(got))
		}
		if again := bridge.TrimDescription(got); again != got {
			t.Errorf("TrimDescription is not idempotent on %q: %q then %q", s, got, again)
		}
	})
}
