package github

import "github.com/dkgo/datakit/bridge"

// statusValue is the value of a status: what GitHub keeps of it, and
// what the status's files in the store hold.
type statusValue struct{ state, descr, url string }

// norm returns v as GitHub would keep it: the description cut to 140
// characters by the CI's rule.
func (v statusValue) norm() statusValue {
	v.descr = bridge.TrimDescription(v.descr)
	return v
}

func valueOf(s bridge.Status) statusValue {
	return statusValue{state: s.State, descr: s.Description, url: s.TargetURL}
}

// ckey names a status: its commit and context ("" for GitHub's empty
// context, which the store calls default).
type ckey struct{ commit, context string }

// repoView is a repository's metadata as one side has it: pull requests
// by number, refs by name ("heads/master") to their head, statuses.
type repoView struct {
	prs      map[int]bridge.PR
	refs     map[string]string
	statuses map[ckey]statusValue
}

func newRepoView() *repoView {
	return &repoView{prs: map[int]bridge.PR{}, refs: map[string]string{}, statuses: map[ckey]statusValue{}}
}

// heads returns the commits that are heads of open PRs or of refs.
func (v *repoView) heads() map[string]bool {
	h := map[string]bool{}
	for _, pr := range v.prs {
		if pr.State == bridge.PROpen {
			h[pr.Head] = true
		}
	}
	for _, sha := range v.refs {
		h[sha] = true
	}
	return h
}

// pushable are the fields of a PR that GitHub lets the bridge change.
type pushable struct{ title, state, base string }

func pushableOf(pr bridge.PR) pushable { return pushable{pr.Title, pr.State, pr.Base} }

// samePR reports whether two PRs have the same files in the store.
func samePR(a, b bridge.PR) bool {
	if a.Head != b.Head || a.State != b.State || a.Title != b.Title || a.Owner != b.Owner || a.Base != b.Base || len(a.Comments) != len(b.Comments) {
		return false
	}
	for i := range a.Comments {
		if a.Comments[i] != b.Comments[i] {
			return false
		}
	}
	return true
}
