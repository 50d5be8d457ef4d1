package fakegithub

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// zeroSHA is what push payloads say for a ref that did not or does no
// longer exist.
const zeroSHA = "0000000000000000000000000000000000000000"

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// commitInfo is what the server knows of a commit: no tree, no parents.
type commitInfo struct {
	sha     string
	message string
	author  *user
	date    time.Time
}

// tagObject is an annotated tag.
type tagObject struct {
	sha     string
	name    string
	message string
	object  string // the tagged commit
	tagger  *user
	date    time.Time
}

// Push moves a ref as git push does.
type Push struct {
	// Ref is the full ref name: "refs/heads/<branch>" or "refs/tags/<tag>".
	Ref string
	// SHA is the commit the ref points to from now on (40 lower-case hex
	// digits; any such string is a commit); "" deletes the ref.
	SHA string
	// TagMessage, for a tag, makes it annotated: the ref points to a new
	// tag object (whose SHA Ref returns) that points to SHA.
	TagMessage string
	// Message is the commit's message in payloads; "" means "Commit
	// <first 7 digits>". The first push of a SHA fixes it.
	Message string
	// Force says that the push was forced (payloads' "forced").
	Force bool
	// Sender pushes; "" means the repository's owner.
	Sender string
}

// Push applies p to repoName and sends the events GitHub would: create
// and push for a new ref, push for a moved one, delete and push (deleted,
// after = zeros, no head commit) for a deleted one, and pull_request
// "synchronize" for the open pull requests whose head branch moved.
func (s *Server) Push(repoName string, p Push) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return err
	}
	u, err := s.sender(r, p.Sender)
	if err != nil {
		return err
	}
	kind, short := refKind(p.Ref)
	if kind == "" || short == "" || strings.Contains(short, "..") || strings.HasSuffix(short, "/") {
		return fmt.Errorf("%w: ref %q (want refs/heads/... or refs/tags/...)", ErrInvalid, p.Ref)
	}
	if p.SHA != "" && !shaRE.MatchString(p.SHA) {
		return fmt.Errorf("%w: SHA %q", ErrInvalid, p.SHA)
	}
	if p.TagMessage != "" && kind != "tag" {
		return fmt.Errorf("%w: a tag message for %q", ErrInvalid, p.Ref)
	}
	before, existed := r.refs[p.Ref]
	if p.SHA == "" && !existed {
		return fmt.Errorf("%w: ref %q", ErrNotFound, p.Ref)
	}
	now := s.now().UTC()
	after := p.SHA
	if p.SHA != "" {
		if r.commits[p.SHA] == nil {
			msg := p.Message
			if msg == "" {
				msg = "Commit " + p.SHA[:7]
			}
			r.commits[p.SHA] = &commitInfo{sha: p.SHA, message: msg, author: u, date: now}
		}
		if p.TagMessage != "" {
			sum := sha1.Sum([]byte("tag " + short + "\x00" + p.SHA + "\x00" + p.TagMessage + "\x00" + now.String()))
			t := &tagObject{sha: hex.EncodeToString(sum[:]), name: short, message: p.TagMessage, object: p.SHA, tagger: u, date: now}
			r.tags[t.sha] = t
			after = t.sha
		}
		if existed && before == after {
			return nil // nothing to push
		}
		r.refs[p.Ref] = after
	} else {
		delete(r.refs, p.Ref)
		after = zeroSHA
	}
	r.pushed, r.updated = now, now
	if !existed {
		s.send(r, "create", u, s.createPayload(r, kind, short, u))
	}
	s.send(r, "push", u, s.pushPayload(r, p, before, after, existed, u))
	if p.SHA == "" {
		s.send(r, "delete", u, map[string]any{
			"ref": short, "ref_type": kind, "pusher_type": "user",
			"repository": s.repoJSON(r), "sender": s.userJSON(u),
		})
	}
	if kind == "branch" && p.SHA != "" {
		for _, base := range s.st.repos {
			for _, pr := range base.pulls {
				if pr.state == "open" && pr.headRepo == r && pr.headRef == short && pr.headSHA != p.SHA {
					old := pr.headSHA
					pr.headSHA, pr.updated = p.SHA, now
					s.sendPull(base, pr, "synchronize", u, nil, old)
				}
			}
		}
	}
	return nil
}

// refKind splits "refs/heads/x" into ("branch", "x") and "refs/tags/y"
// into ("tag", "y").
func refKind(ref string) (kind, short string) {
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return "branch", b
	}
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return "tag", t
	}
	return "", ""
}

// Ref returns what the full ref name of repoName points to (a commit, or
// an annotated tag's object), and whether it exists.
func (s *Server) Ref(repoName, ref string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return "", false
	}
	sha, ok := r.refs[ref]
	return sha, ok
}

func (s *Server) createPayload(r *repo, kind, short string, u *user) map[string]any {
	return map[string]any{
		"ref": short, "ref_type": kind, "master_branch": r.defBr, "description": strOrNil(r.descr),
		"pusher_type": "user", "repository": s.repoJSON(r), "sender": s.userJSON(u),
	}
}

type gitUserJSON struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username,omitempty"`
}

type pushCommitJSON struct {
	ID        string      `json:"id"`
	TreeID    string      `json:"tree_id"`
	Distinct  bool        `json:"distinct"`
	Message   string      `json:"message"`
	Timestamp string      `json:"timestamp"`
	URL       string      `json:"url"`
	Author    gitUserJSON `json:"author"`
	Committer gitUserJSON `json:"committer"`
	Added     []string    `json:"added"`
	Removed   []string    `json:"removed"`
	Modified  []string    `json:"modified"`
}

func treeOf(sha string) string {
	sum := sha1.Sum([]byte("tree " + sha))
	return hex.EncodeToString(sum[:])
}

func (s *Server) pushCommitJSON(r *repo, c *commitInfo) *pushCommitJSON {
	who := gitUserJSON{Name: c.author.login, Email: c.author.noreplyEmail(), Username: c.author.login}
	return &pushCommitJSON{
		ID: c.sha, TreeID: treeOf(c.sha), Distinct: true, Message: c.message,
		Timestamp: ts(c.date), URL: s.URL() + "/" + r.fullName() + "/commit/" + c.sha,
		Author: who, Committer: who, Added: []string{}, Removed: []string{}, Modified: []string{},
	}
}

func (s *Server) pushPayload(r *repo, p Push, before, after string, existed bool, u *user) map[string]any {
	if !existed {
		before = zeroSHA
	}
	html := s.URL() + "/" + r.fullName()
	compare := html + "/compare/" + before[:12] + "..." + after[:12]
	commits := []*pushCommitJSON{}
	var head any
	if p.SHA != "" {
		c := s.pushCommitJSON(r, r.commits[p.SHA])
		head = c
		if !existed {
			compare = html + "/commit/" + p.SHA
		}
		if strings.HasPrefix(p.Ref, "refs/heads/") {
			commits = append(commits, c)
		}
	}
	m := map[string]any{
		"ref": p.Ref, "before": before, "after": after,
		"created": !existed, "deleted": p.SHA == "", "forced": p.Force,
		"base_ref": nil, "compare": compare, "commits": commits, "head_commit": head,
		"repository": s.pushRepoJSON(r),
		"pusher":     gitUserJSON{Name: u.login, Email: u.noreplyEmail()},
		"sender":     s.userJSON(u),
	}
	return m
}

// The REST handlers of refs and tags.

type objectJSON struct {
	SHA  string `json:"sha"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

type refJSON struct {
	Ref    string     `json:"ref"`
	NodeID string     `json:"node_id"`
	URL    string     `json:"url"`
	Object objectJSON `json:"object"`
}

func (s *Server) refJSON(r *repo, name string) *refJSON {
	api := s.APIURL() + "/repos/" + r.fullName()
	sha := r.refs[name]
	obj := objectJSON{SHA: sha, Type: "commit", URL: api + "/git/commits/" + sha}
	if r.tags[sha] != nil {
		obj.Type, obj.URL = "tag", api+"/git/tags/"+sha
	}
	return &refJSON{
		Ref: name, NodeID: nodeIDString("Ref", r.id, name),
		URL: api + "/git/" + name, Object: obj,
	}
}

// nodeIDString is nodeID for objects named by a string.
func nodeIDString(typ string, id int64, name string) string {
	return nodeID(typ, id) + hex.EncodeToString([]byte(name))[:min(8, 2*len(name))]
}

func (s *Server) refsRepo(r *http.Request) (*repo, *apiError) {
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr == nil {
		aerr = access(who, rp, PermRead, []string{"repo"}, "contents", "read")
	}
	return rp, aerr
}

// handleMatchingRefs serves git/matching-refs/{ref}: every ref whose name
// starts with "refs/{ref}", sorted, paginated.
func (s *Server) handleMatchingRefs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, aerr := s.refsRepo(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	prefix := "refs/" + r.PathValue("ref")
	var names []string
	for name := range rp.refs {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	lo, hi := page(w, r, s.URL(), len(names))
	out := make([]*refJSON, 0, hi-lo)
	for _, name := range names[lo:hi] {
		out = append(out, s.refJSON(rp, name))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetRef(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, aerr := s.refsRepo(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	name := "refs/" + r.PathValue("ref")
	if _, ok := rp.refs[name]; !ok {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/git/refs#get-a-reference")
		return
	}
	writeJSON(w, http.StatusOK, s.refJSON(rp, name))
}

type tagJSON struct {
	NodeID string `json:"node_id"`
	SHA    string `json:"sha"`
	URL    string `json:"url"`
	Tagger struct {
		Date  string `json:"date"`
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"tagger"`
	Object       objectJSON     `json:"object"`
	Tag          string         `json:"tag"`
	Message      string         `json:"message"`
	Verification map[string]any `json:"verification"`
}

func (s *Server) handleGetTag(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, aerr := s.refsRepo(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	t := rp.tags[r.PathValue("sha")]
	if t == nil {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/git/tags#get-a-tag")
		return
	}
	api := s.APIURL() + "/repos/" + rp.fullName()
	j := &tagJSON{
		NodeID: nodeIDString("Tag", rp.id, t.sha), SHA: t.sha, URL: api + "/git/tags/" + t.sha,
		Object: objectJSON{SHA: t.object, Type: "commit", URL: api + "/git/commits/" + t.object},
		Tag:    t.name, Message: t.message,
		Verification: map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
	}
	j.Tagger.Date, j.Tagger.Email, j.Tagger.Name = ts(t.date), t.tagger.noreplyEmail(), t.tagger.login
	writeJSON(w, http.StatusOK, j)
}
