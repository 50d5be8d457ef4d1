package web_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/web"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// chromium finds Debian's chromium (make deps installs it). Without it
// the test is skipped, except with CI=true, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium: install Debian's chromium (make deps)")
	}
	t.Skip("no chromium: install Debian's chromium (make deps) to run the browser tests")
	return ""
}

// screenshotDir is where the browser tests keep their screenshots:
// $WEB_SCREENSHOTS, else a directory under the system's temporary one.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("WEB_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "datakit-ci-web-screenshots")
	}
	check(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browserCtx starts a headless Chromium with a window of w×h pixels.
func browserCtx(t *testing.T, w, h int, mobile bool) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(w, h))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	if mobile {
		check(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), int64(h), chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)))
	}
	return ctx
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	check(t, err)
	p := filepath.Join(screenshotDir(t), name+".png")
	check(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot %s", p)
}

// location is the page's path and query.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	check(t, err)
	return loc
}

// In a real browser: an anonymous visitor is sent to the login page; bob
// logs in with GitHub (through the stand-in's pages), sees the dashboard
// and a target, watches a live log grow while the step writes it,
// rebuilds a step, and logs out.
func TestBrowser(t *testing.T) {
	chromium(t)
	e := newEnv(t)
	e.targets()
	// feature/x-y moves on, and its build waits for lines.
	const sha4 = "4444444444444444444444444444444444444444"
	e.b.hold["build-4444"] = true
	feed := e.b.channel("build-4444")
	e.h.SetBranch("me/p", "feature/x-y", sha4)
	e.h.WaitStatus("me/p", sha4, "build", ci.Pending, citest.Description("Test build-4444"))
	ctx := browserCtx(t, 1280, 900, false)

	// Anonymous: refused, sent to log in.
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/me/p/ref/heads/master")))
	if loc := location(t, ctx); loc != "/auth/login" {
		t.Fatalf("anonymous visitor is on %s, want /auth/login", loc)
	}
	shot(t, ctx, "login")

	// Log in with GitHub: the stand-in's sign-in and authorization pages.
	check(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#github-login")),
		chromedp.WaitVisible(chromedp.CSS("#login_field")),
		chromedp.SendKeys(chromedp.CSS("#login_field"), "bob"),
		chromedp.SendKeys(chromedp.CSS("#password"), "pw-bob"),
		chromedp.Click(chromedp.CSS(`input[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#js-oauth-authorize-btn")),
		chromedp.Click(chromedp.CSS("#js-oauth-authorize-btn")),
		chromedp.WaitVisible(chromedp.CSS("#logout")),
	))
	if loc := location(t, ctx); loc != "/me/p/ref/heads/master" {
		t.Errorf("after login the browser is on %s, want the page it asked for", loc)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".who a")))
	check(t, err)
	if who != "github:bob" {
		t.Errorf("logged in as %q", who)
	}

	// The dashboard.
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(".tiles"))))
	shot(t, ctx, "dashboard")
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/pr"), chromedp.WaitVisible(chromedp.CSS("table.targets"))))
	shot(t, ctx, "prs")

	// A target, then its running step's live log, growing.
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/me/p/ref/heads/feature/x-y"), chromedp.WaitVisible(chromedp.CSS("#job-build"))))
	shot(t, ctx, "target-running")
	check(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#job-build a.logs"), chromedp.NodeVisible)))
	logText := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("log")||{}).textContent||""`))
		return s
	}
	waitText := func(want string) time.Duration {
		t.Helper()
		start := time.Now()
		for !strings.Contains(logText(), want) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("the live log never showed %q; it shows:\n%s", want, logText())
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitText("building build-4444")
	var total, worst time.Duration
	const n = 10
	for i := range n {
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		feed <- fmt.Sprintf("progress %d\n", i)
		waitText(fmt.Sprintf("progress %d", i))
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	t.Logf("browser: a line written by a step was shown after %v on average, %v at worst (%d lines, polled every 5 ms)", total/n, worst, n)
	shot(t, ctx, "live-log")
	close(feed)
	check(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#finished"))))
	e.h.WaitStatus("me/p", sha4, "build", ci.Success)
	e.h.Settle()

	// Rebuild a step as a builder.
	before := e.b.builds("build-1111")
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/me/p/ref/heads/master"), chromedp.WaitVisible(chromedp.CSS("#job-build button.rebuild"))))
	// Mark the page, press Rebuild, and wait for the page the form's
	// redirect brings (unmarked) to have loaded.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.before = true`))
	check(t, err)
	check(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#job-build button.rebuild"))))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// Errors while the page changes (its context is destroyed) are
		// expected: try again.
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!window.before && document.readyState === "complete" && location.pathname === "/me/p/ref/heads/master"`))
		if err == nil && done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page after Rebuild never loaded (%v)", err)
		}
	}
	flash, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("flash")||{}).textContent||""`))
	check(t, err)
	if !strings.HasPrefix(flash, "Rebuild of Test build-1111 ") {
		t.Errorf("after Rebuild the page says %q, want that the rebuild started", flash)
	}
	shot(t, ctx, "after-rebuild")
	e.h.WaitStatus("me/p", sha1, "build", ci.Success, citest.Description("build-1111"))
	for deadline := time.Now().Add(10 * time.Second); e.b.builds("build-1111") == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rebuild button built nothing")
		}
	}
	e.h.Settle()
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/me/p/pr/7?test=lint"), chromedp.WaitVisible(chromedp.CSS("#job-lint"))))
	shot(t, ctx, "target-failed")
	lint := e.stepLog(ci.PR("me/p", 7), "lint")
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/log/saved/"+lint.Branch+"/"+lint.Commit+"#L2"), chromedp.WaitVisible(chromedp.CSS("#end"))))
	shot(t, ctx, "saved-log")

	// Log out: the CI is not public, so back to the login page.
	check(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-submit"))))
	if loc := location(t, ctx); loc != "/auth/login" {
		t.Errorf("after logout the browser is on %s", loc)
	}
}

// On a phone-sized screen the pages fit the width (no sideways
// scrolling of the page itself) and keep their text readable; the header,
// for a logged-in user of a CI with a long name, keeps every link on the
// screen and big enough to tap.
func TestBrowserPhone(t *testing.T) {
	chromium(t)
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone(); c.CanBuild = ci.User("github:bob") },
		func(o *web.Options, _ *fakegithub.Server) { o.Name = "datakit-selfci-production-cluster" })
	e.targets()
	ctx := browserCtx(t, 390, 844, true)
	lint := e.stepLog(ci.PR("me/p", 7), "lint")
	pages := []struct{ name, path string }{
		{"phone-dashboard", "/"},
		{"phone-prs", "/pr"},
		{"phone-target", "/me/p/pr/7"},
		{"phone-log", "/log/saved/" + lint.Branch + "/" + lint.Commit},
		{"phone-login", "/auth/login"},
		{"phone-404", "/nope"},
	}
	look := func(name, path string) {
		t.Helper()
		check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+path), chromedp.WaitReady(chromedp.CSS("footer"))))
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		check(t, err)
		font, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`parseFloat(getComputedStyle(document.querySelector("main")).fontSize)`))
		check(t, err)
		if overflow {
			t.Errorf("%s (%s) is wider than a phone's screen", name, path)
		}
		if font < 14 {
			t.Errorf("%s: text of %vpx", name, font)
		}
		// Every link and button of the header: on the screen (or in the
		// nav bar, which scrolls sideways), at least 36 px tall, none
		// over another; the header at most 140 px tall.
		bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(function () {
			var out = [], h = document.querySelector("header.top"), rs = [];
			var hr = h.getBoundingClientRect();
			if (hr.height > 140) out.push("header " + Math.round(hr.height) + " px tall");
			h.querySelectorAll("a, button").forEach(function (el) {
				var r = el.getBoundingClientRect(), what = el.textContent.trim();
				var inNav = el.closest("nav") !== null;
				if (r.height < 36) out.push(what + ": " + Math.round(r.height) + " px tall");
				if (!inNav && (r.left < 0 || r.right > window.innerWidth + 1)) out.push(what + ": off the screen (" + Math.round(r.left) + "-" + Math.round(r.right) + ")");
				rs.forEach(function (o) {
					if (r.left < o.r.right - 1 && o.r.left < r.right - 1 && r.top < o.r.bottom - 1 && o.r.top < r.bottom - 1) out.push(what + " overlaps " + o.what);
				});
				rs.push({r: r, what: what});
			});
			return out;
		})()`))
		check(t, err)
		for _, b := range bad {
			t.Errorf("%s: header: %s", name, b)
		}
		shot(t, ctx, name)
	}
	for _, p := range pages {
		look(p.name, p.path)
	}
	// Logged in (bob's session, from a login over HTTP): the user and
	// Log out join the header.
	bob := e.user("bob")
	u, _ := url.Parse(e.base)
	for _, c := range bob.c.Jar.Cookies(u) {
		httpOnly := true
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, Domain: u.Hostname(), Path: "/", HTTPOnly: &httpOnly})
		check(t, err)
	}
	look("phone-dashboard-logged-in", "/")
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".who a")))
	check(t, err)
	if who != "github:bob" {
		t.Errorf("the phone's header shows %q logged in", who)
	}
	look("phone-target-logged-in", "/me/p/pr/7")
}

// A dashboard or target page left open follows the CI: without a reload
// (the page's window keeps a mark), the dashboard's tile turns from
// Pending to Succeeding when the build ends, and a target page shows the
// branch's new head and its build, pending then successful. Before, the
// pages showed the state they were loaded with until reloaded by hand.
func TestBrowserPagesFollowTheCI(t *testing.T) {
	chromium(t)
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() },
		func(o *web.Options, _ *fakegithub.Server) { o.Refresh = 200 * time.Millisecond })
	const sha4, sha5 = "4444444444444444444444444444444444444444", "5555555555555555555555555555555555555555"
	e.b.hold["build-4444"], e.b.hold["build-5555"] = true, true
	feed4, feed5 := e.b.channel("build-4444"), e.b.channel("build-5555")
	e.h.SetBranch("me/p", "master", sha4)
	e.h.WaitStatus("me/p", sha4, "build", ci.Pending)
	ctx := browserCtx(t, 1280, 900, false)
	// waitPage waits until js is true on the page, which must not have been
	// reloaded (window.mark stays).
	waitPage := func(what, js string) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var ok bool
			ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.mark === true && (`+js+`)`))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.mark + " " + document.querySelector("main").innerHTML`))
				t.Fatalf("the page never showed %s by itself (%v):\n%s", what, err, html)
			}
		}
	}
	mark := func() {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.mark = true`))
		check(t, err)
	}
	tile := `(document.querySelector(".tile .state")||{}).textContent`
	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(".tiles"))))
	mark()
	waitPage("a pending tile", tile+` === "Pending"`)
	close(feed4)
	e.h.WaitStatus("me/p", sha4, "build", ci.Success)
	waitPage("the tile succeeding", tile+` === "Succeeding"`)
	shot(t, ctx, "dashboard-followed")

	check(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/me/p/ref/heads/master"), chromedp.WaitVisible(chromedp.CSS("#job-build"))))
	mark()
	label := `(document.querySelector("#job-build .label")||{}).textContent`
	e.h.SetBranch("me/p", "master", sha5)
	waitPage("the new head, building", `document.querySelector(".meta code").textContent === "5555555" && `+label+` === "pending"`)
	close(feed5)
	waitPage("the new head's build succeeding", label+` === "success"`)
	shot(t, ctx, "target-followed")
}
