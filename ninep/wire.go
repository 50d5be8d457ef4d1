package ninep

import (
	"encoding/binary"
	"io"
)

// The few parts of 9P2000.L's wire format that this package reads itself,
// below p9: the server answers Tauth and Tflush on the wire (see
// serverWire), and the client sends Tflush (see clientWire). A message is
// size[4] type[1] tag[2] body, little-endian, size counting itself.

// Message types looked at on the wire.
const (
	msgRlerror  = 7
	msgTlopen   = 12
	msgTversion = 100
	msgTauth    = 102
	msgTflush   = 108
	msgRflush   = 109
	msgTread    = 116
)

// Errnos put on the wire here.
const (
	enoent = 2
	einval = 22
)

const (
	headerSize = 7  // size[4] type[1] tag[2]
	treadSize  = 23 // header fid[4] offset[8] count[4]
	tflushSize = 9  // header oldtag[2]
	maxMessage = 16 << 20
)

// msgTag returns the tag of a message of at least headerSize bytes.
func msgTag(m []byte) uint16 { return binary.LittleEndian.Uint16(m[5:]) }

// header appends a message header for a body of n bytes.
func header(b []byte, typ byte, tag uint16, n int) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(headerSize+n))
	b = append(b, typ)
	return binary.LittleEndian.AppendUint16(b, tag)
}

func rlerror(tag uint16, errno uint32) []byte {
	return binary.LittleEndian.AppendUint32(header(nil, msgRlerror, tag, 4), errno)
}

func rflush(tag uint16) []byte { return header(nil, msgRflush, tag, 0) }

func tflush(tag, oldtag uint16) []byte {
	return binary.LittleEndian.AppendUint16(header(nil, msgTflush, tag, 2), oldtag)
}

// framer cuts a byte stream into messages by their size prefix. After a
// size it cannot accept (below the header, above maxMessage), and for the
// bytes of a message cut short by the end of the stream, it gives the
// bytes as they come, unframed: the peer's 9P library then fails the
// connection, which is not the framer's to judge.
type framer struct {
	r     io.Reader
	buf   []byte // read, not yet returned
	chunk []byte // for reads from r
	raw   bool   // framing gave up
	max   uint32 // the largest message; 0 for maxMessage
}

// next returns the next whole message, or (whole false) bytes to pass on
// as they are. The slice is valid until the next call.
func (f *framer) next() (msg []byte, whole bool, err error) {
	for {
		if len(f.buf) > 0 && f.raw {
			out := f.buf
			f.buf = nil
			return out, false, nil
		}
		if len(f.buf) >= 4 {
			size := binary.LittleEndian.Uint32(f.buf)
			if size < headerSize || size > maxMessage || (f.max > 0 && size > f.max) {
				f.raw = true
				continue
			}
			if uint32(len(f.buf)) >= size {
				msg, f.buf = f.buf[:size:size], f.buf[size:]
				return msg, true, nil
			}
		}
		if f.chunk == nil {
			f.chunk = make([]byte, 64<<10)
		}
		// Appending never writes over the message returned last: that
		// lies before f.buf.
		n, err := f.r.Read(f.chunk)
		f.buf = append(f.buf, f.chunk[:n]...)
		if err != nil {
			if n > 0 {
				continue
			}
			if len(f.buf) > 0 {
				f.raw = true
				continue
			}
			return nil, false, err
		}
	}
}

// joiner collects written bytes into whole messages (a 9P library may
// write one message in several pieces). The size prefix of what is
// written is trusted: it comes from our side's library.
type joiner struct {
	buf []byte
}

// add appends p and calls each for every whole message, stopping at the
// first error.
func (j *joiner) add(p []byte, each func(msg []byte) error) error {
	j.buf = append(j.buf, p...)
	for len(j.buf) >= 4 {
		size := binary.LittleEndian.Uint32(j.buf)
		if size < headerSize {
			// Not 9P: pass it on whole, as it was written.
			size = uint32(len(j.buf))
		}
		if uint32(len(j.buf)) < size {
			break
		}
		msg := j.buf[:size:size]
		j.buf = j.buf[size:]
		if err := each(msg); err != nil {
			return err
		}
	}
	if len(j.buf) == 0 {
		j.buf = nil
	}
	return nil
}
