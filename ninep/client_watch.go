package ninep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// A watch reads a stream file on a connection of its own, and only while
// Next waits: the server computes each line when it is read, so Next gets
// the latest value (or, for branch/.changes, the changes the server
// coalesced meanwhile). A Next whose context ends closes the connection,
// which ends the server's blocked read, and returns; the next Next opens
// the stream again. A head or path stream then starts with the current
// value, which is skipped if Next returned it last. A change stream is
// reopened at once, so that only changes made while it reconnects can be
// lost. No goroutine runs between calls.

// reopenTime bounds reopening a change stream after a cancelled Next.
const reopenTime = 10 * time.Second

// remoteWatch is a dkstore.Watch over a stream file.
type remoteWatch[T any] struct {
	c      *Client
	op     string
	branch dkstore.BranchName // made reachable on each new connection
	steps  []string
	parse  func(string) (T, error)
	events bool // a change stream: reopen at once after a cancelled Next

	sem  chan struct{} // held by the one Next reading
	stop func() bool   // of the AfterFunc on the watch's context

	mu      sync.Mutex
	conn    *clientConn // nil: reopen
	r       *lineReader
	started bool
	last    string        // the line Next returned last
	err     error         // why the watch ended
	done    chan struct{} // closed when it ends
}

// openWatch opens the stream file at steps on a new connection (making
// branch reachable there first if it has no commit yet).
func openWatch[T any](ctx context.Context, c *Client, op string, branch dkstore.BranchName, steps []string, parse func(string) (T, error), events bool) (dkstore.Watch[T], error) {
	if _, err := c.enter(ctx, op); err != nil {
		return nil, err
	}
	w := &remoteWatch[T]{c: c, op: op, branch: branch, steps: steps, parse: parse, events: events,
		sem: make(chan struct{}, 1), done: make(chan struct{})}
	if _, _, err := w.stream(ctx); err != nil {
		return nil, err
	}
	w.stop = context.AfterFunc(ctx, func() {
		w.end(&dkstore.Error{Kind: dkstore.ErrClosed, Op: op, Text: "watch closed: " + ctx.Err().Error()})
		c.untrack(w)
	})
	if !c.track(w) {
		w.stop()
		w.end(errClientClosed(op))
		return nil, errClientClosed(op)
	}
	return w, nil
}

// stream returns the open stream, opening it on a new connection if need
// be.
func (w *remoteWatch[T]) stream(ctx context.Context) (*clientConn, *lineReader, error) {
	w.mu.Lock()
	if w.err != nil || w.conn != nil {
		defer w.mu.Unlock()
		return w.conn, w.r, w.err
	}
	w.mu.Unlock()
	conn, err := w.c.dial(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, w.c.wireErr(w.op, err)
	}
	f, err := openStream(conn, w.branch, w.steps)
	if err != nil {
		conn.close()
		return nil, nil, withOpErr(w.c.wireErr(w.op, err), w.op)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil { // ended meanwhile
		conn.close()
		return nil, nil, w.err
	}
	w.conn, w.r = conn, &lineReader{f: f}
	return w.conn, w.r, nil
}

func openStream(conn *clientConn, branch dkstore.BranchName, steps []string) (p9.File, error) {
	f, _, err := conn.walkAttr(steps)
	if hasErrno(err, linux.ENOENT) && branch != "" {
		if err := conn.ensureBranch(branch); err != nil {
			return nil, err
		}
		f, _, err = conn.walkAttr(steps)
	}
	if err != nil {
		return nil, err
	}
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// drop forgets conn (closed), so that the next Next reopens the stream.
func (w *remoteWatch[T]) drop(conn *clientConn) {
	conn.close()
	w.mu.Lock()
	if w.conn == conn {
		w.conn, w.r = nil, nil
	}
	w.mu.Unlock()
}

// ended returns why the watch ended, or nil.
func (w *remoteWatch[T]) ended() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// end ends the watch (if nothing did before) and closes its connection,
// which ends a blocked read.
func (w *remoteWatch[T]) end(err error) {
	w.mu.Lock()
	conn := w.conn
	if w.err == nil {
		w.err = err
		close(w.done)
	}
	w.conn, w.r = nil, nil
	w.mu.Unlock()
	if conn != nil {
		conn.close()
	}
}

// Next reads the next line of the stream, until ctx is done.
func (w *remoteWatch[T]) Next(ctx context.Context) (T, error) {
	var zero T
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-w.done:
		return zero, w.ended()
	}
	defer func() { <-w.sem }()
	for {
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		conn, r, err := w.stream(ctx)
		if err != nil {
			return zero, err
		}
		stop := context.AfterFunc(ctx, conn.close)
		line, err := r.next()
		cancelled := !stop()
		if err := w.ended(); err != nil {
			return zero, err
		}
		if cancelled || err != nil {
			w.drop(conn)
			if cancelled && w.events {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reopenTime)
				w.stream(rctx) // if this fails, the next Next tries again
				cancel()
			}
		}
		if err != nil {
			if cancelled {
				return zero, ctx.Err()
			}
			return zero, w.readErr(err)
		}
		w.mu.Lock()
		dup := w.started && line == w.last && !w.events
		w.started, w.last = true, line
		w.mu.Unlock()
		if dup {
			continue // the first line of a reopened stream, seen already
		}
		v, err := w.parse(line)
		if err != nil {
			return zero, fmt.Errorf("ninep: %s: %w", w.op, err)
		}
		return v, nil
	}
}

// readErr says why the stream stopped: an error of the server's, its end,
// or a lost connection.
func (w *remoteWatch[T]) readErr(err error) error {
	var e linux.Errno
	switch {
	case errors.As(err, &e):
		return w.c.wireErr(w.op, err)
	case err == io.EOF:
		return &dkstore.Error{Kind: dkstore.ErrClosed, Op: w.op, Text: "stream ended"}
	}
	return fmt.Errorf("ninep: %s: connection lost: %w", w.op, err)
}

// Close ends the watch: its connection closes, and a Next blocked in a
// read returns ErrClosed.
func (w *remoteWatch[T]) Close() error {
	w.stop()
	w.end(&dkstore.Error{Kind: dkstore.ErrClosed, Op: w.op, Text: "watch closed"})
	w.c.untrack(w)
	return nil
}
