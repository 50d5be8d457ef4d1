package ci

import (
	"time"

	"github.com/dkgo/datakit/term"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics, with the original's names
// in Prometheus' style (datakitci_…).
type Metrics struct {
	builds              buildMetrics
	connectionAttempts  prometheus.Counter
	connectionFailures  prometheus.Counter
	statusUpdates       prometheus.Counter
	updateNotifications prometheus.Counter
	activeTargets       *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connectionAttempts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "engine", Name: "connection_attempts_total",
			Help: "Attempts to connect to the store."}),
		connectionFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "engine", Name: "connection_failures_total",
			Help: "Failed or lost connections to the store."}),
		statusUpdates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "engine", Name: "status_updates_total",
			Help: "Commit statuses written."}),
		updateNotifications: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "engine", Name: "update_notifications_total",
			Help: "New heads of the metadata branch seen."}),
		activeTargets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "datakitci", Subsystem: "engine", Name: "active_targets",
			Help: "Targets being tested, by type (pr, branch, tag)."}, []string{"type"}),
	}
	evals := prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "term", Name: "evals_total",
		Help: "Terms evaluated (sub-terms included)."}, func() float64 { return float64(term.Evals()) })
	m.builds = newBuildMetrics(reg)
	reg.MustRegister(m.connectionAttempts, m.connectionFailures, m.statusUpdates, m.updateNotifications, m.activeTargets, evals)
	return m
}

// buildMetrics are the cached steps' metrics, by builder name, with the
// original's names (datakitci_cache_…).
type buildMetrics struct {
	started, succeeded, failed, exceptions *prometheus.CounterVec
	inProgress                             *prometheus.GaugeVec
	buildTime                              *prometheus.SummaryVec
}

func newBuildMetrics(reg prometheus.Registerer) buildMetrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "cache", Name: name, Help: help}, []string{"name"})
	}
	m := buildMetrics{
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

// BuildObserver hears about cached builds, for metrics. The engine gives
// one to the terms it evaluates (BuildObserverOf).
type BuildObserver interface {
	BuildStarted(builder string)
	BuildFinished(builder string, s State, d time.Duration)
}

// BuildStarted counts a build of builder that started.
func (m *Metrics) BuildStarted(builder string) {
	if m == nil {
		return
	}
	m.builds.started.WithLabelValues(builder).Inc()
	m.builds.inProgress.WithLabelValues(builder).Inc()
}

// BuildFinished counts a build of builder that ended in state s after d.
func (m *Metrics) BuildFinished(builder string, s State, d time.Duration) {
	if m == nil {
		return
	}
	m.builds.inProgress.WithLabelValues(builder).Dec()
	m.builds.buildTime.WithLabelValues(builder).Observe(d.Seconds())
	switch s {
	case Success:
		m.builds.succeeded.WithLabelValues(builder).Inc()
	case Error:
		m.builds.exceptions.WithLabelValues(builder).Inc()
	default:
		m.builds.failed.WithLabelValues(builder).Inc()
	}
}
