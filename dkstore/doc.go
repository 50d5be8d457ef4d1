// Package dkstore is DataKit's versioned database: trees of files kept as
// Git objects, with branches, atomic transactions, merges, snapshots,
// watches and fetches from other Git repositories.
//
// The package declares the vocabulary every layer above uses (Store,
// Branch, Transaction, Tree, Watch, Path, BranchName, CommitID, the error
// kinds) and implements it on a Git repository through go-git: on disk
// with Open (the `datakit --git PATH` layout, PATH/.git, created bare if
// absent; repositories written by plain git work as they are) or in memory
// with NewMemory. Objects are byte-identical to those git writes. The
// owner of an on-disk store (a server, a CI) opens it with
// Options.Exclusive, so that a second owner fails at once with ErrLocked,
// naming the first; other programs open it beside the owner.
//
// # Model
//
// A branch is a Git ref under refs/heads. A transaction starts from a
// branch head (or any commit, with TxOptions.From), edits a private
// working tree, and commits: the branch fast-forwards when it has not
// moved, and otherwise receives a merge commit "Merge" made by a path-wise
// three-way merge; a conflict fails the commit with ErrConflict and
// leaves the transaction open. Branch refs move only by compare-and-swap,
// and on disk atomically (a lock file renamed over the ref), so a writer
// killed at any moment leaves a repository git fsck accepts.
//
// Watches have latest-value semantics: Next returns the current value
// first, then blocks until the value differs from the last one returned;
// intermediate values may be skipped. Refs changed by other programs (git
// push, git commit) are noticed by polling within Options.PollInterval.
//
// # Concurrency
//
// Stores, branches, transactions and watches are safe for concurrent use.
// go-git's storers are not, so the store serialises object access itself.
//
// # Errors
//
// Errors are *Error values wrapping one of the kinds ErrNotExist,
// ErrExist, ErrInvalid, ErrPermission, ErrNotDir, ErrIsDir, ErrConflict,
// ErrNotFastForward and ErrClosed; test them with errors.Is. Reason gives
// the user-facing text in the original DataKit's wording.
package dkstore
