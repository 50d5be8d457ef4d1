package fakegithub

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// app is a GitHub App.
type app struct {
	id    int64
	slug  string
	owner *user
	key   *rsa.PublicKey
	bot   *user // "<slug>[bot]", who installations act as
}

// installation is an app installed on an account, for all its
// repositories or some.
type installation struct {
	id      int64
	app     *app
	account *user
	repos   map[int64]bool // nil: all of the account's
	perms   map[string]string
	events  []string
	created time.Time
}

func (in *installation) covers(r *repo) bool {
	if r.owner != in.account {
		return false
	}
	return in.repos == nil || in.repos[r.id]
}

// App describes a GitHub App to register.
type App struct {
	ID   int64
	Slug string
	// Owner is the account that owns the app; "" means none.
	Owner string
	// PublicKey verifies the JWTs the app signs (RS256) with its private
	// key.
	PublicKey *rsa.PublicKey
}

// DefaultPermissions returns an installation's permissions when Install
// is given none: what the bridge needs.
func DefaultPermissions() map[string]string {
	return map[string]string{
		"metadata": "read", "contents": "read", "pull_requests": "write",
		"statuses": "write", "repository_hooks": "write", "members": "read",
	}
}

// Installation describes an installation of an app.
type Installation struct {
	// Account is the user or organization it is installed on.
	Account string
	// Repositories are the repositories ("owner/name") it may reach; nil
	// means all of the account's, now and later.
	Repositories []string
	// Permissions maps permission names ("pull_requests", "statuses",
	// "contents", "repository_hooks", "members", ...) to "read" or
	// "write"; nil means DefaultPermissions().
	Permissions map[string]string
	// Events it subscribes to (informative).
	Events []string
}

// AddApp registers a GitHub App, whose JWTs the server then accepts.
func (s *Server) AddApp(a App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ID <= 0 || a.PublicKey == nil || !nameRE.MatchString(a.Slug) {
		return fmt.Errorf("%w: app %d %q", ErrInvalid, a.ID, a.Slug)
	}
	if s.st.apps[a.ID] != nil {
		return fmt.Errorf("%w: app %d", ErrExist, a.ID)
	}
	var owner *user
	if a.Owner != "" {
		if owner = s.st.accounts[strings.ToLower(a.Owner)]; owner == nil {
			return fmt.Errorf("%w: account %q", ErrNotFound, a.Owner)
		}
	}
	bot, err := s.addAccountAny(a.Slug+"[bot]", "Bot")
	if err != nil {
		return err
	}
	s.st.apps[a.ID] = &app{id: a.ID, slug: a.Slug, owner: owner, key: a.PublicKey, bot: bot}
	return nil
}

// addAccountAny is addAccount without the name check (bots' names have
// brackets).
func (s *Server) addAccountAny(login, typ string) (*user, error) {
	if s.st.accounts[strings.ToLower(login)] != nil {
		return nil, fmt.Errorf("%w: account %q", ErrExist, login)
	}
	u := &user{id: s.st.newID(), login: login, typ: typ, created: s.now().UTC()}
	s.st.accounts[strings.ToLower(login)] = u
	return u, nil
}

// Install installs app appID and returns the installation's id.
func (s *Server) Install(appID int64, in Installation) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.apps[appID]
	if a == nil {
		return 0, fmt.Errorf("%w: app %d", ErrNotFound, appID)
	}
	acct := s.st.accounts[strings.ToLower(in.Account)]
	if acct == nil || acct.typ == "Bot" {
		return 0, fmt.Errorf("%w: account %q", ErrNotFound, in.Account)
	}
	x := &installation{id: s.st.newID(), app: a, account: acct, events: slices.Clone(in.Events), created: s.now().UTC()}
	if in.Repositories != nil {
		x.repos = map[int64]bool{}
		for _, name := range in.Repositories {
			r, err := s.repo(name)
			if err != nil {
				return 0, err
			}
			if r.owner != acct {
				return 0, fmt.Errorf("%w: %s is not %s's", ErrInvalid, name, acct.login)
			}
			x.repos[r.id] = true
		}
	}
	x.perms = map[string]string{}
	perms := in.Permissions
	if perms == nil {
		perms = DefaultPermissions()
	}
	for k, v := range perms {
		x.perms[k] = v
	}
	s.st.installs[x.id] = x
	return x.id, nil
}

// AddInstallationToken issues an installation token as POST
// /app/installations/{id}/access_tokens does, expiring after ttl (0
// means an hour), for tests that need a token without a JWT.
func (s *Server) AddInstallationToken(installationID int64, ttl time.Duration) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.st.installs[installationID]
	if x == nil {
		return "", time.Time{}, fmt.Errorf("%w: installation %d", ErrNotFound, installationID)
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	t := s.issueToken(x, nil, x.perms, ttl)
	return t.value, t.expires, nil
}

func (s *Server) issueToken(x *installation, repos map[int64]bool, perms map[string]string, ttl time.Duration) *token {
	t := &token{
		value: newTokenValue("ghs_"), inst: x, perms: perms, repos: repos,
		expires: s.now().Add(ttl).Truncate(time.Second),
	}
	s.st.tokens[t.value] = t
	return t
}

// jwtError is a 401 about a JWT, with GitHub's messages.
func jwtError(msg string) *apiError { return &apiError{http.StatusUnauthorized, msg, docRoot} }

// maxJWTLife is how far in the future GitHub accepts a JWT's exp; skew
// how far in the future it accepts its iat.
const (
	maxJWTLife = 10 * time.Minute
	jwtSkew    = 60 * time.Second
)

// verifyJWT checks an app's JWT: RS256, signed by a registered app's key
// (iss is its id), iat not in the future and exp in the future but at
// most 10 minutes away, both integers. The server's mutex is held.
func (s *Server) verifyJWT(tok string) (*app, *apiError) {
	undecodable := jwtError("A JSON web token could not be decoded")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, undecodable
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil || header.Alg != "RS256" {
		return nil, undecodable
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat json.Number     `json:"iat"`
		Exp json.Number     `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, undecodable
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, undecodable
	}
	issStr := strings.Trim(string(claims.Iss), `"`)
	id, err := strconv.ParseInt(issStr, 10, 64)
	if err != nil {
		return nil, jwtError("'Issuer' claim ('iss') must be an Integer")
	}
	a := s.st.apps[id]
	if a == nil {
		return nil, jwtError("Integration not found")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(a.key, crypto.SHA256, sum[:], sig) != nil {
		return nil, undecodable
	}
	iat, err1 := intClaim(claims.Iat)
	exp, err2 := intClaim(claims.Exp)
	now := s.now()
	switch {
	case err1 != nil || time.Unix(iat, 0).After(now.Add(jwtSkew)):
		return nil, jwtError("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
	case err2 != nil || !time.Unix(exp, 0).After(now):
		return nil, jwtError("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	case time.Unix(exp, 0).After(now.Add(maxJWTLife)):
		return nil, jwtError("'Expiration time' claim ('exp') is too far in the future")
	}
	return a, nil
}

func intClaim(n json.Number) (int64, error) {
	v, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr == nil && f == math.Trunc(f) {
			return int64(f), nil
		}
		return 0, err
	}
	return v, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	return dec.Decode(v)
}

// The REST handlers of apps.

func (s *Server) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	if who.app == nil {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded", docRoot)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	x := s.st.installs[id]
	if x == nil || x.app != who.app {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app")
		return
	}
	var body struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}
	if r.ContentLength != 0 && !readJSON(w, r, &body) {
		return
	}
	const doc = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
	var repos map[int64]bool
	var repoObjs []*repo
	if body.Repositories != nil || body.RepositoryIDs != nil {
		repos = map[int64]bool{}
		add := func(rp *repo) bool {
			if rp == nil || !x.covers(rp) {
				return false
			}
			if !repos[rp.id] {
				repos[rp.id] = true
				repoObjs = append(repoObjs, rp)
			}
			return true
		}
		ok := true
		for _, name := range body.Repositories {
			ok = ok && add(s.st.repos[strings.ToLower(x.account.login+"/"+name)])
		}
		for _, rid := range body.RepositoryIDs {
			var found *repo
			for _, rp := range s.st.repos {
				if rp.id == rid {
					found = rp
				}
			}
			ok = ok && add(found)
		}
		if !ok {
			writeError(w, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.", doc)
			return
		}
	}
	perms := x.perms
	if body.Permissions != nil {
		perms = map[string]string{}
		for k, v := range body.Permissions {
			have := x.perms[k]
			if have == "" || (v == "write" && have == "read") || (v != "read" && v != "write") {
				writeError(w, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.", doc)
				return
			}
			perms[k] = v
		}
	}
	ttl := s.opts.InstallationTokenTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	t := s.issueToken(x, repos, perms, ttl)
	sel := "all"
	if x.repos != nil {
		sel = "selected"
	}
	out := map[string]any{
		"token": t.value, "expires_at": ts(t.expires), "permissions": perms,
		"repository_selection": sel,
	}
	if repos != nil {
		list := make([]*repoJSON, 0, len(repoObjs))
		for _, rp := range repoObjs {
			list = append(list, s.repoJSON(rp))
		}
		out["repositories"] = list
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleRepoInstallation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	if who.app == nil {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded", docRoot)
		return
	}
	rp := s.st.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	var x *installation
	if rp != nil {
		for _, in := range s.st.installs {
			if in.app == who.app && in.covers(rp) && (x == nil || in.id < x.id) {
				x = in
			}
		}
	}
	if x == nil {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app")
		return
	}
	sel := "all"
	if x.repos != nil {
		sel = "selected"
	}
	api := s.APIURL()
	events := x.events
	if events == nil {
		events = []string{}
	}
	htmlURL := s.URL() + "/settings/installations/" + strconv.FormatInt(x.id, 10)
	if x.account.typ == "Organization" {
		htmlURL = s.URL() + "/organizations/" + x.account.login + "/settings/installations/" + strconv.FormatInt(x.id, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": x.id, "account": s.userJSON(x.account), "repository_selection": sel,
		"access_tokens_url": api + "/app/installations/" + strconv.FormatInt(x.id, 10) + "/access_tokens",
		"repositories_url":  api + "/installation/repositories",
		"html_url":          htmlURL,
		"app_id":            x.app.id, "app_slug": x.app.slug, "target_id": x.account.id,
		"target_type": x.account.typ, "permissions": x.perms, "events": events,
		"created_at": ts(x.created), "updated_at": ts(x.created),
		"single_file_name": nil, "has_multiple_single_files": false, "single_file_paths": []string{},
		"suspended_by": nil, "suspended_at": nil,
	})
}
