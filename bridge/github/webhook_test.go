package github_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/internal/fakegithub"
)

var secret = []byte("a shared secret")

// running is a bridge run by Run, with its webhook served.
type running struct {
	b    *github.Bridge
	hook *httptest.Server
	url  string
	stop func()
}

// run starts a bridge with a webhook and no resync: what changes on
// GitHub reaches it by webhooks only.
func (e *env) run(opts github.Options) *running {
	e.t.Helper()
	r := &running{}
	r.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.b.Handler().ServeHTTP(w, req) }))
	r.url = r.hook.URL + "/hooks/github"
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = -1
	}
	opts.Webhook = &github.HookConfig{URL: r.url, Secret: secret}
	r.b = e.newBridge(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.b.Run(ctx) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run = %v", err)
		}
		r.hook.Close()
	}
	e.t.Cleanup(r.stop)
	return r
}

// waitFor polls cond until it holds, or fails the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The five events reach the store through the registered webhook.
func TestWebhookEvents(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	r := e.run(github.Options{})
	waitFor(t, "the webhook", func() bool {
		hs, _ := e.gh.Hooks(repoName)
		return len(hs) == 1
	})
	hs, _ := e.gh.Hooks(repoName)
	if h := hs[0]; h.URL != r.url || h.ContentType != "json" || h.Secret != string(secret) || !h.Active ||
		!slices.Equal(h.Events, []string{"create", "delete", "push", "status", "pull_request"}) {
		t.Errorf("webhook = %+v", h)
	}
	waitFor(t, "main", func() bool { return e.storeRefs()["heads/main"] == sha(1) })

	// create and push
	e.push("refs/heads/feature", sha(2))
	waitFor(t, "the new branch", func() bool { return e.storeRefs()["heads/feature"] == sha(2) })
	// pull_request opened, and the statuses of its head
	e.gh.SetStatus(repoName, sha(3), fakegithub.Status{State: "failure", Context: "lint"}) // unknown commit: refused
	e.push("refs/heads/fix", sha(3))
	e.gh.SetStatus(repoName, sha(3), fakegithub.Status{State: "pending", Context: "other"})
	n := e.openPR("fix", "Fix")
	waitFor(t, "the PR", func() bool { pr, ok := e.storePRs()[n]; return ok && pr.Head == sha(3) })
	waitFor(t, "the PR's status", func() bool { return e.storeStatuses(sha(3))["other"] == "pending " })
	// status
	e.gh.SetStatus(repoName, sha(3), fakegithub.Status{State: "success", Context: "other", Description: "Done"})
	waitFor(t, "the new status", func() bool { return e.storeStatuses(sha(3))["other"] == "success Done" })
	// pull_request synchronize
	e.push("refs/heads/fix", sha(4))
	waitFor(t, "the PR's new head", func() bool { return e.storePRs()[n].Head == sha(4) })
	waitFor(t, "the old head's statuses pruned", func() bool { return len(e.storeStatuses(sha(3))) == 0 })
	// pull_request edited and closed
	title := "Fix everything"
	e.gh.EditPR(repoName, n, fakegithub.PREdit{Title: &title})
	waitFor(t, "the new title", func() bool { return e.storePRs()[n].Title == title })
	closed := "closed"
	e.gh.EditPR(repoName, n, fakegithub.PREdit{State: &closed})
	waitFor(t, "the closed PR pruned", func() bool { _, ok := e.storePRs()[n]; return !ok })
	// delete (and a push with no head)
	e.gh.Push(repoName, fakegithub.Push{Ref: "refs/heads/feature"})
	waitFor(t, "the deleted branch", func() bool { _, ok := e.storeRefs()["heads/feature"]; return !ok })
	// tags
	e.gh.Push(repoName, fakegithub.Push{Ref: "refs/tags/v1", SHA: sha(1), TagMessage: "Version 1"})
	waitFor(t, "the tag", func() bool { return e.storeRefs()["tags/v1"] == sha(1) })
}

func sign(body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// A delivery with a bad or missing signature is answered 401 and changes
// nothing; a good one is accepted.
func TestWebhookSignature(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	b := e.newBridge(github.Options{Webhook: &github.HookConfig{URL: "http://example.com/hooks", Secret: secret}, ResyncInterval: -1})
	e.sync(b)
	e.gh.ResetStats()
	head := e.head()
	body := []byte(`{"ref":"refs/heads/main","before":"` + sha(1) + `","after":"` + sha(9) + `","created":false,"deleted":false,` +
		`"head_commit":{"id":"` + sha(9) + `"},"repository":{"full_name":"alice/proj","name":"proj"}}`)
	for _, tc := range []struct {
		name, sig string
		want      int
	}{
		{"missing", "", 401},
		{"bad", sign([]byte("other")), 401},
		{"sha1 only", "sha1=" + strings.Repeat("0", 40), 401},
		{"not hex", "sha256=zz", 401},
		{"good", sign(body), 200},
	} {
		req := httptest.NewRequest("POST", "http://example.com/hooks", strings.NewReader(string(body)))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("Content-Type", "application/json")
		if tc.sig != "" {
			req.Header.Set("X-Hub-Signature-256", tc.sig)
		}
		w := httptest.NewRecorder()
		b.Handler().ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s signature: %d, want %d", tc.name, w.Code, tc.want)
		}
		if tc.want == 401 {
			e.sync(b)
			if c := e.calls(); len(c) != 0 || e.head() != head {
				t.Errorf("a delivery with a %s signature changed something: calls %s", tc.name, fmtCalls(c))
			}
		}
	}
	// The good one names a branch head the bridge does not know: it reads
	// the branch again.
	e.sync(b)
	if got := e.calls()["GET /repos/{owner}/{repo}/git/ref/{ref}"]; got != 1 {
		t.Errorf("after a good delivery, %s; want the ref read", fmtCalls(e.calls()))
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"GET", "/hooks", 405}, {"POST", "/other", 404}} {
		w := httptest.NewRecorder()
		b.Handler().ServeHTTP(w, httptest.NewRequest(tc.method, "http://example.com"+tc.path, nil))
		if w.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.want)
		}
	}
}

// Without webhooks, Run reads GitHub again every ResyncInterval.
func TestResyncTimer(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	b := e.newBridge(github.Options{ResyncInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "main", func() bool { return e.storeRefs()["heads/main"] == sha(1) })
	e.push("refs/heads/main", sha(2))
	e.gh.SetStatus(repoName, sha(2), fakegithub.Status{State: "success", Context: "other"})
	waitFor(t, "the resync", func() bool {
		return e.storeRefs()["heads/main"] == sha(2) && e.storeStatuses(sha(2))["other"] == "success "
	})
}
