package github

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the bridge's Prometheus metrics. Make them with NewMetrics
// and give them to Options.Metrics; a nil *Metrics (the default) counts
// into an unregistered set.
type Metrics struct {
	requests        *prometheus.CounterVec
	notModified     prometheus.Counter
	retries         prometheus.Counter
	rateWaits       *prometheus.CounterVec
	rateWaitSeconds prometheus.Counter
	rateRemaining   prometheus.Gauge
	syncs           *prometheus.CounterVec
	syncSeconds     prometheus.Summary
	pushes          *prometheus.CounterVec
	events          *prometheus.CounterVec
	rejected        prometheus.Counter
}

// NewMetrics makes the bridge's metrics and registers them with reg (nil:
// none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datakit_github_api_requests_total", Help: "Requests sent to the GitHub API, by method and status code (\"error\": no answer).",
		}, []string{"method", "code"}),
		notModified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "datakit_github_api_not_modified_total", Help: "Conditional GitHub API requests answered 304 Not Modified (free of rate limit).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "datakit_github_api_retries_total", Help: "GitHub API calls tried again after a server or network error.",
		}),
		rateWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datakit_github_rate_limit_waits_total", Help: "Times the bridge waited for a GitHub rate limit to reset, by limit (primary, secondary).",
		}, []string{"limit"}),
		rateWaitSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "datakit_github_rate_limit_wait_seconds_total", Help: "Time spent waiting for GitHub rate limits to reset.",
		}),
		rateRemaining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "datakit_github_rate_limit_remaining", Help: "Requests left in the current GitHub rate-limit window, as last reported.",
		}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datakit_github_syncs_total", Help: "Syncs of the metadata branch with GitHub, by result (ok, error).",
		}, []string{"result"}),
		syncSeconds: prometheus.NewSummary(prometheus.SummaryOpts{
			Name: "datakit_github_sync_duration_seconds", Help: "Time taken by a sync.", Objectives: map[float64]float64{0.5: 0.05, 0.99: 0.001},
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datakit_github_pushes_total", Help: "Changes of the store sent to GitHub, by kind (status, pr) and result (ok, retry, refused).",
		}, []string{"kind", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datakit_github_webhook_events_total", Help: "Webhook deliveries accepted, by event.",
		}, []string{"event"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "datakit_github_webhook_rejected_total", Help: "Webhook deliveries refused (bad or missing signature, bad payload).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.notModified, m.retries, m.rateWaits, m.rateWaitSeconds, m.rateRemaining,
			m.syncs, m.syncSeconds, m.pushes, m.events, m.rejected)
	}
	return m
}
