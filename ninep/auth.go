package ninep

import (
	"encoding/binary"
	"io"
	"sync"
)

// 9P2000.L message types we look at on the wire.
const (
	msgTauth   = 102
	msgRlerror = 7
	enoent     = 2
)

// noAuth answers Tauth itself, with Rlerror(ENOENT): to diod's clients
// (diodls, diodcat) that means "no authentication required", while p9's
// server would answer ENOSYS, which they take as a failure. Every other
// message passes through untouched. It frames both directions: incoming
// bytes are cut into messages by their size prefix, and outgoing messages
// (which p9 may write in several pieces) go out whole, under one lock
// shared with the injected replies.
type noAuth struct {
	r    io.Reader
	w    io.Writer
	in   []byte // bytes read from r, not yet framed
	out  []byte // whole messages ready for the reader
	wmu  sync.Mutex
	wbuf []byte // a message being written, until it is whole
	max  uint32 // the largest message we accept
}

func newNoAuth(r io.Reader, w io.Writer) *noAuth {
	return &noAuth{r: r, w: w, max: 16 << 20}
}

// Read gives p9 the incoming messages, less the Tauths.
func (a *noAuth) Read(p []byte) (int, error) {
	for len(a.out) == 0 {
		if err := a.frame(); err != nil {
			return 0, err
		}
	}
	n := copy(p, a.out)
	a.out = a.out[n:]
	return n, nil
}

// frame reads until one whole message is in a.in, then moves it to a.out
// or answers it.
func (a *noAuth) frame() error {
	for {
		if len(a.in) >= 4 {
			size := binary.LittleEndian.Uint32(a.in)
			if size < 7 || size > a.max {
				// Not ours to judge: hand it to p9, which closes the
				// connection on a bad frame.
				a.out, a.in = append(a.out, a.in...), nil
				return nil
			}
			if uint32(len(a.in)) >= size {
				msg := a.in[:size]
				if msg[4] == msgTauth {
					tag := binary.LittleEndian.Uint16(msg[5:])
					a.in = a.in[size:]
					return a.reply(tag)
				}
				a.out = append(a.out, msg...)
				a.in = a.in[size:]
				return nil
			}
		}
		buf := make([]byte, 64<<10)
		n, err := a.r.Read(buf)
		a.in = append(a.in, buf[:n]...)
		if err != nil {
			if n > 0 {
				continue
			}
			if len(a.in) > 0 {
				a.out, a.in = append(a.out, a.in...), nil
				return nil
			}
			return err
		}
	}
}

func (a *noAuth) reply(tag uint16) error {
	var m [11]byte
	binary.LittleEndian.PutUint32(m[0:], 11)
	m[4] = msgRlerror
	binary.LittleEndian.PutUint16(m[5:], tag)
	binary.LittleEndian.PutUint32(m[7:], enoent)
	a.wmu.Lock()
	defer a.wmu.Unlock()
	_, err := a.w.Write(m[:])
	return err
}

// Write passes p9's replies on, a whole message at a time.
func (a *noAuth) Write(p []byte) (int, error) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.wbuf = append(a.wbuf, p...)
	for len(a.wbuf) >= 4 {
		size := binary.LittleEndian.Uint32(a.wbuf)
		if uint32(len(a.wbuf)) < size {
			break
		}
		if _, err := a.w.Write(a.wbuf[:size]); err != nil {
			return 0, err
		}
		a.wbuf = a.wbuf[size:]
	}
	if len(a.wbuf) == 0 {
		a.wbuf = nil
	}
	return len(p), nil
}
