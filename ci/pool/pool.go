package pool

import (
	"container/heap"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Priority orders the requests waiting in a pool: higher is served first.
type Priority int

// Suggested priorities; any int will do.
const (
	Low    Priority = -1 // background work, such as rebuilds nobody waits for
	Normal Priority = 0
	High   Priority = 1 // work someone is waiting for: open PRs, branches
)

// Request describes who wants a slot.
type Request struct {
	Priority Priority
	// Label says who uses or waits for the slot, on the dashboard.
	Label string
	// OnQueued, if not nil, is called once, before Acquire returns, if
	// the request has to wait (for example to show Reason in a log).
	OnQueued func()
}

// Use is one holder of, or waiter for, a slot.
type Use struct {
	Label    string
	Priority Priority
	// Since is when the slot was granted (holders) or asked for (waiters).
	Since time.Time
}

// Status is a snapshot of a pool.
type Status struct {
	Name     string
	Capacity int
	Active   []Use // holders, longest-held first
	Queued   []Use // waiters, in the order they will be served
}

// Pool is a named set of interchangeable slots.
type Pool struct {
	name     string
	capacity int
	m        poolMetrics

	mu     sync.Mutex
	seq    uint64
	active map[uint64]Use // by grant order
	queue  waiters
}

// New makes a pool of capacity slots (a negative capacity counts as 0: every
// request waits). m may be nil.
func New(name string, capacity int, m *Metrics) *Pool {
	p := &Pool{name: name, capacity: max(capacity, 0), active: make(map[uint64]Use)}
	p.SetMetrics(m)
	return p
}

// SetMetrics makes the pool report to m from now on (nil: to nothing):
// for pools made before the program's metrics registry, which the CI's
// entry point attaches when it starts.
func (p *Pool) SetMetrics(m *Metrics) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == nil {
		p.m = poolMetrics{}
		return
	}
	p.m = poolMetrics{
		on:       true,
		qlen:     m.qlen.WithLabelValues(p.name),
		inUse:    m.inUse.WithLabelValues(p.name),
		waitTime: m.waitTime.WithLabelValues(p.name),
		useTime:  m.useTime.WithLabelValues(p.name),
	}
	m.capacity.WithLabelValues(p.name).Set(float64(p.capacity))
	p.m.setQlen(p.queue.Len())
	p.m.setInUse(len(p.active))
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Reason is the pending reason of a build waiting for the pool, the
// original's text: `Waiting for resource in "docker"`.
func (p *Pool) Reason() string { return fmt.Sprintf("Waiting for resource in %q", p.name) }

// Acquire takes a slot of the pool, waiting in its queue until one is
// free. If ctx is done first, the request leaves the queue and Acquire
// returns context.Cause(ctx) (as it does at once if ctx is already done).
// Otherwise it returns release, which gives the slot back; calling it
// again does nothing.
func (p *Pool) Acquire(ctx context.Context, req Request) (release func(), err error) {
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	asked := time.Now()
	p.mu.Lock()
	p.seq++
	if p.queue.Len() == 0 && len(p.active) < p.capacity {
		id := p.grantLocked(p.seq, req, asked, asked)
		p.mu.Unlock()
		return p.releaser(id), nil
	}
	w := &waiter{seq: p.seq, req: req, since: asked, ready: make(chan struct{})}
	heap.Push(&p.queue, w)
	p.m.setQlen(p.queue.Len())
	p.mu.Unlock()

	if req.OnQueued != nil {
		req.OnQueued()
	}
	select {
	case <-w.ready:
		return p.releaser(w.seq), nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	granted := w.index < 0
	if !granted {
		heap.Remove(&p.queue, w.index)
		p.m.setQlen(p.queue.Len())
	}
	p.mu.Unlock()
	if granted {
		// The slot came as ctx ended: hand it on.
		p.releaser(w.seq)()
	}
	return nil, context.Cause(ctx)
}

// grantLocked records a holder; p.mu is held.
func (p *Pool) grantLocked(id uint64, req Request, asked, now time.Time) uint64 {
	p.active[id] = Use{Label: req.Label, Priority: req.Priority, Since: now}
	p.m.setInUse(len(p.active))
	p.m.observeWait(now.Sub(asked))
	return id
}

// releaser is the release function of holder id.
func (p *Pool) releaser(id uint64) func() {
	var once sync.Once
	return func() { once.Do(func() { p.release(id) }) }
}

func (p *Pool) release(id uint64) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.active[id]
	delete(p.active, id)
	p.m.observeUse(now.Sub(u.Since))
	for p.queue.Len() > 0 && len(p.active) < p.capacity {
		w := heap.Pop(&p.queue).(*waiter)
		p.grantLocked(w.seq, w.req, w.since, now)
		close(w.ready)
	}
	p.m.setQlen(p.queue.Len())
	p.m.setInUse(len(p.active))
}

// Status is a snapshot of the pool's holders and waiters.
func (p *Pool) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{Name: p.name, Capacity: p.capacity}
	ids := make([]uint64, 0, len(p.active))
	for id := range p.active {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		s.Active = append(s.Active, p.active[id])
	}
	q := append(waiters(nil), p.queue...)
	sort.Slice(q, func(i, j int) bool { return q.Less(i, j) })
	for _, w := range q {
		s.Queued = append(s.Queued, Use{Label: w.req.Label, Priority: w.req.Priority, Since: w.since})
	}
	return s
}

// waiter is a queued request. index is its place in the heap, -1 once it
// left the queue with a slot.
type waiter struct {
	seq   uint64
	req   Request
	since time.Time
	ready chan struct{} // closed when granted
	index int
}

// waiters is a heap: highest priority first, then first come.
type waiters []*waiter

func (q waiters) Len() int { return len(q) }
func (q waiters) Less(i, j int) bool {
	if q[i].req.Priority != q[j].req.Priority {
		return q[i].req.Priority > q[j].req.Priority
	}
	return q[i].seq < q[j].seq
}
func (q waiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	w.index = -1
	return w
}

// Registry is a set of pools with distinct names, such as those a CI shows
// on its dashboard. The zero Registry is empty and ready to use.
type Registry struct {
	mu    sync.Mutex
	pools map[string]*Pool
}

// Add adds p, unless the registry already has a pool of that name.
func (r *Registry) Add(p *Pool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pools[p.name]; ok {
		return fmt.Errorf("pool: a pool named %q already exists", p.name)
	}
	if r.pools == nil {
		r.pools = make(map[string]*Pool)
	}
	r.pools[p.name] = p
	return nil
}

// List returns the pools, sorted by name.
func (r *Registry) List() []*Pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := make([]*Pool, 0, len(r.pools))
	for _, p := range r.pools {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return ps
}

// Metrics are the pools' Prometheus metrics, the original's, labelled by
// pool name.
type Metrics struct {
	qlen, inUse, capacity *prometheus.GaugeVec
	waitTime, useTime     *prometheus.SummaryVec
}

// NewMetrics creates the pool metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "datakitci", Subsystem: "pool", Name: name, Help: help}, []string{"name"})
	}
	summary := func(name, help string) *prometheus.SummaryVec {
		return prometheus.NewSummaryVec(prometheus.SummaryOpts{Namespace: "datakitci", Subsystem: "pool", Name: name, Help: help}, []string{"name"})
	}
	m := &Metrics{
		qlen:     gauge("qlen", "Number of users waiting for a resource."),
		inUse:    gauge("resources_in_use", "Number of resources currently being used."),
		capacity: gauge("capacity", "Total pool capacity."),
		waitTime: summary("wait_time_seconds", "Time spent waiting for a resource."),
		useTime:  summary("use_time_seconds", "Time spent using a resource."),
	}
	reg.MustRegister(m.qlen, m.inUse, m.capacity, m.waitTime, m.useTime)
	return m
}

// poolMetrics are one pool's children of Metrics; all no-ops when off.
type poolMetrics struct {
	on                bool
	qlen, inUse       prometheus.Gauge
	waitTime, useTime prometheus.Observer
}

func (m poolMetrics) setQlen(n int) {
	if m.on {
		m.qlen.Set(float64(n))
	}
}

func (m poolMetrics) setInUse(n int) {
	if m.on {
		m.inUse.Set(float64(n))
	}
}

func (m poolMetrics) observeWait(d time.Duration) {
	if m.on {
		m.waitTime.Observe(d.Seconds())
	}
}

func (m poolMetrics) observeUse(d time.Duration) {
	if m.on {
		m.useTime.Observe(d.Seconds())
	}
}
