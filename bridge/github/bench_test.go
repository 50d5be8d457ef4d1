package github_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// callWatcher is a transport that reports when the bridge sends a status
// to GitHub.
type callWatcher struct {
	next  http.RoundTripper
	posts chan time.Time
}

func (w *callWatcher) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/statuses/") {
		select {
		case w.posts <- time.Now():
		default:
		}
	}
	return w.next.RoundTrip(r)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkStatusLatency measures, with the bridge running with webhooks
// (no polling), the time from a status committed to the store to the
// bridge's request setting it on GitHub; p50 and p99 in ms. The
// baseline is one CreateStatus round trip to the stand-in, made
// directly with go-github.
func BenchmarkStatusLatency(b *testing.B) {
	e := newEnv(b)
	e.push("refs/heads/main", sha(1))
	w := &callWatcher{next: http.DefaultTransport, posts: make(chan time.Time, 1)}
	var br *github.Bridge
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { br.Handler().ServeHTTP(w, r) }))
	defer hook.Close()
	opts := github.Options{ResyncInterval: -1, Monitor: []bridge.Repo{e.repo}, Webhook: &github.HookConfig{URL: hook.URL + "/hook", Secret: secret}}
	gcfg := e.github()
	gcfg.Transport = w
	br, err := github.New(e.store, gcfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(b, "the first sync", func() bool { return e.storeRefs()["heads/main"] == sha(1) })
	waitFor(b, "the webhook", func() bool { hs, _ := e.gh.Hooks(repoName); return len(hs) == 1 })

	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		e.writeStatus(sha(1), "ci/datakit/bench", []string{"pending", "success"}[i%2], fmt.Sprint(i))
		select {
		case at := <-w.posts:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("the status did not reach GitHub")
		}
	}
	b.StopTimer()
	// Each status came back by webhook, and was accepted.
	waitFor(b, "the status events", func() bool {
		events := 0
		for _, d := range e.gh.Deliveries() {
			if d.Event == "status" && d.Status == 200 {
				events++
			}
		}
		return events >= b.N
	})

	c, _ := gh.NewClient(nil).WithAuthToken(e.token).WithEnterpriseURLs(e.gh.URL(), e.gh.URL())
	var base []time.Duration
	for i := range 50 {
		t0 := time.Now()
		c.Repositories.CreateStatus(ctx, "alice", "proj", sha(1), &gh.RepoStatus{State: gh.String("success"), Context: gh.String(fmt.Sprint("direct", i))})
		base = append(base, time.Since(t0))
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(base, 0.5)), "direct-call-p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.5))/float64(percentile(base, 0.5)), "p50/direct")
}

// BenchmarkResync1000 measures a first sync of a repository with 1,000
// open PRs (each with its own head branch) and then a resync with
// nothing changed: wall time, API calls, and how many were answered 304.
// The baseline is the stand-in listing the 1,000 PRs (10 pages) once.
func BenchmarkResync1000(b *testing.B) {
	for range b.N {
		b.StopTimer()
		s := fakegithub.New(fakegithub.Options{})
		tok, _ := s.AddUser("alice")
		s.CreateRepo(repoName, fakegithub.RepoOptions{})
		s.Push(repoName, fakegithub.Push{Ref: "refs/heads/main", SHA: sha(1)})
		for i := range 1000 {
			s.Push(repoName, fakegithub.Push{Ref: fmt.Sprintf("refs/heads/b%d", i), SHA: sha(i + 2)})
			s.OpenPR(repoName, fakegithub.NewPR{Title: fmt.Sprint("PR ", i), Head: fmt.Sprintf("b%d", i), Body: "body"})
			if i%10 == 0 {
				s.SetStatus(repoName, sha(i+2), fakegithub.Status{State: "success", Context: "other"})
			}
		}
		e := newEnv(b)
		e.gh, e.token = s, tok
		br := e.newBridge(github.Options{})
		ctx := context.Background()
		c, _ := gh.NewClient(nil).WithAuthToken(tok).WithEnterpriseURLs(s.URL(), s.URL())
		t0 := time.Now()
		opts := &gh.PullRequestListOptions{ListOptions: gh.ListOptions{PerPage: 100}}
		for {
			_, resp, err := c.PullRequests.List(ctx, "alice", "proj", opts)
			if err != nil {
				b.Fatal(err)
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		listing := time.Since(t0)
		s.ResetStats()

		b.StartTimer()
		t1 := time.Now()
		e.sync(br)
		first := time.Since(t1)
		b.StopTimer()
		calls, _ := s.TotalCalls()
		if n := len(e.storePRs()); n != 1000 {
			b.Fatalf("%d PRs in the store", n)
		}
		s.ResetStats()
		br.Resync()
		t2 := time.Now()
		e.sync(br)
		again := time.Since(t2)
		calls2, notModified := s.TotalCalls()
		b.ReportMetric(first.Seconds(), "first-sync-s")
		b.ReportMetric(float64(calls), "first-sync-calls")
		b.ReportMetric(again.Seconds(), "resync-s")
		b.ReportMetric(float64(calls2), "resync-calls")
		b.ReportMetric(float64(notModified), "resync-304s")
		b.ReportMetric(first.Seconds()/listing.Seconds(), "first-sync/listing")
		s.Close()
	}
}
