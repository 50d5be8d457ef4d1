// Package fakegithub is a stand-in for GitHub: an HTTP server on the
// loopback interface that answers the REST API v3 endpoints the GitHub
// bridge (bridge/github) and the web UI's GitHub login call, holds its own
// state, sends signed webhooks, counts calls and injects faults. Tests use
// it because these machines cannot reach GitHub; they drive it with Go
// methods, as GitHub's users would act on the web.
//
// # The model
//
// The server holds accounts (users, organizations with owners and members,
// apps' bots), repositories (public or private, with collaborators), and
// in each repository: refs (branches and tags) pointing at commits, which
// are only SHAs (any 40 hex digits a ref has pointed at exist; there are
// no Git objects), annotated tags (tag objects pointing at commits), pull
// requests (a head branch of the repository or of a fork, a base branch,
// title, body, state and comments), commit statuses, and webhooks.
// GitHub Apps are registered with their public key; an installation gives
// an app permissions on an account's repositories.
//
// Tests change that state with AddUser, AddOrg, AddMember, CreateRepo,
// AddCollaborator, Push (branches and tags, created, moved or deleted),
// OpenPR, EditPR, AddComment, SetStatus, AddHook, AddApp and Install; each
// change sends the webhook events GitHub would: push, create and delete
// for refs, pull_request (opened, edited with its changes, closed,
// reopened, synchronize when a head branch moves), status, and ping for a
// new hook. They read it back with PR, PRs, Ref, Statuses and Hooks.
//
// # The API
//
// Endpoints (each served to the go-github v60 method named):
//
//	GET    /user                                   Users.Get(ctx, "")
//	GET    /users/{user}                           Users.Get
//	GET    /user/orgs                              Organizations.List(ctx, "", opts)
//	GET    /orgs/{org}/members/{user}              Organizations.IsMember
//	GET    /orgs/{org}/public_members/{user}       Organizations.IsPublicMember
//	GET    /repos/{o}/{r}/collaborators/{u}/permission  Repositories.GetPermissionLevel
//	GET    /rate_limit                             RateLimit.Get
//	GET    /repos/{o}/{r}                          Repositories.Get
//	GET    /repos/{o}/{r}/pulls                    PullRequests.List
//	GET    /repos/{o}/{r}/pulls/{n}                PullRequests.Get
//	PATCH  /repos/{o}/{r}/pulls/{n}                PullRequests.Edit
//	GET    /repos/{o}/{r}/issues/{n}/comments      Issues.ListComments
//	GET    /repos/{o}/{r}/git/matching-refs/{ref}  Git.ListMatchingRefs
//	GET    /repos/{o}/{r}/git/ref/{ref}            Git.GetRef
//	GET    /repos/{o}/{r}/git/tags/{sha}           Git.GetTag
//	POST   /repos/{o}/{r}/statuses/{sha}           Repositories.CreateStatus
//	GET    /repos/{o}/{r}/commits/{ref}/status     Repositories.GetCombinedStatus
//	GET    /repos/{o}/{r}/commits/{ref}/statuses   Repositories.ListStatuses
//	GET    /repos/{o}/{r}/hooks                    Repositories.ListHooks
//	POST   /repos/{o}/{r}/hooks                    Repositories.CreateHook
//	GET    /repos/{o}/{r}/hooks/{id}               Repositories.GetHook
//	PATCH  /repos/{o}/{r}/hooks/{id}               Repositories.EditHook
//	DELETE /repos/{o}/{r}/hooks/{id}               Repositories.DeleteHook
//	POST   /repos/{o}/{r}/hooks/{id}/pings         Repositories.PingHook
//	POST   /app/installations/{id}/access_tokens   Apps.CreateInstallationToken (JWT)
//	GET    /repos/{o}/{r}/installation             Apps.FindRepositoryInstallation (JWT)
//
// They answer as GitHub does: the same JSON field names and shapes
// (checked against GitHub's published webhook examples in testdata/),
// status codes (201 for creations, 204 for deletions and pings, 404
// rather than 403 for a user who may not see or change a repository,
// 403 "Resource not accessible by integration" for an installation
// lacking a permission, 422 "Validation Failed" with "errors" for bad
// input, such as a status description over 140 characters), error
// bodies {"message", "documentation_url"}, and pagination with per_page
// (default 30, at most 100), page and Link headers (rel prev, next, last,
// first). Every other path is answered 404.
//
// The API answers both at the root, like api.github.com, and under
// /api/v3, like GitHub Enterprise Server; the URLs inside the objects
// use APIURL (URL() + "/api/v3") and html_url uses URL().
//
// # Authentication
//
// "Authorization: token X" or "Bearer X" with a token from AddUser,
// AddToken (OAuth scopes, listed in X-OAuth-Scopes), or an installation
// token; an unknown, revoked or expired token is answered 401 Bad
// credentials. No Authorization header is an anonymous client, who may
// read public repositories. An app authenticates with a JWT signed RS256
// by its private key (iss its id, iat not in the future, exp in the
// future and at most 10 minutes away) to create installation tokens,
// which expire after an hour (expires_at; Options.InstallationTokenTTL
// shortens that for tests of refreshing).
//
// # The OAuth web flow
//
// For "Log in with GitHub", the server also plays GitHub's OAuth web
// application flow: AddOAuthApp registers an app (client id, secret,
// callback URL), SetPassword lets a user sign in to the server's web
// pages, and the pages GET /login/oauth/authorize (sign in, then
// authorize or cancel; a user who authorized the scopes already goes
// straight back), POST /login/oauth/access_token (the code, good once for
// ten minutes, for a gho_ token with the scopes granted; GitHub's errors
// incorrect_client_credentials, redirect_uri_mismatch and
// bad_verification_code, form-encoded or JSON) answer as GitHub's do.
// golang.org/x/oauth2 and a browser drive it unchanged.
//
// # Conditional requests and rate limits
//
// GET answers carry an ETag (weak, of the body) and single objects a
// Last-Modified; If-None-Match (or If-Modified-Since) that matches is
// answered 304 Not Modified, which, as on GitHub, does not count against
// the rate limit. Every answer carries X-RateLimit-Limit, -Remaining,
// -Reset, -Used and -Resource; an identity that has used its limit
// (Options.RateLimit per Options.RateWindow) is answered 403 with
// GitHub's message and X-RateLimit-Remaining 0, which go-github reports
// as *github.RateLimitError.
//
// # Counting and faults
//
// Stats, Count, TotalCalls and Calls count requests per route (the
// route as in the table above), with how many were answered 304 and how
// many by a fault. SetFaults injects faults into a fraction of the API
// requests (5xx, an exhausted rate limit, a secondary rate limit with
// Retry-After, a connection closed without an answer, a delay) and of
// the webhook deliveries (lost, duplicated, reordered). Which request
// gets which fault depends only on the seed and the request's sequence
// number, so a run is repeatable.
//
// # Webhooks
//
// Deliveries are POSTed asynchronously, one at a time, in order, by one
// goroutine per server, with GitHub's headers: X-GitHub-Event,
// X-GitHub-Delivery, X-GitHub-Hook-ID, and, when the hook has a secret,
// X-Hub-Signature-256 (HMAC-SHA256 of the body) and the legacy
// X-Hub-Signature (HMAC-SHA1). The content type is the hook's: json, or
// form (GitHub's default: payload=<url-encoded JSON>). A failed delivery
// is not retried, as on GitHub. FlushHooks waits for the queue to drain;
// Deliveries logs what was sent and what each receiver answered.
//
// Not served, because neither the bridge nor the login calls them:
// GraphQL, issues that are not pull requests, issue_comment events,
// merges, reviews, app-level webhooks, the contents of commits.
//
// # As a process
//
// The command internal/fakegithub/cmd/fakegithub runs a Server for users
// and trials (go run ./internal/fakegithub/cmd/fakegithub --help): its
// repositories are empty or mirror local Git repositories, its token is
// printed (AddUserToken takes a chosen one), and Options.Control serves
// the control API (ControlPrefix), which does over HTTP what the Go
// methods do: push, open and edit PRs, set and read statuses, read the
// call counts and log.
//
// # Concurrency
//
// A Server is safe for concurrent use: requests and the test methods
// serialize on one mutex; webhooks are delivered outside it.
package fakegithub
