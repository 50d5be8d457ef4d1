package cache

import (
	"reflect"
	"strings"
	"testing"
)

type stepV1 struct {
	Argv [][]string
	Env  []string
}

type stepV2 struct {
	Argv [][]string
	Env  []string
	User string // added later: unset, it keeps the digests of V1
}

// A digest is the same in every process and version: the canonical
// encoding does not depend on map order, and a field added unset keeps it.
// The expected value is written out, so that a change of the encoding is
// seen (it makes every CI build every step again).
func TestDigestStable(t *testing.T) {
	in := stepV1{Argv: [][]string{{"go", "test", "./..."}}, Env: []string{"CGO_ENABLED=0"}}
	if got, want := encode(in), `(Argv=[["go","test","./..."]],Env=["CGO_ENABLED=0"])`; got != want {
		t.Errorf("encode = %s, want %s", got, want)
	}
	if got, want := Digest(in), "529f0d0035bf"; got != want {
		t.Errorf("Digest = %s, want %s (a changed encoding rebuilds every step: change digestVersion then)", got, want)
	}
	if Digest(stepV2{Argv: in.Argv, Env: in.Env}) != Digest(in) {
		t.Error("an unset added field changed the digest")
	}
	m1, m2 := map[string]string{}, map[string]string{}
	for i := 0; i < 50; i++ {
		k := strings.Repeat("k", i)
		m1[k] = k
		m2[k] = k
	}
	if Digest(m1) != Digest(m2) || encode(map[string]int{"b": 2, "a": 1}) != `{"a":1,"b":2}` {
		t.Error("map order shows in the digest")
	}
}

// Inputs that differ give different digests.
func TestDigestDistinguishes(t *testing.T) {
	cases := []any{
		stepV1{},
		stepV1{Argv: [][]string{}},
		stepV1{Argv: [][]string{{}}},
		stepV1{Argv: [][]string{{"a", "b"}}},
		stepV1{Argv: [][]string{{"a"}, {"b"}}},
		stepV1{Argv: [][]string{{"a,b"}}},
		stepV1{Argv: [][]string{{`a","b`}}},
		stepV1{Argv: [][]string{{"a"}}, Env: []string{"X=1"}},
		stepV1{Argv: [][]string{{"a"}}, Env: []string{"X=2"}},
		stepV2{Argv: [][]string{{"a"}}, User: "root"},
		map[string]string{"a": "b"},
		map[string]string{"a": "", "b": ""},
		map[string]string{`a":"b`: ""},
		[]string{"a", "b"},
		"a",
		nil,
		true,
		3,
	}
	seen := map[string]int{}
	for i, c := range cases {
		e := encode(c)
		if j, ok := seen[e]; ok {
			t.Errorf("cases %d (%#v) and %d (%#v) both encode as %s", j, cases[j], i, c, e)
		}
		seen[e] = i
	}
}

// Two inputs with the same encoding are equal.
func FuzzDigestEncoding(f *testing.F) {
	f.Add("a,b", "", "x", "a", "b", "x")
	f.Add(`a","b`, "k", "v", "a", "b", "k")
	f.Add("", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, a1, k1, v1, a2, k2, v2 string) {
		type in struct {
			Argv []string
			M    map[string]string
			S    string
		}
		mk := func(a, k, v string) in {
			x := in{Argv: strings.Split(a, "|"), S: v}
			if k != "" {
				x.M = map[string]string{k: v, v: k}
			}
			return x
		}
		x, y := mk(a1, k1, v1), mk(a2, k2, v2)
		if encode(x) == encode(y) && !reflect.DeepEqual(x, y) {
			t.Fatalf("%#v and %#v both encode as %s", x, y, encode(x))
		}
	})
}
