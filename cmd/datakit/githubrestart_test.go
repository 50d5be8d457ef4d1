package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// statusPosts returns the POSTs of statuses in the stand-in's call log
// after call seq.
func statusPosts(gh *fakegithub.Server, after int64) []string {
	var out []string
	for _, c := range gh.Calls() {
		if c.Seq > after && c.Route == "POST /repos/{owner}/{repo}/statuses/{sha}" {
			out = append(out, c.Path)
		}
	}
	return out
}

func lastSeq(gh *fakegithub.Server) int64 {
	cs := gh.Calls()
	if len(cs) == 0 {
		return 0
	}
	return cs[len(cs)-1].Seq
}

// A bridge killed (SIGKILL) and started again while GitHub moved on
// sends GitHub nothing it already has: the statuses of a commit that is
// no longer a head (main moved while the bridge was down) are on GitHub
// already, and are pruned from the store without being sent again.
func TestGitHubBridgeRestartSendsNothingOld(t *testing.T) {
	bin := buildDatakit(t)
	gh, tok := newFakeGitHub(t, fakegithub.Options{})
	st, url := serveMemory(t)
	repo := bridge.Repo{User: "alice", Name: "proj"}
	args := []string{"--store", url, "--repositories", "alice/proj", "--github-url", gh.URL(),
		"--capabilities", "*:r,status[ci/datakit]:x,webhook:rw", "--resync-interval", "1s", "-v"}
	p := startBridge(t, bin, tok, args...)
	waitBranch(t, st, repo, "main", ghSHA(1))
	for i := range 3 {
		writeStatus(t, st, bridge.Status{Repo: repo, Commit: ghSHA(1), Context: fmt.Sprintf("ci/datakit/job%d", i), State: "success", Description: "Passed"})
	}
	wait(t, "the statuses on GitHub", 20*time.Second, func() bool { sts, _ := gh.Statuses("alice/proj", ghSHA(1)); return len(sts) == 3 })
	time.Sleep(300 * time.Millisecond) // the sync that sent them commits
	p.cmd.Process.Kill()
	<-p.done
	p.done <- nil

	// main moves on while no bridge runs.
	gh.Push("alice/proj", fakegithub.Push{Ref: "refs/heads/main", SHA: ghSHA(2)})
	seq := lastSeq(gh)
	startBridge(t, bin, tok, args...)
	waitBranch(t, st, repo, "main", ghSHA(2))
	wait(t, "the old commit pruned from the store", 20*time.Second, func() bool {
		_, ok := readStatus(t, st, repo, ghSHA(1), "ci/datakit/job0")
		return !ok
	})
	time.Sleep(2 * time.Second) // resyncs that would send something have time to
	if posts := statusPosts(gh, seq); len(posts) != 0 {
		t.Errorf("the restarted bridge sent %d statuses GitHub had: %s", len(posts), strings.Join(posts, ", "))
	}
	if sts, _ := gh.Statuses("alice/proj", ghSHA(1)); len(sts) != 3 {
		t.Errorf("%d statuses of the old commit on GitHub, want the 3 sent before the restart", len(sts))
	}
}

// A token GitHub rejects stops datakit github-bridge at once (there is
// nothing to retry), with an error naming where the token came from;
// missing credentials name the flag and the variable to set.
func TestGitHubBridgeBadToken(t *testing.T) {
	gh, _ := newFakeGitHub(t, fakegithub.Options{})
	bad := filepath.Join(t.TempDir(), "token")
	os.WriteFile(bad, []byte("ghp_wrong\n"), 0o600)
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--token-file", bad}, "", "GitHub rejected the token from --token-file " + bad + ": 401 Unauthorized: Bad credentials, to list the open PRs of alice/proj; give a valid one"},
		{nil, "ghp_wrong", "GitHub rejected the token from GITHUB_TOKEN (no --token-file): 401"},
		{nil, "", "no GitHub credentials: give --token-file FILE (a file holding a token) or set GITHUB_TOKEN"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		args := append([]string{"--store", t.TempDir(), "-r", "alice/proj", "--github-url", gh.URL()}, c.args...)
		err := runGitHubBridge(ctx, args, io.Discard, func(k string) string { return map[string]string{"GITHUB_TOKEN": c.env}[k] })
		if ctx.Err() != nil {
			t.Errorf("github-bridge %q with GITHUB_TOKEN=%q did not stop", c.args, c.env)
		}
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.HasSuffix(err.Error(), "invalid argument") {
			t.Errorf("github-bridge %q with GITHUB_TOKEN=%q = %v, want an error saying %q", c.args, c.env, err, c.want)
		}
	}
}

// What a user typing a bad command line reads: the flag, the value, what
// is wanted; no ": invalid argument" errno text; the capabilities checked
// before the credentials are looked for.
func TestGitHubBridgeMessages(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", "me"}, `--repositories: "me" is not USER/REPO`},
		{[]string{"-r", "me/p", "--capabilities", "pr;r"}, `--capabilities: "pr;r": ';' (character 3) is not a separator`},
		{[]string{"-r", "me/p", "--webhook-listen", ":80"}, "--webhook-listen needs --webhook URL"},
		{[]string{"-r", "me/p", "--resync-interval", "soon"}, `--resync-interval: "soon" is neither seconds nor a duration`},
	} {
		err := runGitHubBridge(t.Context(), c.args, io.Discard, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "invalid argument") {
			t.Errorf("github-bridge %q = %v, want an error saying %q", c.args, err, c.want)
		}
	}
}

// Two datakit github-bridge processes, each beside its own store where a
// CI keeps its value of one status (writing it back whenever something
// else replaces it, as the CI engine does), settle: the calls to GitHub
// stop growing. (Each bridge imported the other's value, its CI put its
// own back, the bridge sent it again: ping-pong until GitHub's limit of
// 1000 statuses a context.)
func TestTwoGitHubBridgesSettle(t *testing.T) {
	bin := buildDatakit(t)
	gh, tok := newFakeGitHub(t, fakegithub.Options{})
	repo := bridge.Repo{User: "alice", Name: "proj"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ciDone := make(chan struct{}, 2)
	for i := range 2 {
		st, url := serveMemory(t)
		startBridge(t, bin, tok, "--store", url, "-r", "alice/proj", "--github-url", gh.URL(), "--webhook", "http://"+freeAddr(t)+"/github")
		waitBranch(t, st, repo, "main", ghSHA(1))
		mine := fmt.Sprintf("by CI %d", i)
		go func() { // the CI
			defer func() { ciDone <- struct{}{} }()
			for ctx.Err() == nil {
				if s, ok := readStatus(t, st, repo, ghSHA(1), "ci/datakit/test"); !ok || s.Description != mine {
					writeStatus(t, st, bridge.Status{Repo: repo, Commit: ghSHA(1), Context: "ci/datakit/test", State: "success", Description: mine})
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	defer func() { cancel(); <-ciDone; <-ciDone }()
	wait(t, "both CIs' statuses on GitHub", 30*time.Second, func() bool {
		sts, _ := gh.Statuses("alice/proj", ghSHA(1))
		seen := map[string]bool{}
		for _, s := range sts {
			seen[s.Description] = true
		}
		return len(seen) == 2
	})
	var before, after int
	deadline := time.Now().Add(60 * time.Second)
	for {
		before, _ = gh.TotalCalls()
		time.Sleep(3 * time.Second)
		if after, _ = gh.TotalCalls(); after == before || time.Now().After(deadline) {
			break
		}
	}
	sts, _ := gh.Statuses("alice/proj", ghSHA(1))
	t.Logf("%d statuses on GitHub, %d calls", len(sts), after)
	if after != before || len(sts) > 4 {
		t.Errorf("not settled: %d calls, %d 3s later; %d statuses on GitHub", before, after, len(sts))
	}
}
