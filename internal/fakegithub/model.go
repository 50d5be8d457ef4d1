package fakegithub

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Errors of the methods that change the server's state as GitHub users
// do. They wrap these sentinels: test with errors.Is.
var (
	ErrNotFound = errors.New("fakegithub: not found")
	ErrExist    = errors.New("fakegithub: already exists")
	ErrInvalid  = errors.New("fakegithub: invalid")
)

// Permission is a user's permission on a repository, as GitHub's
// collaborators API names it.
type Permission string

// The permissions, weakest first.
const (
	PermNone  Permission = "none"
	PermRead  Permission = "read"
	PermWrite Permission = "write"
	PermAdmin Permission = "admin"
)

func (p Permission) rank() int {
	switch p {
	case PermRead:
		return 1
	case PermWrite:
		return 2
	case PermAdmin:
		return 3
	}
	return 0
}

// state is the server's GitHub: accounts, repositories, apps, tokens.
type state struct {
	lastID   int64
	accounts map[string]*user // by lower-case login
	repos    map[string]*repo // by lower-case "owner/name"
	tokens   map[string]*token
	apps     map[int64]*app
	installs map[int64]*installation
	rates    map[string]*rateBucket
}

func (st *state) init() {
	st.lastID = 1000
	st.accounts = map[string]*user{}
	st.repos = map[string]*repo{}
	st.tokens = map[string]*token{}
	st.apps = map[int64]*app{}
	st.installs = map[int64]*installation{}
	st.rates = map[string]*rateBucket{}
}

func (st *state) newID() int64 { st.lastID++; return st.lastID }

// user is an account: a user, an organization or an app's bot.
type user struct {
	id      int64
	login   string
	typ     string // "User", "Organization", "Bot"
	name    string
	email   string
	created time.Time
	members map[string]*membership // organizations: by lower-case login
}

type membership struct {
	user   *user
	admin  bool
	public bool
}

// repo is a repository. Commits are only SHAs: a SHA exists once a ref
// has pointed at it.
type repo struct {
	id       int64
	owner    *user
	name     string
	private  bool
	descr    string
	defBr    string
	created  time.Time
	updated  time.Time
	pushed   time.Time
	collab   map[string]Permission // by lower-case login
	refs     map[string]string     // "refs/heads/main" -> commit or tag object SHA
	tags     map[string]*tagObject // annotated tags by their object's SHA
	commits  map[string]*commitInfo
	pulls    []*pull // pulls[n-1] is #n
	statuses map[string][]*status
	hooks    []*hook
}

func (r *repo) fullName() string { return r.owner.login + "/" + r.name }

// commitOf peels a ref's target to a commit SHA.
func (r *repo) commitOf(sha string) string {
	for range 10 {
		t := r.tags[sha]
		if t == nil {
			return sha
		}
		sha = t.object
	}
	return sha
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// AddUser creates the user login and returns a personal access token for
// it with the scopes "repo", "read:org" and "admin:repo_hook".
func (s *Server) AddUser(login string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.addAccount(login, "User"); err != nil {
		return "", err
	}
	return s.addToken(login, "ghp_", "repo", "read:org", "admin:repo_hook")
}

// AddUserToken makes tok a personal access token of the user login
// (created if need be), with the scopes of AddUser's: for a stand-in
// whose users chose their token (the fakegithub command's --token).
func (s *Server) AddUserToken(login, tok string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return fmt.Errorf("%w: a token must be one word", ErrInvalid)
	}
	if s.st.tokens[tok] != nil {
		return fmt.Errorf("%w: token", ErrExist)
	}
	if u := s.st.accounts[strings.ToLower(login)]; u == nil {
		if _, err := s.addAccount(login, "User"); err != nil {
			return err
		}
	}
	u := s.st.accounts[strings.ToLower(login)]
	if u.typ != "User" {
		return fmt.Errorf("%w: %q is not a user", ErrInvalid, login)
	}
	s.st.tokens[tok] = &token{value: tok, user: u, scopes: []string{"repo", "read:org", "admin:repo_hook"}}
	return nil
}

// AddToken returns a new OAuth token of the user login with the given
// scopes (X-OAuth-Scopes lists them; "repo" reaches private
// repositories, "read:org" lists private organization memberships).
func (s *Server) AddToken(login string, scopes ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addToken(login, "gho_", scopes...)
}

func (s *Server) addToken(login, prefix string, scopes ...string) (string, error) {
	u := s.st.accounts[strings.ToLower(login)]
	if u == nil || u.typ != "User" {
		return "", fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	t := &token{value: newTokenValue(prefix), user: u, scopes: append([]string{}, scopes...)}
	s.st.tokens[t.value] = t
	return t.value, nil
}

// RevokeToken makes tok unknown: it is answered 401 from now on.
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.st.tokens, tok)
}

func (s *Server) addAccount(login, typ string) (*user, error) {
	if !nameRE.MatchString(login) {
		return nil, fmt.Errorf("%w: login %q", ErrInvalid, login)
	}
	if s.st.accounts[strings.ToLower(login)] != nil {
		return nil, fmt.Errorf("%w: account %q", ErrExist, login)
	}
	u := &user{id: s.st.newID(), login: login, typ: typ, created: s.now().UTC()}
	if typ == "Organization" {
		u.members = map[string]*membership{}
	}
	s.st.accounts[strings.ToLower(login)] = u
	return u, nil
}

// AddOrg creates the organization login with owners (admins), who must
// be users already.
func (s *Server) AddOrg(login string, owners ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range owners {
		if u := s.st.accounts[strings.ToLower(o)]; u == nil || u.typ != "User" {
			return fmt.Errorf("%w: user %q", ErrNotFound, o)
		}
	}
	org, err := s.addAccount(login, "Organization")
	if err != nil {
		return err
	}
	for _, o := range owners {
		u := s.st.accounts[strings.ToLower(o)]
		org.members[strings.ToLower(o)] = &membership{user: u, admin: true}
	}
	return nil
}

// AddMember makes the user login a member of org; public says whether
// the membership is public.
func (s *Server) AddMember(org, login string, public bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.st.accounts[strings.ToLower(org)]
	u := s.st.accounts[strings.ToLower(login)]
	if o == nil || o.typ != "Organization" || u == nil || u.typ != "User" {
		return fmt.Errorf("%w: organization %q or user %q", ErrNotFound, org, login)
	}
	m := o.members[strings.ToLower(login)]
	if m == nil {
		m = &membership{user: u}
		o.members[strings.ToLower(login)] = m
	}
	m.public = public
	return nil
}

// RepoOptions describe a new repository.
type RepoOptions struct {
	Private       bool
	Description   string
	DefaultBranch string // "" means "main"
}

// CreateRepo creates the repository fullName ("owner/name") of an
// existing user or organization. It has no refs until something is
// pushed.
func (s *Server) CreateRepo(fullName string, o RepoOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || !nameRE.MatchString(name) {
		return fmt.Errorf("%w: repository name %q", ErrInvalid, fullName)
	}
	u := s.st.accounts[strings.ToLower(owner)]
	if u == nil || u.typ == "Bot" {
		return fmt.Errorf("%w: owner %q", ErrNotFound, owner)
	}
	if s.st.repos[strings.ToLower(fullName)] != nil {
		return fmt.Errorf("%w: repository %q", ErrExist, fullName)
	}
	now := s.now().UTC()
	r := &repo{
		id: s.st.newID(), owner: u, name: name, private: o.Private, descr: o.Description,
		defBr: o.DefaultBranch, created: now, updated: now, pushed: now,
		collab: map[string]Permission{}, refs: map[string]string{}, tags: map[string]*tagObject{},
		commits: map[string]*commitInfo{}, statuses: map[string][]*status{},
	}
	if r.defBr == "" {
		r.defBr = "main"
	}
	s.st.repos[strings.ToLower(fullName)] = r
	return nil
}

// AddCollaborator gives the user login perm on the repository.
func (s *Server) AddCollaborator(repoName, login string, perm Permission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return err
	}
	if u := s.st.accounts[strings.ToLower(login)]; u == nil || u.typ != "User" {
		return fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	r.collab[strings.ToLower(login)] = perm
	return nil
}

func (s *Server) repo(fullName string) (*repo, error) {
	r := s.st.repos[strings.ToLower(fullName)]
	if r == nil {
		return nil, fmt.Errorf("%w: repository %q", ErrNotFound, fullName)
	}
	return r, nil
}

// sender returns the account named login, or the repository's owner (an
// organization's first owner) when login is "".
func (s *Server) sender(r *repo, login string) (*user, error) {
	if login != "" {
		u := s.st.accounts[strings.ToLower(login)]
		if u == nil || u.typ == "Organization" {
			return nil, fmt.Errorf("%w: user %q", ErrNotFound, login)
		}
		return u, nil
	}
	if r.owner.typ != "Organization" {
		return r.owner, nil
	}
	var admins []string
	for k, m := range r.owner.members {
		if m.admin {
			admins = append(admins, k)
		}
	}
	if len(admins) == 0 {
		return r.owner, nil
	}
	sort.Strings(admins)
	return r.owner.members[admins[0]].user, nil
}

// permission is the permission of u on r, from ownership, organization
// roles and collaborators; anyone may read a public repository.
func (r *repo) permission(u *user) Permission {
	p := PermNone
	if !r.private {
		p = PermRead
	}
	if u == nil {
		return p
	}
	if u == r.owner {
		return PermAdmin
	}
	if r.owner.typ == "Organization" {
		if m := r.owner.members[strings.ToLower(u.login)]; m != nil {
			if m.admin {
				return PermAdmin
			}
			p = PermRead
		}
	}
	if c, ok := r.collab[strings.ToLower(u.login)]; ok && c.rank() > p.rank() {
		p = c
	}
	return p
}

// access checks that who may do what needs on r. need is the user
// permission; scope the OAuth scopes that allow it on a private
// repository (or on any for writes), any one of them; perm the
// installation permission ("pull_requests", "statuses", "contents",
// "repository_hooks", "metadata") and its level ("read" or "write").
// GitHub answers 404 rather than 403 to users who may not see or change
// a repository, and 403 "Resource not accessible by integration" to
// installations.
func access(who *principal, r *repo, need Permission, scopes []string, perm, level string) *apiError {
	if who.app != nil {
		return &apiError{403, "Resource not accessible by integration", docRoot}
	}
	if who.inst != nil {
		if !who.inst.covers(r) || (who.token.repos != nil && !who.token.repos[r.id]) {
			return notFound()
		}
		got := who.token.perms[perm]
		if perm == "metadata" {
			got = "read"
		}
		if got == "" || (level == "write" && got != "write" && got != "admin") {
			return &apiError{403, "Resource not accessible by integration", docRoot}
		}
		return nil
	}
	p := r.permission(who.user)
	if p.rank() < need.rank() {
		return notFound()
	}
	if who.token != nil && (r.private || need != PermRead) && len(scopes) > 0 && !who.token.hasScope(scopes...) {
		return notFound()
	}
	return nil
}

// readRepo finds the repository of a request's {owner}/{repo} that who
// may read.
func (s *Server) readRepo(who *principal, owner, name string) (*repo, *apiError) {
	r := s.st.repos[strings.ToLower(owner+"/"+name)]
	if r == nil {
		return nil, notFound()
	}
	if err := access(who, r, PermRead, []string{"repo"}, "metadata", "read"); err != nil {
		return nil, err
	}
	return r, nil
}
