package web

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// webMetrics are the original's datakitci_web_* metrics.
type webMetrics struct {
	requests           *prometheus.CounterVec
	responses          *prometheus.CounterVec
	inProgress         prometheus.Gauge
	localOK, localBad  prometheus.Counter
	githubOK, githubNo prometheus.Counter
	responseTime       prometheus.Summary
}

func newWebMetrics(reg prometheus.Registerer) *webMetrics {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "datakitci", Subsystem: "web", Name: name, Help: help}
	}
	m := &webMetrics{
		requests:     prometheus.NewCounterVec(opts("requests_total", "HTTP requests received, by method."), []string{"method"}),
		responses:    prometheus.NewCounterVec(opts("responses_total", "HTTP responses sent, by status code."), []string{"code"}),
		inProgress:   prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "datakitci", Subsystem: "web", Name: "requests_in_progress", Help: "HTTP requests being answered (live logs included)."}),
		localOK:      prometheus.NewCounter(opts("local_login_ok_total", "Successful logins with a password.")),
		localBad:     prometheus.NewCounter(opts("local_login_rejected_total", "Refused logins with a password.")),
		githubOK:     prometheus.NewCounter(opts("github_login_ok_total", "Successful logins with GitHub.")),
		githubNo:     prometheus.NewCounter(opts("github_login_rejected_total", "Failed logins with GitHub.")),
		responseTime: prometheus.NewSummary(prometheus.SummaryOpts{Namespace: "datakitci", Subsystem: "web", Name: "response_time_seconds", Help: "Time to answer a request (a live log until it ends).", Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.responses, m.inProgress, m.localOK, m.localBad, m.githubOK, m.githubNo, m.responseTime)
	}
	return m
}

func (m *webMetrics) begin(method string) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS":
	default:
		method = "other"
	}
	m.requests.WithLabelValues(method).Inc()
	m.inProgress.Inc()
}

func (m *webMetrics) end(code int, d time.Duration) {
	m.inProgress.Dec()
	m.responses.WithLabelValues(strconv.Itoa(code)).Inc()
	m.responseTime.Observe(d.Seconds())
}

// termCSS is the style sheet of the classes terminal-to-html gives: the
// 16 colours (term-fg30..37, term-fgi90..97 and the backgrounds), the
// 256-colour palette (term-fgx/bgx N) and the attributes.
func termCSS() []byte {
	base := []string{"#2e3436", "#cc0000", "#4e9a06", "#c4a000", "#3465a4", "#75507b", "#06989a", "#d3d7cf",
		"#555753", "#ef2929", "#8ae234", "#fce94f", "#729fcf", "#ad7fa8", "#34e2e2", "#eeeeec"}
	var b []byte
	for i := 0; i < 8; i++ {
		b = fmt.Appendf(b, ".term-fg%d{color:%s}.term-bg%d{background:%s}.term-fgi%d{color:%s}.term-bgi%d{background:%s}\n",
			30+i, base[i], 40+i, base[i], 90+i, base[8+i], 100+i, base[8+i])
	}
	for n := 0; n < 256; n++ {
		var c string
		switch {
		case n < 16:
			c = base[n]
		case n < 232:
			v := []int{0, 95, 135, 175, 215, 255}
			k := n - 16
			c = fmt.Sprintf("#%02x%02x%02x", v[k/36], v[k/6%6], v[k%6])
		default:
			g := 8 + 10*(n-232)
			c = fmt.Sprintf("#%02x%02x%02x", g, g, g)
		}
		b = fmt.Appendf(b, ".term-fgx%d{color:%s}.term-bgx%d{background:%s}\n", n, c, n, c)
	}
	b = append(b, ".term-fg1{font-weight:bold}.term-fg2{opacity:.7}.term-fg3{font-style:italic}.term-fg4{text-decoration:underline}.term-fg5{animation:none}.term-fg9{text-decoration:line-through}\n"...)
	return b
}
