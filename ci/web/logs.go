package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/dkstore"
)

// logView is the head of a log page.
type logView struct {
	Branch  string
	Title   string
	Commit  string
	Live    bool
	Reason  string
	Tail    int    // lines shown from the end, 0 for all
	Skipped int    // lines not shown (tail view)
	Self    string // the page without ?tail
	Size    int
	Users   []ci.TargetID // targets whose jobs use the step (a few)
	Since   string        // a live log's: "since 13:45:02 (3 minutes)"
}

// stepOf finds the title of the step of branch, as a job of a target
// shows it ("" if none does), and (up to 5) targets whose jobs use it.
func (s *Server) stepOf(branch string) (title string, users []ci.TargetID) {
	for _, t := range s.e.Targets() {
	jobs:
		for _, j := range t.Jobs {
			for _, l := range j.Logs {
				if l.Branch == branch {
					if title == "" {
						title = l.Title
					}
					users = append(users, t.Target.ID)
					break jobs
				}
			}
		}
		if len(users) == 5 {
			break
		}
	}
	return title, users
}

// savedChunk is how much of a saved log is rendered between flushes.
const savedChunk = 40 << 10

// defaultTail is the tail view's length.
const defaultTail = 1000

// tailOf reads ?tail=N (?tail alone: defaultTail).
func tailOf(r *http.Request) int {
	q := r.URL.Query()
	if !q.Has("tail") {
		return 0
	}
	n, err := strconv.Atoi(q.Get("tail"))
	if err != nil || n <= 0 {
		return defaultTail
	}
	return min(n, 1000000)
}

// savedLog streams the log that commit saved on branch, rendered, in
// chunks. The page's head is written and flushed before the log is read:
// the page starts at once, however long the log.
func (s *Server) savedLog(w http.ResponseWriter, r *http.Request, ro role, branch, commit string) {
	if dkstore.BranchName(branch).Valid() != nil {
		s.notFound(w, r, "No such log")
		return
	}
	ctx := r.Context()
	size, err := s.e.SavedLogSize(ctx, branch, commit)
	if err != nil {
		s.notFound(w, r, "No such log")
		return
	}
	title, users := s.stepOf(branch)
	if title == "" {
		title = branch
	}
	v := logView{Branch: branch, Commit: commit, Title: title, Tail: tailOf(r), Size: int(size), Users: users,
		Self: "/log/saved/" + escapeBranch(branch) + "/" + commit}
	out := s.startLog(w, r, ro, v)
	if out == nil {
		return
	}
	if hook := testHookSavedLogRead.Load(); hook != nil {
		(*hook)()
	}
	text, err := s.e.SavedLog(ctx, branch, commit)
	if err != nil {
		s.log.Warn("web: reading a saved log", "branch", branch, "commit", commit, "err", err)
		s.pages["log"].ExecuteTemplate(out.w, "logerror", page{Body: "The log could not be read: " + err.Error()})
		s.pages["log"].ExecuteTemplate(out.w, "bottom", page{})
		out.flush()
		return
	}
	start := 0
	if v.Tail > 0 {
		start, v.Skipped = tailStart(text, v.Tail)
	}
	rend := s.openLog(out, v)
	if rend == nil {
		return
	}
	for p := text[start:]; len(p) > 0; {
		n := min(savedChunk, len(p))
		if _, err := rend.Write(p[:n]); err != nil {
			return
		}
		p = p[n:]
		if err := out.flush(); err != nil {
			return
		}
	}
	rend.Close()
	s.endLog(out, ro, v, "")
}

// testHookSavedLogRead, if set (by tests), is called by savedLog after
// the page's head is sent, before the log is read.
var testHookSavedLogRead atomic.Pointer[func()]

// liveLog streams a running step's log as the step writes it: each
// finished line is sent (and flushed) as soon as it is written. Without
// a running log, it redirects (307) to the saved log.
func (s *Server) liveLog(w http.ResponseWriter, r *http.Request, ro role, branch string) {
	if dkstore.BranchName(branch).Valid() != nil {
		s.notFound(w, r, "No such log")
		return
	}
	l, ok := s.e.Logs().Get(branch)
	if !ok {
		commit, err := s.e.LatestLog(r.Context(), branch)
		if err != nil || commit == "" {
			s.fail(w, r, http.StatusInternalServerError, "Log finished, but wasn't saved!")
			return
		}
		u := "/log/saved/" + escapeBranch(branch) + "/" + commit
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, u, http.StatusTemporaryRedirect)
		return
	}
	v := logView{Branch: branch, Title: l.Title(), Live: true, Reason: l.Reason(), Tail: tailOf(r),
		Self: "/log/live/" + escapeBranch(branch), Since: s.since(l.Started())}
	if v.Reason == v.Title {
		v.Reason = "" // a running step's reason is its title: not twice
	}
	off := 0
	if v.Tail > 0 {
		off, v.Skipped = tailStart(l.Contents(), v.Tail)
	}
	w.Header().Set("X-Accel-Buffering", "no")
	_, v.Users = s.stepOf(branch)
	out := s.startLog(w, r, ro, v)
	if out == nil {
		return
	}
	rend := s.openLog(out, v)
	if rend == nil {
		return
	}
	ctx := r.Context()
	heartbeat := time.NewTicker(25 * time.Second)
	defer heartbeat.Stop()
	for {
		text, finished, changed := l.Since(off)
		off += len(text)
		if len(text) > 0 {
			if _, err := rend.Write(text); err != nil {
				return
			}
			if err := out.flush(); err != nil {
				return
			}
		}
		if finished {
			rend.Close()
			s.endLog(out, ro, v, "finished")
			return
		}
		select {
		case <-changed:
		case <-heartbeat.C:
			out.w.Write([]byte("<!-- -->"))
			out.flush()
		case <-ctx.Done():
			return
		}
	}
}

// logOut writes a streamed page.
type logOut struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (o *logOut) flush() error { return o.rc.Flush() }

// startLog writes the top of a log page, down to its heading, and
// flushes it; nil if the page could not be written.
func (s *Server) startLog(w http.ResponseWriter, r *http.Request, ro role, v logView) *logOut {
	p := s.pageFor(w, r, ro, v.Title, "", v)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	out := &logOut{w: w, rc: http.NewResponseController(w)}
	if err := s.pages["log"].ExecuteTemplate(w, "top", p); err != nil {
		return nil
	}
	if err := s.pages["log"].ExecuteTemplate(w, "loghead", p); err != nil {
		return nil
	}
	if out.flush() != nil {
		return nil
	}
	return out
}

// openLog opens the log's box (after the note on lines skipped); the
// renderer writes the lines, numbered from v.Skipped+1.
func (s *Server) openLog(out *logOut, v logView) *renderer {
	if err := s.pages["log"].ExecuteTemplate(out.w, "logopen", page{Body: v}); err != nil {
		return nil
	}
	return newRenderer(out.w, v.Skipped)
}

// endLog writes the bottom of a log page.
func (s *Server) endLog(out *logOut, ro role, v logView, how string) {
	p := page{Body: struct {
		logView
		How string
	}{v, how}, User: ro.user, Builder: ro.builder}
	s.pages["log"].ExecuteTemplate(out.w, "logfoot", p)
	s.pages["log"].ExecuteTemplate(out.w, "bottom", p)
	out.flush()
}

// pageFor is the page data of a page being written, with the banners
// of what is wrong (the store, Options.Health's problems).
func (s *Server) pageFor(w http.ResponseWriter, r *http.Request, ro role, title, nav string, body any) page {
	sess := ro.sess
	if sess == nil && ro.builder {
		sess = s.ensureSession(w, r)
	}
	p := page{Title: title, Heading: s.heading, Nav: nav, User: ro.user, Reader: ro.reader, Builder: ro.builder, Admin: ro.admin,
		Path: r.URL.RequestURI(), Body: body}
	if sess != nil {
		p.CSRF = sess.csrf
		if sess.id != "" {
			p.Flash = s.sessions.takeFlash(sess.id)
		}
	}
	p.Warnings = s.problems()
	return p
}

// localRedirect returns the form's redirect if it is a path of this
// site ("" otherwise).
func localRedirect(r *http.Request) string {
	u := r.PostFormValue("redirect")
	if u == "" {
		u = r.URL.Query().Get("redirect")
	}
	if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") || strings.HasPrefix(u, "/\\") || strings.ContainsAny(u, "\r\n") {
		return ""
	}
	return u
}

// rebuild marks a step's result for rebuilding (POST /log/rebuild/BRANCH),
// waits briefly for the rebuild to start, and goes back to the form's
// page with a message saying what happened.
func (s *Server) rebuild(w http.ResponseWriter, r *http.Request, ro role, branch string) {
	to := localRedirect(r)
	if to == "" {
		s.fail(w, r, http.StatusBadRequest, "Missing redirect")
		return
	}
	_, before, _ := s.stepNow(branch)
	ok, err := s.e.Rebuild(r.Context(), branch)
	switch {
	case errors.Is(err, ci.ErrNoStep):
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No job depends on branch %q", branch))
		return
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, "Rebuild failed: "+err.Error())
		return
	}
	s.log.Info("rebuild requested", "branch", branch, "user", ro.user, "queued", ok)
	name := s.stepName(branch)
	msg := "Rebuild of " + name + " requested; it has not started yet."
	if s.waitFor(r.Context(), func() bool {
		if _, running := s.e.Logs().Get(branch); running {
			return true
		}
		live, commit, _ := s.stepNow(branch)
		return live || commit != before
	}) {
		msg = "Rebuild of " + name + " started."
		if live, _, _ := s.stepNow(branch); !live {
			msg = "Rebuild of " + name + " finished."
		}
	}
	s.flash(r, msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// actionWait is how long rebuild and cancel wait for their effect before
// answering: then the page they go back to shows it.
const actionWait = 3 * time.Second

// waitFor polls done until it is true (true), actionWait passes or ctx
// ends (false).
func (s *Server) waitFor(ctx context.Context, done func() bool) bool {
	deadline := time.Now().Add(actionWait)
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(15 * time.Millisecond):
		}
	}
	return true
}

// stepNow says whether the step of branch runs (its live log is open, or
// a target shows it live) and the commit of its saved log that the
// targets show (found: some target uses it).
func (s *Server) stepNow(branch string) (live bool, commit string, found bool) {
	_, live = s.e.Logs().Get(branch)
	for _, t := range s.e.Targets() {
		for _, j := range t.Jobs {
			for _, l := range j.Logs {
				if l.Branch == branch {
					found = true
					live = live || l.Live
					if l.Commit != "" {
						commit = l.Commit
					}
				}
			}
		}
	}
	return live, commit, found
}

// stepName is the step of branch as the pages name it: its title.
func (s *Server) stepName(branch string) string {
	if l, ok := s.e.Logs().Get(branch); ok && l.Title() != "" {
		return l.Title()
	}
	if title, _ := s.stepOf(branch); title != "" {
		return title
	}
	return branch
}

// flash leaves msg for the requester's next page.
func (s *Server) flash(r *http.Request, msg string) {
	if sess := s.session(r); sess != nil {
		s.sessions.setFlash(sess.id, msg)
	}
}

// cancel cancels a running step (POST /cancel/BRANCH); its log says who
// cancelled it. It waits briefly for the step to end, and goes back to
// the form's page with a message saying what happened.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, ro role, branch string) {
	who := ro.user
	if who == "" {
		who = "an anonymous user"
	}
	name := s.stepName(branch)
	l, running := s.e.Logs().Get(branch)
	if running {
		l.Printf("Cancel requested by %s", who)
	}
	if err := s.e.Cancel(branch); err != nil {
		s.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	s.log.Info("build cancelled", "branch", branch, "user", ro.user)
	msg := "Cancel of " + name + " requested; it has not stopped yet."
	if s.waitFor(r.Context(), func() bool {
		live, _, _ := s.stepNow(branch)
		return !live
	}) {
		msg = name + " cancelled."
	}
	s.flash(r, msg)
	to := localRedirect(r)
	if to == "" {
		to = "/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// rebuildFailed rebuilds the failed steps of a project
// (POST /rebuild-failed/USER/REPO) or a target (.../pr/N, .../ref/REF).
func (s *Server) rebuildFailed(w http.ResponseWriter, r *http.Request, ro role, segs []string) {
	if len(segs) < 2 {
		s.notFound(w, r, "No such project")
		return
	}
	repo, ok := s.project(segs[0], segs[1])
	if !ok {
		s.notFound(w, r, "No such project")
		return
	}
	var n int
	var err error
	switch {
	case len(segs) == 2:
		n, err = s.e.RebuildFailedProject(r.Context(), repo)
	case len(segs) == 4 && segs[2] == "pr":
		var pr int
		if !parsePR(segs[3], &pr) {
			s.notFound(w, r, "No such pull request")
			return
		}
		n, err = s.e.RebuildFailed(r.Context(), ci.TargetID{Repo: repo, PR: pr})
	case len(segs) >= 4 && segs[2] == "ref":
		n, err = s.e.RebuildFailed(r.Context(), ci.TargetID{Repo: repo, Ref: strings.Join(segs[3:], "/")})
	default:
		s.notFound(w, r, "No such target")
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	s.log.Info("rebuild of failed steps requested", "what", strings.Join(segs, "/"), "steps", n, "user", ro.user)
	if n == 0 {
		s.flash(r, "No failed step to rebuild.")
	} else {
		s.flash(r, "Rebuild of "+plural(n, "failed step")+" requested.")
	}
	to := localRedirect(r)
	if to == "" {
		to = "/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
