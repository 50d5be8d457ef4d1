package fakegithub

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// status is a commit status.
type status struct {
	id        int64
	sha       string
	state     string
	descr     string
	targetURL string
	context   string
	creator   *user
	created   time.Time
}

// Status is a commit status as tests see and set it.
type Status struct {
	State       string // "error", "failure", "pending" or "success"
	Description string
	TargetURL   string
	Context     string // "" means "default", as on GitHub
	// Creator sets it; "" means the repository's owner.
	Creator string
}

// maxStatuses is GitHub's limit of statuses per SHA and context.
const maxStatuses = 1000

const docCreateStatus = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"

// SetStatus creates a status of commit sha as another CI would, with
// GitHub's validation; hooks get a status event.
func (s *Server) SetStatus(repoName, sha string, st Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return err
	}
	u, err := s.sender(r, st.Creator)
	if err != nil {
		return err
	}
	if _, fe, ae := s.createStatus(r, sha, u, st); fe != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, fe.Message)
	} else if ae != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, ae.message)
	}
	return nil
}

// createStatus validates and creates a status and sends the event. A
// status GitHub would refuse gives a field error (422 Validation Failed)
// or another error answer.
func (s *Server) createStatus(r *repo, sha string, by *user, st Status) (*status, *fieldError, *apiError) {
	fail := func(field, msg string) (*status, *fieldError, *apiError) {
		return nil, &fieldError{Resource: "Status", Code: "custom", Field: field, Message: msg}, nil
	}
	switch st.State {
	case "error", "failure", "pending", "success":
	default:
		return fail("state", "state is not included in the list")
	}
	if utf8.RuneCountInString(st.Description) > 140 {
		return fail("description", "description is too long (maximum is 140 characters)")
	}
	if r.commits[sha] == nil {
		return nil, nil, &apiError{http.StatusUnprocessableEntity, "No commit found for SHA: " + sha, docCreateStatus}
	}
	if st.Context == "" {
		st.Context = "default"
	}
	n := 0
	for _, old := range r.statuses[sha] {
		if old.context == st.Context {
			n++
		}
	}
	if n >= maxStatuses {
		return fail("sha", "This SHA and context has reached the maximum number of statuses.")
	}
	x := &status{
		id: s.st.newID(), sha: sha, state: st.State, descr: st.Description,
		targetURL: st.TargetURL, context: st.Context, creator: by, created: s.now().UTC(),
	}
	r.statuses[sha] = append(r.statuses[sha], x)
	s.send(r, "status", by, s.statusPayload(r, x))
	return x, nil, nil
}

// Statuses returns every status of commit sha, oldest first.
func (s *Server) Statuses(repoName, sha string) ([]Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, x := range r.statuses[sha] {
		out = append(out, Status{State: x.state, Description: x.descr, TargetURL: x.targetURL, Context: x.context, Creator: x.creator.login})
	}
	return out, nil
}

type statusJSON struct {
	URL         string    `json:"url"`
	AvatarURL   string    `json:"avatar_url"`
	ID          int64     `json:"id"`
	NodeID      string    `json:"node_id"`
	State       string    `json:"state"`
	Description any       `json:"description"`
	TargetURL   any       `json:"target_url"`
	Context     string    `json:"context"`
	CreatedAt   string    `json:"created_at"`
	UpdatedAt   string    `json:"updated_at"`
	Creator     *userJSON `json:"creator,omitempty"`
}

func (s *Server) statusJSON(r *repo, x *status, creator bool) *statusJSON {
	j := &statusJSON{
		URL:       s.APIURL() + "/repos/" + r.fullName() + "/statuses/" + x.sha,
		AvatarURL: fmt.Sprintf("%s/avatars/u/%d?v=4", s.URL(), x.creator.id),
		ID:        x.id, NodeID: nodeID("StatusContext", x.id), State: x.state,
		Description: strOrNil(x.descr), TargetURL: strOrNil(x.targetURL), Context: x.context,
		CreatedAt: ts(x.created), UpdatedAt: ts(x.created),
	}
	if creator {
		j.Creator = s.userJSON(x.creator)
	}
	return j
}

// statusPayload is the status event: the status, the commit and the
// branches whose head it is (at most 10).
func (s *Server) statusPayload(r *repo, x *status) map[string]any {
	api := s.APIURL() + "/repos/" + r.fullName()
	c := r.commits[x.sha]
	git := map[string]any{"name": c.author.login, "email": c.author.noreplyEmail(), "date": ts(c.date)}
	branches := []map[string]any{}
	var names []string
	for name, sha := range r.refs {
		if b, ok := strings.CutPrefix(name, "refs/heads/"); ok && sha == x.sha {
			names = append(names, b)
		}
	}
	sort.Strings(names)
	for _, b := range names[:min(len(names), 10)] {
		branches = append(branches, map[string]any{
			"name":      b,
			"commit":    map[string]string{"sha": x.sha, "url": api + "/commits/" + x.sha},
			"protected": false,
		})
	}
	return map[string]any{
		"id": x.id, "sha": x.sha, "name": r.fullName(), "target_url": strOrNil(x.targetURL),
		"avatar_url": fmt.Sprintf("%s/avatars/u/%d?v=4", s.URL(), x.creator.id),
		"context":    x.context, "description": strOrNil(x.descr), "state": x.state,
		"commit": map[string]any{
			"sha":     x.sha,
			"node_id": nodeIDString("Commit", r.id, x.sha),
			"commit": map[string]any{
				"author": git, "committer": git, "message": c.message,
				"tree":          map[string]string{"sha": treeOf(x.sha), "url": api + "/git/trees/" + treeOf(x.sha)},
				"url":           api + "/git/commits/" + x.sha,
				"comment_count": 0,
				"verification":  map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
			},
			"url":          api + "/commits/" + x.sha,
			"html_url":     s.URL() + "/" + r.fullName() + "/commit/" + x.sha,
			"comments_url": api + "/commits/" + x.sha + "/comments",
			"author":       s.userJSON(c.author),
			"committer":    s.userJSON(c.author),
			"parents":      []any{},
		},
		"branches":   branches,
		"created_at": ts(x.created), "updated_at": ts(x.created),
		"repository": s.repoJSON(r), "sender": s.userJSON(x.creator),
	}
}

// The REST handlers of statuses.

func (s *Server) handleCreateStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr == nil {
		aerr = access(who, rp, PermWrite, []string{"repo", "repo:status"}, "statuses", "write")
	}
	if aerr != nil {
		aerr.write(w)
		return
	}
	var body struct {
		State       string  `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     *string `json:"context"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	st := Status{State: body.State}
	if body.TargetURL != nil {
		st.TargetURL = *body.TargetURL
	}
	if body.Description != nil {
		st.Description = *body.Description
	}
	if body.Context != nil {
		st.Context = *body.Context
	}
	x, fe, aerr := s.createStatus(rp, r.PathValue("sha"), who.user, st)
	if fe != nil {
		validationFailed(w, docCreateStatus, *fe)
		return
	}
	if aerr != nil {
		aerr.write(w)
		return
	}
	writeJSON(w, http.StatusCreated, s.statusJSON(rp, x, true))
}

// statusesOf finds the repository and the commit of a commits/{ref}/...
// request: {ref} is a SHA, a branch or a tag.
func (s *Server) statusesOf(w http.ResponseWriter, r *http.Request, suffix string) (*repo, string, bool) {
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr == nil {
		aerr = access(who, rp, PermRead, []string{"repo"}, "statuses", "read")
	}
	if aerr != nil {
		aerr.write(w)
		return nil, "", false
	}
	ref, ok := strings.CutSuffix(r.PathValue("rest"), suffix)
	if !ok || ref == "" {
		writeError(w, http.StatusNotFound, "Not Found", docRoot)
		return nil, "", false
	}
	sha := ""
	switch {
	case rp.commits[ref] != nil:
		sha = ref
	case rp.refs["refs/heads/"+ref] != "":
		sha = rp.commitOf(rp.refs["refs/heads/"+ref])
	case rp.refs["refs/tags/"+ref] != "":
		sha = rp.commitOf(rp.refs["refs/tags/"+ref])
	case strings.HasPrefix(ref, "refs/") && rp.refs[ref] != "":
		sha = rp.commitOf(rp.refs[ref])
	default:
		writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, "https://docs.github.com/rest/commits/statuses")
		return nil, "", false
	}
	return rp, sha, true
}

func (s *Server) handleCommitStatuses(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.PathValue("rest"), "/statuses") {
		s.handleListStatuses(w, r)
		return
	}
	s.handleCombinedStatus(w, r)
}

// handleListStatuses lists a commit's statuses, newest first.
func (s *Server) handleListStatuses(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, sha, ok := s.statusesOf(w, r, "/statuses")
	if !ok {
		return
	}
	all := rp.statuses[sha]
	lo, hi := page(w, r, s.URL(), len(all))
	out := make([]*statusJSON, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, s.statusJSON(rp, all[len(all)-1-i], true))
	}
	writeJSON(w, http.StatusOK, out)
}

// latestStatuses returns the latest status of each context of sha, in
// the order of their contexts' first statuses.
func latestStatuses(all []*status) []*status {
	idx := map[string]int{}
	var out []*status
	for _, x := range all {
		if i, ok := idx[x.context]; ok {
			out[i] = x
			continue
		}
		idx[x.context] = len(out)
		out = append(out, x)
	}
	return out
}

// combinedState is GitHub's combined state: failure if any latest status
// is error or failure, pending if there are none or one is pending,
// success otherwise.
func combinedState(latest []*status) string {
	state := "success"
	if len(latest) == 0 {
		state = "pending"
	}
	for _, x := range latest {
		switch x.state {
		case "error", "failure":
			return "failure"
		case "pending":
			state = "pending"
		}
	}
	return state
}

func (s *Server) handleCombinedStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, sha, ok := s.statusesOf(w, r, "/status")
	if !ok {
		return
	}
	latest := latestStatuses(rp.statuses[sha])
	lo, hi := page(w, r, s.URL(), len(latest))
	out := make([]*statusJSON, 0, hi-lo)
	for _, x := range latest[lo:hi] {
		out = append(out, s.statusJSON(rp, x, false))
	}
	api := s.APIURL() + "/repos/" + rp.fullName()
	writeJSON(w, http.StatusOK, map[string]any{
		"state": combinedState(latest), "statuses": out, "sha": sha,
		"total_count": len(latest), "repository": s.repoJSON(rp),
		"commit_url": api + "/commits/" + sha, "url": api + "/commits/" + sha + "/status",
	})
}
