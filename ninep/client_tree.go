package ninep

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// remoteReader reads a directory tree of the server: trees/D-<hash> for a
// tree, a transaction's rw/ for a transaction.
type remoteReader struct {
	c    *Client
	base []string
	tx   *remoteTx // nil for a tree
}

// steps returns the file tree path of p.
func (r *remoteReader) steps(p dkstore.Path) []string {
	out := make([]string, 0, len(r.base)+strings.Count(string(p), "/")+2)
	out = append(out, r.base...)
	return append(out, p.Steps()...)
}

// begin checks p and the transaction, and returns the connection.
func (r *remoteReader) begin(ctx context.Context, op string, p dkstore.Path) (*clientConn, error) {
	if err := p.Valid(); err != nil {
		return nil, withOpErr(err, op)
	}
	if r.tx != nil {
		if err := r.tx.live(op); err != nil {
			return nil, err
		}
	}
	return r.c.enter(ctx, op)
}

// fail converts an error of the exchange; a transaction that closed
// meanwhile (its directory is gone) gives ErrClosed.
func (r *remoteReader) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if r.tx != nil {
		if cerr := r.tx.live(op); cerr != nil {
			return cerr
		}
	}
	return r.c.wireErr(op, err)
}

// withOpErr sets the Op of a *dkstore.Error that has none.
func withOpErr(err error, op string) error {
	var e *dkstore.Error
	if errors.As(err, &e) && e.Op == "" {
		c := *e
		c.Op = op
		return &c
	}
	return err
}

// walkErr reads the errors of a walk along a valid path: the server's p9
// refuses to walk on from a file with EINVAL, which means "not a
// directory" here.
func walkErr(err error) error {
	if hasErrno(err, linux.EINVAL) {
		return linux.ENOTDIR
	}
	return err
}

func statOf(attr p9.Attr) dkstore.Stat {
	switch {
	case attr.Mode.IsDir():
		return dkstore.Stat{Kind: dkstore.KindDir}
	case attr.Mode.IsSymlink():
		return dkstore.Stat{Kind: dkstore.KindLink, Size: int64(attr.Size)}
	case attr.Mode.Permissions()&0o100 != 0:
		return dkstore.Stat{Kind: dkstore.KindExec, Size: int64(attr.Size)}
	}
	return dkstore.Stat{Kind: dkstore.KindFile, Size: int64(attr.Size)}
}

// Stat walks to p and reads its attributes.
func (r *remoteReader) Stat(ctx context.Context, p dkstore.Path) (dkstore.Stat, error) {
	op := "stat " + string(p)
	conn, err := r.begin(ctx, op, p)
	if err != nil {
		return dkstore.Stat{}, err
	}
	f, attr, err := conn.walkAttr(r.steps(p))
	if err != nil {
		return dkstore.Stat{}, r.fail(op, walkErr(err))
	}
	f.Close()
	return statOf(attr), nil
}

// ReadFile reads the file at p, or a symlink's target.
func (r *remoteReader) ReadFile(ctx context.Context, p dkstore.Path) ([]byte, error) {
	op := "read " + string(p)
	conn, err := r.begin(ctx, op, p)
	if err != nil {
		return nil, err
	}
	f, attr, err := conn.walkAttr(r.steps(p))
	if err != nil {
		return nil, r.fail(op, walkErr(err))
	}
	defer f.Close()
	switch {
	case attr.Mode.IsDir():
		return nil, r.fail(op, linux.EISDIR)
	case attr.Mode.IsSymlink():
		target, err := f.Readlink()
		if err != nil {
			return nil, r.fail(op, err)
		}
		return []byte(target), nil
	}
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		return nil, r.fail(op, err)
	}
	data, err := conn.readAll(f, int64(attr.Size))
	if err != nil {
		return nil, r.fail(op, err)
	}
	return data, nil
}

// ReadDir lists the directory at p. The server's entries tell
// directories from files; the kind of each file takes a stat.
func (r *remoteReader) ReadDir(ctx context.Context, p dkstore.Path) ([]dkstore.DirEntry, error) {
	op := "readdir " + string(p)
	conn, err := r.begin(ctx, op, p)
	if err != nil {
		return nil, err
	}
	steps := r.steps(p)
	f, attr, err := conn.walkAttr(steps)
	if err != nil {
		return nil, r.fail(op, walkErr(err))
	}
	defer f.Close()
	if !attr.Mode.IsDir() {
		return nil, r.fail(op, linux.ENOTDIR)
	}
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		return nil, r.fail(op, err)
	}
	var ents []p9.Dirent
	for off := uint64(0); ; {
		ds, err := f.Readdir(off, uint32(conn.chunk))
		if err != nil {
			return nil, r.fail(op, err)
		}
		if len(ds) == 0 {
			break
		}
		ents = append(ents, ds...)
		off = ds[len(ds)-1].Offset
	}
	out := make([]dkstore.DirEntry, 0, len(ents))
	for _, e := range ents {
		kind := dkstore.KindDir
		if e.Type != p9.TypeDir {
			g, a, err := conn.walkAttr(append(slices.Clip(steps), e.Name))
			if hasErrno(err, linux.ENOENT) {
				continue // gone since the listing
			}
			if err != nil {
				return nil, r.fail(op, err)
			}
			g.Close()
			kind = statOf(a).Kind
		}
		out = append(out, dkstore.DirEntry{Name: e.Name, Kind: kind})
	}
	slices.SortFunc(out, func(a, b dkstore.DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// remoteTree is an immutable tree, read under trees/D-<hash>.
type remoteTree struct {
	remoteReader
	h dkstore.Hash
}

var _ dkstore.Tree = (*remoteTree)(nil)

func (t *remoteTree) Hash() dkstore.Hash { return t.h }
