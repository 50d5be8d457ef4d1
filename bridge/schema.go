package bridge

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dkgo/datakit/dkstore"
)

// DefaultBranch is the metadata branch bridges and the CI use by default.
const DefaultBranch dkstore.BranchName = "github-metadata"

// Repo names a repository: GitHub's user (or organisation) and name.
type Repo struct{ User, Name string }

// ParseRepo parses "user/repo", trimming surrounding space. Each name is
// restricted to [A-Za-z0-9._-] and may not be "." or "..".
func ParseRepo(s string) (Repo, error) {
	t := strings.TrimSpace(s)
	user, name, ok := strings.Cut(t, "/")
	if !ok || strings.Contains(name, "/") {
		return Repo{}, dkstore.Invalidf("bridge: invalid repository %q: want USER/REPO", s)
	}
	r := Repo{User: strings.TrimSpace(user), Name: strings.TrimSpace(name)}
	if err := r.Valid(); err != nil {
		return Repo{}, fmt.Errorf("bridge: invalid repository %q: %w", s, err)
	}
	return r, nil
}

// Valid returns nil if both names are valid, else an error wrapping
// dkstore.ErrInvalid that says which is not.
func (r Repo) Valid() error {
	if !ValidName(r.User) {
		return dkstore.Invalidf("user %q: %s", r.User, nameRule)
	}
	if !ValidName(r.Name) {
		return dkstore.Invalidf("repository name %q: %s", r.Name, nameRule)
	}
	return nil
}

// String returns "user/repo".
func (r Repo) String() string { return r.User + "/" + r.Name }

// Path returns the repository's directory in the metadata tree, user/repo.
func (r Repo) Path() dkstore.Path { return dkstore.Path(r.User + "/" + r.Name) }

const nameRule = `names are non-empty, made of letters, digits, '.', '_' and '-', and not "." or ".."`

// ValidName reports whether s may name a user, a repository or a component
// of a ref name: non-empty, made of [A-Za-z0-9._-], and not "." or "..".
func ValidName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidRefName reports whether name is a valid ref name of the metadata
// tree: '/'-separated components, each a ValidName ("heads/feature/x").
func ValidRefName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if !ValidName(c) {
			return false
		}
	}
	return true
}

// Comment is a comment of a pull request. Comment 0 is the PR's body, with
// ID 0.
type Comment struct {
	ID   int64
	User string
	Body string
}

// The states of a pull request.
const (
	PROpen   = "open"
	PRClosed = "closed"
)

// PR is a pull request.
type PR struct {
	Repo     Repo
	Number   int
	Head     string // commit SHA
	State    string // PROpen or PRClosed
	Title    string
	Owner    string // the author's login
	Base     string // the target branch, e.g. "master"
	Comments []Comment
}

// Ref is a branch or a tag of a repository.
type Ref struct {
	Repo Repo
	// Name is the ref name below refs/: "heads/master",
	// "heads/feature/x", "tags/v1.0".
	Name string
	Head string // commit SHA (the commit an annotated tag points to)
}

// IsTag reports whether the ref is a tag (tags/…).
func (r Ref) IsTag() bool { return strings.HasPrefix(r.Name, "tags/") }

// IsBranch reports whether the ref is a branch (heads/…).
func (r Ref) IsBranch() bool { return strings.HasPrefix(r.Name, "heads/") }

// Short returns the name without "heads/" or "tags/": "master", "v1.0".
func (r Ref) Short() string {
	if s, ok := strings.CutPrefix(r.Name, "heads/"); ok {
		return s
	}
	if s, ok := strings.CutPrefix(r.Name, "tags/"); ok {
		return s
	}
	return r.Name
}

// The states of a commit status.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// ValidState reports whether s is one of the four status states.
func ValidState(s string) bool {
	switch s {
	case StatePending, StateSuccess, StateFailure, StateError:
		return true
	}
	return false
}

// Status is a commit status.
type Status struct {
	Repo   Repo
	Commit string
	// Context is '/'-separated, e.g. "ci/datakit/test"; "" is GitHub's
	// empty context, stored as the directory "default".
	Context     string
	State       string // StatePending, StateSuccess, StateFailure or StateError
	Description string
	TargetURL   string
}

// DefaultContext is the directory that holds the status of the empty
// context.
const DefaultContext = "default"

// The value files of a status directory, which no context component may
// be named.
const (
	stateFile       = "state"
	descriptionFile = "description"
	targetURLFile   = "target_url"
)

// ValidContext reports whether the status context c can be stored: ""
// (GitHub's empty context) or '/'-separated components, each a valid path
// step and none named state, description or target_url (the value files
// of a status directory).
func ValidContext(c string) bool { return validContext(c) }

// validContext reports whether c can be stored: "" or '/'-separated
// components, each a valid path step and none the name of a status value
// file (which would clash with the file of the enclosing context).
func validContext(c string) bool {
	if c == "" {
		return true
	}
	for _, s := range strings.Split(c, "/") {
		if _, err := dkstore.PathOf(s); err != nil {
			return false
		}
		if s == stateFile || s == descriptionFile || s == targetURLFile {
			return false
		}
	}
	return true
}

// validSHA reports whether s looks like a commit id: 1 to 64 hexadecimal
// digits, lower case.
func validSHA(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// normSHA trims and lower-cases a commit id read from the tree.
func normSHA(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// MonitorPath is user/repo/.monitor.
func MonitorPath(r Repo) dkstore.Path { return r.Path().Join(".monitor") }

// DirtyPath is user/repo/.dirty.
func DirtyPath(r Repo) dkstore.Path { return r.Path().Join(".dirty") }

// PRPath is user/repo/pr/<n>.
func PRPath(r Repo, n int) dkstore.Path { return r.Path().Join("pr").Join(strconv.Itoa(n)) }

// RefPath is user/repo/ref/<name>.
func RefPath(r Repo, name string) dkstore.Path { return r.Path().Join("ref").Join(name) }

// CommitPath is user/repo/commit/<sha>.
func CommitPath(r Repo, sha string) dkstore.Path { return r.Path().Join("commit").Join(sha) }

// StatusPath is user/repo/commit/<sha>/status/<context>, with "default"
// for the empty context.
func StatusPath(r Repo, sha, context string) dkstore.Path {
	if context == "" {
		context = DefaultContext
	}
	return CommitPath(r, sha).Join("status").Join(context)
}

// parsePRNumber parses a PR directory name: a positive decimal number
// written canonically (so that PRPath gives the same name back).
func parsePRNumber(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}
