package fakegithub_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
	"golang.org/x/oauth2"
)

// oauthWorld is a server with alice (password "pw") and an OAuth app
// whose callback is a test server that records what comes back.
type oauthWorld struct {
	*world
	app  fakegithub.OAuthApp
	conf *oauth2.Config
	cb   *httptest.Server
	mu   sync.Mutex
	got  url.Values // the last callback's query
}

func newOAuthWorld(t *testing.T, clk *clock) *oauthWorld {
	opts := fakegithub.Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	w := &oauthWorld{world: newWorld(t, opts)}
	w.cb = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.got = r.URL.Query()
		w.mu.Unlock()
		io.WriteString(rw, "back")
	}))
	t.Cleanup(w.cb.Close)
	var err error
	w.app, err = w.s.AddOAuthApp("Test CI", w.cb.URL+"/auth/github-callback")
	check(t, err)
	check(t, w.s.SetPassword("alice", "pw"))
	w.conf = &oauth2.Config{ClientID: w.app.ClientID, ClientSecret: w.app.ClientSecret, Scopes: []string{"read:org"},
		RedirectURL: w.cb.URL + "/auth/github-callback",
		Endpoint:    oauth2.Endpoint{AuthURL: w.s.URL() + "/login/oauth/authorize", TokenURL: w.s.URL() + "/login/oauth/access_token"}}
	return w
}

func (w *oauthWorld) callback() url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}

// browser is a client with cookies that follows redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	check(t, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

var tokenRE = regexp.MustCompile(`name="authenticity_token" value="([0-9a-f]+)"`)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(t, err)
	return string(b)
}

// login goes through the flow as a person would: the app's authorize
// URL, the sign-in form, and the authorization page (if shown), where it
// presses decision ("1" authorize, "0" cancel).
func (w *oauthWorld) login(t *testing.T, c *http.Client, authURL, password, decision string) (page string) {
	t.Helper()
	resp, err := c.Get(authURL)
	check(t, err)
	page = body(t, resp)
	if strings.Contains(page, "Sign in to GitHub") {
		u, _ := url.Parse(resp.Request.URL.String())
		resp, err = c.PostForm(w.s.URL()+"/session", url.Values{"login": {"alice"}, "password": {password}, "return_to": {u.Query().Get("return_to")}})
		check(t, err)
		page = body(t, resp)
	}
	if m := tokenRE.FindStringSubmatch(page); m != nil {
		resp, err = c.PostForm(w.s.URL()+"/login/oauth/authorize", url.Values{"authenticity_token": {m[1]}, "authorize": {decision}})
		check(t, err)
		page = body(t, resp)
	}
	return page
}

// The web application flow with golang.org/x/oauth2: sign in, authorize,
// trade the code for a token of the user with the scopes asked, and use
// it with go-github. A second login is not asked again.
func TestOAuthFlow(t *testing.T) {
	w := newOAuthWorld(t, nil)
	c := browser(t)
	if page := w.login(t, c, w.conf.AuthCodeURL("st4te"), "pw", "1"); page != "back" {
		t.Fatalf("the flow ended on %q, not the app's callback", page)
	}
	got := w.callback()
	if got.Get("state") != "st4te" || got.Get("code") == "" {
		t.Fatalf("callback query = %v", got)
	}
	ctx := context.Background()
	tok, err := w.conf.Exchange(ctx, got.Get("code"))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken, "gho_") || tok.Extra("scope") != "read:org" || tok.TokenType != "bearer" {
		t.Errorf("token = %q (scope %v, type %q)", tok.AccessToken, tok.Extra("scope"), tok.TokenType)
	}
	gh := github.NewClient(w.conf.Client(ctx, tok))
	gh.BaseURL, _ = url.Parse(w.s.URL() + "/")
	u, resp, err := gh.Users.Get(ctx, "")
	if err != nil || u.GetLogin() != "alice" || resp.Header.Get("X-OAuth-Scopes") != "read:org" {
		t.Fatalf("Users.Get with the token = %v, %v (scopes %q)", u.GetLogin(), err, resp.Header.Get("X-OAuth-Scopes"))
	}
	orgs, _, err := gh.Organizations.List(ctx, "", nil)
	if err != nil || len(orgs) != 1 || orgs[0].GetLogin() != "acme" {
		t.Errorf("Organizations.List = %v, %v; want acme (private membership, read:org)", orgs, err)
	}

	// The code is good once.
	var re *oauth2.RetrieveError
	if _, err := w.conf.Exchange(ctx, got.Get("code")); !errors.As(err, &re) || re.ErrorCode != "bad_verification_code" {
		t.Errorf("Exchange(used code) = %v, want bad_verification_code", err)
	}
	// Authorized already: straight back with a new code.
	resp2, err := c.Get(w.conf.AuthCodeURL("again"))
	check(t, err)
	if b := body(t, resp2); b != "back" || w.callback().Get("state") != "again" || w.callback().Get("code") == got.Get("code") {
		t.Errorf("second login: %q, callback %v", b, w.callback())
	}
	// More scopes: asked again.
	more := *w.conf
	more.Scopes = []string{"read:org", "repo"}
	resp3, err := c.Get(more.AuthCodeURL("more"))
	check(t, err)
	if b := body(t, resp3); !strings.Contains(b, "<code>repo</code>") {
		t.Errorf("a login with more scopes was not asked: %q", b)
	}
}

func TestOAuthRefusals(t *testing.T) {
	clk := newClock()
	w := newOAuthWorld(t, clk)
	ctx := context.Background()

	t.Run("wrong password", func(t *testing.T) {
		page := w.login(t, browser(t), w.conf.AuthCodeURL("s"), "nope", "1")
		if !strings.Contains(page, "Incorrect username or password.") {
			t.Errorf("page = %q", page)
		}
	})
	t.Run("denied", func(t *testing.T) {
		w.login(t, browser(t), w.conf.AuthCodeURL("d"), "pw", "0")
		if got := w.callback(); got.Get("error") != "access_denied" || got.Get("state") != "d" || got.Get("code") != "" {
			t.Errorf("callback = %v", got)
		}
	})
	t.Run("redirect elsewhere", func(t *testing.T) {
		bad := *w.conf
		bad.RedirectURL = "http://evil.example/auth/github-callback"
		w.login(t, browser(t), bad.AuthCodeURL("r"), "pw", "1")
		if got := w.callback(); got.Get("error") != "redirect_uri_mismatch" || got.Get("state") != "r" {
			t.Errorf("callback = %v", got)
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		bad := *w.conf
		bad.ClientID = "Iv1.0000000000000000"
		resp, err := browser(t).Get(bad.AuthCodeURL("x"))
		check(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("authorize with an unknown client = %d, want 404", resp.StatusCode)
		}
	})
	code := func() string {
		c := browser(t)
		w.login(t, c, w.conf.AuthCodeURL("c"), "pw", "1")
		return w.callback().Get("code")
	}
	for _, tc := range []struct {
		name  string
		conf  func(oauth2.Config) oauth2.Config
		wait  time.Duration
		error string
	}{
		{"wrong secret", func(c oauth2.Config) oauth2.Config { c.ClientSecret = "x"; return c }, 0, "incorrect_client_credentials"},
		{"another redirect", func(c oauth2.Config) oauth2.Config { c.RedirectURL += "/other"; return c }, 0, "redirect_uri_mismatch"},
		{"expired code", func(c oauth2.Config) oauth2.Config { return c }, 11 * time.Minute, "bad_verification_code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := code()
			clk.Add(tc.wait)
			conf := tc.conf(*w.conf)
			var re *oauth2.RetrieveError
			if _, err := conf.Exchange(ctx, k); !errors.As(err, &re) || re.ErrorCode != tc.error {
				t.Errorf("Exchange = %v, want %s", err, tc.error)
			}
		})
	}
	t.Run("JSON answer", func(t *testing.T) {
		k := code()
		req, _ := http.NewRequest("POST", w.s.URL()+"/login/oauth/access_token", strings.NewReader(url.Values{
			"client_id": {w.app.ClientID}, "client_secret": {w.app.ClientSecret}, "code": {k}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		check(t, err)
		b := body(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(b, `"access_token":"gho_`) {
			t.Errorf("JSON token answer = %d %q", resp.StatusCode, b)
		}
	})
}
