// Package local is the local bridge: it mirrors local Git repositories into
// the metadata branch of a store, so that the CI can be tried with no
// GitHub at all (the original's datakit-bridge-local-git, extended).
//
// Each Source pairs a repository name of the metadata tree (user/repo)
// with a path on disk. Every pass reads the repository's refs (never
// writing to it: read-only repositories work) and makes the metadata
// branch agree, in one transaction:
//
//   - branches refs/heads/<b> become refs heads/<b>, tags refs/tags/<t>
//     become refs tags/<t> (annotated tags peeled to their commit);
//     branches and tags that disappear are removed;
//   - PR-like refs refs/pull/<n>/head become open PR n, titled with the
//     head commit's subject, owned by a name made from its author, and
//     based on the branch refs/pull/<n>/base names (a symbolic ref to
//     refs/heads/X gives X; a plain ref, the branch whose head it equals;
//     otherwise, and without it, the repository's default branch); when
//     the ref disappears the PR is closed, not removed.
//
// The commit lists the changes, one per line ("Tracking new branch master
// of u/r", "Updating existing branch master of u/r to <sha>", "Removing
// deleted branch …", "Tracking new PR 3 of u/r", "Updating PR 3 of u/r to
// <sha>", "Updating base of PR 3 of u/r to main", "Updating title of PR 3
// of u/r to \"Fix\"", "Closing PR 3 of u/r", …). Nothing is committed when nothing
// changed. Only the refs and PRs of the configured repositories are
// touched; names the metadata layout cannot hold are skipped, with a log
// line.
//
// Never point the bridge at the repository the store itself lives in:
// every commit of the store would be a change to mirror (the feedback loop
// the original's CI README warns of). Options.Refuse lists such Git
// directories, and Sync and Run refuse them with ErrRefused.
//
// Sync and Run may be called from several goroutines; each call keeps its
// own state. Two bridges writing the same repositories to one branch will
// not corrupt it (transactions merge), but they will fight.
package local
