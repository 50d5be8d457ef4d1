// Package rootfs assembles the root filesystem of a container image from the
// host's own files, so that an image can be built with no registry: a
// program, the shared libraries it loads, the symbolic links on the way to
// it, whole directory trees (a GOROOT), and small files written in place
// (/etc/passwd).
//
// A Set is the list of what the image will hold, each file at its host path
// (a library the dynamic loader finds in /lib/x86_64-linux-gnu on the host is
// found there in the image too). Its Digest names its content (paths, modes,
// sizes, modification times, link targets), so that an image built from an
// unchanged Set can be found again instead of built; Write lays it out in a
// directory, as a Docker build context's rootfs/.
//
//	s := rootfs.New()
//	s.AddProgram("/usr/bin/git")   // with its libraries (ldd) and the loader
//	s.AddTree("/usr/local/go", nil)
//	s.WriteFile("/etc/passwd", []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
//	digest := s.Digest()
//	err := s.Write(dir + "/rootfs")
//
// A Set is not safe for concurrent use.
package rootfs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// kind is what an entry of a Set is.
type kind uint8

const (
	kindFile    kind = iota // a host file, copied
	kindLink                // a symbolic link
	kindDir                 // a directory
	kindContent             // a file written from memory
)

type entry struct {
	kind    kind
	src     string      // kindFile: the host file
	target  string      // kindLink: the link's target
	content []byte      // kindContent
	mode    fs.FileMode // permission bits
	size    int64
	mtime   int64 // kindFile: modification time, ns
}

// Set is the content of a root filesystem to be, by absolute path.
type Set struct {
	entries map[string]entry
}

// New returns an empty Set.
func New() *Set { return &Set{entries: map[string]entry{}} }

// Len is the number of entries (files, links, directories).
func (s *Set) Len() int { return len(s.entries) }

// Has reports whether the Set holds something at the absolute path p,
// following none of its links.
func (s *Set) Has(p string) bool {
	_, ok := s.entries[path.Clean(p)]
	return ok
}

// AddFile adds the host file at the absolute path p: every symbolic link
// on the way to it (a directory such as /lib that is a link on the host is
// the same link in the image) and the file it ends at. A directory is added
// empty (AddTree adds its content).
func (s *Set) AddFile(p string) error {
	_, err := s.add(p, 0)
	return err
}

// add adds p and returns the host path it resolves to.
func (s *Set) add(p string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("rootfs: %s: too many levels of symbolic links", p)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("rootfs: %s: not an absolute path", p)
	}
	p = filepath.Clean(p)
	// Resolve the parent first: its components may be links.
	dir := filepath.Dir(p)
	if dir != p {
		real, err := s.add(dir, depth+1)
		if err != nil {
			return "", err
		}
		if real != dir {
			// The link is recorded; continue inside its target.
			return s.add(filepath.Join(real, filepath.Base(p)), depth+1)
		}
	} else {
		return p, nil // "/"
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return "", fmt.Errorf("rootfs: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("rootfs: %w", err)
		}
		s.entries[p] = entry{kind: kindLink, target: target}
		abs := target
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(filepath.Dir(p), target)
		}
		return s.add(abs, depth+1)
	case fi.IsDir():
		if _, ok := s.entries[p]; !ok {
			s.entries[p] = entry{kind: kindDir, mode: fi.Mode().Perm() | fi.Mode()&fs.ModeSticky}
		}
		return p, nil
	case fi.Mode().IsRegular():
		s.entries[p] = entry{kind: kindFile, src: p, mode: fi.Mode().Perm(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		return p, nil
	default:
		return "", fmt.Errorf("rootfs: %s: not a regular file, directory or link (%v)", p, fi.Mode().Type())
	}
}

// AddTree adds the directory dir and everything below it. Links inside
// the tree are added as links (not followed). skip, if not nil, is given
// each path relative to dir (slash-separated) and leaves out those for
// which it returns true (a directory with all it holds).
func (s *Set) AddTree(dir string, skip func(rel string) bool) error {
	dir = filepath.Clean(dir)
	real, err := s.add(dir, 0)
	if err != nil {
		return err
	}
	return filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		rel, _ := filepath.Rel(real, p)
		if rel == "." {
			return nil
		}
		if skip != nil && skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("rootfs: %w", err)
			}
			s.entries[p] = entry{kind: kindLink, target: target}
		case fi.IsDir():
			s.entries[p] = entry{kind: kindDir, mode: fi.Mode().Perm() | fi.Mode()&fs.ModeSticky}
		case fi.Mode().IsRegular():
			s.entries[p] = entry{kind: kindFile, src: p, mode: fi.Mode().Perm(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		}
		return nil
	})
}

// AddProgram adds the executable or shared library at p (see AddFile) and,
// if it is dynamically linked, its ELF interpreter and the shared libraries
// it loads, as ldd lists them (with the links to them).
func (s *Set) AddProgram(p string) error {
	if err := s.AddFile(p); err != nil {
		return err
	}
	libs, err := SharedLibraries(p)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := s.AddFile(l); err != nil {
			return err
		}
	}
	return nil
}

// SharedLibraries lists what the ELF file at p needs to run: its interpreter
// and the shared libraries it loads, directly or not, as absolute paths
// (from ldd). A file that is not ELF, or is statically linked, needs
// nothing.
func SharedLibraries(p string) ([]string, error) {
	f, err := elf.Open(p)
	if err != nil {
		var ferr *elf.FormatError
		if errors.As(err, &ferr) || errors.Is(err, io.EOF) {
			return nil, nil // not ELF: a script, a data file
		}
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	dynamic := false
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_DYNAMIC || prog.Type == elf.PT_INTERP {
			dynamic = true
		}
	}
	f.Close()
	if !dynamic {
		return nil, nil
	}
	out, err := exec.Command("ldd", p).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("rootfs: ldd %s: %v: %s", p, err, bytes.TrimSpace(stderr))
	}
	return ParseLdd(out)
}

// ParseLdd reads ldd's output: the absolute paths it names, in order. A
// library ldd could not find is an error.
func ParseLdd(out []byte) ([]string, error) {
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "statically linked") {
			continue
		}
		name, where, arrow := strings.Cut(line, "=>")
		if !arrow {
			where = name // "/lib64/ld-linux-x86-64.so.2 (0x...)" or "linux-vdso.so.1 (0x...)"
		}
		where = strings.TrimSpace(where)
		if i := strings.Index(where, " ("); i >= 0 {
			where = where[:i]
		} else if strings.HasPrefix(where, "(") {
			where = ""
		}
		switch {
		case where == "not found":
			return nil, fmt.Errorf("rootfs: ldd: %s not found", strings.TrimSpace(name))
		case strings.HasPrefix(where, "/"):
			libs = append(libs, where)
		}
		// else a virtual library (linux-vdso.so.1): nothing to copy
	}
	return libs, sc.Err()
}

// WriteFile adds a file with the given content at the absolute path p,
// replacing what the Set had there.
func (s *Set) WriteFile(p string, content []byte, mode fs.FileMode) {
	s.entries[path.Clean(p)] = entry{kind: kindContent, content: content, mode: mode.Perm(), size: int64(len(content))}
}

// Symlink adds a symbolic link at the absolute path p, replacing what the
// Set had there.
func (s *Set) Symlink(target, p string) {
	s.entries[path.Clean(p)] = entry{kind: kindLink, target: target}
}

// Mkdir adds an empty directory at the absolute path p with the given mode
// (fs.ModeSticky is kept), replacing what the Set had there.
func (s *Set) Mkdir(p string, mode fs.FileMode) {
	s.entries[path.Clean(p)] = entry{kind: kindDir, mode: mode.Perm() | mode&fs.ModeSticky}
}

// Resolve returns the path p names in the Set, its links followed as the
// image will follow them (a link to a path the Set does not have is
// followed all the same), and false if it goes round in circles.
func (s *Set) Resolve(p string) (string, bool) {
	p = path.Clean(p)
	for range 40 {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := "/"
		moved := false
		for i, part := range parts {
			next := path.Join(cur, part)
			if e, ok := s.entries[next]; ok && e.kind == kindLink {
				t := e.target
				if !path.IsAbs(t) {
					t = path.Join(cur, t)
				}
				p = path.Join(append([]string{t}, parts[i+1:]...)...)
				moved = true
				break
			}
			cur = next
		}
		if !moved {
			return p, true
		}
	}
	return "", false
}

// Paths lists the Set's paths, sorted.
func (s *Set) Paths() []string {
	ps := make([]string, 0, len(s.entries))
	for p := range s.entries {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// Size is the total size of the Set's files, in bytes.
func (s *Set) Size() int64 {
	var n int64
	for _, e := range s.entries {
		n += e.size
	}
	return n
}

// Digest names the Set's content: a hexadecimal SHA-256 of every entry's
// path, kind, mode, link target, and size and modification time (for a
// host file) or content (for a written one). A host file that changes
// (a toolchain upgrade) changes it.
func (s *Set) Digest() string {
	h := sha256.New()
	for _, p := range s.Paths() {
		e := s.entries[p]
		fmt.Fprintf(h, "%q %d %o %q %d %d\n", p, e.kind, e.mode, e.target, e.size, e.mtime)
		if e.kind == kindContent {
			h.Write(e.content)
			h.Write([]byte{'\n'})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Write lays the Set out under dir (created if missing; it should be
// empty): directories, links, written files, and the host's files, as hard
// links to them where the file system allows it (fast, and nothing is
// written to them: the directory is only read, by docker build), else as
// copies. The caller removes dir when done.
func (s *Set) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	for _, p := range s.Paths() { // a parent before its children
		e := s.entries[p]
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		var err error
		switch e.kind {
		case kindDir:
			if err = os.MkdirAll(dst, 0o755); err == nil {
				err = os.Chmod(dst, e.mode)
			}
		case kindLink:
			err = os.Symlink(e.target, dst)
		case kindContent:
			if err = os.WriteFile(dst, e.content, e.mode); err == nil {
				err = os.Chmod(dst, e.mode)
			}
		case kindFile:
			if os.Link(e.src, dst) != nil {
				err = copyFile(e.src, dst, e.mode)
			}
		}
		if err != nil {
			return fmt.Errorf("rootfs: writing %s: %w", p, err)
		}
	}
	return nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
