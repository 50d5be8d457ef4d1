package bridge

import (
	"strings"

	"github.com/dkgo/datakit/dkstore"
)

// Kind says what a path of the metadata tree belongs to.
type Kind int

// The kinds of Location.
const (
	KindOther   Kind = iota // below user/repo, but in no known place
	KindMonitor             // user/repo/.monitor
	KindDirty               // user/repo/.dirty
	KindPR                  // user/repo/pr/<n>/…
	KindRef                 // user/repo/ref/<name>/…
	KindStatus              // user/repo/commit/<sha>/status/<context>/…
	KindCommit              // user/repo/commit/<sha>/… outside status/
)

var kindNames = [...]string{"other", "monitor", "dirty", "pr", "ref", "status", "commit"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Location is what Locate finds a path to belong to. Only the fields of
// its Kind are set.
type Location struct {
	Kind    Kind
	Repo    Repo
	PR      int    // KindPR
	Ref     string // KindRef: "heads/a/b"
	Commit  string // KindStatus, KindCommit
	Context string // KindStatus ("" for the default context)
}

// Locate says what the changed path p (typically a file of a diff) belongs
// to: "u/r/pr/7/head" to PR 7 of u/r, "u/r/ref/heads/a/b/head" to the ref
// heads/a/b, "u/r/commit/abc/status/ci/datakit/x/state" to the status of
// commit abc in context ci/datakit/x. A trailing value file (head, .dirty,
// state, description, target_url) is dropped from ref names and contexts;
// a path naming the directory itself works too. Paths below a valid
// user/repo that fit nowhere are KindOther; Locate returns false for paths
// outside any user/repo (README.md) or with invalid names.
func Locate(p dkstore.Path) (Location, bool) {
	if p.Valid() != nil {
		return Location{}, false
	}
	steps := p.Steps()
	if len(steps) < 2 {
		return Location{}, false
	}
	repo := Repo{User: steps[0], Name: steps[1]}
	if repo.Valid() != nil {
		return Location{}, false
	}
	loc := Location{Kind: KindOther, Repo: repo}
	rest := steps[2:]
	if len(rest) == 0 {
		return loc, true
	}
	switch rest[0] {
	case ".monitor":
		if len(rest) == 1 {
			loc.Kind = KindMonitor
		}
	case ".dirty":
		if len(rest) == 1 {
			loc.Kind = KindDirty
		}
	case "pr":
		if len(rest) < 2 {
			break
		}
		n, ok := parsePRNumber(rest[1])
		if !ok {
			return Location{}, false
		}
		loc.Kind, loc.PR = KindPR, n
	case "ref":
		name := rest[1:]
		if len(name) > 1 && (name[len(name)-1] == "head" || name[len(name)-1] == ".dirty") {
			name = name[:len(name)-1]
		}
		if len(name) == 0 {
			break
		}
		ref := strings.Join(name, "/")
		if !ValidRefName(ref) {
			return Location{}, false
		}
		loc.Kind, loc.Ref = KindRef, ref
	case "commit":
		if len(rest) < 2 {
			break
		}
		sha := rest[1]
		if !validSHA(sha) {
			return Location{}, false
		}
		loc.Kind, loc.Commit = KindCommit, sha
		if len(rest) < 4 || rest[2] != "status" {
			break
		}
		c := rest[3:]
		if last := c[len(c)-1]; len(c) > 1 && (last == stateFile || last == descriptionFile || last == targetURLFile) {
			c = c[:len(c)-1]
		}
		context := strings.Join(c, "/")
		if !validContext(context) {
			return Location{}, false
		}
		loc.Kind, loc.Context = KindStatus, contextOfDir(context)
	}
	return loc, true
}
