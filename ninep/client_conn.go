package ninep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// clientConn is one 9P connection of a Client, attached at the root of
// the tree. Its methods may be called from several goroutines; each walks
// fids of its own from the root and clunks them when done. Errors are
// those of the exchange (errnos, connection errors), for Client.wireErr.
type clientConn struct {
	nc    net.Conn
	p9    *p9.Client
	root  p9.File
	chunk int // bytes per read or write request
	once  sync.Once
}

// dialConn connects, negotiates the message size and attaches. ctx bounds
// the whole handshake.
func dialConn(ctx context.Context, network, addr string, msize uint32) (*clientConn, error) {
	return dialConnWith(ctx, network, addr, msize, nil)
}

// dialConnWith is dialConn with wrap, if not nil, between the connection
// and p9's client.
func dialConnWith(ctx context.Context, network, addr string, msize uint32, wrap func(net.Conn) net.Conn) (*clientConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if wrap != nil {
		nc = wrap(nc)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cl, err := p9.NewClient(nc, p9.WithMessageSize(msize))
	var root p9.File
	if err == nil {
		root, err = cl.Attach("")
	}
	if !stop() {
		nc.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	// The header of a read or write request is a few dozen bytes.
	chunk := int(msize) - 1024
	if chunk < 1024 {
		chunk = int(msize) / 2
	}
	return &clientConn{nc: nc, p9: cl, root: root, chunk: chunk}, nil
}

// close closes the connection: the server then drops everything of it,
// and requests in flight fail.
func (cn *clientConn) close() {
	cn.once.Do(func() { cn.p9.Close() })
}

// Close is close, as an io.Closer for Client.track.
func (cn *clientConn) Close() error {
	cn.close()
	return nil
}

// walk returns a new fid for the path steps from the root.
func (cn *clientConn) walk(steps []string) (p9.File, error) {
	_, f, err := cn.root.Walk(steps)
	return f, err
}

// walkAttr is walk that also returns the attributes of the file.
func (cn *clientConn) walkAttr(steps []string) (p9.File, p9.Attr, error) {
	_, f, _, attr, err := cn.root.WalkGetAttr(steps)
	return f, attr, err
}

// readFile reads the whole file at steps.
func (cn *clientConn) readFile(steps []string) ([]byte, error) {
	f, attr, err := cn.walkAttr(steps)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		return nil, err
	}
	return cn.readAll(f, int64(attr.Size))
}

// readAll reads an open file from offset 0 to its end. size is the length
// the server reported: a short read at or past it is the end, which saves
// the final empty read.
func (cn *clientConn) readAll(f p9.File, size int64) ([]byte, error) {
	buf := make([]byte, 0, size+512)
	for {
		if cap(buf)-len(buf) < 512 {
			buf = append(buf, make([]byte, max(len(buf), 4096))...)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if len(room) > cn.chunk {
			room = room[:cn.chunk]
		}
		n, err := f.ReadAt(room, int64(len(buf)))
		buf = buf[:len(buf)+n]
		switch {
		case err != nil && err != io.EOF:
			return nil, err
		case n == 0, n < len(room) && int64(len(buf)) >= size:
			return buf, nil
		}
	}
}

// writeAll writes data at off, in requests of at most chunk bytes.
func (cn *clientConn) writeAll(f p9.File, data []byte, off int64) error {
	for len(data) > 0 {
		p := data[:min(len(data), cn.chunk)]
		n, err := f.WriteAt(p, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

// writeFile replaces the content of the file at steps (msg, parents, url):
// open with O_TRUNC, then write.
func (cn *clientConn) writeFile(steps []string, data []byte) error {
	f, err := cn.walk(steps)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, err := f.Open(p9.WriteOnly | openTrunc); err != nil {
		return err
	}
	return cn.writeAll(f, data, 0)
}

// command writes arg to the command file at steps. When the write fails
// the file holds "error: <text>\n": the error then carries that text. With
// result set, command returns what the file holds after a success.
func (cn *clientConn) command(steps []string, arg string, result bool) (string, error) {
	f, err := cn.walk(steps)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, _, err := f.Open(p9.ReadWrite); err != nil {
		return "", err
	}
	if _, err := f.WriteAt([]byte(arg), 0); err != nil {
		var e linux.Errno
		if !errors.As(err, &e) {
			return "", err
		}
		data, rerr := cn.readAll(f, 0)
		if rerr != nil {
			return "", err
		}
		text, ok := strings.CutPrefix(string(data), "error: ")
		if !ok {
			return "", err
		}
		return "", &serverError{errno: e, text: strings.TrimSuffix(text, "\n")}
	}
	if !result {
		return "", nil
	}
	data, err := cn.readAll(f, 0)
	return string(data), err
}

// ensureBranch makes branch/<b> reachable on this connection: a branch
// that has no commit yet is visible only once mkdir'ed, which the server
// accepts whether or not the branch exists.
func (cn *clientConn) ensureBranch(b dkstore.BranchName) error {
	steps := branchSteps(b)
	f, _, err := cn.walkAttr(append(steps, "transactions"))
	if err == nil {
		f.Close()
		return nil
	}
	if !hasErrno(err, linux.ENOENT) {
		return err
	}
	// branch/<b> may be the directory of longer names: b/x exists.
	if f, _, err := cn.walkAttr(steps); err == nil {
		f.Close()
		return &dkstore.Error{Kind: dkstore.ErrExist, Text: fmt.Sprintf("branch %q clashes with existing branches below it", b)}
	}
	// The server shows b's leading components as directories only while
	// a branch below them exists; mkdir of a component in a branch made
	// by mkdir (with no commit) turns it into such a directory, so make
	// them one by one, like mkdir -p.
	for i := 2; i < len(steps); i++ {
		f, _, err := cn.walkAttr(steps[:i])
		if err == nil {
			f.Close()
			continue
		}
		if !hasErrno(err, linux.ENOENT) {
			return err
		}
		up, _, err := cn.walkAttr(steps[:i-1])
		if err != nil {
			return err
		}
		_, err = up.Mkdir(steps[i-1], 0o755, 0, 0)
		up.Close()
		if err != nil && !hasErrno(err, linux.EEXIST) {
			return err
		}
	}
	parent, _, err := cn.walkAttr(steps[:len(steps)-1])
	if err != nil {
		return err
	}
	defer parent.Close()
	if _, err := parent.Mkdir(steps[len(steps)-1], 0o755, 0, 0); err != nil && !hasErrno(err, linux.EEXIST) {
		return err
	}
	return nil
}

// lineReader reads the lines of an open stream file: sequential offsets,
// one empty read (a flush) after each line, two in a row at the end.
type lineReader struct {
	f     p9.File
	off   int64
	buf   []byte // read, not yet returned
	tmp   []byte
	empty int
}

// next returns the next line without its newline, blocking until the
// server has one; io.EOF when the stream ends.
func (r *lineReader) next() (string, error) {
	for {
		if i := bytes.IndexByte(r.buf, '\n'); i >= 0 {
			line := string(r.buf[:i])
			r.buf = r.buf[i+1:]
			return line, nil
		}
		if r.tmp == nil {
			r.tmp = make([]byte, 4096)
		}
		n, err := r.f.ReadAt(r.tmp, r.off)
		if err != nil && err != io.EOF {
			return "", err
		}
		if n == 0 {
			r.empty++
			if r.empty >= 2 {
				return "", io.EOF
			}
			continue
		}
		r.empty = 0
		r.off += int64(n)
		r.buf = append(r.buf, r.tmp[:n]...)
	}
}

// RawConn is a plain p9 connection to a DataKit server, attached at the
// root, for tools that walk the tree themselves, such as datakit mount.
// Beyond p9's client, it can interrupt the reads in flight. Its methods
// are safe for concurrent use.
type RawConn struct {
	// Client is the p9 client of the connection, and Root the fid of
	// the tree's root.
	Client *p9.Client
	Root   p9.File
	wire   *clientWire
}

// DialRaw dials a DataKit server at url (as Dial reads it), negotiates the
// message size and attaches to the root. ctx bounds the dialling and the
// handshake.
func DialRaw(ctx context.Context, url string, msize uint32) (*RawConn, error) {
	network, addr, err := ParseAddr(url)
	if err != nil {
		return nil, err
	}
	var wire *clientWire
	cn, err := dialConnWith(ctx, network, addr, msize, func(nc net.Conn) net.Conn {
		wire = newClientWire(nc)
		return wire
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return &RawConn{Client: cn.p9, Root: cn.root, wire: wire}, nil
}

// Interrupt asks the server to end every read of the connection that has
// not been answered yet (with 9P's Tflush). A read blocked on a stream
// file (head.live, tree.live, a remote's head, ...) then fails with
// linux.EINTR; other reads end as they would have, or with EINTR too.
// The stream stays open and in place: the next read goes on with it.
func (c *RawConn) Interrupt() {
	c.wire.interrupt()
}

// Interrupts returns how many times Interrupt has been called. A read
// that fails with EINTR while this count moved, and that its caller did
// not mean to interrupt, was interrupted for another read of the
// connection: it may simply be read again.
func (c *RawConn) Interrupts() uint64 {
	return c.wire.interrupts()
}

// Close closes the connection: requests in flight fail, and the server
// drops everything made on it.
func (c *RawConn) Close() error {
	return c.Client.Close()
}
