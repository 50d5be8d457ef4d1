// Package bridge owns the layout of the GitHub metadata branch
// (github-metadata by default): the files through which a bridge tells the
// CI about monitored repositories, pull requests and refs, and through
// which the CI reports commit statuses back. bridge/github and bridge/local
// keep the branch in sync with GitHub or with local Git repositories; the
// CI reads and writes it with the functions here.
//
// # Layout
//
//	README.md                                   "### DataKit -- GitHub bridge\n"
//	<user>/<repo>/.monitor                      empty: the repository is monitored
//	<user>/<repo>/.dirty                        empty: ask the bridge to re-import it
//	<user>/<repo>/pr/<n>/head                   head commit SHA
//	<user>/<repo>/pr/<n>/state                  "open" | "closed"
//	<user>/<repo>/pr/<n>/title                  title
//	<user>/<repo>/pr/<n>/owner                  author's login
//	<user>/<repo>/pr/<n>/base                   target branch name
//	<user>/<repo>/pr/<n>/comments/<i>/{id,user,body}   (body raw, no newline added)
//	<user>/<repo>/pr/<n>/.dirty                 ask the bridge to re-import the PR
//	<user>/<repo>/ref/heads/<branch…>/head      commit SHA (names may contain '/')
//	<user>/<repo>/ref/tags/<tag…>/head          commit SHA (annotated tags peeled)
//	<user>/<repo>/ref/<…>/.dirty                ask the bridge to re-import the ref
//	<user>/<repo>/commit/<sha>/status/<c1>/…/<cn>/state        pending|success|failure|error
//	<user>/<repo>/commit/<sha>/status/<c1>/…/<cn>/description  optional
//	<user>/<repo>/commit/<sha>/status/<c1>/…/<cn>/target_url   optional
//
// Value files end with "\n" (comment bodies excepted) and readers trim
// them. A status context "ci/datakit/test" is the directory path
// ci/datakit/test; GitHub's empty context is the directory "default". A
// status exists if and only if its state file does, so contexts nest
// (foo/state and foo/bar/baz/state are two statuses).
//
// # Leniency
//
// The branch is written by several programs and by people with a shell,
// so reading is lenient, as in the original DataKit: values are trimmed;
// a status state that is not one of the four reads as "failure"; PRs
// lacking head, state or owner, and entries whose names are not valid
// (users, repositories and ref components are restricted to
// [A-Za-z0-9._-]), are skipped; a missing directory is an empty result,
// not an error. Results are sorted. Writing is strict: invalid values are
// refused with an error wrapping dkstore.ErrInvalid.
//
// # Concurrency
//
// The package has no state of its own. Its functions are as safe for
// concurrent use as the Reader or Transaction passed to them (the dkstore
// implementations are).
package bridge
