package dkstore

import (
	"context"
	"sync"
)

// cell holds a latest value. Readers wait on the channel returned with the
// value; it is closed when the value changes.
type cell[T comparable] struct {
	mu   sync.Mutex
	val  T
	ch   chan struct{}
	refs int // watches using the cell; guarded by the hub's lock
}

func newCell[T comparable](v T) *cell[T] { return &cell[T]{val: v, ch: make(chan struct{})} }

func (c *cell[T]) load() (T, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.val, c.ch
}

func (c *cell[T]) store(v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v == c.val {
		return
	}
	c.val = v
	close(c.ch)
	c.ch = make(chan struct{})
}

// hub fans branch changes out to watches. Cells exist only while a watch
// uses them, so abandoned watches leave nothing behind once closed.
type hub struct {
	mu     sync.Mutex
	heads  map[BranchName]*cell[CommitID]
	subs   map[*refWatch]struct{}
	closed chan struct{}
}

func newHub() *hub {
	return &hub{heads: map[BranchName]*cell[CommitID]{}, subs: map[*refWatch]struct{}{}, closed: make(chan struct{})}
}

// publish records that b moved from old to new.
func (h *hub) publish(b BranchName, old, new CommitID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.heads[b]; c != nil {
		c.store(new)
	}
	for s := range h.subs {
		s.add(RefChange{Branch: b, Old: old, New: new})
	}
}

// acquire returns b's head cell, creating it with the value from get.
func (h *hub) acquire(b BranchName, get func() (CommitID, error)) (*cell[CommitID], error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.heads[b]
	if c == nil {
		// Read under the lock so that no publish slips in between.
		v, err := get()
		if err != nil {
			return nil, err
		}
		c = newCell(v)
		h.heads[b] = c
	}
	c.refs++
	return c, nil
}

func (h *hub) release(b BranchName, c *cell[CommitID]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.refs--
	if c.refs == 0 && h.heads[b] == c {
		delete(h.heads, b)
	}
}

// open reports the number of live watches, for tests and metrics.
func (h *hub) open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.subs)
	for _, c := range h.heads {
		n += c.refs
	}
	return n
}

// valueWatch is a latest-value watch of a function of a branch head.
type valueWatch[T comparable] struct {
	h      *hub
	b      BranchName
	c      *cell[CommitID]
	derive func(CommitID) (T, error)
	done   chan struct{}
	once   sync.Once
	stop   func() bool

	mu      sync.Mutex
	started bool
	last    T
	memoIn  CommitID
	memoOut T
	memoOK  bool
}

func newValueWatch[T comparable](ctx context.Context, h *hub, b BranchName, get func() (CommitID, error), derive func(CommitID) (T, error)) (*valueWatch[T], error) {
	select {
	case <-h.closed:
		return nil, newErr(ErrClosed, "watch "+string(b), "store closed")
	default:
	}
	c, err := h.acquire(b, get)
	if err != nil {
		return nil, err
	}
	w := &valueWatch[T]{h: h, b: b, c: c, derive: derive, done: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, w.end)
	return w, nil
}

func (w *valueWatch[T]) value(head CommitID) (T, error) {
	w.mu.Lock()
	if w.memoOK && w.memoIn == head {
		v := w.memoOut
		w.mu.Unlock()
		return v, nil
	}
	w.mu.Unlock()
	v, err := w.derive(head)
	if err != nil {
		return v, err
	}
	w.mu.Lock()
	w.memoIn, w.memoOut, w.memoOK = head, v, true
	w.mu.Unlock()
	return v, nil
}

func (w *valueWatch[T]) Next(ctx context.Context) (T, error) {
	var zero T
	for {
		head, changed := w.c.load()
		v, err := w.value(head)
		if err != nil {
			return zero, err
		}
		w.mu.Lock()
		if !w.started || v != w.last {
			w.started, w.last = true, v
			w.mu.Unlock()
			return v, nil
		}
		w.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-w.done:
			if err := ctx.Err(); err != nil {
				return zero, err // the watch ended because ctx did
			}
			return zero, newErr(ErrClosed, "watch "+string(w.b), "watch closed")
		case <-w.h.closed:
			return zero, newErr(ErrClosed, "watch "+string(w.b), "store closed")
		}
	}
}

// Close ends the watch and stops watching its context.
func (w *valueWatch[T]) Close() error {
	w.stop()
	w.end()
	return nil
}

// end releases the watch once; the context's AfterFunc calls it too, so
// it must not touch w.stop (set after AfterFunc returns).
func (w *valueWatch[T]) end() {
	w.once.Do(func() {
		close(w.done)
		w.h.release(w.b, w.c)
	})
}

// refWatch queues ref changes, coalesced per branch.
type refWatch struct {
	h      *hub
	mu     sync.Mutex
	queue  []BranchName
	byName map[BranchName]*RefChange
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
	stop   func() bool
}

func (h *hub) watchRefs(ctx context.Context) (*refWatch, error) {
	w := &refWatch{h: h, byName: map[BranchName]*RefChange{}, notify: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	select {
	case <-h.closed:
		h.mu.Unlock()
		return nil, newErr(ErrClosed, "watch refs", "store closed")
	default:
	}
	h.subs[w] = struct{}{}
	h.mu.Unlock()
	w.stop = context.AfterFunc(ctx, w.end)
	return w, nil
}

func (w *refWatch) add(ch RefChange) {
	w.mu.Lock()
	if p := w.byName[ch.Branch]; p != nil {
		p.New = ch.New
	} else {
		c := ch
		w.byName[ch.Branch] = &c
		w.queue = append(w.queue, ch.Branch)
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *refWatch) Next(ctx context.Context) (RefChange, error) {
	for {
		w.mu.Lock()
		for len(w.queue) > 0 {
			b := w.queue[0]
			w.queue = w.queue[1:]
			ch := w.byName[b]
			delete(w.byName, b)
			if ch.Old != ch.New {
				w.mu.Unlock()
				return *ch, nil
			}
		}
		w.mu.Unlock()
		select {
		case <-w.notify:
		case <-ctx.Done():
			return RefChange{}, ctx.Err()
		case <-w.done:
			if err := ctx.Err(); err != nil {
				return RefChange{}, err // the watch ended because ctx did
			}
			return RefChange{}, newErr(ErrClosed, "watch refs", "watch closed")
		case <-w.h.closed:
			return RefChange{}, newErr(ErrClosed, "watch refs", "store closed")
		}
	}
}

// Close ends the watch and stops watching its context.
func (w *refWatch) Close() error {
	w.stop()
	w.end()
	return nil
}

// end releases the watch once (see valueWatch.end).
func (w *refWatch) end() {
	w.once.Do(func() {
		close(w.done)
		w.h.mu.Lock()
		delete(w.h.subs, w)
		w.h.mu.Unlock()
	})
}
