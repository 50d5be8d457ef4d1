package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/web"
	"github.com/dkgo/datakit/dkstore"
)

// Markup in a PR title, a job's description, a step's failure and a log
// line is shown as text.
func TestEscaping(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	e.targets()
	anon := e.user("anonymous")
	lint := e.stepLog(ci.PR("me/p", 7), "lint")
	for _, p := range []string{"/pr", "/me/p/pr/7", "/log/saved/" + lint.Branch + "/" + lint.Commit} {
		a := anon.get(p)
		if a.code != 200 {
			t.Fatalf("GET %s = %d", p, a.code)
		}
		for _, bad := range []string{"<script>", "<b>passed"} {
			if strings.Contains(a.body, bad) {
				t.Errorf("GET %s shows %q as markup:\n%s", p, bad, a.body)
			}
		}
	}
	if a := anon.get("/pr"); !strings.Contains(a.body, "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;") {
		t.Errorf("the PR title is not shown as text:\n%s", a.body)
	}
	if a := anon.get("/log/saved/" + lint.Branch + "/" + lint.Commit); !strings.Contains(a.body, "&lt;script&gt;alert(&#39;log&#39;)&lt;&#47;script&gt;") ||
		!strings.Contains(a.body, `<span class="term-fg31 term-fg1">red</span>`) || !strings.Contains(a.body, `used by <a href="/me/p/pr/7">`) {
		t.Errorf("the log's markup or colours are wrong:\n%s", a.body)
	}
	if a := anon.get("/me/p/pr/7"); !strings.Contains(a.body, "lint-2222 broke &lt;script&gt;x&lt;/script&gt;") {
		t.Errorf("the failure is not shown as text:\n%s", a.body)
	}
}

// A live log streams: each line a step writes reaches a reader of
// /log/live/BRANCH while the step runs, with X-Accel-Buffering: no; once
// the step ends, the page ends, and the live URL redirects to the saved
// log. The time from a line written to the line read is measured.
func TestLiveLogStreams(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	e.b.hold["build-1111"] = true
	feed := e.b.channel("build-1111")
	e.h.SetBranch("me/p", "master", sha1)
	e.h.WaitStatus("me/p", sha1, "build", ci.Pending, citest.Description("Test build-1111"))
	l := e.stepLog(ci.Branch("me/p", "master"), "build")
	if !l.Live {
		t.Fatalf("step log %+v is not live", l)
	}
	resp, err := http.Get(e.base + "/log/live/" + l.Branch)
	check(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("GET live log = %d, X-Accel-Buffering %q", resp.StatusCode, resp.Header.Get("X-Accel-Buffering"))
	}
	r := bufio.NewReader(resp.Body)
	readUntil := func(want string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if strings.Contains(line, want) {
				return
			}
			if err != nil {
				t.Fatalf("the stream ended (%v) before %q", err, want)
			}
		}
	}
	// The head says the step runs, since when, and not its title twice.
	var head strings.Builder
	for !strings.Contains(head.String(), `id="log">`) {
		line, err := r.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			t.Fatalf("the stream ended (%v) in the head:\n%s", err, head.String())
		}
	}
	if !regexp.MustCompile(`<span class="icon pending">●</span> running <span id="since">since \d\d:\d\d:\d\d \(\d+ seconds?\)</span>`).MatchString(head.String()) {
		t.Errorf("the live log's head does not say the step runs, and since when:\n%s", head.String())
	}
	readUntil("building build-1111")
	var worst, total time.Duration
	const n = 20
	for i := range n {
		start := time.Now()
		feed <- fmt.Sprintf("line %d of the step\n", i)
		readUntil(fmt.Sprintf("line %d of the step", i))
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	t.Logf("live log: a line written by a step reached the reader in %v on average, %v at worst (%d lines)", total/n, worst, n)
	if worst > time.Second {
		t.Errorf("a line took %v to reach the reader", worst)
	}
	close(feed)
	readUntil("The step has finished")
	e.h.WaitStatus("me/p", sha1, "build", ci.Success)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp2, err := c.Get(e.base + "/log/live/" + l.Branch)
	check(t, err)
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(resp2.Header.Get("Location"), "/log/saved/"+l.Branch+"/") {
		t.Errorf("live log of a finished step = %d %q, want 307 to the saved log", resp2.StatusCode, resp2.Header.Get("Location"))
	}
	resp3, err := c.Get(e.base + "/log/live/never-built")
	check(t, err)
	resp3.Body.Close()
	if resp3.StatusCode != http.StatusInternalServerError {
		t.Errorf("live log of an unknown branch = %d, want 500", resp3.StatusCode)
	}
}

// A cancelled step's log says who cancelled it; the job's page says why
// it is pending until then (the chain down to the pool), and why it
// failed after.
func TestCancelAndWhy(t *testing.T) {
	e := newEnv(t)
	e.b.hold["build-1111"], e.b.hold["build-2222"] = true, true
	// master's build takes the pool first (two builds started together
	// race for it), then other's waits.
	e.h.SetBranch("me/p", "master", sha1)
	for deadline := time.Now().Add(10 * time.Second); e.b.builds("build-1111") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("master's build did not start")
		}
	}
	e.h.WaitStatus("me/p", sha1, "build", ci.Pending, citest.Description("Test build-1111"))
	e.h.SetBranch("me/p", "other", sha2)
	e.h.WaitStatus("me/p", sha2, "build", ci.Pending, citest.DescriptionContains("Waiting for resource"))
	bob := e.user("bob")
	page := bob.get("/me/p/ref/heads/other")
	for _, want := range []string{"Why pending?", "step Test build-2222", `pool &#34;docker&#34;`, "place 1 in the queue", "using it: Test build-1111", `<span class="activity">waiting for a resource since `} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the pending job's page lacks %q:\n%s", want, page.body)
		}
	}
	dash := bob.get("/")
	if !strings.Contains(dash.body, "1 / 1 [1 queued]") || !strings.Contains(dash.body, "Test build-2222") {
		t.Errorf("the dashboard's pools:\n%s", dash.body)
	}
	l := e.stepLog(ci.Branch("me/p", "master"), "build")
	a := bob.post("/cancel/"+l.Branch, url.Values{"CSRFToken": {bob.csrf()}, "redirect": {"/me/p/ref/heads/master"}})
	if a.code != http.StatusSeeOther {
		t.Fatalf("cancel = %d %s", a.code, a.body)
	}
	e.h.WaitStatus("me/p", sha1, "build", ci.Failure, citest.Description("Cancelled at user's request"))
	e.h.Settle()
	l = e.stepLog(ci.Branch("me/p", "master"), "build")
	log := bob.get("/log/saved/" + l.Branch + "/" + l.Commit)
	if !strings.Contains(log.body, "Cancel requested by github:bob") {
		t.Errorf("the log does not say who cancelled:\n%s", log.body)
	}
	if p := bob.get("/me/p/ref/heads/master"); !strings.Contains(p.body, "Cancelled at user&#39;s request") {
		t.Errorf("the page does not say why the job failed:\n%s", p.body)
	}
	close(e.b.channel("build-2222"))
	e.h.WaitStatus("me/p", sha2, "build", ci.Success)
}

// History: a target's earlier states are listed and shown, and the
// commit page of an earlier head lists its archived build.
func TestHistoryPages(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	e.h.SetBranch("me/p", "master", sha1)
	e.h.WaitStatus("me/p", sha1, "build", ci.Success)
	e.h.Settle()
	e.h.SetBranch("me/p", "master", sha3)
	e.h.WaitStatus("me/p", sha3, "build", ci.Success)
	e.h.Settle()
	anon := e.user("anonymous")
	hist, err := e.h.Engine.History(context.Background(), ci.Branch("me/p", "master"), "", 10)
	if err != nil || len(hist) < 2 {
		t.Fatalf("History = %v, %v", hist, err)
	}
	page := anon.get("/me/p/ref/heads/master")
	if !strings.Contains(page.body, "?history="+hist[1].Commit) {
		t.Errorf("the target page does not link to the earlier state:\n%s", page.body)
	}
	if i, j := strings.Index(page.body, "?history="+hist[len(hist)-1].Commit+`"`), strings.Index(page.body, "?history="+hist[0].Commit+`"`); i < 0 || j < i {
		t.Errorf("the history is not listed old to new:\n%s", page.body)
	}
	old := anon.get("/me/p/ref/heads/master?history=" + hist[len(hist)-1].Commit)
	if !strings.Contains(old.body, "Test build-1111") || !strings.Contains(old.body, "(archived)") {
		t.Errorf("the earlier state:\n%s", old.body)
	}
	commit := anon.get("/me/p/commit/" + sha1)
	if commit.code != 200 || !strings.Contains(commit.body, "Archived builds") || !strings.Contains(commit.body, "branch master") {
		t.Errorf("commit page of the old head = %d:\n%s", commit.code, commit.body)
	}
	if a := anon.get("/me/p/ref/heads/master?history=" + strings.Repeat("ab", 20)); a.code != 404 {
		t.Errorf("an unknown state = %d, want 404", a.code)
	}
	// More states than a page: the pages list them old to new, each
	// once, the older page's link at the top.
	for i := 0; i < 12; i++ {
		sha := []string{sha1, sha3}[i%2]
		e.h.SetBranch("me/p", "master", sha)
		e.h.WaitStatus("me/p", sha, "build", ci.Success)
		e.h.Settle()
	}
	hist, err = e.h.Engine.History(context.Background(), ci.Branch("me/p", "master"), "", 100)
	if err != nil || len(hist) <= 12 {
		t.Fatalf("History = %d states, %v; want more than a page", len(hist), err)
	}
	listed := func(body string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`<li[^>]*><a href="[^"]*\?history=([0-9a-f]{40})"`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	var want []string
	for i := 11; i >= 0; i-- {
		want = append(want, hist[i].Commit)
	}
	page = anon.get("/me/p/ref/heads/master")
	if got := listed(page.body); fmt.Sprint(got) != fmt.Sprint(want) || !strings.Contains(page.body, `href="/me/p/ref/heads/master?history=`+hist[12].Commit+`&amp;older=1" id="older"`) {
		t.Errorf("first page of history = %v, want %v, and a link to the older ones:\n%s", got, want, page.body)
	}
	want = nil
	for i := min(len(hist), 24) - 1; i >= 12; i-- {
		want = append(want, hist[i].Commit)
	}
	older := anon.get("/me/p/ref/heads/master?history=" + hist[12].Commit + "&older=1")
	if got := listed(older.body); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("older page of history = %v, want %v", got, want)
	}
}

// A 100,000-line saved log streams: its page's head is sent before the
// log is even read, its first lines long before its last, and its first
// byte comes within 200 ms; the tail view shows the last lines only, and
// every line has an anchor.
func TestLargeLog(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	const lines = 100000
	var b strings.Builder
	b.WriteString("=== Big\n")
	for i := 1; i < lines; i++ {
		fmt.Fprintf(&b, "line %d: \x1b[32mok\x1b[0m some output of a test that runs for long %d\n", i+1, i*7)
	}
	commit := saveLog(t, e, "big-log", b.String())
	anon := e.user("anonymous")
	path := "/log/saved/big-log/" + commit

	// The head is sent before the log is read: with the read held, the
	// first byte comes all the same (timing does not matter here, so
	// load cannot make this fail; a page that reads first never comes).
	release := web.HoldSavedLogReads(t)
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get(e.base + path)
		if err == nil {
			var one [1]byte
			_, err = io.ReadFull(resp.Body, one[:])
			release()
			resp.Body.Close() // the rest is not needed
		}
		got <- err
	}()
	select {
	case err := <-got:
		check(t, err)
	case <-time.After(30 * time.Second):
		release()
		t.Fatal("no byte of the page came before the log was read: the page is not streamed")
	}
	release()

	// The lines are rendered and sent in chunks: the first ones come
	// long before the last (a ratio, which load changes little).
	firstLine, all, body := timeUntil(t, e.base+path, "id=L2>")
	t.Logf("100,000-line log (%d bytes): line 2 after %v, whole page after %v", b.Len(), firstLine, all)
	if firstLine > all/4 {
		t.Errorf("the first lines came after %v, the whole page after %v: the log is not sent in chunks", firstLine, all)
	}

	// The first byte within 200 ms: the best of a few tries, so that a
	// busy machine's hiccup does not fail it; a page that renders (or
	// reads) the log first takes far longer each time.
	best := time.Hour
	for i := 0; i < 5 && best > 200*time.Millisecond; i++ {
		first, _, _ := timeUntil(t, e.base+path, "")
		best = min(best, first)
	}
	t.Logf("first byte after %v (best of up to 5)", best)
	if best > 200*time.Millisecond {
		t.Errorf("first byte after %v, want at most 200 ms", best)
	}

	if !strings.Contains(body, "<span class=l id=L100000><a href=#L100000>100000</a>line 100000:") {
		t.Errorf("no anchor for the last line")
	}
	tail := anon.get(path + "?tail=50")
	if n := strings.Count(tail.body, "<span class=l "); n != 50 || !strings.Contains(tail.body, "id=L99951>") || !strings.Contains(tail.body, "99950 earlier lines not shown") {
		t.Errorf("tail view: %d lines:\n%.2000s", n, tail.body)
	}
}

// saveLog commits text as the log of result branch b and returns the
// commit.
func saveLog(t *testing.T, e *env, b, text string) string {
	t.Helper()
	ctx := context.Background()
	br, err := e.h.Store.Branch(dkstore.BranchName(b))
	check(t, err)
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	check(t, err)
	check(t, tx.WriteFile(ctx, "log", []byte(text), dkstore.KindFile))
	id, err := tx.Commit(ctx, "a log")
	check(t, err)
	return id.String()
}

// timeUntil GETs url and returns when the body first held want, when
// the whole body had come, and the body; with want "", when its first
// byte came (and the rest is not read). The client is patient: a large
// page takes long under -race on a busy machine.
func timeUntil(t *testing.T, u, want string) (at, all time.Duration, body string) {
	t.Helper()
	start := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Get(u)
	check(t, err)
	defer resp.Body.Close()
	var seen []byte
	buf := make([]byte, 32<<10)
	for at == 0 {
		n, err := resp.Body.Read(buf)
		seen = append(seen, buf[:n]...)
		if n > 0 && (want == "" || strings.Contains(string(seen), want)) {
			at = time.Since(start)
		}
		if err != nil {
			if at == 0 {
				t.Fatalf("GET %s: %q never came (%v)", u, want, err)
			}
			break
		}
	}
	if want == "" {
		return at, at, string(seen)
	}
	rest, err := io.ReadAll(resp.Body)
	check(t, err)
	return at, time.Since(start), string(seen) + string(rest)
}

// The admin password is stored as an argon2id hash, never in clear, and
// survives a restart (a new server on the same secrets directory has no
// intro link).
func TestAdminPasswordStored(t *testing.T) {
	e := newEnv(t)
	if e.web.IntroURL() == "" {
		t.Fatal("no intro link before setup")
	}
	if a := e.user("anonymous").get("/auth/login"); !strings.Contains(a.body, "open the one-time link the CI printed when it started, on the line <code>&gt;&gt;&gt; First run: set the admin password at") {
		t.Errorf("the login page does not say where the first-run link is:\n%s", a.body)
	}
	e.user("admin")
	if e.web.IntroURL() != "" {
		t.Error("the intro link still works after setup")
	}
	dir := t.TempDir()
	w, err := web.New(e.h.Engine, web.Options{SecretsDir: dir})
	check(t, err)
	if w.IntroURL() == "" {
		t.Error("a new secrets directory has no intro link")
	}
}

// The URL of a status is the commit page. When several targets share the
// commit, as a GitHub PR and its branch do, the page lists them; the logs
// of the status's job are still one click away: the page links each
// target's steps of that job to their logs, and each target to its page
// with the job highlighted.
func TestCommitPageSharedHead(t *testing.T) {
	e := newEnv(t, func(c *ci.Config) { c.CanRead = ci.Everyone() })
	e.h.SetBranch("me/p", "fix", sha1)
	e.h.OpenPR("me/p", 3, sha1, "Fix")
	e.h.WaitStatus("me/p", sha1, "build", ci.Success)
	e.h.WaitStatus("me/p", sha1, "lint", ci.Success)
	e.h.Settle()
	anon := e.user("anonymous")
	build := e.stepLog(ci.PR("me/p", 3), "build")
	saved := "/log/saved/" + build.Branch + "/" + build.Commit
	a := anon.get("/me/p/commit/" + sha1 + "?test=build")
	if a.code != http.StatusOK {
		t.Fatalf("the commit page of a head two targets share = %d %s, want 200:\n%s", a.code, a.location, a.body)
	}
	for _, want := range []string{`href="` + saved + `"`, `href="/me/p/pr/3?test=build"`, `href="/me/p/ref/heads/fix?test=build"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the commit page has no %s:\n%s", want, a.body)
		}
	}
	if l := anon.get(saved); l.code != http.StatusOK || !strings.Contains(l.body, "building build-1111") {
		t.Errorf("its log link: GET %s = %d:\n%.300s", saved, l.code, l.body)
	}
	// A job only the PR has: only the PR's steps are linked.
	lint := e.stepLog(ci.PR("me/p", 3), "lint")
	a = anon.get("/me/p/commit/" + sha1 + "?test=lint")
	if n := strings.Count(a.body, `href="/log/saved/`+lint.Branch+`/`+lint.Commit+`"`); n != 1 {
		t.Errorf("the lint step's log is linked %d times, want once:\n%s", n, a.body)
	}
	// Without a job, the targets only.
	if a := anon.get("/me/p/commit/" + sha1); a.code != http.StatusOK || strings.Contains(a.body, "/log/saved/") || !strings.Contains(a.body, `href="/me/p/pr/3"`) {
		t.Errorf("the commit page without ?test= = %d:\n%s", a.code, a.body)
	}
}

// Rebuild and Cancel wait briefly for their effect, then go back to the
// page, which says what happened (once) and shows the new state: the
// step running after a rebuild, no longer after a cancel.
func TestRebuildCancelFlash(t *testing.T) {
	e := newEnv(t)
	e.targets()
	bob := e.user("bob")
	master := e.stepLog(ci.Branch("me/p", "master"), "build")
	e.b.mu.Lock()
	e.b.hold["build-1111"] = true
	e.b.mu.Unlock()
	const page = "/me/p/ref/heads/master"
	a := bob.post("/log/rebuild/"+master.Branch, url.Values{"CSRFToken": {bob.csrf()}, "redirect": {page}})
	if a.code != http.StatusSeeOther || a.location != page {
		t.Fatalf("rebuild = %d %q", a.code, a.location)
	}
	p := bob.get(page)
	if !strings.Contains(p.body, `<p class="flash" id="flash" role="status">Rebuild of Test build-1111 started.</p>`) {
		t.Errorf("no message that the rebuild started:\n%s", p.body)
	}
	if !strings.Contains(p.body, `action="/cancel/`+master.Branch+`"`) || !regexp.MustCompile(`<span class="label">pending</span> <span class="activity running">running since \d\d:\d\d:\d\d \(\d+ seconds?\)</span></h2>`).MatchString(p.body) {
		t.Errorf("the page after the rebuild does not show the step running:\n%s", p.body)
	}
	if p := bob.get(page); strings.Contains(p.body, `id="flash"`) {
		t.Errorf("the message is shown twice:\n%s", p.body)
	}
	a = bob.post("/cancel/"+master.Branch, url.Values{"CSRFToken": {bob.csrf()}, "redirect": {page}})
	if a.code != http.StatusSeeOther {
		t.Fatalf("cancel = %d %s", a.code, a.body)
	}
	p = bob.get(page)
	if !strings.Contains(p.body, `<p class="flash" id="flash" role="status">Test build-1111 cancelled.</p>`) {
		t.Errorf("no message that the step was cancelled:\n%s", p.body)
	}
	if strings.Contains(p.body, `action="/cancel/`) || !strings.Contains(p.body, "Cancelled at user&#39;s request") {
		t.Errorf("the page after the cancel does not show the step cancelled:\n%s", p.body)
	}
	a = bob.post("/rebuild-failed/me/p/pr/7", url.Values{"CSRFToken": {bob.csrf()}, "redirect": {"/me/p/pr/7"}})
	if p := bob.get("/me/p/pr/7"); a.code != http.StatusSeeOther || !strings.Contains(p.body, "Rebuild of 1 failed step requested.") {
		t.Errorf("rebuild failed = %d, then:\n%s", a.code, p.body)
	}
}

// A builder watching a step's log can act on it there: Cancel on the live
// log, Rebuild on the saved one (both were only on the target page); a
// reader gets neither.
func TestLogPageActions(t *testing.T) {
	e := newEnv(t)
	e.b.hold["build-1111"] = true
	e.h.SetBranch("me/p", "master", sha1)
	e.h.WaitStatus("me/p", sha1, "build", ci.Pending, citest.Description("Test build-1111"))
	bob, rita := e.user("bob"), e.user("rita")
	l := e.stepLog(ci.Branch("me/p", "master"), "build")
	// head reads a live log's page until its log has begun (the page goes
	// on while the step runs).
	head := func(u *user, path string) string {
		t.Helper()
		req, err := http.NewRequest("GET", e.base+path, nil)
		check(t, err)
		resp, err := u.c.Do(req)
		check(t, err)
		defer resp.Body.Close()
		var b []byte
		buf := make([]byte, 4096)
		for !strings.Contains(string(b), `id="log"`) {
			n, err := resp.Body.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		return string(b)
	}
	cancel := `<form method="post" action="/cancel/` + l.Branch + `"`
	if p := head(bob, "/log/live/"+l.Branch); !strings.Contains(p, cancel) || !strings.Contains(p, `value="/log/live/`+l.Branch+`"`) {
		t.Errorf("the live log has no Cancel for a builder:\n%s", p)
	}
	if p := head(rita, "/log/live/"+l.Branch); strings.Contains(p, "/cancel/") {
		t.Errorf("the live log has a Cancel for a reader:\n%s", p)
	}
	a := bob.post("/cancel/"+l.Branch, url.Values{"CSRFToken": {bob.csrf()}, "redirect": {"/log/live/" + l.Branch}})
	if a.code != http.StatusSeeOther || a.location != "/log/live/"+l.Branch {
		t.Fatalf("cancel from the live log = %d %q", a.code, a.location)
	}
	e.h.WaitStatus("me/p", sha1, "build", ci.Failure, citest.Description("Cancelled at user's request"))
	e.h.Settle()
	l = e.stepLog(ci.Branch("me/p", "master"), "build")
	rebuild := `<form method="post" action="/log/rebuild/` + l.Branch + `"`
	if p := bob.get("/log/saved/" + l.Branch + "/" + l.Commit); !strings.Contains(p.body, rebuild) {
		t.Errorf("the saved log has no Rebuild for a builder:\n%s", p.body)
	}
	if p := rita.get("/log/saved/" + l.Branch + "/" + l.Commit); strings.Contains(p.body, "/log/rebuild/") {
		t.Errorf("the saved log has a Rebuild for a reader:\n%s", p.body)
	}
	close(e.b.channel("build-1111"))
}
