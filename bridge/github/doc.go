// Package github is the GitHub bridge: it keeps the metadata branch of a
// store (github-metadata, in package bridge's layout) and GitHub in
// agreement, both ways, for every monitored repository (one with a
// .monitor file; Options.Only narrows them).
//
// From GitHub into the store go the open pull requests (head, state,
// title, author, base, and the conversation: the PR's body as comment 0,
// then its comments), the branches and tags (annotated tags peeled to
// their commit), and the statuses of their heads (the latest of each
// context). From the store to GitHub go, as the Capabilities allow, the
// statuses the CI (or anyone) writes, and the title, state and base of
// PRs edited in the store. Closed PRs, and commits that are the head of
// no open PR and no ref, are pruned from the store with their statuses
// (after their statuses went to GitHub). Refs cannot be set on GitHub by
// the bridge (the original declared it and did not implement it):
// changes of refs in the store give way to GitHub's.
//
// # The sync
//
// A sync (Sync; Run makes one on every trigger, one at a time, triggers
// coalescing) reads the branch, brought up to date from the diff since
// the head it last read; applies the webhook events received (a status
// newer than the one known at once; a PR or ref that differs from what
// the bridge knows is read again, so that events lost, repeated or out
// of order leave nothing wrong); reads from GitHub a repository in full
// when it is new, when a resync is due (Options.ResyncInterval) or when
// it has a .dirty file, else only the PRs and refs that events or .dirty
// files name, and the statuses of heads it has not read; registers the
// webhook; then compares, element by element (a status, a PR's title,
// state and base), the store, GitHub, and what the two last agreed on. A
// value the store changed since, which the capabilities let the bridge
// write, is sent to GitHub; any other difference is settled by writing
// GitHub's value into the store. At start-up nothing has been agreed on
// yet: the store's values are sent only for resources with x
// (exclusive), and GitHub's win elsewhere, as in the original. The
// store is then written in one commit ("1 item updated", "3 items
// modified", "Cleaning up .dirty files"), tried again up to five times
// when the branch moves under it in a conflicting way.
//
// A status is sent only when the store's value is new: it differs from
// what the store and GitHub last agreed on and from what the bridge last
// sent. When another writer (another CI's bridge, a person) replaces on
// GitHub a status this bridge sent, its value comes into the store; if
// the store's writer (a CI) then puts its own value back, the bridge
// keeps it in the store and does not send it again: it does not fight
// other writers, and two CIs on one repository settle, GitHub showing
// the latest value sent. The first sync after a start reads GitHub's
// statuses of the store's commits that are no longer heads, and the
// history of those whose value differs, before sending any (with x): a
// store value GitHub shows or showed once is not sent again, so a
// restarted bridge sends only what GitHub never had.
//
// A value GitHub refuses (4xx) stays in the store and is not sent again
// until the store changes it. A value that could not be sent (5xx,
// network errors, after retries with backoff) stays in the store and is
// sent by a later sync: each status written to the store reaches GitHub
// once.
//
// # Calls to GitHub
//
// Every GET is conditional (If-None-Match with the ETag of the last
// answer): GitHub answers 304 when nothing changed, which costs nothing
// against the rate limit, so a resync with nothing new costs only 304s.
// An exhausted rate limit (primary or secondary) makes the bridge wait
// for its reset, with a log line and the metric
// datakit_github_rate_limit_waits_total. Server and network errors are
// tried again, up to six times, with exponential backoff from 100ms.
// The bridge authenticates with a token or as a GitHub App (see GitHub
// and App; ghinstallation makes and renews installation tokens); neither
// is logged nor written to the store.
//
// # Webhooks
//
// Handler receives GitHub's deliveries of create, delete, push, status
// and pull_request events, checking their HMAC-SHA256 signature in
// constant time (a missing or bad signature is answered 401 and changes
// nothing), and wakes Run. With the capability webhook:w the bridge
// registers its webhook (Options.Webhook) on each repository.
//
// # Concurrency
//
// A Bridge is safe for concurrent use: Sync, Run, Resync and Handler may
// be called from several goroutines; syncs run one at a time.
package github
