package dkstore

import (
	"context"
	"time"
)

// Store is a versioned database of trees: a Git repository's objects and
// branches. Implementations are safe for concurrent use.
type Store interface {
	// Branches lists the branches that have a head, sorted by name.
	Branches(ctx context.Context) ([]BranchName, error)
	// Branch returns a handle on the branch name. The branch need not exist:
	// it comes into being when something is committed or fast-forwarded to
	// it. An invalid name gives an ErrInvalid error.
	Branch(name BranchName) (Branch, error)
	// Commit returns the commit id's metadata (ErrNotExist if unknown).
	Commit(ctx context.Context, id CommitID) (Commit, error)
	// Tree returns the tree with hash h (ErrNotExist if unknown).
	Tree(ctx context.Context, h Hash) (Tree, error)
	// Blob returns the content of the blob with hash h.
	Blob(ctx context.Context, h Hash) ([]byte, error)
	// Diff lists the files that differ between the trees of two commits:
	// Added and Removed are relative to from.
	Diff(ctx context.Context, from, to CommitID) ([]Change, error)
	// Fetch fetches branch from the Git repository at url (a local path,
	// file://, git:// or http(s):// URL; a "#branch" fragment in url names
	// the branch when branch is "") into the object store, without moving
	// any local branch, and returns the fetched commit.
	Fetch(ctx context.Context, url, branch string) (CommitID, error)
	// WatchRefs streams changes of branch heads. Changes are coalesced per
	// branch while the reader lags: a reader sees every branch's latest
	// state, in the order the branches first changed.
	WatchRefs(ctx context.Context) (Watch[RefChange], error)
	// Close releases the store. Blocked watches return ErrClosed.
	Close() error
}

// Branch is a handle on a named branch.
type Branch interface {
	Name() BranchName
	// Head returns the branch's head commit, or the zero CommitID if the
	// branch does not exist.
	Head(ctx context.Context) (CommitID, error)
	// FastForward moves the branch to id, which must be a known commit that
	// descends from the current head (or the branch must not exist yet).
	// Errors: ErrNotExist for an unknown commit, ErrNotFastForward.
	FastForward(ctx context.Context, id CommitID) error
	// Delete removes the branch. Deleting a branch that does not exist is
	// not an error.
	Delete(ctx context.Context) error
	// Rename moves the branch's head to the name to and deletes this
	// branch. ErrExist if to exists already; ErrNotExist if this branch
	// does not.
	Rename(ctx context.Context, to BranchName) error
	// WatchHead watches the head: the first Next returns the current head,
	// later ones block until it changes (latest-value semantics). The watch
	// ends when ctx is cancelled or it is closed.
	WatchHead(ctx context.Context) (Watch[CommitID], error)
	// WatchPath watches the object at p in the branch head: the first Next
	// returns the current Object (the zero Object if absent; the empty tree
	// for the root of a branch with no commits), later ones block until it
	// changes.
	WatchPath(ctx context.Context, p Path) (Watch[Object], error)
	// Transaction starts a transaction on this branch.
	Transaction(ctx context.Context, opts TxOptions) (Transaction, error)
}

// Watch delivers a sequence of values. Next blocks until a value is
// available or ctx is done. Close ends the watch and frees what it holds;
// Next then returns ErrClosed. A watch's methods may be called from
// several goroutines.
type Watch[T any] interface {
	Next(ctx context.Context) (T, error)
	Close() error
}

// RefChange says that a branch moved from Old to New. A zero Old means the
// branch was created, a zero New that it was deleted.
type RefChange struct {
	Branch BranchName
	Old    CommitID
	New    CommitID
}

// TxOptions choose how a transaction starts and commits. The zero value
// starts from the branch head and merges into the branch if it moved.
type TxOptions struct {
	// From starts the transaction from this commit instead of the branch
	// head (the original's issue #197).
	From CommitID
	// FastForwardOnly makes Commit fail with ErrNotFastForward instead of
	// merging when the branch head is not an ancestor of the new commit.
	FastForwardOnly bool
	// SkipIfEmpty makes Commit create no commit when the tree and parents
	// are unchanged; Commit then returns the branch's current head.
	SkipIfEmpty bool
}

// Reader is the read side shared by trees and transactions.
type Reader interface {
	// Stat describes the entry at p.
	Stat(ctx context.Context, p Path) (Stat, error)
	// ReadFile returns the content of the file at p; for a symlink, its
	// target. ErrIsDir for a directory.
	ReadFile(ctx context.Context, p Path) ([]byte, error)
	// ReadDir lists the directory at p, sorted by name.
	ReadDir(ctx context.Context, p Path) ([]DirEntry, error)
}

// Tree is an immutable tree object.
type Tree interface {
	Reader
	Hash() Hash
}

// Stat describes a tree entry.
type Stat struct {
	Kind Kind
	Size int64 // bytes of content (of the target, for a symlink); 0 for directories
}

// DirEntry is one entry of a directory listing.
type DirEntry struct {
	Name string
	Kind Kind
}

// Signature is a commit's author or committer.
type Signature struct {
	Name  string
	Email string
	When  time.Time
}

// Commit is the metadata of a commit object.
type Commit struct {
	ID        CommitID
	Tree      Hash
	Parents   []CommitID
	Message   string
	Author    Signature
	Committer Signature
}

// ChangeOp is the kind of a change to a file path.
type ChangeOp byte

// The change ops, as shown by the 9P diff files.
const (
	Added   ChangeOp = '+'
	Removed ChangeOp = '-'
	Updated ChangeOp = '*' // content or kind changed
)

// Change is one changed file path in a diff. Diffs list files (including
// symlinks), never directories.
type Change struct {
	Op   ChangeOp
	Path Path
}

func (c Change) String() string { return string(c.Op) + " " + string(c.Path) }

// Conflict is a path left in conflict by Transaction.Merge, with the
// reference's reason: "Changed on both branches", "File vs dir",
// "option: add/del" or "default: add/add and no common ancestor".
type Conflict struct {
	Path   Path
	Reason string
}

// MergeResult gives the three trees of a merge, for resolving conflicts.
// Base is the empty tree when the two sides have no common ancestor.
type MergeResult struct {
	Ours, Theirs, Base Tree
	Conflicts          []Conflict
}

// Transaction is a mutable working tree started from a commit, committed
// atomically to its branch. Its methods may be called from several
// goroutines; each call is atomic. Writes to a path clear any conflict
// recorded for it (and for paths below it).
type Transaction interface {
	Reader
	// WriteFile creates or replaces the file at p with data and kind
	// (KindFile, KindExec or KindLink; for a link data is the target).
	// Missing parent directories are created. ErrNotDir if a parent is a
	// file; ErrIsDir if p is a directory.
	WriteFile(ctx context.Context, p Path, data []byte, kind Kind) error
	// WriteAt writes data at offset off of the existing file p, padding
	// with zero bytes past its end. Writing at the end is O(len(data)).
	WriteAt(ctx context.Context, p Path, data []byte, off int64) error
	// Truncate shrinks or zero-extends the existing file p to size bytes.
	Truncate(ctx context.Context, p Path, size int64) error
	// SetKind changes the kind of the existing file p (KindFile, KindExec
	// or KindLink, whose target is then the file's content).
	SetKind(ctx context.Context, p Path, kind Kind) error
	// MakeDirs creates the directory p and its parents, like mkdir -p. An
	// empty directory is kept until a real entry appears under it, but Git
	// cannot store it: it is not committed.
	MakeDirs(ctx context.Context, p Path) error
	// Remove removes p, recursively for a directory.
	Remove(ctx context.Context, p Path) error
	// Rename moves from to to. An existing file at to is replaced;
	// ErrIsDir if to is a directory, ErrNotExist if from is missing.
	Rename(ctx context.Context, from, to Path) error

	// Parents returns the parents the commit will have.
	Parents(ctx context.Context) ([]CommitID, error)
	// SetParents replaces the parents. They are checked at commit time.
	SetParents(ctx context.Context, parents []CommitID) error
	// Merge merges commit id into the working tree: path-wise three-way,
	// with id appended to the parents. Conflicting paths hold a normal file
	// "** Conflict **\n<reason>\n" and are listed until written or removed.
	// ErrConflict if earlier conflicts are still unresolved.
	Merge(ctx context.Context, id CommitID) (MergeResult, error)
	// Conflicts lists the unresolved conflicts, sorted by path.
	Conflicts(ctx context.Context) ([]Conflict, error)
	// Diff lists the files that differ between commit from and the working
	// tree.
	Diff(ctx context.Context, from CommitID) ([]Change, error)
	// Changes lists the files changed since the transaction started.
	Changes(ctx context.Context) ([]Change, error)

	// Commit creates a commit of the working tree with message msg ("(no
	// commit message)" if empty) and the parents, and moves the branch to
	// it: a fast-forward, or a merge commit "Merge" if the branch moved in
	// the meantime. It returns the commit the branch now points to. On a
	// merge conflict (ErrConflict, text "Merge conflict: …") the
	// transaction stays open; on success it is closed.
	Commit(ctx context.Context, msg string) (CommitID, error)
	// Abort discards the transaction. Aborting a closed transaction is a
	// no-op.
	Abort(ctx context.Context) error
}

// The identity the store puts on the commits it makes.
const (
	AuthorName  = "datakit"
	AuthorEmail = "datakit@mobyproject.org"
)

// NoMessage is the message of a commit made with an empty message.
const NoMessage = "(no commit message)"
