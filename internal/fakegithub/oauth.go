package fakegithub

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// This file is GitHub's OAuth web application flow, as a web UI's "Log in
// with GitHub" meets it
// (https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps):
//
//	GET  /login/oauth/authorize     the app sends the browser here
//	                                (client_id, redirect_uri, scope, state, login)
//	GET  /login                     the sign-in form, for a browser not signed in
//	POST /session                   signs in (login, password, return_to)
//	POST /login/oauth/authorize     the user authorizes (or denies) the app
//	POST /login/oauth/access_token  the app trades the code for a token
//
// A user who has already authorized an app for the scopes asked is sent
// back to the app at once, as GitHub does. The code is good once, for ten
// minutes, and only with the redirect_uri it was issued for. The token
// is an OAuth token (gho_) of the user with the scopes granted, for the
// API. As on GitHub, the token endpoint answers errors with status 200
// and an "error" field (incorrect_client_credentials,
// redirect_uri_mismatch, bad_verification_code), form-encoded unless the
// client asks for JSON (Accept: application/json). These endpoints are
// web pages, not the API: they are not counted, faulted or rate-limited.
//
// The stand-in has no passwords of its own: a user signs in to the web
// with the password SetPassword gave them.

// OAuthApp is an OAuth application registered with the server.
type OAuthApp struct {
	Name         string
	ClientID     string // "Iv1." and 16 hex digits
	ClientSecret string // 40 hex digits
	// CallbackURL is the authorization callback URL: a redirect_uri
	// must have its scheme, host and port, and a path at or below its
	// path.
	CallbackURL string
}

// oauthState is the OAuth flow's part of the server's state. Guarded by
// the server's mu.
type oauthState struct {
	apps      map[string]*OAuthApp      // by client id
	passwords map[string]string         // lower-case login -> password
	sessions  map[string]*user          // browser session cookie -> user
	grants    map[string][]string       // login + " " + client id -> scopes granted
	codes     map[string]*oauthCode     // by code
	forms     map[string]authorizeState // authenticity token -> the authorization asked
}

type oauthCode struct {
	app      *OAuthApp
	user     *user
	scopes   []string
	redirect string
	expires  time.Time
}

type authorizeState struct {
	session  string
	app      *OAuthApp
	redirect string
	scopes   []string
	state    string
}

// codeTTL is how long an authorization code is good for, as on GitHub.
const codeTTL = 10 * time.Minute

func (o *oauthState) init() {
	if o.apps == nil {
		o.apps = map[string]*OAuthApp{}
		o.passwords = map[string]string{}
		o.sessions = map[string]*user{}
		o.grants = map[string][]string{}
		o.codes = map[string]*oauthCode{}
		o.forms = map[string]authorizeState{}
	}
}

// AddOAuthApp registers an OAuth application named name whose
// authorization callback URL is callback.
func (s *Server) AddOAuthApp(name, callback string) (OAuthApp, error) {
	u, err := url.Parse(callback)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return OAuthApp{}, fmt.Errorf("%w: callback URL %q", ErrInvalid, callback)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.init()
	a := &OAuthApp{Name: name, ClientID: "Iv1." + hexToken(8), ClientSecret: hexToken(20), CallbackURL: callback}
	s.oauth.apps[a.ClientID] = a
	return *a, nil
}

// SetPassword sets the password with which the user login signs in to
// the server's web pages (the OAuth flow's sign-in form).
func (s *Server) SetPassword(login, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.accounts[strings.ToLower(login)]
	if u == nil || u.typ != "User" {
		return fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	s.oauth.init()
	s.oauth.passwords[strings.ToLower(login)] = password
	return nil
}

// RevokeGrant forgets that login authorized the app: the next login asks
// again.
func (s *Server) RevokeGrant(login, clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.init()
	delete(s.oauth.grants, strings.ToLower(login)+" "+clientID)
}

func hexToken(n int) string {
	const digits = "0123456789abcdef"
	b := []byte(newTokenValue(""))
	for len(b) < 2*n {
		b = append(b, newTokenValue("")...)
	}
	for i := range b {
		b[i] = digits[int(b[i])%16]
	}
	return string(b[:2*n])
}

// serveWeb serves the web pages of the OAuth flow; false for every other
// request (the API).
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.URL.Path == "/login/oauth/authorize" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		if r.Method == http.MethodGet {
			s.authorize(w, r)
		} else {
			s.authorizeDecision(w, r)
		}
	case r.URL.Path == "/login/oauth/access_token" && r.Method == http.MethodPost:
		s.accessToken(w, r)
	case r.URL.Path == "/login" && r.Method == http.MethodGet:
		s.signInForm(w, r, "")
	case r.URL.Path == "/session" && r.Method == http.MethodPost:
		s.signIn(w, r)
	default:
		return false
	}
	return true
}

// sessionCookie is the browser session's cookie, as github.com names it.
const sessionCookie = "user_session"

// signedIn is the user the browser is signed in as, or nil. Called with
// s.mu held.
func (s *Server) signedIn(r *http.Request) (*user, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	return s.oauth.sessions[c.Value], c.Value
}

// redirectAllowed reports whether redirect may be used with a callback
// URL: the same scheme, host and port, and a path at or below the
// callback's.
func redirectAllowed(callback, redirect string) bool {
	cb, err1 := url.Parse(callback)
	rd, err2 := url.Parse(redirect)
	if err1 != nil || err2 != nil || cb.Scheme != rd.Scheme || !strings.EqualFold(cb.Host, rd.Host) {
		return false
	}
	if strings.Contains(rd.Path, "/..") || strings.Contains(rd.Path, "/./") {
		return false
	}
	base := strings.TrimSuffix(cb.Path, "/")
	return rd.Path == cb.Path || rd.Path == base || strings.HasPrefix(rd.Path, base+"/")
}

// scopesOf splits a scope parameter (separated by spaces or commas).
func scopesOf(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// redirectBack sends the browser to the app's redirect URI with params.
func redirectBack(w http.ResponseWriter, r *http.Request, redirect string, params url.Values) {
	u, _ := url.Parse(redirect)
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.oauth.init()
	app := s.oauth.apps[q.Get("client_id")]
	if app == nil {
		s.mu.Unlock()
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = app.CallbackURL
	}
	if !redirectAllowed(app.CallbackURL, redirect) {
		s.mu.Unlock()
		redirectBack(w, r, app.CallbackURL, url.Values{"error": {"redirect_uri_mismatch"},
			"error_description": {"The redirect_uri MUST match the registered callback URL for this application."},
			"error_uri":         {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch"},
			"state":             {q.Get("state")}})
		return
	}
	u, sid := s.signedIn(r)
	if u == nil {
		s.mu.Unlock()
		http.Redirect(w, r, "/login?"+url.Values{"client_id": {app.ClientID}, "return_to": {r.URL.RequestURI()}}.Encode(), http.StatusFound)
		return
	}
	scopes := scopesOf(q.Get("scope"))
	granted := s.oauth.grants[strings.ToLower(u.login)+" "+app.ClientID]
	all := true
	for _, sc := range scopes {
		all = all && slices.Contains(granted, sc)
	}
	if granted != nil && all {
		code := s.issueCode(app, u, granted, redirect)
		s.mu.Unlock()
		redirectBack(w, r, redirect, url.Values{"code": {code}, "state": {q.Get("state")}})
		return
	}
	tok := hexToken(16)
	s.oauth.forms[tok] = authorizeState{session: sid, app: app, redirect: redirect, scopes: scopes, state: q.Get("state")}
	login := u.login
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	authorizePage.Execute(w, map[string]any{"App": app.Name, "Login": login, "Scopes": scopes, "Token": tok, "Redirect": redirect})
}

// issueCode makes a code for app and u. Called with s.mu held.
func (s *Server) issueCode(app *OAuthApp, u *user, scopes []string, redirect string) string {
	code := hexToken(10)
	s.oauth.codes[code] = &oauthCode{app: app, user: u, scopes: slices.Clone(scopes), redirect: redirect, expires: s.now().Add(codeTTL)}
	return code
}

var authorizePage = template.Must(template.New("authorize").Parse(`<!doctype html>
<title>Authorize application</title>
<h1>Authorize {{.App}}</h1>
<p>{{.App}} by its owner wants to access your account <b id="login">{{.Login}}</b>{{if .Scopes}} with the scopes {{range $i, $s := .Scopes}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}{{end}}.</p>
<p>Authorizing will redirect to {{.Redirect}}</p>
<form method="post" action="/login/oauth/authorize">
<input type="hidden" name="authenticity_token" value="{{.Token}}">
<button name="authorize" value="0" id="js-oauth-authorize-btn-cancel">Cancel</button>
<button name="authorize" value="1" id="js-oauth-authorize-btn">Authorize</button>
</form>`))

func (s *Server) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.oauth.init()
	tok := r.PostFormValue("authenticity_token")
	st, ok := s.oauth.forms[tok]
	u, sid := s.signedIn(r)
	if !ok || u == nil || sid != st.session {
		s.mu.Unlock()
		http.Error(w, "422 Unprocessable Entity: invalid authenticity token", http.StatusUnprocessableEntity)
		return
	}
	delete(s.oauth.forms, tok)
	if r.PostFormValue("authorize") != "1" {
		s.mu.Unlock()
		redirectBack(w, r, st.redirect, url.Values{"error": {"access_denied"},
			"error_description": {"The user has denied your application access."},
			"error_uri":         {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied"},
			"state":             {st.state}})
		return
	}
	key := strings.ToLower(u.login) + " " + st.app.ClientID
	granted := s.oauth.grants[key]
	for _, sc := range st.scopes {
		if !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	sort.Strings(granted)
	if granted == nil {
		granted = []string{}
	}
	s.oauth.grants[key] = granted
	code := s.issueCode(st.app, u, granted, st.redirect)
	s.mu.Unlock()
	redirectBack(w, r, st.redirect, url.Values{"code": {code}, "state": {st.state}})
}

var signInPage = template.Must(template.New("login").Parse(`<!doctype html>
<title>Sign in to GitHub</title>
<h1>Sign in to GitHub</h1>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="/session">
<input type="hidden" name="return_to" value="{{.ReturnTo}}">
<label>Username <input name="login" id="login_field"></label>
<label>Password <input type="password" name="password" id="password"></label>
<input type="submit" name="commit" value="Sign in">
</form>`))

func (s *Server) signInForm(w http.ResponseWriter, r *http.Request, msg string) {
	ret := r.URL.Query().Get("return_to")
	if r.Method == http.MethodPost {
		ret = r.PostFormValue("return_to")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if msg != "" {
		w.WriteHeader(http.StatusUnauthorized)
	}
	signInPage.Execute(w, map[string]string{"Error": msg, "ReturnTo": ret})
}

// signIn checks a login and password and starts a browser session.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	login, pw := r.PostFormValue("login"), r.PostFormValue("password")
	s.mu.Lock()
	s.oauth.init()
	u := s.st.accounts[strings.ToLower(login)]
	want, ok := s.oauth.passwords[strings.ToLower(login)]
	if u == nil || !ok || pw != want {
		s.mu.Unlock()
		s.signInForm(w, r, "Incorrect username or password.")
		return
	}
	sid := hexToken(16)
	s.oauth.sessions[sid] = u
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	ret := r.PostFormValue("return_to")
	if !strings.HasPrefix(ret, "/") || strings.HasPrefix(ret, "//") {
		ret = "/"
	}
	http.Redirect(w, r, ret, http.StatusFound)
}

// accessToken trades a code for a token.
func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	id, secret := r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, secret = u, p
	}
	code, redirect := r.PostFormValue("code"), r.PostFormValue("redirect_uri")
	answer := func(v map[string]string) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(v)
			return
		}
		q := url.Values{}
		for k, x := range v {
			q.Set(k, x)
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		fmt.Fprint(w, q.Encode())
	}
	fail := func(e, descr, anchor string) {
		answer(map[string]string{"error": e, "error_description": descr,
			"error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#" + anchor})
	}
	s.mu.Lock()
	s.oauth.init()
	app := s.oauth.apps[id]
	if app == nil || secret != app.ClientSecret {
		s.mu.Unlock()
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.", "incorrect-client-credentials")
		return
	}
	c := s.oauth.codes[code]
	if c == nil || c.app != app || !s.now().Before(c.expires) {
		s.mu.Unlock()
		fail("bad_verification_code", "The code passed is incorrect or expired.", "bad-verification-code")
		return
	}
	if redirect != "" && redirect != c.redirect {
		s.mu.Unlock()
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.", "redirect-uri-mismatch")
		return
	}
	delete(s.oauth.codes, code)
	tok, err := s.addToken(c.user.login, "gho_", c.scopes...)
	s.mu.Unlock()
	if err != nil {
		fail("bad_verification_code", "The code passed is incorrect or expired.", "bad-verification-code")
		return
	}
	answer(map[string]string{"access_token": tok, "scope": strings.Join(c.scopes, ","), "token_type": "bearer"})
}
