package ci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// This file holds the read-only views of the engine that the web UI
// (package ci/web) shows, beyond Targets: the projects, one target, its
// recorded history, the archived builds of a commit, saved logs, why a job
// is pending, and the rebuilds of every failed step of a target or a
// project. All are safe for concurrent use with Run.

// ErrNotConnected is returned by the views that read the store while the
// engine is not connected to one.
var ErrNotConnected = errors.New("ci: the engine is not connected to a store")

// Projects returns the configured projects, sorted by repository.
func (e *Engine) Projects() []Project {
	var ps []Project
	for _, r := range e.sortedRepos() {
		ps = append(ps, e.projects[r].Project)
	}
	return ps
}

// Config returns the configuration the engine was made with.
func (e *Engine) Config() Config { return e.cfg }

// IsProject reports whether repo is a configured project.
func (e *Engine) IsProject(repo Repo) bool {
	_, ok := e.projects[repo]
	return ok
}

// Target returns the state of one target as of the last round.
func (e *Engine) Target(id TargetID) (TargetSummary, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts, ok := e.summary[id]
	return ts, ok
}

// currentStore is the store Run was given (nil before).
func (e *Engine) currentStore() (dkstore.Store, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store == nil {
		return nil, ErrNotConnected
	}
	return e.store, nil
}

// StatusBranch is the name of the branch that records target id's
// history (reference 6.4).
func StatusBranch(id TargetID) dkstore.BranchName { return statusBranch(id) }

// HistoryEntry is one recorded state of a target: a commit of its status
// branch.
type HistoryEntry struct {
	Commit  string    // the status branch's commit
	Parent  string    // the state before ("" for the first)
	Message string    // what changed ("<job> -> <descr>", "N updates (...)")
	Time    time.Time // when it was recorded
}

// History returns the recorded states of target id, newest first: at
// most limit of them, starting at commit from (the branch's head if "").
func (e *Engine) History(ctx context.Context, id TargetID, from string, limit int) ([]HistoryEntry, error) {
	store, err := e.currentStore()
	if err != nil {
		return nil, err
	}
	var at dkstore.CommitID
	if from == "" {
		br, err := store.Branch(statusBranch(id))
		if err != nil {
			return nil, err
		}
		if at, err = br.Head(ctx); err != nil {
			return nil, err
		}
	} else if at, err = dkstore.ParseCommitID(from); err != nil {
		return nil, fmt.Errorf("ci: history of %s: %w", id, dkstore.ErrInvalid)
	}
	var out []HistoryEntry
	for !at.IsZero() && len(out) < limit {
		c, err := store.Commit(ctx, at)
		if err != nil {
			return out, err
		}
		h := HistoryEntry{Commit: at.String(), Message: strings.TrimSpace(c.Message), Time: c.Committer.When}
		at = dkstore.CommitID{}
		if len(c.Parents) > 0 {
			at = c.Parents[0]
			h.Parent = at.String()
		}
		out = append(out, h)
	}
	return out, nil
}

// RecordedState is a target's state as its status branch recorded it.
type RecordedState struct {
	Commit   string // the status branch's commit
	Source   string // the head commit the jobs tested
	Metadata string // the metadata commit they were evaluated against
	Jobs     []JobSummary
}

// StateAt reads the state that commit (of target id's status branch)
// recorded. A commit of another target's branch is refused: the history
// shown is the target's.
func (e *Engine) StateAt(ctx context.Context, id TargetID, commit string) (RecordedState, error) {
	store, err := e.currentStore()
	if err != nil {
		return RecordedState{}, err
	}
	cid, err := dkstore.ParseCommitID(commit)
	if err != nil {
		return RecordedState{}, fmt.Errorf("ci: state of %s: bad commit %q: %w", id, commit, dkstore.ErrInvalid)
	}
	c, err := store.Commit(ctx, cid)
	if err != nil {
		return RecordedState{}, err
	}
	tree, err := store.Tree(ctx, c.Tree)
	if err != nil {
		return RecordedState{}, err
	}
	st := RecordedState{Commit: cid.String()}
	src, err := tree.ReadFile(ctx, "source-commit")
	if err != nil {
		return RecordedState{}, fmt.Errorf("ci: %s is not a state of %s: %w", commit, id, dkstore.ErrNotExist)
	}
	st.Source = strings.TrimSpace(string(src))
	if b, err := tree.ReadFile(ctx, "metadata-commit"); err == nil {
		st.Metadata = strings.TrimSpace(string(b))
	}
	if !e.onBranch(ctx, store, statusBranch(id), cid) {
		return RecordedState{}, fmt.Errorf("ci: %s is not a state of %s: %w", commit, id, dkstore.ErrNotExist)
	}
	ents, err := tree.ReadDir(ctx, "job")
	if err != nil && !errors.Is(err, dkstore.ErrNotExist) {
		return RecordedState{}, err
	}
	for _, ent := range ents {
		b, err := tree.ReadFile(ctx, dkstore.Path("job/"+ent.Name+"/output"))
		if err != nil {
			continue
		}
		var out JobOutput
		if err := json.Unmarshal(b, &out); err != nil {
			continue
		}
		j := JobSummary{Name: ent.Name, State: parseState(out.Result.Status), Descr: out.Result.Descr}
		j.Logs, _ = ParseLogs(out.Logs)
		st.Jobs = append(st.Jobs, j)
	}
	sort.Slice(st.Jobs, func(a, b int) bool { return st.Jobs[a].Name < st.Jobs[b].Name })
	return st, nil
}

// onBranch reports whether commit is on branch's first-parent history
// (bounded: the 10,000 most recent states).
func (e *Engine) onBranch(ctx context.Context, store dkstore.Store, branch dkstore.BranchName, commit dkstore.CommitID) bool {
	br, err := store.Branch(branch)
	if err != nil {
		return false
	}
	at, err := br.Head(ctx)
	for n := 0; err == nil && !at.IsZero() && n < 10000; n++ {
		if at == commit {
			return true
		}
		var c dkstore.Commit
		if c, err = store.Commit(ctx, at); err != nil || len(c.Parents) == 0 {
			return false
		}
		at = c.Parents[0]
	}
	return false
}

// ParseLogs decodes the logs of a job's recorded output (JobOutput.Logs):
// null, one log, or pairs of them. A live log ({"branch"}) is returned
// with Live set.
func ParseLogs(raw json.RawMessage) ([]term.Log, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	if strings.HasPrefix(s, "[") {
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return nil, err
		}
		var out []term.Log
		for _, p := range parts {
			ls, err := ParseLogs(p)
			if err != nil {
				return nil, err
			}
			out = append(out, ls...)
		}
		return out, nil
	}
	var l savedLogJSON
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	return []term.Log{{Title: l.Title, Branch: l.Branch, Commit: l.Commit, Failed: l.Failed, Live: l.Commit == ""}}, nil
}

// ArchivedBuild is a recorded build of a commit, from the commit index: a
// target that had the commit as its head, and the state it recorded last.
type ArchivedBuild struct {
	Target TargetID
	State  string // the commit of the target's status branch
}

// Archived lists the recorded builds of commit sha of repo, from the
// commit index (reference 6.4), sorted by target.
func (e *Engine) Archived(ctx context.Context, repo Repo, sha string) ([]ArchivedBuild, error) {
	store, err := e.currentStore()
	if err != nil {
		return nil, err
	}
	tree, head, err := bridge.Snapshot(ctx, store, CommitIndexBranch)
	if err != nil || head.IsZero() {
		return nil, err
	}
	dir, err := dkstore.PathOf(repo.User, repo.Name, "commit", sha)
	if err != nil {
		return nil, err
	}
	ents, err := tree.ReadDir(ctx, dir)
	if errors.Is(err, dkstore.ErrNotExist) || errors.Is(err, dkstore.ErrNotDir) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ArchivedBuild
	for _, ent := range ents {
		id, ok := parseIndexName(repo, ent.Name)
		if !ok {
			continue
		}
		b, err := tree.ReadFile(ctx, dir.Join(ent.Name))
		if err != nil {
			continue
		}
		out = append(out, ArchivedBuild{Target: id, State: strings.TrimSpace(string(b))})
	}
	sort.Slice(out, func(a, b int) bool { return lessID(out[a].Target, out[b].Target) })
	return out, nil
}

// parseIndexName reverses indexName: "pr-<n>" or "ref-<first>-<rest>".
func parseIndexName(repo Repo, name string) (TargetID, bool) {
	if n, ok := strings.CutPrefix(name, "pr-"); ok {
		var pr int
		if _, err := fmt.Sscanf(n, "%d", &pr); err != nil || pr <= 0 || fmt.Sprint(pr) != n {
			return TargetID{}, false
		}
		return TargetID{Repo: repo, PR: pr}, true
	}
	rest, ok := strings.CutPrefix(name, "ref-")
	if !ok {
		return TargetID{}, false
	}
	first, tail, ok := strings.Cut(rest, "-")
	if !ok {
		return TargetID{}, false
	}
	f, ok1 := unescapeName(first)
	t, ok2 := unescapeName(tail)
	if !ok1 || !ok2 {
		return TargetID{}, false
	}
	return TargetID{Repo: repo, Ref: f + "/" + t}, true
}

// unescapeName reverses EscapeName.
func unescapeName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 > len(s) {
			return "", false
		}
		var c byte
		if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &c); err != nil {
			return "", false
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), true
}

// SavedLog reads the log that commit of result branch branch saved (the
// "log" file of a step's result).
func (e *Engine) SavedLog(ctx context.Context, branch, commit string) ([]byte, error) {
	tree, err := e.savedLogTree(ctx, branch, commit)
	if err != nil {
		return nil, err
	}
	return tree.ReadFile(ctx, "log")
}

// SavedLogSize returns the size of the log that commit of result branch
// branch saved, without reading it: an error where SavedLog would fail
// to find it. The web UI starts a log's page with it, before the log is
// read.
func (e *Engine) SavedLogSize(ctx context.Context, branch, commit string) (int64, error) {
	tree, err := e.savedLogTree(ctx, branch, commit)
	if err != nil {
		return 0, err
	}
	st, err := tree.Stat(ctx, "log")
	if err != nil {
		return 0, err
	}
	if st.Kind == dkstore.KindDir {
		return 0, fmt.Errorf("ci: the log of %s at %s is a directory: %w", branch, commit, dkstore.ErrNotExist)
	}
	return st.Size, nil
}

// savedLogTree is the tree of commit of a result branch.
func (e *Engine) savedLogTree(ctx context.Context, branch, commit string) (dkstore.Tree, error) {
	store, err := e.currentStore()
	if err != nil {
		return nil, err
	}
	if err := dkstore.BranchName(branch).Valid(); err != nil {
		return nil, err
	}
	cid, err := dkstore.ParseCommitID(commit)
	if err != nil {
		return nil, fmt.Errorf("ci: bad commit %q: %w", commit, dkstore.ErrInvalid)
	}
	c, err := store.Commit(ctx, cid)
	if err != nil {
		return nil, err
	}
	return store.Tree(ctx, c.Tree)
}

// Wait is one link of the chain of what a job waits for (Explain).
type Wait struct {
	Depth  int    // 0 for the job, 1 for what it waits for, ...
	What   string // "job all", "step Build Dockerfile of 1234567", `pool "docker"`, "status ci/x of me/lib@1234567"
	Reason string // why it waits, or the state it is in
	Branch string // a step's result branch (its live log)
	// Pool is the state of the pool a step waits for; Position is the
	// step's place in its queue (1 is next), 0 if not found there.
	Pool     *pool.Status
	Position int
	// Target is the target a status read belongs to, if it is one of the
	// CI's (zero otherwise).
	Target TargetID
}

// Explain says why a job of target id is pending, as a chain: the job's
// own reason, then each step it waits for with its live log's reason, the
// pools those wait for (holders and queue), and the statuses of other
// commits it reads. For a job that is not pending it says its state (for
// a cancelled job, why). ok is false for an unknown job.
func (e *Engine) Explain(id TargetID, job string) (chain []Wait, ok bool) {
	j, ok := e.jobSummary(id, job)
	if !ok {
		return nil, false
	}
	state := j.State.String()
	if j.New {
		state = "pending (new)"
	}
	chain = append(chain, Wait{What: "job " + job, Reason: state + ": " + j.Descr})
	if j.State != Pending {
		return chain, true
	}
	pools := map[string]*pool.Pool{}
	for _, p := range e.cfg.Pools {
		pools[p.Reason()] = p
	}
	// A step several terms of the job share, a status read in several
	// files, is one link of the chain.
	seen := map[string]bool{}
	for _, l := range j.Logs {
		if !l.Live || l.Branch == "" || seen["step "+l.Branch] {
			continue
		}
		seen["step "+l.Branch] = true
		w := Wait{Depth: 1, What: "step " + l.Title, Branch: l.Branch, Reason: "running"}
		// A running step's log gives its title as its reason: say
		// "running", not the step's name again.
		if lg, ok := e.opts.Logs.Get(l.Branch); ok && lg.Reason() != l.Title && lg.Reason() != lg.Title() {
			w.Reason = lg.Reason()
		}
		chain = append(chain, w)
		if p := pools[w.Reason]; p != nil {
			st := p.Status()
			pw := Wait{Depth: 2, What: fmt.Sprintf("pool %q", p.Name()), Pool: &st,
				Reason: fmt.Sprintf("%d of %d in use, %d queued", len(st.Active), st.Capacity, len(st.Queued))}
			for i, u := range st.Queued {
				if u.Label == l.Title {
					pw.Position = i + 1
					break
				}
			}
			chain = append(chain, pw)
		}
	}
	for _, p := range j.Reads {
		loc, ok := bridge.Locate(dkstore.Path(p))
		if !ok || loc.Kind != bridge.KindStatus {
			continue
		}
		if loc.Repo == id.Repo && loc.Context == StatusContextPrefix+job {
			continue // its own status
		}
		w := Wait{Depth: 1, What: fmt.Sprintf("status %s of %s@%s", loc.Context, loc.Repo, short(loc.Commit)), Reason: "not set"}
		if seen[w.What] {
			continue
		}
		seen[w.What] = true
		for _, t := range e.Targets() {
			if t.Target.ID.Repo == loc.Repo && t.Target.Head == loc.Commit {
				w.Target = t.Target.ID
				if name, ok := strings.CutPrefix(loc.Context, StatusContextPrefix); ok {
					for _, oj := range t.Jobs {
						if oj.Name == name {
							w.Reason = oj.State.String() + ": " + oj.Descr
						}
					}
				}
				break
			}
		}
		chain = append(chain, w)
	}
	return chain, true
}

// RebuildFailed asks for every failed step of the failed jobs of target
// id to be built again (the original's issue #494); it returns how many
// were. Steps that no job uses any more are skipped.
func (e *Engine) RebuildFailed(ctx context.Context, id TargetID) (int, error) {
	ts, ok := e.Target(id)
	if !ok {
		return 0, fmt.Errorf("rebuild: no target %s", id)
	}
	n := 0
	seen := map[string]bool{}
	for _, j := range ts.Jobs {
		if !j.State.Failed() {
			continue
		}
		for _, l := range j.Logs {
			if !l.Failed || l.Live || l.Branch == "" || seen[l.Branch] {
				continue
			}
			seen[l.Branch] = true
			ok, err := e.Rebuild(ctx, l.Branch)
			if errors.Is(err, ErrNoStep) {
				continue
			}
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
	return n, nil
}

// RebuildFailedProject does RebuildFailed for every target of repo; it
// returns how many steps were marked for rebuilding.
func (e *Engine) RebuildFailedProject(ctx context.Context, repo Repo) (int, error) {
	n := 0
	for _, t := range e.Targets() {
		if t.Target.ID.Repo != repo {
			continue
		}
		k, err := e.RebuildFailed(ctx, t.Target.ID)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Running reports whether Run is running: the engine is connected to its
// store (the web UI warns when it is not).
func (e *Engine) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running
}

// LatestLog returns the commit of result branch branch's head if it has
// a saved log ("" if it has none): where a finished step's log is.
func (e *Engine) LatestLog(ctx context.Context, branch string) (string, error) {
	store, err := e.currentStore()
	if err != nil {
		return "", err
	}
	br, err := store.Branch(dkstore.BranchName(branch))
	if err != nil {
		return "", err
	}
	head, err := br.Head(ctx)
	if err != nil || head.IsZero() {
		return "", err
	}
	c, err := store.Commit(ctx, head)
	if err != nil {
		return "", err
	}
	tree, err := store.Tree(ctx, c.Tree)
	if err != nil {
		return "", err
	}
	if _, err := tree.Stat(ctx, "log"); err != nil {
		return "", nil
	}
	return head.String(), nil
}
