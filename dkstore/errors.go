package dkstore

import (
	"errors"
	"fmt"
	"io/fs"
)

// Error kinds. Every error returned by a Store, Branch or Transaction
// matches exactly one of these with errors.Is. Where a kind exists in io/fs
// it is that very value, so errors.Is(err, fs.ErrNotExist) works too.
var (
	// ErrNotExist: no such path, commit, object or branch.
	ErrNotExist = fs.ErrNotExist
	// ErrExist: the thing to create exists already.
	ErrExist = fs.ErrExist
	// ErrInvalid: a malformed argument (hash, path, branch name, offset).
	ErrInvalid = fs.ErrInvalid
	// ErrPermission: the operation is not allowed on this object.
	ErrPermission = fs.ErrPermission
	// ErrNotDir: a path step names a file where a directory is needed.
	ErrNotDir = errors.New("not a directory")
	// ErrIsDir: a directory where a file is needed.
	ErrIsDir = errors.New("is a directory")
	// ErrConflict: a merge could not be done automatically, or a
	// transaction still has unresolved conflicts.
	ErrConflict = errors.New("conflict")
	// ErrNotFastForward: a branch cannot be moved to a commit that does not
	// descend from its head.
	ErrNotFastForward = errors.New("not a fast-forward")
	// ErrClosed: the transaction was committed or aborted, or the store closed.
	ErrClosed = errors.New("closed")
)

// Error is the error type of this package. Text keeps the original
// DataKit's wording (e.g. `not-fast-forward`, `Merge conflict: …`) so that a
// transport can show it to users unchanged; Op says what was being done.
type Error struct {
	Kind error  // one of the Err* kinds above
	Op   string // what was being done, e.g. `fast-forward master`
	Text string // the reason in the reference's wording
}

func (e *Error) Error() string {
	if e.Op == "" {
		return "dkstore: " + e.Text
	}
	return "dkstore: " + e.Op + ": " + e.Text
}

// Unwrap returns the kind, so that errors.Is(err, ErrConflict) works.
func (e *Error) Unwrap() error { return e.Kind }

// Reason returns the user-facing text of err: the Text of the innermost
// *Error it wraps, or err.Error() for other errors. Transports show it.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Text != "" {
		return e.Text
	}
	return err.Error()
}

func newErr(kind error, op, format string, args ...any) error {
	return &Error{Kind: kind, Op: op, Text: fmt.Sprintf(format, args...)}
}

// withOp returns err with Op set if it is an *Error without one.
func withOp(err error, op string) error {
	var e *Error
	if errors.As(err, &e) && e.Op == "" {
		c := *e
		c.Op = op
		return &c
	}
	return err
}

// Invalidf returns an error with the formatted message that matches
// ErrInvalid with errors.Is, without ending in ErrInvalid's own text
// (": invalid argument" tells a user nothing): for messages about bad input
// that already say what is wrong. Verbs are those of fmt.Sprintf; %w is
// not supported.
func Invalidf(format string, args ...any) error {
	return invalidError(fmt.Sprintf(format, args...))
}

type invalidError string

func (e invalidError) Error() string { return string(e) }

// Is reports whether target is ErrInvalid.
func (e invalidError) Is(target error) bool { return target == ErrInvalid }
