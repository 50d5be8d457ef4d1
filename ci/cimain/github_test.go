package cimain_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/dkgo/datakit/internal/gitfixture"
)

func writeToken(t *testing.T, tok string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

func TestGitHubFlags(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "")
	good := writeToken(t, "ghp_x", 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--github-token-file", good, "--store", "memory", "--listen", "off"}, "need --github-repo"},
		{[]string{"--github-repo", "nope", "--store", "memory", "--listen", "off"}, `--github-repo "nope": want USER/REPO`},
		{[]string{"--github-repo", "me/p", "--store", "memory", "--listen", "off"}, "no GitHub credentials"},
		{[]string{"--github-repo", "me/p", "--github-token-file", writeToken(t, "ghp_x", 0o644), "--store", "memory", "--listen", "off"}, "world-readable"},
		{[]string{"--github-repo", "me/p", "--github-token-file", good, "--github-capabilities", "*:q", "--store", "memory", "--listen", "off"}, "--github-capabilities"},
	} {
		var stderr bytes.Buffer
		err := cimain.Run(context.Background(), cfg, c.args, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), c.want) {
			t.Errorf("Run(%q) = %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
	var stderr bytes.Buffer
	cimain.Run(context.Background(), cfg, []string{"--help"}, io.Discard, &stderr)
	for _, want := range []string{"-github-repo", "-github-token-file", "-github-app-id", "-github-app-key", "-github-url",
		"-github-capabilities", "-github-webhook", "-github-webhook-secret-file", "-github-resync-interval", "--github-repo USER/REPO syncs"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

// A CI with --github-repo is a GitHub CI in one process: targets come
// from the GitHub stand-in (by webhook), statuses go back to it.
func TestGitHubInProcess(t *testing.T) {
	gh := fakegithub.New(fakegithub.Options{})
	defer gh.Close()
	tok, _ := gh.AddUser("me")
	gh.CreateRepo("me/p", fakegithub.RepoOptions{})
	main := fmt.Sprintf("%040x", 1)
	gh.Push("me/p", fakegithub.Push{Ref: "refs/heads/main", SHA: main})

	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	hook := fmt.Sprintf("http://127.0.0.1:%d/github", gitfixture.FreePort(t))
	go func() {
		done <- cimain.Run(ctx, cfg, []string{"--store", "memory", "--listen", "off", "--github-repo", "me/p",
			"--github-url", gh.URL(), "--github-token-file", writeToken(t, tok, 0o600), "--github-webhook", hook}, io.Discard, &stderr)
	}()
	waitGH := func(sha, want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			sts, _ := gh.Statuses("me/p", sha)
			if n := len(sts); n > 0 && sts[n-1].Context == "ci/datakit/t" && sts[n-1].State == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s status ci/datakit/t of %s on GitHub: %+v\n%s", want, sha[:7], sts, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitGH(main, "success")
	pr := fmt.Sprintf("%040x", 2)
	gh.Push("me/p", fakegithub.Push{Ref: "refs/heads/fix", SHA: pr})
	gh.OpenPR("me/p", fakegithub.NewPR{Title: "Fix", Head: "fix"})
	waitGH(pr, "success")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	for _, want := range []string{"targets: from GitHub (" + gh.URL() + ") for me/p; capabilities *:r,webhook:rw,status[ci/datakit]:x", "GitHub webhook: " + hook} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), tok) {
		t.Errorf("the token is in the output")
	}
	if hs, _ := gh.Hooks("me/p"); len(hs) != 1 || hs[0].URL != hook {
		t.Errorf("hooks = %+v", hs)
	}
}

// When GitHub rejects the in-process bridge's token (401), the web UI
// says so in a banner on every page, and /healthz answers 503 with the
// reason.
func TestGitHubTokenRejected(t *testing.T) {
	gh := fakegithub.New(fakegithub.Options{})
	defer gh.Close()
	gh.AddUser("me")
	gh.CreateRepo("me/p", fakegithub.RepoOptions{})
	c := cfg()
	c.CanRead = ci.Everyone()
	port := gitfixture.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- cimain.Run(ctx, func() ci.Config { return c }, []string{"--store", "memory", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--secrets-dir", t.TempDir(), "--github-repo", "me/p", "--github-url", gh.URL(),
			"--github-token-file", writeToken(t, "ghp_revoked", 0o600)}, io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var code int
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, body = resp.StatusCode, string(b)
			if code != http.StatusOK && strings.Contains(body, "GitHub rejects") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz = %d %q, want 503 saying GitHub rejects the token\n%s", code, body, stderr.String())
		}
	}
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "degraded: GitHub rejects the CI's GitHub token") {
		t.Errorf("/healthz = %d %q", code, body)
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `<p class="banner warning">GitHub rejects the CI&#39;s GitHub token`) {
		t.Errorf("GET / = %d, without the banner:\n%s", resp.StatusCode, b)
	}
}

// A CI whose GitHub token is rejected says in its log which flag holds
// the token (and stays up, its web UI saying so: TestGitHubTokenRejected);
// one without credentials names the flag and the variable to set.
func TestGitHubBadToken(t *testing.T) {
	gh := fakegithub.New(fakegithub.Options{})
	defer gh.Close()
	gh.AddUser("me")
	gh.CreateRepo("me/p", fakegithub.RepoOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	bad := writeToken(t, "ghp_wrong", 0o600)
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- cimain.Run(ctx, cfg, []string{"--store", "memory", "--listen", "off", "--github-repo", "me/p",
			"--github-url", gh.URL(), "--github-token-file", bad}, io.Discard, &stderr)
	}()
	want := "GitHub rejected the token from --github-token-file " + bad + ": 401 Unauthorized: Bad credentials"
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say %q:\n%s", want, stderr.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	t.Setenv("GITHUB_TOKEN", "")
	err := cimain.Run(context.Background(), cfg, []string{"--store", "memory", "--listen", "off", "--github-repo", "me/p"}, io.Discard, io.Discard)
	if want := "no GitHub credentials: give --github-token-file FILE (a file holding a token) or set GITHUB_TOKEN"; err == nil || !strings.Contains(err.Error(), want) || strings.HasSuffix(err.Error(), "invalid argument") {
		t.Errorf("Run without credentials = %v, want an error saying %q", err, want)
	}
}
