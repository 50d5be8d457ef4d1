package ci

import (
	"iter"

	"github.com/dkgo/datakit/term"
)

// target is a target and its jobs.
type target struct {
	Target
	env     *term.Env
	jobs    map[string]*job
	history *history
}

// job is one job of a target.
type job struct {
	t       *target
	name    string
	term    term.Term[string]
	result  term.Result[string]
	done    bool     // evaluated at least once
	paths   []string // the metadata paths it read (depIndex)
	unsub   []func()
	dropped bool
	spins   int // evaluations in a row that depended on an event already fired
}

// closing is the environment of a target that moved or went away, and why.
type closing struct {
	env   *term.Env
	cause error
}

// targetSet is the targets the engine tests, by id and by the commit they
// test (statuses belong to commits, which targets share). It belongs to
// the engine's Run goroutine.
type targetSet struct {
	byID   map[TargetID]*target
	byHead map[Commit]map[*target]struct{}
	kinds  map[string]int // targets by kind ("pr", "branch", "tag")
	njobs  int            // jobs of all targets
}

func newTargetSet() *targetSet {
	return &targetSet{byID: map[TargetID]*target{}, byHead: map[Commit]map[*target]struct{}{}, kinds: map[string]int{}}
}

func (s *targetSet) get(id TargetID) *target { return s.byID[id] }

// add adds t, which tests t.Head.
func (s *targetSet) add(t *target) {
	s.byID[t.ID] = t
	s.kinds[t.ID.Kind()]++
	s.indexHead(t)
}

// remove removes t; it returns the other targets at its head, which may
// own its statuses now.
func (s *targetSet) remove(t *target) iter.Seq[*target] {
	delete(s.byID, t.ID)
	s.kinds[t.ID.Kind()]--
	return s.unindexHead(t)
}

// move makes t test nt (same id, another head or title); it returns the
// other targets at the old head, which may own its statuses now.
func (s *targetSet) move(t *target, nt Target) iter.Seq[*target] {
	left := s.unindexHead(t)
	t.Target = nt
	s.indexHead(t)
	return left
}

func (s *targetSet) indexHead(t *target) {
	c := t.Commit()
	if s.byHead[c] == nil {
		s.byHead[c] = map[*target]struct{}{}
	}
	s.byHead[c][t] = struct{}{}
}

func (s *targetSet) unindexHead(t *target) iter.Seq[*target] {
	c := t.Commit()
	delete(s.byHead[c], t)
	if len(s.byHead[c]) == 0 {
		delete(s.byHead, c)
	}
	return s.at(c)
}

// at is the targets testing commit c.
func (s *targetSet) at(c Commit) iter.Seq[*target] {
	return func(yield func(*target) bool) {
		for t := range s.byHead[c] {
			if !yield(t) {
				return
			}
		}
	}
}

// owns reports whether j's target is the one whose result for job j.name
// is the commit's status. Statuses belong to a commit, and a PR and a
// branch often share one; when they disagree the status is the PR's (the
// lowest-numbered open PR's, else the first branch's, else the first
// tag's), so that a check only PRs run cannot be hidden by a branch.
func (s *targetSet) owns(j *job) bool {
	for o := range s.byHead[j.t.Commit()] {
		if o != j.t && o.jobs[j.name] != nil && lessID(o.ID, j.t.ID) {
			return false
		}
	}
	return true
}

// statusKeys is the statuses the jobs of every target would write.
func (s *targetSet) statusKeys() map[statusKey]bool {
	used := map[statusKey]bool{}
	for _, t := range s.byID {
		for _, j := range t.jobs {
			used[statusKey{t.ID.Repo, t.Head, j.name}] = true
		}
	}
	return used
}
