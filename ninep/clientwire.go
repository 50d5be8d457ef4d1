package ninep

import (
	"net"
	"sync"
)

// flushTag is the tag of the Tflushes that clientWire sends: p9's client
// numbers its requests from 1, so 0 is never its own.
const flushTag = 0

// clientWire sits between p9's client and its connection, to interrupt
// reads, which p9's client cannot: it has no Tflush. It notes the Treads
// that go out, and interrupt sends a Tflush (tag flushTag, one at a time)
// for each that has had no reply yet; the server then ends a read
// blocked on a stream with EINTR. The Rflushes are kept from p9, which
// would not know their tag. Outgoing messages (which p9 writes in pieces)
// go out whole, under one lock shared with the Tflushes.
type clientWire struct {
	net.Conn
	in  framer
	out []byte // bytes for p9, not yet read

	mu       sync.Mutex
	reads    map[uint16]bool // Treads with no reply yet: true once flushed
	queue    []uint16        // reads to flush after the Tflush out now
	flushing bool            // a Tflush is out
	count    uint64          // calls of interrupt

	wmu sync.Mutex
	j   joiner
}

func newClientWire(nc net.Conn) *clientWire {
	return &clientWire{Conn: nc, in: framer{r: nc}, reads: map[uint16]bool{}}
}

// Write sends p9's requests on, whole, noting the reads.
func (c *clientWire) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := c.j.add(p, func(m []byte) error {
		if len(m) == treadSize && m[4] == msgTread {
			c.mu.Lock()
			c.reads[msgTag(m)] = false
			c.mu.Unlock()
		}
		_, err := c.Conn.Write(m)
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Read gives p9 the server's replies, less the answers to our Tflushes.
// p9 reads from one goroutine at a time.
func (c *clientWire) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		m, whole, err := c.in.next()
		if err != nil {
			return 0, err
		}
		if !whole {
			c.out = append(c.out, m...)
			continue
		}
		tag := msgTag(m)
		if tag == flushTag {
			// Rflush (or an error, from a server that refused it).
			if err := c.flushDone(); err != nil {
				return 0, err
			}
			continue
		}
		c.mu.Lock()
		delete(c.reads, tag)
		c.mu.Unlock()
		c.out = append(c.out, m...)
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// interrupt flushes every read that has had no reply yet. Those blocked
// on a stream then fail with EINTR (linux.EINTR); others may end as they
// would have, or with EINTR too.
func (c *clientWire) interrupt() error {
	c.mu.Lock()
	c.count++
	for tag, flushed := range c.reads {
		if !flushed {
			c.reads[tag] = true
			c.queue = append(c.queue, tag)
		}
	}
	c.mu.Unlock()
	return c.sendFlush()
}

// interrupts returns how many times interrupt was called.
func (c *clientWire) interrupts() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// sendFlush sends a Tflush for the next queued read still in flight,
// unless a Tflush is out already.
func (c *clientWire) sendFlush() error {
	c.mu.Lock()
	if c.flushing {
		c.mu.Unlock()
		return nil
	}
	var tag uint16
	found := false
	for len(c.queue) > 0 && !found {
		tag, c.queue = c.queue[0], c.queue[1:]
		_, found = c.reads[tag]
	}
	c.flushing = found
	c.mu.Unlock()
	if !found {
		return nil
	}
	// Should the read's reply come meanwhile and p9 reuse its tag, the
	// flush ends that request instead: a read ends with EINTR too soon,
	// which callers of interrupt are ready for.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.Conn.Write(tflush(flushTag, tag))
	return err
}

// flushDone notes the answer to the Tflush out, and sends the next.
func (c *clientWire) flushDone() error {
	c.mu.Lock()
	c.flushing = false
	c.mu.Unlock()
	return c.sendFlush()
}
