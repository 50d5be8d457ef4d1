package cimain_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/dkgo/datakit/internal/gitfixture"
)

// TestHelloGitHubEndToEnd runs examples/hello as a GitHub CI, one process
// with its embedded store and the bridge inside: a PR opened on the
// GitHub stand-in gets the CI's status there, and follows its head.
func TestHelloGitHubEndToEnd(t *testing.T) {
	bin := buildExample(t, "hello")
	gh := fakegithub.New(fakegithub.Options{})
	defer gh.Close()
	tok, _ := gh.AddUser("me")
	gh.CreateRepo("me/my-project", fakegithub.RepoOptions{})
	sha := func(n int) string { return fmt.Sprintf("%040x", n) }
	gh.Push("me/my-project", fakegithub.Push{Ref: "refs/heads/main", SHA: sha(1)})
	hook := fmt.Sprintf("http://127.0.0.1:%d/github", gitfixture.FreePort(t))
	p := start(t, bin, "--state-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--github-repo", "me/my-project",
		"--github-url", gh.URL(), "--github-token-file", writeToken(t, tok, 0o600), "--github-webhook", hook)

	status := func(c string) string {
		sts, _ := gh.Statuses("me/my-project", c)
		for i := len(sts) - 1; i >= 0; i-- {
			if sts[i].Context == "ci/datakit/my-test" {
				return sts[i].State + " " + sts[i].Description
			}
		}
		return ""
	}
	waitGH := func(c string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for status(c) != "success Success!" {
			if time.Now().After(deadline) {
				t.Fatalf("no status of %s on GitHub", c[:8])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitGH(sha(1))
	gh.Push("me/my-project", fakegithub.Push{Ref: "refs/heads/fix", SHA: sha(2)})
	gh.OpenPR("me/my-project", fakegithub.NewPR{Title: "Fix", Head: "fix"})
	waitGH(sha(2))
	gh.Push("me/my-project", fakegithub.Push{Ref: "refs/heads/fix", SHA: sha(3)})
	waitGH(sha(3))
	if out := p.output(); !strings.Contains(out, "targets: from GitHub") || strings.Contains(out, tok) {
		t.Errorf("output (want the GitHub targets line, and no token):\n%s", out)
	}
}

// Two CIs on one GitHub repository, as processes (examples/hello twice,
// each with its own embedded store, bridge and web UI, so their statuses
// differ by their target URLs): each sends its status, neither fights
// the other's, and the calls to GitHub stop growing. (They ping-ponged:
// each bridge imported the other's status, its CI wrote its own back,
// and the bridge sent it again, up to GitHub's 1000 statuses a context.)
func TestTwoGitHubCIsSettle(t *testing.T) {
	bin := buildExample(t, "hello")
	gh := fakegithub.New(fakegithub.Options{})
	defer gh.Close()
	tok, _ := gh.AddUser("me")
	gh.CreateRepo("me/my-project", fakegithub.RepoOptions{})
	main := fmt.Sprintf("%040x", 1)
	gh.Push("me/my-project", fakegithub.Push{Ref: "refs/heads/main", SHA: main})
	tokFile := writeToken(t, tok, 0o600)
	var args [2][]string
	var cis [2]*process
	for i := range 2 {
		hook := fmt.Sprintf("http://127.0.0.1:%d/github", gitfixture.FreePort(t))
		args[i] = []string{"--state-dir", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", gitfixture.FreePort(t)), "--github-repo", "me/my-project",
			"--github-url", gh.URL(), "--github-token-file", tokFile, "--github-webhook", hook}
		cis[i] = start(t, bin, args[i]...)
	}
	urls := func() map[string]bool {
		sts, _ := gh.Statuses("me/my-project", main)
		out := map[string]bool{}
		for _, s := range sts {
			if s.Context == "ci/datakit/my-test" && s.State == "success" {
				out[s.TargetURL] = true
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(urls()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the two CIs' statuses did not reach GitHub: %v", urls())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Settled: no more calls in a few seconds (webhooks go both ways at
	// once on loopback; a ping-pong makes hundreds of calls a second).
	settle := func() int {
		t.Helper()
		var before, after int
		deadline := time.Now().Add(60 * time.Second)
		for {
			before, _ = gh.TotalCalls()
			time.Sleep(3 * time.Second)
			if after, _ = gh.TotalCalls(); after == before || time.Now().After(deadline) {
				break
			}
		}
		if after != before {
			t.Fatalf("GitHub calls still growing after a minute: %d, then %d 3s later", before, after)
		}
		return after
	}
	calls := settle()
	sts, _ := gh.Statuses("me/my-project", main)
	t.Logf("%d statuses of main on GitHub, %d calls", len(sts), calls)
	if len(sts) > 8 {
		t.Errorf("%d statuses of main on GitHub, want each CI's pending and success about once", len(sts))
	}

	// The CI whose status GitHub does not show (the other's came last),
	// killed (SIGKILL) and started again, sends GitHub nothing: its
	// status is there already, replaced by the other's.
	k := 0
	if strings.Contains(sts[len(sts)-1].TargetURL, args[0][3]) {
		k = 1
	}
	cis[k].cmd.Process.Kill()
	<-cis[k].done
	cis[k].done <- nil
	posts := gh.Count("POST /repos/{owner}/{repo}/statuses/{sha}")
	start(t, bin, args[k]...)
	deadline = time.Now().Add(60 * time.Second)
	for c, _ := gh.TotalCalls(); c <= calls; c, _ = gh.TotalCalls() {
		if time.Now().After(deadline) {
			t.Fatal("the restarted CI's bridge called nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	settle()
	if got := gh.Count("POST /repos/{owner}/{repo}/statuses/{sha}"); got != posts {
		after, _ := gh.Statuses("me/my-project", main)
		t.Errorf("the restarted CI sent %d statuses again; main's: %+v", got-posts, after[len(sts):])
	}
}
