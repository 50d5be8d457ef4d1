package ci_test

import (
	"testing"

	"github.com/dkgo/datakit/ci"
)

func FuzzParseTargetID(f *testing.F) {
	for _, s := range []string{"me/p/prs/7", "me/p/heads/master", "me/p/tags/v1.0", "me/p/heads/a/b", "me/p/prs/0", "x", "me/p/heads/", "me/p/heads//a", " me/p/tags/x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ci.ParseTargetID(s)
		if err != nil {
			return
		}
		again, err := ci.ParseTargetID(id.String())
		if err != nil || again != id {
			t.Fatalf("ParseTargetID(%q) = %v; its String %q parses as %v, %v", s, id, id.String(), again, err)
		}
	})
}

func TestParseTargetID(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"me/p/prs/7", "me/p/prs/7", true},
		{"me/p/pr/7", "me/p/prs/7", true},
		{"me/p/heads/feature/x", "me/p/heads/feature/x", true},
		{"me/p/tags/v1.0", "me/p/tags/v1.0", true},
		{"me/p/prs/x", "", false},
		{"me/p/prs/-1", "", false},
		{"me/p/branches/x", "", false},
		{"me/p", "", false},
		{"m e/p/heads/x", "", false},
	} {
		id, err := ci.ParseTargetID(c.in)
		if (err == nil) != c.ok || (c.ok && id.String() != c.want) {
			t.Errorf("ParseTargetID(%q) = %v, %v; want %q (ok %v)", c.in, id, err, c.want, c.ok)
		}
	}
}
