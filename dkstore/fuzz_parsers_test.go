package dkstore

// Fuzz targets for the parsers of Git's ref files, which are internal.

import (
	"strings"
	"testing"
)

const (
	fuzzHash1 = "0123456789abcdef0123456789abcdef01234567"
	fuzzHash2 = "fedcba9876543210fedcba9876543210fedcba98"
	fuzzZero  = "0000000000000000000000000000000000000000"
)

var refFileSeeds = []string{
	fuzzHash1 + "\n", fuzzHash1, " \t" + strings.ToUpper(fuzzHash2) + "\r\n", fuzzZero + "\n",
	"ref: refs/heads/master\n", "ref:refs/heads/main", "ref:   refs/heads/a b  \n", "ref:\n", "ref: \n",
	"ref: refs/heads/a\nref: refs/heads/b\n", "Ref: refs/heads/master\n",
	"", "\n", fuzzHash1[:39] + "\n", fuzzHash1 + "0\n", fuzzHash1 + "\n" + fuzzHash2 + "\n",
	fuzzHash1 + " refs/heads/master\n", "g" + fuzzHash1[1:] + "\n", "\xff\xfe",
}

// FuzzParseRefLine: a loose branch file parses to the id it holds, which
// the file as git writes it (id and a newline) gives back; a symbolic ref
// or anything else is not a branch head. It agrees with parseRefFile.
func FuzzParseRefLine(f *testing.F) {
	for _, s := range refFileSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, ok := parseRefLine(data)
		raw, rawOK := parseRefFile(data)
		if !ok {
			if !id.IsZero() {
				t.Fatalf("parseRefLine(%q) = %s, false", data, Hash(id))
			}
			if rawOK && raw.sym == "" {
				t.Fatalf("parseRefLine(%q) fails, but parseRefFile reads id %s", data, raw.id)
			}
			return
		}
		if s := strings.TrimSpace(string(data)); Hash(id).String() != strings.ToLower(s) {
			t.Fatalf("parseRefLine(%q) = %s, not the file's id", data, Hash(id))
		}
		if !rawOK || raw.sym != "" || raw.id != Hash(id) {
			t.Fatalf("parseRefLine(%q) = %s, but parseRefFile = %+v, %v", data, Hash(id), raw, rawOK)
		}
		enc := Hash(id).String() + "\n"
		if again, ok := parseRefLine([]byte(enc)); !ok || again != id {
			t.Fatalf("parseRefLine(%q) = %s, but written as %q it reads %s, %v", data, Hash(id), enc, Hash(again), ok)
		}
	})
}

// FuzzParseRefFile: a ref file is either symbolic ("ref: TARGET", TARGET
// non-empty and trimmed) or a hash; what parses reads the same when
// written as git writes it.
func FuzzParseRefFile(f *testing.F) {
	for _, s := range refFileSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, ok := parseRefFile(data)
		if !ok {
			if ref.sym != "" || !ref.id.IsZero() || !ref.peeled.IsZero() {
				t.Fatalf("parseRefFile(%q) = %+v, false", data, ref)
			}
			return
		}
		if !ref.peeled.IsZero() {
			t.Fatalf("parseRefFile(%q) = %+v: peeled, which only packed-refs says", data, ref)
		}
		s := strings.TrimSpace(string(data))
		var enc string
		if ref.sym != "" {
			if !ref.id.IsZero() || ref.sym != strings.TrimSpace(ref.sym) || !strings.HasPrefix(s, "ref:") ||
				strings.TrimSpace(strings.TrimPrefix(s, "ref:")) != ref.sym {
				t.Fatalf("parseRefFile(%q) = %+v", data, ref)
			}
			enc = "ref: " + ref.sym + "\n"
		} else {
			if ref.id.String() != strings.ToLower(s) {
				t.Fatalf("parseRefFile(%q) = %+v, not the file's id", data, ref)
			}
			enc = ref.id.String() + "\n"
		}
		if again, ok := parseRefFile([]byte(enc)); !ok || again != ref {
			t.Fatalf("parseRefFile(%q) = %+v, but written as %q it reads %+v, %v", data, ref, enc, again, ok)
		}
	})
}
