package github_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// With a fifth of the API calls failing (server errors, dropped
// connections, exhausted rate limits) and webhooks lost, duplicated and
// reordered, every status written to the store reaches GitHub exactly
// once, and the store ends up agreeing with GitHub.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for rate limits to reset")
	}
	e := newEnv(t)
	m := newGHModel(e, 42)
	for range 4 {
		m.pushRef(fmt.Sprintf("heads/b%d", len(m.refs)), m.commit())
	}
	reg := prometheus.NewRegistry()
	metrics := github.NewMetrics(reg)
	r := e.run(github.Options{Metrics: metrics})
	waitFor(t, "the first sync", func() bool { return len(e.storeRefs()) == 5 })
	e.gh.SetFaults(fakegithub.Faults{
		Seed: 1, ServerErrors: 0.1, Disconnects: 0.05, RateLimits: 0.05, RateLimitReset: time.Second,
		HooksLost: 0.2, HooksDuplicated: 0.1, HooksReordered: 0.1, ReorderHold: 50 * time.Millisecond,
	})
	heads := e.storeRefs()
	var commits []string
	for _, c := range heads {
		commits = append(commits, c)
	}
	const n = 100
	for i := range n {
		// Statuses of distinct contexts, each written once, while GitHub
		// changes too.
		e.writeStatus(commits[i%len(commits)], fmt.Sprintf("ci/datakit/job%d", i), "success", fmt.Sprintf("run %d", i))
		if i%4 == 0 {
			m.step()
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "every status on GitHub", func() bool {
		got := 0
		for _, c := range commits {
			for ctx := range e.ghStatuses(c) {
				if strings.HasPrefix(ctx, "ci/datakit/") {
					got++
				}
			}
		}
		return got >= n
	})
	for i := range n {
		c := commits[i%len(commits)]
		sts, _ := e.gh.Statuses(repoName, c)
		count := 0
		for _, s := range sts {
			if s.Context == fmt.Sprintf("ci/datakit/job%d", i) {
				count++
				if s.Description != fmt.Sprintf("run %d", i) {
					t.Errorf("job%d: description %q", i, s.Description)
				}
			}
		}
		if count != 1 {
			t.Errorf("job%d reached GitHub %d times", i, count)
		}
	}
	faulted := 0
	for _, st := range e.gh.Stats() {
		faulted += st.Faulted
	}
	lost := 0
	for _, d := range e.gh.Deliveries() {
		if d.Fault == fakegithub.HookLost {
			lost++
		}
	}
	t.Logf("%d API calls answered by a fault, %d webhooks lost, %v retries, %v rate-limit waits", faulted, lost,
		metricSum(t, reg, "datakit_github_api_retries_total"), metricSum(t, reg, "datakit_github_rate_limit_waits_total"))
	if faulted == 0 || lost == 0 {
		t.Errorf("no faults were injected")
	}
	// Lost webhooks are made up for by a resync.
	e.gh.SetFaults(fakegithub.Faults{})
	r.b.Resync()
	var err error
	waitFor(t, "the store to agree with GitHub", func() bool { err = e.agrees(m, false); return err == nil })
}

// metricSum sums the samples of the metric name in reg.
func metricSum(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// An exhausted rate limit makes the bridge wait for its reset, and say
// so in the log and the metrics; then it goes on.
func TestRateLimitWait(t *testing.T) {
	s := fakegithub.New(fakegithub.Options{RateLimit: 4, RateWindow: 1500 * time.Millisecond})
	defer s.Close()
	token, _ := s.AddUser("alice")
	s.CreateRepo(repoName, fakegithub.RepoOptions{})
	for i := range 3 {
		s.Push(repoName, fakegithub.Push{Ref: fmt.Sprintf("refs/heads/b%d", i), SHA: sha(i + 1)})
	}
	e := newEnv(t)
	e.gh, e.token = s, token
	var log strings.Builder
	reg := prometheus.NewRegistry()
	b := e.newBridge(github.Options{Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &log}, nil)), Metrics: github.NewMetrics(reg)})
	start := time.Now()
	e.sync(b) // lists PRs, heads, tags, three combined statuses: 6 calls
	if got := len(e.storeRefs()); got != 3 {
		t.Errorf("%d refs in the store, want 3", got)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("the sync took %v: it cannot have waited for the reset", d)
	}
	if !strings.Contains(log.String(), "rate limit reached; waiting for it to reset") {
		t.Errorf("the log does not say it waited:\n%s", log.String())
	}
	if got := metricSum(t, reg, "datakit_github_rate_limit_waits_total"); got < 1 {
		t.Errorf("datakit_github_rate_limit_waits_total = %v", got)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
