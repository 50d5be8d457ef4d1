package ci

import (
	"github.com/dkgo/datakit/term"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics, with the original's names
// in Prometheus' style (datakitci_…).
type Metrics struct {
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
	reg.MustRegister(m.connectionAttempts, m.connectionFailures, m.statusUpdates, m.updateNotifications, m.activeTargets, evals)
	return m
}
