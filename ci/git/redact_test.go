package git

import (
	"slices"
	"testing"

	"github.com/dkgo/datakit/dkstore"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct {
		url, display string
		secrets      []string
	}{
		{"https://github.com/me/p", "https://github.com/me/p", nil},
		{"https://me:tok3n@github.com/me/p.git", "https://***@github.com/me/p.git", []string{"tok3n"}},
		{"https://ghp_abc@github.com/me/p", "https://***@github.com/me/p", []string{"ghp_abc"}},
		{"ssh://git@github.com/me/p", "ssh://git@github.com/me/p", nil},
		{"git@github.com:me/p.git", "git@github.com:me/p.git", nil},
		{"/srv/git/p", "/srv/git/p", nil},
	} {
		display, secrets := redact(c.url)
		if display != c.display || !slices.Equal(secrets, c.secrets) {
			t.Errorf("redact(%q) = %q, %q; want %q, %q", c.url, display, secrets, c.display, c.secrets)
		}
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"test": "test", "make check": "make-check", "a..b": "a-b", "v1.0": "v1.0", "end.": "end",
		"x.lock": "x-lock", "": "x", ".": "x", "..": "-", "é": "-",
	} {
		got := safeName(in)
		if got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
		if err := dkstore.BranchName("shell-of-" + got + "-on-abc").Valid(); err != nil {
			t.Errorf("safeName(%q): %v", in, err)
		}
	}
}
