package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/term"
)

// page is what every template gets.
type page struct {
	Title    string
	Heading  string
	Nav      string
	User     string
	CSRF     string
	Reader   bool
	Builder  bool
	Admin    bool
	Warnings []string // banners: the CI is not connected, GitHub refuses its token...
	Flash    string   // what the last action did ("Rebuild of X started.")
	Path     string   // the request's URI, where forms come back to
	Refresh  int64    // ms: the page updates itself this often in the browser (0: never)
	Body     any
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

var funcs = template.FuncMap{
	"stateClass": stateClass,
	"stateIcon":  stateIcon,
	"short":      shortSHA,
	"targetPath": targetPath,
	"logPath":    logPath,
	"ago":        ago,
	"stepClass":  stepClass,
	"plural":     plural,
	"firstLine": func(s string) string {
		s, _, _ = strings.Cut(s, "\n")
		return s
	},
}

func stateClass(s ci.State) string {
	switch s {
	case ci.Success:
		return "success"
	case ci.Pending:
		return "pending"
	case ci.Error:
		return "error"
	}
	return "failure"
}

func stateIcon(s ci.State) string {
	switch s {
	case ci.Success:
		return "✔"
	case ci.Pending:
		return "●"
	case ci.Error:
		return "⚠"
	}
	return "✘"
}

func stepClass(l term.Log) string {
	switch {
	case l.Live:
		return "pending"
	case l.Failed:
		return "failure"
	}
	return "success"
}

// plural is "1 job", "2 jobs": n and noun, made plural (with an "s")
// unless n is 1; "earlier line" gives "earlier lines".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") || strings.HasSuffix(noun, "sh") || strings.HasSuffix(noun, "ch") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// targetPath is a target's page: /USER/REPO/pr/N or /USER/REPO/ref/REF,
// each segment escaped.
func targetPath(id ci.TargetID) string {
	p := "/" + url.PathEscape(id.Repo.User) + "/" + url.PathEscape(id.Repo.Name)
	if id.IsPR() {
		return fmt.Sprintf("%s/pr/%d", p, id.PR)
	}
	p += "/ref"
	for _, seg := range strings.Split(id.Ref, "/") {
		p += "/" + url.PathEscape(seg)
	}
	return p
}

// logPath is a step's log: live while it runs, else saved.
func logPath(l term.Log) string {
	if l.Live || l.Commit == "" {
		return "/log/live/" + escapeBranch(l.Branch)
	}
	return "/log/saved/" + escapeBranch(l.Branch) + "/" + l.Commit
}

func escapeBranch(b string) string {
	segs := strings.Split(b, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case t.IsZero():
		return ""
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	}
	return plural(int(d.Hours()/24), "day") + " ago"
}

// render writes page name.
func (s *Server) render(w http.ResponseWriter, r *http.Request, ro role, status int, name, title, nav string, body any) {
	if name == "login" && ro.sess == nil {
		ro.sess = s.ensureSession(w, r)
	}
	p := s.pageFor(w, r, ro, title, nav, body)
	if status == http.StatusOK && refreshed[name] && s.opts.Refresh > 0 {
		p.Refresh = s.opts.Refresh.Milliseconds()
	}
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		s.log.Error("web: rendering a page", "page", name, "err", err)
		http.Error(w, "Internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// refreshed are the pages that follow the CI in the browser: app.js
// fetches them again every Options.Refresh and shows what changed, so a
// dashboard left open all day stays true.
var refreshed = map[string]bool{"dashboard": true, "list": true, "target": true, "commit": true}

// errorView is an error page: a heading for the status, the message,
// and the ways on (home, log in, log out).
type errorView struct {
	Code    int
	Message string
}

// errorHeading is an error page's heading, by status.
func errorHeading(code int) string {
	switch code {
	case http.StatusNotFound:
		return "Page not found"
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusBadRequest:
		return "Bad request"
	case http.StatusMethodNotAllowed:
		return "Method not allowed"
	case http.StatusOK:
		return "Note"
	}
	if code >= 500 {
		return "Something went wrong"
	}
	return http.StatusText(code)
}

// fail answers with an error page, in the site's layout.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	ro := s.roleOf(s.session(r))
	s.render(w, r, ro, status, "error", errorHeading(status), "", errorView{Code: status, Message: msg})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	s.fail(w, r, http.StatusNotFound, msg)
}

// errorPage serves /error/ID.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, id string) {
	msgs := map[string]string{
		"permission-denied": "Permission denied: you may not see this CI. Log in as someone who may.",
		"logout-needed":     "The CI's access rules have changed since you logged in: log out and log in again.",
		"no-state-repo":     "This CI has no public state repository for history links.",
	}
	msg, ok := msgs[id]
	if !ok {
		s.notFound(w, r, "No such error")
		return
	}
	s.render(w, r, s.roleOf(s.session(r)), http.StatusOK, "error", errorHeading(http.StatusOK), "", errorView{Code: http.StatusOK, Message: msg})
}

// tile is a dashboard branch.
type tile struct {
	Repo, Branch string
	Path         string
	State        string // Succeeding, Pending, Failing, Not found
	Class        string
	Jobs         []ci.JobSummary
}

type poolUse struct {
	pool.Use
	Queued bool
	Branch string // the step's result branch, when found
	Target *ci.TargetID
}

type poolView struct {
	Name     string
	Capacity int
	Active   int
	Queued   int
	Uses     []poolUse
}

type dashboardView struct {
	Tiles []tile
	Notes []string // projects without Project.Dashboards: what is shown
	Pools []poolView
	Count map[string]int
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, ro role) {
	ts := s.e.Targets()
	byID := make(map[ci.TargetID]ci.TargetSummary, len(ts))
	v := dashboardView{Count: map[string]int{}}
	for _, t := range ts {
		byID[t.Target.ID] = t
		v.Count[t.Target.ID.Kind()]++
	}
	for _, p := range s.e.Projects() {
		branches := p.Dashboards
		if len(branches) == 0 {
			for _, b := range defaultDashboards {
				if _, ok := byID[ci.Branch(p.Repo, b)]; ok {
					branches = append(branches, b)
				}
			}
			var others []string // without main or master: its few branches (a CI with --canary)
			for _, t := range ts {
				if id := t.Target.ID; id.Repo.String() == p.Repo && strings.HasPrefix(id.Ref, "heads/") {
					others = append(others, strings.TrimPrefix(id.Ref, "heads/"))
				}
			}
			switch {
			case len(branches) == 0 && len(others) > 0 && len(others) <= maxOtherTiles:
				slices.Sort(others)
				branches = others
				v.Notes = append(v.Notes, "Showing "+p.Repo+"'s "+strings.Join(branches, ", ")+": no branch of it is chosen for the dashboard, and no main or master branch of it is tested. To choose the branches shown here, set Project.Dashboards in the CI's configuration.")
			case len(branches) == 0:
				v.Notes = append(v.Notes, "No branch of "+p.Repo+" is chosen for the dashboard, and it has no main or master branch yet: its targets are under Branches and PRs. To choose the branches shown here, set Project.Dashboards in the CI's configuration.")
			default:
				v.Notes = append(v.Notes, "Showing "+p.Repo+"'s "+strings.Join(branches, " and ")+": no branch of it is chosen for the dashboard. To choose the branches shown here, set Project.Dashboards in the CI's configuration.")
			}
		}
		for _, b := range branches {
			id := ci.Branch(p.Repo, b)
			t := tile{Repo: p.Repo, Branch: b, Path: targetPath(id), State: "Not found", Class: "none"}
			if sum, ok := byID[id]; ok {
				t.Jobs = sum.Jobs
				t.State, t.Class = "Succeeding", "success"
				for _, j := range sum.Jobs {
					switch {
					case j.State.Failed():
						t.State, t.Class = "Failing", "failure"
					case j.State == ci.Pending && t.Class != "failure":
						t.State, t.Class = "Pending", "pending"
					}
				}
			}
			v.Tiles = append(v.Tiles, t)
		}
	}
	v.Pools = s.poolViews(ts)
	s.render(w, r, ro, http.StatusOK, "dashboard", s.heading, "dashboard", v)
}

// defaultDashboards are the branches of a project shown on the
// dashboard, those that exist, when its Project.Dashboards is empty.
var defaultDashboards = []string{"main", "master"}

// maxOtherTiles is how many branches of a project with no main or master
// target the dashboard shows instead (all of them, or none: they are
// under Branches).
const maxOtherTiles = 4

// poolViews shows the pools, finding each use's step (its live log has
// the use's label as title) and a target whose job uses it.
func (s *Server) poolViews(ts []ci.TargetSummary) []poolView {
	byTitle := map[string]string{}
	logs := s.e.Logs()
	for _, b := range logs.List() {
		if l, ok := logs.Get(b); ok {
			byTitle[l.Title()] = b
		}
	}
	var out []poolView
	for _, p := range s.cfg.Pools {
		st := p.Status()
		pv := poolView{Name: st.Name, Capacity: st.Capacity, Active: len(st.Active), Queued: len(st.Queued)}
		add := func(u pool.Use, queued bool) {
			pu := poolUse{Use: u, Queued: queued, Branch: byTitle[u.Label]}
			if pu.Branch != "" {
			find:
				for _, t := range ts {
					for _, j := range t.Jobs {
						for _, l := range j.Logs {
							if l.Branch == pu.Branch {
								id := t.Target.ID
								pu.Target = &id
								break find
							}
						}
					}
				}
			}
			pv.Uses = append(pv.Uses, pu)
		}
		for _, u := range st.Active {
			add(u, false)
		}
		for _, u := range st.Queued {
			add(u, true)
		}
		out = append(out, pv)
	}
	return out
}

// listRow is a target in a list.
type listRow struct {
	ID      ci.TargetID
	Path    string
	Name    string
	Title   string
	Head    string
	Jobs    []ci.JobSummary
	Summary string
	Class   string
}

type listProject struct {
	Repo   string
	Rows   []listRow
	Failed int
	Total  int
}

type listView struct {
	Kind     string // "pr", "branch", "tag"
	Projects []listProject
	Page     int // from 1
	Prev     int // 0 if none
	Next     int // 0 if none
	PerPage  int
	Nouns    map[string]string // "pr": "PR"...
}

// listPage is how many targets of a project a list page shows.
const listPage = 300

func (s *Server) targetList(w http.ResponseWriter, r *http.Request, ro role, kind string) {
	ts := s.e.Targets()
	v := listView{Kind: kind, Page: 1, PerPage: listPage, Nouns: map[string]string{"pr": "PR", "branch": "branch", "tag": "tag"}}
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 1 {
		v.Page = n
	}
	lo, hi := (v.Page-1)*listPage, v.Page*listPage
	idx := map[string]int{}
	for _, p := range s.e.Projects() {
		idx[p.Repo] = len(v.Projects)
		v.Projects = append(v.Projects, listProject{Repo: p.Repo})
	}
	for _, t := range ts {
		id := t.Target.ID
		if id.Kind() != kind {
			continue
		}
		i, ok := idx[id.Repo.String()]
		if !ok {
			continue
		}
		for _, j := range t.Jobs {
			if j.State.Failed() {
				v.Projects[i].Failed++
				break
			}
		}
		n := v.Projects[i].Total
		v.Projects[i].Total++
		if n < lo || n >= hi {
			if n >= hi {
				v.Next = v.Page + 1
			}
			continue
		}
		row := listRow{ID: id, Path: targetPath(id), Head: t.Target.Head, Jobs: t.Jobs, Title: t.Target.Title}
		switch kind {
		case "pr":
			row.Name = fmt.Sprintf("#%d", id.PR)
		case "branch":
			row.Name = t.Target.BranchName()
		default:
			row.Name = t.Target.TagName()
		}
		row.Summary, row.Class = summarize(t.Jobs)
		v.Projects[i].Rows = append(v.Projects[i].Rows, row)
	}
	if v.Page > 1 {
		v.Prev = v.Page - 1
	}
	title := map[string]string{"pr": "Pull requests", "branch": "Branches", "tag": "Tags"}[kind]
	s.render(w, r, ro, http.StatusOK, "list", title, kind, v)
}

// summarize is a target's summary (reference 6.5): its jobs grouped by
// description, "descr (job1, job2); ...", of the pending jobs if any,
// else of the failed ones, else of the successful ones.
func summarize(jobs []ci.JobSummary) (string, string) {
	pick := func(f func(ci.JobSummary) bool) []ci.JobSummary {
		var out []ci.JobSummary
		for _, j := range jobs {
			if f(j) {
				out = append(out, j)
			}
		}
		return out
	}
	class := "pending"
	sel := pick(func(j ci.JobSummary) bool { return j.State == ci.Pending })
	if len(sel) == 0 {
		class = "failure"
		sel = pick(func(j ci.JobSummary) bool { return j.State.Failed() })
	}
	if len(sel) == 0 {
		class = "success"
		sel = jobs
	}
	var order []string
	groups := map[string][]string{}
	for _, j := range sel {
		d := j.Descr
		if j.New {
			d = "Pending (new)"
		}
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], j.Name)
	}
	parts := make([]string, len(order))
	for i, d := range order {
		parts[i] = d + " (" + strings.Join(groups[d], ", ") + ")"
	}
	return strings.Join(parts, "; "), class
}

// stepView is a step of a job on a target page.
type stepView struct {
	term.Log
	Path       string
	Class      string
	CanRebuild bool
	Queued     bool // a rebuild is asked for (live, without a running log)
}

type jobView struct {
	Name      string
	State     ci.State
	Label     string
	Descr     string
	ShowDescr bool
	Steps     []stepView
	Why       []ci.Wait
	Highlight bool
	Activity  string // a pending job's: "running since 13:45:02 (3 min)", "waiting for a resource since ..."
	Running   bool   // one of its steps runs (not only waits for a pool)
}

type targetView struct {
	ID        ci.TargetID
	Kind      string
	Name      string
	Title     string
	Head      string
	Self      string
	GitHub    string
	HeadURL   string
	StateRepo string
	History   []ci.HistoryEntry // old to new
	Latest    string            // the latest state's commit
	At        string            // the state shown, when not the latest
	Older     string            // the next page of history
	Archived  bool
	Jobs      []jobView
	AnyFailed bool
	Missing   bool
	Counts    string // "3 jobs: 2 successful, 1 failed"
}

func (s *Server) targetPage(w http.ResponseWriter, r *http.Request, ro role, id ci.TargetID) {
	ctx := r.Context()
	q := r.URL.Query()
	v := targetView{ID: id, Self: targetPath(id), StateRepo: s.opts.StateRepo}
	repoURL := s.opts.GitHubURL + "/" + id.Repo.String()
	switch {
	case id.IsPR():
		v.Kind, v.Name = "PR", fmt.Sprint(id.PR)
		v.GitHub = fmt.Sprintf("%s/pull/%d", repoURL, id.PR)
	case id.IsTag():
		v.Kind, v.Name = "Tag", strings.TrimPrefix(id.Ref, "tags/")
		v.GitHub = repoURL + "/tree/" + v.Name
	default:
		v.Kind, v.Name = "Branch", strings.TrimPrefix(id.Ref, "heads/")
		v.GitHub = repoURL + "/tree/" + v.Name
	}
	if slices.Contains(s.opts.LocalRepos, id.Repo) {
		repoURL, v.GitHub = "", "" // not on GitHub: no links there
	}
	from := q.Get("history")
	hist, _ := s.e.History(ctx, id, "", historyPage+1)
	v.History, v.Older = pageOf(hist)
	sum, live := s.e.Target(id)
	var jobs []ci.JobSummary
	switch {
	case from != "":
		st, err := s.e.StateAt(ctx, id, from)
		if err != nil {
			s.notFound(w, r, "No such state of "+id.String())
			return
		}
		v.At, v.Archived, v.Head, jobs = st.Commit, true, st.Source, st.Jobs
		if q.Get("older") != "" {
			if more, err := s.e.History(ctx, id, from, historyPage+1); err == nil {
				v.History, v.Older = pageOf(more)
			}
		}
	case live:
		v.Head, v.Title, jobs = sum.Target.Head, sum.Target.Title, sum.Jobs
	case len(hist) > 0:
		st, err := s.e.StateAt(ctx, id, hist[0].Commit)
		if err != nil {
			s.notFound(w, r, "No such target: "+id.String())
			return
		}
		v.At, v.Archived, v.Head, v.Missing, jobs = st.Commit, true, st.Source, true, st.Jobs
	default:
		s.notFound(w, r, "No such target: "+id.String()+" (no open PR, branch or tag of that name has been seen)")
		return
	}
	if v.Head != "" && repoURL != "" {
		v.HeadURL = repoURL + "/commit/" + v.Head
	}
	// Listed old to new, as everywhere (a log, the history of statuses).
	if len(v.History) > 0 {
		v.Latest = hist[0].Commit
	}
	slices.Reverse(v.History)
	test := q.Get("test")
	for _, j := range jobs {
		jv := jobView{Name: j.Name, State: j.State, Label: j.State.String(), Descr: j.Descr, Highlight: j.Name == test}
		if j.New {
			jv.Label = "pending (new)"
		}
		for _, l := range j.Logs {
			if l.Branch == "" {
				continue
			}
			sv := stepView{Log: l, Path: logPath(l), Class: stepClass(l), CanRebuild: ro.builder && !v.Archived && !l.Live}
			if sv.Title == "" {
				sv.Title = l.Branch
			}
			if l.Live && !v.Archived {
				if _, running := s.e.Logs().Get(l.Branch); !running {
					sv.Queued = true
				}
			}
			jv.Steps = append(jv.Steps, sv)
		}
		if !v.Archived && j.State == ci.Pending {
			jv.Activity, jv.Running = s.activity(j)
		}
		jv.ShowDescr = len(j.Logs) == 0 || j.Logs[len(j.Logs)-1].Title != j.Descr
		if !v.Archived && j.State == ci.Pending {
			jv.Why, _ = s.e.Explain(id, j.Name)
			if len(jv.Why) > 0 {
				jv.Why = jv.Why[1:] // the job's own line is the row
			}
		}
		if j.State.Failed() {
			v.AnyFailed = true
		}
		v.Jobs = append(v.Jobs, jv)
	}
	sort.Slice(v.Jobs, func(a, b int) bool { return v.Jobs[a].Name < v.Jobs[b].Name })
	v.Counts = jobCounts(v.Jobs)
	title := v.Kind + " " + v.Name
	if v.Title != "" {
		title += " (" + v.Title + ")"
	}
	s.render(w, r, ro, http.StatusOK, "target", title, strings.ToLower(v.Kind), v)
}

// activity says what a pending job's steps do: running since when (the
// earliest running step's start), else waiting for a resource since when;
// "" when no step of it has a live log.
func (s *Server) activity(j ci.JobSummary) (string, bool) {
	poolReasons := map[string]bool{}
	for _, p := range s.cfg.Pools {
		poolReasons[p.Reason()] = true
	}
	var run, wait time.Time
	for _, l := range j.Logs {
		if !l.Live || l.Branch == "" {
			continue
		}
		lg, ok := s.e.Logs().Get(l.Branch)
		if !ok {
			continue
		}
		at := lg.Started()
		if poolReasons[lg.Reason()] {
			if wait.IsZero() || at.Before(wait) {
				wait = at
			}
		} else if run.IsZero() || at.Before(run) {
			run = at
		}
	}
	switch {
	case !run.IsZero():
		return "running " + s.since(run), true
	case !wait.IsZero():
		return "waiting for a resource " + s.since(wait), false
	}
	return "", false
}

// since says since when: "since 13:45:02 (3 min)", the date too if t is
// not today.
func (s *Server) since(t time.Time) string {
	now := s.now()
	d := now.Sub(t)
	at := t.Format("15:04:05")
	if y, m, dd := t.Date(); y != now.Year() || m != now.Month() || dd != now.Day() {
		at = t.Format("2006-01-02 15:04")
	}
	var dur string
	switch {
	case d < time.Minute:
		dur = plural(int(d.Seconds()), "second")
	case d < time.Hour:
		dur = plural(int(d.Minutes()), "minute")
	default:
		dur = fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return "since " + at + " (" + dur + ")"
}

// jobCounts says how many jobs there are, and how many in each state:
// "3 jobs: 2 successful, 1 failed", "2 jobs, all successful", "1 job,
// pending".
func jobCounts(jobs []jobView) string {
	if len(jobs) == 0 {
		return ""
	}
	n := map[ci.State]int{}
	for _, j := range jobs {
		n[j.State]++
	}
	var parts []string
	for _, st := range []struct {
		s    ci.State
		word string
	}{{ci.Success, "successful"}, {ci.Pending, "pending"}, {ci.Failure, "failed"}, {ci.Error, "in error"}} {
		if k := n[st.s]; k == len(jobs) && k > 1 {
			return plural(k, "job") + ", all " + st.word
		} else if k == len(jobs) {
			return "1 job, " + st.word
		} else if k > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k, st.word))
		}
	}
	return plural(len(jobs), "job") + ": " + strings.Join(parts, ", ")
}

// historyPage is how many states a target page lists.
const historyPage = 12

// pageOf is a page of history (new to old, one more than a page asked
// for) and the first state of the next page ("" if none).
func pageOf(hist []ci.HistoryEntry) ([]ci.HistoryEntry, string) {
	if len(hist) > historyPage {
		return hist[:historyPage], hist[historyPage].Commit
	}
	return hist, ""
}

type commitView struct {
	Repo     string
	SHA      string
	Test     string // the job the status is about (?test=), if any
	Current  []commitTarget
	Archived []ci.ArchivedBuild
}

// commitTarget is a current target on the commit page, with the job
// ?test= names, if it has it: its steps link to their logs.
type commitTarget struct {
	ci.TargetSummary
	Job *jobView
}

// commitPage lists the targets whose head is the commit, and its archived
// builds; with exactly one current target and nothing archived, it
// redirects (307) to that target's page, keeping ?test=. Otherwise the
// job ?test= names is shown under each target, its steps linked to their
// logs, so that a status's target URL is one click from each log even
// when a PR and its branch share the commit.
func (s *Server) commitPage(w http.ResponseWriter, r *http.Request, ro role, repo ci.Repo, sha string) {
	sha = strings.ToLower(sha)
	if len(sha) < 7 || len(sha) > 40 || strings.Trim(sha, "0123456789abcdef") != "" {
		s.notFound(w, r, "No such commit (want 7 to 40 hex digits)")
		return
	}
	v := commitView{Repo: repo.String(), SHA: sha, Test: r.URL.Query().Get("test")}
	for _, t := range s.e.Targets() {
		if t.Target.ID.Repo == repo && strings.HasPrefix(t.Target.Head, sha) {
			ct := commitTarget{TargetSummary: t}
			for _, j := range t.Jobs {
				if v.Test != "" && j.Name == v.Test {
					jv := &jobView{Name: j.Name, State: j.State, Label: j.State.String(), Descr: j.Descr}
					for _, l := range j.Logs {
						if l.Branch == "" {
							continue
						}
						sv := stepView{Log: l, Path: logPath(l), Class: stepClass(l)}
						if sv.Title == "" {
							sv.Title = l.Branch
						}
						jv.Steps = append(jv.Steps, sv)
					}
					ct.Job = jv
				}
			}
			v.Current = append(v.Current, ct)
			v.SHA = t.Target.Head
		}
	}
	if len(v.SHA) == 40 {
		arch, _ := s.e.Archived(r.Context(), repo, v.SHA)
		for _, a := range arch {
			current := false
			for _, t := range v.Current {
				current = current || t.Target.ID == a.Target
			}
			if !current {
				v.Archived = append(v.Archived, a)
			}
		}
	}
	if len(v.Current) == 1 && len(v.Archived) == 0 {
		u := targetPath(v.Current[0].Target.ID)
		if t := r.URL.Query().Get("test"); t != "" {
			u += "?test=" + url.QueryEscape(t)
		}
		http.Redirect(w, r, u, http.StatusTemporaryRedirect)
		return
	}
	if len(v.Current) == 0 && len(v.Archived) == 0 {
		s.notFound(w, r, "No build of "+repo.String()+" at commit "+sha)
		return
	}
	s.render(w, r, ro, http.StatusOK, "commit", "Commit "+shortSHA(v.SHA), "", v)
}
