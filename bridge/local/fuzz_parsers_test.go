package local_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/local"
	"github.com/dkgo/datakit/dkstore"
)

// FuzzParseSource: a source parses to a valid repository and a non-blank
// path, and its String parses back to it; a failure is an ErrInvalid error
// that says it is about a source and what is wanted.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{
		"me/proj:/src/proj", "me/proj:rel/dir", "me/proj:/a:b", " me / proj :/x", "a.b/c_d-e:C:\\src", "me/proj: /x ",
		"me/proj", "me/proj:", "me/proj: \t", "me:/x", "me/../x:/x", ":/x", "/x", "", ":", "me/proj/x:/y",
		"me/.:/x", "\u00e9/x:/y", "me/pr oj:/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := local.ParseSource(s)
		if err != nil {
			if src != (local.Source{}) {
				t.Fatalf("ParseSource(%q) = %+v with error %v", s, src, err)
			}
			msg := err.Error()
			if !errors.Is(err, dkstore.ErrInvalid) || !strings.HasPrefix(msg, "local: invalid source ") ||
				!strings.Contains(msg, "USER/REPO") && !strings.Contains(msg, "invalid repository") {
				t.Fatalf("ParseSource(%q) error %q", s, err)
			}
			return
		}
		if err := src.Repo.Valid(); err != nil {
			t.Fatalf("ParseSource(%q) = %+v: %v", s, src, err)
		}
		if strings.TrimSpace(src.Path) == "" || !strings.HasSuffix(s, ":"+src.Path) {
			t.Fatalf("ParseSource(%q) = %+v: path not the input's", s, src)
		}
		if r, err := bridge.ParseRepo(strings.TrimSuffix(s, ":"+src.Path)); err != nil || r != src.Repo {
			t.Fatalf("ParseSource(%q) = %+v, but ParseRepo of its name = %v, %v", s, src, r, err)
		}
		again, err := local.ParseSource(src.String())
		if err != nil || again != src {
			t.Fatalf("ParseSource(%q) = %+v, but ParseSource(%q) = %+v, %v", s, src, src.String(), again, err)
		}
	})
}
