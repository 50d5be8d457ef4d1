package ci

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// Repo names a project: "user/repo".
type Repo = bridge.Repo

// State is a job's outcome, as written to its commit status.
type State = term.State

// The states of a status. Error means the infrastructure, not the code
// under test, failed.
const (
	Success = term.Success
	Pending = term.Pending
	Failure = term.Failure
	Error   = term.Error
)

// TargetID names a target: an open pull request, a branch or a tag of a
// project. Its text form (used by --canary) is "user/repo/prs/7",
// "user/repo/heads/master" or "user/repo/tags/v1.0".
type TargetID struct {
	Repo Repo
	PR   int    // the PR number, for a PR; else 0
	Ref  string // "heads/<branch>" or "tags/<tag>", for a ref; else ""
}

// PR returns the id of pull request n of repo ("user/repo").
func PR(repo string, n int) TargetID { return TargetID{Repo: mustRepo(repo), PR: n} }

// Branch returns the id of a branch of repo.
func Branch(repo, name string) TargetID { return TargetID{Repo: mustRepo(repo), Ref: "heads/" + name} }

// Tag returns the id of a tag of repo.
func Tag(repo, name string) TargetID { return TargetID{Repo: mustRepo(repo), Ref: "tags/" + name} }

// mustRepo parses a repo name given in code; an invalid one gives a repo
// that matches nothing (a source reading it fails with "Target … does not
// exist").
func mustRepo(s string) Repo {
	r, err := bridge.ParseRepo(s)
	if err != nil {
		parts := strings.SplitN(s, "/", 2)
		r = Repo{User: parts[0]}
		if len(parts) == 2 {
			r.Name = parts[1]
		}
	}
	return r
}

// IsPR reports whether id names a pull request.
func (id TargetID) IsPR() bool { return id.PR > 0 }

// IsBranch reports whether id names a branch.
func (id TargetID) IsBranch() bool { return strings.HasPrefix(id.Ref, "heads/") }

// IsTag reports whether id names a tag.
func (id TargetID) IsTag() bool { return strings.HasPrefix(id.Ref, "tags/") }

// Kind is "pr", "branch" or "tag" (the label of the active-targets metric).
func (id TargetID) Kind() string {
	switch {
	case id.IsPR():
		return "pr"
	case id.IsTag():
		return "tag"
	}
	return "branch"
}

// String gives the text form: "user/repo/prs/7", "user/repo/heads/master".
func (id TargetID) String() string {
	if id.IsPR() {
		return fmt.Sprintf("%s/prs/%d", id.Repo, id.PR)
	}
	return id.Repo.String() + "/" + id.Ref
}

// Short names the target within its project: "PR 7", "branch master",
// "tag v1.0".
func (id TargetID) Short() string {
	switch {
	case id.IsPR():
		return fmt.Sprintf("PR %d", id.PR)
	case id.IsTag():
		return "tag " + strings.TrimPrefix(id.Ref, "tags/")
	}
	return "branch " + strings.TrimPrefix(id.Ref, "heads/")
}

// ParseTargetID parses the text form of a target id.
func ParseTargetID(s string) (TargetID, error) {
	parts := strings.SplitN(strings.TrimSpace(s), "/", 4)
	if len(parts) < 4 {
		return TargetID{}, fmt.Errorf("invalid target %q: want USER/REPO/prs/N, USER/REPO/heads/BRANCH or USER/REPO/tags/TAG", s)
	}
	repo, err := bridge.ParseRepo(parts[0] + "/" + parts[1])
	if err != nil {
		return TargetID{}, fmt.Errorf("invalid target %q: %v", s, err)
	}
	switch parts[2] {
	case "prs", "pr":
		n, err := strconv.Atoi(parts[3])
		if err != nil || n <= 0 {
			return TargetID{}, fmt.Errorf("invalid target %q: bad PR number %q", s, parts[3])
		}
		return TargetID{Repo: repo, PR: n}, nil
	case "heads", "tags":
		if parts[3] == "" || strings.HasPrefix(parts[3], "/") || strings.HasSuffix(parts[3], "/") || strings.Contains(parts[3], "//") {
			return TargetID{}, fmt.Errorf("invalid target %q: empty ref name", s)
		}
		return TargetID{Repo: repo, Ref: parts[2] + "/" + parts[3]}, nil
	}
	return TargetID{}, fmt.Errorf("invalid target %q: %q is not prs, heads or tags", s, parts[2])
}

// Commit is a commit of a project.
type Commit struct {
	Repo Repo
	Hash string // the full hexadecimal SHA-1
}

// Short is the abbreviated hash (7 digits).
func (c Commit) Short() string {
	if len(c.Hash) > 7 {
		return c.Hash[:7]
	}
	return c.Hash
}

func (c Commit) String() string { return c.Repo.String() + "@" + c.Short() }

// Target is a resolved target: its id and what the metadata says of it.
type Target struct {
	ID    TargetID
	Head  string // the commit to test
	Title string // PR title
	Owner string // PR author
	Base  string // PR base branch
}

// Commit is the target's head commit.
func (t Target) Commit() Commit { return Commit{Repo: t.ID.Repo, Hash: t.Head} }

// Repo is the target's project.
func (t Target) Repo() Repo { return t.ID.Repo }

// IsPR reports whether the target is a pull request.
func (t Target) IsPR() bool { return t.ID.IsPR() }

// IsBranch reports whether the target is a branch.
func (t Target) IsBranch() bool { return t.ID.IsBranch() }

// IsTag reports whether the target is a tag.
func (t Target) IsTag() bool { return t.ID.IsTag() }

// BranchName is the branch's name for a branch target ("" otherwise).
func (t Target) BranchName() string {
	if !t.ID.IsBranch() {
		return ""
	}
	return strings.TrimPrefix(t.ID.Ref, "heads/")
}

// TagName is the tag's name for a tag target ("" otherwise).
func (t Target) TagName() string {
	if !t.ID.IsTag() {
		return ""
	}
	return strings.TrimPrefix(t.ID.Ref, "tags/")
}

func (t Target) String() string { return t.ID.String() }

// statusBranch is the name of the target's history branch (reference
// 6.4): "status-<user>-<repo>-pr-<n>" or "status-<user>-<repo>-ref-<first>-<rest>",
// each part escaped by EscapeName (so the ref heads/feature/x-y gives
// ref-heads-feature_2fx_2dy), and its dots too if Git would refuse it
// (JoinBranch).
func statusBranch(id TargetID) dkstore.BranchName {
	return JoinBranch("status", EscapeName(id.Repo.User), EscapeName(id.Repo.Name), indexName(id))
}

// indexName is the target's file name in the commit index: "pr-<n>" or
// "ref-<first>-<rest>", where rest is the rest of the ref name, '/' and
// all, escaped.
func indexName(id TargetID) string {
	if id.IsPR() {
		return "pr-" + strconv.Itoa(id.PR)
	}
	first, rest, _ := strings.Cut(id.Ref, "/")
	return "ref-" + EscapeName(first) + "-" + EscapeName(rest)
}

// EscapeName makes s a part of a branch (or file) name, injectively:
// ASCII letters, digits and "." stay, and every other byte becomes "_"
// and its two hexadecimal digits ("a/b" gives "a_2fb", "a-b" gives
// "a_2db", "a_b" gives "a_5fb"). Distinct strings give distinct names,
// and since the result holds no "-", parts joined by "-" can be told
// apart. The result may hold ".." or end with "." or ".lock", which a
// branch name may not: JoinBranch makes a valid name of such parts.
//
// The CI names its status branches, and the result branches of the steps
// of ci/git and ci/docker, with it.
func EscapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

// JoinBranch joins parts with "-" into a branch name: parts escaped by
// EscapeName, or fixed words, hexadecimal digests and hashes. If Git
// would refuse the name because of its dots (a "..", a final "." or
// ".lock"), every "." in it becomes "_2e", as EscapeName writes other
// bytes. Distinct parts (none holding "-" but the last) give distinct
// names.
func JoinBranch(parts ...string) dkstore.BranchName {
	b := dkstore.BranchName(strings.Join(parts, "-"))
	if b.Valid() != nil {
		b = dkstore.BranchName(strings.ReplaceAll(string(b), ".", "_2e"))
	}
	return b
}
