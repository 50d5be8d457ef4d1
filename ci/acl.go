package ci

import (
	"slices"
	"strings"
)

// ACL says who may do something in the web UI: everyone, named users,
// members of GitHub organizations, the users who can read a GitHub
// repository, or any of these (the original's ACL module). The zero ACL
// allows no one.
type ACL struct {
	everyone bool
	users    []string
	orgs     []string // GitHub organizations, lower case
	repos    []string // GitHub repositories "owner/name", lower case
}

// Everyone allows everyone, anonymous users included.
func Everyone() ACL { return ACL{everyone: true} }

// User allows the named user: "admin" (the web UI's local user), or a
// GitHub user as "github:<login>".
func User(name string) ACL { return ACL{users: []string{name}} }

// GitHubOrg allows the members of the GitHub organization org, as GitHub
// told the web UI when they logged in with GitHub (the memberships their
// login's token may see: the public ones, and the private ones too with
// the read:org scope).
func GitHubOrg(org string) ACL { return ACL{orgs: []string{strings.ToLower(org)}} }

// CanReadGitHub allows the GitHub users who can read the GitHub repository
// "owner/name", as GitHub told the web UI when they logged in with GitHub
// (checked with their own token: collaborators of a private repository,
// everyone for a public one).
func CanReadGitHub(repo string) ACL { return ACL{repos: []string{strings.ToLower(repo)}} }

// Any allows whoever one of the ACLs allows.
func Any(acls ...ACL) ACL {
	var out ACL
	for _, a := range acls {
		out.everyone = out.everyone || a.everyone
		out.users = append(out.users, a.users...)
		out.orgs = append(out.orgs, a.orgs...)
		out.repos = append(out.repos, a.repos...)
	}
	return out
}

// Identity is who makes a request of the web UI, as the ACLs judge it.
type Identity struct {
	// User is "" for an anonymous visitor, "admin" for the local user,
	// "github:<login>" for a user who logged in with GitHub.
	User string
	// GitHubOrgs are the user's GitHub organizations (GitHub users only).
	GitHubOrgs []string
	// GitHubReadable says which of the repositories the ACLs name
	// (ACL.GitHubRepos) the user can read (GitHub users only).
	GitHubReadable map[string]bool
}

// Permits reports whether the ACL allows who.
func (a ACL) Permits(who Identity) bool {
	if a.everyone {
		return true
	}
	if who.User == "" {
		return false
	}
	if slices.Contains(a.users, who.User) {
		return true
	}
	for _, o := range who.GitHubOrgs {
		if slices.Contains(a.orgs, strings.ToLower(o)) {
			return true
		}
	}
	for _, r := range a.repos {
		if who.GitHubReadable[r] {
			return true
		}
	}
	return false
}

// Allows reports whether user ("" for anonymous) is allowed, by name
// alone (no GitHub organizations or repositories).
func (a ACL) Allows(user string) bool { return a.Permits(Identity{User: user}) }

// IsEveryone reports whether the ACL allows everyone.
func (a ACL) IsEveryone() bool { return a.everyone }

// GitHubRepos lists the GitHub repositories the ACL names ("owner/name",
// lower case, sorted): the web UI asks GitHub, at login, which of them the
// user can read.
func (a ACL) GitHubRepos() []string {
	rs := slices.Clone(a.repos)
	slices.Sort(rs)
	return slices.Compact(rs)
}

// UsesGitHub reports whether the ACL names GitHub organizations or
// repositories.
func (a ACL) UsesGitHub() bool { return len(a.orgs) > 0 || len(a.repos) > 0 }
