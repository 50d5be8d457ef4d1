package git

import (
	"slices"
	"testing"
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
