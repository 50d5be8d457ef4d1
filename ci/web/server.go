package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dkgo/datakit/ci"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Options configure a Server. Only SecretsDir is required.
type Options struct {
	// Name is the CI's name: the pages' heading when set (else "CI:
	// <projects>"), and the session cookie's suffix (default: the
	// configuration's Name, else "datakit-ci").
	Name string
	// SecretsDir holds the admin password's hash (passwords.json), the
	// GitHub OAuth application (github-oauth.json) and the TLS key and
	// certificate (server.key, server.crt). Created (mode 0700) if
	// missing.
	SecretsDir string
	// PublicURL is the web UI's public base URL (the CI's --web-ui): its
	// scheme decides whether cookies are Secure, and the GitHub login's
	// callback URL is built on it. Default "http://127.0.0.1:8080/".
	PublicURL string
	// GitHubURL is GitHub's web address, for links and the OAuth login
	// (default "https://github.com"); GitHubAPIURL its API's (default
	// "https://api.github.com/", or GitHubURL + "/api/v3/" when GitHubURL
	// is set: a GitHub Enterprise Server, or a stand-in).
	GitHubURL, GitHubAPIURL string
	// LocalRepos are the projects whose repository is not on GitHub (a
	// CI's --local-repo ones): their pages have no GitHub links, which
	// would lead to a page GitHub does not have.
	LocalRepos []ci.Repo
	// Refresh is how often the dashboard, the lists, and the target and
	// commit pages update themselves in a browser that shows them (they
	// fetch themselves again and show what changed). Default 10s; a
	// negative value: never.
	Refresh time.Duration
	// GitHubScopes are the OAuth scopes asked for at login (default
	// read:org, to see private organization memberships; add "repo" for
	// the CanReadGitHub ACLs of private repositories).
	GitHubScopes []string
	// HTTPClient makes the requests to GitHub (default
	// http.DefaultClient).
	HTTPClient *http.Client
	// StateRepo, if set, is the URL of a public mirror of the CI's state
	// (its store's auto-push), for "history" links into it.
	StateRepo string
	// MetricsTokenSHA256 is the SHA-256 digest of the bearer token that
	// /metrics requires; /metrics answers 403 to everyone without it.
	MetricsTokenSHA256 []byte
	// Gatherer is what /metrics serves (e.g. the CI's registry), and
	// Registerer where the web UI's own metrics go (both optional).
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer
	// Logger receives a line per login, logout, rebuild and cancellation
	// (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Health, if set, holds the problems other parts of the process
	// report (ci/cimain: the GitHub bridge's rejected token): a banner
	// on every page, and /healthz answers 503.
	Health *Health
}

// Server is the web UI of one engine. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	e            *ci.Engine
	cfg          ci.Config
	opts         Options
	log          *slog.Logger
	now          func() time.Time
	secure       bool
	base         *url.URL // PublicURL
	cookieSuffix string
	heading      string
	sessions     *sessions
	pages        map[string]*template.Template
	assets       fs.FS
	metrics      *webMetrics
	css          []byte

	mu    sync.Mutex
	intro string // the first-run token, "" once the admin password is set
	admin string // the admin's password hash ("" until set)
	gh    oauthApp
}

// New returns the web UI of engine e. If no admin password is set yet, it
// makes a one-time intro link (IntroURL) that logs its visitor in as
// admin to choose one.
func New(e *ci.Engine, opts Options) (*Server, error) {
	if opts.SecretsDir == "" {
		return nil, errors.New("web: no secrets directory")
	}
	if err := os.MkdirAll(opts.SecretsDir, 0o700); err != nil {
		return nil, fmt.Errorf("web: secrets directory: %w", err)
	}
	if opts.Refresh == 0 {
		opts.Refresh = 10 * time.Second
	}
	if opts.PublicURL == "" {
		opts.PublicURL = "http://127.0.0.1:8080/"
	}
	if !strings.HasSuffix(opts.PublicURL, "/") {
		opts.PublicURL += "/"
	}
	base, err := url.Parse(opts.PublicURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("web: bad public URL %q: want http(s)://HOST[:PORT]/", opts.PublicURL)
	}
	if opts.GitHubURL == "" {
		opts.GitHubURL = "https://github.com"
		if opts.GitHubAPIURL == "" {
			opts.GitHubAPIURL = "https://api.github.com/"
		}
	}
	opts.GitHubURL = strings.TrimSuffix(opts.GitHubURL, "/")
	if opts.GitHubAPIURL == "" {
		opts.GitHubAPIURL = opts.GitHubURL + "/api/v3/"
	}
	if !strings.HasSuffix(opts.GitHubAPIURL, "/") {
		opts.GitHubAPIURL += "/"
	}
	if opts.GitHubScopes == nil {
		opts.GitHubScopes = []string{"read:org"}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg := e.Config()
	if opts.Name == "" {
		opts.Name = cfg.Name
	}
	s := &Server{e: e, cfg: cfg, opts: opts, log: opts.Logger, now: opts.Now, base: base,
		secure: base.Scheme == "https", sessions: newSessions(opts.Now)}
	s.cookieSuffix = cookieSafe(opts.Name)
	if s.cookieSuffix == "" {
		s.cookieSuffix = "datakit-ci"
	}
	s.heading = opts.Name
	if s.heading == "" {
		var ps []string
		for _, p := range e.Projects() {
			ps = append(ps, p.Repo)
		}
		s.heading = "CI: " + strings.Join(ps, ", ")
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.assets, err = fs.Sub(assetFS, "assets"); err != nil {
		return nil, err
	}
	s.css = termCSS()
	s.metrics = newWebMetrics(opts.Registerer)
	pw, err := readPasswords(opts.SecretsDir)
	switch {
	case err == nil:
		s.admin = pw.Users["admin"]
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if s.admin == "" {
		s.intro = randomToken(24)
	}
	if s.gh, err = readOAuthApp(opts.SecretsDir); err != nil {
		return nil, err
	}
	return s, nil
}

// cookieSafe keeps the characters of name that a cookie name may hold.
func cookieSafe(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return -1
	}, name)
}

// IntroURL is the one-time link that logs its visitor in as admin to
// choose the admin password: "" once one is set. The CI prints it at
// start.
func (s *Server) IntroURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.intro == "" {
		return ""
	}
	return s.opts.PublicURL + "auth/intro/" + s.intro
}

// role is what a request may do.
type role struct {
	sess    *session
	user    string
	reader  bool
	builder bool
	admin   bool
}

// roleOf judges the request's session by the ACLs. The admin may do
// everything.
func (s *Server) roleOf(sess *session) role {
	id := sess.identity()
	r := role{sess: sess, user: id.User, admin: id.User == "admin"}
	r.reader = r.admin || s.cfg.CanRead.Permits(id)
	r.builder = r.admin || s.cfg.CanBuild.Permits(id)
	return r
}

// ServeHTTP routes a request (see the package documentation for the
// routes).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.metrics.begin(r.Method)
	rec := &recorder{ResponseWriter: w}
	defer func() { s.metrics.end(rec.code(), time.Since(start)) }()
	h := rec.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self' "+s.opts.GitHubURL)
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("web: a page failed", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if rec.status == 0 {
				s.fail(rec, r, http.StatusInternalServerError, "The CI failed to show this page; its log says why.")
			}
		}
	}()
	if hook := testHookRoute.Load(); hook != nil {
		(*hook)(r)
	}
	s.route(rec, r)
}

// testHookRoute, if set (by tests), is called with every request before
// it is routed.
var testHookRoute atomic.Pointer[func(*http.Request)]

// recorder notes the status code of an answer. It passes flushes on
// (http.ResponseController finds them through Unwrap).
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// segments splits the request's path into its unescaped segments. ok is
// false for paths with "." or ".." segments, empty segments or bad
// escapes: such paths name nothing here.
func segments(r *http.Request) (segs []string, ok bool) {
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	if p == "/" {
		return nil, true
	}
	for _, raw := range strings.Split(p[1:], "/") {
		seg, err := url.PathUnescape(raw)
		if err != nil || seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\x00") {
			return nil, false
		}
		segs = append(segs, seg)
	}
	return segs, true
}

// route dispatches on the path's segments.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	segs, ok := segments(r)
	if !ok {
		s.notFound(w, r, "No such page")
		return
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	post := r.Method == http.MethodPost
	n := len(segs)
	first := ""
	if n > 0 {
		first = segs[0]
	}
	switch {
	case n == 0 && get:
		s.reader(w, r, s.dashboard)
		return
	case n == 1 && first == "healthz" && get:
		s.healthz(w, r)
		return
	case n == 1 && first == "metrics" && get:
		s.serveMetrics(w, r)
		return
	case n == 1 && (first == "pr" || first == "branch" || first == "tag") && get:
		s.reader(w, r, func(w http.ResponseWriter, r *http.Request, ro role) { s.targetList(w, r, ro, first) })
		return
	case n == 2 && first == "assets" && get:
		s.asset(w, r, segs[1])
		return
	case first == "auth":
		if s.authRoute(w, r, segs[1:]) {
			return
		}
	case n == 2 && first == "user" && segs[1] == "profile" && get:
		s.profile(w, r)
		return
	case first == "settings":
		if s.settingsRoute(w, r, segs[1:]) {
			return
		}
	case n == 2 && first == "error" && get:
		s.errorPage(w, r, segs[1])
		return
	case n >= 3 && first == "log" && segs[1] == "live" && get:
		s.reader(w, r, func(w http.ResponseWriter, r *http.Request, ro role) {
			s.liveLog(w, r, ro, strings.Join(segs[2:], "/"))
		})
		return
	case n >= 4 && first == "log" && segs[1] == "saved" && get:
		s.reader(w, r, func(w http.ResponseWriter, r *http.Request, ro role) {
			s.savedLog(w, r, ro, strings.Join(segs[2:n-1], "/"), segs[n-1])
		})
		return
	case n >= 3 && first == "log" && segs[1] == "rebuild" && post:
		s.builder(w, r, func(w http.ResponseWriter, r *http.Request, ro role) {
			s.rebuild(w, r, ro, strings.Join(segs[2:], "/"))
		})
		return
	case n >= 2 && first == "cancel" && post:
		s.builder(w, r, func(w http.ResponseWriter, r *http.Request, ro role) { s.cancel(w, r, ro, strings.Join(segs[1:], "/")) })
		return
	case n >= 3 && first == "rebuild-failed" && post:
		s.builder(w, r, func(w http.ResponseWriter, r *http.Request, ro role) { s.rebuildFailed(w, r, ro, segs[1:]) })
		return
	case n >= 4 && get:
		if s.projectRoute(w, r, segs) {
			return
		}
	}
	if !get && !post {
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	s.notFound(w, r, "No such page")
}

// projectRoute serves /USER/REPO/pr/N, /USER/REPO/ref/REF... and
// /USER/REPO/commit/SHA.
func (s *Server) projectRoute(w http.ResponseWriter, r *http.Request, segs []string) bool {
	switch segs[2] {
	case "pr", "ref", "commit":
	default:
		return false
	}
	s.reader(w, r, func(w http.ResponseWriter, r *http.Request, ro role) {
		repo, ok := s.project(segs[0], segs[1])
		if !ok {
			s.notFound(w, r, "No such project")
			return
		}
		switch segs[2] {
		case "pr":
			var n int
			if len(segs) != 4 || !parsePR(segs[3], &n) {
				s.notFound(w, r, "No such pull request")
				return
			}
			s.targetPage(w, r, ro, ci.TargetID{Repo: repo, PR: n})
		case "ref":
			ref := strings.Join(segs[3:], "/")
			if !strings.HasPrefix(ref, "heads/") && !strings.HasPrefix(ref, "tags/") {
				s.notFound(w, r, "No such ref (want ref/heads/BRANCH or ref/tags/TAG)")
				return
			}
			s.targetPage(w, r, ro, ci.TargetID{Repo: repo, Ref: ref})
		case "commit":
			if len(segs) != 4 {
				s.notFound(w, r, "No such page")
				return
			}
			s.commitPage(w, r, ro, repo, segs[3])
		}
	})
	return true
}

func parsePR(s string, n *int) bool {
	if len(s) == 0 || len(s) > 9 || s[0] == '0' {
		return false
	}
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	*n = v
	return true
}

// project finds a configured project.
func (s *Server) project(user, repo string) (ci.Repo, bool) {
	if strings.Contains(user, "/") || strings.Contains(repo, "/") {
		return ci.Repo{}, false
	}
	id, err := ci.ParseTargetID(user + "/" + repo + "/heads/x")
	if err != nil || !s.e.IsProject(id.Repo) {
		return ci.Repo{}, false
	}
	return id.Repo, true
}

// handler is a page handler given the request's role.
type handler func(http.ResponseWriter, *http.Request, role)

// reader serves h to readers. Anonymous visitors who may not read are
// sent (303) to the login page, which brings them back; logged-in users
// who may not are refused.
func (s *Server) reader(w http.ResponseWriter, r *http.Request, h handler) {
	sess := s.session(r)
	ro := s.roleOf(sess)
	if !ro.reader {
		s.deny(w, r, ro)
		return
	}
	if s.mustRelogin(sess) {
		http.Redirect(w, r, "/error/logout-needed", http.StatusSeeOther)
		return
	}
	h(w, r, ro)
}

// builder serves the POST h to builders, after checking its CSRF token.
func (s *Server) builder(w http.ResponseWriter, r *http.Request, h handler) {
	sess := s.session(r)
	if msg := checkCSRF(r, sess); msg != "" {
		s.fail(w, r, http.StatusForbidden, msg)
		return
	}
	ro := s.roleOf(sess)
	if !ro.builder {
		s.deny(w, r, ro)
		return
	}
	h(w, r, ro)
}

// deny answers a request its role does not allow.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, ro role) {
	if ro.user == "" {
		sess := s.ensureSession(w, r)
		if r.Method == http.MethodGet {
			sess.redirect = r.URL.RequestURI()
			s.sessions.put(sess)
		}
		http.Redirect(w, r, "/auth/login", http.StatusSeeOther)
		return
	}
	s.fail(w, r, http.StatusForbidden, "Permission denied")
}

// mustRelogin reports whether a GitHub user's session predates the ACLs:
// they name a repository whose readability was not checked at login.
func (s *Server) mustRelogin(sess *session) bool {
	if sess == nil || !strings.HasPrefix(sess.user, "github:") {
		return false
	}
	for _, repo := range append(s.cfg.CanRead.GitHubRepos(), s.cfg.CanBuild.GitHubRepos()...) {
		found := false
		for _, c := range sess.checked {
			found = found || c == repo
		}
		if !found {
			return true
		}
	}
	return false
}

// healthz answers "ok" while the engine runs (is connected to its store)
// and Options.Health has no problems; else 503 with what is wrong, a line
// each ("degraded: ..." for Health's problems).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var lines []string
	if !s.e.Running() {
		lines = append(lines, "not connected to the store")
	}
	for _, p := range s.opts.Health.Problems() {
		lines = append(lines, "degraded: "+p)
	}
	if len(lines) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(lines, "\n"))
		return
	}
	fmt.Fprintln(w, "ok")
}

// serveMetrics serves the Prometheus metrics to a client whose bearer
// token's SHA-256 is MetricsTokenSHA256.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(tok))
	if !ok || len(s.opts.MetricsTokenSHA256) != sha256.Size || subtle.ConstantTimeCompare(sum[:], s.opts.MetricsTokenSHA256) != 1 || s.opts.Gatherer == nil {
		s.fail(w, r, http.StatusForbidden, "Bad token")
		return
	}
	promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// MetricsTokenDigest returns the digest for Options.MetricsTokenSHA256 of
// a token given as hex ("sha256:<hex>" or just the hex digits).
func MetricsTokenDigest(hexDigest string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(hexDigest), "sha256:"))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("web: a metrics token digest is 64 hex digits (sha256sum of the token)")
	}
	return b, nil
}

// asset serves an embedded static file.
func (s *Server) asset(w http.ResponseWriter, r *http.Request, name string) {
	if name == "term.css" {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(s.css)
		return
	}
	if _, err := fs.Stat(s.assets, name); err != nil || path.Base(name) != name {
		s.notFound(w, r, "No such file")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, s.assets, name)
}
