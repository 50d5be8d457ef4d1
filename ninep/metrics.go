package ninep

import (
	"errors"
	"io"
	"time"

	"github.com/hugelgupf/p9/p9"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the server's Prometheus metrics. Make them with NewMetrics
// and pass them in Options; a nil *Metrics records nothing.
type Metrics struct {
	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connections prometheus.Gauge
	committed   prometheus.Counter
	conflicted  prometheus.Counter
}

// NewMetrics registers the server's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datakit_9p_requests_total", Help: "9P requests handled, by message type.",
		}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datakit_9p_errors_total", Help: "9P requests answered with an error, by message type.",
		}, []string{"type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "datakit_9p_request_duration_seconds", Help: "Time to answer a 9P request (stream reads wait for changes).",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}, []string{"type"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "datakit_9p_connections_open", Help: "Open 9P connections.",
		}),
		committed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "datakit_transactions_committed_total", Help: "Transactions committed through the file tree.",
		}),
		conflicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "datakit_transactions_conflicted_total", Help: "Commits and merges refused for conflicts.",
		}),
	}
	reg.MustRegister(m.requests, m.errors, m.latency, m.connections, m.committed, m.conflicted)
	return m
}

// observe records one request of type typ that started at start.
func (m *Metrics) observe(typ string, start time.Time, err error) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(typ).Inc()
	if err != nil && !errors.Is(err, io.EOF) {
		m.errors.WithLabelValues(typ).Inc()
	}
	m.latency.WithLabelValues(typ).Observe(time.Since(start).Seconds())
}

func (m *Metrics) connOpened() {
	if m != nil {
		m.connections.Inc()
	}
}

func (m *Metrics) connClosed() {
	if m != nil {
		m.connections.Dec()
	}
}

// commitResult counts a commit or merge attempt.
func (m *Metrics) commitResult(err error, conflicted bool) {
	if m == nil {
		return
	}
	switch {
	case err == nil && !conflicted:
		m.committed.Inc()
	case conflicted:
		m.conflicted.Inc()
	}
}

// meteredFile records every request on a p9.File.
type meteredFile struct {
	p9.File
	m *Metrics
}

func meter(f p9.File, m *Metrics) p9.File {
	if m == nil || f == nil {
		return f
	}
	return &meteredFile{File: f, m: m}
}

func (f *meteredFile) Walk(names []string) ([]p9.QID, p9.File, error) {
	start := time.Now()
	qs, nf, err := f.File.Walk(names)
	f.m.observe("walk", start, err)
	return qs, meter(nf, f.m), err
}

func (f *meteredFile) WalkGetAttr(names []string) ([]p9.QID, p9.File, p9.AttrMask, p9.Attr, error) {
	start := time.Now()
	qs, nf, mask, attr, err := f.File.WalkGetAttr(names)
	f.m.observe("walkgetattr", start, err)
	return qs, meter(nf, f.m), mask, attr, err
}

func (f *meteredFile) GetAttr(req p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	start := time.Now()
	q, mask, attr, err := f.File.GetAttr(req)
	f.m.observe("getattr", start, err)
	return q, mask, attr, err
}

func (f *meteredFile) SetAttr(valid p9.SetAttrMask, attr p9.SetAttr) error {
	start := time.Now()
	err := f.File.SetAttr(valid, attr)
	f.m.observe("setattr", start, err)
	return err
}

func (f *meteredFile) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	start := time.Now()
	q, n, err := f.File.Open(mode)
	f.m.observe("lopen", start, err)
	return q, n, err
}

func (f *meteredFile) ReadAt(p []byte, off int64) (int, error) {
	start := time.Now()
	n, err := f.File.ReadAt(p, off)
	f.m.observe("read", start, err)
	return n, err
}

func (f *meteredFile) WriteAt(p []byte, off int64) (int, error) {
	start := time.Now()
	n, err := f.File.WriteAt(p, off)
	f.m.observe("write", start, err)
	return n, err
}

func (f *meteredFile) Close() error {
	start := time.Now()
	err := f.File.Close()
	f.m.observe("clunk", start, err)
	return err
}

func (f *meteredFile) Readdir(off uint64, count uint32) (p9.Dirents, error) {
	start := time.Now()
	d, err := f.File.Readdir(off, count)
	f.m.observe("readdir", start, err)
	return d, err
}

func (f *meteredFile) Create(name string, mode p9.OpenFlags, perm p9.FileMode, uid p9.UID, gid p9.GID) (p9.File, p9.QID, uint32, error) {
	start := time.Now()
	nf, q, n, err := f.File.Create(name, mode, perm, uid, gid)
	f.m.observe("lcreate", start, err)
	return meter(nf, f.m), q, n, err
}

func (f *meteredFile) Mkdir(name string, perm p9.FileMode, uid p9.UID, gid p9.GID) (p9.QID, error) {
	start := time.Now()
	q, err := f.File.Mkdir(name, perm, uid, gid)
	f.m.observe("mkdir", start, err)
	return q, err
}

func (f *meteredFile) Symlink(target, name string, uid p9.UID, gid p9.GID) (p9.QID, error) {
	start := time.Now()
	q, err := f.File.Symlink(target, name, uid, gid)
	f.m.observe("symlink", start, err)
	return q, err
}

func (f *meteredFile) UnlinkAt(name string, flags uint32) error {
	start := time.Now()
	err := f.File.UnlinkAt(name, flags)
	f.m.observe("unlinkat", start, err)
	return err
}

func (f *meteredFile) RenameAt(oldName string, newDir p9.File, newName string) error {
	start := time.Now()
	if md, ok := newDir.(*meteredFile); ok {
		newDir = md.File
	}
	err := f.File.RenameAt(oldName, newDir, newName)
	f.m.observe("renameat", start, err)
	return err
}

func (f *meteredFile) Rename(newDir p9.File, newName string) error {
	start := time.Now()
	if md, ok := newDir.(*meteredFile); ok {
		newDir = md.File
	}
	err := f.File.Rename(newDir, newName)
	f.m.observe("rename", start, err)
	return err
}

func (f *meteredFile) Renamed(newDir p9.File, newName string) {
	if md, ok := newDir.(*meteredFile); ok {
		newDir = md.File
	}
	f.File.Renamed(newDir, newName)
}

func (f *meteredFile) Readlink() (string, error) {
	start := time.Now()
	t, err := f.File.Readlink()
	f.m.observe("readlink", start, err)
	return t, err
}
