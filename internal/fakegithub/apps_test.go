package fakegithub_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
)

var (
	keyOnce sync.Once
	appKey  *rsa.PrivateKey
	otherKy *rsa.PrivateKey
)

// keys returns two RSA keys, made once.
func keys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		appKey = must(rsa.GenerateKey(rand.Reader, 2048))
		otherKy = must(rsa.GenerateKey(rand.Reader, 2048))
	})
	return appKey, otherKy
}

// jwt signs claims RS256 with key, as an app does.
func jwt(key *rsa.PrivateKey, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(head))
	sig := must(rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:]))
	return head + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestAppWithGhinstallation authenticates as the bridge will, with
// ghinstallation's transports over the server.
func TestAppWithGhinstallation(t *testing.T) {
	key, _ := keys(t)
	w := newWorld(t, fakegithub.Options{})
	cx := ctx(t)
	check(t, w.s.AddApp(fakegithub.App{ID: 42, Slug: "dkci", PublicKey: &key.PublicKey}))
	all := must(w.s.Install(42, fakegithub.Installation{Account: "alice"}))
	sel := must(w.s.Install(42, fakegithub.Installation{Account: "acme", Repositories: []string{"acme/secret"},
		Permissions: map[string]string{"statuses": "read", "pull_requests": "read"}}))

	base := w.s.Client().Transport
	atr := ghinstallation.NewAppsTransportFromPrivateKey(base, 42, key)
	atr.BaseURL = w.s.APIURL()
	app := github.NewClient(&http.Client{Transport: atr})
	app, err := app.WithEnterpriseURLs(w.s.URL(), w.s.URL())
	check(t, err)
	for repo, want := range map[string]int64{"alice/hello": all, "acme/secret": sel} {
		owner, name, _ := strings.Cut(repo, "/")
		in, _, err := app.Apps.FindRepositoryInstallation(cx, owner, name)
		if err != nil || in.GetID() != want || in.GetAppID() != 42 || in.GetAccount().GetLogin() != owner {
			t.Errorf("FindRepositoryInstallation(%s) = %v, %v, want %d", repo, in, err, want)
		}
	}
	if _, _, err := app.Repositories.Get(cx, "alice", "hello"); statusOf(err) != 403 {
		t.Errorf("JWT on a repository endpoint = %v, want 403", err)
	}

	itr := ghinstallation.NewFromAppsTransport(atr, all)
	itr.BaseURL = w.s.APIURL()
	c := github.NewClient(&http.Client{Transport: itr})
	c, err = c.WithEnterpriseURLs(w.s.URL(), w.s.URL())
	check(t, err)
	prs, _, err := c.PullRequests.List(cx, "alice", "hello", nil)
	if err != nil || len(prs) != 1 {
		t.Fatalf("PullRequests.List as the installation = %v, %v", prs, err)
	}
	st, _, err := c.Repositories.CreateStatus(cx, "alice", "hello", sha2b, &github.RepoStatus{State: github.String("success"), Context: github.String("ci/datakit/x")})
	if err != nil || st.GetCreator().GetLogin() != "dkci[bot]" || st.GetCreator().GetType() != "Bot" {
		t.Errorf("CreateStatus as the installation = %v, %v, want by dkci[bot]", st, err)
	}
	if _, _, err := c.Users.Get(cx, ""); statusOf(err) != 403 {
		t.Errorf("Users.Get(\"\") as an installation = %v, want 403", err)
	}
	if _, _, err := c.Repositories.Get(cx, "acme", "secret"); statusOf(err) != 404 {
		t.Errorf("another account's repository = %v, want 404", err)
	}
	exp, _, err := itr.Expiry()
	if err != nil || time.Until(exp) < 59*time.Minute || time.Until(exp) > time.Hour+time.Second {
		t.Errorf("token expiry = %v, %v, want in an hour", exp, err)
	}

	// The selected installation lacks statuses:write.
	itr2 := ghinstallation.NewFromAppsTransport(atr, sel)
	itr2.BaseURL = w.s.APIURL()
	c2, _ := github.NewClient(&http.Client{Transport: itr2}).WithEnterpriseURLs(w.s.URL(), w.s.URL())
	if _, _, err := c2.Repositories.GetCombinedStatus(cx, "acme", "secret", "main", nil); err != nil {
		t.Errorf("GetCombinedStatus with statuses:read = %v", err)
	}
	_, _, err = c2.Repositories.CreateStatus(cx, "acme", "secret", sha3c, &github.RepoStatus{State: github.String("success")})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 403 || er.Message != "Resource not accessible by integration" {
		t.Errorf("CreateStatus with statuses:read = %v, want 403 Resource not accessible by integration", err)
	}
}

// TestInstallationTokens checks the JWT rules and token expiry on the
// server's clock.
func TestInstallationTokens(t *testing.T) {
	key, other := keys(t)
	clk := newClock()
	w := newWorld(t, fakegithub.Options{Now: clk.Now})
	check(t, w.s.AddApp(fakegithub.App{ID: 7, Slug: "app7", PublicKey: &key.PublicKey}))
	id := must(w.s.Install(7, fakegithub.Installation{Account: "alice"}))
	now := clk.Now().Unix()
	post := func(tok, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v3/app/installations/%d/access_tokens", w.s.URL(), id), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := w.s.Client().Do(req)
		check(t, err)
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	good := map[string]any{"iat": now - 30, "exp": now + 540, "iss": "7"}
	for _, tc := range []struct {
		name    string
		tok     string
		code    int
		message string
	}{
		{"valid", jwt(key, good), 201, ""},
		{"iss as a number", jwt(key, map[string]any{"iat": now, "exp": now + 60, "iss": 7}), 201, ""},
		{"exp too far", jwt(key, map[string]any{"iat": now, "exp": now + 660, "iss": "7"}), 401, "'Expiration time' claim ('exp') is too far in the future"},
		{"expired", jwt(key, map[string]any{"iat": now - 700, "exp": now - 100, "iss": "7"}), 401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"},
		{"iat in the future", jwt(key, map[string]any{"iat": now + 120, "exp": now + 300, "iss": "7"}), 401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"},
		{"fractional exp", jwt(key, map[string]any{"iat": now, "exp": float64(now) + 60.5, "iss": "7"}), 401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"},
		{"another key", jwt(other, good), 401, "A JSON web token could not be decoded"},
		{"unknown app", jwt(key, map[string]any{"iat": now, "exp": now + 60, "iss": "8"}), 401, "Integration not found"},
		{"not a JWT", "a.b.c", 401, "A JSON web token could not be decoded"},
		{"a user token", w.alice, 401, "A JSON web token could not be decoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m := post(tc.tok, "")
			if code != tc.code || (tc.message != "" && m["message"] != tc.message) {
				t.Errorf("POST access_tokens = %d %v, want %d %q", code, m, tc.code, tc.message)
			}
			if code == 201 && (m["expires_at"] != clk.Now().Add(time.Hour).Format("2006-01-02T15:04:05Z") || !strings.HasPrefix(m["token"].(string), "ghs_")) {
				t.Errorf("token = %v, want ghs_… expiring in an hour", m)
			}
		})
	}

	// A token narrowed to one repository and fewer permissions.
	check(t, w.s.CreateRepo("alice/other", fakegithub.RepoOptions{Private: true}))
	code, m := post(jwt(key, good), `{"repositories":["other"],"permissions":{"statuses":"read"}}`)
	if code != 201 || len(m["repositories"].([]any)) != 1 {
		t.Fatalf("narrowed token = %d %v", code, m)
	}
	c := w.client(m["token"].(string))
	cx := ctx(t)
	if _, _, err := c.Repositories.Get(cx, "alice", "other"); err != nil {
		t.Errorf("narrowed token on its repository = %v", err)
	}
	if _, _, err := c.Repositories.Get(cx, "alice", "hello"); statusOf(err) != 404 {
		t.Errorf("narrowed token on another repository = %v, want 404", err)
	}
	if code, _ := post(jwt(key, good), `{"permissions":{"administration":"write"}}`); code != 422 {
		t.Errorf("asking for a permission not granted = %d, want 422", code)
	}
	if code, _ := post(jwt(key, good), `{"repositories":["hello","nope"]}`); code != 422 {
		t.Errorf("asking for an unknown repository = %d, want 422", code)
	}

	// go-github's own call.
	it, _, err := w.client(jwt(key, good)).Apps.CreateInstallationToken(cx, id, &github.InstallationTokenOptions{Repositories: []string{"hello"}})
	if err != nil || !strings.HasPrefix(it.GetToken(), "ghs_") || !it.GetExpiresAt().Time.Equal(clk.Now().Add(time.Hour)) ||
		len(it.Repositories) != 1 || it.Repositories[0].GetFullName() != "alice/hello" || it.GetPermissions().GetStatuses() != "write" {
		t.Errorf("Apps.CreateInstallationToken = %v, %v", it, err)
	}
	if _, _, err := w.client(jwt(key, good)).Apps.CreateInstallationToken(cx, 999, nil); statusOf(err) != 404 {
		t.Errorf("CreateInstallationToken(unknown installation) = %v, want 404", err)
	}

	// Expiry, on the server's clock.
	tok, exp := must2(w.s.AddInstallationToken(id, 0))
	if !exp.Equal(clk.Now().Add(time.Hour)) {
		t.Errorf("expires %v, want in an hour", exp)
	}
	c = w.client(tok)
	if _, _, err := c.Repositories.Get(cx, "alice", "hello"); err != nil {
		t.Errorf("fresh token = %v", err)
	}
	clk.Add(time.Hour)
	if _, _, err := c.Repositories.Get(cx, "alice", "hello"); statusOf(err) != 401 {
		t.Errorf("expired token = %v, want 401", err)
	}
	w.s.RevokeToken(w.bob)
	if _, _, err := w.client(w.bob).Repositories.Get(cx, "alice", "hello"); statusOf(err) != 401 {
		t.Errorf("revoked token = %v, want 401", err)
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}
