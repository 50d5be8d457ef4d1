package ninep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/dkgo/datakit/ninep/internal/styx"
)

// styxSession is a test client session in 9P2000 or 9P2000.u that sends
// requests as docker/go-p9p does (the library of the original's Go
// bindings): requests in flight at once, each with its own tag, and an
// Rerror returned as an error of type rerror. A cancelled context leaves
// the request in flight, as go-p9p does; flush sends a Tflush.
type styxSession struct {
	conn    net.Conn
	dialect styx.Dialect
	msize   uint32

	wmu     sync.Mutex
	mu      sync.Mutex
	nextTag uint16
	waiting map[uint16]chan *styx.Msg
	done    chan struct{} // closed when the connection fails
	err     error
}

// rerror is an Rerror: its text, and its errno in 9P2000.u.
type rerror struct {
	Ename string
	Errno uint32
}

func (e rerror) Error() string { return e.Ename }

// dialStyx opens a session to srv over a loopback TCP connection, with
// Tversion version (msize 64 KiB, as go-p9p asks).
func dialStyx(t testing.TB, ctx context.Context, srv *Server, version string) *styxSession {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		srv.ServeConn(ctx, c)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := &styxSession{conn: conn, msize: 64 << 10, waiting: map[uint16]chan *styx.Msg{}, done: make(chan struct{})}
	t.Cleanup(func() {
		conn.Close()
		<-served
	})
	b, _ := styx.Append(styx.Plain, nil, &styx.Msg{Type: styx.Tversion, Tag: styx.NoTag, Msize: s.msize, Version: version})
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	m, err := styx.ReadMsg(conn, s.msize)
	if err != nil {
		t.Fatalf("Tversion %s: %v", version, err)
	}
	r, err := styx.Decode(styx.Plain, m)
	if err != nil || r.Type != styx.Rversion {
		t.Fatalf("Tversion %s: reply %+v, %v", version, r, err)
	}
	if r.Version != version {
		t.Fatalf("Tversion %s: server answers %q", version, r.Version)
	}
	s.msize = min(s.msize, r.Msize)
	if version == styx.VersionUnix {
		s.dialect = styx.Unix
	}
	go s.readReplies()
	return s
}

func (s *styxSession) readReplies() {
	defer func() {
		s.mu.Lock()
		close(s.done)
		s.mu.Unlock()
	}()
	for {
		b, err := styx.ReadMsg(s.conn, s.msize)
		if err != nil {
			s.err = err
			return
		}
		m, err := styx.Decode(s.dialect, b)
		if err != nil {
			s.err = err
			return
		}
		s.mu.Lock()
		ch := s.waiting[m.Tag]
		delete(s.waiting, m.Tag)
		s.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// start sends a request and returns its tag and the channel of its reply.
func (s *styxSession) start(m *styx.Msg) (uint16, chan *styx.Msg, error) {
	ch := make(chan *styx.Msg, 1)
	s.mu.Lock()
	for {
		s.nextTag++
		if s.nextTag != styx.NoTag && s.waiting[s.nextTag] == nil {
			break
		}
	}
	m.Tag = s.nextTag
	s.waiting[m.Tag] = ch
	s.mu.Unlock()
	b, err := styx.Append(s.dialect, nil, m)
	if err != nil {
		return 0, nil, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err = s.conn.Write(b)
	return m.Tag, ch, err
}

// wait returns the reply on ch, as go-p9p does: an Rerror as an error,
// ctx's error when it is done first.
func (s *styxSession) wait(ctx context.Context, ch chan *styx.Msg, want uint8) (*styx.Msg, error) {
	select {
	case r := <-ch:
		if r.Type == styx.Rerror {
			return nil, rerror{r.Ename, r.Errno}
		}
		if r.Type != want {
			return nil, fmt.Errorf("got %s, want %s", styx.TypeName(r.Type), styx.TypeName(want))
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, fmt.Errorf("connection ended: %v", s.err)
	}
}

func (s *styxSession) rpc(ctx context.Context, m *styx.Msg) (*styx.Msg, error) {
	_, ch, err := s.start(m)
	if err != nil {
		return nil, err
	}
	return s.wait(ctx, ch, m.Type+1)
}

func (s *styxSession) attach(ctx context.Context, fid uint32, uname, aname string) (styx.Qid, error) {
	r, err := s.rpc(ctx, &styx.Msg{Type: styx.Tattach, Fid: fid, Afid: styx.NoFid, Uname: uname, Aname: aname, NUname: styx.NoFid})
	if err != nil {
		return styx.Qid{}, err
	}
	return r.Qid, nil
}

func (s *styxSession) walk(ctx context.Context, fid, newfid uint32, names ...string) ([]styx.Qid, error) {
	r, err := s.rpc(ctx, &styx.Msg{Type: styx.Twalk, Fid: fid, Newfid: newfid, Wnames: names})
	if err != nil {
		return nil, err
	}
	return r.Qids, nil
}

func (s *styxSession) open(ctx context.Context, fid uint32, mode uint8) (styx.Qid, error) {
	r, err := s.rpc(ctx, &styx.Msg{Type: styx.Topen, Fid: fid, Mode: mode})
	if err != nil {
		return styx.Qid{}, err
	}
	return r.Qid, nil
}

func (s *styxSession) create(ctx context.Context, fid uint32, name string, perm uint32, mode uint8, ext string) (styx.Qid, error) {
	r, err := s.rpc(ctx, &styx.Msg{Type: styx.Tcreate, Fid: fid, Name: name, Perm: perm, Mode: mode, Extension: ext})
	if err != nil {
		return styx.Qid{}, err
	}
	return r.Qid, nil
}

func (s *styxSession) read(ctx context.Context, fid uint32, p []byte, off int64) (int, error) {
	r, err := s.rpc(ctx, &styx.Msg{Type: styx.Tread, Fid: fid, Offset: uint64(off), Count: uint32(len(p))})
	if err != nil {
		return 0, err
	}
	return copy(p, r.Data), nil
}

func (s *styxSession) write(ctx context.Context, fid uint32, p []byte, off int64) (int, error) {
	r, err := s.rpc(ctx, &styx.Msg{Type: styx.Twrite, Fid: fid, Offset: uint64(off), Data: p})
	if err != nil {
		return 0, err
	}
	return int(r.Count), nil
}

func (s *styxSession) clunk(ctx context.Context, fid uint32) error {
	_, err := s.rpc(ctx, &styx.Msg{Type: styx.Tclunk, Fid: fid})
	return err
}

func (s *styxSession) remove(ctx context.Context, fid uint32) error {
	_, err := s.rpc(ctx, &styx.Msg{Type: styx.Tremove, Fid: fid})
	return err
}

func (s *styxSession) stat(ctx context.Context, fid uint32) (styx.Stat, error) {
	r, err := s.rpc(ctx, &styx.Msg{Type: styx.Tstat, Fid: fid})
	if err != nil {
		return styx.Stat{}, err
	}
	return r.Stat, nil
}

func (s *styxSession) wstat(ctx context.Context, fid uint32, st styx.Stat) error {
	_, err := s.rpc(ctx, &styx.Msg{Type: styx.Twstat, Fid: fid, Stat: st})
	return err
}

// blankStat is a Twstat's stat that changes nothing.
func blankStat() styx.Stat {
	q := styx.Qid{Type: 0xff, Version: styx.NoTouch32, Path: styx.NoTouch64}
	return styx.Stat{Type: 0xffff, Dev: styx.NoTouch32, Qid: q, Mode: styx.NoTouch32, Atime: styx.NoTouch32,
		Mtime: styx.NoTouch32, Length: styx.NoTouch64, NUID: styx.NoTouch32, NGID: styx.NoTouch32, NMUID: styx.NoTouch32}
}

// isRerror reports whether err is an Rerror with text ename.
func isRerror(err error, ename string) bool {
	var r rerror
	return errors.As(err, &r) && r.Ename == ename
}
