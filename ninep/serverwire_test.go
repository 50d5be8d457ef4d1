package ninep

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
)

// wireMsg builds a request: type, tag, body.
func wireMsg(typ byte, tag uint16, body ...byte) []byte {
	return append(header(nil, typ, tag, len(body)), body...)
}

func treadMsg(tag uint16, fid uint32, off uint64, count uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, fid)
	b = binary.LittleEndian.AppendUint64(b, off)
	return wireMsg(msgTread, tag, binary.LittleEndian.AppendUint32(b, count)...)
}

const msgTwalk, msgRwalk, msgRread = 110, 111, 117

// wireRun feeds in to a serverWire and returns what p9 would read, as
// messages, and the wire and its output buffer.
func wireRun(t *testing.T, in ...[]byte) ([][]byte, *serverWire, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	w := newServerWire(bytes.NewReader(bytes.Join(in, nil)), &out, newInflight(context.Background()))
	w.serial = false // the replies come at the end
	got, err := io.ReadAll(w)
	if err != nil {
		t.Fatal(err)
	}
	f := framer{r: bytes.NewReader(got)}
	var msgs [][]byte
	for {
		m, whole, err := f.next()
		if err == io.EOF {
			return msgs, w, &out
		}
		if err != nil || !whole {
			t.Fatalf("p9 got unframed bytes %x (%v)", m, err)
		}
		msgs = append(msgs, append([]byte(nil), m...))
	}
}

// written splits what the wire wrote into reply lines.
func written(t *testing.T, b *bytes.Buffer) []string {
	t.Helper()
	f := framer{r: bytes.NewReader(b.Bytes())}
	var out []string
	for {
		m, whole, err := f.next()
		if err == io.EOF {
			return out
		}
		if !whole {
			t.Fatalf("the wire wrote unframed bytes %x", m)
		}
		out = append(out, formatR(m))
	}
}

// reply writes a reply as p9 does: header and body apart.
func reply(t *testing.T, w *serverWire, typ byte, tag uint16, body ...byte) {
	t.Helper()
	m := wireMsg(typ, tag, body...)
	if _, err := w.Write(m[:headerSize]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(m[headerSize:]); err != nil {
		t.Fatal(err)
	}
}

func TestServerWireFlushWaitsForReply(t *testing.T) {
	// A walk in flight, flushed; then a flush of that flush.
	msgs, w, out := wireRun(t,
		wireMsg(msgTwalk, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0),
		tflush(6, 5),
		tflush(7, 6),
	)
	if len(msgs) != 1 || msgs[0][4] != msgTwalk {
		t.Fatalf("p9 got %d messages, want the walk alone", len(msgs))
	}
	if got := written(t, out); len(got) != 0 {
		t.Fatalf("before the walk's reply the wire wrote %q, want nothing", got)
	}
	reply(t, w, msgRwalk, 5, 0, 0)
	want := []string{"Rwalk 5 nwqid=0", "Rflush 6", "Rflush 7"}
	if got := written(t, out); !slices.Equal(got, want) {
		t.Fatalf("wrote %q, want %q", got, want)
	}
	if n := w.reqs.len(); n != 0 {
		t.Errorf("%d requests left in flight, want 0", n)
	}
}

func TestServerWireReadKey(t *testing.T) {
	msgs, w, out := wireRun(t, treadMsg(9, 1, 41, 100), treadMsg(10, 1, 7, 100), tflush(11, 9))
	if len(msgs) != 2 {
		t.Fatalf("p9 got %d messages, want the two reads", len(msgs))
	}
	for i, want := range []struct {
		tag uint16
		off int64
	}{{9, 41}, {10, 7}} {
		key := int64(binary.LittleEndian.Uint64(msgs[i][11:]))
		ctx, off, ok := w.reqs.read(key)
		if !ok || off != want.off {
			t.Fatalf("read(key of tag %d) = %d, %v; want offset %d", want.tag, off, ok, want.off)
		}
		flushed := want.tag == 9
		if got := errors.Is(ctx.Err(), context.Canceled); got != flushed {
			t.Errorf("read of tag %d: cancelled %v, want %v", want.tag, got, flushed)
		}
	}
	if got := written(t, out); len(got) != 0 {
		t.Fatalf("wrote %q before the read's reply", got)
	}
	reply(t, w, msgRlerror, 9, 4, 0, 0, 0)
	reply(t, w, msgRread, 10, 0, 0, 0, 0)
	want := []string{"Rlerror 9 EINTR", "Rflush 11", `Rread 10 ""`}
	if got := written(t, out); !slices.Equal(got, want) {
		t.Fatalf("wrote %q, want %q", got, want)
	}
	if _, _, ok := w.reqs.read(readKey(9)); ok {
		t.Errorf("read(key of tag 9) after its reply: ok, want not in flight")
	}
	// A plain offset (a read that did not pass the wire) is itself.
	if _, off, ok := w.reqs.read(12); !ok || off != 12 {
		t.Errorf("read(12) = %d, %v; want 12, true", off, ok)
	}
}

func TestServerWireDuplicateTags(t *testing.T) {
	// A flush whose tag is in flight is dropped, as p9 drops any request
	// with a tag in flight; so is the second read of one tag, whose
	// offset then stays as it came.
	msgs, w, out := wireRun(t, treadMsg(3, 1, 0, 10), tflush(3, 3), treadMsg(3, 2, 5, 10))
	if len(msgs) != 2 {
		t.Fatalf("p9 got %d messages, want 2", len(msgs))
	}
	if off := binary.LittleEndian.Uint64(msgs[1][11:]); off != 5 {
		t.Errorf("duplicate read's offset = %d, want 5 (untouched)", off)
	}
	reply(t, w, msgRread, 3, 0, 0, 0, 0)
	if got, want := written(t, out), []string{`Rread 3 ""`}; !slices.Equal(got, want) {
		t.Fatalf("wrote %q, want %q", got, want)
	}
}

// FuzzServerWire feeds arbitrary bytes to the wire filter, then answers
// what it passed as p9 would (once per tag in flight). Every byte is
// passed or answered; Tauth and every flush of an idle tag are answered
// at once; every other flush gets its Rflush after the reply of the
// request it flushed; nothing stays in flight.
func FuzzServerWire(f *testing.F) {
	f.Add(bytes.Join([][]byte{treadMsg(1, 1, 0, 100), tflush(2, 1), tflush(3, 2), tflush(4, 9)}, nil))
	f.Add(bytes.Join([][]byte{wireMsg(msgTauth, 1, 0, 0, 0, 0), treadMsg(1, 1, 1, 1), tflush(1, 1)}, nil))
	f.Add(conversation(f))
	f.Add([]byte{5, 0, 0, 0, 108, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		w := newServerWire(bytes.NewReader(data), &out, newInflight(context.Background()))
		w.serial = false // the replies come at the end
		passed, readErr := io.ReadAll(w)
		if readErr != nil && !errors.Is(readErr, errBadFrame) && !errors.Is(readErr, errSecondVersion) {
			t.Fatal(readErr)
		}
		early := out.Len()

		// A model of the wire, with no reply until the end: live tags
		// only grow.
		in := framer{r: bytes.NewReader(data)}
		live := map[uint16]bool{}
		waits := map[uint16]uint16{} // flush tag -> flushed tag
		var order []uint16           // live tags in order, as p9 gets them
		answered, now, total := 0, 0, 0
		limit, bad, started := uint32(p9MaxMessage), false, false
		for {
			m, whole, err := in.next()
			if err != nil {
				break
			}
			if !whole || uint32(len(m)) > limit {
				// The wire ends the connection here: p9 would drop it
				// too, but only once its requests in flight ended.
				bad = true
				break
			}
			if m[4] == msgTversion && started {
				bad = true // only a first Tversion passes
				break
			}
			started = true
			total += len(m)
			tag := msgTag(m)
			switch {
			case m[4] == msgTversion && len(m) >= headerSize+4:
				if v := binary.LittleEndian.Uint32(m[headerSize:]); v > 0 {
					limit = min(v, p9MaxMessage)
				}
				if !live[tag] {
					live[tag] = true
					order = append(order, tag)
				}
			case m[4] == msgTauth:
				answered += len(m)
				now++
			case m[4] == msgTflush && len(m) != tflushSize:
				answered += len(m)
				now++
			case m[4] == msgTflush:
				answered += len(m)
				old := binary.LittleEndian.Uint16(m[headerSize:])
				switch {
				case live[tag]:
				case live[old]:
					live[tag] = true
					waits[tag] = old
				default:
					now++
				}
			default:
				if !live[tag] {
					live[tag] = true
					order = append(order, tag)
				}
			}
		}
		if bad != (readErr != nil) {
			t.Fatalf("bad frame %v, but the wire's read error is %v", bad, readErr)
		}
		if (!bad && total != len(data)) || len(passed)+answered != total {
			t.Fatalf("framed %d, passed %d, answered %d of %d bytes", total, len(passed), answered, len(data))
		}
		if got := len(written(t, &out)); got != now {
			t.Fatalf("answered %d messages at once, want %d", got, now)
		}
		for _, tag := range order {
			if _, err := w.Write(rlerror(tag, 4)); err != nil {
				t.Fatal(err)
			}
		}
		if n := w.reqs.len(); n != 0 {
			t.Fatalf("%d requests in flight after every reply", n)
		}
		at := map[uint16]int{}
		o := framer{r: bytes.NewReader(out.Bytes()[early:])}
		for i := 0; ; i++ {
			m, whole, err := o.next()
			if err != nil {
				break
			}
			if !whole {
				t.Fatalf("unframed output %x", m)
			}
			if _, dup := at[msgTag(m)]; dup {
				t.Fatalf("two answers to tag %d", msgTag(m))
			}
			at[msgTag(m)] = i
		}
		if len(at) != len(order)+len(waits) {
			t.Fatalf("%d answers at the end, want %d replies and %d Rflushes", len(at), len(order), len(waits))
		}
		for ft, old := range waits {
			if at[ft] < at[old] {
				t.Fatalf("Rflush %d before the reply to %d", ft, old)
			}
		}
	})
}
