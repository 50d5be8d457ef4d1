package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/web"
	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/dkgo/datakit/term"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// stepLog is the log of a job's first step.
func (e *env) stepLog(id ci.TargetID, job string) term.Log {
	e.t.Helper()
	ts, ok := e.h.Engine.Target(id)
	if !ok {
		e.t.Fatalf("no target %s", id)
	}
	for _, j := range ts.Jobs {
		if j.Name == job && len(j.Logs) > 0 {
			return j.Logs[0]
		}
	}
	e.t.Fatalf("%s has no job %s with a log", id, job)
	return term.Log{}
}

// Every route, for every role: anonymous visitors are sent to the login
// page, users the ACLs do not name are refused, readers read, builders
// rebuild and cancel, the admin does everything.
func TestRoutesAndRoles(t *testing.T) {
	e := newEnv(t)
	e.targets()
	master := e.stepLog(ci.Branch("me/p", "master"), "build")
	saved := "/log/saved/" + master.Branch + "/" + master.Commit
	users := map[string]*user{}
	for _, n := range []string{"anonymous", "eve", "rita", "bob", "admin"} {
		users[n] = e.user(n)
	}
	type want struct {
		code     int
		location string // prefix
		body     string // substring
	}
	login := want{http.StatusSeeOther, "/auth/login", ""}
	denied := want{http.StatusForbidden, "", "Permission denied"}
	ok := func(body string) want { return want{http.StatusOK, "", body} }
	pages := []struct {
		path string
		body string
	}{
		{"/", "Resource pools"},
		{"/pr", "#7"},
		{"/branch", "feature/x-y"},
		{"/tag", "Tags"},
		{"/me/p/pr/7", "lint"},
		{"/me/p/ref/heads/master", "Test build-1111"},
		{"/me/p/ref/heads/feature/x-y", "Test build-3333"},
		{"/me/p/ref/heads/feature%2Fx-y", "Test build-3333"},
		{saved, "building build-1111"},
		{saved + "?tail=2", "red"},
	}
	for _, p := range pages {
		for name, u := range users {
			w := ok(p.body)
			switch name {
			case "anonymous":
				w = login
			case "eve":
				w = denied
			}
			t.Run("GET "+p.path+" as "+name, func(t *testing.T) { expect(t, u.get(p.path), w) })
		}
	}
	// The status target URL: one target at that head, so straight to it.
	for name, u := range users {
		w := want{http.StatusTemporaryRedirect, "/me/p/ref/heads/master?test=build", ""}
		switch name {
		case "anonymous":
			w = login
		case "eve":
			w = denied
		}
		t.Run("commit page as "+name, func(t *testing.T) { expect(t, u.get("/me/p/commit/"+sha1+"?test=build"), w) })
	}
	// Rebuilds: builders only, with the session's CSRF token.
	for name, u := range users {
		w := want{http.StatusSeeOther, "/me/p/ref/heads/master", ""}
		switch name {
		case "anonymous":
			w = login
		case "eve", "rita":
			w = denied
		}
		t.Run("rebuild as "+name, func(t *testing.T) {
			expect(t, u.post("/log/rebuild/"+master.Branch, url.Values{"CSRFToken": {u.csrf()}, "redirect": {"/me/p/ref/heads/master"}}), w)
		})
	}
	bob, admin, rita, anon := users["bob"], users["admin"], users["rita"], users["anonymous"]
	e.h.Settle()
	for _, c := range []struct {
		name   string
		u      *user
		method string
		path   string
		form   url.Values
		want   want
	}{
		{"no CSRF token", bob, "POST", "/log/rebuild/" + master.Branch, url.Values{"redirect": {"/"}}, want{403, "", "Missing CSRFToken"}},
		{"wrong CSRF token", bob, "POST", "/log/rebuild/" + master.Branch, url.Values{"CSRFToken": {"x" + bob.csrf()}, "redirect": {"/"}}, want{403, "", "Incorrect CSRFToken"}},
		{"another's CSRF token", bob, "POST", "/log/rebuild/" + master.Branch, url.Values{"CSRFToken": {rita.csrf()}, "redirect": {"/"}}, want{403, "", "Incorrect CSRFToken"}},
		{"anonymous without a session", &user{e: e, name: "nobody", c: anon.c}, "POST", "/cancel/x", url.Values{"CSRFToken": {"abc"}}, want{403, "", "Incorrect CSRFToken"}},
		{"missing redirect", bob, "POST", "/log/rebuild/" + master.Branch, url.Values{"CSRFToken": {bob.csrf()}}, want{400, "", "Missing redirect"}},
		{"redirect elsewhere", bob, "POST", "/log/rebuild/" + master.Branch, url.Values{"CSRFToken": {bob.csrf()}, "redirect": {"//evil.example/"}}, want{400, "", "Missing redirect"}},
		{"rebuild unknown branch", bob, "POST", "/log/rebuild/no-such", url.Values{"CSRFToken": {bob.csrf()}, "redirect": {"/"}}, want{404, "", "No job depends on branch"}},
		{"cancel idle branch", bob, "POST", "/cancel/" + master.Branch, url.Values{"CSRFToken": {bob.csrf()}}, want{404, "", "is not currently building"}},
		{"rebuild failed of PR", bob, "POST", "/rebuild-failed/me/p/pr/7", url.Values{"CSRFToken": {bob.csrf()}, "redirect": {"/me/p/pr/7"}}, want{303, "/me/p/pr/7", ""}},
		{"rebuild failed of project", admin, "POST", "/rebuild-failed/me/p", url.Values{"CSRFToken": {admin.csrf()}}, want{303, "/", ""}},
		{"rebuild failed as reader", rita, "POST", "/rebuild-failed/me/p", url.Values{"CSRFToken": {rita.csrf()}}, want{403, "", "Permission denied"}},
		{"rebuild failed of unknown project", bob, "POST", "/rebuild-failed/me/q", url.Values{"CSRFToken": {bob.csrf()}}, want{404, "", "No such project"}},
		{"unknown project", rita, "GET", "/me/q/pr/7", nil, want{404, "", "No such project"}},
		{"unknown PR", rita, "GET", "/me/p/pr/8", nil, want{404, "", "No such target"}},
		{"bad PR number", rita, "GET", "/me/p/pr/07", nil, want{404, "", "No such pull request"}},
		{"bad ref kind", rita, "GET", "/me/p/ref/remotes/x", nil, want{404, "", "No such ref"}},
		{"dot-dot in ref", rita, "GET", "/me/p/ref/heads/../../../etc/passwd", nil, want{404, "", "No such page"}},
		{"encoded dot-dot", rita, "GET", "/me/p/ref/heads/%2e%2e/x", nil, want{404, "", "No such page"}},
		{"encoded slash in user", rita, "GET", "/me%2Fp/x/pr/7", nil, want{404, "", "No such project"}},
		{"dot-dot in log branch", rita, "GET", "/log/saved/..%2F..%2Fgithub-metadata/" + master.Commit, nil, want{404, "", "No such log"}},
		{"another commit as log", rita, "GET", "/log/saved/" + master.Branch + "/0123456789012345678901234567890123456789", nil, want{404, "", "No such log"}},
		{"bad commit", rita, "GET", "/me/p/commit/xyz", nil, want{404, "", "No such commit"}},
		{"unknown commit", rita, "GET", "/me/p/commit/" + strings.Repeat("9", 40), nil, want{404, "", "No build of me/p"}},
		{"short commit", rita, "GET", "/me/p/commit/" + sha1[:7], nil, want{307, "/me/p/ref/heads/master", ""}},
		{"empty segment", rita, "GET", "//pr", nil, want{404, "", "No such page"}},
		{"unknown page", rita, "GET", "/nope", nil, want{404, "", "No such page"}},
		{"method", rita, "PUT", "/", nil, want{405, "", "Method not allowed"}},
		{"healthz", anon, "GET", "/healthz", nil, want{200, "", "ok"}},
		{"asset", anon, "GET", "/assets/style.css", nil, want{200, "", "--accent"}},
		{"colours", anon, "GET", "/assets/term.css", nil, want{200, "", ".term-fg31{"}},
		{"unknown asset", anon, "GET", "/assets/nope.js", nil, want{404, "", ""}},
		{"asset dot-dot", anon, "GET", "/assets/..%2Fweb.go", nil, want{404, "", ""}},
		{"login page", anon, "GET", "/auth/login", nil, want{200, "", "Log in with GitHub"}},
		{"login page logged in", bob, "GET", "/auth/login", nil, want{303, "/user/profile", ""}},
		{"wrong password", anon, "POST", "/auth/login", url.Values{"CSRFToken": {anon.csrf()}, "user": {"admin"}, "password": {"guess"}}, want{403, "", "Invalid user name or password"}},
		{"login without CSRF", anon, "POST", "/auth/login", url.Values{"user": {"admin"}, "password": {"admin-password"}}, want{403, "", "Missing CSRFToken"}},
		{"profile", bob, "GET", "/user/profile", nil, want{200, "", "acme"}},
		{"profile anonymous", anon, "GET", "/user/profile", nil, login},
		{"setup done", admin, "GET", "/auth/setup", nil, want{403, "", "Already initialised"}},
		{"setup as reader", rita, "GET", "/auth/setup", nil, denied},
		{"setup anonymous", anon, "GET", "/auth/setup", nil, login},
		{"intro after setup", anon, "GET", "/auth/intro/abc", nil, want{403, "", "Already initialised - log in as admin"}},
		{"settings", admin, "GET", "/settings", nil, want{200, "", "Client ID"}},
		{"settings as builder", bob, "GET", "/settings", nil, denied},
		{"settings save as builder", bob, "POST", "/settings/github-auth", url.Values{"CSRFToken": {bob.csrf()}, "client_id": {"x"}}, denied},
		{"error page", anon, "GET", "/error/logout-needed", nil, want{200, "", "log out and log in again"}},
		{"unknown error", anon, "GET", "/error/nope", nil, want{404, "", ""}},
		{"callback with a bad state", bob, "GET", "/auth/github-callback?state=x&code=y", nil, want{403, "", "Bad state"}},
		{"callback denied", bob, "GET", "/auth/github-callback?state=" + url.QueryEscape(bob.csrf()) + "&error=access_denied", nil, want{403, "", "GitHub login refused"}},
		{"callback bad code", bob, "GET", "/auth/github-callback?state=" + url.QueryEscape(bob.csrf()) + "&code=nope", nil, want{403, "", "could not be exchanged"}},
		{"metrics without token", anon, "GET", "/metrics", nil, want{403, "", "Bad token"}},
		{"logout without CSRF", rita, "POST", "/auth/logout", nil, want{403, "", "Missing CSRFToken"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a answer
			if c.method == "POST" {
				a = c.u.post(c.path, c.form)
			} else {
				req, _ := http.NewRequest(c.method, e.base+c.path, nil)
				a = c.u.do(req)
			}
			expect(t, a, c.want)
		})
	}
	t.Run("metrics with token", func(t *testing.T) {
		for tok, code := range map[string]int{metricsToken: 200, "wrong": 403} {
			req, _ := http.NewRequest("GET", e.base+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			a := anon.do(req)
			if a.code != code || code == 200 && !strings.Contains(a.body, "datakitci_web_requests_total") {
				t.Errorf("/metrics with %q = %d, want %d:\n%.300s", tok, a.code, code, a.body)
			}
		}
	})
	t.Run("logout", func(t *testing.T) {
		a := rita.post("/auth/logout", url.Values{"CSRFToken": {rita.csrf()}})
		expect(t, a, want{303, "/", ""})
		expect(t, rita.get("/"), login)
	})
}

func expect(t *testing.T, a answer, w struct {
	code     int
	location string
	body     string
}) {
	t.Helper()
	if a.code != w.code || !strings.HasPrefix(a.location, w.location) || !strings.Contains(a.body, w.body) {
		t.Errorf("got %d (Location %q), want %d (Location %q...) with %q:\n%.600s", a.code, a.location, w.code, w.location, w.body, a.body)
	}
}

// CanReadGitHub: who can read a private GitHub repository (as GitHub
// tells the web UI with the user's own token at login, with the "repo"
// scope) may read the CI; others may not. A session from before the ACLs
// named the repository must log in again.
func TestCanReadGitHubRepo(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.CanReadGitHub("acme/secret") },
		func(o *web.Options, gh *fakegithub.Server) {
			o.GitHubScopes = []string{"read:org", "repo"}
			check(t, gh.CreateRepo("acme/secret", fakegithub.RepoOptions{Private: true}))
			check(t, gh.AddCollaborator("acme/secret", "rita", fakegithub.PermRead))
		})
	e.targets()
	if a := e.user("rita").get("/"); a.code != 200 {
		t.Errorf("a collaborator of acme/secret: GET / = %d, want 200", a.code)
	}
	if a := e.user("eve").get("/"); a.code != 403 {
		t.Errorf("eve: GET / = %d, want 403", a.code)
	}
	if a := e.user("bob").get("/"); a.code != 200 {
		t.Errorf("bob (an owner of acme, so he can read acme/secret): GET / = %d, want 200", a.code)
	}
}

// Options.Health's problems are a banner on every page, the log pages
// included, and make /healthz answer 503 with them, until cleared.
func TestHealthProblems(t *testing.T) {
	h := &web.Health{}
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() }, func(o *web.Options, _ *fakegithub.Server) { o.Health = h })
	e.targets()
	anon := e.user("anonymous")
	master := e.stepLog(ci.Branch("me/p", "master"), "build")
	pages := []string{"/", "/pr", "/me/p/ref/heads/master", "/log/saved/" + master.Branch + "/" + master.Commit, "/nope"}
	h.Set("github", "GitHub rejects the <token>")
	for _, p := range pages {
		if a := anon.get(p); !strings.Contains(a.body, `<p class="banner warning">GitHub rejects the &lt;token&gt;</p>`) {
			t.Errorf("GET %s has no banner:\n%.1500s", p, a.body)
		}
	}
	if a := anon.get("/healthz"); a.code != http.StatusServiceUnavailable || a.body != "degraded: GitHub rejects the <token>\n" {
		t.Errorf("/healthz = %d %q, want 503 degraded", a.code, a.body)
	}
	h.Set("github", "")
	if a := anon.get("/"); strings.Contains(a.body, "banner warning") {
		t.Errorf("the banner stays once cleared:\n%s", a.body)
	}
	if a := anon.get("/healthz"); a.code != http.StatusOK || a.body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", a.code, a.body)
	}
}

// Without Project.Dashboards the dashboard shows the branches main and
// master, those that exist, and says how to choose others; with it, its
// branches. Counts are in the singular or plural as they should be.
func TestDashboardDefaults(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	anon := e.user("anonymous")
	a := anon.get("/")
	if !strings.Contains(a.body, "No branch of me/p is chosen for the dashboard, and it has no main or master branch yet") || strings.Contains(a.body, `class="tile `) {
		t.Errorf("the dashboard of a CI without targets:\n%s", a.body)
	}
	e.targets()
	a = anon.get("/")
	if !strings.Contains(a.body, `<a class="tile success" href="/me/p/ref/heads/master">`) || !strings.Contains(a.body, "Showing me/p&#39;s master: no branch of it is chosen for the dashboard. To choose the branches shown here, set Project.Dashboards") {
		t.Errorf("the dashboard without Project.Dashboards:\n%s", a.body)
	}
	if !strings.Contains(a.body, ">1 open PR</a> · <a href=\"/branch\">2 branches</a> · <a href=\"/tag\">0 tags</a>") {
		t.Errorf("the counts:\n%s", a.body)
	}

	// Without main or master (make run's self-CI tests only the checkout's
	// branch, --canary): its few branches, rather than no tile at all.
	e3 := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	e3.h.SetBranch("me/p", "trial", sha1)
	e3.h.SetBranch("me/p", "feature/x-y", sha3)
	e3.h.WaitStatus("me/p", sha1, "build", ci.Success)
	e3.h.WaitStatus("me/p", sha3, "build", ci.Success)
	a = e3.user("anonymous").get("/")
	if !strings.Contains(a.body, `<a class="tile success" href="/me/p/ref/heads/trial">`) || !strings.Contains(a.body, `href="/me/p/ref/heads/feature/x-y"`) ||
		!strings.Contains(a.body, "Showing me/p&#39;s feature/x-y, trial: no branch of it is chosen for the dashboard, and no main or master branch of it is tested.") {
		t.Errorf("the dashboard of a project without main or master:\n%s", a.body)
	}

	e2 := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone(); c.Projects[0].Dashboards = []string{"feature/x-y"} })
	e2.targets()
	a = e2.user("anonymous").get("/")
	if !strings.Contains(a.body, `href="/me/p/ref/heads/feature/x-y"`) || strings.Contains(a.body, `href="/me/p/ref/heads/master"`) || strings.Contains(a.body, "Project.Dashboards") {
		t.Errorf("the dashboard with Project.Dashboards:\n%s", a.body)
	}
}

// Error pages (404, 403, 500, a panic's) are in the site's layout, say
// what went wrong once, and link home.
func TestErrorPages(t *testing.T) {
	e := newEnv(t)
	e.targets()
	web.PanicOn(t, "/panic")
	rita, eve := e.user("rita"), e.user("eve")
	for _, c := range []struct {
		u       *user
		path    string
		code    int
		heading string
		msg     string
	}{
		{rita, "/nope", 404, "Page not found", "No such page"},
		{rita, "/me/q/pr/1", 404, "Page not found", "No such project"},
		{eve, "/", 403, "Not allowed", "Permission denied"},
		{rita, "/log/live/never-built", 500, "Something went wrong", "Log finished, but wasn&#39;t saved!"},
		{rita, "/panic", 500, "Something went wrong", "The CI failed to show this page"},
	} {
		a := c.u.get(c.path)
		if a.code != c.code || !strings.Contains(a.body, `<header class="top">`) || !strings.Contains(a.body, "<h1>"+c.heading+"</h1>") ||
			strings.Count(a.body, c.msg) != 1 || !strings.Contains(a.body, `<a href="/" id="home">`) || !strings.Contains(a.body, fmt.Sprintf("HTTP %d", c.code)) {
			t.Errorf("GET %s as %s = %d, want %d in the layout with %q, %q once and a link home:\n%s", c.path, c.u.name, a.code, c.code, c.heading, c.msg, a.body)
		}
	}
	if a := eve.get("/"); !strings.Contains(a.body, "Log in as someone else") {
		t.Errorf("a user refused is not offered to log in as someone else:\n%s", a.body)
	}
}

// The header's "Log in", pressed on a public page, brings the visitor back
// to that page once logged in (it went to the dashboard).
func TestLoginComesBack(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	e.user("admin") // sets the password
	e.targets()
	anon := e.user("anonymous")
	page := anon.get("/me/p/ref/heads/master")
	m := regexp.MustCompile(`<a href="([^"]*)" id="login">`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no Log in link on a public page:\n%s", page.body)
	}
	link := html.UnescapeString(m[1])
	if a := anon.get(link); a.code != http.StatusOK {
		t.Fatalf("GET %s = %d", link, a.code)
	}
	a := anon.post("/auth/login", url.Values{"CSRFToken": {anon.csrf()}, "user": {"admin"}, "password": {"admin-password"}})
	if a.code != http.StatusSeeOther || a.location != "/me/p/ref/heads/master" {
		t.Errorf("login from %s = %d to %q, want 303 to /me/p/ref/heads/master", link, a.code, a.location)
	}
	// Only a path of the site, and not an /auth/ page, is a way back.
	for _, bad := range []string{"//evil.example/x", "https://evil.example/", "/auth/logout"} {
		u := e.user("anonymous")
		u.get("/auth/login?redirect=" + url.QueryEscape(bad))
		if a := u.post("/auth/login", url.Values{"CSRFToken": {u.csrf()}, "user": {"admin"}, "password": {"admin-password"}}); a.location != "/" {
			t.Errorf("login with redirect %q goes to %q, want /", bad, a.location)
		}
	}
}
