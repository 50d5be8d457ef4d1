package dkstore

import (
	"encoding/hex"
	"fmt"
)

// Hash is the SHA-1 id of a Git object (blob, tree or commit).
type Hash [20]byte

// EmptyTree is the hash of the empty tree, the same in every Git repository.
var EmptyTree = mustHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// ParseHash parses 40 hexadecimal digits (either case). The error text is the
// reference's: `invalid-hash "<s>": <reason>`.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 40 {
		return h, newErr(ErrInvalid, "", "invalid-hash %q: length %d, want 40 hex digits", s, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, newErr(ErrInvalid, "", "invalid-hash %q: not hexadecimal", s)
	}
	return h, nil
}

func mustHash(s string) Hash {
	h, err := ParseHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

// String returns the 40 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash (no object).
func (h Hash) IsZero() bool { return h == Hash{} }

// CommitID is the hash of a commit object. The zero CommitID means "no
// commit", e.g. the head of a branch that does not exist yet.
type CommitID Hash

// ParseCommitID parses a commit id written as 40 hex digits.
func ParseCommitID(s string) (CommitID, error) {
	h, err := ParseHash(s)
	return CommitID(h), err
}

// String returns the 40 lowercase hex digits, or "" for the zero id.
func (c CommitID) String() string {
	if c.IsZero() {
		return ""
	}
	return Hash(c).String()
}

// IsZero reports whether c is the zero id.
func (c CommitID) IsZero() bool { return c == CommitID{} }

// Kind is the kind of an entry in a tree.
type Kind uint8

// The kinds of tree entries. Their Git modes are 040000, 100644, 100755 and
// 120000; a symlink's blob holds its target.
const (
	KindNone Kind = iota // absent
	KindDir
	KindFile
	KindExec
	KindLink
)

var kindLetters = [...]string{KindNone: "", KindDir: "D", KindFile: "F", KindExec: "X", KindLink: "L"}

// String returns the one-letter name used in watches and /trees: D, F, X or L.
func (k Kind) String() string {
	if int(k) < len(kindLetters) {
		return kindLetters[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// IsFile reports whether k is a kind of file (normal, executable or symlink).
func (k Kind) IsFile() bool { return k == KindFile || k == KindExec || k == KindLink }

// Object is a typed reference to a stored tree or blob: the value a path
// watch reports and the name of an entry under the 9P /trees directory. The
// zero Object means "absent".
type Object struct {
	Kind Kind
	Hash Hash
}

// String formats o as `D-<hash>`, `F-<hash>`, `X-<hash>` or `L-<hash>`, and
// the zero Object as "".
func (o Object) String() string {
	if o.Kind == KindNone {
		return ""
	}
	return o.Kind.String() + "-" + o.Hash.String()
}

// ParseObject parses the form written by Object.String ("" is the zero Object).
func ParseObject(s string) (Object, error) {
	if s == "" {
		return Object{}, nil
	}
	if len(s) < 2 || s[1] != '-' {
		return Object{}, newErr(ErrInvalid, "", "invalid object %q: want D-, F-, X- or L- and a hash", s)
	}
	var k Kind
	switch s[0] {
	case 'D':
		k = KindDir
	case 'F':
		k = KindFile
	case 'X':
		k = KindExec
	case 'L':
		k = KindLink
	default:
		return Object{}, newErr(ErrInvalid, "", "invalid object %q: want D-, F-, X- or L- and a hash", s)
	}
	h, err := ParseHash(s[2:])
	if err != nil {
		return Object{}, err
	}
	return Object{Kind: k, Hash: h}, nil
}
