package fakegithub

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pull is a pull request. Its head is a branch of the same repository or
// of a fork (another repository on the server).
type pull struct {
	id       int64
	number   int
	title    string
	body     string
	state    string // "open" or "closed"
	draft    bool
	user     *user
	headRepo *repo
	headRef  string // branch name
	headSHA  string
	baseRef  string
	created  time.Time
	updated  time.Time
	closed   time.Time
	comments []*comment
}

type comment struct {
	id      int64
	user    *user
	body    string
	created time.Time
	updated time.Time
}

// PR is a pull request as tests see it.
type PR struct {
	Number   int
	Title    string
	Body     string
	State    string // "open" or "closed"
	User     string
	HeadRepo string // "owner/name"
	Head     string // branch
	HeadSHA  string
	Base     string // branch
	Comments []Comment
}

// Comment is a comment of a pull request's conversation.
type Comment struct {
	ID   int64
	User string
	Body string
}

// NewPR describes a pull request to open.
type NewPR struct {
	Title string
	Body  string
	// Head is the branch to merge; it must exist in HeadRepo ("" means the
	// base repository: a fork is another repository on the server).
	Head     string
	HeadRepo string
	// Base is the branch to merge into; "" means the default branch.
	Base  string
	Draft bool
	// User opens it; "" means the repository's owner (an organization's
	// first owner).
	User string
}

// OpenPR opens a pull request in repoName and returns its number. Hooks
// get pull_request "opened".
func (s *Server) OpenPR(repoName string, n NewPR) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return 0, err
	}
	u, err := s.sender(r, n.User)
	if err != nil {
		return 0, err
	}
	head := r
	if n.HeadRepo != "" {
		if head, err = s.repo(n.HeadRepo); err != nil {
			return 0, err
		}
	}
	sha, ok := head.refs["refs/heads/"+n.Head]
	if !ok {
		return 0, fmt.Errorf("%w: no branch %q in %s", ErrInvalid, n.Head, head.fullName())
	}
	if n.Base == "" {
		n.Base = r.defBr
	}
	if _, ok := r.refs["refs/heads/"+n.Base]; !ok {
		return 0, fmt.Errorf("%w: no base branch %q in %s", ErrInvalid, n.Base, r.fullName())
	}
	now := s.now().UTC()
	p := &pull{
		id: s.st.newID(), number: s.nextNumber(r), title: n.Title, body: n.Body, state: "open",
		draft: n.Draft, user: u, headRepo: head, headRef: n.Head, headSHA: sha, baseRef: n.Base,
		created: now, updated: now,
	}
	r.pulls = append(r.pulls, p)
	s.sendPull(r, p, "opened", u, nil)
	return p.number, nil
}

// nextNumber is the number of a repository's next pull request (issues
// and pull requests share numbers; this server has only pull requests).
func (s *Server) nextNumber(r *repo) int { return len(r.pulls) + 1 }

func (r *repo) pull(n int) *pull {
	if n < 1 || n > len(r.pulls) {
		return nil
	}
	return r.pulls[n-1]
}

// PREdit is a change to a pull request; nil fields stay.
type PREdit struct {
	Title *string
	Body  *string
	State *string // "open" or "closed"
	Base  *string
	// User makes the change; "" means the repository's owner.
	User string
}

// EditPR changes a pull request as its author would on the web: hooks get
// pull_request "edited" (with the changes) for the title, body and base,
// then "closed" or "reopened" for the state.
func (s *Server) EditPR(repoName string, number int, e PREdit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return err
	}
	p := r.pull(number)
	if p == nil {
		return fmt.Errorf("%w: pull request %s#%d", ErrNotFound, repoName, number)
	}
	u, err := s.sender(r, e.User)
	if err != nil {
		return err
	}
	if fe := s.editPull(r, p, u, e); fe != nil {
		return fmt.Errorf("%w: %s %s", ErrInvalid, fe.Field, fe.Message)
	}
	return nil
}

// editPull validates and applies e, then sends the events.
func (s *Server) editPull(r *repo, p *pull, by *user, e PREdit) *fieldError {
	if e.State != nil && *e.State != "open" && *e.State != "closed" {
		return &fieldError{Resource: "PullRequest", Code: "invalid", Field: "state", Message: "state is not included in the list"}
	}
	if e.Base != nil {
		if _, ok := r.refs["refs/heads/"+*e.Base]; !ok {
			return &fieldError{Resource: "PullRequest", Code: "invalid", Field: "base", Message: "Proposed base branch '" + *e.Base + "' was not found"}
		}
	}
	if e.State != nil && *e.State == "open" && p.state == "closed" {
		if _, ok := p.headRepo.refs["refs/heads/"+p.headRef]; !ok {
			return &fieldError{Resource: "PullRequest", Code: "custom", Field: "state", Message: "state cannot be changed. The " + p.headRef + " branch has been deleted."}
		}
	}
	changes := map[string]any{}
	if e.Title != nil && *e.Title != p.title {
		changes["title"] = map[string]string{"from": p.title}
		p.title = *e.Title
	}
	if e.Body != nil && *e.Body != p.body {
		changes["body"] = map[string]string{"from": p.body}
		p.body = *e.Body
	}
	if e.Base != nil && *e.Base != p.baseRef {
		changes["base"] = map[string]any{
			"ref": map[string]string{"from": p.baseRef},
			"sha": map[string]string{"from": r.refs["refs/heads/"+p.baseRef]},
		}
		p.baseRef = *e.Base
	}
	now := s.now().UTC()
	if len(changes) > 0 {
		p.updated = now
		s.sendPull(r, p, "edited", by, changes)
	}
	if e.State != nil && *e.State != p.state {
		p.state, p.updated = *e.State, now
		action := "reopened"
		if p.state == "closed" {
			p.closed, action = now, "closed"
		} else {
			// A closed pull request does not follow its branch; reopened,
			// it does again.
			p.closed = time.Time{}
			p.headSHA = p.headRepo.refs["refs/heads/"+p.headRef]
		}
		s.sendPull(r, p, action, by, nil)
	}
	return nil
}

// AddComment adds a comment by user ("" means the repository's owner) to
// pull request number and returns its id. (GitHub would send an
// issue_comment event; the bridge does not subscribe to it and this
// server does not send it.)
func (s *Server) AddComment(repoName string, number int, login, body string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return 0, err
	}
	p := r.pull(number)
	if p == nil {
		return 0, fmt.Errorf("%w: pull request %s#%d", ErrNotFound, repoName, number)
	}
	u, err := s.sender(r, login)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	c := &comment{id: s.st.newID(), user: u, body: body, created: now, updated: now}
	p.comments = append(p.comments, c)
	return c.id, nil
}

// PR returns pull request number of repoName.
func (s *Server) PR(repoName string, number int) (PR, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return PR{}, err
	}
	p := r.pull(number)
	if p == nil {
		return PR{}, fmt.Errorf("%w: pull request %s#%d", ErrNotFound, repoName, number)
	}
	out := PR{
		Number: p.number, Title: p.title, Body: p.body, State: p.state, User: p.user.login,
		HeadRepo: p.headRepo.fullName(), Head: p.headRef, HeadSHA: p.headSHA, Base: p.baseRef,
	}
	for _, c := range p.comments {
		out.Comments = append(out.Comments, Comment{ID: c.id, User: c.user.login, Body: c.body})
	}
	return out, nil
}

// PRs returns the numbers of repoName's pull requests in state ("open",
// "closed" or "all"), lowest first.
func (s *Server) PRs(repoName, state string) ([]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return nil, err
	}
	var ns []int
	for _, p := range r.pulls {
		if state == "all" || p.state == state {
			ns = append(ns, p.number)
		}
	}
	return ns, nil
}

// linkJSON is an entry of _links.
type linkJSON struct {
	Href string `json:"href"`
}

type branchJSON struct {
	Label string    `json:"label"`
	Ref   string    `json:"ref"`
	SHA   string    `json:"sha"`
	User  *userJSON `json:"user"`
	Repo  *repoJSON `json:"repo"`
}

// pullJSON is a pull request as lists show it.
type pullJSON struct {
	URL                string               `json:"url"`
	ID                 int64                `json:"id"`
	NodeID             string               `json:"node_id"`
	HTMLURL            string               `json:"html_url"`
	DiffURL            string               `json:"diff_url"`
	PatchURL           string               `json:"patch_url"`
	IssueURL           string               `json:"issue_url"`
	Number             int                  `json:"number"`
	State              string               `json:"state"`
	Locked             bool                 `json:"locked"`
	Title              string               `json:"title"`
	User               *userJSON            `json:"user"`
	Body               any                  `json:"body"`
	CreatedAt          string               `json:"created_at"`
	UpdatedAt          string               `json:"updated_at"`
	ClosedAt           any                  `json:"closed_at"`
	MergedAt           any                  `json:"merged_at"`
	MergeCommitSHA     any                  `json:"merge_commit_sha"`
	Assignee           any                  `json:"assignee"`
	Assignees          []any                `json:"assignees"`
	RequestedReviewers []any                `json:"requested_reviewers"`
	RequestedTeams     []any                `json:"requested_teams"`
	Labels             []any                `json:"labels"`
	Milestone          any                  `json:"milestone"`
	Draft              bool                 `json:"draft"`
	CommitsURL         string               `json:"commits_url"`
	ReviewCommentsURL  string               `json:"review_comments_url"`
	ReviewCommentURL   string               `json:"review_comment_url"`
	CommentsURL        string               `json:"comments_url"`
	StatusesURL        string               `json:"statuses_url"`
	Head               branchJSON           `json:"head"`
	Base               branchJSON           `json:"base"`
	Links              map[string]*linkJSON `json:"_links"`
	AuthorAssociation  string               `json:"author_association"`
	AutoMerge          any                  `json:"auto_merge"`
	ActiveLockReason   any                  `json:"active_lock_reason"`
}

// fullPullJSON is a single pull request (GET, PATCH, payloads): a list's
// entry and more.
type fullPullJSON struct {
	*pullJSON
	Merged              bool   `json:"merged"`
	Mergeable           any    `json:"mergeable"`
	Rebaseable          any    `json:"rebaseable"`
	MergeableState      string `json:"mergeable_state"`
	MergedBy            any    `json:"merged_by"`
	Comments            int    `json:"comments"`
	ReviewComments      int    `json:"review_comments"`
	MaintainerCanModify bool   `json:"maintainer_can_modify"`
	Commits             int    `json:"commits"`
	Additions           int    `json:"additions"`
	Deletions           int    `json:"deletions"`
	ChangedFiles        int    `json:"changed_files"`
}

func authorAssociation(r *repo, u *user) string {
	switch {
	case u == r.owner:
		return "OWNER"
	case r.owner.typ == "Organization" && r.owner.members[strings.ToLower(u.login)] != nil:
		return "MEMBER"
	case r.collab[strings.ToLower(u.login)] != "":
		return "COLLABORATOR"
	}
	return "CONTRIBUTOR"
}

func (s *Server) pullJSON(r *repo, p *pull) *pullJSON {
	api := s.APIURL() + "/repos/" + r.fullName()
	html := s.URL() + "/" + r.fullName()
	n := strconv.Itoa(p.number)
	baseSHA := r.commitOf(r.refs["refs/heads/"+p.baseRef])
	j := &pullJSON{
		URL: api + "/pulls/" + n, ID: p.id, NodeID: nodeID("PullRequest", p.id),
		HTMLURL: html + "/pull/" + n, DiffURL: html + "/pull/" + n + ".diff",
		PatchURL: html + "/pull/" + n + ".patch", IssueURL: api + "/issues/" + n,
		Number: p.number, State: p.state, Title: p.title, User: s.userJSON(p.user),
		Body: strOrNil(p.body), CreatedAt: ts(p.created), UpdatedAt: ts(p.updated),
		ClosedAt: tsOrNil(p.closed), Assignees: []any{}, RequestedReviewers: []any{},
		RequestedTeams: []any{}, Labels: []any{}, Draft: p.draft,
		CommitsURL: api + "/pulls/" + n + "/commits", ReviewCommentsURL: api + "/pulls/" + n + "/comments",
		ReviewCommentURL: api + "/pulls/comments{/number}", CommentsURL: api + "/issues/" + n + "/comments",
		StatusesURL: api + "/statuses/" + p.headSHA,
		Head: branchJSON{
			Label: p.headRepo.owner.login + ":" + p.headRef, Ref: p.headRef, SHA: p.headSHA,
			User: s.userJSON(p.headRepo.owner), Repo: s.repoJSON(p.headRepo),
		},
		Base: branchJSON{
			Label: r.owner.login + ":" + p.baseRef, Ref: p.baseRef, SHA: baseSHA,
			User: s.userJSON(r.owner), Repo: s.repoJSON(r),
		},
		Links: map[string]*linkJSON{
			"self": {api + "/pulls/" + n}, "html": {html + "/pull/" + n},
			"issue": {api + "/issues/" + n}, "comments": {api + "/issues/" + n + "/comments"},
			"review_comments": {api + "/pulls/" + n + "/comments"},
			"review_comment":  {api + "/pulls/comments{/number}"},
			"commits":         {api + "/pulls/" + n + "/commits"},
			"statuses":        {api + "/statuses/" + p.headSHA},
		},
		AuthorAssociation: authorAssociation(r, p.user),
	}
	return j
}

// fullPullJSON is pullJSON and what a single pull request adds. The
// server does not merge: mergeable is true while open, null when closed.
func (s *Server) fullPullJSON(r *repo, p *pull) *fullPullJSON {
	f := &fullPullJSON{
		pullJSON: s.pullJSON(r, p), Mergeable: true, Rebaseable: true, MergeableState: "clean",
		Comments: len(p.comments), MaintainerCanModify: p.headRepo != r, Commits: 1,
	}
	if p.state == "closed" {
		f.Mergeable, f.Rebaseable, f.MergeableState = nil, nil, "unknown"
	}
	return f
}

// The REST handlers of pull requests and their comments.

func (s *Server) handleListPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr == nil {
		aerr = access(who, rp, PermRead, []string{"repo"}, "pull_requests", "read")
	}
	if aerr != nil {
		aerr.write(w)
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		validationFailed(w, "https://docs.github.com/rest/pulls/pulls#list-pull-requests",
			fieldError{Resource: "Issue", Code: "invalid", Field: "state"})
		return
	}
	var ps []*pull
	for _, p := range rp.pulls {
		if state != "all" && p.state != state {
			continue
		}
		if b := q.Get("base"); b != "" && p.baseRef != b {
			continue
		}
		if h := q.Get("head"); h != "" {
			owner, ref, ok := strings.Cut(h, ":")
			if !ok || !strings.EqualFold(owner, p.headRepo.owner.login) || ref != p.headRef {
				continue
			}
		}
		ps = append(ps, p)
	}
	// GitHub's default direction is desc for sort=created (the default
	// sort), asc otherwise.
	sortKey, dir := q.Get("sort"), q.Get("direction")
	desc := dir == "desc" || (dir == "" && (sortKey == "" || sortKey == "created"))
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		var less bool
		switch sortKey {
		case "updated":
			less = a.updated.Before(b.updated) || (a.updated.Equal(b.updated) && a.number < b.number)
		default:
			less = a.number < b.number
		}
		if desc {
			return !less && a != b
		}
		return less
	})
	lo, hi := page(w, r, s.URL(), len(ps))
	out := make([]*pullJSON, 0, hi-lo)
	for _, p := range ps[lo:hi] {
		out = append(out, s.pullJSON(rp, p))
	}
	writeJSON(w, http.StatusOK, out)
}

// pullOf finds {owner}/{repo} and pull request {number} for a request.
func (s *Server) pullOf(r *http.Request, need Permission, level string) (*repo, *pull, *apiError) {
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr != nil {
		return nil, nil, aerr
	}
	n, err := strconv.Atoi(r.PathValue("number"))
	p := rp.pull(n)
	if err != nil || p == nil {
		return nil, nil, notFound()
	}
	if aerr := access(who, rp, PermRead, []string{"repo"}, "pull_requests", "read"); aerr != nil {
		return nil, nil, aerr
	}
	if need != PermRead && !(who.user == p.user && who.inst == nil) {
		if aerr := access(who, rp, need, []string{"repo", "public_repo"}, "pull_requests", level); aerr != nil {
			return nil, nil, aerr
		}
	}
	return rp, p, nil
}

func (s *Server) handleGetPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, p, aerr := s.pullOf(r, PermRead, "read")
	if aerr != nil {
		aerr.write(w)
		return
	}
	w.Header().Set("Last-Modified", p.updated.UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, s.fullPullJSON(rp, p))
}

func (s *Server) handleEditPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, p, aerr := s.pullOf(r, PermWrite, "write")
	if aerr != nil {
		aerr.write(w)
		return
	}
	var body struct {
		Title               *string `json:"title"`
		Body                *string `json:"body"`
		State               *string `json:"state"`
		Base                *string `json:"base"`
		MaintainerCanModify *bool   `json:"maintainer_can_modify"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if fe := s.editPull(rp, p, info(r).who.user, PREdit{Title: body.Title, Body: body.Body, State: body.State, Base: body.Base}); fe != nil {
		validationFailed(w, "https://docs.github.com/rest/pulls/pulls#update-a-pull-request", *fe)
		return
	}
	writeJSON(w, http.StatusOK, s.fullPullJSON(rp, p))
}

type commentJSON struct {
	URL                   string    `json:"url"`
	HTMLURL               string    `json:"html_url"`
	IssueURL              string    `json:"issue_url"`
	ID                    int64     `json:"id"`
	NodeID                string    `json:"node_id"`
	User                  *userJSON `json:"user"`
	CreatedAt             string    `json:"created_at"`
	UpdatedAt             string    `json:"updated_at"`
	AuthorAssociation     string    `json:"author_association"`
	Body                  string    `json:"body"`
	PerformedViaGitHubApp any       `json:"performed_via_github_app"`
}

func (s *Server) handleListComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, p, aerr := s.pullOf(r, PermRead, "read")
	if aerr != nil {
		aerr.write(w)
		return
	}
	cs := p.comments
	if since := r.URL.Query().Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			validationFailed(w, "https://docs.github.com/rest/issues/comments#list-issue-comments",
				fieldError{Resource: "IssueComment", Code: "invalid", Field: "since"})
			return
		}
		cs = nil
		for _, c := range p.comments {
			if !c.updated.Before(t) {
				cs = append(cs, c)
			}
		}
	}
	lo, hi := page(w, r, s.URL(), len(cs))
	api := s.APIURL() + "/repos/" + rp.fullName()
	out := make([]*commentJSON, 0, hi-lo)
	for _, c := range cs[lo:hi] {
		id := strconv.FormatInt(c.id, 10)
		out = append(out, &commentJSON{
			URL:      api + "/issues/comments/" + id,
			HTMLURL:  fmt.Sprintf("%s/%s/pull/%d#issuecomment-%s", s.URL(), rp.fullName(), p.number, id),
			IssueURL: api + "/issues/" + strconv.Itoa(p.number), ID: c.id,
			NodeID: nodeID("IssueComment", c.id), User: s.userJSON(c.user),
			CreatedAt: ts(c.created), UpdatedAt: ts(c.updated),
			AuthorAssociation: authorAssociation(rp, c.user), Body: c.body,
		})
	}
	writeJSON(w, http.StatusOK, out)
}
