package ninep

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"sync"
)

// serverWire sits between a connection and p9's server, which reads and
// writes through it. It cuts the incoming bytes into messages and acts on
// three kinds itself:
//
//   - Tauth is answered here, with Rlerror(ENOENT): to diod's clients
//     (diodls, diodcat) that means "no authentication required", while
//     p9's server would answer ENOSYS, which they take as a failure.
//   - Tflush is answered here. p9 answers a flush only once the flushed
//     request has ended by itself, which for a read blocked on a stream
//     (head.live) is the next change: a client interrupted by a signal
//     (Linux's v9fs) then hangs. Here the flushed request's context is
//     cancelled, so the blocked read ends at once (EINTR), and Rflush
//     goes out right after that request's reply, as 9P wants (or at
//     once, when the request is not in flight).
//   - Tread passes on with its offset swapped for a key to its entry in
//     reqs, where the offset and a context of the read's own wait: p9
//     gives a read handler only the fid's file, the buffer and the
//     offset, so the offset is the one way to tell pfile.ReadAt which
//     request it serves (inflight.read turns the key back).
//
// Every message that p9 gets is recorded in reqs until its reply is
// written, so that a flush knows what is in flight. Outgoing messages
// (which p9 may write in several pieces) go out whole, under one lock
// shared with the replies made here.
type serverWire struct {
	in      framer        // in.max: the largest message p9 takes: its maximum, or the msize of the Tversion
	started bool          // a message has come
	opening chan struct{} // closed when the Tversion or Tlopen passed last is answered
	serial  bool          // wait for opening (false only in a test that answers at the end)
	out     []byte        // bytes for p9, not yet read
	reqs    *inflight

	wmu sync.Mutex
	w   io.Writer
	j   joiner
}

func newServerWire(r io.Reader, w io.Writer, reqs *inflight) *serverWire {
	return &serverWire{in: framer{r: r, max: p9MaxMessage}, w: w, reqs: reqs, serial: true}
}

// p9MaxMessage is the largest message p9's server takes (its
// maximumLength), whatever msize a client asks for.
const p9MaxMessage = 4 << 20

// errBadFrame ends a connection whose bytes are no 9P message, or a
// message larger than the msize: p9 would stop serving it too, but only
// after every request in flight has ended, and a read blocked on a stream
// ends only with the connection's context, which a failed Read cancels
// (cancelOnError). Passing such bytes on to p9 left the connection open
// for good (found by FuzzServer).
var errBadFrame = errors.New("ninep: not a 9P message, or larger than the msize")

// errSecondVersion ends a connection that sends a Tversion after other
// messages.
var errSecondVersion = errors.New("ninep: a Tversion that is not a connection's first message")

// Read gives p9 the incoming messages, less those answered here. p9 reads
// from one goroutine at a time.
func (s *serverWire) Read(p []byte) (int, error) {
	if len(s.out) == 0 && s.opening != nil && s.serial {
		select {
		case <-s.opening:
		case <-s.reqs.base.Done():
			return 0, s.reqs.base.Err()
		}
		s.opening = nil
	}
	for len(s.out) == 0 {
		msg, whole, err := s.in.next()
		if err != nil {
			return 0, err
		}
		if !whole {
			return 0, errBadFrame
		}
		if err := s.incoming(msg); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// incoming answers msg or queues it for p9.
func (s *serverWire) incoming(msg []byte) error {
	tag := msgTag(msg)
	started := s.started
	s.started = true
	switch {
	case msg[4] == msgTversion && started:
		// A Tversion that is not the first message: a new session on a
		// used connection. p9 changes its session
		// state under the replies still going out (a data race, seen
		// under -race), and would wait for reads blocked on streams.
		// No client of ours, nor Linux, does this: the connection ends.
		return errSecondVersion
	case msg[4] == msgTversion && len(msg) >= headerSize+4:
		// p9 takes messages up to the msize asked for, at most its own
		// maximum (a msize of 0 changes nothing).
		if m := binary.LittleEndian.Uint32(msg[headerSize:]); m > 0 {
			s.in.max = min(m, p9MaxMessage)
		}
		// p9 sets its session up outside its lock, where the replies to
		// requests sent before the Rversion read it (a data race): the
		// rest waits for the answer.
		s.opening = s.reqs.beginWaited(tag)
	case msg[4] == msgTauth:
		return s.send(rlerror(tag, enoent))
	case msg[4] == msgTflush && len(msg) != tflushSize:
		// p9 would take it, ignoring the extra bytes, and wait for the
		// old tag, its own when the two are the same: for good (found by
		// FuzzServer). Refused here.
		return s.send(rlerror(tag, einval))
	case msg[4] == msgTflush:
		if s.reqs.flush(tag, binary.LittleEndian.Uint16(msg[headerSize:])) {
			return s.send(rflush(tag))
		}
		return nil
	case msg[4] == msgTread && len(msg) == treadSize:
		off := binary.LittleEndian.Uint64(msg[11:])
		if s.reqs.beginRead(tag, int64(off)) {
			binary.LittleEndian.PutUint64(msg[11:], uint64(readKey(tag)))
		}
	case msg[4] == msgTlopen:
		// p9 marks a fid open after the open, outside its lock, where a
		// read or write of the fid sent before the Rlopen reads the
		// mark (a data race, seen under -race): nothing more goes to p9
		// until the open is answered.
		s.opening = s.reqs.beginWaited(tag)
	default:
		// Malformed reads too: p9 answers them with an error.
		s.reqs.begin(tag)
	}
	s.out = append(s.out, msg...)
	return nil
}

// send writes a reply made here.
func (s *serverWire) send(m []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.w.Write(m)
	return err
}

// Write passes p9's replies on, a whole message at a time, each followed
// by the Rflushes that waited for it.
func (s *serverWire) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.j.add(p, func(msg []byte) error {
		// The request leaves reqs before its reply goes: the client may
		// use the tag again as soon as it has the reply.
		var flushes []uint16
		if len(msg) >= headerSize {
			flushes = s.reqs.finish(msgTag(msg))
		}
		if _, err := s.w.Write(msg); err != nil {
			return err
		}
		for _, t := range flushes {
			if _, err := s.w.Write(rflush(t)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// inflight is the table of a connection's requests that p9 has been given
// and not answered yet, by tag, and of the flushes waiting for them. It is
// safe for concurrent use.
type inflight struct {
	base context.Context // the connection's

	mu   sync.Mutex
	reqs map[uint16]*request
}

// request is an entry of inflight.
type request struct {
	// A read's context, cancelled by a flush, and its offset on the wire.
	ctx    context.Context
	cancel context.CancelFunc
	off    int64
	done   chan struct{} // closed when answered (Tlopen only)
	// flushes are the tags of the Tflushes of this request, answered
	// after its reply in this order. A flush waiting here has an entry
	// of its own, so that it may be flushed in turn.
	flushes []uint16
}

func newInflight(base context.Context) *inflight {
	return &inflight{base: base, reqs: map[uint16]*request{}}
}

// begin records a request; false if its tag is in flight already (p9
// then drops it: the client is broken).
func (t *inflight) begin(tag uint16) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reqs[tag] != nil {
		return false
	}
	t.reqs[tag] = &request{}
	return true
}

// beginWaited records a request, and returns a channel closed when it
// is answered; nil if its tag is in flight already.
func (t *inflight) beginWaited(tag uint16) chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reqs[tag] != nil {
		return nil
	}
	done := make(chan struct{})
	t.reqs[tag] = &request{done: done}
	return done
}

// beginRead records a read at offset off, with a context of its own.
func (t *inflight) beginRead(tag uint16, off int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reqs[tag] != nil {
		return false
	}
	ctx, cancel := context.WithCancel(t.base)
	t.reqs[tag] = &request{ctx: ctx, cancel: cancel, off: off}
	return true
}

// readKey is the offset that stands on the wire, for p9, in place of a
// read's real offset: negative, which no offset of ours is once it has
// been swapped, with the tag in the low bits.
func readKey(tag uint16) int64 { return math.MinInt64 | int64(tag) }

// read returns the context and the real offset of the read whose offset
// p9 passed. An offset that is no key (a read that did not come through
// serverWire) is the offset itself, under the connection's context. ok is
// false for a key with no read in flight, which cannot happen.
func (t *inflight) read(off int64) (ctx context.Context, realOff int64, ok bool) {
	if off >= 0 {
		return t.base, off, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.reqs[uint16(off)]
	if r == nil || r.ctx == nil {
		return nil, 0, false
	}
	return r.ctx, r.off, true
}

// flush handles Tflush tag of oldtag. It cancels oldtag's context if it is
// a read, and returns true when the Rflush is to go at once (oldtag is
// not in flight); otherwise finish(oldtag) returns tag when the time
// comes. A flush with a tag in flight already is dropped, as p9 drops
// any such request.
func (t *inflight) flush(tag, oldtag uint16) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reqs[tag] != nil {
		return false
	}
	old := t.reqs[oldtag]
	if old == nil {
		return true
	}
	if old.cancel != nil {
		old.cancel()
	}
	old.flushes = append(old.flushes, tag)
	t.reqs[tag] = &request{}
	return false
}

// finish removes the request whose reply is going out, and returns the
// tags of the Rflushes to send after it, in order: each flush, then the
// flushes of that flush.
func (t *inflight) finish(tag uint16) []uint16 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []uint16
	var end func(tag uint16)
	end = func(tag uint16) {
		r := t.reqs[tag]
		if r == nil {
			return
		}
		delete(t.reqs, tag)
		if r.cancel != nil {
			r.cancel()
		}
		if r.done != nil {
			close(r.done)
		}
		for _, f := range r.flushes {
			out = append(out, f)
			end(f)
		}
	}
	end(tag)
	return out
}

// len returns the number of requests in flight.
func (t *inflight) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.reqs)
}
