package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/internal/gitfixture"
)

// fakeGitHubProcess is the fakegithub command running as a process.
type fakeGitHubProcess struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
	url  string
}

// startFakeGitHub builds and starts the fakegithub command, and waits for
// the URL it prints.
func startFakeGitHub(t *testing.T, args ...string) *fakeGitHubProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakegithub")
	if out, err := exec.Command("go", "build", "-o", bin, "../../internal/fakegithub/cmd/fakegithub").CombinedOutput(); err != nil {
		t.Fatalf("go build fakegithub: %v\n%s", err, out)
	}
	p := &fakeGitHubProcess{cmd: exec.Command(bin, args...), out: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			t.Errorf("fakegithub did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("fakegithub's output:\n%s", p.out.String())
		}
	})
	wait(t, "fakegithub's URL", 20*time.Second, func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "fakegithub: GitHub stand-in at "); ok {
				p.url = strings.Fields(rest)[0]
				return true
			}
		}
		return false
	})
	return p
}

// control calls the stand-in's control API: a GET without body, else a
// POST of body; it decodes the answer into out.
func (p *fakeGitHubProcess) control(t *testing.T, what string, body any, out any) {
	t.Helper()
	var resp *http.Response
	var err error
	if body == nil {
		resp, err = http.Get(p.url + "/_fakegithub/" + what)
	} else {
		b, _ := json.Marshal(body)
		resp, err = http.Post(p.url+"/_fakegithub/"+what, "application/json", strings.NewReader(string(b)))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("control %s: %s", what, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// The stand-in as a user runs it: fakegithub mirrors a local repository,
// datakit github-bridge (a process too) syncs a store with it, a commit
// in the repository reaches the store, a PR opened over the control API
// too, a status written to the store reaches the stand-in; a bridge
// killed and started again sends nothing again; fakegithub says on exit
// how many calls it answered.
func TestFakeGitHubEndToEnd(t *testing.T) {
	gitfixture.Need(t)
	repoDir := filepath.Join(t.TempDir(), "proj")
	g := gitfixture.NewRepo(t, repoDir)
	first := g.Commit("first", map[string]string{"README": "hi\n"})
	tokFile := filepath.Join(t.TempDir(), "token")
	hook := "http://" + freeAddr(t) + "/github"
	fg := startFakeGitHub(t, "--repo", "alice/proj:"+repoDir, "--token-file", tokFile, "--poll", "100ms")
	for _, want := range []string{"token: ghp_", "written to " + tokFile, "repository alice/proj: 1 refs from " + repoDir, "try: datakit github-bridge --github-url " + fg.url} {
		if !strings.Contains(fg.out.String(), want) {
			t.Errorf("fakegithub's output lacks %q:\n%s", want, fg.out.String())
		}
	}

	bin := buildDatakit(t)
	st, url := serveMemory(t)
	repo := bridge.Repo{User: "alice", Name: "proj"}
	args := []string{"--store", url, "-r", "alice/proj", "--github-url", fg.url, "--token-file", tokFile, "--webhook", hook,
		"--capabilities", "*:r,status[ci/datakit]:x,webhook:rw", "-v"}
	br := startBridge(t, bin, "", args...)
	waitBranch(t, st, repo, "master", first)
	second := g.Commit("second", nil)
	waitBranch(t, st, repo, "master", second) // polled by fakegithub, then its webhook
	g.Git("branch", "fix", first)
	waitBranch(t, st, repo, "fix", first)
	var pr struct{ Number int }
	fg.control(t, "pulls", map[string]string{"repo": "alice/proj", "title": "Fix", "head": "fix"}, &pr)
	wait(t, "the PR in the store", 20*time.Second, func() bool {
		r, _, _ := bridge.Snapshot(t.Context(), st, bridge.DefaultBranch)
		p, ok, _ := bridge.ReadPR(t.Context(), r, repo, pr.Number)
		return ok && p.Title == "Fix" && p.Head == first
	})
	writeStatus(t, st, bridge.Status{Repo: repo, Commit: second, Context: "ci/datakit/test", State: "success", Description: "Passed"})
	type status struct{ State, Context string }
	statuses := func(sha string) []status {
		var sts []status
		fg.control(t, "statuses?repo=alice/proj&sha="+sha, nil, &sts)
		return sts
	}
	wait(t, "the status on the stand-in", 20*time.Second, func() bool {
		sts := statuses(second)
		return len(sts) == 1 && sts[0] == status{"success", "ci/datakit/test"}
	})

	// kill -9, and again.
	br.cmd.Process.Kill()
	<-br.done
	br.done <- nil
	var calls []struct{ Seq int64 }
	fg.control(t, "calls", nil, &calls)
	var stats struct{ Calls int }
	startBridge(t, bin, "", args...)
	wait(t, "the restarted bridge's first sync", 20*time.Second, func() bool {
		fg.control(t, "stats", nil, &stats)
		return stats.Calls > len(calls)+3
	})
	time.Sleep(time.Second)
	if sts := statuses(second); len(sts) != 1 {
		t.Errorf("the status was sent again after the restart: %+v", sts)
	}

	fg.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-fg.done:
		fg.done <- err
		if err != nil {
			t.Errorf("fakegithub exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fakegithub did not stop on SIGTERM")
	}
	if out := fg.out.String(); !strings.Contains(out, "fakegithub: stopped after ") || !strings.Contains(out, "POST /repos/{owner}/{repo}/statuses/{sha}") {
		t.Errorf("fakegithub's last words lack its call counts:\n%s", out)
	}
}
