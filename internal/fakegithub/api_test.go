package fakegithub_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
)

func TestUsersAndOrgs(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	c, bob, anon := w.client(w.alice), w.client(w.bob), w.client("")
	cx := ctx(t)

	me, _, err := c.Users.Get(cx, "")
	check(t, err)
	if me.GetLogin() != "alice" || me.GetType() != "User" || me.GetPlan().GetName() == "" {
		t.Errorf("Users.Get(\"\") = %s, want alice with a plan", me)
	}
	u, _, err := anon.Users.Get(cx, "bob")
	check(t, err)
	if u.GetLogin() != "bob" || u.GetPlan() != nil {
		t.Errorf("Users.Get(bob) = %s, want bob without the private part", u)
	}
	if _, _, err := anon.Users.Get(cx, ""); statusOf(err) != 401 {
		t.Errorf("anonymous Users.Get(\"\") = %v, want 401", err)
	}
	if _, _, err := c.Users.Get(cx, "nobody"); statusOf(err) != 404 {
		t.Errorf("Users.Get(nobody) = %v, want 404", err)
	}
	if _, _, err := w.client("ghp_unknown").Users.Get(cx, ""); statusOf(err) != 401 || !strings.Contains(err.Error(), "Bad credentials") {
		t.Errorf("unknown token: %v, want 401 Bad credentials", err)
	}

	// Organizations: bob's membership is private, so a token without
	// read:org does not list it.
	orgs, _, err := bob.Organizations.List(cx, "", nil)
	check(t, err)
	if len(orgs) != 1 || orgs[0].GetLogin() != "acme" {
		t.Errorf("Organizations.List(bob) = %v, want [acme]", orgs)
	}
	noOrg := w.client(must(w.s.AddToken("bob", "repo")))
	if orgs, _, err := noOrg.Organizations.List(cx, "", nil); err != nil || len(orgs) != 0 {
		t.Errorf("Organizations.List(bob without read:org) = %v, %v, want none", orgs, err)
	}
	for _, tc := range []struct {
		name   string
		c      *github.Client
		user   string
		member bool
	}{
		{"owner asks about member", c, "bob", true},
		{"member asks about owner", bob, "alice", true},
		{"member asks about outsider", bob, "nobody", false},
		// An outsider is redirected to the public membership: bob's is private.
		{"outsider asks about private member", anon, "bob", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tc.c.Organizations.IsMember(cx, "acme", tc.user)
			if err != nil || got != tc.member {
				t.Errorf("IsMember(acme, %s) = %v, %v, want %v", tc.user, got, err, tc.member)
			}
		})
	}
	check(t, w.s.AddMember("acme", "bob", true))
	if got, _, err := anon.Organizations.IsMember(cx, "acme", "bob"); err != nil || !got {
		t.Errorf("IsMember(acme, bob) made public = %v, %v, want true", got, err)
	}
	if got, _, err := anon.Organizations.IsPublicMember(cx, "acme", "alice"); err != nil || got {
		t.Errorf("IsPublicMember(acme, alice) = %v, %v, want false", got, err)
	}

	// Permissions.
	for _, tc := range []struct {
		repo, user string
		want       string
	}{
		{"alice/hello", "alice", "admin"},
		{"alice/hello", "bob", "read"},
		{"acme/secret", "alice", "admin"},
		{"acme/secret", "bob", "read"},
	} {
		owner, name, _ := strings.Cut(tc.repo, "/")
		p, _, err := c.Repositories.GetPermissionLevel(cx, owner, name, tc.user)
		if err != nil || p.GetPermission() != tc.want || p.GetUser().GetLogin() != tc.user {
			t.Errorf("GetPermissionLevel(%s, %s) = %v, %v, want %s", tc.repo, tc.user, p, err, tc.want)
		}
	}
	check(t, w.s.AddCollaborator("alice/hello", "bob", fakegithub.PermWrite))
	if p, _, _ := c.Repositories.GetPermissionLevel(cx, "alice", "hello", "bob"); p.GetPermission() != "write" {
		t.Errorf("GetPermissionLevel(bob, collaborator) = %s, want write", p.GetPermission())
	}

	rl, _, err := c.RateLimit.Get(cx)
	check(t, err)
	if rl.GetCore().Limit != 5000 || rl.GetCore().Remaining >= 5000 {
		t.Errorf("RateLimit.Get core = %+v, want limit 5000 and some used", rl.GetCore())
	}
}

func TestRepositories(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	cx := ctx(t)
	r, _, err := w.client(w.alice).Repositories.Get(cx, "alice", "hello")
	check(t, err)
	if r.GetFullName() != "alice/hello" || r.GetDefaultBranch() != "main" || r.GetPrivate() ||
		!r.GetPermissions()["admin"] || r.GetOwner().GetLogin() != "alice" || r.GetDescription() != "Hello" {
		t.Errorf("Repositories.Get = %s", r)
	}
	if r, _, err := w.client(w.bob).Repositories.Get(cx, "ALICE", "Hello"); err != nil || r.GetPermissions()["push"] || !r.GetPermissions()["pull"] {
		t.Errorf("Repositories.Get by bob, other case = %v, %v, want pull only", r.GetPermissions(), err)
	}
	if _, _, err := w.client("").Repositories.Get(cx, "acme", "secret"); statusOf(err) != 404 {
		t.Errorf("anonymous Get(private) = %v, want 404", err)
	}
	if r, _, err := w.client(w.bob).Repositories.Get(cx, "acme", "secret"); err != nil || r.GetOrganization().GetLogin() != "acme" {
		t.Errorf("Get(private) by a member = %v, %v", r, err)
	}
	// A token without the repo scope does not see private repositories.
	public := w.client(must(w.s.AddToken("alice", "public_repo")))
	if _, _, err := public.Repositories.Get(cx, "acme", "secret"); statusOf(err) != 404 {
		t.Errorf("Get(private) without repo scope = %v, want 404", err)
	}

	// Both prefixes, and GitHub's 404 body for unknown paths.
	for _, path := range []string{"/repos/alice/hello", "/api/v3/repos/alice/hello"} {
		resp, err := w.s.Client().Get(w.s.URL() + path)
		check(t, err)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "60" {
			t.Errorf("GET %s = %d, limit %q, want 200, 60", path, resp.StatusCode, resp.Header.Get("X-RateLimit-Limit"))
		}
	}
	resp, err := w.s.Client().Get(w.s.URL() + "/api/v3/no/such/thing")
	check(t, err)
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 404 || body["message"] != "Not Found" || body["documentation_url"] == "" {
		t.Errorf("unknown path = %d %v, want 404 with message and documentation_url", resp.StatusCode, body)
	}
	if w.s.Count("GET /repos/{owner}/{repo}") != 7 || w.s.Count("UNKNOWN") != 1 {
		t.Errorf("Stats = %v", w.s.Stats())
	}
}

func TestPullRequests(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	c, cx := w.client(w.alice), ctx(t)
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/other", SHA: sha3c}))
	n2 := must(w.s.OpenPR("alice/hello", fakegithub.NewPR{Title: "Other", Head: "other", User: "bob"}))
	check(t, w.s.EditPR("alice/hello", n2, fakegithub.PREdit{State: github.String("closed")}))
	must(w.s.AddComment("alice/hello", 1, "bob", "LGTM"))
	must(w.s.AddComment("alice/hello", 1, "", "Thanks"))

	for _, tc := range []struct {
		state string
		want  []int
	}{{"", []int{1}}, {"open", []int{1}}, {"closed", []int{2}}, {"all", []int{2, 1}}} {
		prs, _, err := c.PullRequests.List(cx, "alice", "hello", &github.PullRequestListOptions{State: tc.state})
		check(t, err)
		var got []int
		for _, p := range prs {
			got = append(got, p.GetNumber())
		}
		if !equal(got, tc.want) {
			t.Errorf("PullRequests.List(state=%q) = %v, want %v", tc.state, got, tc.want)
		}
	}
	if _, _, err := c.PullRequests.List(cx, "alice", "hello", &github.PullRequestListOptions{State: "merged"}); statusOf(err) != 422 {
		t.Errorf("List(state=merged) = %v, want 422", err)
	}

	pr, _, err := c.PullRequests.Get(cx, "alice", "hello", 1)
	check(t, err)
	if pr.GetTitle() != "Add x" || pr.GetBody() != "Please" || pr.GetState() != "open" ||
		pr.GetHead().GetSHA() != sha2b || pr.GetHead().GetRef() != "feature/x" ||
		pr.GetBase().GetRef() != "main" || pr.GetBase().GetSHA() != sha1a || pr.GetUser().GetLogin() != "alice" ||
		pr.GetComments() != 2 || pr.GetHead().GetRepo().GetFullName() != "alice/hello" {
		t.Errorf("PullRequests.Get(1) = %s", pr)
	}
	if _, _, err := c.PullRequests.Get(cx, "alice", "hello", 9); statusOf(err) != 404 {
		t.Errorf("Get(9) = %v, want 404", err)
	}

	// Edit: title and base, then state; then an unknown base.
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/release", SHA: sha4d}))
	pr, _, err = c.PullRequests.Edit(cx, "alice", "hello", 1, &github.PullRequest{Title: github.String("Add x, y"), Base: &github.PullRequestBranch{Ref: github.String("release")}})
	check(t, err)
	if pr.GetTitle() != "Add x, y" || pr.GetBase().GetRef() != "release" || pr.GetBase().GetSHA() != sha4d {
		t.Errorf("Edit(title, base) = %s", pr)
	}
	pr, _, err = c.PullRequests.Edit(cx, "alice", "hello", 1, &github.PullRequest{State: github.String("closed")})
	check(t, err)
	if pr.GetState() != "closed" || pr.ClosedAt == nil {
		t.Errorf("Edit(closed) = %s", pr)
	}
	_, _, err = c.PullRequests.Edit(cx, "alice", "hello", 1, &github.PullRequest{Base: &github.PullRequestBranch{Ref: github.String("nope")}})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 422 || len(er.Errors) != 1 || er.Errors[0].Field != "base" {
		t.Errorf("Edit(base=nope) = %v, want 422 on base", err)
	}
	// bob may not edit alice's pull request; he may edit his own.
	if _, _, err := w.client(w.bob).PullRequests.Edit(cx, "alice", "hello", 1, &github.PullRequest{Title: github.String("x")}); statusOf(err) != 404 {
		t.Errorf("Edit by bob = %v, want 404", err)
	}
	if _, _, err := w.client(w.bob).PullRequests.Edit(cx, "alice", "hello", n2, &github.PullRequest{Title: github.String("Mine")}); err != nil {
		t.Errorf("Edit own PR by bob = %v", err)
	}
	got := must(w.s.PR("alice/hello", 1))
	if got.Title != "Add x, y" || got.State != "closed" || got.Base != "release" {
		t.Errorf("PR(1) = %+v", got)
	}

	cs, _, err := c.Issues.ListComments(cx, "alice", "hello", 1, nil)
	check(t, err)
	if len(cs) != 2 || cs[0].GetBody() != "LGTM" || cs[0].GetUser().GetLogin() != "bob" || cs[1].GetUser().GetLogin() != "alice" || cs[0].GetID() == 0 {
		t.Errorf("ListComments = %v", cs)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPagination(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	c, cx := w.client(w.alice), ctx(t)
	for i := 0; i < 74; i++ {
		must(w.s.OpenPR("alice/hello", fakegithub.NewPR{Title: "PR", Head: "feature/x"}))
		must(w.s.AddComment("alice/hello", 1, "bob", "c"))
	}
	// 75 open pull requests: 30, 30, 15.
	opts := &github.PullRequestListOptions{}
	var pages []int
	seen := map[int]bool{}
	for {
		prs, resp, err := c.PullRequests.List(cx, "alice", "hello", opts)
		check(t, err)
		pages = append(pages, len(prs))
		for _, p := range prs {
			seen[p.GetNumber()] = true
		}
		if opts.Page == 0 && (resp.LastPage != 3 || resp.NextPage != 2 || resp.FirstPage != 0) {
			t.Errorf("page 1: next %d last %d first %d, want 2, 3, 0", resp.NextPage, resp.LastPage, resp.FirstPage)
		}
		if resp.NextPage == 0 {
			if resp.PrevPage != 2 || resp.FirstPage != 1 {
				t.Errorf("last page: prev %d first %d, want 2, 1", resp.PrevPage, resp.FirstPage)
			}
			break
		}
		opts.Page = resp.NextPage
	}
	if !equal(pages, []int{30, 30, 15}) || len(seen) != 75 {
		t.Errorf("pages %v, %d distinct, want [30 30 15], 75", pages, len(seen))
	}
	// per_page is capped at 100; the Link header keeps the query.
	cs, resp, err := c.Issues.ListComments(cx, "alice", "hello", 1, &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 50}})
	check(t, err)
	if len(cs) != 50 || resp.NextPage != 2 || !strings.Contains(resp.Header.Get("Link"), "per_page=50") {
		t.Errorf("comments per_page=50: %d, next %d, Link %q", len(cs), resp.NextPage, resp.Header.Get("Link"))
	}
	cs, resp, err = c.Issues.ListComments(cx, "alice", "hello", 1, &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 500}})
	check(t, err)
	if len(cs) != 74 || resp.NextPage != 0 || resp.Header.Get("Link") != "" {
		t.Errorf("comments per_page=500: %d, next %d, want 74 (capped at 100) and no Link", len(cs), resp.NextPage)
	}
	// A page past the end is empty.
	prs, _, err := c.PullRequests.List(cx, "alice", "hello", &github.PullRequestListOptions{ListOptions: github.ListOptions{Page: 9}})
	if err != nil || len(prs) != 0 {
		t.Errorf("page 9 = %d, %v, want none", len(prs), err)
	}
}

func TestRefs(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	c, cx := w.client(w.alice), ctx(t)
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/tags/v1", SHA: sha1a}))
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/tags/v2", SHA: sha2b, TagMessage: "Release 2"}))
	tagObj, _ := w.s.Ref("alice/hello", "refs/tags/v2")

	heads, _, err := c.Git.ListMatchingRefs(cx, "alice", "hello", &github.ReferenceListOptions{Ref: "heads"})
	check(t, err)
	if len(heads) != 2 || heads[0].GetRef() != "refs/heads/feature/x" || heads[0].GetObject().GetSHA() != sha2b ||
		heads[1].GetRef() != "refs/heads/main" || heads[1].GetObject().GetType() != "commit" {
		t.Errorf("ListMatchingRefs(heads) = %v", heads)
	}
	tags, _, err := c.Git.ListMatchingRefs(cx, "alice", "hello", &github.ReferenceListOptions{Ref: "tags"})
	check(t, err)
	if len(tags) != 2 || tags[1].GetObject().GetType() != "tag" || tags[1].GetObject().GetSHA() != tagObj || tagObj == sha2b {
		t.Errorf("ListMatchingRefs(tags) = %v", tags)
	}
	tag, _, err := c.Git.GetTag(cx, "alice", "hello", tagObj)
	check(t, err)
	if tag.GetObject().GetSHA() != sha2b || tag.GetTag() != "v2" || tag.GetMessage() != "Release 2" || tag.GetObject().GetType() != "commit" {
		t.Errorf("GetTag = %v", tag)
	}
	if _, _, err := c.Git.GetTag(cx, "alice", "hello", sha1a); statusOf(err) != 404 {
		t.Errorf("GetTag(a commit) = %v, want 404", err)
	}
	ref, _, err := c.Git.GetRef(cx, "alice", "hello", "heads/feature/x")
	if err != nil || ref.GetObject().GetSHA() != sha2b {
		t.Errorf("GetRef(heads/feature/x) = %v, %v", ref, err)
	}
	if _, _, err := c.Git.GetRef(cx, "alice", "hello", "heads/feature"); statusOf(err) != 404 {
		t.Errorf("GetRef(a prefix) = %v, want 404", err)
	}
	all, _, err := c.Git.ListMatchingRefs(cx, "alice", "hello", nil)
	if err != nil || len(all) != 4 {
		t.Errorf("ListMatchingRefs(all) = %d, %v, want 4", len(all), err)
	}
	// Deleting a ref.
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/feature/x"}))
	if heads, _, _ := c.Git.ListMatchingRefs(cx, "alice", "hello", &github.ReferenceListOptions{Ref: "heads/"}); len(heads) != 1 {
		t.Errorf("heads after delete = %v", heads)
	}
	for _, bad := range []fakegithub.Push{
		{Ref: "refs/heads/x", SHA: "abc"},
		{Ref: "heads/x", SHA: sha1a},
		{Ref: "refs/heads/x", SHA: sha1a, TagMessage: "m"},
	} {
		if err := w.s.Push("alice/hello", bad); !errors.Is(err, fakegithub.ErrInvalid) {
			t.Errorf("Push(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/gone"}); !errors.Is(err, fakegithub.ErrNotFound) {
		t.Errorf("deleting a missing ref = %v, want ErrNotFound", err)
	}
}

func TestStatuses(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	c, cx := w.client(w.alice), ctx(t)
	st, resp, err := c.Repositories.CreateStatus(cx, "alice", "hello", sha2b, &github.RepoStatus{
		State: github.String("pending"), Context: github.String("ci/datakit/build"), Description: github.String("Building"),
		TargetURL: github.String("http://ci/1"),
	})
	check(t, err)
	if resp.StatusCode != 201 || st.GetCreator().GetLogin() != "alice" || st.GetID() == 0 || st.GetState() != "pending" {
		t.Errorf("CreateStatus = %d %s", resp.StatusCode, st)
	}
	check(t, w.s.SetStatus("alice/hello", sha2b, fakegithub.Status{State: "success", Context: "other-ci", Creator: "bob"}))
	// 140 characters pass, whatever their bytes; 141 do not.
	long := strings.Repeat("é", 140)
	_, _, err = c.Repositories.CreateStatus(cx, "alice", "hello", sha2b, &github.RepoStatus{State: github.String("success"), Context: github.String("ci/datakit/build"), Description: github.String(long)})
	check(t, err)

	for _, tc := range []struct {
		name  string
		sha   string
		st    *github.RepoStatus
		code  int
		field string
	}{
		{"description too long", sha2b, &github.RepoStatus{State: github.String("success"), Description: github.String(long + "x")}, 422, "description"},
		{"bad state", sha2b, &github.RepoStatus{State: github.String("ok")}, 422, "state"},
		{"unknown commit", sha4d, &github.RepoStatus{State: github.String("success")}, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Repositories.CreateStatus(cx, "alice", "hello", tc.sha, tc.st)
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tc.code {
				t.Fatalf("CreateStatus = %v, want %d", err, tc.code)
			}
			if tc.field != "" && (len(er.Errors) != 1 || er.Errors[0].Field != tc.field || er.Message != "Validation Failed") {
				t.Errorf("errors = %+v, want one on %s", er.Errors, tc.field)
			}
			if tc.field == "description" && er.Errors[0].Message != "description is too long (maximum is 140 characters)" {
				t.Errorf("message = %q", er.Errors[0].Message)
			}
		})
	}
	// bob may read but not write.
	if _, _, err := w.client(w.bob).Repositories.CreateStatus(cx, "alice", "hello", sha2b, &github.RepoStatus{State: github.String("success")}); statusOf(err) != 404 {
		t.Errorf("CreateStatus by bob = %v, want 404", err)
	}

	// Combined: the latest per context, by SHA or branch.
	for _, ref := range []string{sha2b, "feature/x"} {
		cs, _, err := c.Repositories.GetCombinedStatus(cx, "alice", "hello", ref, nil)
		check(t, err)
		if cs.GetState() != "success" || cs.GetTotalCount() != 2 || cs.GetSHA() != sha2b || len(cs.Statuses) != 2 ||
			cs.Statuses[0].GetContext() != "ci/datakit/build" || cs.Statuses[0].GetDescription() != long {
			t.Errorf("GetCombinedStatus(%s) = %s", ref, cs)
		}
	}
	check(t, w.s.SetStatus("alice/hello", sha2b, fakegithub.Status{State: "error", Context: "other-ci"}))
	if cs, _, _ := c.Repositories.GetCombinedStatus(cx, "alice", "hello", sha2b, nil); cs.GetState() != "failure" {
		t.Errorf("combined state with an error = %s, want failure", cs.GetState())
	}
	if cs, _, _ := c.Repositories.GetCombinedStatus(cx, "alice", "hello", "main", nil); cs.GetState() != "pending" || cs.GetTotalCount() != 0 {
		t.Errorf("combined state with none = %s, want pending", cs.GetState())
	}
	if _, _, err := c.Repositories.GetCombinedStatus(cx, "alice", "hello", "nope", nil); statusOf(err) != 422 {
		t.Errorf("GetCombinedStatus(nope) = %v, want 422", err)
	}
	all, _, err := c.Repositories.ListStatuses(cx, "alice", "hello", "feature/x", nil)
	check(t, err)
	if len(all) != 4 || all[0].GetState() != "error" || all[3].GetState() != "pending" {
		t.Errorf("ListStatuses = %v, want 4, newest first", all)
	}
	if got := must(w.s.Statuses("alice/hello", sha2b)); len(got) != 4 || got[1].Creator != "bob" || got[3].Context != "other-ci" {
		t.Errorf("Statuses = %+v", got)
	}
	// A status with no context is "default".
	st, _, err = c.Repositories.CreateStatus(cx, "alice", "hello", sha1a, &github.RepoStatus{State: github.String("success")})
	if err != nil || st.GetContext() != "default" {
		t.Errorf("CreateStatus without context = %v, %v, want default", st.GetContext(), err)
	}
}

func TestHooksAPI(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	c, cx := w.client(w.alice), ctx(t)
	rc := newReceiver(t)
	h, resp, err := c.Repositories.CreateHook(cx, "alice", "hello", &github.Hook{
		Config: &github.HookConfig{URL: github.String(rc.URL), ContentType: github.String("json"), Secret: github.String("s3cret")},
		Events: []string{"push", "pull_request"},
	})
	check(t, err)
	if resp.StatusCode != 201 || h.GetID() == 0 || !h.GetActive() || h.GetConfig().GetSecret() != "********" || h.GetName() != "web" {
		t.Errorf("CreateHook = %d %s", resp.StatusCode, h)
	}
	check(t, w.s.FlushHooks(cx))
	if ev := rc.events(); len(ev) != 1 || ev[0] != "ping" {
		t.Errorf("after CreateHook, events = %v, want [ping]", ev)
	}
	_, _, err = c.Repositories.CreateHook(cx, "alice", "hello", &github.Hook{Config: &github.HookConfig{URL: github.String(rc.URL)}})
	if statusOf(err) != 422 {
		t.Errorf("CreateHook(same URL) = %v, want 422", err)
	}
	if _, _, err := c.Repositories.CreateHook(cx, "alice", "hello", &github.Hook{Config: &github.HookConfig{}}); statusOf(err) != 422 {
		t.Errorf("CreateHook(no URL) = %v, want 422", err)
	}
	if _, _, err := w.client(w.bob).Repositories.ListHooks(cx, "alice", "hello", nil); statusOf(err) != 404 {
		t.Errorf("ListHooks by bob = %v, want 404", err)
	}

	h, _, err = c.Repositories.EditHook(cx, "alice", "hello", h.GetID(), &github.Hook{Events: []string{"*"}})
	check(t, err)
	if len(h.Events) != 1 || h.Events[0] != "*" {
		t.Errorf("EditHook(events) = %v", h.Events)
	}
	check(t, must(c.Repositories.PingHook(cx, "alice", "hello", h.GetID())).Response.Body.Close())
	hooks, _, err := c.Repositories.ListHooks(cx, "alice", "hello", nil)
	check(t, err)
	if len(hooks) != 1 || hooks[0].GetConfig().GetURL() != rc.URL {
		t.Errorf("ListHooks = %v", hooks)
	}
	check(t, w.s.FlushHooks(cx))
	g, _, err := c.Repositories.GetHook(cx, "alice", "hello", h.GetID())
	check(t, err)
	if g.LastResponse["code"] != float64(200) {
		t.Errorf("GetHook last_response = %v, want code 200", g.LastResponse)
	}
	resp2, err := c.Repositories.DeleteHook(cx, "alice", "hello", h.GetID())
	check(t, err)
	if resp2.StatusCode != 204 {
		t.Errorf("DeleteHook = %d, want 204", resp2.StatusCode)
	}
	if _, _, err := c.Repositories.GetHook(cx, "alice", "hello", h.GetID()); statusOf(err) != 404 {
		t.Errorf("GetHook after delete = %v, want 404", err)
	}
	if ev := rc.events(); len(ev) != 2 || ev[1] != "ping" {
		t.Errorf("events = %v, want [ping ping]", ev)
	}
}

func TestConditionalRequests(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	hc := w.s.Client()
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest("GET", w.s.URL()+path, nil)
		req.Header.Set("Authorization", "token "+w.alice)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		check(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	paths := []string{
		"/repos/alice/hello", "/repos/alice/hello/pulls?state=all", "/repos/alice/hello/pulls/1",
		"/repos/alice/hello/issues/1/comments", "/repos/alice/hello/git/matching-refs/heads",
		"/repos/alice/hello/commits/" + sha2b + "/status", "/user",
	}
	for _, p := range paths {
		r1 := get(p)
		etag := r1.Header.Get("ETag")
		if r1.StatusCode != 200 || !strings.HasPrefix(etag, `W/"`) {
			t.Fatalf("GET %s = %d, ETag %q", p, r1.StatusCode, etag)
		}
		left := r1.Header.Get("X-RateLimit-Remaining")
		r2 := get(p, "If-None-Match", etag)
		if r2.StatusCode != 304 || r2.Header.Get("X-RateLimit-Remaining") != left || r2.Header.Get("ETag") != etag {
			t.Errorf("GET %s If-None-Match = %d, remaining %s (was %s), want 304 not counted", p, r2.StatusCode, r2.Header.Get("X-RateLimit-Remaining"), left)
		}
	}
	// A change makes the old ETag stale.
	r1 := get("/repos/alice/hello/pulls/1")
	check(t, w.s.EditPR("alice/hello", 1, fakegithub.PREdit{Title: github.String("New")}))
	if r := get("/repos/alice/hello/pulls/1", "If-None-Match", r1.Header.Get("ETag")); r.StatusCode != 200 {
		t.Errorf("after a change: %d, want 200", r.StatusCode)
	}
	// Last-Modified and If-Modified-Since.
	lm := r1.Header.Get("Last-Modified")
	if lm == "" {
		t.Fatal("no Last-Modified on a pull request")
	}
	if r := get("/repos/alice/hello", "If-Modified-Since", get("/repos/alice/hello").Header.Get("Last-Modified")); r.StatusCode != 304 {
		t.Errorf("If-Modified-Since = %d, want 304", r.StatusCode)
	}
	calls, notModified := w.s.TotalCalls()
	if notModified != len(paths)+1 || calls != 2*len(paths)+4 {
		t.Errorf("TotalCalls = %d, %d; want %d, %d", calls, notModified, 2*len(paths)+4, len(paths)+1)
	}
	if st := w.s.Stats()["GET /repos/{owner}/{repo}/commits/{ref}/status"]; st.Calls != 2 || st.NotModified != 1 {
		t.Errorf("Stats(combined status) = %+v", st)
	}

	// Through go-github: the 304 is an error whose response says so.
	c, cx := w.client(w.alice), ctx(t)
	_, resp, err := c.Repositories.Get(cx, "alice", "hello")
	check(t, err)
	req, _ := c.NewRequest("GET", "repos/alice/hello", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, err = c.Do(cx, req, nil)
	if resp == nil || resp.StatusCode != 304 {
		t.Errorf("go-github conditional GET = %v, %v, want 304", resp, err)
	}
}

func TestRateLimits(t *testing.T) {
	clk := newClock()
	w := newWorld(t, fakegithub.Options{Now: clk.Now, RateLimit: 3})
	c, cx := w.client(w.alice), ctx(t)
	for i := 0; i < 3; i++ {
		_, resp, err := c.Repositories.Get(cx, "alice", "hello")
		check(t, err)
		if resp.Rate.Remaining != 2-i || resp.Rate.Limit != 3 || resp.Header.Get("X-RateLimit-Used") != string(rune('1'+i)) ||
			resp.Header.Get("X-RateLimit-Resource") != "core" {
			t.Errorf("call %d: rate %+v used %s", i, resp.Rate, resp.Header.Get("X-RateLimit-Used"))
		}
	}
	// A fresh client (go-github remembers limits and would not even ask).
	_, _, err := w.client(w.alice).Repositories.Get(cx, "alice", "hello")
	var rle *github.RateLimitError
	if !errors.As(err, &rle) || rle.Rate.Remaining != 0 || !rle.Rate.Reset.Time.Equal(clk.Now().Add(time.Hour)) ||
		rle.Message != "API rate limit exceeded for user ID "+strings.TrimPrefix(rle.Message, "API rate limit exceeded for user ID ") {
		t.Fatalf("4th call = %v, want *github.RateLimitError resetting in an hour", err)
	}
	// bob has his own limit; GET /rate_limit does not count.
	if _, _, err := w.client(w.bob).Repositories.Get(cx, "alice", "hello"); err != nil {
		t.Errorf("bob = %v", err)
	}
	if rl, _, err := w.client(w.alice).RateLimit.Get(cx); err != nil || rl.GetCore().Remaining != 0 {
		t.Errorf("RateLimit.Get when exhausted = %v, %v", rl, err)
	}
	clk.Add(time.Hour)
	if _, _, err := w.client(w.alice).Repositories.Get(cx, "alice", "hello"); err != nil {
		t.Errorf("after the reset: %v", err)
	}
	if got := w.s.RateRemaining(w.alice); got != 2 {
		t.Errorf("RateRemaining = %d, want 2", got)
	}

	// Injected: primary and secondary.
	w.s.SetFaults(fakegithub.Faults{RateLimits: 1, RateLimitReset: 5 * time.Second})
	_, _, err = w.client(w.bob).Repositories.Get(cx, "alice", "hello")
	if !errors.As(err, &rle) || !rle.Rate.Reset.Time.Equal(clk.Now().Add(5*time.Second)) {
		t.Errorf("injected rate limit = %v, want *github.RateLimitError resetting in 5s", err)
	}
	w.s.SetFaults(fakegithub.Faults{SecondaryRateLimits: 1, RetryAfter: 30 * time.Second})
	_, _, err = w.client(w.bob).Repositories.Get(cx, "alice", "hello")
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.GetRetryAfter() != 30*time.Second {
		t.Fatalf("injected secondary rate limit = %v, want *github.AbuseRateLimitError, retry after 30s", err)
	}
	if left := abuse.Response.Header.Get("X-RateLimit-Remaining"); left == "" || left == "0" {
		t.Errorf("secondary rate limit: X-RateLimit-Remaining %q, want bob's (not 0)", left)
	}
}

func TestFaultsDeterministic(t *testing.T) {
	run := func(seed uint64) []fakegithub.Call {
		w := newWorld(t, fakegithub.Options{})
		w.s.SetFaults(fakegithub.Faults{Seed: seed, ServerErrors: 0.2, Disconnects: 0.1, SecondaryRateLimits: 0.1, Slow: 0.1, Delay: time.Millisecond})
		w.s.ResetStats()
		// No keep-alive: net/http retries a GET whose reused connection
		// closed, which would add requests depending on timing.
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		for i := 0; i < 200; i++ {
			req, _ := http.NewRequest("GET", w.s.URL()+"/repos/alice/hello/pulls/1", nil)
			req.Header.Set("Authorization", "Bearer "+w.alice)
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		}
		return w.s.Calls()
	}
	a, b, other := run(7), run(7), run(8)
	count := map[fakegithub.Fault]int{}
	same, slow := true, 0
	for i := range a {
		count[a[i].Fault]++
		if a[i].Slow {
			slow++
		}
		if a[i].Fault != b[i].Fault || a[i].Status != b[i].Status || a[i].Slow != b[i].Slow {
			t.Fatalf("call %d: %+v vs %+v with the same seed", i, a[i], b[i])
		}
		same = same && a[i].Fault == other[i].Fault
	}
	if same {
		t.Error("seed 8 gave the same faults as seed 7")
	}
	if len(a) != 200 || count[fakegithub.FaultServerError] < 25 || count[fakegithub.FaultServerError] > 55 ||
		count[fakegithub.FaultDisconnect] < 8 || count[fakegithub.FaultSecondaryRateLimit] < 8 || count[fakegithub.FaultNone] < 100 || slow < 8 {
		t.Errorf("faults of 200 calls = %v, %d slow", count, slow)
	}
	for _, c := range a {
		want := map[fakegithub.Fault]int{fakegithub.FaultNone: 200, fakegithub.FaultServerError: 502, fakegithub.FaultDisconnect: 0, fakegithub.FaultSecondaryRateLimit: 403}[c.Fault]
		if c.Status != want {
			t.Errorf("call %d (%v) = %d, want %d", c.Seq, c.Fault, c.Status, want)
		}
	}
}

func TestFaultsAtTheClient(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	c, cx := w.client(w.alice), ctx(t)
	w.s.SetFaults(fakegithub.Faults{ServerErrors: 1})
	if _, _, err := c.Repositories.Get(cx, "alice", "hello"); statusOf(err) != 502 {
		t.Errorf("server error = %v, want 502", err)
	}
	w.s.SetFaults(fakegithub.Faults{Disconnects: 1})
	_, resp, err := c.Repositories.Get(cx, "alice", "hello")
	var ue *url.Error
	if !errors.As(err, &ue) || resp != nil {
		t.Errorf("disconnect = %v, %v, want a transport error and no response", err, resp)
	}
	// Match limits faults to some routes; Slow delays.
	w.s.SetFaults(fakegithub.Faults{ServerErrors: 1, Slow: 1, Delay: 100 * time.Millisecond, Match: func(method, route string) bool { return method == "POST" }})
	if _, _, err := c.Repositories.Get(cx, "alice", "hello"); err != nil {
		t.Errorf("GET with POST-only faults = %v", err)
	}
	if calls := w.s.Calls(); calls[len(calls)-1].Slow || calls[len(calls)-1].Fault != fakegithub.FaultNone {
		t.Errorf("unmatched request: %+v, want neither slow nor faulted", calls[len(calls)-1])
	}
	start := time.Now()
	if _, _, err := c.Repositories.CreateStatus(cx, "alice", "hello", sha1a, &github.RepoStatus{State: github.String("success")}); statusOf(err) != 502 {
		t.Errorf("POST = %v, want 502", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("slow request took %v, want ≥ 100ms", time.Since(start))
	}
	if st := w.s.Stats()["POST /repos/{owner}/{repo}/statuses/{sha}"]; st.Calls != 1 || st.Faulted != 1 {
		t.Errorf("Stats(POST statuses) = %+v", st)
	}
	if got := must(w.s.Statuses("alice/hello", sha1a)); len(got) != 0 {
		t.Errorf("a failed POST created %v", got)
	}
}
