package dkstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// FS returns r as an io/fs file system (also fs.ReadDirFS, fs.ReadFileFS
// and fs.StatFS), so trees, snapshots and transactions can be read with
// the standard library and checked with testing/fstest. Every call uses
// ctx. Symlinks appear with fs.ModeSymlink and read as their target.
func FS(ctx context.Context, r Reader) fs.FS { return &readerFS{ctx: ctx, r: r} }

type readerFS struct {
	ctx context.Context
	r   Reader
}

var (
	_ fs.ReadDirFS  = (*readerFS)(nil)
	_ fs.ReadFileFS = (*readerFS)(nil)
	_ fs.StatFS     = (*readerFS)(nil)
)

func fsPath(op, name string) (Path, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return Root, nil
	}
	return Path(name), nil
}

func pathErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	kind := err
	var e *Error
	if errors.As(err, &e) {
		kind = e.Kind
	}
	return &fs.PathError{Op: op, Path: name, Err: kind}
}

func (f *readerFS) Stat(name string) (fs.FileInfo, error) {
	p, err := fsPath("stat", name)
	if err != nil {
		return nil, err
	}
	st, err := f.r.Stat(f.ctx, p)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	base := p.Base()
	if p == Root {
		base = "."
	}
	return fileInfo{name: base, st: st}, nil
}

func (f *readerFS) ReadFile(name string) ([]byte, error) {
	p, err := fsPath("readfile", name)
	if err != nil {
		return nil, err
	}
	data, err := f.r.ReadFile(f.ctx, p)
	if err != nil {
		return nil, pathErr("readfile", name, err)
	}
	return data, nil
}

func (f *readerFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := fsPath("readdir", name)
	if err != nil {
		return nil, err
	}
	es, err := f.r.ReadDir(f.ctx, p)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]fs.DirEntry, len(es))
	for i, e := range es {
		out[i] = dirEntry{f: f, dir: p, e: e}
	}
	return out, nil
}

func (f *readerFS) Open(name string) (fs.File, error) {
	p, err := fsPath("open", name)
	if err != nil {
		return nil, err
	}
	st, err := f.r.Stat(f.ctx, p)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	base := p.Base()
	if p == Root {
		base = "."
	}
	info := fileInfo{name: base, st: st}
	if st.Kind == KindDir {
		es, err := f.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &openDir{info: info, entries: es}, nil
	}
	data, err := f.r.ReadFile(f.ctx, p)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	info.st.Size = int64(len(data))
	return &openFile{info: info, Reader: bytes.NewReader(data)}, nil
}

type fileInfo struct {
	name string
	st   Stat
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.st.Size }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.st.Kind == KindDir }
func (i fileInfo) Sys() any           { return i.st }
func (i fileInfo) Mode() fs.FileMode  { return fileMode(i.st.Kind) }

func fileMode(k Kind) fs.FileMode {
	switch k {
	case KindDir:
		return fs.ModeDir | 0o775
	case KindExec:
		return 0o775
	case KindLink:
		return fs.ModeSymlink | 0o777
	default:
		return 0o664
	}
}

type dirEntry struct {
	f   *readerFS
	dir Path
	e   DirEntry
}

func (d dirEntry) Name() string      { return d.e.Name }
func (d dirEntry) IsDir() bool       { return d.e.Kind == KindDir }
func (d dirEntry) Type() fs.FileMode { return fileMode(d.e.Kind).Type() }
func (d dirEntry) Info() (fs.FileInfo, error) {
	st, err := d.f.r.Stat(d.f.ctx, d.dir.Join(d.e.Name))
	if err != nil {
		return nil, pathErr("stat", string(d.dir.Join(d.e.Name)), err)
	}
	return fileInfo{name: d.e.Name, st: st}, nil
}

type openFile struct {
	info fileInfo
	*bytes.Reader
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *openFile) Close() error               { return nil }

type openDir struct {
	info    fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Close() error               { return nil }
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}
