package styx

import (
	"bytes"
	"testing"
)

// FuzzDecode: whatever decodes re-encodes to the very same bytes, in
// either dialect, and nothing panics. Seeds: the wire table.
func FuzzDecode(f *testing.F) {
	for _, c := range wireCases {
		f.Add(uint8(c.dialect), unhex(f, c.wire))
	}
	f.Fuzz(func(t *testing.T, dialect uint8, b []byte) {
		d := Dialect(dialect % 2)
		m, err := Decode(d, b)
		if err != nil {
			return
		}
		again, err := Append(d, nil, m)
		if err != nil {
			t.Fatalf("Append of a decoded %s: %v", TypeName(m.Type), err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%s %s: re-encoded %x, want %x", d, TypeName(m.Type), again, b)
		}
	})
}

// FuzzDecodeStat: a directory read's bytes decode to entries that
// re-encode to the bytes they came from.
func FuzzDecodeStat(f *testing.F) {
	for _, d := range []Dialect{Plain, Unix} {
		b, _ := AppendStat(d, nil, &Stat{Name: "a", Mode: DMDIR | 0o775, Extension: ext(d, "t"), UID: "u"})
		f.Add(uint8(d), b)
		f.Add(uint8(d), append(b, b...))
	}
	f.Fuzz(func(t *testing.T, dialect uint8, b []byte) {
		d := Dialect(dialect % 2)
		for len(b) > 0 {
			s, rest, err := DecodeStat(d, b)
			if err != nil {
				return
			}
			again, err := AppendStat(d, nil, &s)
			if err != nil {
				t.Fatalf("AppendStat of a decoded stat: %v", err)
			}
			if n := len(b) - len(rest); !bytes.Equal(again, b[:n]) {
				t.Fatalf("re-encoded %x, want %x", again, b[:n])
			}
			b = rest
		}
	})
}
