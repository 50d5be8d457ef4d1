package dkstore_test

// Fuzz targets for the parsers of the package's vocabulary. `make fuzz`
// runs each for FUZZTIME; `go test` runs the seeds.

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/dkgo/datakit/dkstore"
)

var pathSeeds = []string{
	"", "a", "a/b", "a/b/c/d/e", "/a", "a/", "/", "//", "a//b", ".", "..", "a/./b",
	"a/../b", "a/.", "...", ".a", "a.", "a\x00b", "\x00", "a b/c d", "\u00fc/\u00df",
	"\xff\xfe", "a\\b", strings.Repeat("x/", 100) + "x",
}

func FuzzParsePath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s, "a")
		f.Add(s, "")
	}
	f.Add("a/b/c", "a/b")
	f.Add("ab/c", "a")
	f.Add("a/bc", "a/b")
	f.Fuzz(func(t *testing.T, s, q string) {
		p, err := dkstore.ParsePath(s)
		steps := strings.Split(s, "/")
		_, stepsErr := dkstore.PathOf(steps...)
		if s != "" && (err == nil) != (stepsErr == nil) {
			t.Fatalf("ParsePath(%q) = %v but PathOf(its steps) = %v", s, err, stepsErr)
		}
		// Methods of invalid paths must not panic either.
		raw := dkstore.Path(s)
		_, _, _, _ = raw.Steps(), raw.Base(), raw.Dir(), raw.HasPrefix(dkstore.Path(q))
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) {
				t.Fatalf("ParsePath(%q) = %v, want an ErrInvalid error", s, err)
			}
			if raw.Valid() == nil {
				t.Fatalf("ParsePath(%q) failed but Path.Valid() accepts it", s)
			}
			return
		}
		if string(p) != s {
			t.Fatalf("ParsePath(%q) = %q", s, p)
		}
		if p.IsRoot() {
			if s != "" || p.Steps() != nil || p.String() != "/" || p.Base() != "" || p.Dir() != dkstore.Root {
				t.Fatalf("root path %q: Steps %q, String %q, Base %q, Dir %q", s, p.Steps(), p.String(), p.Base(), p.Dir())
			}
		} else {
			if got := p.Steps(); !slices.Equal(got, steps) {
				t.Fatalf("Path(%q).Steps() = %q, want %q", s, got, steps)
			}
			if q, err := dkstore.PathOf(p.Steps()...); err != nil || q != p {
				t.Fatalf("PathOf(Path(%q).Steps()...) = %q, %v", s, q, err)
			}
			if got := p.Dir().Join(p.Base()); got != p {
				t.Fatalf("Path(%q): Dir().Join(Base()) = %q", s, got)
			}
			if p.Dir().Valid() != nil || !p.HasPrefix(p.Dir()) || strings.Contains(p.Base(), "/") {
				t.Fatalf("Path(%q): Dir %q, Base %q", s, p.Dir(), p.Base())
			}
			if p.String() != s {
				t.Fatalf("Path(%q).String() = %q", s, p.String())
			}
		}
		// HasPrefix is "q's steps begin p's steps".
		pq, err := dkstore.ParsePath(q)
		if err != nil {
			return
		}
		want := len(pq.Steps()) <= len(p.Steps()) && slices.Equal(p.Steps()[:len(pq.Steps())], pq.Steps())
		if got := p.HasPrefix(pq); got != want {
			t.Fatalf("Path(%q).HasPrefix(%q) = %v, want %v", s, q, got, want)
		}
	})
}

var branchSeeds = []string{
	"master", "main", "feature/x", "a/b/c/d", "1.0", "v1.2.3", "under_score", "-dash", "HEAD",
	"a.b", "a./b", "x.lock.y", "lock", "a-.lock-", strings.Repeat("a", 1024),
	// invalid for us
	"", "a..b", "..", ".", ".hidden", "a/.b", "x.lock", "x.lock/y", "a/b.lock", "a.lock.lock",
	"trailing.", "a/b.", "trailing/", "/leading", "a//b", "@", "a@{b", "a b", "a~1", "a^",
	"a:b", "a?", "a*", "a[", "a\\b", "\u00e9", "a\x00b", "a\x7f", "a\tb", strings.Repeat("a", 1025),
}

// gitRefFormatOK is a model of git check-ref-format's rules, from its
// documentation, for a full ref name. TestBranchNameSeedsGit checks the
// model against git on the seeds.
func gitRefFormatOK(ref string) bool {
	if ref == "" || ref == "@" || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.Contains(ref, "..") || strings.Contains(ref, "//") ||
		strings.Contains(ref, "@{") {
		return false
	}
	for _, c := range []byte(ref) {
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return false
		}
	}
	for _, comp := range strings.Split(ref, "/") {
		if strings.HasPrefix(comp, ".") || strings.HasSuffix(comp, ".lock") {
			return false
		}
	}
	return true
}

func FuzzParseBranchName(f *testing.F) {
	for _, s := range branchSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := dkstore.ParseBranchName(s)
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) {
				t.Fatalf("ParseBranchName(%q) = %v, want an ErrInvalid error", s, err)
			}
			if dkstore.BranchName(s).Valid() == nil {
				t.Fatalf("ParseBranchName(%q) failed but BranchName.Valid() accepts it", s)
			}
			return
		}
		if string(b) != s || b.Ref() != "refs/heads/"+s {
			t.Fatalf("ParseBranchName(%q) = %q, Ref %q", s, b, b.Ref())
		}
		if !gitRefFormatOK(b.Ref()) {
			t.Fatalf("ParseBranchName(%q) accepts a name git refuses", s)
		}
	})
}

// TestBranchNameSeedsGit checks the branch name seeds with git itself:
// every name we accept, git accepts, and gitRefFormatOK agrees with git.
func TestBranchNameSeedsGit(t *testing.T) {
	compatNeedGit(t)
	for _, s := range branchSeeds {
		if strings.IndexByte(s, 0) >= 0 {
			continue // cannot be a command-line argument
		}
		ref := "refs/heads/" + s
		gitOK := exec.Command("git", "check-ref-format", ref).Run() == nil
		_, err := dkstore.ParseBranchName(s)
		if err == nil && !gitOK {
			t.Errorf("ParseBranchName(%q) accepts it, git check-ref-format %q refuses it", s, ref)
		}
		if model := gitRefFormatOK(ref); model != gitOK {
			t.Errorf("gitRefFormatOK(%q) = %v, git check-ref-format says %v", ref, model, gitOK)
		}
	}
}

var hashSeeds = []string{
	"", "0", strings.Repeat("0", 40), strings.Repeat("f", 40), strings.Repeat("F", 40),
	"4b825dc642cb6eb9a060e54bf8d69288fbee4904", "4B825DC642CB6EB9A060E54BF8D69288FBEE4904",
	strings.Repeat("0", 39), strings.Repeat("0", 41), strings.Repeat("g", 40),
	strings.Repeat("0", 38) + "0x", strings.Repeat("0", 39) + "\x00", strings.Repeat("\u00e9", 20),
	strings.Repeat("a", 64),
}

func FuzzParseHash(f *testing.F) {
	for _, s := range hashSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := dkstore.ParseHash(s)
		id, idErr := dkstore.ParseCommitID(s)
		if (err == nil) != (idErr == nil) || dkstore.Hash(id) != h {
			t.Fatalf("ParseHash(%q) = %v, %v but ParseCommitID = %v, %v", s, h, err, id, idErr)
		}
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) || !errors.Is(idErr, dkstore.ErrInvalid) {
				t.Fatalf("ParseHash(%q) = %v, want an ErrInvalid error", s, err)
			}
			if !h.IsZero() || !id.IsZero() {
				t.Fatalf("ParseHash(%q) failed but returned %v", s, h)
			}
			return
		}
		lower := strings.ToLower(s)
		if h.String() != lower {
			t.Fatalf("ParseHash(%q).String() = %q", s, h.String())
		}
		if h2, err := dkstore.ParseHash(h.String()); err != nil || h2 != h {
			t.Fatalf("ParseHash(ParseHash(%q).String()) = %v, %v", s, h2, err)
		}
		if h.IsZero() != (lower == strings.Repeat("0", 40)) {
			t.Fatalf("ParseHash(%q).IsZero() = %v", s, h.IsZero())
		}
		switch {
		case id.IsZero() && id.String() != "":
			t.Fatalf("the zero CommitID prints as %q, want \"\"", id.String())
		case !id.IsZero() && id.String() != lower:
			t.Fatalf("ParseCommitID(%q).String() = %q", s, id.String())
		}
	})
}

func FuzzParseObject(f *testing.F) {
	f.Add("")
	for _, k := range []string{"D-", "F-", "X-", "L-", "d-", "N-", "D", "-", "DD", "D+", "\u00e9-"} {
		for _, h := range hashSeeds {
			f.Add(k + h)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := dkstore.ParseObject(s)
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) {
				t.Fatalf("ParseObject(%q) = %v, want an ErrInvalid error", s, err)
			}
			return
		}
		if s == "" {
			if o != (dkstore.Object{}) || o.String() != "" {
				t.Fatalf("ParseObject(\"\") = %v", o)
			}
			return
		}
		if !o.Kind.IsFile() && o.Kind != dkstore.KindDir {
			t.Fatalf("ParseObject(%q).Kind = %v", s, o.Kind)
		}
		if want := s[:2] + strings.ToLower(s[2:]); o.String() != want {
			t.Fatalf("ParseObject(%q).String() = %q, want %q", s, o.String(), want)
		}
		if o2, err := dkstore.ParseObject(o.String()); err != nil || o2 != o {
			t.Fatalf("ParseObject(ParseObject(%q).String()) = %v, %v; want %v", s, o2, err, o)
		}
		if got := o.Kind.String(); got != s[:1] {
			t.Fatalf("ParseObject(%q).Kind.String() = %q", s, got)
		}
	})
}
