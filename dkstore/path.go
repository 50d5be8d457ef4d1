package dkstore

import (
	"strings"
)

// Path names an entry in a tree: steps joined by "/", with no leading or
// trailing slash. The empty Path is the root. A valid step is non-empty, is
// not "." or "..", and contains neither "/" nor NUL.
type Path string

// Root is the empty path, naming the root directory of a tree.
const Root Path = ""

// ParsePath checks s and returns it as a Path.
func ParsePath(s string) (Path, error) {
	p := Path(s)
	if err := p.Valid(); err != nil {
		return "", err
	}
	return p, nil
}

// PathOf joins steps into a Path, checking each.
func PathOf(steps ...string) (Path, error) {
	for _, s := range steps {
		if err := validStep(s); err != nil {
			return "", newErr(ErrInvalid, "", "invalid path %q: %s", strings.Join(steps, "/"), err.Text)
		}
	}
	return Path(strings.Join(steps, "/")), nil
}

// Valid returns nil if p is well formed, else an ErrInvalid error.
func (p Path) Valid() error {
	if p == Root {
		return nil
	}
	s := string(p)
	for {
		i := strings.IndexByte(s, '/')
		step := s
		if i >= 0 {
			step = s[:i]
		}
		if err := validStep(step); err != nil {
			return newErr(ErrInvalid, "", "invalid path %q: %s", string(p), err.Text)
		}
		if i < 0 {
			return nil
		}
		s = s[i+1:]
	}
}

func validStep(s string) *Error {
	switch {
	case s == "":
		return &Error{Text: "empty step"}
	case s == "." || s == "..":
		return &Error{Text: "step " + s + " is not allowed"}
	case strings.IndexByte(s, 0) >= 0:
		return &Error{Text: "NUL byte in a step"}
	case strings.IndexByte(s, '/') >= 0:
		return &Error{Text: "'/' in a step"}
	}
	return nil
}

// IsRoot reports whether p is the root.
func (p Path) IsRoot() bool { return p == Root }

// Steps returns the steps of p (none for the root).
func (p Path) Steps() []string {
	if p == Root {
		return nil
	}
	return strings.Split(string(p), "/")
}

// Base returns the last step of p ("" for the root).
func (p Path) Base() string {
	i := strings.LastIndexByte(string(p), '/')
	return string(p[i+1:])
}

// Dir returns p without its last step (the root for a one-step path).
func (p Path) Dir() Path {
	i := strings.LastIndexByte(string(p), '/')
	if i < 0 {
		return Root
	}
	return p[:i]
}

// Join returns p with the step name appended. It does not check name.
func (p Path) Join(name string) Path {
	if p == Root {
		return Path(name)
	}
	return p + "/" + Path(name)
}

// HasPrefix reports whether p is q or lies below q.
func (p Path) HasPrefix(q Path) bool {
	if q == Root || p == q {
		return true
	}
	return strings.HasPrefix(string(p), string(q)) && p[len(q)] == '/'
}

// String returns p as text; the root is "/".
func (p Path) String() string {
	if p == Root {
		return "/"
	}
	return string(p)
}

// BranchName names a branch: a Git ref under refs/heads/. Letters, digits,
// '-', '_', '.' and '/' are allowed, within Git's rules: no empty component,
// none starting with '.' or ending with ".lock", no "..", and no trailing '.'.
type BranchName string

// ParseBranchName checks s and returns it as a BranchName.
func ParseBranchName(s string) (BranchName, error) {
	b := BranchName(s)
	if err := b.Valid(); err != nil {
		return "", err
	}
	return b, nil
}

// Valid returns nil if b is well formed, else an ErrInvalid error.
func (b BranchName) Valid() error {
	s := string(b)
	bad := func(why string) error { return newErr(ErrInvalid, "", "invalid branch name %q: %s", s, why) }
	if s == "" {
		return bad("empty")
	}
	if len(s) > 1024 {
		return bad("longer than 1024 bytes")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return bad("only letters, digits, '-', '_', '.' and '/' are allowed")
		}
	}
	if strings.Contains(s, "..") {
		return bad(`".." is not allowed`)
	}
	if strings.HasSuffix(s, ".") {
		return bad(`it may not end with "."`)
	}
	for _, c := range strings.Split(s, "/") {
		switch {
		case c == "":
			return bad("empty component")
		case c[0] == '.':
			return bad(`a component may not start with "."`)
		case strings.HasSuffix(c, ".lock"):
			return bad(`a component may not end with ".lock"`)
		}
	}
	return nil
}

// Ref returns the full Git reference name, refs/heads/<b>.
func (b BranchName) Ref() string { return "refs/heads/" + string(b) }
