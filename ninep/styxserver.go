package ninep

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hugelgupf/p9/linux"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep/internal/styx"
)

// The original DataKit spoke 9P2000 and 9P2000.u, and so do its clients:
// the Go bindings (over docker/go-p9p, plain 9P2000) and Linux mounting
// with version=9p2000.u or version=9p2000. A connection whose Tversion
// asks for one of these is served here, over the same tree (dir, file,
// handle) as p9's 9P2000.L through pfile, with the codec of
// internal/styx; one that asks for 9P2000.L goes to p9 as before.
//
// The behaviour is the original's (reference 2.1): errors carry the
// original's texts (and, in 9P2000.u, the errno as well); a walk either
// reaches every name or fails; a directory is read sequentially, its
// listing taken at open; reads are capped at 100 KiB. Every request runs
// in its own goroutine, so a read blocked on a stream stalls nothing else,
// and a Tflush cancels the flushed read's context, answered right after
// the flushed request's reply (through the session's inflight table, as
// for 9P2000.L).

// maxStyxMsize caps the msize agreed by Tversion.
const maxStyxMsize = 1 << 20

// peekVersion reads the connection's first message, if it is a whole
// Tversion, and returns the bytes read (to be given to p9 when the client
// wants 9P2000.L or sent something else) and the version asked for.
func peekVersion(r io.Reader) (read []byte, version string, ok bool, err error) {
	var size [4]byte
	n, err := io.ReadFull(r, size[:])
	read = size[:n]
	if err != nil {
		return read, "", false, err
	}
	total := binary.LittleEndian.Uint32(size[:])
	if total < styx.HeaderSize || total > 8192 {
		return read, "", false, nil
	}
	msg := make([]byte, total)
	copy(msg, size[:])
	n, err = io.ReadFull(r, msg[4:])
	read = msg[:4+n]
	if err != nil {
		return read, "", false, err
	}
	m, err := styx.Decode(styx.Plain, msg)
	if err != nil || m.Type != styx.Tversion {
		return read, "", false, nil
	}
	return read, m.Version, true, nil
}

// wantsStyx says whether a Tversion's version is for this server rather
// than p9: anything but 9P2000.L (and its variants) is, so that unknown
// versions get the "unknown" answer 9P asks for.
func wantsStyx(version string) bool { return !strings.HasPrefix(version, "9P2000.L") }

// styxConn is one connection served in 9P2000 or 9P2000.u.
type styxConn struct {
	s      *session
	conn   io.ReadWriter
	cancel func() // ends the connection's context

	dialect styx.Dialect
	msize   uint32

	wmu sync.Mutex // held while a reply is written

	mu   sync.Mutex
	fids map[uint32]*sfid
	wg   sync.WaitGroup // requests in flight
}

// sfid is a fid: a node, and once opened, its handle or listing. Requests
// hold a reference while they run, so that a Tclunk during a read closes
// the handle only when the read is done.
type sfid struct {
	// end is cancelled by the fid's clunk, which so ends its blocked
	// reads: the original's Go bindings send no Tflush, and close a
	// watch by clunking its fid.
	ctx context.Context
	end context.CancelFunc

	mu      sync.Mutex
	n       node
	refs    int
	clunked bool
	opened  bool
	write   bool // opened for writing
	rclose  bool // ORCLOSE: remove on clunk
	h       handle
	idle    chan struct{} // closed when a clunked fid's last request ends
	ents    []dirent      // a directory's listing at open
	dirOff  uint64        // offset of the next directory read
	dirNext int           // index of the next entry to read
}

// serveStyx serves a connection whose first message, a Tversion, is first.
func (s *session) serveStyx(conn io.ReadWriter, first []byte, cancel func()) {
	c := &styxConn{s: s, conn: conn, cancel: cancel, fids: map[uint32]*sfid{}, msize: maxStyxMsize}
	defer func() {
		cancel()
		c.wg.Wait()
		c.clunkAll()
	}()
	msg := first
	for {
		if err := c.incoming(msg); err != nil {
			s.srv.log.Debug("9p: connection ends", "err", err)
			return
		}
		var err error
		if msg, err = styx.ReadMsg(conn, c.msize); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.srv.log.Debug("9p: reading", "err", err)
			}
			return
		}
	}
}

// incoming handles one message: Tversion and Tflush here, the others in
// goroutines of their own. An error ends the connection.
func (c *styxConn) incoming(msg []byte) error {
	m, err := styx.Decode(c.dialect, msg)
	if err != nil {
		if m == nil || m.Type == styx.Tversion {
			return err
		}
		// A malformed request still has a tag to answer.
		if c.s.reqs.begin(m.Tag) {
			c.reply(&styx.Msg{Type: styx.Rerror, Tag: m.Tag}, err)
		}
		return nil
	}
	switch m.Type {
	case styx.Tversion:
		return c.version(m)
	case styx.Tflush:
		if c.s.reqs.flush(m.Tag, m.Oldtag) {
			return c.send(&styx.Msg{Type: styx.Rflush, Tag: m.Tag})
		}
		return nil
	case styx.Tread:
		if !c.s.reqs.beginRead(m.Tag, int64(m.Offset&(1<<63-1))) {
			return nil // the tag is in flight: a broken client
		}
	default:
		if !c.s.reqs.begin(m.Tag) {
			return nil
		}
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		start := time.Now()
		r, err := c.handle(m)
		c.s.srv.metrics.observe(strings.ToLower(styx.TypeName(m.Type)[1:]), start, err)
		c.reply(r, err)
	}()
	return nil
}

// version answers a Tversion: a new session of the protocol, in the
// dialect asked for. Requests in flight end first, and every fid goes.
func (c *styxConn) version(m *styx.Msg) error {
	r := &styx.Msg{Type: styx.Rversion, Tag: m.Tag, Msize: min(m.Msize, maxStyxMsize), Version: "unknown"}
	switch {
	case m.Version == styx.VersionUnix:
		c.dialect, r.Version = styx.Unix, styx.VersionUnix
	case strings.HasPrefix(m.Version, styx.VersionPlain):
		c.dialect, r.Version = styx.Plain, styx.VersionPlain
	}
	if r.Msize < 256 {
		r.Version = "unknown"
	}
	c.s.reqs.flushAll()
	c.wg.Wait()
	c.clunkAll()
	if r.Version != "unknown" {
		c.msize = r.Msize
	}
	return c.send(r)
}

// reply sends a request's reply (an Rerror for err), then the Rflushes
// that waited for it.
func (c *styxConn) reply(r *styx.Msg, err error) {
	if err != nil {
		text, errno := styxError(err)
		r = &styx.Msg{Type: styx.Rerror, Tag: r.Tag, Ename: text, Errno: errno}
	}
	b, err := styx.Append(c.dialect, nil, r)
	if err != nil {
		b, _ = styx.Append(c.dialect, nil, &styx.Msg{Type: styx.Rerror, Tag: r.Tag, Ename: err.Error(), Errno: uint32(linux.EIO)})
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// The tag leaves the table before its reply goes: the client may use
	// it again as soon as it has the reply.
	flushes := c.s.reqs.finish(r.Tag)
	for _, t := range flushes {
		b, _ = styx.Append(c.dialect, b, &styx.Msg{Type: styx.Rflush, Tag: t})
	}
	if _, err := c.conn.Write(b); err != nil {
		c.cancel()
	}
}

func (c *styxConn) send(r *styx.Msg) error {
	b, err := styx.Append(c.dialect, nil, r)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.conn.Write(b)
	return err
}

// styxErr is an error of the protocol itself, in the original's words.
type styxErr struct {
	text  string
	errno linux.Errno
}

func (e *styxErr) Error() string { return e.text }

func perr(errno linux.Errno, text string) error { return &styxErr{text, errno} }

// Errors of the protocol, in the original's words.
var (
	errWalkFile    = perr(linux.ENOTDIR, "Can't walk from a file")
	errDot         = perr(linux.EINVAL, "'.' is not valid in 9p")
	errReadClosed  = perr(linux.EBADF, "Can't read from unopened fid")
	errWriteClosed = perr(linux.EBADF, "Can't write to unopened fid")
	errWriteDir    = perr(linux.EISDIR, "Can't write to directories")
	errOpen        = perr(linux.EBADF, "Already open")
	errCreateOpen  = perr(linux.EBADF, "Can't create in an opened fid")
	errDirSeek     = perr(linux.EINVAL, "Can't seek in a directory")
	errDirLength   = perr(linux.EISDIR, "Can't set length of a directory")
	errMultiple    = perr(linux.EINVAL, "Can't rename/truncate/chmod at the same time")
	errRenameRoot  = perr(linux.EPERM, "Can't rename /")
	errChmod       = perr(linux.EPERM, "Can't chmod special file")
	errROdir       = perr(linux.EROFS, "Directory is read-only")
	errNoAuth      = perr(linux.EINVAL, "Authentication not required")
	errNotWritable = perr(linux.EBADF, "File not open for writing")
	errSpecial     = perr(linux.EPERM, "Operation not permitted")
	errMsgType     = perr(linux.ENOSYS, "Unknown message type")
	errTooLarge    = perr(linux.EFBIG, "File too large")
)

func errUnknownFid(fid uint32) error {
	return perr(linux.EBADF, "Unknown fid "+itoa(uint64(fid)))
}

func errFidInUse(fid uint32) error {
	return perr(linux.EBADF, "Fid "+itoa(uint64(fid))+" already in use")
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// errnoTexts are the texts of errors that carry no text of their own, in
// the original's words where it had them.
var errnoTexts = map[linux.Errno]string{
	linux.ENOENT:    "No such file or directory",
	linux.EEXIST:    "Already exists",
	linux.EISDIR:    "Is a directory",
	linux.ENOTDIR:   "Is not a directory",
	linux.EPERM:     "Operation not permitted",
	linux.EROFS:     "Read-only file",
	linux.EINVAL:    "Invalid argument",
	linux.ESPIPE:    "Attempt to seek in stream",
	linux.EINTR:     "Interrupted",
	linux.EBADF:     "Bad file descriptor",
	linux.ETIMEDOUT: "Timed out",
	linux.EBUSY:     "conflict",
	linux.EAGAIN:    "not-fast-forward",
	linux.EXDEV:     "Cross-device link",
}

// styxError returns an error's text and errno for Rerror: the
// original's wording (dkstore's Text, the tree's own errors, or the
// errno's text), and the errno of the one table (vfs.go). A "not found"
// is always exactly "No such file or directory": the original's Go
// bindings compare it.
func styxError(err error) (string, uint32) {
	var pe *styxErr
	if errors.As(err, &pe) {
		return pe.text, uint32(pe.errno)
	}
	var no linux.Errno
	errors.As(errno(err), &no)
	var de *dkstore.Error
	switch {
	case errors.As(err, &de) && de.Text != "":
		if errors.Is(err, dkstore.ErrNotExist) && strings.HasPrefix(de.Text, errnoTexts[linux.ENOENT]) {
			return errnoTexts[linux.ENOENT], uint32(no)
		}
		return de.Text, uint32(no)
	case errors.Is(err, errReadOnly), errors.Is(err, errNotPermitted), errors.Is(err, errDirsOnly), errors.Is(err, errCmdExtend):
		return err.Error(), uint32(no)
	}
	if t, ok := errnoTexts[no]; ok {
		return t, uint32(no)
	}
	return err.Error(), uint32(no)
}

// handle runs a request and returns its reply.
func (c *styxConn) handle(m *styx.Msg) (*styx.Msg, error) {
	r := &styx.Msg{Type: m.Type + 1, Tag: m.Tag}
	var err error
	switch m.Type {
	case styx.Tauth:
		err = errNoAuth
	case styx.Tattach:
		r.Qid, err = c.attach(m)
	case styx.Twalk:
		r.Qids, err = c.walk(m)
	case styx.Topen:
		r.Qid, err = c.open(m)
	case styx.Tcreate:
		r.Qid, err = c.create(m)
	case styx.Tread:
		r.Data, err = c.read(m)
	case styx.Twrite:
		r.Count, err = c.write(m)
	case styx.Tclunk:
		err = c.clunk(m.Fid)
	case styx.Tremove:
		err = c.remove(m.Fid)
	case styx.Tstat:
		r.Stat, err = c.stat(m.Fid)
	case styx.Twstat:
		err = c.wstat(m)
	default:
		err = errMsgType
	}
	return r, err
}

// fid returns fid's entry with a reference that release gives back.
func (c *styxConn) fid(fid uint32) (*sfid, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fids[fid]
	if f == nil {
		return nil, errUnknownFid(fid)
	}
	f.mu.Lock()
	f.refs++
	f.mu.Unlock()
	return f, nil
}

func (f *sfid) release() {
	f.mu.Lock()
	f.refs--
	var h handle
	if f.refs == 0 && f.clunked {
		h, f.h = f.h, nil
		if f.idle != nil {
			close(f.idle)
			f.idle = nil
		}
	}
	f.mu.Unlock()
	if h != nil {
		h.close()
	}
}

// bind sets newfid to n; fid is the fid walked from, which newfid may be.
func (c *styxConn) bind(fid, newfid uint32, n node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.fids[newfid]; old != nil {
		if newfid != fid {
			return errFidInUse(newfid)
		}
		old.mu.Lock()
		old.n = n
		old.mu.Unlock()
		return nil
	}
	c.fids[newfid] = c.newFid(n)
	return nil
}

func (c *styxConn) newFid(n node) *sfid {
	ctx, end := context.WithCancel(c.s.ctx)
	return &sfid{ctx: ctx, end: end, n: n}
}

// drop takes fid out of the table; its handle closes with the last
// request using it.
func (c *styxConn) drop(fid uint32) (*sfid, error) {
	c.mu.Lock()
	f := c.fids[fid]
	delete(c.fids, fid)
	c.mu.Unlock()
	if f == nil {
		return nil, errUnknownFid(fid)
	}
	f.end()
	f.mu.Lock()
	f.clunked = true
	var h handle
	idle := make(chan struct{})
	if f.refs == 0 {
		h, f.h = f.h, nil
		close(idle)
	} else {
		f.idle = idle
	}
	f.mu.Unlock()
	if h != nil {
		h.close()
	}
	// The fid's requests in flight end at once (end cancelled their
	// reads); Rclunk and Rremove go after their replies.
	<-idle
	return f, nil
}

func (c *styxConn) clunkAll() {
	c.mu.Lock()
	var all []uint32
	for id := range c.fids {
		all = append(all, id)
	}
	c.mu.Unlock()
	for _, id := range all {
		c.drop(id)
	}
}

func (c *styxConn) qid(n node) styx.Qid {
	_, isDir := n.(dir)
	q := c.s.qids.of(n.path(), isDir)
	return styx.Qid{Type: uint8(q.Type), Version: q.Version, Path: q.Path}
}

func (c *styxConn) attach(m *styx.Msg) (styx.Qid, error) {
	if m.Afid != styx.NoFid {
		return styx.Qid{}, errNoAuth
	}
	n := &rootDir{s: c.s}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fids[m.Fid] != nil {
		return styx.Qid{}, errFidInUse(m.Fid)
	}
	c.fids[m.Fid] = c.newFid(n)
	return c.qid(n), nil
}

// walk resolves every name or fails (as the original did; 9P would let a
// walk stop part way): the original's Go bindings take a walk without an
// error as having reached the end.
func (c *styxConn) walk(m *styx.Msg) ([]styx.Qid, error) {
	f, err := c.fid(m.Fid)
	if err != nil {
		return nil, err
	}
	defer f.release()
	f.mu.Lock()
	n := f.n
	f.mu.Unlock()
	qids := []styx.Qid{}
	for _, name := range m.Wnames {
		switch name {
		case ".":
			return nil, errDot
		case "..":
			n = c.s.parentOf(n)
		default:
			d, ok := n.(dir)
			if !ok {
				return nil, errWalkFile
			}
			if n, err = d.lookup(c.s.ctx, name); err != nil {
				return nil, err
			}
		}
		qids = append(qids, c.qid(n))
	}
	return qids, c.bind(m.Fid, m.Newfid, n)
}

// openNode opens n for fid f (locked), by 9P's mode. A read-only file
// opened ORDWR opens for reading, its writes failing: the original's Go
// bindings read a branch's head that way.
func (c *styxConn) openNode(f *sfid, n node, mode uint8) error {
	if f.opened {
		return errOpen
	}
	write := mode&3 == styx.OWRITE || mode&3 == styx.ORDWR
	switch n := n.(type) {
	case dir:
		if write {
			return perr(linux.EISDIR, "Is a directory")
		}
		ents, err := n.list(c.s.ctx)
		if err != nil {
			return err
		}
		f.ents, f.dirOff, f.dirNext = ents, 0, 0
	case file:
		h, err := n.open(c.s.ctx, write)
		if err != nil && mode&3 == styx.ORDWR && errors.Is(err, errReadOnly) {
			write = false
			h, err = n.open(c.s.ctx, false)
		}
		if err != nil {
			return err
		}
		if mode&styx.OTRUNC != 0 && write {
			if t, ok := n.(truncater); ok {
				if err := t.truncate(c.s.ctx, 0); err != nil {
					h.close()
					return err
				}
			}
		}
		f.h = h
	default:
		return perr(linux.EINVAL, "Invalid argument")
	}
	f.opened, f.write, f.rclose = true, write, mode&styx.ORCLOSE != 0
	return nil
}

func (c *styxConn) open(m *styx.Msg) (styx.Qid, error) {
	f, err := c.fid(m.Fid)
	if err != nil {
		return styx.Qid{}, err
	}
	defer f.release()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.openNode(f, f.n, m.Mode); err != nil {
		return styx.Qid{}, err
	}
	return c.qid(f.n), nil
}

// create makes name in the directory of fid, which then stands for the
// new file, opened: a directory for DMDIR, a symlink to the extension
// for DMSYMLINK (9P2000.u), else a file (executable for the owner's x).
func (c *styxConn) create(m *styx.Msg) (styx.Qid, error) {
	f, err := c.fid(m.Fid)
	if err != nil {
		return styx.Qid{}, err
	}
	defer f.release()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opened {
		return styx.Qid{}, errCreateOpen
	}
	d, ok := f.n.(dir)
	if !ok {
		return styx.Qid{}, perr(linux.ENOTDIR, `"`+baseName(f.n.path())+`" is not a directory`)
	}
	ctx := c.s.ctx
	special := uint32(styx.DMLINK | styx.DMDEVICE | styx.DMNAMEDPIPE | styx.DMSOCKET)
	switch {
	case name(m.Name) != nil:
		return styx.Qid{}, name(m.Name)
	case m.Perm&styx.DMDIR != 0:
		mk, ok := d.(mkdirer)
		if !ok {
			return styx.Qid{}, errROdir
		}
		err = mk.mkdir(ctx, m.Name)
	case c.dialect == styx.Unix && m.Perm&special != 0:
		return styx.Qid{}, errSpecial
	default:
		cr, ok := d.(creator)
		if !ok {
			if _, ok := d.(mkdirer); ok {
				return styx.Qid{}, errDirsOnly
			}
			return styx.Qid{}, errROdir
		}
		kind, target := dkstore.KindFile, ""
		switch {
		case c.dialect == styx.Unix && m.Perm&styx.DMSYMLINK != 0:
			kind, target = dkstore.KindLink, m.Extension
		case m.Perm&0o100 != 0:
			kind = dkstore.KindExec
		}
		err = cr.create(ctx, m.Name, kind, target)
	}
	if err != nil {
		return styx.Qid{}, err
	}
	child, err := d.lookup(ctx, m.Name)
	if err != nil {
		return styx.Qid{}, err
	}
	if m.Perm&styx.DMSYMLINK != 0 && c.dialect == styx.Unix {
		// Nothing to read or write in a symlink: the fid is open, idle.
		f.n, f.opened = child, true
		q := c.qid(child)
		q.Type = styx.QTSYMLINK
		return q, nil
	}
	if err := c.openNode(f, child, m.Mode); err != nil {
		return styx.Qid{}, err
	}
	f.n = child
	return c.qid(child), nil
}

// name checks a name to create.
func name(n string) error {
	if n == "" || n == "." || n == ".." || strings.Contains(n, "/") {
		return perr(linux.EINVAL, "Invalid argument")
	}
	return nil
}

func (c *styxConn) read(m *styx.Msg) ([]byte, error) {
	f, err := c.fid(m.Fid)
	if err != nil {
		return nil, err
	}
	defer f.release()
	count := min(m.Count, c.msize-styx.IOHeader, maxRead)
	f.mu.Lock()
	if !f.opened {
		f.mu.Unlock()
		return nil, errReadClosed
	}
	if d, ok := f.n.(dir); ok {
		defer f.mu.Unlock()
		return c.readDir(f, d, m.Offset, count)
	}
	h := f.h
	f.mu.Unlock()
	if h == nil {
		return nil, errReadClosed
	}
	if m.Offset > 1<<63-1 {
		return nil, userErr(dkstore.ErrInvalid, "Negative offset %d", int64(m.Offset))
	}
	ctx, off, ok := c.s.reqs.read(readKey(m.Tag))
	if !ok {
		ctx, off = c.s.ctx, int64(m.Offset)
	}
	// The read ends with a flush of it, or a clunk of its fid.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.ctx, cancel)()
	buf := make([]byte, count)
	n, err := h.readAt(ctx, buf, off)
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// readDir reads a directory's entries, as stats, from its listing at open:
// sequentially (offset 0 starts again), as many whole entries as fit in
// count; none if the next does not fit (Linux then asks again with room).
func (c *styxConn) readDir(f *sfid, d dir, off uint64, count uint32) ([]byte, error) {
	if off == 0 {
		f.dirOff, f.dirNext = 0, 0
	}
	if off != f.dirOff {
		return nil, errDirSeek
	}
	out := []byte{}
	for f.dirNext < len(f.ents) {
		e := f.ents[f.dirNext]
		st, err := c.statOf(c.entry(d, e))
		if err != nil {
			// Gone since the listing: skip it.
			f.dirNext++
			continue
		}
		b, err := styx.AppendStat(c.dialect, out, &st)
		if err != nil {
			return nil, err
		}
		if len(b) > int(count) {
			break
		}
		out = b
		f.dirNext++
	}
	f.dirOff += uint64(len(out))
	return out, nil
}

// entry returns the node of a listed entry: a directory stands as itself
// (its stat needs only its path), a file is looked up for its size.
func (c *styxConn) entry(d dir, e dirent) node {
	if n, err := d.lookup(c.s.ctx, e.name); err == nil {
		return n
	}
	return &listedDir{p: joinPath(d.path(), e.name), isDir: e.isDir}
}

// listedDir is a listed entry that a lookup does not find (a hidden
// directory's, say): its stat comes from the listing.
type listedDir struct {
	p     string
	isDir bool
}

func (l *listedDir) path() string { return l.p }

func (c *styxConn) write(m *styx.Msg) (uint32, error) {
	f, err := c.fid(m.Fid)
	if err != nil {
		return 0, err
	}
	defer f.release()
	f.mu.Lock()
	opened, write, h, n := f.opened, f.write, f.h, f.n
	f.mu.Unlock()
	switch {
	case !opened:
		return 0, errWriteClosed
	case isDir(n):
		return 0, errWriteDir
	case h == nil:
		return 0, errWriteClosed
	case !write:
		if _, ok := n.(file); ok {
			return 0, errReadOnly
		}
		return 0, errNotWritable
	case m.Offset > 1<<63-1:
		return 0, userErr(dkstore.ErrInvalid, "Negative offset %d", int64(m.Offset))
	case tooLarge(m.Offset + uint64(len(m.Data))):
		return 0, errTooLarge
	}
	k, err := h.writeAt(c.s.ctx, m.Data, int64(m.Offset))
	return uint32(k), err
}

func isDir(n node) bool {
	_, ok := n.(dir)
	return ok
}

func (c *styxConn) clunk(fid uint32) error {
	f, err := c.drop(fid)
	if err != nil {
		return err
	}
	if f.rclose {
		return c.removeNode(f.n)
	}
	return nil
}

// remove removes the file of fid, which goes even if that fails.
func (c *styxConn) remove(fid uint32) error {
	f, err := c.drop(fid)
	if err != nil {
		return err
	}
	return c.removeNode(f.n)
}

func (c *styxConn) removeNode(n node) error {
	if n.path() == "" {
		return errNotPermitted
	}
	parent, ok := c.s.parentOf(n).(dir)
	if !ok {
		return errNotPermitted
	}
	r, ok := parent.(remover)
	if !ok {
		return errROdir
	}
	return r.remove(c.s.ctx, baseName(n.path()))
}

func (c *styxConn) stat(fid uint32) (styx.Stat, error) {
	f, err := c.fid(fid)
	if err != nil {
		return styx.Stat{}, err
	}
	defer f.release()
	f.mu.Lock()
	n := f.n
	f.mu.Unlock()
	return c.statOf(n)
}

// statOf is the stat of n: the original's modes, the length, and (in
// 9P2000.u) a symlink's target in the extension.
func (c *styxConn) statOf(n node) (styx.Stat, error) {
	st := styx.Stat{Qid: c.qid(n), Name: baseName(n.path()), UID: "root", GID: "root", MUID: "root"}
	if st.Name == "" {
		st.Name = "/"
	}
	switch n := n.(type) {
	case dir:
		st.Mode = styx.DMDIR | 0o775
	case file:
		k, size, err := n.stat(c.s.ctx)
		if err != nil {
			return st, err
		}
		st.Length = uint64(size)
		switch k {
		case dkstore.KindExec:
			st.Mode = 0o775
		case dkstore.KindLink:
			st.Mode = styx.DMSYMLINK | 0o775
			if c.dialect == styx.Unix {
				st.Qid.Type = styx.QTSYMLINK
				if l, ok := n.(linkReader); ok {
					if st.Extension, err = l.readlink(c.s.ctx); err != nil {
						return st, err
					}
				}
			}
		default:
			st.Mode = 0o664
		}
	case *listedDir:
		st.Mode = 0o664
		if n.isDir {
			st.Mode = styx.DMDIR | 0o775
			st.Qid.Type = styx.QTDIR
		}
	}
	return st, nil
}

// wstat changes one of name (a rename in the same directory), length
// (truncate) and mode (the owner's x bit); the other fields, which Linux
// sends along (times, owners), are ignored.
func (c *styxConn) wstat(m *styx.Msg) error {
	f, err := c.fid(m.Fid)
	if err != nil {
		return err
	}
	defer f.release()
	f.mu.Lock()
	n := f.n
	f.mu.Unlock()
	st := &m.Stat
	rename, trunc, chmod := st.Name != "", st.Length != styx.NoTouch64, st.Mode != styx.NoTouch32
	switch {
	case btoi(rename)+btoi(trunc)+btoi(chmod) > 1:
		return errMultiple
	case rename:
		if n.path() == "" {
			return errRenameRoot
		}
		if err := name(st.Name); err != nil {
			return err
		}
		parent, ok := c.s.parentOf(n).(dir)
		if !ok {
			return errRenameRoot
		}
		r, ok := parent.(renamer)
		if !ok {
			return errROdir
		}
		if err := r.rename(c.s.ctx, baseName(n.path()), st.Name); err != nil {
			return err
		}
		if nn, err := parent.lookup(c.s.ctx, st.Name); err == nil {
			f.mu.Lock()
			f.n = nn
			f.mu.Unlock()
		}
		return nil
	case trunc:
		if isDir(n) {
			if st.Length == 0 {
				return nil
			}
			return errDirLength
		}
		t, ok := n.(truncater)
		if !ok {
			return errReadOnly
		}
		if tooLarge(st.Length) {
			return errTooLarge
		}
		return t.truncate(c.s.ctx, int64(st.Length))
	case chmod:
		if isDir(n) {
			return nil
		}
		ch, ok := n.(chmoder)
		if !ok {
			return errChmod
		}
		if st.Mode&styx.DMSYMLINK != 0 {
			return errSpecial // the tree makes links only by create
		}
		kind := dkstore.KindFile
		if st.Mode&0o100 != 0 {
			kind = dkstore.KindExec
		}
		return ch.setKind(c.s.ctx, kind)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// prefixReader gives the bytes of a peek, then the rest of a connection.
func prefixReader(read []byte, r io.Reader) io.Reader {
	return io.MultiReader(bytes.NewReader(read), r)
}

// flushAll cancels every read in flight (a new Tversion aborts them).
func (t *inflight) flushAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.reqs {
		if r.cancel != nil {
			r.cancel()
		}
	}
}
