package ninep

import (
	"context"
	"strings"
	"sync"

	"github.com/hugelgupf/p9/linux"

	"github.com/dkgo/datakit/dkstore"
)

// readBytes copies data[off:] into p, with the original's error for an
// offset past the end.
func readBytes(data []byte, p []byte, off int64) (int, error) {
	switch {
	case off < 0:
		return 0, userErr(dkstore.ErrInvalid, "Negative offset %d", off)
	case off > int64(len(data)):
		return 0, userErr(dkstore.ErrInvalid, "Offset %d beyond end-of-file (len = %d)", off, len(data))
	}
	return copy(p, data[off:]), nil
}

// staticFile has content computed when opened (so `head` shows the head at
// open time), when stat'ed, and again by a read at offset 0, so that a
// client may keep a fid open and re-read it with one request.
type staticFile struct {
	p       string
	content func(ctx context.Context) ([]byte, error)
}

func (f *staticFile) path() string { return f.p }

func (f *staticFile) stat(ctx context.Context) (dkstore.Kind, int64, error) {
	data, err := f.content(ctx)
	return dkstore.KindFile, int64(len(data)), err
}

func (f *staticFile) open(ctx context.Context, write bool) (handle, error) {
	if write {
		return nil, errReadOnly
	}
	data, err := f.content(ctx)
	if err != nil {
		return nil, err
	}
	return &liveHandle{f: f, data: data}, nil
}

type liveHandle struct {
	f    *staticFile
	mu   sync.Mutex
	data []byte
}

func (h *liveHandle) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 {
		data, err := h.f.content(ctx)
		if err != nil {
			return 0, err
		}
		h.data = data
	}
	return readBytes(h.data, p, off)
}

func (h *liveHandle) writeAt(context.Context, []byte, int64) (int, error) { return 0, errReadOnly }
func (h *liveHandle) close()                                              {}

func fixed(text string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { return []byte(text), nil }
}

type bytesHandle []byte

func (b bytesHandle) readAt(_ context.Context, p []byte, off int64) (int, error) {
	return readBytes(b, p, off)
}
func (b bytesHandle) writeAt(context.Context, []byte, int64) (int, error) { return 0, errReadOnly }
func (b bytesHandle) close()                                              {}

// textBuf is the shared buffer of an rw string file (msg, parents, url):
// writes at an offset overwrite or extend it, zero-padding past the end.
type textBuf struct {
	mu   sync.Mutex
	data []byte
}

func (b *textBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.data)
}

func (b *textBuf) set(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = []byte(s)
}

type textFile struct {
	p   string
	buf *textBuf
}

func (f *textFile) path() string { return f.p }
func (f *textFile) stat(context.Context) (dkstore.Kind, int64, error) {
	f.buf.mu.Lock()
	defer f.buf.mu.Unlock()
	return dkstore.KindFile, int64(len(f.buf.data)), nil
}
func (f *textFile) open(context.Context, bool) (handle, error) { return textHandle{f.buf}, nil }
func (f *textFile) truncate(_ context.Context, size int64) error {
	if size < 0 {
		return dkstore.ErrInvalid
	}
	f.buf.mu.Lock()
	defer f.buf.mu.Unlock()
	if size <= int64(len(f.buf.data)) {
		f.buf.data = f.buf.data[:size]
	} else {
		f.buf.data = append(f.buf.data, make([]byte, size-int64(len(f.buf.data)))...)
	}
	return nil
}

type textHandle struct{ b *textBuf }

func (h textHandle) readAt(_ context.Context, p []byte, off int64) (int, error) {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	return readBytes(h.b.data, p, off)
}

func (h textHandle) writeAt(_ context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, userErr(dkstore.ErrInvalid, "Negative offset %d", off)
	}
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	end := off + int64(len(p))
	if end > int64(len(h.b.data)) {
		h.b.data = append(h.b.data, make([]byte, end-int64(len(h.b.data)))...)
	}
	copy(h.b.data[off:], p)
	return len(p), nil
}

func (h textHandle) close() {}

// cmdFile is a command file: each write, whitespace-trimmed, goes to run;
// the result becomes the file's content. On failure the write fails with
// the error's errno and the file reads "error: <text>\n", so that
// `echo commit > ctl || cat ctl` tells a shell user why.
type cmdFile struct {
	p      string
	result *textBuf // per connection, owned by the session
	run    func(ctx context.Context, arg string) (string, error)
}

func (f *cmdFile) path() string { return f.p }
func (f *cmdFile) stat(context.Context) (dkstore.Kind, int64, error) {
	f.result.mu.Lock()
	defer f.result.mu.Unlock()
	return dkstore.KindFile, int64(len(f.result.data)), nil
}
func (f *cmdFile) open(context.Context, bool) (handle, error) { return cmdHandle{f}, nil }
func (f *cmdFile) truncate(_ context.Context, size int64) error {
	if size != 0 {
		return errCmdExtend
	}
	return nil
}

type cmdHandle struct{ f *cmdFile }

func (h cmdHandle) readAt(_ context.Context, p []byte, off int64) (int, error) {
	h.f.result.mu.Lock()
	defer h.f.result.mu.Unlock()
	return readBytes(h.f.result.data, p, off)
}

func (h cmdHandle) writeAt(ctx context.Context, p []byte, _ int64) (int, error) {
	arg := strings.TrimSpace(string(p))
	out, err := h.f.run(ctx, arg)
	if err != nil {
		h.f.result.set("error: " + dkstore.Reason(err) + "\n")
		return 0, err
	}
	h.f.result.set(out)
	return len(p), nil
}

func (h cmdHandle) close() {}

// streamFile is a stream: each open makes a reader whose first read
// returns the current value's line, then one empty read (the flush Linux
// needs), then blocks until the value's text changes. Intermediate values
// are skipped; offsets must be sequential.
type streamFile struct {
	p string
	// watch starts a watch whose Next returns each new line's text.
	watch func(ctx context.Context) (lineWatch, error)
}

type lineWatch interface {
	Next(ctx context.Context) (string, error)
	Close() error
}

func (f *streamFile) path() string { return f.p }
func (f *streamFile) stat(context.Context) (dkstore.Kind, int64, error) {
	return dkstore.KindFile, 0, nil
}
func (f *streamFile) open(ctx context.Context, write bool) (handle, error) {
	if write {
		return nil, errReadOnly
	}
	w, err := f.watch(ctx)
	if err != nil {
		return nil, err
	}
	return &streamHandle{w: w, last: "\x00", sem: make(chan struct{}, 1)}, nil
}

type streamHandle struct {
	sem     chan struct{} // held by the read in progress
	w       lineWatch
	off     int64
	pending []byte // rest of a line longer than the reader's buffer
	flush   bool   // the next read returns 0 bytes
	last    string
}

// readAt reads the stream. A read waits for the one before it on the same
// file, then for a new value; ctx (which a Tflush cancels) ends either
// wait, with the stream left where it was.
func (h *streamHandle) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-h.sem }()
	if off != h.off {
		return 0, linux.ESPIPE // "Attempt to seek in stream"
	}
	if len(h.pending) == 0 {
		if h.flush {
			h.flush = false
			return 0, nil
		}
		for {
			text, err := h.w.Next(ctx)
			if err != nil {
				return 0, err
			}
			if text != h.last {
				h.last = text
				h.pending = []byte(text + "\n")
				break
			}
		}
	}
	n := copy(p, h.pending)
	h.pending = h.pending[n:]
	h.off += int64(n)
	if len(h.pending) == 0 {
		h.flush = true
	}
	return n, nil
}

func (h *streamHandle) writeAt(context.Context, []byte, int64) (int, error) { return 0, errReadOnly }
func (h *streamHandle) close()                                              { h.w.Close() }

// watchText adapts a dkstore watch to lines.
type watchText[T any] struct {
	w      dkstore.Watch[T]
	format func(T) string
}

func (w watchText[T]) Next(ctx context.Context) (string, error) {
	v, err := w.w.Next(ctx)
	if err != nil {
		return "", err
	}
	return w.format(v), nil
}

func (w watchText[T]) Close() error { return w.w.Close() }
