package cimain_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/term"
)

// runWeb runs the CI c in the background with args (and --listen on a
// free port), and returns the web UI's base URL and what the CI printed.
func runWeb(t *testing.T, c ci.Config, scheme string, args ...string) (string, *lockedBuffer) {
	t.Helper()
	port := gitfixture.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stderr := &lockedBuffer{}
	go func() {
		done <- cimain.Run(ctx, func() ci.Config { return c }, append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...), io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	base := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	client := insecure()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
	}
	return base, stderr
}

// insecure is a client that accepts the CI's self-signed certificate and
// does not follow redirects.
func insecure() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var jobRE = regexp.MustCompile(`(?s)id="job-([^"]+)">\s*<h2>.*?<span class="label">([^<]*)</span>[^\n]*</h2>\s*<p class="descr">([^<]*)</p>`)

// The web UI and "PROG status" agree: every job the status command lists
// is on its target's page with the same state and description. The
// first run prints the intro link, which logs in as admin.
func TestWebUIAndStatusAgree(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, t.TempDir())
	first := repo.Commit("first", map[string]string{"a": "1"})
	repo.Commit("second", map[string]string{"a": "2"})
	repo.Git("branch", "old", first)
	c := ci.Config{CanRead: ci.Everyone(), Projects: []ci.Project{{Repo: "me/p", Jobs: func(t ci.Target) ci.Jobs {
		if t.BranchName() == "old" {
			return ci.Jobs{"t": term.Failf[string]("old <fails>"), "u": term.Return("fine")}
		}
		return ci.Jobs{"t": term.Return("ok"), "u": term.Pendingf[string]("waits & sees")}
	}}}}
	state := t.TempDir()
	base, stderr := runWeb(t, c, "http", "--state-dir", state, "--local-repo", "me/p:"+repo.Dir)
	client := insecure()
	var rows [][]string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var out bytes.Buffer
		if err := cimain.Run(context.Background(), func() ci.Config { return c }, []string{"status", "--state-dir", state}, &out, io.Discard); err == nil {
			rows = nil
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
				rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(l, 5))
			}
			if len(rows) == 4 && !strings.Contains(out.String(), "no status yet") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never listed 4 jobs with statuses: %v", rows)
		}
	}
	for _, r := range rows {
		target, job, st, descr := r[0], r[2], r[3], r[4]
		path := "/me/p/ref/" + strings.TrimPrefix(target, "me/p/")
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		found := false
		for _, m := range jobRE.FindAllStringSubmatch(string(b), -1) {
			if m[1] == job {
				found = true
				if m[2] != st || html.UnescapeString(m[3]) != descr {
					t.Errorf("%s job %s: page says %s %q, status says %s %q", target, job, m[2], html.UnescapeString(m[3]), st, descr)
				}
			}
		}
		if !found {
			t.Errorf("%s (%s) has no job %s:\n%s", path, target, job, b)
		}
	}
	out := stderr.String()
	m := regexp.MustCompile(`>>> First run: set the admin password at (http://\S+/auth/intro/\S+) \(a one-time link\)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "web UI: "+base+"/") {
		t.Fatalf("the CI did not print the web UI and its intro link:\n%s", out)
	}
	resp, err := client.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/setup" {
		t.Errorf("the intro link = %d %q, want 303 to /auth/setup", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// With --tls the web UI is HTTPS, with a self-signed certificate made in
// the secrets directory, and its cookies are Secure.
func TestWebUITLS(t *testing.T) {
	base, _ := runWeb(t, cfg(), "https", "--store", "memory", "--tls", "--secrets-dir", t.TempDir())
	client := insecure()
	resp, err := client.Get(base + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "DataKitCI" {
		t.Fatalf("not served over TLS with the CI's certificate: %+v", resp.TLS)
	}
	ck := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "__Host-ci_session_") || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Errorf("session cookie %q: want __Host-, Secure, HttpOnly, SameSite=Lax", ck)
	}
	// Not public: every page but login redirects there.
	resp, err = client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login" {
		t.Errorf("GET / = %d %q, want 303 to /auth/login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A --local-repo project is not on GitHub: its pages have no GitHub links
// (they led to github.com/USER/REPO/tree/BRANCH, a 404 for the tutorial's
// me/hello).
func TestLocalRepoNoGitHubLinks(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, t.TempDir())
	head := repo.Commit("first", map[string]string{"a": "1"})
	c := ci.Config{CanRead: ci.Everyone(), Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"t": term.Return("ok")}
	}}}}
	base, _ := runWeb(t, c, "http", "--store", "memory", "--local-repo", "me/p:"+repo.Dir)
	client := insecure()
	var page string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(base + "/me/p/ref/heads/master")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if page = string(b); resp.StatusCode == 200 && strings.Contains(page, `id="job-t"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page for the branch with its job:\n%s", page)
		}
	}
	if strings.Contains(page, "github.com") || strings.Contains(page, "on GitHub") {
		t.Errorf("the page of a --local-repo project links to GitHub:\n%s", page)
	}
	if !strings.Contains(page, "<code>"+head[:7]+"</code>") {
		t.Errorf("the page does not show the head %s:\n%s", head[:7], page)
	}
}
