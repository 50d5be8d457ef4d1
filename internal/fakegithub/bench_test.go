package fakegithub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
)

// BenchmarkListPulls1000 lists 1,000 open pull requests, 100 a page,
// through go-github: the stand-in's own cost in a resync.
func BenchmarkListPulls1000(b *testing.B) {
	s := fakegithub.New(fakegithub.Options{})
	defer s.Close()
	tok := must(s.AddUser("alice"))
	check(b, s.CreateRepo("alice/big", fakegithub.RepoOptions{}))
	check(b, s.Push("alice/big", fakegithub.Push{Ref: "refs/heads/main", SHA: sha1a}))
	for i := 0; i < 1000; i++ {
		sha := fmt.Sprintf("%040x", i+1)
		check(b, s.Push("alice/big", fakegithub.Push{Ref: fmt.Sprintf("refs/heads/b%d", i), SHA: sha}))
		must(s.OpenPR("alice/big", fakegithub.NewPR{Title: "PR", Head: fmt.Sprintf("b%d", i)}))
	}
	c := must(github.NewClient(s.Client()).WithAuthToken(tok).WithEnterpriseURLs(s.URL(), s.URL()))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		opts := &github.PullRequestListOptions{ListOptions: github.ListOptions{PerPage: 100}}
		n := 0
		for {
			prs, resp, err := c.PullRequests.List(ctx, "alice", "big", opts)
			check(b, err)
			n += len(prs)
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		if n != 1000 {
			b.Fatalf("listed %d", n)
		}
	}
}

// BenchmarkStatusToWebhook measures a status created through the API
// until its status event reaches a receiver.
func BenchmarkStatusToWebhook(b *testing.B) {
	s := fakegithub.New(fakegithub.Options{RateLimit: 1 << 30})
	defer s.Close()
	tok := must(s.AddUser("alice"))
	check(b, s.CreateRepo("alice/hello", fakegithub.RepoOptions{}))
	check(b, s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/main", SHA: sha1a}))
	got := make(chan struct{}, 1)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-GitHub-Event") == "status" {
			got <- struct{}{}
		}
	}))
	defer rc.Close()
	must(s.AddHook("alice/hello", fakegithub.Hook{URL: rc.URL, ContentType: "json", Secret: "x", Events: []string{"status"}}))
	c := must(github.NewClient(s.Client()).WithAuthToken(tok).WithEnterpriseURLs(s.URL(), s.URL()))
	ctx := context.Background()
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		_, _, err := c.Repositories.CreateStatus(ctx, "alice", "hello", sha1a, &github.RepoStatus{
			State: github.String("success"), Context: github.String(fmt.Sprintf("c%d", i%900)),
		})
		check(b, err)
		<-got
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/status+event")
}
