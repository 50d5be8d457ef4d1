package ninep

import (
	"context"
	"fmt"
	"strings"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// remoteBranch is a handle on branch/<name>. A name with slashes is a path
// in the tree: branch/feature/x.
type remoteBranch struct {
	c    *Client
	name dkstore.BranchName
}

var _ dkstore.Branch = (*remoteBranch)(nil)

func (b *remoteBranch) Name() dkstore.BranchName { return b.name }

func (b *remoteBranch) steps(rest ...string) []string {
	return append(branchSteps(b.name), rest...)
}

// Head reads branch/<b>/head: an id, or an empty line (or no such file)
// for a branch with no commit.
func (b *remoteBranch) Head(ctx context.Context) (dkstore.CommitID, error) {
	op := "head " + string(b.name)
	conn, err := b.c.enter(ctx, op)
	if err != nil {
		return dkstore.CommitID{}, err
	}
	if id, ok := b.c.keptHead(b.name); ok {
		return id, nil
	}
	data, err := conn.readFile(b.steps("head"))
	if err == nil {
		b.c.keepHead(conn, b.name, b.steps("head"))
	}
	if hasErrno(err, linux.ENOENT) {
		return dkstore.CommitID{}, nil
	}
	if err != nil {
		return dkstore.CommitID{}, b.c.wireErr(op, err)
	}
	id, err := parseHeadLine(strings.TrimSpace(string(data)))
	if err != nil {
		return dkstore.CommitID{}, fmt.Errorf("ninep: %s: %w", op, err)
	}
	return id, nil
}

// parseHeadLine reads a head: "" for none.
func parseHeadLine(s string) (dkstore.CommitID, error) {
	if s == "" {
		return dkstore.CommitID{}, nil
	}
	return dkstore.ParseCommitID(s)
}

// FastForward writes id to branch/<b>/fast-forward, after a mkdir of the
// branch in case it has no commit yet.
func (b *remoteBranch) FastForward(ctx context.Context, id dkstore.CommitID) error {
	op := "fast-forward " + string(b.name)
	conn, err := b.c.enter(ctx, op)
	if err != nil {
		return err
	}
	if id.IsZero() {
		return &dkstore.Error{Kind: dkstore.ErrInvalid, Op: op, Text: "zero commit id"}
	}
	_, err = b.c.command(conn, b.steps("fast-forward"), id.String(), false)
	if hasErrno(err, linux.ENOENT) && !isServerError(err) { // no branch/<b> yet
		if err := conn.ensureBranch(b.name); err != nil {
			return withOpErr(b.c.wireErr(op, err), op)
		}
		_, err = b.c.command(conn, b.steps("fast-forward"), id.String(), false)
	}
	return b.c.wireErr(op, err)
}

// Delete removes the branch's entry from its directory under branch/.
func (b *remoteBranch) Delete(ctx context.Context) error {
	op := "delete " + string(b.name)
	conn, err := b.c.enter(ctx, op)
	if err != nil {
		return err
	}
	steps := b.steps()
	dir, err := conn.walk(steps[:len(steps)-1])
	if hasErrno(err, linux.ENOENT) {
		return nil
	}
	if err != nil {
		return b.c.wireErr(op, err)
	}
	defer dir.Close()
	err = dir.UnlinkAt(steps[len(steps)-1], 0)
	if hasErrno(err, linux.ENOENT) {
		return nil
	}
	return b.c.wireErr(op, err)
}

// Rename renames the branch's entry under branch/. The tree reports an
// existing target as "Is a directory", as the original did; here that is
// ErrExist.
func (b *remoteBranch) Rename(ctx context.Context, to dkstore.BranchName) error {
	op := "rename " + string(b.name)
	if err := to.Valid(); err != nil {
		return withOpErr(err, op)
	}
	conn, err := b.c.enter(ctx, op)
	if err != nil {
		return err
	}
	// The tree renames a branch made by mkdir that has no commit, which
	// the Store does not know of: check that there is a head to move.
	head, err := b.Head(ctx)
	if err != nil {
		return err
	}
	if head.IsZero() {
		return &dkstore.Error{Kind: dkstore.ErrNotExist, Op: op, Text: "No such file or directory"}
	}
	from, dst := b.steps(), branchSteps(to)
	if len(dst) > 2 {
		// The target's directory (branch/with/slashes) exists only once
		// some branch lies below it: make the target's name first.
		if err := conn.ensureBranch(to); err != nil {
			return withOpErr(b.c.wireErr(op, err), op)
		}
	}
	fromDir, err := conn.walk(from[:len(from)-1])
	if err != nil {
		return b.c.wireErr(op, err)
	}
	defer fromDir.Close()
	toDir, err := conn.walk(dst[:len(dst)-1])
	if err != nil {
		return b.c.wireErr(op, err)
	}
	defer toDir.Close()
	err = fromDir.RenameAt(from[len(from)-1], toDir, dst[len(dst)-1])
	if hasErrno(err, linux.EISDIR) {
		err = linux.EEXIST
	}
	return b.c.wireErr(op, err)
}

// WatchHead streams branch/<b>/head.live.
func (b *remoteBranch) WatchHead(ctx context.Context) (dkstore.Watch[dkstore.CommitID], error) {
	return openWatch(ctx, b.c, "watch "+string(b.name), b.name, b.steps("head.live"), parseHeadLine, false)
}

// WatchPath streams branch/<b>/watch/<a>.node/<b>.node/tree.live.
func (b *remoteBranch) WatchPath(ctx context.Context, p dkstore.Path) (dkstore.Watch[dkstore.Object], error) {
	op := "watch " + string(b.name) + " " + string(p)
	if err := p.Valid(); err != nil {
		return nil, withOpErr(err, op)
	}
	steps := b.steps("watch")
	for _, s := range p.Steps() {
		steps = append(steps, s+".node")
	}
	steps = append(steps, "tree.live")
	return openWatch(ctx, b.c, op, b.name, steps, dkstore.ParseObject, false)
}

// Transaction starts a transaction: see newRemoteTx.
func (b *remoteBranch) Transaction(ctx context.Context, opts dkstore.TxOptions) (dkstore.Transaction, error) {
	return newRemoteTx(ctx, b, opts)
}

// keptHead reads b's head through its kept open fid, if there is one: one
// request. A failed read forgets the fid.
func (c *Client) keptHead(b dkstore.BranchName) (dkstore.CommitID, bool) {
	c.headMu.Lock()
	f := c.heads[b]
	c.headMu.Unlock()
	if f == nil {
		return dkstore.CommitID{}, false
	}
	buf := make([]byte, 64)
	n, err := f.ReadAt(buf, 0)
	if err == nil && n > 0 {
		if id, err := parseHeadLine(strings.TrimSpace(string(buf[:n]))); err == nil {
			return id, true
		}
	}
	c.headMu.Lock()
	if c.heads[b] == f {
		delete(c.heads, b)
	}
	c.headMu.Unlock()
	f.Close()
	return dkstore.CommitID{}, false
}

// keepHead opens and keeps b's head file for later Heads (a few hundred
// branches at most: beyond that, fids are not kept).
func (c *Client) keepHead(conn *clientConn, b dkstore.BranchName, steps []string) {
	c.headMu.Lock()
	defer c.headMu.Unlock()
	if c.heads[b] != nil || len(c.heads) >= 256 {
		return
	}
	_, f, err := conn.root.Walk(steps)
	if err != nil {
		return
	}
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		f.Close()
		return
	}
	if c.heads == nil {
		c.heads = map[dkstore.BranchName]p9.File{}
	}
	c.heads[b] = f
}
