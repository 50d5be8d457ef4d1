package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-github/v60/github"
	"golang.org/x/oauth2"
)

// oauthApp is the GitHub OAuth application the login uses, as the admin
// configured it (github-oauth.json in the secrets directory).
type oauthApp struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Callback     string `json:"callback,omitempty"` // default PublicURL + "auth/github-callback"
}

const oauthFile = "github-oauth.json"

func readOAuthApp(dir string) (oauthApp, error) {
	var a oauthApp
	b, err := os.ReadFile(filepath.Join(dir, oauthFile))
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return a, err
	}
	if err := jsonUnmarshal(b, &a); err != nil {
		return a, fmt.Errorf("web: %s: %w", filepath.Join(dir, oauthFile), err)
	}
	return a, nil
}

// oauthConfig is the OAuth configuration, or nil if GitHub login is not
// set up.
func (s *Server) oauthConfig() *oauth2.Config {
	s.mu.Lock()
	app := s.gh
	s.mu.Unlock()
	if app.ClientID == "" {
		return nil
	}
	cb := app.Callback
	if cb == "" {
		cb = s.opts.PublicURL + "auth/github-callback"
	}
	return &oauth2.Config{ClientID: app.ClientID, ClientSecret: app.ClientSecret, RedirectURL: cb, Scopes: s.opts.GitHubScopes,
		Endpoint: oauth2.Endpoint{AuthURL: s.opts.GitHubURL + "/login/oauth/authorize", TokenURL: s.opts.GitHubURL + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams}}
}

// authRoute serves /auth/...; false if nothing matched.
func (s *Server) authRoute(w http.ResponseWriter, r *http.Request, segs []string) bool {
	get, post := r.Method == http.MethodGet || r.Method == http.MethodHead, r.Method == http.MethodPost
	switch {
	case len(segs) == 1 && segs[0] == "login" && get:
		s.loginForm(w, r, http.StatusOK, "")
	case len(segs) == 1 && segs[0] == "login" && post:
		s.login(w, r)
	case len(segs) == 1 && segs[0] == "logout" && post:
		s.logout(w, r)
	case len(segs) == 2 && segs[0] == "intro" && get:
		s.introPage(w, r, segs[1])
	case len(segs) == 1 && segs[0] == "setup" && (get || post):
		s.setup(w, r)
	case len(segs) == 1 && segs[0] == "github" && get:
		s.githubStart(w, r)
	case len(segs) == 1 && segs[0] == "github-callback" && get:
		s.githubCallback(w, r)
	default:
		return false
	}
	return true
}

type loginView struct {
	Error  string
	GitHub bool
	Intro  bool // no admin password yet
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	sess := s.ensureSession(w, r)
	ro := s.roleOf(sess)
	ro.sess = sess
	if ro.user != "" && msg == "" {
		http.Redirect(w, r, "/user/profile", http.StatusSeeOther)
		return
	}
	// The header's "Log in" link says where the visitor was: back there
	// after logging in (with a password or GitHub), not to the dashboard.
	if to := localRedirect(r); to != "" && r.Method == http.MethodGet && !strings.HasPrefix(to, "/auth/") {
		sess.redirect = to
		s.sessions.put(sess)
	}
	s.mu.Lock()
	v := loginView{Error: msg, GitHub: s.gh.ClientID != "", Intro: s.admin == ""}
	s.mu.Unlock()
	s.render(w, r, ro, status, "login", "Log in", "login", v)
}

// login checks the admin's password (POST /auth/login).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if msg := checkCSRF(r, sess); msg != "" {
		s.fail(w, r, http.StatusForbidden, msg)
		return
	}
	user, pw := r.PostFormValue("user"), r.PostFormValue("password")
	s.mu.Lock()
	hash := s.admin
	s.mu.Unlock()
	if user != "admin" || hash == "" || !checkPassword(hash, pw) {
		s.metrics.localBad.Inc()
		s.log.Warn("login refused", "user", user)
		s.loginForm(w, r, http.StatusForbidden, "Invalid user name or password.")
		return
	}
	s.metrics.localOK.Inc()
	s.loggedIn(w, r, sess, &session{user: "admin"})
}

// loggedIn replaces the session by a new one for the user in who, and
// goes where the visitor was going.
func (s *Server) loggedIn(w http.ResponseWriter, r *http.Request, old, who *session) {
	to := "/"
	if old != nil && old.redirect != "" {
		to = old.redirect
		s.sessions.drop(old.id)
	}
	s.renew(w, who)
	s.log.Info("logged in", "user", who.user)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// logout ends the session (POST /auth/logout).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if msg := checkCSRF(r, sess); msg != "" {
		s.fail(w, r, http.StatusForbidden, msg)
		return
	}
	s.sessions.drop(sess.id)
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	s.log.Info("logged out", "user", sess.user)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// intro logs the holder of the first-run token in as admin, to choose
// the admin password.
func (s *Server) introPage(w http.ResponseWriter, r *http.Request, token string) {
	s.mu.Lock()
	want, done := s.intro, s.admin != ""
	s.mu.Unlock()
	switch {
	case done:
		s.fail(w, r, http.StatusForbidden, "Already initialised - log in as admin")
		return
	case want == "" || !constantEq(token, want):
		s.fail(w, r, http.StatusForbidden, "Bad token")
		return
	}
	s.renew(w, &session{user: "admin"})
	http.Redirect(w, r, "/auth/setup", http.StatusSeeOther)
}

// setup lets the admin choose the admin password, once.
func (s *Server) setup(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	ro := s.roleOf(sess)
	if !ro.admin {
		s.deny(w, r, ro)
		return
	}
	s.mu.Lock()
	done := s.admin != ""
	s.mu.Unlock()
	if done {
		s.fail(w, r, http.StatusForbidden, "Already initialised - the admin password is set")
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.render(w, r, ro, http.StatusOK, "setup", "Set up", "", "")
		return
	}
	if msg := checkCSRF(r, sess); msg != "" {
		s.fail(w, r, http.StatusForbidden, msg)
		return
	}
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	var msg string
	switch {
	case pw != pw2:
		msg = "The passwords do not match."
	case len(pw) < 8:
		msg = "Choose a password of at least 8 characters."
	}
	if msg != "" {
		s.render(w, r, ro, http.StatusBadRequest, "setup", "Set up", "", msg)
		return
	}
	hash, err := hashPassword(pw)
	if err == nil {
		err = writeSecret(s.opts.SecretsDir, passwordsFile, passwords{Users: map[string]string{"admin": hash}})
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Could not save the password: "+err.Error())
		return
	}
	s.mu.Lock()
	s.admin, s.intro = hash, ""
	s.mu.Unlock()
	s.log.Info("admin password set")
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

func constantEq(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// githubStart sends the visitor to GitHub to log in; the state is the
// session's CSRF token.
func (s *Server) githubStart(w http.ResponseWriter, r *http.Request) {
	conf := s.oauthConfig()
	if conf == nil {
		s.notFound(w, r, "GitHub login is not configured")
		return
	}
	sess := s.ensureSession(w, r)
	http.Redirect(w, r, conf.AuthCodeURL(sess.csrf), http.StatusSeeOther)
}

// githubCallback finishes a GitHub login: it checks the state, trades the
// code for a token, and asks GitHub who the user is, their
// organizations, and which of the ACLs' repositories they can read.
func (s *Server) githubCallback(w http.ResponseWriter, r *http.Request) {
	conf := s.oauthConfig()
	if conf == nil {
		s.notFound(w, r, "GitHub login is not configured")
		return
	}
	q := r.URL.Query()
	sess := s.session(r)
	if sess == nil || q.Get("state") == "" || !constantEq(q.Get("state"), sess.csrf) {
		s.metrics.githubNo.Inc()
		s.fail(w, r, http.StatusForbidden, "Bad state: log in again")
		return
	}
	if e := q.Get("error"); e != "" {
		s.metrics.githubNo.Inc()
		s.fail(w, r, http.StatusForbidden, "GitHub login refused: "+firstNonEmpty(q.Get("error_description"), e))
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, s.opts.HTTPClient)
	tok, err := conf.Exchange(ctx, q.Get("code"))
	if err != nil {
		s.metrics.githubNo.Inc()
		s.log.Warn("GitHub login failed", "err", err)
		s.fail(w, r, http.StatusForbidden, "GitHub login failed: the code could not be exchanged for a token")
		return
	}
	who, err := s.githubIdentity(ctx, conf.Client(ctx, tok))
	if err != nil {
		s.metrics.githubNo.Inc()
		s.log.Warn("GitHub login failed", "err", err)
		s.fail(w, r, http.StatusBadGateway, "GitHub login failed: "+err.Error())
		return
	}
	s.metrics.githubOK.Inc()
	s.loggedIn(w, r, sess, who)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// githubIdentity asks GitHub, with the user's token, who they are.
func (s *Server) githubIdentity(ctx context.Context, hc *http.Client) (*session, error) {
	gh := github.NewClient(hc)
	base, err := url.Parse(s.opts.GitHubAPIURL)
	if err != nil {
		return nil, err
	}
	gh.BaseURL = base
	u, _, err := gh.Users.Get(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("reading the user: %w", err)
	}
	who := &session{user: "github:" + u.GetLogin(), readable: map[string]bool{}}
	opts := &github.ListOptions{PerPage: 100}
	for {
		orgs, resp, err := gh.Organizations.List(ctx, "", opts)
		if err != nil {
			return nil, fmt.Errorf("reading the user's organizations: %w", err)
		}
		for _, o := range orgs {
			who.orgs = append(who.orgs, strings.ToLower(o.GetLogin()))
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	sort.Strings(who.orgs)
	for _, repo := range append(s.cfg.CanRead.GitHubRepos(), s.cfg.CanBuild.GitHubRepos()...) {
		owner, name, _ := strings.Cut(repo, "/")
		_, resp, err := gh.Repositories.Get(ctx, owner, name)
		switch {
		case err == nil:
			who.readable[repo] = true
		case resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden):
		default:
			return nil, fmt.Errorf("checking %s: %w", repo, err)
		}
		who.checked = append(who.checked, repo)
	}
	return who, nil
}

// profile shows the logged-in user.
func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	ro := s.roleOf(sess)
	if ro.user == "" {
		s.deny(w, r, ro)
		return
	}
	s.render(w, r, ro, http.StatusOK, "profile", "Profile", "user", struct{ Orgs []string }{sess.orgs})
}

type settingsView struct {
	ClientID  string
	HasSecret bool
	Callback  string
	Default   string
	Saved     bool
}

// settingsRoute serves /settings and /settings/github-auth (admin only).
func (s *Server) settingsRoute(w http.ResponseWriter, r *http.Request, segs []string) bool {
	get, post := r.Method == http.MethodGet || r.Method == http.MethodHead, r.Method == http.MethodPost
	if !(len(segs) == 0 && get || len(segs) == 1 && segs[0] == "github-auth" && (get || post)) {
		return false
	}
	sess := s.session(r)
	ro := s.roleOf(sess)
	if post {
		if msg := checkCSRF(r, sess); msg != "" {
			s.fail(w, r, http.StatusForbidden, msg)
			return true
		}
	}
	if !ro.admin {
		s.deny(w, r, ro)
		return true
	}
	if post {
		app := oauthApp{ClientID: strings.TrimSpace(r.PostFormValue("client_id")), ClientSecret: strings.TrimSpace(r.PostFormValue("client_secret")),
			Callback: strings.TrimSpace(r.PostFormValue("callback"))}
		s.mu.Lock()
		if app.ClientSecret == "" && app.ClientID == s.gh.ClientID {
			app.ClientSecret = s.gh.ClientSecret // unchanged
		}
		s.mu.Unlock()
		if err := writeSecret(s.opts.SecretsDir, oauthFile, app); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "Could not save: "+err.Error())
			return true
		}
		s.mu.Lock()
		s.gh = app
		s.mu.Unlock()
		http.Redirect(w, r, "/settings/github-auth?saved=1", http.StatusSeeOther)
		return true
	}
	s.mu.Lock()
	v := settingsView{ClientID: s.gh.ClientID, HasSecret: s.gh.ClientSecret != "", Callback: s.gh.Callback,
		Default: s.opts.PublicURL + "auth/github-callback", Saved: r.URL.Query().Get("saved") != ""}
	s.mu.Unlock()
	s.render(w, r, ro, http.StatusOK, "settings", "Settings", "settings", v)
	return true
}
