package ci_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// BenchmarkHeadUpdate measures, with N open PRs × 3 jobs on an in-memory
// store, the time from one PR's head update (a commit on the metadata
// branch, as a bridge makes) to its new pending statuses in the store, the
// CPU the engine spends per update, and the RSS. It reports the latency
// also as a ratio to the bridge's own commit of the update.
//
//	go test -run '^$' -bench HeadUpdate -benchtime 200x ./ci
func BenchmarkHeadUpdate(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("prs=%d", n), func(b *testing.B) { benchHeadUpdate(b, n) })
	}
}

func benchHeadUpdate(b *testing.B, n int) {
	ctx := context.Background()
	store := dkstore.NewMemory(dkstore.Options{})
	b.Cleanup(func() { store.Close() })
	repo := bridge.Repo{User: "me", Name: "big"}
	br, _ := store.Branch(bridge.DefaultBranch)
	tx, _ := br.Transaction(ctx, dkstore.TxOptions{})
	for i := 1; i <= n; i++ {
		if err := bridge.WritePR(ctx, tx, bridge.PR{Repo: repo, Number: i, Head: fakeSHA(i, 0), State: "open", Title: "PR " + strconv.Itoa(i), Owner: "me", Base: "master"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := tx.Commit(ctx, "many PRs"); err != nil {
		b.Fatal(err)
	}
	pending := term.Pendingf[string]("Building")
	cfg := ci.Config{Projects: []ci.Project{{Repo: repo.String(), Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"build": pending, "test": pending, "lint": pending}
	}}}}
	start := time.Now()
	h := citest.New(b, cfg, citest.WithStore(store), citest.WithOptions(ci.Options{Logger: quietLogger()}))
	h.Timeout = 10 * time.Minute
	h.Settle()
	setup := time.Since(start)
	rssSetup := rssMB()

	var lat, commit []time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pr := 1 + (i*7919)%n
		head := fakeSHA(pr, i+1)
		t0 := time.Now()
		tx, _ := br.Transaction(ctx, dkstore.TxOptions{})
		p, _, _ := bridge.ReadPR(ctx, tx, repo, pr)
		p.Head = head
		if err := bridge.WritePR(ctx, tx, p); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Commit(ctx, "move"); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		h.Settle()
		t2 := time.Now()
		commit = append(commit, t1.Sub(t0))
		lat = append(lat, t2.Sub(t1))
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	h.WantStatus(repo.String(), fakeSHA(1+((b.N-1)*7919)%n, b.N), "build", ci.Pending, "Building")
	p50, p99 := pct(lat, 50), pct(lat, 99)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(p50)/float64(pct(commit, 50)), "p50/commit")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/update")
	b.ReportMetric(rssSetup, "rss-after-setup-MB")
	b.ReportMetric(rssMB(), "rss-at-end-MB") // includes the in-memory store's history
	b.Logf("N=%d: initial evaluation %v (RSS %.0f MB); update→pending p50 %v p99 %v; bridge's commit p50 %v; CPU %v/update",
		n, setup.Round(time.Millisecond), rssSetup, p50, p99, pct(commit, 50), cpu/time.Duration(b.N))
}

func fakeSHA(pr, gen int) string {
	s := fmt.Sprintf("%08x%08x", pr, gen)
	return s + strings.Repeat("0", 40-len(s))
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
