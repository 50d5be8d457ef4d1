package cache

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dkgo/datakit/term"
)

// Metrics are the caches' Prometheus metrics, by builder name, with the
// original's names (datakitci_cache_…).
type Metrics struct {
	started, succeeded, failed, exceptions *prometheus.CounterVec
	inProgress                             *prometheus.GaugeVec
	buildTime                              *prometheus.SummaryVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "cache", Name: name, Help: help}, []string{"name"})
	}
	m := &Metrics{
		started:    counter("builds_started_total", "Builds started."),
		succeeded:  counter("builds_succeeded_total", "Builds that succeeded."),
		failed:     counter("builds_failed_total", "Builds that failed."),
		exceptions: counter("build_exceptions_total", "Builds that ended in an infrastructure error."),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "datakitci", Subsystem: "cache", Name: "builds_in_progress",
			Help: "Builds running."}, []string{"name"}),
		buildTime: prometheus.NewSummaryVec(prometheus.SummaryOpts{Namespace: "datakitci", Subsystem: "cache", Name: "build_time_seconds",
			Help: "Time taken by builds."}, []string{"name"}),
	}
	reg.MustRegister(m.started, m.succeeded, m.failed, m.exceptions, m.inProgress, m.buildTime)
	return m
}

// named is the metrics of one builder; its methods do nothing when the
// cache has no metrics.
type named struct {
	m    *Metrics
	name string
}

func (m *Metrics) forName(name string) named { return named{m, name} }

func (n named) started() {
	if n.m == nil {
		return
	}
	n.m.started.WithLabelValues(n.name).Inc()
	n.m.inProgress.WithLabelValues(n.name).Inc()
}

func (n named) finished(s term.State, d time.Duration) {
	if n.m == nil {
		return
	}
	n.m.inProgress.WithLabelValues(n.name).Dec()
	n.m.buildTime.WithLabelValues(n.name).Observe(d.Seconds())
	switch s {
	case term.Success:
		n.m.succeeded.WithLabelValues(n.name).Inc()
	case term.Error:
		n.m.exceptions.WithLabelValues(n.name).Inc()
	default:
		n.m.failed.WithLabelValues(n.name).Inc()
	}
}
