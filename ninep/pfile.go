package ninep

import (
	"io"
	"strings"
	"sync"

	"github.com/hugelgupf/p9/fsimpl/templatefs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// maxRead caps one read reply, as the original did (100 KiB).
const maxRead = 100 << 10

// maxFileSize caps the size a write or a truncate may give a file: files
// live in memory until committed, and a write far past the end would
// zero-fill up to its offset (EFBIG, "File too large").
const maxFileSize = 1 << 30

// tooLarge reports whether a file of end bytes is over maxFileSize.
func tooLarge(end uint64) bool { return end > maxFileSize }

// openTrunc is O_TRUNC as 9P2000.L sends it.
const openTrunc p9.OpenFlags = 0o1000

// pfile adapts a node of the tree to p9.File. One pfile is one fid.
type pfile struct {
	templatefs.NoopFile
	s    *session
	n    node
	mu   sync.Mutex
	h    handle // once opened
	dirs []dirent
}

var _ p9.File = (*pfile)(nil)

func (f *pfile) qid() (p9.QID, error) {
	_, isDir := f.n.(dir)
	return f.s.qids.of(f.n.path(), isDir), nil
}

// walk resolves names from n. ".." goes up; "." is refused as in the
// original ("'.' is not valid in 9p").
func (s *session) walk(n node, names []string) ([]p9.QID, node, error) {
	var out []p9.QID
	for _, name := range names {
		switch name {
		case ".":
			return nil, nil, linux.EINVAL
		case "..":
			n = s.parentOf(n)
		default:
			d, ok := n.(dir)
			if !ok {
				return nil, nil, linux.ENOTDIR // "Can't walk from a file"
			}
			child, err := d.lookup(s.ctx, name)
			if err != nil {
				return nil, nil, errno(err)
			}
			n = child
		}
		_, isDir := n.(dir)
		out = append(out, s.qids.of(n.path(), isDir))
	}
	return out, n, nil
}

func (f *pfile) Walk(names []string) ([]p9.QID, p9.File, error) {
	qs, n, err := f.s.walk(f.n, names)
	if err != nil {
		return nil, nil, err
	}
	return qs, &pfile{s: f.s, n: n}, nil
}

func (f *pfile) WalkGetAttr(names []string) ([]p9.QID, p9.File, p9.AttrMask, p9.Attr, error) {
	qs, nf, err := f.Walk(names)
	if err != nil {
		return nil, nil, p9.AttrMask{}, p9.Attr{}, err
	}
	_, mask, attr, err := nf.GetAttr(p9.AttrMaskAll)
	if err != nil {
		return nil, nil, p9.AttrMask{}, p9.Attr{}, err
	}
	return qs, nf, mask, attr, nil
}

func modeOf(k dkstore.Kind) p9.FileMode {
	switch k {
	case dkstore.KindDir:
		return p9.ModeDirectory | 0o775
	case dkstore.KindExec:
		return p9.ModeRegular | 0o775
	case dkstore.KindLink:
		return p9.ModeSymlink | 0o777
	default:
		return p9.ModeRegular | 0o664
	}
}

func (f *pfile) GetAttr(req p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	q, _ := f.qid()
	attr := p9.Attr{NLink: 1, BlockSize: 4096}
	switch n := f.n.(type) {
	case dir:
		attr.Mode = modeOf(dkstore.KindDir)
		attr.NLink = 2
	case file:
		k, size, err := n.stat(f.s.ctx)
		if err != nil {
			return q, p9.AttrMask{}, p9.Attr{}, errno(err)
		}
		attr.Mode = modeOf(k)
		attr.Size = uint64(size)
		attr.Blocks = (uint64(size) + 511) / 512
		if k == dkstore.KindLink {
			q.Type = p9.TypeSymlink
		}
	}
	mask := p9.AttrMask{Mode: true, NLink: true, UID: true, GID: true, Size: true, Blocks: true, INo: true}
	return q, mask, attr, nil
}

func (f *pfile) SetAttr(valid p9.SetAttrMask, attr p9.SetAttr) error {
	// Linux sends times and owners along with real changes: ignore them.
	changes := 0
	if valid.Size {
		changes++
	}
	if valid.Permissions {
		changes++
	}
	if changes > 1 {
		return linux.EINVAL // "Can't rename/truncate/chmod at the same time"
	}
	ctx := f.s.ctx
	switch {
	case valid.Size:
		if _, ok := f.n.(dir); ok {
			if attr.Size == 0 {
				return nil
			}
			return linux.EISDIR
		}
		t, ok := f.n.(truncater)
		if !ok {
			return linux.EPERM
		}
		if tooLarge(attr.Size) {
			return linux.EFBIG
		}
		return errno(t.truncate(ctx, int64(attr.Size)))
	case valid.Permissions:
		c, ok := f.n.(chmoder)
		if !ok {
			if _, isDir := f.n.(dir); isDir {
				return nil
			}
			return linux.EPERM // "Can't chmod special file"
		}
		kind := dkstore.KindFile
		if attr.Permissions&0o100 != 0 {
			kind = dkstore.KindExec
		}
		return errno(c.setKind(ctx, kind))
	}
	return nil
}

func (f *pfile) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	q, _ := f.qid()
	write := mode.Mode() != p9.ReadOnly
	switch n := f.n.(type) {
	case dir:
		if write {
			return q, 0, linux.EISDIR
		}
		ents, err := n.list(f.s.ctx)
		if err != nil {
			return q, 0, errno(err)
		}
		f.dirs = ents
		return q, 0, nil
	case file:
		h, err := n.open(f.s.ctx, write)
		if err != nil {
			return q, 0, errno(err)
		}
		if mode&openTrunc != 0 && write {
			if t, ok := n.(truncater); ok {
				if err := t.truncate(f.s.ctx, 0); err != nil {
					h.close()
					return q, 0, errno(err)
				}
			}
		}
		f.mu.Lock()
		f.h = h
		f.mu.Unlock()
		return q, 0, nil
	}
	return q, 0, linux.EINVAL
}

func (f *pfile) handle() (handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.h == nil {
		return nil, linux.EBADF
	}
	return f.h, nil
}

func (f *pfile) ReadAt(p []byte, off int64) (int, error) {
	h, err := f.handle()
	if err != nil {
		return 0, err
	}
	if len(p) > maxRead {
		p = p[:maxRead]
	}
	// The read's own context, which a Tflush cancels, and its offset
	// (see serverWire).
	ctx, off, ok := f.s.reqs.read(off)
	if !ok {
		return 0, linux.EINVAL
	}
	n, err := h.readAt(ctx, p, off)
	if err == io.EOF {
		err = nil
	}
	return n, errno(err)
}

func (f *pfile) WriteAt(p []byte, off int64) (int, error) {
	h, err := f.handle()
	if err != nil {
		return 0, err
	}
	if off >= 0 && tooLarge(uint64(off)+uint64(len(p))) {
		return 0, linux.EFBIG
	}
	n, err := h.writeAt(f.s.ctx, p, off)
	return n, errno(err)
}

func (f *pfile) Close() error {
	f.mu.Lock()
	h := f.h
	f.h = nil
	f.mu.Unlock()
	if h != nil {
		h.close()
	}
	return nil
}

func (f *pfile) Readdir(offset uint64, count uint32) (p9.Dirents, error) {
	d, ok := f.n.(dir)
	if !ok {
		return nil, linux.ENOTDIR
	}
	var out p9.Dirents
	for i := offset; i < uint64(len(f.dirs)); i++ {
		e := f.dirs[i]
		q := f.s.qids.of(joinPath(d.path(), e.name), e.isDir)
		out = append(out, p9.Dirent{QID: q, Offset: i + 1, Type: q.Type, Name: e.name})
	}
	return out, nil
}

func (f *pfile) Readlink() (string, error) {
	l, ok := f.n.(linkReader)
	if !ok {
		return "", linux.EINVAL
	}
	t, err := l.readlink(f.s.ctx)
	return t, errno(err)
}

func (f *pfile) dirOf() (dir, error) {
	d, ok := f.n.(dir)
	if !ok {
		return nil, linux.ENOTDIR
	}
	return d, nil
}

func (f *pfile) Create(name string, mode p9.OpenFlags, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.File, p9.QID, uint32, error) {
	d, err := f.dirOf()
	if err != nil {
		return nil, p9.QID{}, 0, err
	}
	c, ok := d.(creator)
	if !ok {
		return nil, p9.QID{}, 0, readOnlyDir(d)
	}
	kind := dkstore.KindFile
	if perm&0o100 != 0 {
		kind = dkstore.KindExec
	}
	if err := c.create(f.s.ctx, name, kind, ""); err != nil {
		return nil, p9.QID{}, 0, errno(err)
	}
	child, err := d.lookup(f.s.ctx, name)
	if err != nil {
		return nil, p9.QID{}, 0, errno(err)
	}
	nf := &pfile{s: f.s, n: child}
	q, _, err := nf.Open(mode)
	if err != nil {
		return nil, p9.QID{}, 0, err
	}
	return nf, q, 0, nil
}

// readOnlyDir is the error for creating in a directory that refuses it.
func readOnlyDir(d dir) error {
	if _, ok := d.(mkdirer); ok {
		return linux.EPERM // "Can only contain directories"
	}
	return linux.EROFS // "Directory is read-only"
}

func (f *pfile) Mkdir(name string, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.QID, error) {
	d, err := f.dirOf()
	if err != nil {
		return p9.QID{}, err
	}
	m, ok := d.(mkdirer)
	if !ok {
		return p9.QID{}, linux.EROFS
	}
	if err := m.mkdir(f.s.ctx, name); err != nil {
		return p9.QID{}, errno(err)
	}
	return f.s.qids.of(joinPath(d.path(), name), true), nil
}

func (f *pfile) Symlink(target, name string, _ p9.UID, _ p9.GID) (p9.QID, error) {
	d, err := f.dirOf()
	if err != nil {
		return p9.QID{}, err
	}
	c, ok := d.(creator)
	if !ok {
		return p9.QID{}, readOnlyDir(d)
	}
	if err := c.create(f.s.ctx, name, dkstore.KindLink, target); err != nil {
		return p9.QID{}, errno(err)
	}
	q := f.s.qids.of(joinPath(d.path(), name), false)
	q.Type = p9.TypeSymlink
	return q, nil
}

func (f *pfile) UnlinkAt(name string, flags uint32) error {
	d, err := f.dirOf()
	if err != nil {
		return err
	}
	r, ok := d.(remover)
	if !ok {
		return linux.EROFS
	}
	return errno(r.remove(f.s.ctx, name))
}

func (f *pfile) RenameAt(oldName string, newDir p9.File, newName string) error {
	d, err := f.dirOf()
	if err != nil {
		return err
	}
	nd, ok := newDir.(*pfile)
	if !ok {
		return linux.EXDEV
	}
	if nd.n.path() != d.path() {
		// Between two directories of branch/ (names with '/').
		if from, ok := d.(*branchesDir); ok {
			if to, ok := nd.n.(*branchesDir); ok {
				return errno(from.renameTo(f.s.ctx, oldName, dkstore.BranchName(to.prefix+newName)))
			}
		}
		// Between two directories of one transaction's rw/ tree.
		from, ok1 := d.(*treeDir)
		to, ok2 := nd.n.(*treeDir)
		if !ok1 || !ok2 || from.tx == nil || from.tx != to.tx {
			return linux.EXDEV // other renames stay within one directory
		}
		return errno(from.tx.get().Rename(f.s.ctx, from.sub.Join(oldName), to.sub.Join(newName)))
	}
	r, ok := d.(renamer)
	if !ok {
		return linux.EROFS
	}
	return errno(r.rename(f.s.ctx, oldName, newName))
}

func (f *pfile) Rename(newDir p9.File, newName string) error {
	// Tremove-style rename of this fid: p9 calls RenameAt on the parent
	// for Trenameat; Trename arrives here, with the parent to be found.
	parent, ok := f.s.parentOf(f.n).(dir)
	if !ok {
		return linux.EINVAL
	}
	nd, ok := newDir.(*pfile)
	if !ok || nd.n.path() != parent.path() {
		return linux.EXDEV
	}
	r, ok := parent.(renamer)
	if !ok {
		return linux.EROFS
	}
	return errno(r.rename(f.s.ctx, baseName(f.n.path()), newName))
}

func (f *pfile) Renamed(newDir p9.File, newName string) {
	if nd, ok := newDir.(*pfile); ok {
		if d, ok := nd.n.(dir); ok {
			if n, err := d.lookup(f.s.ctx, newName); err == nil {
				f.n = n
			}
		}
	}
}

func (f *pfile) StatFS() (p9.FSStat, error) {
	return p9.FSStat{Type: 0x01021997, BlockSize: 4096, NameLength: 255}, nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
