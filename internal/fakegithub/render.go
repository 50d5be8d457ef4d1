package fakegithub

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
)

// The JSON shapes of GitHub's objects, field for field in the order
// GitHub writes them (see testdata/ for the real examples they are
// checked against).

// ts formats a time as GitHub does.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// tsOrNil is ts, or null for the zero time.
func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// nodeID makes a node_id in GitHub's legacy format: base64 of
// "0<len(type)>:<type><id>".
func nodeID(typ string, id int64) string {
	return base64.StdEncoding.EncodeToString([]byte("0" + strconv.Itoa(len(typ)) + ":" + typ + strconv.FormatInt(id, 10)))
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type userJSON struct {
	Name              *string `json:"name,omitempty"`
	Email             *string `json:"email,omitempty"`
	Login             string  `json:"login"`
	ID                int64   `json:"id"`
	NodeID            string  `json:"node_id"`
	AvatarURL         string  `json:"avatar_url"`
	GravatarID        string  `json:"gravatar_id"`
	URL               string  `json:"url"`
	HTMLURL           string  `json:"html_url"`
	FollowersURL      string  `json:"followers_url"`
	FollowingURL      string  `json:"following_url"`
	GistsURL          string  `json:"gists_url"`
	StarredURL        string  `json:"starred_url"`
	SubscriptionsURL  string  `json:"subscriptions_url"`
	OrganizationsURL  string  `json:"organizations_url"`
	ReposURL          string  `json:"repos_url"`
	EventsURL         string  `json:"events_url"`
	ReceivedEventsURL string  `json:"received_events_url"`
	Type              string  `json:"type"`
	UserViewType      string  `json:"user_view_type"`
	SiteAdmin         bool    `json:"site_admin"`
}

func (s *Server) userJSON(u *user) *userJSON {
	if u == nil {
		return nil
	}
	api := s.APIURL() + "/users/" + u.login
	return &userJSON{
		Login: u.login, ID: u.id, NodeID: nodeID(u.typ, u.id),
		AvatarURL:         fmt.Sprintf("%s/avatars/u/%d?v=4", s.URL(), u.id),
		URL:               api,
		HTMLURL:           s.URL() + "/" + u.login,
		FollowersURL:      api + "/followers",
		FollowingURL:      api + "/following{/other_user}",
		GistsURL:          api + "/gists{/gist_id}",
		StarredURL:        api + "/starred{/owner}{/repo}",
		SubscriptionsURL:  api + "/subscriptions",
		OrganizationsURL:  api + "/orgs",
		ReposURL:          api + "/repos",
		EventsURL:         api + "/events{/privacy}",
		ReceivedEventsURL: api + "/received_events",
		Type:              u.typ,
		UserViewType:      "public",
	}
}

// fullUserJSON is GET /users/{u}: the public profile.
type fullUserJSON struct {
	*userJSON
	Name            *string `json:"name"`
	Company         *string `json:"company"`
	Blog            string  `json:"blog"`
	Location        *string `json:"location"`
	Email           *string `json:"email"`
	Hireable        *bool   `json:"hireable"`
	Bio             *string `json:"bio"`
	TwitterUsername *string `json:"twitter_username"`
	PublicRepos     int     `json:"public_repos"`
	PublicGists     int     `json:"public_gists"`
	Followers       int     `json:"followers"`
	Following       int     `json:"following"`
	CreatedAt       string  `json:"created_at"`
	UpdatedAt       string  `json:"updated_at"`
	// GET /user adds the private part.
	PrivateGists      *int      `json:"private_gists,omitempty"`
	TotalPrivateRepos *int      `json:"total_private_repos,omitempty"`
	OwnedPrivateRepos *int      `json:"owned_private_repos,omitempty"`
	DiskUsage         *int      `json:"disk_usage,omitempty"`
	Collaborators     *int      `json:"collaborators,omitempty"`
	TwoFactor         *bool     `json:"two_factor_authentication,omitempty"`
	Plan              *planJSON `json:"plan,omitempty"`
}

type planJSON struct {
	Name          string `json:"name"`
	Space         int    `json:"space"`
	Collaborators int    `json:"collaborators"`
	PrivateRepos  int    `json:"private_repos"`
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) fullUserJSON(u *user, private bool) *fullUserJSON {
	f := &fullUserJSON{
		userJSON: s.userJSON(u), Name: optStr(u.name), Email: optStr(u.email),
		CreatedAt: ts(u.created), UpdatedAt: ts(u.created),
	}
	for _, r := range s.st.repos {
		if r.owner == u && !r.private {
			f.PublicRepos++
		}
	}
	if private {
		zero, no := 0, false
		owned := 0
		for _, r := range s.st.repos {
			if r.owner == u && r.private {
				owned++
			}
		}
		f.PrivateGists, f.TotalPrivateRepos, f.OwnedPrivateRepos = &zero, &owned, &owned
		f.DiskUsage, f.Collaborators, f.TwoFactor = &zero, &zero, &no
		f.Plan = &planJSON{Name: "free", Space: 976562499, PrivateRepos: 10000}
	}
	return f
}

// orgJSON is an organization as GET /user/orgs and payloads show it.
type orgJSON struct {
	Login            string  `json:"login"`
	ID               int64   `json:"id"`
	NodeID           string  `json:"node_id"`
	URL              string  `json:"url"`
	ReposURL         string  `json:"repos_url"`
	EventsURL        string  `json:"events_url"`
	HooksURL         string  `json:"hooks_url"`
	IssuesURL        string  `json:"issues_url"`
	MembersURL       string  `json:"members_url"`
	PublicMembersURL string  `json:"public_members_url"`
	AvatarURL        string  `json:"avatar_url"`
	Description      *string `json:"description"`
}

func (s *Server) orgJSON(o *user) *orgJSON {
	api := s.APIURL() + "/orgs/" + o.login
	return &orgJSON{
		Login: o.login, ID: o.id, NodeID: nodeID("Organization", o.id), URL: api,
		ReposURL: api + "/repos", EventsURL: api + "/events", HooksURL: api + "/hooks",
		IssuesURL: api + "/issues", MembersURL: api + "/members{/member}",
		PublicMembersURL: api + "/public_members{/member}",
		AvatarURL:        fmt.Sprintf("%s/avatars/u/%d?v=4", s.URL(), o.id),
	}
}

type permsJSON struct {
	Admin    bool `json:"admin"`
	Maintain bool `json:"maintain"`
	Push     bool `json:"push"`
	Triage   bool `json:"triage"`
	Pull     bool `json:"pull"`
}

// repoJSON is a repository. Push payloads write created_at and pushed_at
// as Unix times, hence the any.
type repoJSON struct {
	ID                       int64          `json:"id"`
	NodeID                   string         `json:"node_id"`
	Name                     string         `json:"name"`
	FullName                 string         `json:"full_name"`
	Private                  bool           `json:"private"`
	Owner                    *userJSON      `json:"owner"`
	HTMLURL                  string         `json:"html_url"`
	Description              any            `json:"description"`
	Fork                     bool           `json:"fork"`
	URL                      string         `json:"url"`
	ForksURL                 string         `json:"forks_url"`
	KeysURL                  string         `json:"keys_url"`
	CollaboratorsURL         string         `json:"collaborators_url"`
	TeamsURL                 string         `json:"teams_url"`
	HooksURL                 string         `json:"hooks_url"`
	IssueEventsURL           string         `json:"issue_events_url"`
	EventsURL                string         `json:"events_url"`
	AssigneesURL             string         `json:"assignees_url"`
	BranchesURL              string         `json:"branches_url"`
	TagsURL                  string         `json:"tags_url"`
	BlobsURL                 string         `json:"blobs_url"`
	GitTagsURL               string         `json:"git_tags_url"`
	GitRefsURL               string         `json:"git_refs_url"`
	TreesURL                 string         `json:"trees_url"`
	StatusesURL              string         `json:"statuses_url"`
	LanguagesURL             string         `json:"languages_url"`
	StargazersURL            string         `json:"stargazers_url"`
	ContributorsURL          string         `json:"contributors_url"`
	SubscribersURL           string         `json:"subscribers_url"`
	SubscriptionURL          string         `json:"subscription_url"`
	CommitsURL               string         `json:"commits_url"`
	GitCommitsURL            string         `json:"git_commits_url"`
	CommentsURL              string         `json:"comments_url"`
	IssueCommentURL          string         `json:"issue_comment_url"`
	ContentsURL              string         `json:"contents_url"`
	CompareURL               string         `json:"compare_url"`
	MergesURL                string         `json:"merges_url"`
	ArchiveURL               string         `json:"archive_url"`
	DownloadsURL             string         `json:"downloads_url"`
	IssuesURL                string         `json:"issues_url"`
	PullsURL                 string         `json:"pulls_url"`
	MilestonesURL            string         `json:"milestones_url"`
	NotificationsURL         string         `json:"notifications_url"`
	LabelsURL                string         `json:"labels_url"`
	ReleasesURL              string         `json:"releases_url"`
	DeploymentsURL           string         `json:"deployments_url"`
	CreatedAt                any            `json:"created_at"`
	UpdatedAt                string         `json:"updated_at"`
	PushedAt                 any            `json:"pushed_at"`
	GitURL                   string         `json:"git_url"`
	SSHURL                   string         `json:"ssh_url"`
	CloneURL                 string         `json:"clone_url"`
	SVNURL                   string         `json:"svn_url"`
	Homepage                 any            `json:"homepage"`
	Size                     int            `json:"size"`
	StargazersCount          int            `json:"stargazers_count"`
	WatchersCount            int            `json:"watchers_count"`
	Language                 any            `json:"language"`
	HasIssues                bool           `json:"has_issues"`
	HasProjects              bool           `json:"has_projects"`
	HasDownloads             bool           `json:"has_downloads"`
	HasWiki                  bool           `json:"has_wiki"`
	HasPages                 bool           `json:"has_pages"`
	HasDiscussions           bool           `json:"has_discussions"`
	ForksCount               int            `json:"forks_count"`
	MirrorURL                any            `json:"mirror_url"`
	Archived                 bool           `json:"archived"`
	Disabled                 bool           `json:"disabled"`
	OpenIssuesCount          int            `json:"open_issues_count"`
	License                  any            `json:"license"`
	AllowForking             bool           `json:"allow_forking"`
	IsTemplate               bool           `json:"is_template"`
	WebCommitSignoffRequired bool           `json:"web_commit_signoff_required"`
	Topics                   []string       `json:"topics"`
	Visibility               string         `json:"visibility"`
	Forks                    int            `json:"forks"`
	OpenIssues               int            `json:"open_issues"`
	Watchers                 int            `json:"watchers"`
	DefaultBranch            string         `json:"default_branch"`
	Stargazers               *int           `json:"stargazers,omitempty"`    // push payloads
	MasterBranch             *string        `json:"master_branch,omitempty"` // push payloads
	CustomProperties         map[string]any `json:"custom_properties"`
	Permissions              *permsJSON     `json:"permissions,omitempty"`
	Organization             *userJSON      `json:"organization,omitempty"`
	NetworkCount             *int           `json:"network_count,omitempty"`
	SubscribersCount         *int           `json:"subscribers_count,omitempty"`
}

func (s *Server) repoJSON(r *repo) *repoJSON {
	api := s.APIURL() + "/repos/" + r.fullName()
	html := s.URL() + "/" + r.fullName()
	vis := "public"
	if r.private {
		vis = "private"
	}
	open := 0
	for _, p := range r.pulls {
		if p.state == "open" {
			open++
		}
	}
	return &repoJSON{
		ID: r.id, NodeID: nodeID("Repository", r.id), Name: r.name, FullName: r.fullName(),
		Private: r.private, Owner: s.userJSON(r.owner), HTMLURL: html, Description: strOrNil(r.descr),
		URL: api, ForksURL: api + "/forks", KeysURL: api + "/keys{/key_id}",
		CollaboratorsURL: api + "/collaborators{/collaborator}", TeamsURL: api + "/teams",
		HooksURL: api + "/hooks", IssueEventsURL: api + "/issues/events{/number}",
		EventsURL: api + "/events", AssigneesURL: api + "/assignees{/user}",
		BranchesURL: api + "/branches{/branch}", TagsURL: api + "/tags",
		BlobsURL: api + "/git/blobs{/sha}", GitTagsURL: api + "/git/tags{/sha}",
		GitRefsURL: api + "/git/refs{/sha}", TreesURL: api + "/git/trees{/sha}",
		StatusesURL: api + "/statuses/{sha}", LanguagesURL: api + "/languages",
		StargazersURL: api + "/stargazers", ContributorsURL: api + "/contributors",
		SubscribersURL: api + "/subscribers", SubscriptionURL: api + "/subscription",
		CommitsURL: api + "/commits{/sha}", GitCommitsURL: api + "/git/commits{/sha}",
		CommentsURL: api + "/comments{/number}", IssueCommentURL: api + "/issues/comments{/number}",
		ContentsURL: api + "/contents/{+path}", CompareURL: api + "/compare/{base}...{head}",
		MergesURL: api + "/merges", ArchiveURL: api + "/{archive_format}{/ref}",
		DownloadsURL: api + "/downloads", IssuesURL: api + "/issues{/number}",
		PullsURL: api + "/pulls{/number}", MilestonesURL: api + "/milestones{/number}",
		NotificationsURL: api + "/notifications{?since,all,participating}",
		LabelsURL:        api + "/labels{/name}", ReleasesURL: api + "/releases{/id}",
		DeploymentsURL: api + "/deployments",
		CreatedAt:      ts(r.created), UpdatedAt: ts(r.updated), PushedAt: ts(r.pushed),
		GitURL:   "git://" + s.ts.Listener.Addr().String() + "/" + r.fullName() + ".git",
		SSHURL:   "git@" + s.ts.Listener.Addr().String() + ":" + r.fullName() + ".git",
		CloneURL: html + ".git", SVNURL: html,
		HasIssues: true, HasProjects: true, HasDownloads: true, HasWiki: true,
		OpenIssuesCount: open, AllowForking: true, Topics: []string{}, Visibility: vis,
		OpenIssues: open, DefaultBranch: r.defBr, CustomProperties: map[string]any{},
	}
}

// repoJSONFor is GET /repos/{o}/{r}: the repository with who's
// permissions and, for an organization's, the organization.
func (s *Server) repoJSONFor(r *repo, who *principal) *repoJSON {
	j := s.repoJSON(r)
	if who.user != nil && who.inst == nil {
		p := r.permission(who.user)
		j.Permissions = &permsJSON{
			Admin: p == PermAdmin, Maintain: p == PermAdmin, Push: p.rank() >= 2,
			Triage: p.rank() >= 2, Pull: p.rank() >= 1,
		}
	}
	if r.owner.typ == "Organization" {
		j.Organization = s.userJSON(r.owner)
	}
	zero := 0
	j.NetworkCount, j.SubscribersCount = &zero, &zero
	return j
}

// pushRepoJSON is the repository of push payloads: Unix times, the html
// URL as url, owner with name and email, and two legacy fields.
func (s *Server) pushRepoJSON(r *repo) *repoJSON {
	j := s.repoJSON(r)
	j.URL = j.HTMLURL
	j.CreatedAt = r.created.Unix()
	j.PushedAt = r.pushed.Unix()
	name, email := r.owner.login, r.owner.noreplyEmail()
	j.Owner.Name, j.Owner.Email = &name, &email
	zero, br := 0, r.defBr
	j.Stargazers, j.MasterBranch = &zero, &br
	if r.owner.typ == "Organization" {
		j.Organization = nil
	}
	return j
}

func (u *user) noreplyEmail() string {
	if u.email != "" {
		return u.email
	}
	return fmt.Sprintf("%d+%s@users.noreply.github.com", u.id, u.login)
}
