package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/ci/web"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/dkgo/datakit/term"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
	sha3 = "3333333333333333333333333333333333333333"
)

// builder is a step whose builds the test drives: a build of key k
// writes "building k", a line with markup and colours, then waits for
// lines from feed[k] (while hold[k] is set) and fails if fail[k] is set.
type builder struct {
	mu    sync.Mutex
	fail  map[string]bool
	hold  map[string]bool
	feed  map[string]chan string
	count map[string]int
}

func newBuilder() *builder {
	return &builder{fail: map[string]bool{}, hold: map[string]bool{}, feed: map[string]chan string{}, count: map[string]int{}}
}

func (b *builder) Name() string             { return "test" }
func (b *builder) Branch(key string) string { return "test-of-" + key }
func (b *builder) Title(key string) string  { return "Test " + key }
func (b *builder) channel(key string) chan string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.feed[key] == nil {
		b.feed[key] = make(chan string, 100)
	}
	return b.feed[key]
}
func (b *builder) Generate(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, key string) (string, error) {
	b.mu.Lock()
	b.count[key]++
	fail, hold := b.fail[key], b.hold[key]
	b.mu.Unlock()
	log.Write([]byte("building " + key + "\n<script>alert('log')</script>\n\x1b[1;31mred\x1b[0m\n"))
	if hold {
		ch := b.channel(key)
		for {
			select {
			case line, ok := <-ch:
				if !ok {
					goto done
				}
				log.Write([]byte(line))
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
done:
	if fail {
		return "", errors.New(key + " broke <script>x</script>")
	}
	return key, tx.WriteFile(ctx, "value", []byte(key), dkstore.KindFile)
}
func (b *builder) Load(ctx context.Context, tree dkstore.Tree, key string) (string, error) {
	v, err := tree.ReadFile(ctx, "value")
	return string(v), err
}
func (b *builder) builds(key string) int { b.mu.Lock(); defer b.mu.Unlock(); return b.count[key] }

// env is a CI with one project, me/p, its web UI, and a GitHub stand-in
// with users: rita may read (by name), bob may build and read (member of
// the organization acme), eve may do nothing. The admin's password is
// set through the intro link when a test logs in as admin.
type env struct {
	t     *testing.T
	h     *citest.Harness
	b     *builder
	pool  *pool.Pool
	gh    *fakegithub.Server
	web   *web.Server
	srv   *httptest.Server
	base  string
	reg   *prometheus.Registry
	token string // the metrics bearer token
}

// metricsToken's SHA-256 is given to the server.
const metricsToken = "s3cret-metrics"

// newEnv makes the env; opts are func(*ci.Config) to change the
// configuration, and func(*web.Options, *fakegithub.Server) to change the
// web UI's options or the stand-in's state.
func newEnv(t *testing.T, opts ...any) *env {
	t.Helper()
	e := &env{t: t, b: newBuilder(), pool: pool.New("docker", 1, nil), gh: fakegithub.New(fakegithub.Options{}), reg: prometheus.NewRegistry(), token: metricsToken}
	t.Cleanup(e.gh.Close)
	c := cache.New[string, string](e.b, cache.Options{Pool: e.pool})
	cfg := ci.Config{
		Projects: []ci.Project{{Repo: "me/p", Jobs: func(t ci.Target) ci.Jobs {
			jobs := ci.Jobs{"build": c.Find("build-" + t.Head[:4])}
			if t.IsPR() {
				jobs["lint"] = term.Map(c.Find("lint-"+t.Head[:4]), func(string) string { return "Lint <b>passed</b>" })
			}
			return jobs
		}}},
		Pools:    []*pool.Pool{e.pool},
		CanRead:  ci.Any(ci.User("github:rita"), ci.GitHubOrg("acme")),
		CanBuild: ci.User("github:bob"),
	}
	for _, o := range opts {
		if f, ok := o.(func(*ci.Config)); ok {
			f(&cfg)
		}
	}
	e.h = citest.New(t, cfg, citest.WithOptions(ci.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	for _, u := range []string{"rita", "bob", "eve", "admin"} {
		must(e.gh.AddUser(u))
		check(t, e.gh.SetPassword(u, "pw-"+u))
	}
	check(t, e.gh.AddOrg("acme", "bob"))
	var handler http.Handler = http.NotFoundHandler()
	var mu sync.Mutex
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL
	app, err := e.gh.AddOAuthApp("CI", e.base+"/auth/github-callback")
	check(t, err)
	secrets := t.TempDir()
	check(t, os.WriteFile(filepath.Join(secrets, "github-oauth.json"), []byte(`{"client_id":"`+app.ClientID+`","client_secret":"`+app.ClientSecret+`"}`), 0o600))
	digest, err := web.MetricsTokenDigest(sha256hex(metricsToken))
	check(t, err)
	wopts := web.Options{SecretsDir: secrets, PublicURL: e.base + "/", GitHubURL: e.gh.URL(),
		MetricsTokenSHA256: digest, Gatherer: e.reg, Registerer: e.reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		if f, ok := o.(func(*web.Options, *fakegithub.Server)); ok {
			f(&wopts, e.gh)
		}
	}
	e.web, err = web.New(e.h.Engine, wopts)
	check(t, err)
	mu.Lock()
	handler = e.web
	mu.Unlock()
	return e
}

// targets sets up master (at sha1, succeeding), PR 7 (at sha2, titled
// with markup, whose lint fails) and feature/x-y (at sha3).
func (e *env) targets() {
	e.b.fail["lint-2222"] = true
	e.h.SetBranch("me/p", "master", sha1)
	e.h.OpenPR("me/p", 7, sha2, "<script>alert('title')</script>")
	e.h.SetBranch("me/p", "feature/x-y", sha3)
	e.h.WaitStatus("me/p", sha1, "build", ci.Success)
	e.h.WaitStatus("me/p", sha2, "lint", ci.Failure)
	e.h.WaitStatus("me/p", sha3, "build", ci.Success)
	e.h.Settle()
}

// user is a browser: a cookie jar, not following redirects (follow
// does, for the GitHub login).
type user struct {
	e      *env
	name   string
	c      *http.Client
	follow *http.Client
}

func (e *env) user(name string) *user {
	jar, err := cookiejar.New(nil)
	check(e.t, err)
	u := &user{e: e, name: name,
		c:      &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		follow: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	switch name {
	case "anonymous":
	case "admin":
		u.setupAdmin()
	default:
		u.githubLogin()
	}
	return u
}

type answer struct {
	code     int
	body     string
	location string
	header   http.Header
}

func (u *user) do(req *http.Request) answer {
	u.e.t.Helper()
	resp, err := u.c.Do(req)
	check(u.e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(u.e.t, err)
	return answer{resp.StatusCode, string(b), resp.Header.Get("Location"), resp.Header}
}

func (u *user) get(path string) answer {
	u.e.t.Helper()
	req, err := http.NewRequest("GET", u.e.base+path, nil)
	check(u.e.t, err)
	return u.do(req)
}

func (u *user) post(path string, form url.Values) answer {
	u.e.t.Helper()
	req, err := http.NewRequest("POST", u.e.base+path, strings.NewReader(form.Encode()))
	check(u.e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(req)
}

var csrfRE = regexp.MustCompile(`name="CSRFToken" value="([^"]+)"`)

// csrf returns the user's CSRF token, from the login page (anonymous) or
// any page with a form.
func (u *user) csrf() string {
	u.e.t.Helper()
	for _, p := range []string{"/auth/login", "/user/profile"} {
		if m := csrfRE.FindStringSubmatch(u.get(p).body); m != nil {
			return m[1]
		}
	}
	u.e.t.Fatalf("%s: no CSRF token found", u.name)
	return ""
}

// setupAdmin logs in through the intro link and sets the password.
func (u *user) setupAdmin() {
	t := u.e.t
	t.Helper()
	intro := u.e.web.IntroURL()
	if intro == "" {
		// Set already: log in with the password.
		a := u.post("/auth/login", url.Values{"CSRFToken": {u.csrf()}, "user": {"admin"}, "password": {"admin-password"}})
		if a.code != http.StatusSeeOther {
			t.Fatalf("admin login = %d %s", a.code, a.body)
		}
		return
	}
	a := u.get(strings.TrimPrefix(intro, u.e.base))
	if a.code != http.StatusSeeOther || a.location != "/auth/setup" {
		t.Fatalf("intro = %d %s, want 303 to /auth/setup", a.code, a.location)
	}
	page := u.get("/auth/setup")
	m := csrfRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("setup page without a form: %d %s", page.code, page.body)
	}
	a = u.post("/auth/setup", url.Values{"CSRFToken": {m[1]}, "password": {"admin-password"}, "password2": {"admin-password"}})
	if a.code != http.StatusSeeOther {
		t.Fatalf("setup = %d %s", a.code, a.body)
	}
}

var authenticityRE = regexp.MustCompile(`name="authenticity_token" value="([0-9a-f]+)"`)

// githubLogin logs in with GitHub, as a person clicking through.
func (u *user) githubLogin() {
	t := u.e.t
	t.Helper()
	resp, err := u.follow.Get(u.e.base + "/auth/github")
	check(t, err)
	readAll(t, resp)
	ret := resp.Request.URL.Query().Get("return_to")
	resp, err = u.follow.PostForm(u.e.gh.URL()+"/session", url.Values{"login": {u.name}, "password": {"pw-" + u.name}, "return_to": {ret}})
	check(t, err)
	page := readAll(t, resp)
	m := authenticityRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("%s: no authorization page: %s", u.name, page)
	}
	resp, err = u.follow.PostForm(u.e.gh.URL()+"/login/oauth/authorize", url.Values{"authenticity_token": {m[1]}, "authorize": {"1"}})
	check(t, err)
	page = readAll(t, resp)
	if resp.Request.URL.Host != strings.TrimPrefix(u.e.base, "http://") || !strings.Contains(page, "github:"+u.name) {
		t.Fatalf("%s: the GitHub login ended on %s: %s", u.name, resp.Request.URL, page)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(t, err)
	return string(b)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
