package ci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// CommitIndexBranch is the branch that maps a source commit to the status
// branch commits that recorded its builds (reference 6.4).
const CommitIndexBranch dkstore.BranchName = "commit-index"

// history is what a target's status branch holds at its head.
type history struct {
	head    dkstore.CommitID
	source  string
	outputs map[string]string // job name -> output JSON
}

// JobOutput is the content of a status branch's job/<name>/output file.
type JobOutput struct {
	Result struct {
		Status string `json:"status"`
		Descr  string `json:"descr"`
	} `json:"result"`
	// Logs is null, one log ({"branch"} while live; {"title", "branch",
	// "commit", "failed"} once saved) or a list of them.
	Logs json.RawMessage `json:"logs"`
}

// liveLogJSON and savedLogJSON are the two forms of a log in a job's
// output: a live log ({"branch"}) and a saved one (all four fields, as the
// original writes them).
type liveLogJSON struct {
	Branch string `json:"branch"`
}

type savedLogJSON struct {
	Title  string `json:"title"`
	Branch string `json:"branch"`
	Commit string `json:"commit"`
	Failed bool   `json:"failed"`
}

// outputJSON is a job's output file: {"result":{"status","descr"},"logs":L}
// with L null, one log, or [L1,L2] pairs nested to the left for more.
func outputJSON(r term.Result[string]) string {
	var out JobOutput
	out.Result.Status = r.State.String()
	out.Result.Descr = r.Msg
	var logs json.RawMessage
	for _, l := range r.Logs {
		if l.Branch == "" {
			continue
		}
		var one json.RawMessage
		if l.Live {
			one = marshal(liveLogJSON{Branch: l.Branch})
		} else {
			one = marshal(savedLogJSON{Title: l.Title, Branch: l.Branch, Commit: l.Commit, Failed: l.Failed})
		}
		if logs == nil {
			logs = one
		} else {
			logs = marshal([]json.RawMessage{logs, one})
		}
	}
	if logs == nil {
		logs = json.RawMessage("null")
	}
	out.Logs = logs
	return string(marshal(out))
}

// marshal encodes v as compact JSON without HTML escaping (descriptions
// keep their '<', '>' and '&').
func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // our own plain types: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// loadHistory reads the head of a target's status branch.
func (e *Engine) loadHistory(ctx context.Context, id TargetID) (*history, error) {
	h := &history{outputs: map[string]string{}}
	br, err := e.store.Branch(statusBranch(id))
	if err != nil {
		return nil, err
	}
	if h.head, err = br.Head(ctx); err != nil || h.head.IsZero() {
		return h, err
	}
	c, err := e.store.Commit(ctx, h.head)
	if err != nil {
		return nil, err
	}
	tree, err := e.store.Tree(ctx, c.Tree)
	if err != nil {
		return nil, err
	}
	if b, err := tree.ReadFile(ctx, "source-commit"); err == nil {
		h.source = strings.TrimSpace(string(b))
	}
	ents, err := tree.ReadDir(ctx, "job")
	if err != nil && !errors.Is(err, dkstore.ErrNotExist) {
		return nil, err
	}
	for _, ent := range ents {
		if b, err := tree.ReadFile(ctx, dkstore.Path("job/"+ent.Name+"/output")); err == nil {
			h.outputs[ent.Name] = strings.TrimSpace(string(b))
		}
	}
	return h, nil
}

// recorder is what remains to be recorded in Git: the targets whose
// status branches are due a commit, and the commit index entries to
// write. It belongs to the engine's Run goroutine.
type recorder struct {
	due   map[*target]struct{}
	index map[indexEntry]dkstore.CommitID
}

func newRecorder() *recorder {
	return &recorder{due: map[*target]struct{}{}, index: map[indexEntry]dkstore.CommitID{}}
}

// idle reports whether nothing remains to be recorded.
func (r *recorder) idle() bool { return len(r.due) == 0 && len(r.index) == 0 }

// indexEntry is a commit index file to write: the status branch commit
// that recorded a build of commit head by target.
type indexEntry struct {
	repo   Repo
	head   string
	sub    string // indexName of the target
	target string // for the commit message
}

// flushHistory records the targets whose jobs' outputs changed on their
// status branches, and indexes the new commits in the commit index. What
// fails is retried next round, except what can never succeed (a status
// branch name the store refuses), which is logged and dropped.
func (e *Engine) flushHistory(ctx context.Context) {
	var ts []*target
	rec := e.history
	for t := range rec.due {
		if e.targets.get(t.ID) != t {
			delete(rec.due, t) // removed meanwhile
			continue
		}
		ts = append(ts, t)
	}
	sort.Slice(ts, func(a, b int) bool { return lessID(ts[a].ID, ts[b].ID) })
	for _, t := range ts {
		ready := true
		for _, j := range t.jobs {
			ready = ready && j.done
		}
		if !ready {
			continue
		}
		id, changed, err := e.record(ctx, t)
		if errors.Is(err, dkstore.ErrInvalid) {
			e.log.Error("cannot record history", "target", t.ID.String(), "branch", statusBranch(t.ID), "err", err)
			delete(rec.due, t)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("could not record history; will retry", "target", t.ID.String(), "err", err)
				e.retry = true
			}
			continue
		}
		delete(rec.due, t)
		if changed {
			rec.index[indexEntry{t.ID.Repo, t.Head, indexName(t.ID), t.ID.String()}] = id
		}
	}
	e.flushIndex(ctx)
}

// flushIndex writes the pending commit index entries in one commit.
func (e *Engine) flushIndex(ctx context.Context) {
	index := e.history.index
	if len(index) == 0 {
		return
	}
	entries := make([]indexEntry, 0, len(index))
	for ix := range index {
		entries = append(entries, ix)
	}
	sort.Slice(entries, func(a, b int) bool {
		x, y := entries[a], entries[b]
		if x.repo != y.repo {
			return x.repo.String() < y.repo.String()
		}
		if x.head != y.head {
			return x.head < y.head
		}
		return x.sub < y.sub
	})
	err := e.commitTo(ctx, CommitIndexBranch, func(tx dkstore.Transaction) (string, error) {
		for _, ix := range entries {
			p, err := dkstore.PathOf(ix.repo.User, ix.repo.Name, "commit", ix.head, ix.sub)
			if err != nil {
				return "", err
			}
			if err := tx.WriteFile(ctx, p, []byte(index[ix].String()+"\n"), dkstore.KindFile); err != nil {
				return "", err
			}
		}
		if len(entries) == 1 {
			return "Index " + entries[0].target, nil
		}
		return fmt.Sprintf("Index %d targets", len(entries)), nil
	})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("could not update the commit index; will retry", "err", err)
			e.retry = true
		}
		return
	}
	clear(index)
}

// record commits the target's state to its status branch if it changed.
func (e *Engine) record(ctx context.Context, t *target) (dkstore.CommitID, bool, error) {
	if t.history == nil {
		h, err := e.loadHistory(ctx, t.ID)
		if err != nil {
			return dkstore.CommitID{}, false, err
		}
		t.history = h
	}
	h := t.history
	if len(t.jobs) == 0 && h.head.IsZero() {
		// No jobs, and never had any: nothing to record (a project that
		// tests no tags gets no status branch per tag).
		return h.head, false, nil
	}
	outputs := map[string]string{}
	var names []string
	for name, j := range t.jobs {
		outputs[name] = outputJSON(j.result)
		if h.outputs[name] != outputs[name] {
			names = append(names, name)
		}
	}
	for name := range h.outputs {
		if _, ok := outputs[name]; !ok {
			names = append(names, name)
		}
	}
	if len(names) == 0 && h.source == t.Head {
		return h.head, false, nil
	}
	// One line per change, as the original: "<job> -> <descr>" or "Remove
	// old job <job>"; a single change is the message, several are counted.
	sort.Strings(names)
	lines := make([]string, len(names))
	for i, name := range names {
		if j, ok := t.jobs[name]; ok {
			lines[i] = name + " -> " + j.result.Msg
		} else {
			lines[i] = "Remove old job " + name
		}
	}
	var msg string
	switch len(names) {
	case 0:
		msg = "Update" // a new source commit, the same outputs
	case 1:
		msg = lines[0]
	default:
		listed := names
		if len(listed) > 10 {
			listed = append(listed[:10:10], "...")
		}
		msg = fmt.Sprintf("%d updates (%s)\n\n%s", len(names), strings.Join(listed, ", "), strings.Join(lines, "\n"))
	}
	var id dkstore.CommitID
	err := e.commitTo(ctx, statusBranch(t.ID), func(tx dkstore.Transaction) (string, error) {
		if err := tx.WriteFile(ctx, "source-commit", []byte(t.Head+"\n"), dkstore.KindFile); err != nil {
			return "", err
		}
		if err := tx.WriteFile(ctx, "metadata-commit", []byte(e.snap.id.String()+"\n"), dkstore.KindFile); err != nil {
			return "", err
		}
		for _, name := range names {
			if _, ok := outputs[name]; !ok {
				if err := tx.Remove(ctx, dkstore.Path("job/"+name)); err != nil && !errors.Is(err, dkstore.ErrNotExist) {
					return "", err
				}
			}
		}
		for name, out := range outputs {
			if err := tx.WriteFile(ctx, dkstore.Path("job/"+name+"/output"), []byte(out+"\n"), dkstore.KindFile); err != nil {
				return "", err
			}
		}
		return msg, nil
	}, &id)
	if err != nil {
		return dkstore.CommitID{}, false, err
	}
	*h = history{head: id, source: t.Head, outputs: outputs}
	return id, true, nil
}

// commitTo runs fill in a transaction on branch and commits it with the
// message fill returns. The new head goes to *out, if given.
func (e *Engine) commitTo(ctx context.Context, branch dkstore.BranchName, fill func(dkstore.Transaction) (string, error), out ...*dkstore.CommitID) error {
	br, err := e.store.Branch(branch)
	if err != nil {
		return err
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return err
	}
	msg, err := fill(tx)
	if err != nil {
		tx.Abort(ctx)
		return err
	}
	id, err := tx.Commit(ctx, msg)
	if err != nil {
		tx.Abort(ctx)
		return err
	}
	for _, o := range out {
		*o = id
	}
	return nil
}
