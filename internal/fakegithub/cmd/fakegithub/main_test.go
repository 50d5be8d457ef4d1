package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--repo", "nobody"}, `--repo "nobody": want OWNER/NAME or OWNER/NAME:DIR`},
		{[]string{"--repo", "me/p:"}, "no directory after ':'"},
		{[]string{"--repo", "me/p:" + t.TempDir()}, "--repo me/p:"},
		{[]string{"--repo", "me/p", "--repo", "me/p"}, "--repo me/p: fakegithub: already exists"},
		{[]string{"--listen", busy.Addr().String()}, "--listen " + busy.Addr().String() + ": listen tcp"},
		{[]string{"--server-errors", "2"}, "--server-errors 2: want a fraction from 0 to 1"},
		{[]string{"--rate-limit", "0"}, "--rate-limit 0"},
		{[]string{"--webhook-secret", "s"}, "--webhook-secret needs --webhook URL"},
		{[]string{"--user", "no body"}, `--user "no body"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error()+errOut.String(), c.want) {
			t.Errorf("run(%q) = %v (stderr %q), want a usage error mentioning %q", c.args, err, errOut.String(), c.want)
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help = %v", err)
	}
	for _, want := range []string{"-listen ADDR", "-repo OWNER/NAME[:DIR]", "-token TOKEN", "-token-file FILE", "-webhook URL", "-webhook-secret SECRET", "_fakegithub/pulls", "_fakegithub/stats"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// run prints the URL and the token, serves until its context ends, then
// prints its call counts.
func TestRunPrints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"--repo", "me/p", "--token", "ghp_mine"}, &out, &errOut); err != nil {
		t.Fatalf("run = %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"fakegithub: GitHub stand-in at http://127.0.0.1:", "token: ghp_mine (user me)", "repository me/p: empty",
		"try: GITHUB_TOKEN=ghp_mine datakit github-bridge --github-url http://127.0.0.1:", "fakegithub: stopped after 0 API calls"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// syncBuffer is a bytes.Buffer that run writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// --oauth-callback registers an OAuth application and prints its client,
// and --password the user's sign-in password, so that a CI web UI's "Log
// in with GitHub" can be tried against the stand-in as a process (it had
// no way to register an application: only the tests, in process, could).
func TestRunOAuthApp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	const callback = "http://127.0.0.1:8091/auth/github-callback"
	go func() {
		done <- run(ctx, []string{"--repo", "me/p", "--poll", "0", "--oauth-callback", callback, "--password", "pw-me"}, &out, &errOut)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v\n%s", err, errOut.String())
		}
	}()
	re := regexp.MustCompile(`GitHub stand-in at (\S+) [^\n]*\n(?s:.*)OAuth application: client id (\S+), secret ([0-9a-f]+), callback ` + regexp.QuoteMeta(callback))
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		if m = re.FindStringSubmatch(out.String()); m == nil && time.Now().After(deadline) {
			t.Fatalf("no OAuth application printed:\n%s%s", out.String(), errOut.String())
		}
	}
	if !strings.Contains(out.String(), "sign in as me with password pw-me") {
		t.Errorf("no sign-in line:\n%s", out.String())
	}
	// The printed client id is an application the stand-in knows: its
	// authorize page sends the browser to sign in, an unknown one does not.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for id, known := range map[string]bool{m[2]: true, "Iv1.unknown": false} {
		resp, err := noFollow.Get(m[1] + "/login/oauth/authorize?" + url.Values{"client_id": {id}, "redirect_uri": {callback}, "state": {"s"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if signIn := resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "/login?"); signIn != known {
			t.Errorf("authorize with client %s = %d %q; want a sign-in redirect: %t", id, resp.StatusCode, resp.Header.Get("Location"), known)
		}
	}
}
