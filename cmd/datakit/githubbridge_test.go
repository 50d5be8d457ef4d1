package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
)

func ghSHA(n int) string { return fmt.Sprintf("%040x", n) }

// newFakeGitHub starts the GitHub stand-in with alice/proj and returns
// it with alice's token.
func newFakeGitHub(t *testing.T, opts fakegithub.Options) (*fakegithub.Server, string) {
	t.Helper()
	s := fakegithub.New(opts)
	t.Cleanup(s.Close)
	tok, err := s.AddUser("alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRepo("alice/proj", fakegithub.RepoOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Push("alice/proj", fakegithub.Push{Ref: "refs/heads/main", SHA: ghSHA(1)}); err != nil {
		t.Fatal(err)
	}
	return s, tok
}

// freeAddr returns a loopback address nobody listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readStatus(t *testing.T, st dkstore.Store, repo bridge.Repo, sha, context string) (bridge.Status, bool) {
	t.Helper()
	r, _, err := bridge.Snapshot(t.Context(), st, bridge.DefaultBranch)
	if err != nil {
		t.Fatal(err)
	}
	s, ok, err := bridge.ReadStatus(t.Context(), r, repo, sha, context)
	if err != nil {
		t.Fatal(err)
	}
	return s, ok
}

func writeStatus(t *testing.T, st dkstore.Store, s bridge.Status) {
	t.Helper()
	br, _ := st.Branch(bridge.DefaultBranch)
	tx, err := br.Transaction(t.Context(), dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := bridge.WriteStatus(t.Context(), tx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
}

func wait(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// datakit github-bridge against a DataKit server: branches in, statuses
// out, events through its webhook.
func TestGitHubBridge(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "")
	gh, tok := newFakeGitHub(t, fakegithub.Options{})
	st, url := serveMemory(t)
	hook := "http://" + freeAddr(t) + "/github"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"github-bridge", "--store", url, "--repositories", "alice/proj", "--github-url", gh.URL(),
			"--webhook", hook, "--no-resync"}, io.Discard, &stderr)
	}()
	repo := bridge.Repo{User: "alice", Name: "proj"}
	select {
	case err := <-done:
		// run reads GITHUB_TOKEN from the process's environment: without
		// it, it must say so.
		if err == nil || !strings.Contains(err.Error(), "no GitHub credentials") {
			t.Fatalf("github-bridge without credentials = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("github-bridge without credentials did not stop")
	}

	go func() {
		done <- runGitHubBridge(ctx, []string{"--store", url, "-r", "alice/proj", "--github-url", gh.URL(),
			"--webhook", hook, "--no-resync", "-v"}, &stderr, func(k string) string {
			if k == "GITHUB_TOKEN" {
				return tok
			}
			return ""
		})
	}()
	waitBranch(t, st, repo, "main", ghSHA(1))
	gh.Push("alice/proj", fakegithub.Push{Ref: "refs/heads/feature", SHA: ghSHA(2)})
	waitBranch(t, st, repo, "feature", ghSHA(2)) // by the webhook: there is no resync
	writeStatus(t, st, bridge.Status{Repo: repo, Commit: ghSHA(2), Context: "ci/datakit/test", State: "success", Description: "Passed"})
	wait(t, "the status on GitHub", 10*time.Second, func() bool {
		sts, _ := gh.Statuses("alice/proj", ghSHA(2))
		return len(sts) == 1 && sts[0].Context == "ci/datakit/test" && sts[0].State == "success"
	})
	// GitHub holds it before the bridge has its answer (and logs it).
	wait(t, "the bridge's log of it", 10*time.Second, func() bool { return strings.Contains(stderr.String(), "status set") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("github-bridge did not stop when its context ended")
	}
	for _, want := range []string{"syncing branch github-metadata of " + url, "webhook: " + hook, "Monitoring alice/proj", "status set", "stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), tok) {
		t.Errorf("stderr holds the token")
	}
}

func TestGitHubBridgeUsage(t *testing.T) {
	loose := filepath.Join(t.TempDir(), "token")
	os.WriteFile(loose, []byte("ghp_x"), 0o644)
	os.Chmod(loose, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--token-file", loose}, "world-readable"},
		{[]string{"--token-file", loose + ".none"}, "no such file"},
		{[]string{"--repositories", "nobody"}, "--repositories"},
		{[]string{"--capabilities", "*:z"}, "--capabilities"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		err := runGitHubBridge(t.Context(), tc.args, io.Discard, func(string) string { return "ghp_env" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("github-bridge %q = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// buildDatakit builds this command.
func buildDatakit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "datakit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// bridgeProcess is datakit github-bridge running as a process.
type bridgeProcess struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

func startBridge(t *testing.T, bin, tok string, args ...string) *bridgeProcess {
	t.Helper()
	p := &bridgeProcess{cmd: exec.Command(bin, append([]string{"github-bridge"}, args...)...), out: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "GITHUB_TOKEN="+tok)
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
			t.Errorf("the bridge did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("bridge output:\n%s", p.out.String())
		}
	})
	return p
}

// A bridge killed (SIGKILL) in the middle of syncs and started again
// loses nothing and repeats nothing: every status written to the store
// reaches GitHub once, the webhook is not registered twice.
func TestGitHubBridgeKilled(t *testing.T) {
	bin := buildDatakit(t)
	// Half the requests are slow: syncs are long, and the kill lands in
	// one, with requests in flight.
	gh, tok := newFakeGitHub(t, fakegithub.Options{Faults: fakegithub.Faults{Seed: 5, Slow: 0.5, Delay: 200 * time.Millisecond}})
	for i := 2; i < 6; i++ {
		gh.Push("alice/proj", fakegithub.Push{Ref: fmt.Sprintf("refs/heads/b%d", i), SHA: ghSHA(i)})
	}
	st, url := serveMemory(t)
	repo := bridge.Repo{User: "alice", Name: "proj"}
	hook := "http://" + freeAddr(t) + "/github"
	args := []string{"--store", url, "--repositories", "alice/proj", "--github-url", gh.URL(), "--webhook", hook,
		"--capabilities", "*:r,status[ci/datakit]:x,webhook:rw", "-v"}
	p := startBridge(t, bin, tok, args...)
	waitBranch(t, st, repo, "b5", ghSHA(5))

	const n = 30
	for i := range n {
		writeStatus(t, st, bridge.Status{Repo: repo, Commit: ghSHA(2 + i%4), Context: fmt.Sprintf("ci/datakit/job%d", i), State: "success", Description: fmt.Sprint(i)})
	}
	// onGitHub counts the contexts with a status on GitHub, the most
	// statuses one context got, and the statuses that differ from what
	// the store says (a change visible on GitHub).
	onGitHub := func() (total, worst, wrong int) {
		for c := 2; c < 6; c++ {
			sts, _ := gh.Statuses("alice/proj", ghSHA(c))
			per := map[string]int{}
			for _, s := range sts {
				per[s.Context]++
				worst = max(worst, per[s.Context])
				var i int
				fmt.Sscanf(s.Context, "ci/datakit/job%d", &i)
				want := "success"
				if i >= n {
					want = "failure"
				}
				if s.Description != fmt.Sprint(i) || s.State != want || ghSHA(2+i%4) != ghSHA(c) {
					wrong++
				}
			}
			total += len(per)
		}
		return total, worst, wrong
	}
	wait(t, "some statuses on GitHub", 20*time.Second, func() bool { total, _, _ := onGitHub(); return total >= 3 })
	p.cmd.Process.Kill()
	<-p.done
	p.done <- nil
	if total, _, _ := onGitHub(); total == n {
		t.Fatalf("all %d statuses were sent before the kill: it did not land mid-sync", n)
	}
	// More statuses while no bridge runs.
	for i := n; i < n+5; i++ {
		writeStatus(t, st, bridge.Status{Repo: repo, Commit: ghSHA(2 + i%4), Context: fmt.Sprintf("ci/datakit/job%d", i), State: "failure", Description: fmt.Sprint(i)})
	}
	startBridge(t, bin, tok, args...)
	wait(t, "every status on GitHub", 30*time.Second, func() bool { total, _, _ := onGitHub(); return total == n+5 })
	time.Sleep(500 * time.Millisecond) // a sync that would repeat one has time to
	// A request in flight when the bridge was killed may reach GitHub
	// after the new bridge read the statuses: it then sends the same
	// status again, an identical second entry in GitHub's list that
	// changes nothing shown (the latest status of each context).
	total, worst, wrong := onGitHub()
	if total != n+5 || worst > 2 || wrong != 0 {
		t.Errorf("%d contexts on GitHub, one sent %d times, %d statuses not the store's; want %d, at most an identical repeat, none", total, worst, wrong, n+5)
	}
	for c := 2; c < 6 && worst == 2; c++ {
		sts, _ := gh.Statuses("alice/proj", ghSHA(c))
		seen := map[string]bool{}
		for _, s := range sts {
			if seen[s.Context] {
				t.Logf("%s, in flight at the kill, was sent again (identical)", s.Context)
			}
			seen[s.Context] = true
		}
	}
	for i := range n + 5 {
		if s, ok := readStatus(t, st, repo, ghSHA(2+i%4), fmt.Sprintf("ci/datakit/job%d", i)); !ok || s.Description != fmt.Sprint(i) {
			t.Errorf("job%d in the store: %+v, %v", i, s, ok)
		}
	}
	if hs, _ := gh.Hooks("alice/proj"); len(hs) != 1 {
		t.Errorf("%d webhooks, want 1", len(hs))
	}
}

// End to end, as processes: the GitHub stand-in, datakit github-bridge,
// and examples/hello (a CI whose embedded store the bridge reaches over
// 9P). A PR opened on the stand-in gets the CI's status there.
func TestGitHubBridgeEndToEnd(t *testing.T) {
	bin := buildDatakit(t)
	hello := filepath.Join(t.TempDir(), "hello")
	if out, err := exec.Command("go", "build", "-o", hello, "../../examples/hello").CombinedOutput(); err != nil {
		t.Fatalf("go build examples/hello: %v\n%s", err, out)
	}
	gh := fakegithub.New(fakegithub.Options{})
	t.Cleanup(gh.Close)
	tok, _ := gh.AddUser("me")
	gh.CreateRepo("me/my-project", fakegithub.RepoOptions{})
	gh.Push("me/my-project", fakegithub.Push{Ref: "refs/heads/main", SHA: ghSHA(1)})

	ninepURL := "tcp://" + freeAddr(t)
	ci := exec.Command(hello, "--state-dir", t.TempDir(), "--listen", "off", "--listen-9p", ninepURL)
	var ciOut lockedBuffer
	ci.Stdout, ci.Stderr = &ciOut, &ciOut
	if err := ci.Start(); err != nil {
		t.Fatal(err)
	}
	ciDone := make(chan error, 1)
	go func() { ciDone <- ci.Wait() }()
	t.Cleanup(func() {
		ci.Process.Signal(syscall.SIGTERM)
		select {
		case <-ciDone:
		case <-time.After(10 * time.Second):
			ci.Process.Kill()
			t.Errorf("hello did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("hello's output:\n%s", ciOut.String())
		}
	})
	wait(t, "the CI's 9P server", 20*time.Second, func() bool {
		c, err := net.Dial("tcp", strings.TrimPrefix(ninepURL, "tcp://"))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	hook := "http://" + freeAddr(t) + "/github"
	startBridge(t, bin, tok, "--store", ninepURL, "--github-url", gh.URL(), "--webhook", hook,
		"--capabilities", "*:r,status[ci/datakit]:x,webhook:rw")

	status := func(sha string) string {
		sts, _ := gh.Statuses("me/my-project", sha)
		for i := len(sts) - 1; i >= 0; i-- {
			if sts[i].Context == "ci/datakit/my-test" {
				return sts[i].State + " " + sts[i].Description
			}
		}
		return ""
	}
	wait(t, "main's status on GitHub", 30*time.Second, func() bool { return status(ghSHA(1)) == "success Success!" })
	gh.Push("me/my-project", fakegithub.Push{Ref: "refs/heads/fix", SHA: ghSHA(2)})
	n, err := gh.OpenPR("me/my-project", fakegithub.NewPR{Title: "Fix", Head: "fix"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, "the PR's status on GitHub", 30*time.Second, func() bool { return status(ghSHA(2)) == "success Success!" })
	sts, _ := gh.Statuses("me/my-project", ghSHA(2))
	if url := sts[len(sts)-1].TargetURL; url == "" {
		t.Errorf("the status has no target URL")
	}
	t.Logf("PR %d: %d statuses on its head", n, len(sts))
}

// The flags table of docs/bridge.md lists the flags --help shows, no more,
// no fewer.
func TestGitHubBridgeFlagsDocumented(t *testing.T) {
	var help lockedBuffer
	runGitHubBridge(t.Context(), []string{"--help"}, &help, func(string) string { return "" })
	inHelp := map[string]bool{}
	for _, l := range strings.Split(help.String(), "\n") {
		if f, ok := strings.CutPrefix(l, "  -"); ok {
			inHelp[strings.Fields(f)[0]] = true
		}
	}
	doc, err := os.ReadFile("../../docs/bridge.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## The GitHub bridge")
	_, table, _ := strings.Cut(section, "| Flag | Default | Meaning |")
	table, _, _ = strings.Cut(table, "\n\n")
	inDoc := map[string]bool{}
	for _, row := range strings.Split(table, "\n")[2:] {
		cell := strings.Split(row, "|")[1]
		for _, f := range strings.Split(cell, ",") {
			f = strings.Trim(strings.Fields(strings.TrimSpace(f))[0], "`")
			inDoc[strings.TrimLeft(f, "-")] = true
		}
	}
	for f := range inHelp {
		if !inDoc[f] {
			t.Errorf("--help shows %s; docs/bridge.md's table does not", f)
		}
	}
	for f := range inDoc {
		if !inHelp[f] {
			t.Errorf("docs/bridge.md's table shows %s; --help does not", f)
		}
	}
	if len(inHelp) < 15 {
		t.Errorf("only %d flags found in --help:\n%s", len(inHelp), help.String())
	}
}

// --listen-prometheus serves the bridge's metrics.
func TestGitHubBridgeMetrics(t *testing.T) {
	gh, tok := newFakeGitHub(t, fakegithub.Options{})
	st, url := serveMemory(t)
	prom := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runGitHubBridge(ctx, []string{"--store", url, "-r", "alice/proj", "--github-url", gh.URL(), "--listen-prometheus", prom},
			io.Discard, func(k string) string { return map[string]string{"GITHUB_TOKEN": tok}[k] })
	}()
	defer func() { cancel(); <-done }()
	waitBranch(t, st, bridge.Repo{User: "alice", Name: "proj"}, "main", ghSHA(1))
	var body string
	wait(t, "the metrics", 10*time.Second, func() bool {
		resp, err := http.Get("http://" + prom + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `datakit_github_syncs_total{result="ok"}`)
	})
	for _, want := range []string{"datakit_github_api_requests_total{code=\"200\",method=\"GET\"}", "datakit_github_rate_limit_remaining", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// --store DIR opens a Git repository directly, with no server.
func TestGitHubBridgeLocalStore(t *testing.T) {
	gh, tok := newFakeGitHub(t, fakegithub.Options{})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr lockedBuffer
	go func() {
		done <- runGitHubBridge(ctx, []string{"--store", dir, "-r", "alice/proj", "--github-url", gh.URL()},
			&stderr, func(k string) string { return map[string]string{"GITHUB_TOKEN": tok}[k] })
	}()
	wait(t, "the sync", 10*time.Second, func() bool { return strings.Contains(stderr.String(), "1 item updated") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}
	st, err := dkstore.Open(dir, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitBranch(t, st, bridge.Repo{User: "alice", Name: "proj"}, "main", ghSHA(1))
}
