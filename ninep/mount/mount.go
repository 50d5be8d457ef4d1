// Package mount mounts a DataKit 9P server as a local directory through
// FUSE, for machines whose kernel has no 9p client (containers, this
// project's test machines). Every file operation becomes 9P requests on a
// connection to the server; nothing is cached, so streams (head.live),
// command files (ctl) and the live ro/ trees behave as over a kernel 9p
// mount.
//
// Stream files of branches (head.live, reflog, tree.live, and
// branch/.changes) are opened on a connection of their own, so that a
// blocked read there cannot hold up the other requests of the mount.
//
// A process blocked reading a stream can be interrupted (Ctrl-C, kill):
// the kernel sends FUSE an INTERRUPT, which ends the read with EINTR by a
// 9P Tflush of it (ninep.RawConn.Interrupt). The stream stays open: a
// process that catches the signal and reads again goes on where it was.
package mount

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/ninep"
)

// MessageSize is the 9P message size the mount asks for: above 64 KiB so
// that a 64 KiB write is one message.
const MessageSize = 256 << 10

// Options configure a mount.
type Options struct {
	// Debug logs every FUSE request.
	Debug bool
}

// conn is one 9P connection with its root fid.
type conn struct {
	*ninep.RawConn
	root p9.File
}

func dial(ctx context.Context, url string) (*conn, error) {
	c, err := ninep.DialRaw(ctx, url, MessageSize)
	if err != nil {
		return nil, err
	}
	return &conn{RawConn: c, root: c.Root}, nil
}

func (c *conn) close() {
	c.root.Close()
	c.Close()
}

// Mount mounts the server at url on dir and returns the running server;
// call Unmount (or unmount dir with fusermount -u) to end it, and Wait to
// wait for that.
func Mount(ctx context.Context, url, dir string, opts Options) (*fuse.Server, error) {
	c, err := dial(ctx, url)
	if err != nil {
		return nil, err
	}
	m := &mounter{url: url, main: c}
	root := &node{m: m}
	zero := time.Duration(0)
	srv, err := fs.Mount(dir, root, &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			FsName:        "datakit",
			Name:          "datakit",
			Debug:         opts.Debug,
			MaxWrite:      128 << 10,
			DisableXAttrs: true,
			// As root, mount with mount(2) itself, falling back to
			// fusermount: a container (the client image) has no
			// fusermount.
			DirectMount: os.Geteuid() == 0,
		},
	})
	if err != nil {
		c.close()
		return nil, err
	}
	go func() {
		srv.Wait()
		c.close()
	}()
	return srv, nil
}

type mounter struct {
	url  string
	main *conn
}

// node is a file or directory of the mount, named by its path.
type node struct {
	fs.Inode
	m    *mounter
	path []string
}

var (
	_ fs.NodeLookuper   = (*node)(nil)
	_ fs.NodeGetattrer  = (*node)(nil)
	_ fs.NodeSetattrer  = (*node)(nil)
	_ fs.NodeReaddirer  = (*node)(nil)
	_ fs.NodeOpener     = (*node)(nil)
	_ fs.NodeCreater    = (*node)(nil)
	_ fs.NodeMkdirer    = (*node)(nil)
	_ fs.NodeUnlinker   = (*node)(nil)
	_ fs.NodeRmdirer    = (*node)(nil)
	_ fs.NodeRenamer    = (*node)(nil)
	_ fs.NodeSymlinker  = (*node)(nil)
	_ fs.NodeReadlinker = (*node)(nil)
)

func (n *node) child(name string) []string {
	return append(append([]string(nil), n.path...), name)
}

// toErrno turns a 9P error into an errno for FUSE.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e linux.Errno
	if errors.As(err, &e) {
		return syscall.Errno(e)
	}
	return fs.ToErrno(err)
}

// walk returns a new fid for path on the main connection.
func (m *mounter) walk(path []string) (p9.File, error) {
	_, f, err := m.main.root.Walk(path)
	return f, err
}

func fillAttr(q p9.QID, a p9.Attr, out *fuse.Attr) {
	out.Ino = q.Path
	out.Mode = uint32(a.Mode)
	out.Size = a.Size
	out.Blocks = a.Blocks
	out.Nlink = uint32(a.NLink)
	out.Blksize = 4096
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	qs, f, mask, attr, err := n.m.main.root.WalkGetAttr(n.child(name))
	if err != nil {
		return nil, toErrno(err)
	}
	f.Close()
	_ = mask
	q := qs[len(qs)-1]
	fillAttr(q, attr, &out.Attr)
	child := &node{m: n.m, path: n.child(name)}
	return n.NewInode(ctx, child, fs.StableAttr{Mode: uint32(attr.Mode.FileType()), Ino: q.Path}), 0
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	// An open file (fstat) is asked through its own fid: its path may be
	// gone, as a transaction's ctl after commit.
	if h, ok := fh.(*handle); ok && h.f != nil {
		if q, _, attr, err := h.f.GetAttr(p9.AttrMaskAll); err == nil {
			fillAttr(q, attr, &out.Attr)
			return 0
		}
	}
	f, err := n.m.walk(n.path)
	if err != nil {
		return toErrno(err)
	}
	defer f.Close()
	q, _, attr, err := f.GetAttr(p9.AttrMaskAll)
	if err != nil {
		return toErrno(err)
	}
	fillAttr(q, attr, &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	f, err := n.m.walk(n.path)
	if err != nil {
		return toErrno(err)
	}
	defer f.Close()
	// One change per request, as the server wants; times and owners are
	// not stored, so they are accepted and ignored.
	if size, ok := in.GetSize(); ok {
		if err := f.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: size}); err != nil {
			return toErrno(err)
		}
	}
	if mode, ok := in.GetMode(); ok {
		if err := f.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: p9.FileMode(mode & 0o7777)}); err != nil {
			return toErrno(err)
		}
	}
	return n.Getattr(ctx, fh, out)
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	f, err := n.m.walk(n.path)
	if err != nil {
		return nil, toErrno(err)
	}
	defer f.Close()
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		return nil, toErrno(err)
	}
	var out []fuse.DirEntry
	var off uint64
	for {
		ents, err := f.Readdir(off, MessageSize-64)
		if err != nil {
			return nil, toErrno(err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			mode := uint32(syscall.S_IFREG)
			switch e.Type {
			case p9.TypeDir:
				mode = syscall.S_IFDIR
			case p9.TypeSymlink:
				mode = syscall.S_IFLNK
			}
			out = append(out, fuse.DirEntry{Name: e.Name, Ino: e.QID.Path, Mode: mode})
			off = e.Offset
		}
	}
	return fs.NewListDirStream(out), 0
}

// isBranchStream reports whether path names a stream file of branch/,
// which gets a connection of its own.
func isBranchStream(path []string) bool {
	if len(path) == 2 && path[0] == "branch" && path[1] == ".changes" {
		return true
	}
	if len(path) < 3 || path[0] != "branch" {
		return false
	}
	last := path[len(path)-1]
	return last == "head.live" || last == "reflog" || last == "tree.live"
}

// isStream reports whether path names a stream file, whose reads block
// until its value changes: a branch's, or a remote's head (which stays
// on the main connection, where its remote is).
func isStream(path []string) bool {
	return isBranchStream(path) || len(path) == 3 && path[0] == "remotes" && path[2] == "head"
}

// handle is an open file: a fid, the connection it is on, and whether
// the handle owns that connection.
type handle struct {
	f      p9.File
	c      *conn
	own    bool
	stream bool
	once   sync.Once
}

func (h *handle) close() {
	h.once.Do(func() {
		if h.own {
			// The server drops the fids with the connection.
			h.c.Close()
			return
		}
		h.f.Close()
	})
}

func openFlags(flags uint32) p9.OpenFlags {
	switch flags & syscall.O_ACCMODE {
	case syscall.O_WRONLY:
		return p9.WriteOnly
	case syscall.O_RDWR:
		return p9.ReadWrite
	}
	return p9.ReadOnly
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h := &handle{stream: isStream(n.path)}
	if isBranchStream(n.path) {
		if c, err := dial(ctx, n.m.url); err == nil {
			if _, f, err := c.root.Walk(n.path); err == nil {
				h.f, h.c, h.own = f, c, true
			} else {
				c.close() // e.g. a branch made by mkdir on the main connection only
			}
		}
	}
	if h.f == nil {
		f, err := n.m.walk(n.path)
		if err != nil {
			return nil, 0, toErrno(err)
		}
		h.f, h.c = f, n.m.main
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := h.f.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 0}); err != nil {
			h.close()
			return nil, 0, toErrno(err)
		}
	}
	if _, _, err := h.f.Open(openFlags(flags)); err != nil {
		h.close()
		return nil, 0, toErrno(err)
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// Read reads through the handle's fid. A read of a stream may block until
// the value changes; when FUSE interrupts it (ctx is done: the reader got
// a signal), its 9P reads in flight are flushed and it fails with EINTR.
func (n *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h := fh.(*handle)
	if h.stream {
		stop := context.AfterFunc(ctx, h.c.Interrupt)
		defer stop()
	}
	total := 0
	for total < len(dest) {
		seen := h.c.Interrupts()
		k, err := h.f.ReadAt(dest[total:], off+int64(total))
		if errors.Is(err, linux.EINTR) && ctx.Err() == nil && h.c.Interrupts() != seen {
			continue // flushed for another reader of the connection
		}
		if errors.Is(err, io.EOF) {
			break // p9's client reports an empty read as io.EOF
		}
		if err != nil && total == 0 {
			return nil, toErrno(err)
		}
		total += k
		// Read on until an empty read, as the kernel's 9p client does: a
		// stream answers a line and then an empty read, which ends this
		// read; the next one blocks until the value changes.
		if k == 0 || err != nil {
			break
		}
	}
	return fuse.ReadResultData(dest[:total]), 0
}

func (n *node) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	h := fh.(*handle)
	total := 0
	for total < len(data) {
		k, err := h.f.WriteAt(data[total:], off+int64(total))
		if err != nil {
			return uint32(total), toErrno(err)
		}
		if k == 0 {
			return uint32(total), syscall.EIO
		}
		total += k
	}
	return uint32(total), 0
}

func (n *node) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	fh.(*handle).close()
	return 0
}

func (n *node) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return 0 }

func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno { return 0 }

func (n *node) newChild(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.Lookup(ctx, name, out)
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	dir, err := n.m.walk(n.path)
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	// Create turns the directory's fid into the new file's.
	if _, _, _, err := dir.Create(name, openFlags(flags), p9.FileMode(mode&0o777), 0, 0); err != nil {
		dir.Close()
		return nil, nil, 0, toErrno(err)
	}
	child, errno := n.newChild(ctx, name, out)
	if errno != 0 {
		dir.Close()
		return nil, nil, 0, errno
	}
	return child, &handle{f: dir, c: n.m.main}, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	dir, err := n.m.walk(n.path)
	if err != nil {
		return nil, toErrno(err)
	}
	defer dir.Close()
	if _, err := dir.Mkdir(name, p9.FileMode(mode&0o777), 0, 0); err != nil {
		return nil, toErrno(err)
	}
	return n.newChild(ctx, name, out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	dir, err := n.m.walk(n.path)
	if err != nil {
		return nil, toErrno(err)
	}
	defer dir.Close()
	if _, err := dir.Symlink(target, name, 0, 0); err != nil {
		return nil, toErrno(err)
	}
	return n.newChild(ctx, name, out)
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	f, err := n.m.walk(n.path)
	if err != nil {
		return nil, toErrno(err)
	}
	defer f.Close()
	t, err := f.Readlink()
	if err != nil {
		return nil, toErrno(err)
	}
	return []byte(t), 0
}

func (n *node) unlink(name string, flags uint32) syscall.Errno {
	dir, err := n.m.walk(n.path)
	if err != nil {
		return toErrno(err)
	}
	defer dir.Close()
	return toErrno(dir.UnlinkAt(name, flags))
}

// atRemoveDir is AT_REMOVEDIR.
const atRemoveDir = 0x200

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno { return n.unlink(name, 0) }
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.unlink(name, atRemoveDir)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	from, err := n.m.walk(n.path)
	if err != nil {
		return toErrno(err)
	}
	defer from.Close()
	to, err := n.m.walk(np.path)
	if err != nil {
		return toErrno(err)
	}
	defer to.Close()
	return toErrno(from.RenameAt(name, to, newName))
}

// String names the node for FUSE debugging.
func (n *node) String() string { return "/" + strings.Join(n.path, "/") }
