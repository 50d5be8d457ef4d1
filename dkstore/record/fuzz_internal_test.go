package record

// Fuzz targets for the parsers of field values and keys, which are
// internal.

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/dkgo/datakit/dkstore"
)

var valueSeeds = []string{
	"", "0", "1", "-1", "+7", " 42\n", "5\r\n", "\t-3 ", "0x10", "1e3", "9223372036854775807",
	"9223372036854775808", "-9223372036854775808", "1_000", "٣",
	"true", "false", "TRUE", "True", "t", "F", " true\n", "yes", "on", "rubbish",
	"hello", "  spaced out  ", "line\nline", "\xff\xfe", "\u00a0x\u00a0", "\x00",
}

// checkCodec checks the properties every codec has on input s: parsing
// never fails for a string; a parsed value formats to a text that parses
// back to a value with that very text (the state branch's text is a fixed
// point); parsing ignores surrounding white space.
func checkCodec[T any](t *testing.T, c codec[T], s string) {
	v, ok := c.parse(s)
	if v2, ok2 := c.parse(strings.TrimSpace(s)); ok2 != ok {
		t.Fatalf("%s: parse(%q) ok = %t but parse of it trimmed ok = %t", c.kind, s, ok, ok2)
	} else if ok {
		a, _ := c.format(v)
		b, _ := c.format(v2)
		if a != b {
			t.Fatalf("%s: parse(%q) = %q but parse of it trimmed = %q", c.kind, s, a, b)
		}
	}
	if !ok {
		return
	}
	text, set := c.format(v)
	if !set {
		t.Fatalf("%s: parse(%q) gave a value with no text", c.kind, s)
	}
	back, ok := c.parse(text)
	if !ok {
		t.Fatalf("%s: format(parse(%q)) = %q does not parse", c.kind, s, text)
	}
	if again, _ := c.format(back); again != text {
		t.Fatalf("%s: %q → %q → %q: not a fixed point", c.kind, s, text, again)
	}
}

// FuzzParseValue: the value parsers never panic, agree with strconv, and
// give canonical texts.
func FuzzParseValue(f *testing.F) {
	for _, s := range valueSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkCodec(t, stringCodec, s)
		checkCodec(t, stringRefCodec, s)
		checkCodec(t, intCodec, s)
		checkCodec(t, boolCodec, s)

		if v, _ := stringCodec.parse(s); v != strings.TrimSpace(s) {
			t.Fatalf("string: parse(%q) = %q", s, v)
		}
		i, ok := intCodec.parse(s)
		want, err := strconv.Atoi(strings.TrimSpace(s))
		if ok != (err == nil) || ok && i != want {
			t.Fatalf("int: parse(%q) = %d, %t; strconv.Atoi says %d, %v", s, i, ok, want, err)
		}
		b, ok := boolCodec.parse(s)
		wantB, err := strconv.ParseBool(strings.TrimSpace(s))
		if ok != (err == nil) || ok && b != wantB {
			t.Fatalf("bool: parse(%q) = %t, %t; strconv.ParseBool says %t, %v", s, b, ok, wantB, err)
		}
	})
}

// FuzzParseKey: a key is accepted exactly when its steps make a valid
// path, and is then that path unchanged; anything else is ErrInvalid.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"ncpu", "network/mtu", "a/b/c", "", "/", "/a", "a/", "a//b", ".", "..", "a/../b",
		"a/./b", ".hidden", "a\x00b", "schema-version", "sp ace", "é/ü", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := parseKey(key)
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) {
				t.Fatalf("parseKey(%q) = %v, not ErrInvalid", key, err)
			}
			for _, step := range strings.Split(key, "/") {
				if step == "" || step == "." || step == ".." || strings.Contains(step, "\x00") {
					return
				}
			}
			t.Fatalf("parseKey(%q) = %v, though every step is valid", key, err)
		}
		if string(p) != key || p.IsRoot() {
			t.Fatalf("parseKey(%q) = %q", key, p)
		}
		if verr := p.Valid(); verr != nil {
			t.Fatalf("parseKey(%q) = %q, which is not valid: %v", key, p, verr)
		}
		if got := strings.Join(p.Steps(), "/"); got != key {
			t.Fatalf("parseKey(%q).Steps() = %q", key, p.Steps())
		}
	})
}

// FuzzFieldValue: whatever bytes a lookup branch holds for a field, the
// record gives the parsed value or the default, and mirrors exactly that
// into the state branch.
func FuzzFieldValue(f *testing.F) {
	for _, s := range valueSeeds {
		f.Add([]byte(s))
	}
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	f.Fuzz(func(t *testing.T, raw []byte) {
		ctx := t.Context()
		master, _ := s.Branch("master")
		tx, err := master.Transaction(ctx, dkstore.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []dkstore.Path{"r/s", "r/i", "r/b"} {
			if err := tx.WriteFile(ctx, k, raw, dkstore.KindFile); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Commit(ctx, "fuzz"); err != nil {
			t.Fatal(err)
		}
		r, err := New(ctx, s, Options{Lookup: []dkstore.BranchName{"master", "defaults"}, Defaults: "defaults", State: "state", Dir: "r"})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		sf, err1 := r.StringField(ctx, "s", "def")
		inf, err2 := r.IntField(ctx, "i", -1)
		bf, err3 := r.BoolField(ctx, "b", true)
		if err := errors.Join(err1, err2, err3, r.Seal(ctx)); err != nil {
			t.Fatal(err)
		}
		in := string(raw)
		sv, _ := sf.Get()
		iv, _ := inf.Get()
		bv, _ := bf.Get()
		wantS, _ := parseString(in)
		wantI, ok := parseInt(in)
		if !ok {
			wantI = -1
		}
		wantB, ok := parseBool(in)
		if !ok {
			wantB = true
		}
		if sv != wantS || iv != wantI || bv != wantB {
			t.Fatalf("%q: Get() = %q, %d, %t; want %q, %d, %t", in, sv, iv, bv, wantS, wantI, wantB)
		}
		st, _ := s.Branch("state")
		head, _ := st.Head(ctx)
		c, _ := s.Commit(ctx, head)
		tree, err := s.Tree(ctx, c.Tree)
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[dkstore.Path]string{"r/s": wantS, "r/i": strconv.Itoa(wantI), "r/b": strconv.FormatBool(wantB)} {
			if got, err := tree.ReadFile(ctx, k); err != nil || string(got) != want {
				t.Fatalf("%q: state %s = %q, %v; want %q", in, k, got, err, want)
			}
		}
	})
}
