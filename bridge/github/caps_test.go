package github_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
)

func mustCaps(t testing.TB, s string) github.Capabilities {
	t.Helper()
	c, err := github.ParseCapabilities(s)
	if err != nil {
		t.Fatalf("ParseCapabilities(%q): %v", s, err)
	}
	return c
}

// The original's round-trip strings print back as they were written.
func TestCapabilitiesRoundTrip(t *testing.T) {
	for _, s := range []string{
		"*:rw",
		"repo:r,repo[samoht]:w",
		"*:r,status[foo/bar]:w",
		"pr:rw,status:w",
		"*:w,commit:,webhook:r",
		// and more:
		"*:",
		"*:x",
		"*:r,webhook:rw,status[ci/datakit]:x",
		"commit:r,pr:r,ref:r,webhook:xrw,repo:w,repo[a]:r,repo[a/b]:w,status:r,status[a]:w,status[a/b]:x,status[b]:r",
	} {
		if got := mustCaps(t, s).String(); got != s {
			t.Errorf("ParseCapabilities(%q).String() = %q", s, got)
		}
	}
	// Values built with Allow print as strings that parse back to them.
	for _, c := range []github.Capabilities{
		github.All(),
		github.None(),
		github.All().Allow(github.Read, github.Status("foo/bar")),
		github.All().Allow(github.Write, github.Commit),
		github.None().Allow(github.Excl, github.Status("ci/datakit")).Allow(github.Read, github.PR),
		github.All().Disallow(github.Write, github.Repo("me", "private")),
	} {
		s := c.String()
		if d := mustCaps(t, s); !d.Equal(c) {
			t.Errorf("ParseCapabilities(%q) = %v, want %v", s, d, c)
		}
	}
	// Normalised forms.
	for in, want := range map[string]string{
		"*:wr":                                  "*:rw",
		"*:rwx":                                 "*:xrw",
		" status[a] : w , *:r ":                 "*:r,status[a]:w",
		"webhook:w,commit:r,pr:r":               "commit:r,pr:r,webhook:w",
		"status:,pr:r":                          "pr:r",
		"status[b]:w,status[a/b]:r,status[a]:x": "status[a]:x,status[a/b]:r,status[b]:w",
	} {
		if got := mustCaps(t, in).String(); got != want {
			t.Errorf("ParseCapabilities(%q).String() = %q, want %q", in, got, want)
		}
	}
}

// The original's table of checks, and a few of ours.
func TestCapabilitiesCheck(t *testing.T) {
	for _, tc := range []struct {
		caps string
		op   github.Op
		res  github.Resource
		want bool
	}{
		{"*:rw", github.Read, github.Status("foo"), true},
		{"*:rw", github.Write, github.Status("foo"), true},
		{"*:rw", github.Excl, github.Status("foo"), false},
		{"*:w", github.Read, github.PR, false},
		{"*:w", github.Write, github.PR, true},
		{"*:w", github.Excl, github.PR, false},
		{"*:x", github.Read, github.PR, true},
		{"*:x", github.Write, github.PR, true},
		{"*:x", github.Excl, github.PR, true},
		{"repo[samoht]:w,repo:r", github.Read, github.Repo("samoht", "test"), false},
		{"repo[samoht]:w,repo:r", github.Write, github.Repo("samoht", "test"), true},
		{"*:w,pr:r", github.Read, github.PR, true},
		{"*:w,pr:r", github.Write, github.PR, false},
		{"*:w,pr:r", github.Excl, github.PR, false},
		{"*:w,pr:r", github.Read, github.Commit, false},
		{"*:w,pr:r", github.Write, github.Commit, true},
		{"*:w,pr:r", github.Excl, github.Commit, false},
		{"*:r,status[foo]:x,webhook:w", github.Excl, github.Status("foo"), true},
		{"status[foo/bar]:r", github.Read, github.Status("foo/bar/0"), true},
		{"status[foo]:r,status[foo/bar]:w", github.Write, github.Status("foo/bar/0"), true},
		// Longest prefix, by whole components.
		{"status[foo]:r,status[foo/bar]:w", github.Write, github.Status("foo/barn"), false},
		{"status[foo]:r,status[foo/bar]:w", github.Read, github.Status("foo/barn"), true},
		// The kind's own entry, then the default.
		{"*:r,status:w", github.Write, github.Status("any/thing"), true},
		{"*:r,status:w", github.Read, github.Status("any/thing"), false},
		{"*:r,status[ci]:w", github.Write, github.Status("other"), false},
		{"*:r,status[ci]:w", github.Read, github.Status("other"), true},
		{"*:r,status[ci/datakit]:x,webhook:rw", github.Write, github.Status("ci/datakit/test"), true},
		{"*:r,status[ci/datakit]:x,webhook:rw", github.Write, github.PR, false},
		{"*:r,status[ci/datakit]:x,webhook:rw", github.Write, github.Webhook, true},
		{"repo[me/proj]:r", github.Read, github.Repo("me", "proj"), true},
		{"repo[me/proj]:r", github.Read, github.Repo("me", "other"), false},
		{"*:", github.Read, github.Ref, false},
	} {
		if got := mustCaps(t, tc.caps).Check(tc.op, tc.res); got != tc.want {
			t.Errorf("%q.Check(%v, %v) = %v, want %v", tc.caps, tc.op, tc.res, got, tc.want)
		}
	}
}

func TestParseCapabilitiesErrors(t *testing.T) {
	for _, s := range []string{
		"", "rw", "*:rwz", "foo:r", "status[:r", "status[]:r", "status[a//b]:w", "repos:r",
		"*:r,*:w", "pr:r,pr:w", "status[a]:r,status[a]:w", "*:r,", "status[a]b:r",
	} {
		_, err := github.ParseCapabilities(s)
		if err == nil {
			t.Errorf("ParseCapabilities(%q) succeeded", s)
		} else if !errors.Is(err, dkstore.ErrInvalid) {
			t.Errorf("ParseCapabilities(%q) = %v, not ErrInvalid", s, err)
		}
	}
}

func FuzzParseCapabilities(f *testing.F) {
	for _, s := range []string{"*:rw", "repo:r,repo[samoht]:w", "*:r,status[foo/bar]:w", "pr:rw,status:w",
		"*:w,commit:,webhook:r", "*:r,status[ci/datakit]:x,webhook:rw", "status[a:b]:x", ",", "*:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := github.ParseCapabilities(s)
		if err != nil {
			return
		}
		printed := c.String()
		d, err := github.ParseCapabilities(printed)
		if err != nil {
			t.Fatalf("ParseCapabilities(%q) = %v, whose String %q does not parse: %v", s, c, printed, err)
		}
		if d.String() != printed {
			t.Errorf("%q prints %q, which prints %q", s, printed, d.String())
		}
		for _, r := range []github.Resource{github.PR, github.Commit, github.Ref, github.Webhook,
			github.Status(""), github.Status("ci/datakit/x"), github.Repo("u", "r")} {
			for _, op := range []github.Op{github.Read, github.Write, github.Excl} {
				if c.Check(op, r) != d.Check(op, r) {
					t.Errorf("%q and its String %q differ on %v %v", s, printed, op, r)
				}
			}
		}
	})
}

// A refused capabilities string says what is wrong where: the separator,
// the character, the bracket.
func TestParseCapabilitiesMessages(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "none given",
		"pr:rw;ref:r":         `';' (character 6) is not a separator: separate the items with ','`,
		"pr:r|ref:r":          `'|' (character 5) is not a separator`,
		"pr:r ref:w":          `"pr:r ref:w": a space inside an item: separate the items with ','`,
		"pr:r,,ref:w":         "an empty item (two ',' in a row)",
		"pr:r,":               "an empty item (a ',' at the end)",
		"pr":                  `"pr": no ':' between the resource and its operations`,
		"*:rq":                `"*:rq": unknown operation 'q': want any of r (read), w (write) and x`,
		"status[ci/datakit:x": "no ']' closing status[",
		"status[]:x":          "nothing between status[ and ]",
		"status[a//b]:x":      "an empty name between '/'s",
		"prs:r":               `unknown resource "prs"`,
	} {
		_, err := github.ParseCapabilities(in)
		if err == nil || !strings.Contains(err.Error(), want) || strings.HasSuffix(err.Error(), "invalid argument") {
			t.Errorf("ParseCapabilities(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}
