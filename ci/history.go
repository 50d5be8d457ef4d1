package ci

import (
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

type logJSON struct {
	Title  string `json:"title,omitempty"`
	Branch string `json:"branch"`
	Commit string `json:"commit,omitempty"`
	Failed bool   `json:"failed,omitempty"`
}

func outputJSON(r term.Result[string]) string {
	var out JobOutput
	out.Result.Status = r.State.String()
	out.Result.Descr = r.Msg
	var logs []logJSON
	for _, l := range r.Logs {
		if l.Branch == "" {
			continue
		}
		if l.Live {
			logs = append(logs, logJSON{Branch: l.Branch})
		} else {
			logs = append(logs, logJSON{Title: l.Title, Branch: l.Branch, Commit: l.Commit, Failed: l.Failed})
		}
	}
	switch len(logs) {
	case 0:
		out.Logs = json.RawMessage("null")
	case 1:
		out.Logs, _ = json.Marshal(logs[0])
	default:
		out.Logs, _ = json.Marshal(logs)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// loadHistory reads the head of a target's status branch.
func (e *Engine) loadHistory(ctx context.Context, id TargetID) (*history, error) {
	h := &history{outputs: map[string]string{}}
	br, err := e.store.Branch(dkstore.BranchName(statusBranch(id)))
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

// flushHistory records the targets whose jobs' outputs changed on their
// status branches, and indexes the new commits in the commit index.
func (e *Engine) flushHistory(ctx context.Context) {
	var ts []*target
	for t := range e.hist {
		if e.targets[t.ID] != t {
			delete(e.hist, t) // removed meanwhile
			continue
		}
		ts = append(ts, t)
	}
	sort.Slice(ts, func(a, b int) bool { return lessID(ts[a].ID, ts[b].ID) })
	type indexed struct {
		t      *target
		commit dkstore.CommitID
	}
	var index []indexed
	for _, t := range ts {
		ready := true
		for _, j := range t.jobs {
			ready = ready && j.done
		}
		if !ready {
			continue
		}
		id, changed, err := e.record(ctx, t)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("could not record history; will retry", "target", t.ID.String(), "err", err)
				e.retry = true
			}
			continue
		}
		delete(e.hist, t)
		if changed {
			index = append(index, indexed{t, id})
		}
	}
	if len(index) == 0 {
		return
	}
	err := e.commitTo(ctx, CommitIndexBranch, func(tx dkstore.Transaction) (string, error) {
		for _, ix := range index {
			p, err := dkstore.PathOf(ix.t.ID.Repo.User, ix.t.ID.Repo.Name, "commit", ix.t.Head, indexName(ix.t.ID))
			if err != nil {
				return "", err
			}
			if err := tx.WriteFile(ctx, p, []byte(ix.commit.String()+"\n"), dkstore.KindFile); err != nil {
				return "", err
			}
		}
		if len(index) == 1 {
			return "Index " + index[0].t.ID.String(), nil
		}
		return fmt.Sprintf("Index %d targets", len(index)), nil
	})
	if err != nil && ctx.Err() == nil {
		e.log.Warn("could not update the commit index", "err", err)
	}
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
	outputs := map[string]string{}
	var changedJobs, removed []string
	for name, j := range t.jobs {
		outputs[name] = outputJSON(j.result)
		if h.outputs[name] != outputs[name] {
			changedJobs = append(changedJobs, name)
		}
	}
	for name := range h.outputs {
		if _, ok := outputs[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(changedJobs)
	sort.Strings(removed)
	if len(changedJobs) == 0 && len(removed) == 0 && h.source == t.Head {
		return h.head, false, nil
	}
	var msg string
	switch {
	case len(changedJobs) == 1 && len(removed) == 0:
		msg = changedJobs[0] + " -> " + t.jobs[changedJobs[0]].result.Msg
	case len(changedJobs) > 1:
		msg = fmt.Sprintf("%d updates (%s)", len(changedJobs), strings.Join(changedJobs, ", "))
	case len(removed) > 0 && len(changedJobs) == 0:
		msg = "Remove old job " + strings.Join(removed, ", ")
	default:
		msg = "Update"
	}
	var id dkstore.CommitID
	err := e.commitTo(ctx, dkstore.BranchName(statusBranch(t.ID)), func(tx dkstore.Transaction) (string, error) {
		if err := tx.WriteFile(ctx, "source-commit", []byte(t.Head+"\n"), dkstore.KindFile); err != nil {
			return "", err
		}
		if err := tx.WriteFile(ctx, "metadata-commit", []byte(e.snap.id.String()+"\n"), dkstore.KindFile); err != nil {
			return "", err
		}
		for _, name := range removed {
			if err := tx.Remove(ctx, dkstore.Path("job/"+name)); err != nil && !errors.Is(err, dkstore.ErrNotExist) {
				return "", err
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
