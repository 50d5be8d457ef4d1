package dkstore

// Fuzz targets for the tree object codec, which is internal.

import (
	"bytes"
	"crypto/sha1"
	"slices"
	"strings"
	"testing"
)

// treeSeed encodes entries given as "mode name" pairs, with hashes made
// from the names.
func treeSeed(specs ...string) []byte {
	var b []byte
	for _, s := range specs {
		mode, name, _ := strings.Cut(s, " ")
		b = append(b, mode...)
		b = append(b, ' ')
		b = append(b, name...)
		b = append(b, 0)
		h := sha1.Sum([]byte(name))
		b = append(b, h[:]...)
	}
	return b
}

// FuzzDecodeTree decodes arbitrary bytes as a tree object: decoding must
// never panic, and what it decodes must encode to a tree that decodes to
// the same entries. As modes are octal numbers whose only non-canonical
// forms have leading zeros, an encoding as long as the input is the input.
func FuzzDecodeTree(f *testing.F) {
	f.Add([]byte{})
	f.Add(treeSeed("100644 a", "40000 b", "100755 c", "120000 d", "160000 e"))
	f.Add(treeSeed("040000 zero-padded-dir", "0100644 zero-padded-file"))
	f.Add(treeSeed("100644 a-b", "100644 a.b", "40000 a", "100644 a0"))
	f.Add(treeSeed("100644 ", "1 x", "77777777777 big-mode", "8 not-octal", "-1 negative"))
	f.Add(treeSeed("100644 name with spaces", "100644 \u00fcn\u00efcode"))
	f.Add([]byte("100644 truncated\x00abc"))
	f.Add([]byte("100644 no-nul"))
	f.Add([]byte(" no-mode\x00" + strings.Repeat("x", 20)))
	f.Add([]byte("100644\x00" + strings.Repeat("x", 20)))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := decodeTree(data)
		if err != nil {
			return
		}
		enc := encodeTree(tr.entries)
		tr2, err := decodeTree(enc)
		if err != nil {
			t.Fatalf("decodeTree(encodeTree(decodeTree(%q))) = %v", data, err)
		}
		if !slices.Equal(tr.entries, tr2.entries) {
			t.Fatalf("decodeTree(%q) = %+v, but after encoding and decoding %+v", data, tr.entries, tr2.entries)
		}
		if len(enc) > len(data) || len(enc) == len(data) && !bytes.Equal(enc, data) {
			t.Fatalf("encodeTree(decodeTree(%q)) = %q: not the input, nor shorter", data, enc)
		}
		for _, e := range tr.entries {
			_ = e.kind()
		}
	})
}

// FuzzTreeRoundTrip builds trees from fuzzed names and modes, sorts them in
// Git's order, and checks that encoding and decoding keep them and that
// find finds every entry (find relies on the order).
func FuzzTreeRoundTrip(f *testing.F) {
	f.Add("a\na-b\na.b\na0", []byte{0, 1, 2, 3})
	f.Add("a\na-b\na.b\na0", []byte{1, 0, 0, 0})
	f.Add("b\nb-c\nb.c\nbig\nbin", []byte{0, 1, 0, 0, 1})
	f.Add("foo\nfoo!\nfoo.\nfoo0", []byte{1, 0, 1, 0})
	f.Add("x\n\ny", []byte{4, 3, 2})
	f.Add("\u00fc\n~\nZ\n", []byte{2, 2, 2})
	f.Fuzz(func(t *testing.T, names string, modes []byte) {
		allModes := []uint32{modeFile, modeDir, modeExec, modeLink, modeGitlink}
		var es []treeEntry
		seen := map[string]bool{}
		for i, name := range strings.Split(names, "\n") {
			if seen[name] || strings.ContainsAny(name, "\x00/") {
				continue // a tree has one entry per name, which holds no NUL or '/'
			}
			seen[name] = true
			m := uint32(modeFile)
			if i < len(modes) {
				m = allModes[int(modes[i])%len(allModes)]
			}
			es = append(es, treeEntry{name: name, mode: m, hash: Hash(sha1.Sum([]byte(name)))})
		}
		sortEntries(es)
		for i := 1; i < len(es); i++ {
			if !gitLess(es[i-1], es[i]) || gitLess(es[i], es[i-1]) {
				t.Fatalf("after sortEntries, %+v and %+v are out of order", es[i-1], es[i])
			}
			// Git's order: compare names with a directory's followed by '/'.
			key := func(e treeEntry) string {
				if e.mode == modeDir {
					return e.name + "/"
				}
				return e.name
			}
			if key(es[i-1]) >= key(es[i]) {
				t.Fatalf("gitLess orders %q before %q", key(es[i-1]), key(es[i]))
			}
		}
		tr, err := decodeTree(encodeTree(es))
		if err != nil {
			t.Fatalf("decodeTree(encodeTree(%+v)) = %v", es, err)
		}
		if !slices.Equal(tr.entries, es) && !(len(es) == 0 && len(tr.entries) == 0) {
			t.Fatalf("decodeTree(encodeTree(%+v)) = %+v", es, tr.entries)
		}
		for _, e := range es {
			if got, ok := tr.find(e.name); !ok || got != e {
				t.Fatalf("find(%q) in %+v = %+v, %v", e.name, es, got, ok)
			}
		}
		for _, missing := range []string{"", "a", "zz", "a/b"} {
			if seen[missing] {
				continue
			}
			if got, ok := tr.find(missing); ok {
				t.Fatalf("find(%q) in %+v = %+v, want not found", missing, es, got)
			}
		}
	})
}
