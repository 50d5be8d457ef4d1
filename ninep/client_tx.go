package ninep

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// remoteTx is a transaction directory of the main connection,
// branch/<b>/transactions/<random>: reads and writes go to rw/, the rest
// to its files. Whether it is closed is known here: a closed
// transaction's directory is gone on the server.
type remoteTx struct {
	remoteReader
	b   *remoteBranch
	dir []string

	cmd    sync.Mutex // one Commit or Abort at a time
	mu     sync.Mutex
	closed bool
}

var _ dkstore.Transaction = (*remoteTx)(nil)

// newRemoteTx makes the branch reachable (mkdir, for a branch with no
// commit), then the transaction directory under a random name; options
// other than the defaults go to ctl as "start [FROM] [ff-only]
// [skip-if-empty]".
func newRemoteTx(ctx context.Context, b *remoteBranch, opts dkstore.TxOptions) (*remoteTx, error) {
	c := b.c
	op := "transaction on " + string(b.name)
	conn, err := c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	txs := b.steps("transactions")
	dir, err := conn.walk(txs)
	if hasErrno(err, linux.ENOENT) {
		if err := conn.ensureBranch(b.name); err != nil {
			return nil, withOpErr(c.wireErr(op, err), op)
		}
		dir, err = conn.walk(txs)
	}
	if err != nil {
		return nil, c.wireErr(op, err)
	}
	var name string
	for i := 0; ; i++ {
		name = randomName()
		_, err = dir.Mkdir(name, 0o755, 0, 0)
		if err == nil || !hasErrno(err, linux.EEXIST) || i == 3 {
			break
		}
	}
	dir.Close()
	if err != nil {
		return nil, c.wireErr(op, err)
	}
	t := &remoteTx{b: b, dir: append(txs, name)}
	t.remoteReader = remoteReader{c: c, base: t.file("rw"), tx: t}
	if opts != (dkstore.TxOptions{}) {
		words := []string{"start"}
		if !opts.From.IsZero() {
			words = append(words, opts.From.String())
		}
		if opts.FastForwardOnly {
			words = append(words, "ff-only")
		}
		if opts.SkipIfEmpty {
			words = append(words, "skip-if-empty")
		}
		if _, err := c.command(conn, t.file("ctl"), strings.Join(words, " "), false); err != nil {
			t.Abort(context.WithoutCancel(ctx))
			return nil, c.wireErr(op, err)
		}
	}
	return t, nil
}

// file returns the path of a file of the transaction directory.
func (t *remoteTx) file(rest ...string) []string {
	out := make([]string, 0, len(t.dir)+len(rest))
	out = append(out, t.dir...)
	return append(out, rest...)
}

// live returns ErrClosed once the transaction is committed or aborted.
func (t *remoteTx) live(op string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return &dkstore.Error{Kind: dkstore.ErrClosed, Op: op, Text: "transaction is closed"}
	}
	return nil
}

func (t *remoteTx) markClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.closed
	t.closed = true
	return was
}

func errKind(kind error, op, text string) error {
	return &dkstore.Error{Kind: kind, Op: op, Text: text}
}

// mkdirAll returns a fid of the directory d of rw/, made with its parents
// if missing (as mkdir -p).
func (t *remoteTx) mkdirAll(conn *clientConn, d dkstore.Path) (p9.File, error) {
	f, attr, err := conn.walkAttr(t.steps(d))
	if err == nil {
		if attr.Mode.IsDir() {
			return f, nil
		}
		f.Close()
		return nil, linux.ENOTDIR
	}
	if !hasErrno(err, linux.ENOENT) && !hasErrno(err, linux.EINVAL) {
		return nil, err
	}
	cur, err := conn.walk(t.base)
	if err != nil {
		return nil, err
	}
	for _, s := range d.Steps() {
		_, next, _, attr, err := cur.WalkGetAttr([]string{s})
		if hasErrno(err, linux.ENOENT) {
			if _, err := cur.Mkdir(s, 0o755, 0, 0); err != nil && !hasErrno(err, linux.EEXIST) {
				cur.Close()
				return nil, err
			}
			_, next, _, attr, err = cur.WalkGetAttr([]string{s})
		}
		cur.Close()
		if err != nil {
			return nil, err
		}
		if !attr.Mode.IsDir() {
			next.Close()
			return nil, linux.ENOTDIR
		}
		cur = next
	}
	return cur, nil
}

// WriteFile creates (or replaces) p in its directory, made first: Tlcreate
// with mode 0644 or 0755 and then writes, or Tsymlink.
func (t *remoteTx) WriteFile(ctx context.Context, p dkstore.Path, data []byte, kind dkstore.Kind) error {
	op := "write " + string(p)
	conn, err := t.begin(ctx, op, p)
	if err != nil {
		return err
	}
	switch {
	case !kind.IsFile():
		return errKind(dkstore.ErrInvalid, op, fmt.Sprintf("kind %v is not a kind of file", kind))
	case p == dkstore.Root:
		return errKind(dkstore.ErrIsDir, op, "Is a directory")
	}
	return t.fail(op, t.writeFile(conn, p, data, kind))
}

func (t *remoteTx) writeFile(conn *clientConn, p dkstore.Path, data []byte, kind dkstore.Kind) error {
	dir, err := t.mkdirAll(conn, p.Dir())
	if err != nil {
		return err
	}
	defer dir.Close() // the created file, after Tlcreate
	if kind == dkstore.KindLink {
		_, err := dir.Symlink(string(data), p.Base(), 0, 0)
		return err
	}
	perm := p9.FileMode(0o644)
	if kind == dkstore.KindExec {
		perm = 0o755
	}
	f, _, _, err := dir.Create(p.Base(), p9.WriteOnly, perm, 0, 0)
	if err != nil {
		return err
	}
	return conn.writeAll(f, data, 0)
}

// fileAt walks to p, which must not be a directory.
func (t *remoteTx) fileAt(conn *clientConn, p dkstore.Path) (p9.File, p9.Attr, error) {
	f, attr, err := conn.walkAttr(t.steps(p))
	if err != nil {
		return nil, attr, walkErr(err)
	}
	if attr.Mode.IsDir() {
		f.Close()
		return nil, attr, linux.EISDIR
	}
	return f, attr, nil
}

// WriteAt opens p and writes at off.
func (t *remoteTx) WriteAt(ctx context.Context, p dkstore.Path, data []byte, off int64) error {
	op := "write " + string(p)
	conn, err := t.begin(ctx, op, p)
	if err != nil {
		return err
	}
	if off < 0 {
		return errKind(dkstore.ErrInvalid, op, fmt.Sprintf("Negative offset %d", off))
	}
	f, attr, err := t.fileAt(conn, p)
	if err != nil {
		return t.fail(op, err)
	}
	defer f.Close()
	if len(data) == 0 {
		return nil
	}
	if attr.Mode.IsSymlink() { // a symlink cannot be opened: rewrite it
		target, err := f.Readlink()
		if err != nil {
			return t.fail(op, err)
		}
		b := []byte(target)
		if end := off + int64(len(data)); end > int64(len(b)) {
			b = append(b, make([]byte, end-int64(len(b)))...)
		}
		copy(b[off:], data)
		return t.fail(op, t.writeFile(conn, p, b, dkstore.KindLink))
	}
	if _, _, err := f.Open(p9.WriteOnly); err != nil {
		return t.fail(op, err)
	}
	return t.fail(op, conn.writeAll(f, data, off))
}

// Truncate sets p's size with Tsetattr.
func (t *remoteTx) Truncate(ctx context.Context, p dkstore.Path, size int64) error {
	op := "truncate " + string(p)
	conn, err := t.begin(ctx, op, p)
	if err != nil {
		return err
	}
	if size < 0 {
		return errKind(dkstore.ErrInvalid, op, fmt.Sprintf("Negative length %d", size))
	}
	f, _, err := t.fileAt(conn, p)
	if err != nil {
		return t.fail(op, err)
	}
	defer f.Close()
	return t.fail(op, f.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: uint64(size)}))
}

// SetKind sets the mode of p with Tsetattr; a change to or from a symlink
// recreates p with its content.
func (t *remoteTx) SetKind(ctx context.Context, p dkstore.Path, kind dkstore.Kind) error {
	op := "chmod " + string(p)
	conn, err := t.begin(ctx, op, p)
	if err != nil {
		return err
	}
	if !kind.IsFile() {
		return errKind(dkstore.ErrInvalid, op, fmt.Sprintf("cannot change a file to kind %v", kind))
	}
	f, attr, err := t.fileAt(conn, p)
	if err != nil {
		return t.fail(op, err)
	}
	cur := statOf(attr).Kind
	if cur != dkstore.KindLink && kind != dkstore.KindLink {
		defer f.Close()
		perm := p9.FileMode(0o644)
		if kind == dkstore.KindExec {
			perm = 0o755
		}
		return t.fail(op, f.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: perm}))
	}
	f.Close()
	if cur == kind {
		return nil
	}
	data, err := t.ReadFile(ctx, p)
	if err != nil {
		return err
	}
	return t.fail(op, t.writeFile(conn, p, data, kind))
}

// MakeDirs is mkdir -p in rw/.
func (t *remoteTx) MakeDirs(ctx context.Context, p dkstore.Path) error {
	op := "mkdir " + string(p)
	conn, err := t.begin(ctx, op, p)
	if err != nil {
		return err
	}
	f, err := t.mkdirAll(conn, p)
	if err != nil {
		return t.fail(op, err)
	}
	f.Close()
	return nil
}

// Remove unlinks p from its directory; the server removes a directory
// with everything below it. Removing the root removes every entry.
func (t *remoteTx) Remove(ctx context.Context, p dkstore.Path) error {
	op := "remove " + string(p)
	conn, err := t.begin(ctx, op, p)
	if err != nil {
		return err
	}
	dir, attr, err := conn.walkAttr(t.steps(p.Dir()))
	if err != nil {
		return t.fail(op, walkErr(err))
	}
	defer dir.Close()
	if !attr.Mode.IsDir() {
		return t.fail(op, linux.ENOTDIR)
	}
	if p != dkstore.Root {
		return t.fail(op, dir.UnlinkAt(p.Base(), 0))
	}
	ents, err := t.ReadDir(ctx, dkstore.Root)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := dir.UnlinkAt(e.Name, 0); err != nil && !hasErrno(err, linux.ENOENT) {
			return t.fail(op, err)
		}
	}
	return nil
}

// Rename is Trenameat between the directories of from and to.
func (t *remoteTx) Rename(ctx context.Context, from, to dkstore.Path) error {
	op := "rename " + string(from)
	conn, err := t.begin(ctx, op, from)
	if err != nil {
		return err
	}
	if err := to.Valid(); err != nil {
		return withOpErr(err, op)
	}
	if from == dkstore.Root || to == dkstore.Root {
		return errKind(dkstore.ErrPermission, op, "Operation not permitted")
	}
	if from == to { // p9 answers this one itself, without a look
		_, err := t.Stat(ctx, from)
		return err
	}
	fromDir, err := conn.walk(t.steps(from.Dir()))
	if err != nil {
		return t.fail(op, walkErr(err))
	}
	defer fromDir.Close()
	toDir, err := conn.walk(t.steps(to.Dir()))
	if err != nil {
		return t.fail(op, walkErr(err))
	}
	defer toDir.Close()
	return t.fail(op, fromDir.RenameAt(from.Base(), toDir, to.Base()))
}

// Parents reads the parents file.
func (t *remoteTx) Parents(ctx context.Context) ([]dkstore.CommitID, error) {
	const op = "parents"
	conn, err := t.begin(ctx, op, dkstore.Root)
	if err != nil {
		return nil, err
	}
	data, err := conn.readFile(t.file("parents"))
	if err != nil {
		return nil, t.fail(op, err)
	}
	var out []dkstore.CommitID
	for _, line := range textLines(data) {
		id, err := dkstore.ParseCommitID(strings.TrimSpace(line))
		if err != nil {
			return nil, withOpErr(err, op)
		}
		out = append(out, id)
	}
	return out, nil
}

// SetParents writes the parents file, an id a line.
func (t *remoteTx) SetParents(ctx context.Context, parents []dkstore.CommitID) error {
	const op = "set parents"
	conn, err := t.begin(ctx, op, dkstore.Root)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, p := range parents {
		if p.IsZero() {
			return errKind(dkstore.ErrInvalid, op, `invalid-hash "": zero commit id`)
		}
		b.WriteString(p.String() + "\n")
	}
	return t.fail(op, conn.writeFile(t.file("parents"), []byte(b.String())))
}

// Merge writes id to merge, then reads the conflicts and the trees file.
func (t *remoteTx) Merge(ctx context.Context, id dkstore.CommitID) (dkstore.MergeResult, error) {
	op := "merge " + dkstore.Hash(id).String()
	conn, err := t.begin(ctx, op, dkstore.Root)
	if err != nil {
		return dkstore.MergeResult{}, err
	}
	if id.IsZero() {
		return dkstore.MergeResult{}, errKind(dkstore.ErrInvalid, op, "zero commit id")
	}
	if _, err := t.c.command(conn, t.file("merge"), id.String(), false); err != nil {
		return dkstore.MergeResult{}, t.fail(op, err)
	}
	data, err := conn.readFile(t.file("trees"))
	if err != nil {
		return dkstore.MergeResult{}, t.fail(op, err)
	}
	trees := map[string]dkstore.Hash{}
	for _, line := range textLines(data) {
		name, hash, _ := strings.Cut(line, " ")
		h, err := dkstore.ParseHash(hash)
		if err != nil {
			return dkstore.MergeResult{}, fmt.Errorf("ninep: %s: trees: %w", op, err)
		}
		trees[name] = h
	}
	for _, name := range []string{"ours", "theirs", "base"} {
		if _, ok := trees[name]; !ok {
			return dkstore.MergeResult{}, fmt.Errorf("ninep: %s: trees: no %s tree", op, name)
		}
	}
	cs, err := t.conflicts(conn, op)
	if err != nil {
		return dkstore.MergeResult{}, err
	}
	return dkstore.MergeResult{
		Ours: t.c.treeOf(trees["ours"]), Theirs: t.c.treeOf(trees["theirs"]), Base: t.c.treeOf(trees["base"]),
		Conflicts: cs,
	}, nil
}

// Conflicts reads the conflicts file (absent before a merge).
func (t *remoteTx) Conflicts(ctx context.Context) ([]dkstore.Conflict, error) {
	const op = "conflicts"
	conn, err := t.begin(ctx, op, dkstore.Root)
	if err != nil {
		return nil, err
	}
	return t.conflicts(conn, op)
}

// conflictMarker starts the content of a path left in conflict.
const conflictMarker = "** Conflict **\n"

// conflicts lists the conflicting paths, each with the reason its marker
// file gives.
func (t *remoteTx) conflicts(conn *clientConn, op string) ([]dkstore.Conflict, error) {
	out := []dkstore.Conflict{}
	data, err := conn.readFile(t.file("conflicts"))
	if hasErrno(err, linux.ENOENT) {
		if err := t.live(op); err != nil {
			return nil, err
		}
		return out, nil
	}
	if err != nil {
		return nil, t.fail(op, err)
	}
	for _, line := range textLines(data) {
		p := dkstore.Path(line)
		c := dkstore.Conflict{Path: p}
		if marker, err := conn.readFile(t.steps(p)); err == nil {
			if reason, ok := strings.CutPrefix(string(marker), conflictMarker); ok {
				c.Reason = strings.TrimSuffix(reason, "\n")
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// Diff reads diff/<from>.
func (t *remoteTx) Diff(ctx context.Context, from dkstore.CommitID) ([]dkstore.Change, error) {
	op := "diff " + dkstore.Hash(from).String()
	conn, err := t.begin(ctx, op, dkstore.Root)
	if err != nil {
		return nil, err
	}
	if from.IsZero() {
		return nil, errKind(dkstore.ErrInvalid, op, "zero commit id")
	}
	data, err := conn.readFile(t.file("diff", from.String()))
	if err != nil {
		return nil, t.fail(op, err)
	}
	return parseChanges(op, data)
}

// Changes reads the changes file.
func (t *remoteTx) Changes(ctx context.Context) ([]dkstore.Change, error) {
	const op = "changes"
	conn, err := t.begin(ctx, op, dkstore.Root)
	if err != nil {
		return nil, err
	}
	data, err := conn.readFile(t.file("changes"))
	if err != nil {
		return nil, t.fail(op, err)
	}
	return parseChanges(op, data)
}

// Commit writes the message, then "commit" to ctl, which then holds the
// id the branch moved to.
func (t *remoteTx) Commit(ctx context.Context, msg string) (dkstore.CommitID, error) {
	op := "commit to " + string(t.b.name)
	t.cmd.Lock()
	defer t.cmd.Unlock()
	conn, err := t.begin(ctx, op, dkstore.Root)
	if err != nil {
		return dkstore.CommitID{}, err
	}
	if err := conn.writeFile(t.file("msg"), []byte(msg)); err != nil {
		return dkstore.CommitID{}, t.fail(op, err)
	}
	out, err := t.c.command(conn, t.file("ctl"), "commit", true)
	if err != nil {
		return dkstore.CommitID{}, t.fail(op, err)
	}
	t.markClosed()
	id, err := dkstore.ParseCommitID(strings.TrimSpace(out))
	if err != nil {
		return dkstore.CommitID{}, fmt.Errorf("ninep: %s: ctl: %w", op, err)
	}
	return id, nil
}

// Abort writes "close" to ctl. A closed transaction stays closed.
func (t *remoteTx) Abort(ctx context.Context) error {
	t.cmd.Lock()
	defer t.cmd.Unlock()
	if t.markClosed() || t.c.isClosed() {
		return nil
	}
	_, err := t.c.command(t.c.main, t.file("ctl"), "close", false)
	if err == nil || hasErrno(err, linux.ENOENT) || t.c.isClosed() {
		return nil
	}
	return t.c.wireErr("abort", err)
}
