package rootfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLdd(t *testing.T) {
	for _, c := range []struct {
		name, out string
		want      []string
		err       bool
	}{
		{"glibc", "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n",
			[]string{"/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}, false},
		{"static", "\tstatically linked\n", nil, false},
		{"missing", "\tlibfoo.so.1 => not found\n", nil, true},
		{"no address", "\tlibc.so.6 => /lib/libc.so.6\n", []string{"/lib/libc.so.6"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseLdd([]byte(c.out))
			if (err != nil) != c.err {
				t.Fatalf("ParseLdd() error = %v, want error %v", err, c.err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("ParseLdd() = %q, want %q", got, c.want)
			}
		})
	}
}

func FuzzParseLdd(f *testing.F) {
	f.Add([]byte("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x1)\n"))
	f.Add([]byte("\tlibfoo.so => not found\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		libs, err := ParseLdd(out)
		if err != nil {
			return
		}
		for _, l := range libs {
			if !strings.HasPrefix(l, "/") {
				t.Errorf("ParseLdd(%q) gave %q, not an absolute path", out, l)
			}
		}
	})
}

// host makes a small host tree: a directory reached through a link (as
// /lib is a link to usr/lib on a merged-/usr system), a file in it, and a
// link to that file.
func host(t *testing.T) string {
	t.Helper()
	h := t.TempDir()
	for _, d := range []string{"usr/lib", "usr/bin", "tree/sub"} {
		os.MkdirAll(filepath.Join(h, d), 0o755)
	}
	os.Symlink("usr/lib", filepath.Join(h, "lib"))
	os.WriteFile(filepath.Join(h, "usr/lib/libx.so.1.2"), []byte("lib"), 0o644)
	os.Symlink("libx.so.1.2", filepath.Join(h, "usr/lib/libx.so.1"))
	os.WriteFile(filepath.Join(h, "usr/bin/prog"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(h, "tree/a"), []byte("a"), 0o600)
	os.WriteFile(filepath.Join(h, "tree/sub/b"), []byte("b"), 0o644)
	os.WriteFile(filepath.Join(h, "tree/skip"), []byte("no"), 0o644)
	os.Symlink("a", filepath.Join(h, "tree/link"))
	return h
}

// A file reached through links is added with every link on the way, and
// laid out as on the host.
func TestAddFileKeepsLinks(t *testing.T) {
	h := host(t)
	s := New()
	if err := s.AddFile(filepath.Join(h, "lib/libx.so.1")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"lib", "usr/lib/libx.so.1", "usr/lib/libx.so.1.2"} {
		if !s.Has(filepath.Join(h, p)) {
			t.Errorf("the set lacks %s; it has %q", p, s.Paths())
		}
	}
	if s.Has(filepath.Join(h, "lib/libx.so.1")) {
		t.Errorf("the set has a path through a link: %q", s.Paths())
	}
	if got, _ := s.Resolve(filepath.Join(h, "lib/libx.so.1")); got != filepath.Join(h, "usr/lib/libx.so.1.2") {
		t.Errorf("Resolve(lib/libx.so.1) = %s", got)
	}
	out := t.TempDir()
	if err := s.Write(out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, h, "lib/libx.so.1"))
	if err != nil || string(data) != "lib" {
		t.Errorf("reading lib/libx.so.1 in the written tree: %q, %v", data, err)
	}
	if target, err := os.Readlink(filepath.Join(out, h, "lib")); err != nil || target != "usr/lib" {
		t.Errorf("lib in the written tree: link to %q, %v; want usr/lib", target, err)
	}
}

func TestAddTree(t *testing.T) {
	h := host(t)
	s := New()
	if err := s.AddTree(filepath.Join(h, "tree"), func(rel string) bool { return rel == "skip" }); err != nil {
		t.Fatal(err)
	}
	s.WriteFile("/etc/passwd", []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	s.Mkdir("/tmp", 0o777|os.ModeSticky)
	out := t.TempDir()
	if err := s.Write(out); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"tree/a": "a", "tree/sub/b": "b", "tree/link": "a"} {
		if data, err := os.ReadFile(filepath.Join(out, h, name)); err != nil || string(data) != want {
			t.Errorf("%s: %q, %v; want %q", name, data, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(out, h, "tree/skip")); err == nil {
		t.Error("tree/skip was written, though skipped")
	}
	if fi, err := os.Stat(filepath.Join(out, h, "tree/a")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tree/a: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(out, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp: %v, %v; want sticky 0777", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "etc/passwd")); !strings.HasPrefix(string(data), "root:") {
		t.Errorf("etc/passwd = %q", data)
	}
}

// The digest changes with a file's content (through its size or time),
// and with what the set holds; it does not change otherwise.
func TestDigest(t *testing.T) {
	h := host(t)
	digest := func() string {
		s := New()
		if err := s.AddTree(filepath.Join(h, "tree"), nil); err != nil {
			t.Fatal(err)
		}
		return s.Digest()
	}
	d1 := digest()
	if d2 := digest(); d2 != d1 {
		t.Fatalf("two digests of one tree: %s, %s", d1, d2)
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(h, "tree/a"), later, later)
	d3 := digest()
	if d3 == d1 {
		t.Error("the digest did not change when a file did")
	}
	os.WriteFile(filepath.Join(h, "tree/new"), nil, 0o644)
	if digest() == d3 {
		t.Error("the digest did not change when a file was added")
	}
}

// A dynamically linked program comes with its loader and libraries.
func TestAddProgram(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("SKIP: no sh")
	}
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("SKIP: no ldd (the C library's; not in the self-CI's Go image)")
	}
	libs, err := SharedLibraries(sh)
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) == 0 {
		t.Skipf("SKIP: %s is statically linked", sh)
	}
	s := New()
	if err := s.AddProgram(sh); err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		real, _ := s.Resolve(l)
		if !s.Has(real) {
			t.Errorf("the set lacks %s (%s), which %s loads", l, real, sh)
		}
	}
}
