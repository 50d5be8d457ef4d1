package ninep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// The client side of the package: Client implements dkstore.Store over
// 9P2000.L by reading and writing the DataKit file tree that Server
// serves. Every dkstore method maps onto files:
//
//	Branches             read branch/.heads
//	Branch.Head          read branch/<b>/head
//	Branch.FastForward   mkdir branch/<b>, write branch/<b>/fast-forward
//	Branch.Delete        unlinkat <b> in branch/
//	Branch.Rename        renameat in branch/
//	Branch.WatchHead     stream branch/<b>/head.live
//	Branch.WatchPath     stream branch/<b>/watch/<a>.node/…/tree.live
//	Branch.Transaction   mkdir branch/<b>/transactions/<random>
//	Commit               read commits/<id> (JSON)
//	Tree, Blob           trees/D-<hash>/…, read trees/F-<hash>
//	Diff                 read snapshots/<to>/diff/<from>
//	Fetch                remotes/<random>/{url,fetch,head}
//	WatchRefs            stream branch/.changes
//
// A transaction's reads and writes go to its rw/ directory, its commands
// to ctl and merge, its parents and message to the files of those names.
//
// Requests share one connection, which p9 multiplexes; transactions live
// in that connection's namespace on the server. Each watch and each fetch
// gets a connection of its own: a watch whose Next is cancelled closes it,
// which ends the blocked stream read on the server, and reopens the
// stream on the next Next (RawConn.Interrupt is the way to end a read and
// keep the connection).

// DefaultMessageSize is the 9P message size a Client negotiates by
// default: above the 64 KiB that many clients use, so that a large file
// moves in fewer requests.
const DefaultMessageSize = 256 << 10

// ClientOptions configure a Client. The zero value is useful.
type ClientOptions struct {
	// MessageSize is the largest 9P message to negotiate (0:
	// DefaultMessageSize). Contents larger than a message are read and
	// written in several requests.
	MessageSize uint32
}

// Client is a dkstore.Store served by a remote DataKit 9P server. It is
// safe for concurrent use: requests from several goroutines travel on one
// connection at once, and each watch has a connection of its own. Close
// ends its watches and the server aborts its open transactions.
type Client struct {
	network, addr string
	msize         uint32
	main          *clientConn

	// cmdMu serialises the uses of one command file (write, then read the
	// result or error that the server keeps per connection), hashed by
	// path.
	cmdMu [64]sync.Mutex

	mu     sync.Mutex
	closed bool
	extra  map[io.Closer]struct{} // watches and fetches, with their connections

	// heads keeps each branch's head file open: the server recomputes a
	// status file on a read at offset 0, so Head is one request.
	headMu sync.Mutex
	heads  map[dkstore.BranchName]p9.File
}

var _ dkstore.Store = (*Client)(nil)

// Dial connects to the DataKit server at url: tcp://HOST:PORT,
// unix:///PATH, or a bare HOST:PORT. ctx bounds the connection and the
// protocol handshake, not the Client's life.
func Dial(ctx context.Context, url string, opts ClientOptions) (*Client, error) {
	network, addr, err := ParseAddr(url)
	if err != nil {
		return nil, fmt.Errorf("ninep: dial: %w", err)
	}
	msize := opts.MessageSize
	if msize == 0 {
		msize = DefaultMessageSize
	}
	c := &Client{network: network, addr: addr, msize: msize, extra: map[io.Closer]struct{}{}}
	main, err := dialConn(ctx, network, addr, msize)
	if err != nil {
		return nil, fmt.Errorf("ninep: dial %s: %w", url, err)
	}
	c.main = main
	return c, nil
}

// Close closes the connections and ends the watches, whose Next then
// returns dkstore.ErrClosed. Transactions not committed are aborted by the
// server. Closing twice is not an error.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	extra := make([]io.Closer, 0, len(c.extra))
	for x := range c.extra {
		extra = append(extra, x)
	}
	c.mu.Unlock()
	for _, x := range extra {
		x.Close()
	}
	c.main.close()
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// track registers x, closed with the Client; false if the Client is
// closed already.
func (c *Client) track(x io.Closer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.extra[x] = struct{}{}
	return true
}

func (c *Client) untrack(x io.Closer) {
	c.mu.Lock()
	delete(c.extra, x)
	c.mu.Unlock()
}

// enter starts a request on the main connection.
func (c *Client) enter(ctx context.Context, op string) (*clientConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.isClosed() {
		return nil, errClientClosed(op)
	}
	return c.main, nil
}

// dial opens another connection for a watch or a fetch.
func (c *Client) dial(ctx context.Context) (*clientConn, error) {
	return dialConn(ctx, c.network, c.addr, c.msize)
}

// cmdLock returns the lock of the command file at steps.
func (c *Client) cmdLock(steps []string) *sync.Mutex {
	h := fnv.New32a()
	for _, s := range steps {
		h.Write([]byte(s))
		h.Write([]byte{'/'})
	}
	return &c.cmdMu[h.Sum32()%uint32(len(c.cmdMu))]
}

// command runs a command on the main connection, one at a time per file.
func (c *Client) command(conn *clientConn, steps []string, arg string, result bool) (string, error) {
	mu := c.cmdLock(steps)
	mu.Lock()
	defer mu.Unlock()
	return conn.command(steps, arg, result)
}

// Errors.

// errnoKinds maps the server's errnos back to dkstore's error kinds: the
// reverse of errnoTable, the one table of the client. text is the
// reference's wording, for errors that come without the server's own.
var errnoKinds = []struct {
	errno linux.Errno
	kind  error
	text  string
}{
	{linux.ENOENT, dkstore.ErrNotExist, "No such file or directory"},
	{linux.EEXIST, dkstore.ErrExist, "Already exists"},
	{linux.EINVAL, dkstore.ErrInvalid, "Invalid argument"},
	{linux.EPERM, dkstore.ErrPermission, "Operation not permitted"},
	{linux.EROFS, dkstore.ErrPermission, "Read-only file"},
	{linux.ENOTDIR, dkstore.ErrNotDir, "Is not a directory"},
	{linux.EISDIR, dkstore.ErrIsDir, "Is a directory"},
	{linux.EBUSY, dkstore.ErrConflict, "conflicts file is not empty"},
	{linux.EAGAIN, dkstore.ErrNotFastForward, "not-fast-forward"},
	{linux.EBADF, dkstore.ErrClosed, "closed"},
	{linux.EINTR, context.Canceled, "interrupted"},
	{linux.ETIMEDOUT, context.DeadlineExceeded, "timed out"},
}

// serverError is a failed write to a command file, with the text the file
// held afterwards ("error: <text>").
type serverError struct {
	errno linux.Errno
	text  string
}

func (e *serverError) Error() string { return e.text }
func (e *serverError) Unwrap() error { return e.errno }

// wireErr turns an error of the 9P exchange for op into the dkstore
// vocabulary: a *dkstore.Error of the errno's kind, with the server's text
// when it gave one.
func (c *Client) wireErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var de *dkstore.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	text := ""
	var se *serverError
	if errors.As(err, &se) {
		text = se.text
	}
	var e linux.Errno
	if errors.As(err, &e) {
		for _, k := range errnoKinds {
			if k.errno != e {
				continue
			}
			if k.kind == context.Canceled || k.kind == context.DeadlineExceeded {
				return fmt.Errorf("ninep: %s: %w", op, k.kind)
			}
			if text == "" {
				text = k.text
			}
			return &dkstore.Error{Kind: k.kind, Op: op, Text: text}
		}
		return fmt.Errorf("ninep: %s: %w", op, err)
	}
	if c.isClosed() {
		return errClientClosed(op)
	}
	return fmt.Errorf("ninep: %s: %w", op, err)
}

func errClientClosed(op string) error {
	return &dkstore.Error{Kind: dkstore.ErrClosed, Op: op, Text: "client closed"}
}

// isServerError reports whether err is a command's failure, with the
// server's text, rather than one of reaching the command file.
func isServerError(err error) bool {
	var se *serverError
	return errors.As(err, &se)
}

// hasErrno reports whether err is the errno e (before wireErr).
func hasErrno(err error, e linux.Errno) bool {
	var got linux.Errno
	return errors.As(err, &got) && got == e
}

// The Store methods.

func branchSteps(b dkstore.BranchName) []string {
	return append([]string{"branch"}, strings.Split(string(b), "/")...)
}

// Branches reads branch/.heads.
func (c *Client) Branches(ctx context.Context) ([]dkstore.BranchName, error) {
	const op = "branches"
	conn, err := c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	data, err := conn.readFile([]string{"branch", ".heads"})
	if err != nil {
		return nil, c.wireErr(op, err)
	}
	var out []dkstore.BranchName
	for _, line := range textLines(data) {
		name, _, _ := strings.Cut(line, " ")
		out = append(out, dkstore.BranchName(name))
	}
	slices.Sort(out)
	return out, nil
}

// Branch returns a handle on a branch; it checks only the name.
func (c *Client) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	if err := name.Valid(); err != nil {
		return nil, err
	}
	return &remoteBranch{c: c, name: name}, nil
}

// Commit reads commits/<id>.
func (c *Client) Commit(ctx context.Context, id dkstore.CommitID) (dkstore.Commit, error) {
	op := "commit " + dkstore.Hash(id).String()
	conn, err := c.enter(ctx, op)
	if err != nil {
		return dkstore.Commit{}, err
	}
	if id.IsZero() {
		return dkstore.Commit{}, &dkstore.Error{Kind: dkstore.ErrInvalid, Op: op, Text: "zero commit id"}
	}
	data, err := conn.readFile([]string{"commits", id.String()})
	if err != nil {
		return dkstore.Commit{}, c.wireErr(op, err)
	}
	return parseCommitJSON(op, data)
}

func parseCommitJSON(op string, data []byte) (dkstore.Commit, error) {
	var r commitRecord // the server's form
	if err := json.Unmarshal(data, &r); err != nil {
		return dkstore.Commit{}, fmt.Errorf("ninep: %s: %w", op, err)
	}
	var out dkstore.Commit
	id, err := dkstore.ParseCommitID(r.ID)
	if err != nil {
		return dkstore.Commit{}, fmt.Errorf("ninep: %s: id: %w", op, err)
	}
	tree, err := dkstore.ParseHash(r.Tree)
	if err != nil {
		return dkstore.Commit{}, fmt.Errorf("ninep: %s: tree: %w", op, err)
	}
	out.ID, out.Tree, out.Message = id, tree, r.Message
	for _, p := range r.Parents {
		pid, err := dkstore.ParseCommitID(p)
		if err != nil {
			return dkstore.Commit{}, fmt.Errorf("ninep: %s: parent: %w", op, err)
		}
		out.Parents = append(out.Parents, pid)
	}
	out.Author = dkstore.Signature{Name: r.Author.Name, Email: r.Author.Email, When: r.Author.Date}
	out.Committer = dkstore.Signature{Name: r.Committer.Name, Email: r.Committer.Email, When: r.Committer.Date}
	return out, nil
}

// Tree checks that trees/D-<h> exists and reads it on demand.
func (c *Client) Tree(ctx context.Context, h dkstore.Hash) (dkstore.Tree, error) {
	op := "tree " + h.String()
	conn, err := c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	t := c.treeOf(h)
	f, _, err := conn.walkAttr(t.base)
	if err != nil {
		return nil, c.wireErr(op, err)
	}
	f.Close()
	return t, nil
}

// treeOf is the tree h, not checked.
func (c *Client) treeOf(h dkstore.Hash) *remoteTree {
	return &remoteTree{remoteReader: remoteReader{c: c, base: []string{"trees", "D-" + h.String()}}, h: h}
}

// Blob reads trees/F-<h>.
func (c *Client) Blob(ctx context.Context, h dkstore.Hash) ([]byte, error) {
	op := "blob " + h.String()
	conn, err := c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	data, err := conn.readFile([]string{"trees", "F-" + h.String()})
	return data, c.wireErr(op, err)
}

// Diff reads snapshots/<to>/diff/<from>.
func (c *Client) Diff(ctx context.Context, from, to dkstore.CommitID) ([]dkstore.Change, error) {
	op := "diff " + dkstore.Hash(from).String() + " " + dkstore.Hash(to).String()
	conn, err := c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	if from.IsZero() || to.IsZero() {
		return nil, &dkstore.Error{Kind: dkstore.ErrInvalid, Op: op, Text: "zero commit id"}
	}
	data, err := conn.readFile([]string{"snapshots", to.String(), "diff", from.String()})
	if err != nil {
		return nil, c.wireErr(op, err)
	}
	return parseChanges(op, data)
}

func parseChanges(op string, data []byte) ([]dkstore.Change, error) {
	var out []dkstore.Change
	for _, line := range textLines(data) {
		if len(line) < 3 || line[1] != ' ' {
			return nil, fmt.Errorf("ninep: %s: bad diff line %q", op, line)
		}
		switch o := dkstore.ChangeOp(line[0]); o {
		case dkstore.Added, dkstore.Removed, dkstore.Updated:
			p, err := dkstore.ParsePath(line[2:])
			if err != nil {
				return nil, fmt.Errorf("ninep: %s: bad diff line %q: %w", op, line, err)
			}
			out = append(out, dkstore.Change{Op: o, Path: p})
		default:
			return nil, fmt.Errorf("ninep: %s: bad diff line %q", op, line)
		}
	}
	return out, nil
}

// textLines splits text into its non-empty lines.
func textLines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Fetch fetches on a connection of its own, which ctx closes: mkdir
// remotes/<random>, write url and then the branch to fetch, and read the
// fetched head from the head stream.
func (c *Client) Fetch(ctx context.Context, url, branch string) (dkstore.CommitID, error) {
	op := "fetch " + url
	if _, err := c.enter(ctx, op); err != nil {
		return dkstore.CommitID{}, err
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return dkstore.CommitID{}, c.wireErr(op, err)
	}
	if !c.track(conn) {
		conn.close()
		return dkstore.CommitID{}, errClientClosed(op)
	}
	defer func() {
		c.untrack(conn)
		conn.close()
	}()
	stop := context.AfterFunc(ctx, func() { conn.close() })
	defer stop()
	id, err := fetchOn(conn, url, branch)
	if ctx.Err() != nil {
		return dkstore.CommitID{}, ctx.Err()
	}
	return id, c.wireErr(op, err)
}

func fetchOn(conn *clientConn, url, branch string) (dkstore.CommitID, error) {
	remotes, err := conn.walk([]string{"remotes"})
	if err != nil {
		return dkstore.CommitID{}, err
	}
	var name string
	for i := 0; ; i++ {
		name = randomName()
		_, err = remotes.Mkdir(name, 0o755, 0, 0)
		if err == nil || !hasErrno(err, linux.EEXIST) || i == 3 {
			break
		}
	}
	remotes.Close()
	if err != nil {
		return dkstore.CommitID{}, err
	}
	dir := []string{"remotes", name}
	if err := conn.writeFile(append(dir, "url"), []byte(url)); err != nil {
		return dkstore.CommitID{}, err
	}
	if _, err := conn.command(append(dir, "fetch"), branch+"\n", false); err != nil {
		return dkstore.CommitID{}, err
	}
	f, _, err := conn.walkAttr(append(dir, "head"))
	if err != nil {
		return dkstore.CommitID{}, err
	}
	defer f.Close()
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		return dkstore.CommitID{}, err
	}
	s := &lineReader{f: f}
	line, err := s.next()
	if err != nil {
		return dkstore.CommitID{}, err
	}
	return dkstore.ParseCommitID(line)
}

// WatchRefs streams branch/.changes.
func (c *Client) WatchRefs(ctx context.Context) (dkstore.Watch[dkstore.RefChange], error) {
	return openWatch(ctx, c, "watch refs", "", []string{"branch", ".changes"}, parseRefChange, true)
}

// parseRefChange reads "<branch> <old> <new>", "-" for no commit.
func parseRefChange(line string) (dkstore.RefChange, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return dkstore.RefChange{}, fmt.Errorf("bad change line %q", line)
	}
	id := func(s string) (dkstore.CommitID, error) {
		if s == "-" {
			return dkstore.CommitID{}, nil
		}
		return dkstore.ParseCommitID(s)
	}
	old, err := id(f[1])
	if err != nil {
		return dkstore.RefChange{}, err
	}
	new, err := id(f[2])
	if err != nil {
		return dkstore.RefChange{}, err
	}
	b := dkstore.BranchName(f[0])
	if err := b.Valid(); err != nil {
		return dkstore.RefChange{}, err
	}
	return dkstore.RefChange{Branch: b, Old: old, New: new}, nil
}
