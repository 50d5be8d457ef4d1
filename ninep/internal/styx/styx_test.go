package styx

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// unhex reads hex with spaces between the fields, for readable tables.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Messages as they are on the wire, byte for byte, in each dialect.
var wireCases = []struct {
	name    string
	dialect Dialect
	msg     Msg
	wire    string // size type tag fields, in hex
}{
	{"Tversion", Plain, Msg{Type: Tversion, Tag: NoTag, Msize: 8192, Version: "9P2000"},
		"13000000 64 ffff 00200000 0600 395032303030"},
	{"Rversion unknown", Plain, Msg{Type: Rversion, Tag: NoTag, Msize: 8192, Version: "unknown"},
		"14000000 65 ffff 00200000 0700 756e6b6e6f776e"},
	{"Tattach", Plain, Msg{Type: Tattach, Tag: 1, Fid: 1, Afid: NoFid, Uname: "anyone", Aname: "/"},
		"1a000000 68 0100 01000000 ffffffff 0600 616e796f6e65 0100 2f"},
	{"Tattach .u", Unix, Msg{Type: Tattach, Tag: 1, Fid: 1, Afid: NoFid, Uname: "", Aname: "", NUname: 0},
		"17000000 68 0100 01000000 ffffffff 0000 0000 00000000"},
	{"Rerror", Plain, Msg{Type: Rerror, Tag: 3, Ename: "Read-only file"},
		"17000000 6b 0300 0e00 526561642d6f6e6c792066696c65"},
	{"Rerror .u", Unix, Msg{Type: Rerror, Tag: 3, Ename: "Read-only file", Errno: 30},
		"1b000000 6b 0300 0e00 526561642d6f6e6c792066696c65 1e000000"},
	{"Twalk", Plain, Msg{Type: Twalk, Tag: 2, Fid: 1, Newfid: 2, Wnames: []string{"branch", "a"}},
		"1c000000 6e 0200 01000000 02000000 0200 0600 6272616e6368 0100 61"},
	{"Rwalk", Plain, Msg{Type: Rwalk, Tag: 2, Qids: []Qid{{Type: QTDIR, Path: 1}, {Type: QTFILE, Path: 7}}},
		"23000000 6f 0200 0200 80 00000000 0100000000000000 00 00000000 0700000000000000"},
	{"Tcreate", Plain, Msg{Type: Tcreate, Tag: 4, Fid: 2, Name: "f", Perm: 0o644, Mode: ORDWR},
		"13000000 72 0400 02000000 0100 66 a4010000 02"},
	{"Tcreate .u symlink", Unix, Msg{Type: Tcreate, Tag: 4, Fid: 2, Name: "l", Perm: DMSYMLINK | 0o777, Mode: OREAD, Extension: "a"},
		"16000000 72 0400 02000000 0100 6c ff010002 00 0100 61"},
	{"Tread", Plain, Msg{Type: Tread, Tag: 5, Fid: 2, Offset: 41, Count: 100},
		"17000000 74 0500 02000000 2900000000000000 64000000"},
	{"Rread", Plain, Msg{Type: Rread, Tag: 5, Data: []byte("hi\n")},
		"0e000000 75 0500 03000000 68690a"},
	{"Twrite", Plain, Msg{Type: Twrite, Tag: 6, Fid: 2, Offset: 0, Data: []byte("commit")},
		"1d000000 76 0600 02000000 0000000000000000 06000000 636f6d6d6974"},
	{"Rwrite", Plain, Msg{Type: Rwrite, Tag: 6, Count: 6}, "0b000000 77 0600 06000000"},
	{"Tflush", Plain, Msg{Type: Tflush, Tag: 7, Oldtag: 5}, "09000000 6c 0700 0500"},
	{"Rflush", Plain, Msg{Type: Rflush, Tag: 7}, "07000000 6d 0700"},
	{"Rstat", Plain, Msg{Type: Rstat, Tag: 8, Stat: Stat{Qid: Qid{Type: QTFILE, Path: 9}, Mode: 0o664, Length: 5, Name: "a", UID: "u", GID: "g", MUID: ""}},
		"3d000000 7d 0800 3400 3200 0000 00000000 00 00000000 0900000000000000 b4010000 00000000 00000000 0500000000000000 0100 61 0100 75 0100 67 0000"},
	{"Rstat .u", Unix, Msg{Type: Rstat, Tag: 8, Stat: Stat{Qid: Qid{Type: QTSYMLINK, Path: 9}, Mode: DMSYMLINK | 0o775, Name: "l", Extension: "a"}},
		"4a000000 7d 0800 4100 3f00 0000 00000000 02 00000000 0900000000000000 fd010002 00000000 00000000 0000000000000000 0100 6c 0000 0000 0000 0100 61 00000000 00000000 00000000"},
}

func TestWire(t *testing.T) {
	for _, c := range wireCases {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.wire)
			got, err := Append(c.dialect, nil, &c.msg)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Append() = %x, %v; want %x", got, err, want)
			}
			m, err := Decode(c.dialect, want)
			if err != nil {
				t.Fatalf("Decode() error %v", err)
			}
			if !msgEqual(m, &c.msg) {
				t.Fatalf("Decode() = %+v, want %+v", *m, c.msg)
			}
		})
	}
}

// msgEqual compares messages, nil and empty slices alike.
func msgEqual(a, b *Msg) bool {
	x, y := *a, *b
	for _, m := range []*Msg{&x, &y} {
		if len(m.Data) == 0 {
			m.Data = nil
		}
		if len(m.Wnames) == 0 {
			m.Wnames = nil
		}
		if len(m.Qids) == 0 {
			m.Qids = nil
		}
	}
	return reflect.DeepEqual(x, y)
}

// Every message type round-trips in both dialects, with the .u fields
// present only in Unix.
func TestRoundTripEveryType(t *testing.T) {
	full := Msg{Tag: 9, Fid: 1, Newfid: 2, Afid: 3, Msize: 4, Version: "v", Uname: "u", Aname: "a",
		NUname: 5, Ename: "e", Errno: 6, Oldtag: 7, Wnames: []string{"x", "y"}, Qids: []Qid{{1, 2, 3}},
		Qid: Qid{4, 5, 6}, Iounit: 8, Mode: 9, Name: "n", Perm: 10, Extension: "ext", Offset: 11,
		Count: 12, Data: []byte("data"), Stat: Stat{Name: "s", Extension: "se", NUID: 1}}
	for typ := range layouts {
		for _, d := range []Dialect{Plain, Unix} {
			m := full
			m.Type = typ
			b, err := Append(d, nil, &m)
			if err != nil {
				t.Fatalf("%s %s: Append: %v", TypeName(typ), d, err)
			}
			got, err := Decode(d, b)
			if err != nil {
				t.Fatalf("%s %s: Decode: %v", TypeName(typ), d, err)
			}
			again, _ := Append(d, nil, got)
			if !bytes.Equal(again, b) {
				t.Fatalf("%s %s: re-encoded %x, want %x", TypeName(typ), d, again, b)
			}
			if d == Plain && (got.NUname != 0 || got.Errno != 0 || got.Extension != "" || got.Stat.Extension != "") {
				t.Fatalf("%s: 9P2000.u fields decoded in 9P2000: %+v", TypeName(typ), got)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		wire string
		want error
	}{
		{"short header", "0600000064ff", ErrShort},
		{"unknown type", "070000006a0000", ErrType},
		{"Terror", "070000006a0000", ErrType},
		{"field cut short", "09000000 77 0500 0600", ErrShort},
		{"trailing bytes", "0800000079070000", ErrLong},
		{"17 walk names", "11000000 6e 0200 01000000 02000000 1100", ErrTooMany},
		{"string past the end", "0c0000006b03000500616263", ErrShort},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(Plain, unhex(t, c.wire))
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode() error %v, want %v", err, c.want)
			}
		})
	}
	if _, err := Decode(Plain, unhex(t, "0800000064ffff00")); err == nil {
		t.Fatal("Decode of a message whose size is not its length: no error")
	}
	// A stat whose own size disagrees with its count.
	bad := unhex(t, wireCases[16].wire)
	bad[9]++ // stat size
	if _, err := Decode(Plain, bad); err == nil {
		t.Fatal("Decode of an Rstat with a bad inner size: no error")
	}
}

func TestAppendErrors(t *testing.T) {
	long := strings.Repeat("x", 1<<16)
	for _, c := range []struct {
		name string
		msg  Msg
		want error
	}{
		{"unknown type", Msg{Type: Terror}, ErrType},
		{"long string", Msg{Type: Rerror, Ename: long}, ErrBig},
		{"17 names", Msg{Type: Twalk, Wnames: make([]string, 17)}, ErrTooMany},
		{"17 qids", Msg{Type: Rwalk, Qids: make([]Qid, 17)}, ErrTooMany},
		{"long stat name", Msg{Type: Rstat, Stat: Stat{Name: long}}, ErrBig},
		{"stat too big", Msg{Type: Rstat, Stat: Stat{Name: long[:30000], UID: long[:30000], GID: long[:6000]}}, ErrBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Append(Plain, []byte("keep"), &c.msg)
			if !errors.Is(err, c.want) || string(b) != "keep" {
				t.Fatalf("Append() = %q, %v; want %q, %v", b, err, "keep", c.want)
			}
		})
	}
}

// A directory's read is stats one after the other.
func TestStats(t *testing.T) {
	for _, d := range []Dialect{Plain, Unix} {
		var b []byte
		want := []Stat{{Name: "a", Mode: DMDIR | 0o775}, {Name: "bb", Length: 3, Extension: ext(d, "t")}}
		for i := range want {
			var err error
			if b, err = AppendStat(d, b, &want[i]); err != nil {
				t.Fatal(err)
			}
		}
		var got []Stat
		for len(b) > 0 {
			s, rest, err := DecodeStat(d, b)
			if err != nil {
				t.Fatalf("%s: DecodeStat: %v", d, err)
			}
			got, b = append(got, s), rest
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: stats %+v, want %+v", d, got, want)
		}
	}
}

func ext(d Dialect, s string) string {
	if d == Unix {
		return s
	}
	return ""
}

func TestReadMsg(t *testing.T) {
	two := append(unhex(t, wireCases[0].wire), unhex(t, wireCases[14].wire)...)
	r := bytes.NewReader(two)
	for i := range 2 {
		if _, err := ReadMsg(r, 1<<16); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := ReadMsg(r, 1<<16); err == nil {
		t.Fatal("ReadMsg at the end: no error")
	}
	if _, err := ReadMsg(bytes.NewReader(unhex(t, "ffffff00 64 0000")), 1<<16); err == nil {
		t.Fatal("ReadMsg of an oversized message: no error")
	}
	if _, err := ReadMsg(bytes.NewReader(unhex(t, "13000000 64 ffff")), 1<<16); err == nil {
		t.Fatal("ReadMsg of a cut message: no error")
	}
}
