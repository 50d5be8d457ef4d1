package fakegithub_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
)

// A test sets up GitHub as its users would, then lets the code under test
// talk to it with go-github, and checks what it did and what it cost.
func Example() {
	s := fakegithub.New(fakegithub.Options{})
	defer s.Close()
	token, _ := s.AddUser("alice")
	s.CreateRepo("alice/hello", fakegithub.RepoOptions{})
	s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/main", SHA: "1111111111111111111111111111111111111111"})
	s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/fix", SHA: "2222222222222222222222222222222222222222"})
	s.OpenPR("alice/hello", fakegithub.NewPR{Title: "Fix it", Head: "fix"})

	// A webhook receiver, as the bridge would run.
	events := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payload, err := github.ValidatePayload(r, []byte("secret"))
		if err == nil {
			ev, _ := github.ParseWebHook(github.WebHookType(r), payload)
			if st, ok := ev.(*github.StatusEvent); ok {
				events <- st.GetContext() + " " + st.GetState()
			}
		}
		io.WriteString(w, "ok")
	}))
	defer hook.Close()

	// The code under test.
	ctx := context.Background()
	c, _ := github.NewClient(s.Client()).WithAuthToken(token).WithEnterpriseURLs(s.URL(), s.URL())
	c.Repositories.CreateHook(ctx, "alice", "hello", &github.Hook{
		Config: &github.HookConfig{URL: github.String(hook.URL), ContentType: github.String("json"), Secret: github.String("secret")},
		Events: []string{"status"},
	})
	prs, _, _ := c.PullRequests.List(ctx, "alice", "hello", nil)
	for _, pr := range prs {
		c.Repositories.CreateStatus(ctx, "alice", "hello", pr.GetHead().GetSHA(), &github.RepoStatus{
			State: github.String("success"), Context: github.String("ci/datakit/test"),
		})
	}

	s.FlushHooks(ctx)
	fmt.Println("event:", <-events)
	st, _ := s.Statuses("alice/hello", "2222222222222222222222222222222222222222")
	fmt.Println("statuses:", len(st), st[0].Context, st[0].State)
	fmt.Println("status calls:", s.Count("POST /repos/{owner}/{repo}/statuses/{sha}"))
	// Output:
	// event: ci/datakit/test success
	// statuses: 1 ci/datakit/test success
	// status calls: 1
}
