package main

import (
	"fmt"
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
