package fakegithub

import (
	"net/http"
	"sort"
	"strings"
)

// routes registers the endpoints, each with the go-github v60 method
// that calls it.
func (s *Server) routes() {
	m := s.mux
	// Users and organizations (the web UI's login checks).
	m.HandleFunc("GET /user", s.handleAuthUser)                                             // Users.Get(ctx, "")
	m.HandleFunc("GET /users/{user}", s.handleUser)                                         // Users.Get
	m.HandleFunc("GET /user/orgs", s.handleUserOrgs)                                        // Organizations.List(ctx, "", opts)
	m.HandleFunc("GET /orgs/{org}/members/{user}", s.handleIsMember)                        // Organizations.IsMember
	m.HandleFunc("GET /orgs/{org}/public_members/{user}", s.handleIsPublicMember)           // Organizations.IsPublicMember
	m.HandleFunc("GET /repos/{owner}/{repo}/collaborators/{user}/permission", s.handlePerm) // Repositories.GetPermissionLevel
	m.HandleFunc("GET /rate_limit", s.handleRateLimit)                                      // RateLimit.Get
	// Repositories.
	m.HandleFunc("GET /repos/{owner}/{repo}", s.handleGetRepo) // Repositories.Get
	// Pull requests and their conversation.
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.handleListPulls)                       // PullRequests.List
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.handleGetPull)                // PullRequests.Get
	m.HandleFunc("PATCH /repos/{owner}/{repo}/pulls/{number}", s.handleEditPull)             // PullRequests.Edit
	m.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}/comments", s.handleListComments) // Issues.ListComments
	// Refs and annotated tags.
	m.HandleFunc("GET /repos/{owner}/{repo}/git/matching-refs/{ref...}", s.handleMatchingRefs) // Git.ListMatchingRefs
	m.HandleFunc("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.handleGetRef)                 // Git.GetRef
	m.HandleFunc("GET /repos/{owner}/{repo}/git/tags/{sha}", s.handleGetTag)                   // Git.GetTag
	// Statuses.
	m.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", s.handleCreateStatus) // Repositories.CreateStatus
	// GET .../commits/{ref}/status: Repositories.GetCombinedStatus;
	// GET .../commits/{ref}/statuses: Repositories.ListStatuses.
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{rest...}", s.handleCommitStatuses)
	// Webhooks.
	m.HandleFunc("GET /repos/{owner}/{repo}/hooks", s.handleListHooks)            // Repositories.ListHooks
	m.HandleFunc("POST /repos/{owner}/{repo}/hooks", s.handleCreateHook)          // Repositories.CreateHook
	m.HandleFunc("GET /repos/{owner}/{repo}/hooks/{id}", s.handleGetHook)         // Repositories.GetHook
	m.HandleFunc("PATCH /repos/{owner}/{repo}/hooks/{id}", s.handleEditHook)      // Repositories.EditHook
	m.HandleFunc("DELETE /repos/{owner}/{repo}/hooks/{id}", s.handleDeleteHook)   // Repositories.DeleteHook
	m.HandleFunc("POST /repos/{owner}/{repo}/hooks/{id}/pings", s.handlePingHook) // Repositories.PingHook
	// GitHub Apps (JWT).
	m.HandleFunc("POST /app/installations/{id}/access_tokens", s.handleAccessToken)  // Apps.CreateInstallationToken
	m.HandleFunc("GET /repos/{owner}/{repo}/installation", s.handleRepoInstallation) // Apps.FindRepositoryInstallation
}

// userOnly answers the endpoints about the authenticated user for
// anyone else.
func userOnly(w http.ResponseWriter, who *principal) bool {
	switch {
	case who.app != nil || who.inst != nil:
		writeError(w, http.StatusForbidden, "Resource not accessible by integration", docRoot)
	case who.user == nil:
		writeError(w, http.StatusUnauthorized, "Requires authentication", docRoot)
	default:
		return true
	}
	return false
}

func (s *Server) handleAuthUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	if !userOnly(w, who) {
		return
	}
	w.Header().Set("Last-Modified", who.user.created.UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, s.fullUserJSON(who.user, true))
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.accounts[strings.ToLower(r.PathValue("user"))]
	if u == nil {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/users/users#get-a-user")
		return
	}
	w.Header().Set("Last-Modified", u.created.UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, s.fullUserJSON(u, false))
}

// handleUserOrgs lists the authenticated user's organizations: all of
// them with the read:org scope (or a stronger one), the public
// memberships only without.
func (s *Server) handleUserOrgs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	if !userOnly(w, who) {
		return
	}
	all := who.token == nil || who.token.hasScope("read:org", "write:org", "admin:org")
	var orgs []*user
	for _, a := range s.st.accounts {
		if a.typ != "Organization" {
			continue
		}
		if m := a.members[strings.ToLower(who.user.login)]; m != nil && (all || m.public) {
			orgs = append(orgs, a)
		}
	}
	sort.Slice(orgs, func(i, j int) bool { return orgs[i].id < orgs[j].id })
	lo, hi := page(w, r, s.URL(), len(orgs))
	out := make([]*orgJSON, 0, hi-lo)
	for _, o := range orgs[lo:hi] {
		out = append(out, s.orgJSON(o))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleIsMember answers 204 for a member and 404 for anyone else when
// the requester is a member of the organization (or an installation on
// it with the members permission); other requesters are redirected (302)
// to the public membership, as GitHub does.
func (s *Server) handleIsMember(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	org := s.st.accounts[strings.ToLower(r.PathValue("org"))]
	if org == nil || org.typ != "Organization" {
		writeError(w, http.StatusNotFound, "Not Found", docRoot)
		return
	}
	inside := false
	switch {
	case who.inst != nil:
		inside = who.inst.account == org && who.token.perms["members"] != ""
	case who.user != nil:
		inside = org.members[strings.ToLower(who.user.login)] != nil
	}
	if !inside {
		w.Header().Set("Location", s.APIURL()+"/orgs/"+org.login+"/public_members/"+r.PathValue("user"))
		w.WriteHeader(http.StatusFound)
		return
	}
	if org.members[strings.ToLower(r.PathValue("user"))] == nil {
		writeError(w, http.StatusNotFound, "User does not exist or is not a member of the organization", "https://docs.github.com/rest/orgs/members#check-organization-membership-for-a-user")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleIsPublicMember(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	org := s.st.accounts[strings.ToLower(r.PathValue("org"))]
	if org == nil || org.typ != "Organization" {
		writeError(w, http.StatusNotFound, "Not Found", docRoot)
		return
	}
	if m := org.members[strings.ToLower(r.PathValue("user"))]; m == nil || !m.public {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/orgs/members#check-public-organization-membership-for-a-user")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr != nil {
		aerr.write(w)
		return
	}
	w.Header().Set("Last-Modified", rp.updated.UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, s.repoJSONFor(rp, who))
}

func (s *Server) handlePerm(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr != nil {
		aerr.write(w)
		return
	}
	u := s.st.accounts[strings.ToLower(r.PathValue("user"))]
	if u == nil || u.typ == "Organization" {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user")
		return
	}
	p := rp.permission(u)
	writeJSON(w, http.StatusOK, map[string]any{
		"permission": string(p), "role_name": string(p), "user": s.userJSON(u),
	})
}

// handleRateLimit serves GET /rate_limit, which does not count.
func (s *Server) handleRateLimit(w http.ResponseWriter, r *http.Request) {
	who := info(r).who
	s.mu.Lock()
	limit := s.limitOf(who)
	b := s.bucket(who)
	used, reset := b.used, b.reset.Unix()
	s.mu.Unlock()
	core := map[string]any{"limit": limit, "used": used, "remaining": limit - used, "reset": reset, "resource": "core"}
	writeJSON(w, http.StatusOK, map[string]any{
		"resources": map[string]any{
			"core":    core,
			"search":  map[string]any{"limit": 30, "used": 0, "remaining": 30, "reset": reset, "resource": "search"},
			"graphql": map[string]any{"limit": limit, "used": 0, "remaining": limit, "reset": reset, "resource": "graphql"},
		},
		"rate": core,
	})
}
