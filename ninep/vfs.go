package ninep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// The DataKit tree is built from two small interfaces, dir and file, over
// which one adapter (pfile) implements p9.File. Nodes are cheap values made
// on lookup; what must persist (transactions, remotes, command results,
// mkdir'ed branches) lives in the connection's session.

// node is an entry of the tree.
type node interface {
	// path is the node's full path from the root, used for stable qids.
	path() string
}

type dir interface {
	node
	list(ctx context.Context) ([]dirent, error)
	lookup(ctx context.Context, name string) (node, error)
}

// Optional directory abilities, found by type assertion.
type (
	mkdirer interface {
		mkdir(ctx context.Context, name string) error
	}
	creator interface {
		create(ctx context.Context, name string, kind dkstore.Kind, target string) error
	}
	remover interface {
		remove(ctx context.Context, name string) error
	}
	renamer interface {
		rename(ctx context.Context, from, to string) error
	}
)

// dirent is one directory entry.
type dirent struct {
	name  string
	isDir bool
}

type file interface {
	node
	stat(ctx context.Context) (dkstore.Kind, int64, error)
	open(ctx context.Context, write bool) (handle, error)
}

// Optional file abilities.
type (
	truncater interface {
		truncate(ctx context.Context, size int64) error
	}
	chmoder interface {
		setKind(ctx context.Context, kind dkstore.Kind) error
	}
	linkReader interface {
		readlink(ctx context.Context) (string, error)
	}
)

// handle is an open file.
type handle interface {
	readAt(ctx context.Context, p []byte, off int64) (int, error)
	writeAt(ctx context.Context, p []byte, off int64) (int, error)
	close()
}

// errno maps errors to Linux error numbers: the one table of this package.
// dkstore kinds map by errors.Is; errors already carrying an errno keep it.
var errnoTable = []struct {
	kind  error
	errno linux.Errno
}{
	{dkstore.ErrNotExist, linux.ENOENT},
	{dkstore.ErrExist, linux.EEXIST},
	{dkstore.ErrInvalid, linux.EINVAL},
	{dkstore.ErrPermission, linux.EPERM},
	{dkstore.ErrNotDir, linux.ENOTDIR},
	{dkstore.ErrIsDir, linux.EISDIR},
	{dkstore.ErrConflict, linux.EBUSY},
	{dkstore.ErrNotFastForward, linux.EAGAIN},
	{dkstore.ErrClosed, linux.EBADF},
	{context.Canceled, linux.EINTR},
	{context.DeadlineExceeded, linux.ETIMEDOUT},
	{errReadOnly, linux.EROFS},
	{errNotPermitted, linux.EPERM},
	{errDirsOnly, linux.EPERM},
	{errCmdExtend, linux.EINVAL},
}

// Errors of the file tree itself, with the original's texts.
var (
	errReadOnly     = errors.New("Read-only file")
	errNotPermitted = errors.New("Operation not permitted")
	errDirsOnly     = errors.New("Can only contain directories")
	errCmdExtend    = errors.New("Can't extend command file")
)

// userErr makes an error whose Reason is text, in the original's wording.
func userErr(kind error, format string, args ...any) error {
	return &dkstore.Error{Kind: kind, Text: fmt.Sprintf(format, args...)}
}

func errno(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var e linux.Errno
	if errors.As(err, &e) {
		return e
	}
	for _, t := range errnoTable {
		if errors.Is(err, t.kind) {
			return t.errno
		}
	}
	return linux.EIO
}

// qids gives stable inode numbers per path, for one connection.
type qids struct {
	mu   sync.Mutex
	next uint64
	ids  map[string]uint64
}

func (q *qids) of(path string, isDir bool) p9.QID {
	q.mu.Lock()
	id, ok := q.ids[path]
	if !ok {
		q.next++
		id = q.next
		q.ids[path] = id
	}
	q.mu.Unlock()
	t := p9.TypeRegular
	if isDir {
		t = p9.TypeDir
	}
	return p9.QID{Type: t, Path: id}
}
