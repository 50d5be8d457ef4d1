package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/dkgo/datakit/bridge"
)

// The calls the bridge makes to GitHub, one method each, with the
// conversions from GitHub's objects to the metadata's.

const perPage = 100

// listOpenPRs lists the open pull requests of repo, every page.
func (a *api) listOpenPRs(ctx context.Context, repo bridge.Repo) ([]*gh.PullRequest, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return nil, err
	}
	var out []*gh.PullRequest
	opts := &gh.PullRequestListOptions{State: "open", Sort: "created", Direction: "asc", ListOptions: gh.ListOptions{PerPage: perPage}}
	for {
		var page []*gh.PullRequest
		var resp *gh.Response
		err := a.do(ctx, "list the open PRs of "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
			var err error
			page, resp, err = c.PullRequests.List(ctx, repo.User, repo.Name, opts)
			return resp, err
		})
		if isNotFound(err) && opts.Page == 0 {
			return nil, &repoNotFoundError{repo: repo, cfg: a.cfg, err: err}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// getPR reads pull request n; nil if there is none.
func (a *api) getPR(ctx context.Context, repo bridge.Repo, n int) (*gh.PullRequest, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return nil, err
	}
	var pr *gh.PullRequest
	err = a.do(ctx, fmt.Sprintf("read PR %s#%d", repo, n), func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		pr, resp, err = c.PullRequests.Get(ctx, repo.User, repo.Name, n)
		return resp, err
	})
	if isNotFound(err) {
		return nil, nil
	}
	return pr, err
}

// comments reads the conversation of pull request pr: its body, as
// comment 0 with id 0, then its comments, oldest first.
func (a *api) comments(ctx context.Context, repo bridge.Repo, pr *gh.PullRequest) ([]bridge.Comment, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return nil, err
	}
	out := []bridge.Comment{{ID: 0, User: pr.GetUser().GetLogin(), Body: pr.GetBody()}}
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	for {
		var page []*gh.IssueComment
		var resp *gh.Response
		err := a.do(ctx, fmt.Sprintf("list the comments of PR %s#%d", repo, pr.GetNumber()), func(ctx context.Context) (*gh.Response, error) {
			var err error
			page, resp, err = c.Issues.ListComments(ctx, repo.User, repo.Name, pr.GetNumber(), opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, cm := range page {
			out = append(out, bridge.Comment{ID: cm.GetID(), User: cm.GetUser().GetLogin(), Body: cm.GetBody()})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// prOf converts a pull request, with its conversation.
func prOf(repo bridge.Repo, pr *gh.PullRequest, comments []bridge.Comment) bridge.PR {
	state := bridge.PRClosed
	if pr.GetState() == "open" {
		state = bridge.PROpen
	}
	return bridge.PR{
		Repo: repo, Number: pr.GetNumber(), Head: strings.ToLower(pr.GetHead().GetSHA()), State: state,
		Title: pr.GetTitle(), Owner: pr.GetUser().GetLogin(), Base: pr.GetBase().GetRef(), Comments: comments,
	}
}

// validPR reports whether pr can be stored.
func validPR(pr bridge.PR) bool {
	return pr.Number > 0 && pr.Owner != "" && validSHA(pr.Head)
}

func validSHA(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// refTarget is what a ref points to: a commit, or an annotated tag.
type refTarget struct {
	sha   string
	isTag bool // an annotated tag object, to peel
}

// listRefs lists the branches and tags of repo: name ("heads/x",
// "tags/v1") to target.
func (a *api) listRefs(ctx context.Context, repo bridge.Repo) (map[string]refTarget, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return nil, err
	}
	out := map[string]refTarget{}
	for _, kind := range []string{"heads", "tags"} {
		opts := &gh.ReferenceListOptions{Ref: kind, ListOptions: gh.ListOptions{PerPage: perPage}}
		for {
			var page []*gh.Reference
			var resp *gh.Response
			err := a.do(ctx, "list the "+kind+" of "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
				var err error
				page, resp, err = c.Git.ListMatchingRefs(ctx, repo.User, repo.Name, opts)
				return resp, err
			})
			if isNotFound(err) {
				break // an empty repository
			}
			if err != nil {
				return nil, err
			}
			for _, r := range page {
				name, ok := strings.CutPrefix(r.GetRef(), "refs/")
				if !ok || !strings.HasPrefix(name, kind+"/") {
					continue
				}
				out[name] = refTarget{sha: strings.ToLower(r.GetObject().GetSHA()), isTag: r.GetObject().GetType() == "tag"}
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
	}
	return out, nil
}

// getRef reads the ref name ("heads/x"); false if there is none.
func (a *api) getRef(ctx context.Context, repo bridge.Repo, name string) (refTarget, bool, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return refTarget{}, false, err
	}
	var r *gh.Reference
	err = a.do(ctx, "read ref "+name+" of "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		r, resp, err = c.Git.GetRef(ctx, repo.User, repo.Name, name)
		return resp, err
	})
	if isNotFound(err) {
		return refTarget{}, false, nil
	}
	if err != nil {
		return refTarget{}, false, err
	}
	if r.GetRef() != "refs/"+name {
		return refTarget{}, false, nil // GitHub answers a prefix with a list; not this ref
	}
	return refTarget{sha: strings.ToLower(r.GetObject().GetSHA()), isTag: r.GetObject().GetType() == "tag"}, true, nil
}

// peel returns the commit an annotated tag object points to, following
// tags of tags.
func (a *api) peel(ctx context.Context, repo bridge.Repo, sha string) (string, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return "", err
	}
	for range 10 {
		if commit, ok := a.peeled(sha); ok {
			return commit, nil
		}
		var tag *gh.Tag
		err := a.do(ctx, "read tag object "+sha+" of "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			tag, resp, err = c.Git.GetTag(ctx, repo.User, repo.Name, sha)
			return resp, err
		})
		if err != nil {
			return "", err
		}
		obj := strings.ToLower(tag.GetObject().GetSHA())
		if tag.GetObject().GetType() != "tag" {
			a.remember(sha, obj)
			return obj, nil
		}
		sha = obj
	}
	return "", fmt.Errorf("github: tag %s of %s: too many levels of tags", sha, repo)
}

func (a *api) peeled(tag string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.tags[tag]
	return c, ok
}

func (a *api) remember(tag, commit string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.tags) > 100000 {
		clear(a.tags)
	}
	a.tags[tag] = commit
}

// ghStatus is a status as GitHub has it, with its id (ids grow: the
// greater is the later).
type ghStatus struct {
	value statusValue
	id    int64
}

// contextOf maps GitHub's status context to the metadata's: GitHub names
// the empty context "default".
func contextOf(c string) string {
	if c == bridge.DefaultContext {
		return ""
	}
	return c
}

// combinedStatus reads the latest status of each context of commit sha.
func (a *api) combinedStatus(ctx context.Context, repo bridge.Repo, sha string) (map[string]ghStatus, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return nil, err
	}
	out := map[string]ghStatus{}
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		var cs *gh.CombinedStatus
		var resp *gh.Response
		err := a.do(ctx, "read the statuses of "+sha+" in "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
			var err error
			cs, resp, err = c.Repositories.GetCombinedStatus(ctx, repo.User, repo.Name, sha, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range cs.Statuses {
			out[contextOf(s.GetContext())] = ghStatus{
				value: statusValue{state: s.GetState(), descr: s.GetDescription(), url: s.GetTargetURL()},
				id:    s.GetID(),
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// sentBefore reports, of the values want (by context), which are in the
// history of commit sha's statuses on GitHub, read newest first, at most
// ten pages.
func (a *api) sentBefore(ctx context.Context, repo bridge.Repo, sha string, want map[string]statusValue) (map[string]bool, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	opts := &gh.ListOptions{PerPage: perPage}
	for range 10 {
		var page []*gh.RepoStatus
		var resp *gh.Response
		err := a.do(ctx, "read the history of the statuses of "+sha+" in "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
			var err error
			page, resp, err = c.Repositories.ListStatuses(ctx, repo.User, repo.Name, sha, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range page {
			c := contextOf(s.GetContext())
			if w, ok := want[c]; ok && w == (statusValue{state: s.GetState(), descr: s.GetDescription(), url: s.GetTargetURL()}) {
				found[c] = true
			}
		}
		if len(found) == len(want) || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return found, nil
}

// createStatus sets the status of commit sha in context.
func (a *api) createStatus(ctx context.Context, repo bridge.Repo, sha, statusContext string, v statusValue) (int64, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return 0, err
	}
	ghContext := statusContext
	if ghContext == "" {
		ghContext = bridge.DefaultContext
	}
	st := &gh.RepoStatus{State: gh.String(v.state), Context: gh.String(ghContext)}
	if v.descr != "" {
		st.Description = gh.String(v.descr)
	}
	if v.url != "" {
		st.TargetURL = gh.String(v.url)
	}
	var out *gh.RepoStatus
	err = a.do(ctx, fmt.Sprintf("set the status %s of %s in %s", ghContext, sha, repo), func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		out, resp, err = c.Repositories.CreateStatus(ctx, repo.User, repo.Name, sha, st)
		return resp, err
	})
	if err != nil {
		return 0, err
	}
	return out.GetID(), nil
}

// prEdit is a change to a pull request: nil fields stay.
type prEdit struct{ title, state, base *string }

// editPR changes pull request n and returns it as it is then.
func (a *api) editPR(ctx context.Context, repo bridge.Repo, n int, e prEdit) (*gh.PullRequest, error) {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return nil, err
	}
	pr := &gh.PullRequest{Title: e.title, State: e.state}
	if e.base != nil {
		pr.Base = &gh.PullRequestBranch{Ref: e.base}
	}
	var out *gh.PullRequest
	err = a.do(ctx, fmt.Sprintf("edit PR %s#%d", repo, n), func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		out, resp, err = c.PullRequests.Edit(ctx, repo.User, repo.Name, n, pr)
		return resp, err
	})
	return out, err
}

// hookEvents are the events the bridge's webhooks subscribe to.
var hookEvents = []string{"create", "delete", "push", "status", "pull_request"}

// ensureHook makes sure repo has an active webhook posting hookEvents to
// url as JSON, signed with secret: it creates it, or updates the one
// already posting to url (whose secret cannot be read back).
func (a *api) ensureHook(ctx context.Context, repo bridge.Repo, url string, secret []byte) error {
	c, err := a.clientFor(ctx, repo.User, repo.Name)
	if err != nil {
		return err
	}
	var existing *gh.Hook
	opts := &gh.ListOptions{PerPage: perPage}
	for existing == nil {
		var page []*gh.Hook
		var resp *gh.Response
		err := a.do(ctx, "list the webhooks of "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
			var err error
			page, resp, err = c.Repositories.ListHooks(ctx, repo.User, repo.Name, opts)
			return resp, err
		})
		if err != nil {
			return err
		}
		for _, h := range page {
			if h.GetConfig().GetURL() == url {
				existing = h
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	hook := &gh.Hook{
		Events: hookEvents, Active: gh.Bool(true),
		Config: &gh.HookConfig{URL: gh.String(url), ContentType: gh.String("json"), InsecureSSL: gh.String("0"), Secret: gh.String(string(secret))},
	}
	if existing == nil {
		hook.Name = gh.String("web")
		return a.do(ctx, "add a webhook to "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
			_, resp, err := c.Repositories.CreateHook(ctx, repo.User, repo.Name, hook)
			return resp, err
		})
	}
	return a.do(ctx, "update the webhook of "+repo.String(), func(ctx context.Context) (*gh.Response, error) {
		_, resp, err := c.Repositories.EditHook(ctx, repo.User, repo.Name, existing.GetID(), hook)
		return resp, err
	})
}
