package dkstore

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"io"
	"testing"
)

func checkStoredZlib(t *testing.T, parts ...[]byte) {
	t.Helper()
	want := bytes.Join(parts, nil)
	z := storedZlib(parts...)
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%d bytes in %d parts: %v", len(want), len(parts), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes in %d parts come back as %d other bytes", len(want), len(parts), len(got))
	}
}

func TestStoredZlib(t *testing.T) {
	for _, n := range []int{0, 1, 100, 65534, 65535, 65536, 65537, 200000} {
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		checkStoredZlib(t, data)
		checkStoredZlib(t, []byte("blob 12\x00"), data)
		checkStoredZlib(t, nil, data, nil)
	}
}

func FuzzStoredZlib(f *testing.F) {
	f.Add([]byte("tree 0\x00"), []byte{})
	f.Add([]byte("blob 5\x00"), []byte("hello"))
	f.Add(make([]byte, 70000), []byte("x"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		checkStoredZlib(t, a, b)
	})
}

// FuzzParseIdx feeds parseIdx arbitrary bytes (it must not panic), and
// checks that an index encoded from the input's entries parses back to
// them, and that loadPackHashes finds each of them and nothing else.
func FuzzParseIdx(f *testing.F) {
	f.Add([]byte{}, int64(100))
	f.Add(encodeIdx([]packEntry{{hash: Hash{1}, crc: 7, off: 12}}, make([]byte, 20)), int64(100))
	f.Add(bytes.Repeat([]byte{0xab}, 300), int64(1<<40))
	f.Fuzz(func(t *testing.T, data []byte, packSize int64) {
		parseIdx(data, packSize)
		parseIdx(append(append([]byte{}, idxHeader...), data...), packSize)
		// Entries from the input: 24 bytes each (hash, offset).
		var ents []packEntry
		seen := map[Hash]bool{}
		for len(data) >= 24 {
			var e packEntry
			copy(e.hash[:], data)
			e.off = int64(data[20])<<24 | int64(data[21])<<16 | int64(data[22])<<8 | int64(data[23])
			e.off = e.off<<(data[23]%10) + 12 // some beyond 2^31
			e.crc = uint32(e.off)
			data = data[24:]
			if !seen[e.hash] {
				seen[e.hash] = true
				ents = append(ents, e)
			}
		}
		sum := sha1.Sum([]byte("pack"))
		idx := encodeIdx(ents, sum[:])
		got, err := parseIdx(idx, 1<<62)
		if err != nil {
			t.Fatalf("%d entries: %v", len(ents), err)
		}
		byHash := map[Hash]packEntry{}
		for _, e := range ents {
			byHash[e.hash] = e
		}
		if len(got) != len(ents) {
			t.Fatalf("%d entries parse as %d", len(ents), len(got))
		}
		for _, g := range got {
			if e := byHash[g.hash]; e.off != g.off || e.crc != g.crc {
				t.Fatalf("entry %s: %+v parses as %+v", g.hash, e, g)
			}
		}
		readPackHashes(bytes.NewReader(data), int64(len(data)))
		ph, err := readPackHashes(bytes.NewReader(idx), int64(len(idx)))
		if err != nil {
			t.Fatal(err)
		}
		for h := range byHash {
			if !ph.has(h) {
				t.Fatalf("%s not found", h)
			}
			other := h
			other[19] ^= 1
			if ph.has(other) != seen[other] {
				t.Fatalf("%s found wrongly", other)
			}
		}
	})
}
