package ci

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{
		"test": "test", "a/b": "a_2fb", "a-b": "a_2db", "a_b": "a_5fb", "make check": "make_20check",
		"v1.0": "v1.0", "a..b": "a..b", "end.": "end.", ".x": ".x", "é": "_c3_a9", "": "",
	} {
		if got := EscapeName(in); got != want {
			t.Errorf("EscapeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// unescape inverts EscapeName: that it exists shows EscapeName injective.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape in %q", s)
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// EscapeName is injective (unescape inverts it), its result holds no "-"
// (so parts joined by "-" can be told apart), and JoinBranch makes a
// valid branch name of it, still injectively.
func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"a/b", "a-b", "a..b", "x.lock", ".", "_2f", "é", "end."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeName(s)
		if back, err := unescape(e); err != nil || back != s {
			t.Fatalf("EscapeName(%q) = %q, which reads back as %q, %v", s, e, back, err)
		}
		if strings.Contains(e, "-") {
			t.Fatalf("EscapeName(%q) = %q holds a '-'", s, e)
		}
		for _, b := range []dkstore.BranchName{JoinBranch("shell", "of", e, "on", "x"), JoinBranch("docker", "run", "x", e)} {
			if len(b) > 1024 {
				continue
			}
			if b.Valid() != nil {
				t.Fatalf("EscapeName(%q) = %q: %v", s, e, b.Valid())
			}
			if back, err := unescape(string(b)); err != nil || !strings.Contains(back, "-"+s+"-") && !strings.HasSuffix(back, "-"+s) {
				t.Fatalf("JoinBranch(…, EscapeName(%q), …) = %q, which reads back as %q, %v", s, b, back, err)
			}
		}
	})
}

// oldStatusBranch is statusBranch as it was before EscapeName: the names
// of the status branches in existing stores.
func oldStatusBranch(id TargetID) dkstore.BranchName {
	esc := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
				b.WriteByte(c)
			default:
				fmt.Fprintf(&b, "_%02x", c)
			}
		}
		return b.String()
	}
	index := "pr-" + strconv.Itoa(id.PR)
	if !id.IsPR() {
		first, rest, _ := strings.Cut(id.Ref, "/")
		index = "ref-" + esc(first) + "-" + esc(rest)
	}
	b := dkstore.BranchName("status-" + esc(id.Repo.User) + "-" + esc(id.Repo.Name) + "-" + index)
	if b.Valid() != nil {
		b = dkstore.BranchName(strings.ReplaceAll(string(b), ".", "_2e"))
	}
	return b
}

// Status branches keep their names: those of existing stores stay in use.
func FuzzStatusBranchUnchanged(f *testing.F) {
	for _, c := range [][4]string{
		{"me", "p", "", "7"}, {"me", "my-project", "heads/feature/x-y", "0"}, {"me", "p.", "heads/a..b", "0"},
		{"a..b", "c", "tags/v1.lock", "0"}, {"me", "p", "heads/x.", "0"}, {"m.e", ".p", "heads/.x", "0"},
	} {
		f.Add(c[0], c[1], c[2], c[3])
	}
	f.Fuzz(func(t *testing.T, user, name, ref, pr string) {
		id := TargetID{Repo: bridge.Repo{User: user, Name: name}, Ref: ref}
		if n, err := strconv.Atoi(pr); err == nil && n > 0 {
			id = TargetID{Repo: id.Repo, PR: n}
		}
		if got, want := statusBranch(id), oldStatusBranch(id); got != want {
			t.Fatalf("statusBranch(%#v) = %q, was %q", id, got, want)
		}
	})
}
