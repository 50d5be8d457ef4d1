package ci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

// statusKey names one status the CI writes.
type statusKey struct {
	repo   Repo
	commit string
	job    string
}

type statusValue struct {
	state, descr, url string
}

type write struct {
	value  statusValue
	target TargetID // whose job wrote it (for messages and logs); zero for a sweep
}

// name names the write's target in commit messages.
func (w write) name(k statusKey) string {
	if w.target == (TargetID{}) {
		return k.repo.String() + "/commit/" + short(k.commit)
	}
	return targetName(w.target)
}

// statusWriter is what the engine knows of the statuses it writes: the
// values the store holds (as last read or written) and the changes queued
// for the next commit, so that only what differs is ever written. It
// belongs to the engine's Run goroutine.
type statusWriter struct {
	branch  dkstore.BranchName
	log     *slog.Logger
	metrics *Metrics
	queued  map[statusKey]write
	written map[statusKey]statusValue
	// shown are the statuses logged by this process (written, or found
	// final in the store already), so that a restarted CI says once what
	// it found done.
	shown map[statusKey]bool
}

func newStatusWriter(branch dkstore.BranchName, log *slog.Logger, m *Metrics) *statusWriter {
	return &statusWriter{branch: branch, log: log, metrics: m, queued: map[statusKey]write{}, written: map[statusKey]statusValue{}, shown: map[statusKey]bool{}}
}

// logName names the status k of w's target in log lines.
func logName(k statusKey, w write) string {
	if w.target != (TargetID{}) {
		return w.target.String() + " (" + short(k.commit) + ")"
	}
	return k.repo.String() + "@" + short(k.commit)
}

// set queues w for k if the store holds something else, and drops a
// queued change that is no longer needed otherwise.
func (s *statusWriter) set(k statusKey, w write) {
	if s.written[k] != w.value {
		s.queued[k] = w
		return
	}
	delete(s.queued, k)
	if !s.shown[k] && w.value.state != "pending" {
		// Found done (a CI restarted on its state): say so once.
		s.shown[k] = true
		s.log.Info(fmt.Sprintf("%s %s: %s %q (already in the store)", logName(k, w), k.job, w.value.state, w.value.descr))
	}
}

// queuedBy returns the target whose job queued a change of k (zero for a
// sweep), if one is queued.
func (s *statusWriter) queuedBy(k statusKey) (TargetID, bool) {
	w, ok := s.queued[k]
	return w.target, ok
}

// know records that the store holds v for k.
func (s *statusWriter) know(k statusKey, v statusValue) { s.written[k] = v }

// load reads status k from the metadata r, unless it is known.
func (s *statusWriter) load(ctx context.Context, r dkstore.Reader, k statusKey) {
	if _, ok := s.written[k]; ok {
		return
	}
	st, ok, err := bridge.ReadStatus(ctx, r, k.repo, k.commit, StatusContextPrefix+k.job)
	if err == nil && ok {
		s.written[k] = statusValue{st.State, st.Description, st.TargetURL}
	}
}

// reread reads status k again from r after the metadata changed there. It
// reports whether someone else changed it: a status not tracked, or read
// back as we wrote it, is not.
func (s *statusWriter) reread(ctx context.Context, r dkstore.Reader, k statusKey) bool {
	was, tracked := s.written[k]
	if !tracked {
		return false
	}
	delete(s.written, k)
	s.load(ctx, r, k)
	return s.written[k] != was
}

// forgetStore drops what is known of the store (it is read again).
func (s *statusWriter) forgetStore() { clear(s.written) }

// dropQueued drops the queued changes.
func (s *statusWriter) dropQueued() { clear(s.queued) }

// idle reports whether nothing is queued.
func (s *statusWriter) idle() bool { return len(s.queued) == 0 }

// forgetUnused drops what is known of the statuses used says no job
// refers to, once they outnumber the jobs (njobs) well.
func (s *statusWriter) forgetUnused(njobs int, used func() map[statusKey]bool) {
	if len(s.written) < 2*njobs+64 && len(s.shown) < 2*njobs+64 {
		return
	}
	keep := used()
	for k := range s.written {
		if !keep[k] {
			delete(s.written, k)
		}
	}
	for k := range s.shown {
		if !keep[k] {
			delete(s.shown, k)
		}
	}
}

// flush writes the queued statuses in one commit of store. It reports
// whether it should be tried again (the store failed).
func (s *statusWriter) flush(ctx context.Context, store dkstore.Store) (retry bool) {
	if len(s.queued) == 0 {
		return false
	}
	keys := make([]statusKey, 0, len(s.queued))
	for k := range s.queued {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		ka, kb := keys[a], keys[b]
		if ka.repo != kb.repo {
			return ka.repo.String() < kb.repo.String()
		}
		if ka.commit != kb.commit {
			return ka.commit < kb.commit
		}
		return ka.job < kb.job
	})
	keys, err := s.commit(ctx, store, keys)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("could not write statuses; will retry", "count", len(keys), "err", err)
			return true
		}
		return false
	}
	for _, k := range keys {
		w := s.queued[k]
		old, had := s.written[k]
		s.written[k] = w.value
		s.shown[k] = true
		if !had || old.state != w.value.state || old.descr != w.value.descr {
			s.log.Info(fmt.Sprintf("%s %s: %s %q", logName(k, w), k.job, w.value.state, w.value.descr))
		}
	}
	if s.metrics != nil {
		s.metrics.statusUpdates.Add(float64(len(keys)))
	}
	clear(s.queued)
	return false
}

// commit writes the statuses keys in one transaction and returns those
// written: a status the store refuses (dkstore.ErrInvalid, before
// anything is written) is dropped and logged rather than holding back
// every other one.
func (s *statusWriter) commit(ctx context.Context, store dkstore.Store, keys []statusKey) ([]statusKey, error) {
	br, err := store.Branch(s.branch)
	if err != nil {
		return keys, err
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return keys, err
	}
	ok := keys[:0]
	for _, k := range keys {
		v := s.queued[k].value
		err := bridge.WriteStatus(ctx, tx, bridge.Status{Repo: k.repo, Commit: k.commit, Context: StatusContextPrefix + k.job,
			State: v.state, Description: v.descr, TargetURL: v.url})
		if errors.Is(err, dkstore.ErrInvalid) {
			s.log.Error("status not written", "err", err)
			delete(s.queued, k)
			continue
		}
		if err != nil {
			tx.Abort(ctx)
			return keys, err
		}
		ok = append(ok, k)
	}
	if len(ok) == 0 {
		tx.Abort(ctx)
		return ok, nil
	}
	if _, err := tx.Commit(ctx, s.message(ok)); err != nil {
		tx.Abort(ctx)
		return ok, err
	}
	return ok, nil
}

// message is the commit message of a status update, as the original's:
// "Set <target>:<job> to <descr>" for one status, "Update N jobs in
// <target>" for several of one target, and "N updates" (N targets)
// followed by a line of that kind per target otherwise. A target is named
// by its metadata directory: "me/p/pr/7", "me/p/ref/heads/master".
func (s *statusWriter) message(keys []statusKey) string {
	byTarget := map[string][]statusKey{}
	var names []string
	for _, k := range keys {
		n := s.queued[k].name(k)
		if byTarget[n] == nil {
			names = append(names, n)
		}
		byTarget[n] = append(byTarget[n], k)
	}
	sort.Strings(names)
	lines := make([]string, len(names))
	for i, n := range names {
		ks := byTarget[n]
		if len(ks) == 1 {
			lines[i] = fmt.Sprintf("Set %s:%s to %s", n, ks[0].job, s.queued[ks[0]].value.descr)
		} else {
			lines[i] = fmt.Sprintf("Update %d jobs in %s", len(ks), n)
		}
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d updates\n\n%s", len(lines), strings.Join(lines, "\n"))
}

// targetName names a target as the original's status messages do.
func targetName(id TargetID) string {
	if id.IsPR() {
		return fmt.Sprintf("%s/pr/%d", id.Repo, id.PR)
	}
	return fmt.Sprintf("%s/ref/%s", id.Repo, id.Ref)
}

// maxDescr is GitHub's limit on a status description, in characters.
const maxDescr = bridge.MaxDescription

// trimDescr makes a description fit GitHub's 140 characters, keeping its
// end: bridge.TrimDescription, which the GitHub bridge applies too.
func trimDescr(s string) string { return bridge.TrimDescription(s) }
