package github_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// As a GitHub App, the bridge finds the installation of the repository's
// account, acts as its bot, and gets a new installation token before the
// old one expires. Neither the key nor tokens are logged.
func TestApp(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	// Tokens live 61s: ghinstallation renews them a minute before they
	// expire, so after a second.
	s := fakegithub.New(fakegithub.Options{InstallationTokenTTL: 61 * time.Second})
	defer s.Close()
	s.AddUser("alice")
	s.CreateRepo(repoName, fakegithub.RepoOptions{Private: true})
	s.Push(repoName, fakegithub.Push{Ref: "refs/heads/main", SHA: sha(1)})
	if err := s.AddApp(fakegithub.App{ID: 99, Slug: "datakit-ci", PublicKey: &key.PublicKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Install(99, fakegithub.Installation{Account: "alice"}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.gh = s
	var log strings.Builder
	b, err := github.New(e.store, github.GitHub{URL: s.URL(), App: &github.App{ID: 99, PrivateKey: pemKey}},
		github.Options{Monitor: []bridge.Repo{e.repo}, Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &log}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	e.sync(b)
	if got := e.storeRefs()["heads/main"]; got != sha(1) {
		t.Fatalf("main = %q", got)
	}
	e.writeStatus(sha(1), "ci/datakit/test", "success", "Passed")
	e.sync(b)
	sts, _ := s.Statuses(repoName, sha(1))
	if len(sts) != 1 || sts[0].Creator != "datakit-ci[bot]" {
		t.Errorf("statuses = %+v, want one by datakit-ci[bot]", sts)
	}
	// The token is renewed when less than a minute is left (here after
	// a second): the next calls get a new one, and none is refused.
	before := s.Count("POST /app/installations/{id}/access_tokens")
	time.Sleep(1100 * time.Millisecond)
	b.Resync()
	e.sync(b)
	if got := s.Count("POST /app/installations/{id}/access_tokens"); got <= before {
		t.Errorf("%d installation tokens made, no new one in the last minute of the first", got)
	}
	for _, c := range s.Calls() {
		if c.Status == 401 {
			t.Errorf("%s answered 401: a token expired", c.Path)
		}
	}
	if got := s.Count("GET /repos/{owner}/{repo}/installation"); got != 1 {
		t.Errorf("the installation was looked up %d times, want once", got)
	}
	for _, secret := range []string{"ghs_", "PRIVATE KEY", "MII"} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, log.String())
		}
	}
}

// A token is never logged, even at debug level, even when calls fail.
func TestTokenNotLogged(t *testing.T) {
	e := newEnv(t)
	e.push("refs/heads/main", sha(1))
	var log strings.Builder
	b := e.newBridge(github.Options{Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &log}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.gh.SetFaults(fakegithub.Faults{ServerErrors: 0.5, Seed: 3})
	e.sync(b)
	e.writeStatus(sha(1), "ci/datakit/test", "success", "")
	e.sync(b)
	if log.Len() == 0 {
		t.Fatal("nothing logged")
	}
	if strings.Contains(log.String(), e.token) {
		t.Errorf("the log holds the token:\n%s", log.String())
	}
}

// GitHub's refusals read shortly, and say what to do: a repository it
// does not know names itself and its .monitor file; a rejected token
// names where it came from; no "[]" of go-github's empty error lists.
func TestRefusalMessages(t *testing.T) {
	e := newEnv(t)
	b, err := github.New(e.store, github.GitHub{URL: e.gh.URL(), Token: e.token, CredentialsFrom: "--token-file /etc/tok"},
		github.Options{Monitor: []bridge.Repo{{User: "alice", Name: "nope"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Sync(t.Context())
	if !errors.Is(err, github.ErrRepoNotFound) || !strings.Contains(err.Error(), "GitHub has no repository alice/nope that the token from --token-file /etc/tok may read") ||
		!strings.Contains(err.Error(), "remove alice/nope/.monitor") || strings.Contains(err.Error(), "[]") {
		t.Errorf("Sync of a repository GitHub lacks = %v", err)
	}
	b, _ = github.New(e.store, github.GitHub{URL: e.gh.URL(), Token: "ghp_wrong", CredentialsFrom: "GITHUB_TOKEN"}, github.Options{})
	err = b.Sync(t.Context())
	if !errors.Is(err, github.ErrBadCredentials) || !strings.Contains(err.Error(), "GitHub rejected the token from GITHUB_TOKEN: 401 Unauthorized: Bad credentials") {
		t.Errorf("Sync with a wrong token = %v", err)
	}
}
