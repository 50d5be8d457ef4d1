package ninep

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dkgo/datakit/ninep/internal/styx"
)

// dkClient behaves as the original DataKit's Go bindings
// (moby/datakit api/go-datakit, reference 4.1) do on the wire, over
// styxSession: the same requests in the same order, the same handling of
// their answers (an error whose text is "No such file or directory" is
// what makes Remove succeed, for instance). It is written from reading
// that package, for these tests only.
type dkClient struct {
	s    *styxSession
	root uint32

	mu   sync.Mutex
	cond *sync.Cond
	free []uint32
}

// The permissions the bindings create with.
const (
	dkDirPerm  = styx.DMDIR | 0o755
	dkFilePerm = 0o644
)

// dkEnoent is the error the bindings compare walks' errors with.
const dkEnoent = "No such file or directory"

// newDKClient attaches as user "anyone" to "/" with root fid 1, and keeps
// a pool of the other fids below 128.
func newDKClient(ctx context.Context, s *styxSession) (*dkClient, error) {
	c := &dkClient{s: s, root: 1}
	c.cond = sync.NewCond(&c.mu)
	if _, err := s.attach(ctx, c.root, "anyone", "/"); err != nil {
		return nil, err
	}
	for i := uint32(0); i < 128; i++ {
		if i != c.root {
			c.free = append(c.free, i)
		}
	}
	return c, nil
}

// allocFid takes a fid from the pool and clones from into it.
func (c *dkClient) allocFid(ctx context.Context, from uint32) (uint32, error) {
	c.mu.Lock()
	for len(c.free) == 0 {
		c.cond.Wait()
	}
	fid := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.mu.Unlock()
	if _, err := c.s.walk(ctx, from, fid); err != nil {
		return 0, err
	}
	return fid, nil
}

// freeFid clunks fid and gives it back to the pool.
func (c *dkClient) freeFid(ctx context.Context, fid uint32) {
	c.s.clunk(ctx, fid)
	c.mu.Lock()
	c.free = append(c.free, fid)
	c.mu.Unlock()
	c.cond.Signal()
}

// Mkdir acts as `mkdir -p`: create each directory (its error ignored),
// then walk into it.
func (c *dkClient) Mkdir(ctx context.Context, path ...string) error {
	fid, err := c.allocFid(ctx, c.root)
	if err != nil {
		return err
	}
	defer c.freeFid(ctx, fid)
	for _, dir := range path {
		dfid, err := c.allocFid(ctx, fid)
		if err != nil {
			return err
		}
		c.s.create(ctx, dfid, dir, dkDirPerm, styx.OREAD, "")
		c.freeFid(ctx, dfid)
		if _, err := c.s.walk(ctx, fid, fid, dir); err != nil {
			return err
		}
	}
	return nil
}

// Remove acts as `rm -f`: a path that a walk does not find is no error.
func (c *dkClient) Remove(ctx context.Context, path ...string) error {
	fid, err := c.allocFid(ctx, c.root)
	if err != nil {
		return err
	}
	if _, err := c.s.walk(ctx, fid, fid, path...); err != nil {
		c.freeFid(ctx, fid)
		if isRerror(err, dkEnoent) || isRerror(err, "Can't walk from a file") {
			return nil
		}
		return err
	}
	err = c.s.remove(ctx, fid) // clunks the fid, even when it fails
	c.mu.Lock()
	c.free = append(c.free, fid)
	c.mu.Unlock()
	if isRerror(err, dkEnoent) {
		return nil
	}
	return err
}

type dkFile struct {
	c   *dkClient
	fid uint32
}

// Create walks to the parent and creates the file there, ORDWR, 0644.
func (c *dkClient) Create(ctx context.Context, path ...string) (*dkFile, error) {
	fid, err := c.allocFid(ctx, c.root)
	if err != nil {
		return nil, err
	}
	if _, err := c.s.walk(ctx, fid, fid, path[:len(path)-1]...); err != nil {
		c.freeFid(ctx, fid)
		return nil, err
	}
	if _, err := c.s.create(ctx, fid, path[len(path)-1], dkFilePerm, styx.ORDWR, ""); err != nil {
		return nil, err
	}
	return &dkFile{c, fid}, nil
}

// Open walks to path and opens it.
func (c *dkClient) Open(ctx context.Context, mode uint8, path ...string) (*dkFile, error) {
	fid, err := c.allocFid(ctx, c.root)
	if err != nil {
		return nil, err
	}
	if _, err := c.s.walk(ctx, fid, fid, path...); err != nil {
		c.freeFid(ctx, fid)
		return nil, err
	}
	if _, err := c.s.open(ctx, fid, mode); err != nil {
		c.freeFid(ctx, fid)
		return nil, err
	}
	return &dkFile{c, fid}, nil
}

// List reads a directory with one read of msize-24 bytes.
func (c *dkClient) List(ctx context.Context, path ...string) ([]string, error) {
	f, err := c.Open(ctx, styx.OREAD, path...)
	if err != nil {
		return nil, err
	}
	defer f.Close(ctx)
	p := make([]byte, c.s.msize-24)
	n, err := f.Read(ctx, p, 0)
	if err != nil {
		return nil, err
	}
	var names []string
	for b := p[:n]; len(b) > 0; {
		st, rest, err := styx.DecodeStat(c.s.dialect, b)
		if err != nil {
			return names, err
		}
		names, b = append(names, st.Name), rest
	}
	return names, nil
}

func (f *dkFile) Close(ctx context.Context) { f.c.freeFid(ctx, f.fid) }

func (f *dkFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return f.c.s.read(ctx, f.fid, p, off)
}

func (f *dkFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return f.c.s.write(ctx, f.fid, p, off)
}

// writeAll writes p from offset 0 in as many writes as the server takes
// (the bindings' io.Writer loops on short writes), each at most what the
// msize leaves room for, and at least one (of nothing, for an empty
// value).
func (f *dkFile) writeAll(ctx context.Context, p []byte) error {
	off := int64(0)
	for {
		chunk := p[:min(len(p), int(f.c.s.msize)-styx.IOHeader)]
		n, err := f.Write(ctx, chunk, off)
		if err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
		if len(p) == 0 {
			return nil
		}
	}
}

// readAll reads from offset 0 until a read returns 0 bytes.
func (f *dkFile) readAll(ctx context.Context) (string, error) {
	var buf bytes.Buffer
	p := make([]byte, 8192)
	for off := int64(0); ; {
		n, err := f.Read(ctx, p, off)
		if err != nil {
			return buf.String(), err
		}
		if n == 0 {
			return buf.String(), nil
		}
		buf.Write(p[:n])
		off += int64(n)
	}
}

// dkTransaction is the bindings' transaction: a directory named by a
// process-wide counter under branch/<b>/transactions.
type dkTransaction struct {
	c      *dkClient
	branch string
	name   string
}

var dkNextTransaction atomic.Int64

func newDKTransaction(ctx context.Context, c *dkClient, branch string) (*dkTransaction, error) {
	name := strconv.FormatInt(dkNextTransaction.Add(1), 10)
	if err := c.Mkdir(ctx, "branch", branch); err != nil {
		return nil, err
	}
	if err := c.Mkdir(ctx, "branch", branch, "transactions", name); err != nil {
		return nil, err
	}
	return &dkTransaction{c, branch, name}, nil
}

func (t *dkTransaction) path(rest ...string) []string {
	return append([]string{"branch", t.branch, "transactions", t.name}, rest...)
}

// Write makes the parents in rw (errors ignored), creates the file and
// writes the value.
func (t *dkTransaction) Write(ctx context.Context, path []string, value string) error {
	p := t.path(append([]string{"rw"}, path[:len(path)-1]...)...)
	t.c.Mkdir(ctx, p...)
	f, err := t.c.Create(ctx, append(p, path[len(path)-1])...)
	if err != nil {
		return err
	}
	defer f.Close(ctx)
	return f.writeAll(ctx, []byte(value))
}

// Remove removes a path in rw, as `rm -f`.
func (t *dkTransaction) Remove(ctx context.Context, path []string) error {
	return t.c.Remove(ctx, t.path(append([]string{"rw"}, path...)...)...)
}

// Commit writes msg (its write's error ignored, as the bindings do), then
// "commit" to ctl.
func (t *dkTransaction) Commit(ctx context.Context, msg string) error {
	mf, err := t.c.Open(ctx, styx.ORDWR, t.path("msg")...)
	if err != nil {
		return err
	}
	defer mf.Close(ctx)
	mf.Write(ctx, []byte(msg), 0)
	cf, err := t.c.Open(ctx, styx.ORDWR, t.path("ctl")...)
	if err != nil {
		return err
	}
	defer cf.Close(ctx)
	_, err = cf.Write(ctx, []byte("commit"), 0)
	return err
}

// dkHead reads branch/<b>/head, opened ORDWR as the bindings do, with one
// read of 512 bytes, trimmed.
func dkHead(ctx context.Context, c *dkClient, branch string) (string, error) {
	f, err := c.Open(ctx, styx.ORDWR, "branch", branch, "head")
	if err != nil {
		return "", err
	}
	defer f.Close(ctx)
	p := make([]byte, 512)
	n, err := f.Read(ctx, p, 0)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(p[:n])), nil
}

// dkSnapshot reads a commit's tree (snapshots/<id>/ro) or an object
// (trees/<id>).
type dkSnapshot struct {
	c    *dkClient
	base []string
}

func dkCommitSnapshot(c *dkClient, id string) dkSnapshot {
	return dkSnapshot{c, []string{"snapshots", id, "ro"}}
}

func dkObjectSnapshot(c *dkClient, id string) dkSnapshot {
	return dkSnapshot{c, []string{"trees", id}}
}

func (s dkSnapshot) Read(ctx context.Context, path ...string) (string, error) {
	f, err := s.c.Open(ctx, styx.OREAD, append(append([]string{}, s.base...), path...)...)
	if err != nil {
		return "", err
	}
	defer f.Close(ctx)
	return f.readAll(ctx)
}

func (s dkSnapshot) List(ctx context.Context, path ...string) ([]string, error) {
	return s.c.List(ctx, append(append([]string{}, s.base...), path...)...)
}

// dkWatch reads branch/<b>/watch/<p1>.node/…/tree.live.
type dkWatch struct {
	f   *dkFile
	off int64
}

func newDKWatch(ctx context.Context, c *dkClient, branch string, path ...string) (*dkWatch, error) {
	p := []string{"branch", branch, "watch"}
	for _, d := range path {
		p = append(p, d+".node")
	}
	f, err := c.Open(ctx, styx.OREAD, append(p, "tree.live")...)
	if err != nil {
		return nil, err
	}
	return &dkWatch{f: f}, nil
}

// Next returns the object of the next line (its last non-empty one): one empty read (the flush)
// is skipped, two in a row are the end.
func (w *dkWatch) Next(ctx context.Context) (string, error) {
	p := make([]byte, 512)
	sawFlush := false
	for {
		n, err := w.f.Read(ctx, p, w.off)
		if err != nil {
			return "", err
		}
		if n == 0 {
			if sawFlush {
				return "", io.EOF
			}
			sawFlush = true
			continue
		}
		w.off += int64(n)
		last := ""
		for _, l := range strings.Split(string(p[:n]), "\n") {
			if l != "" {
				last = l
			}
		}
		return last, nil // "" when the path is absent
	}
}

func (w *dkWatch) Close(ctx context.Context) { w.f.Close(ctx) }
