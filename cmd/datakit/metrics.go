package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

// metrics holds the server's registry and the metrics made here.
type metrics struct {
	reg   *prometheus.Registry
	ninep *ninep.Metrics
	push  prometheus.Summary
}

func newMetrics(store *dkstore.GitStore) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "datakit_watches_open", Help: "Watches of branch heads and paths not yet closed.",
	}, func() float64 { return float64(store.OpenWatches()) }))
	push := prometheus.NewSummary(prometheus.SummaryOpts{
		Name: "datakit_git_push_duration_seconds", Help: "Time taken by auto-push to push the changed branches to the mirror.",
	})
	reg.MustRegister(push)
	return &metrics{reg: reg, ninep: ninep.NewMetrics(reg), push: push}
}

// serve serves GET /metrics on addr until ctx is done; other paths get 400,
// as in the original.
func (m *metrics) serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--listen-prometheus: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "metrics are at /metrics", http.StatusBadRequest)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
