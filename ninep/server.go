package ninep

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/hugelgupf/p9/p9"

	"github.com/dkgo/datakit/dkstore"
)

// Options configure a Server. The zero value is useful.
type Options struct {
	// Logger receives diagnostics (nil: discard).
	Logger *slog.Logger
	// Sources are the log sources shown under /debug/src.
	Sources []LogSource
	// Metrics, if not nil, records requests, connections and commits.
	Metrics *Metrics
}

// Server serves a dkstore.Store as the DataKit file tree over 9P2000.L,
// 9P2000.u and 9P2000, as each connection's Tversion asks. It is safe for
// concurrent use; each connection has its own namespace.
type Server struct {
	store   dkstore.Store
	log     *slog.Logger
	sources []LogSource
	metrics *Metrics

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewServer returns a server for store.
func NewServer(store dkstore.Store, opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, log: log, sources: opts.Sources, metrics: opts.Metrics, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// every connection and returns once they are finished.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ServeConn(ctx, conn)
		}()
	}
}

// ServeConn serves one connection until it closes or ctx is done.
func (s *Server) ServeConn(ctx context.Context, conn net.Conn) {
	s.mu.Lock()
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	s.metrics.connOpened()
	defer func() {
		s.metrics.connClosed()
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	defer conn.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sess := newSession(cctx, s)
	defer sess.close()
	// The first message says which dialect: 9P2000.L goes to p9, 9P2000
	// and 9P2000.u to serveStyx (styxserver.go).
	read, version, ok, err := peekVersion(conn)
	if ok && wantsStyx(version) {
		sess.serveStyx(conn, read, cancel)
		return
	}
	if err != nil && len(read) == 0 {
		return
	}
	// p9 waits for every request before it closes files, so a blocked
	// stream read must end by itself: it watches its request's context,
	// cancelled by a Tflush of it, or with cctx as soon as the
	// connection fails.
	srv := p9.NewServer(attacher{sess})
	w := newServerWire(prefixReader(read, conn), conn, sess.reqs)
	srv.Handle(&cancelOnError{ReadCloser: readCloser{w, conn}, cancel: cancel}, writeCloser{w, conn})
}

type readCloser struct {
	io.Reader
	io.Closer
}

type writeCloser struct {
	io.Writer
	io.Closer
}

type attacher struct{ s *session }

func (a attacher) Attach() (p9.File, error) {
	return meter(&pfile{s: a.s, n: &rootDir{s: a.s}}, a.s.srv.metrics), nil
}

// cancelOnError cancels the connection's context when reading fails, so
// that blocked stream reads end: p9 waits for every request in flight
// before it closes the connection's files.
type cancelOnError struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnError) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil {
		c.cancel()
	}
	return n, err
}
