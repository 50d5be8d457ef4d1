package github

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

// Sync brings the store and GitHub into agreement once, as Run does on
// each trigger, and returns when it is done: it reads the branch, applies
// the webhook events received, reads from GitHub what it must (new
// repositories, all of them when a resync is due, what .dirty files
// name), sends GitHub the changes of the store the capabilities allow,
// and commits GitHub's changes and the pruning to the branch (up to five
// times if the branch moves under it in a conflicting way).
func (b *Bridge) Sync(ctx context.Context) error {
	if err := b.start(ctx); err != nil {
		return err
	}
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	start := time.Now()
	var err error
	for attempt := 1; ; attempt++ {
		err = b.syncOnce(ctx)
		if !errors.Is(err, dkstore.ErrConflict) || attempt == 5 {
			break
		}
		b.log.Info("github bridge: the branch changed under the sync; syncing again", "attempt", attempt)
	}
	b.m.syncSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		b.m.syncs.WithLabelValues("error").Inc()
		return err
	}
	b.m.syncs.WithLabelValues("ok").Inc()
	b.synced.Store(true)
	return nil
}

// keep says why a store value stays in the branch although GitHub has
// another.
type keep int

const (
	keepNot     keep = iota
	keepUnknown      // GitHub's value is not known (unreadable, not read yet)
	keepPending      // sending it to GitHub failed on a server or network error: try again
	keepRefused      // GitHub refused it
	keepYielded      // sent already; GitHub holds another writer's value since
)

// plan is what a sync decided for a repository.
type plan struct {
	repo        bridge.Repo
	sr          *storeRepo
	g           *ghRepo
	bs          *baseRepo
	first       bool
	keepStatus  map[ckey]keep
	keepPR      map[int]keep
	pushStatus  []ckey
	pushPR      map[int]prEdit
	pushedValue map[ckey]statusValue // base values of successful pushes
	pushedPR    map[int]pushable
	mu          sync.Mutex
}

func (b *Bridge) syncOnce(ctx context.Context) error {
	if _, err := b.readStore(ctx); err != nil {
		return fmt.Errorf("github: reading %s: %w", b.opts.Branch, err)
	}
	b.emu.Lock()
	events, resync, overflow := b.events, b.resyncDue, b.overflow
	b.events, b.resyncDue, b.overflow = nil, false, false
	b.emu.Unlock()
	for repo := range b.gh {
		if b.dk.repos[repo] == nil {
			delete(b.gh, repo)
			delete(b.base, repo)
		}
	}
	b.applyEvents(events)
	b.pending = false

	var errs []error
	var plans []*plan
	for _, repo := range sortedRepos(b.dk.repos) {
		sr := b.dk.repos[repo]
		g := b.gh[repo]
		if g == nil {
			g = newGHRepo()
			b.gh[repo] = g
		}
		if err := b.fromGitHub(ctx, repo, sr, g, resync || overflow); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
			continue // left as it is until GitHub answers
		}
		bs := b.base[repo]
		if bs == nil {
			if err := b.readStoreCommits(ctx, repo, sr, g); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs = append(errs, fmt.Errorf("github: reading %s: %w", repo, err))
				continue // left as it is until GitHub answers
			}
		}
		p := &plan{repo: repo, sr: sr, g: g, bs: bs, first: bs == nil, keepStatus: map[ckey]keep{}, keepPR: map[int]keep{},
			pushPR: map[int]prEdit{}, pushedValue: map[ckey]statusValue{}, pushedPR: map[int]pushable{}}
		if p.bs == nil {
			p.bs = newBaseRepo()
			if err := b.findSent(ctx, p); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs = append(errs, fmt.Errorf("github: reading %s: %w", repo, err))
				continue
			}
		}
		b.decide(p)
		b.push(ctx, p)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		plans = append(plans, p)
	}

	// Make the store agree, in one commit.
	changes := &storeChanges{}
	targets := map[bridge.Repo]*repoView{}
	for _, p := range plans {
		t := b.target(p)
		targets[p.repo] = t
		diffRepo(p.repo, p.sr, t, changes)
	}
	if !changes.empty() {
		if err := b.commit(ctx, changes); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	for _, p := range plans {
		b.agree(p, targets[p.repo])
		b.gh[p.repo].forget(targets[p.repo].heads())
	}
	return errors.Join(errs...)
}

// fromGitHub reads from GitHub what this sync needs of repo: everything
// when the repository is new to the bridge, a resync is due or it has a
// .dirty file; else the PRs and refs that events or .dirty files named;
// and the statuses of heads not read yet. It registers the webhook.
func (b *Bridge) fromGitHub(ctx context.Context, repo bridge.Repo, sr *storeRepo, g *ghRepo, resync bool) error {
	if !g.imported || resync || sr.dirty {
		if err := b.importRepo(ctx, repo, g); err != nil {
			return fmt.Errorf("github: reading %s: %w", repo, err)
		}
	} else {
		prs := maps.Clone(g.rereadPRs)
		maps.Copy(prs, sr.dirtyPRs)
		refs := maps.Clone(g.rereadRefs)
		maps.Copy(refs, sr.dirtyRefs)
		if err := b.reread(ctx, repo, g, sortedKeys(prs), sortedKeys(refs)); err != nil {
			return fmt.Errorf("github: reading %s: %w", repo, err)
		}
	}
	if err := b.readStatuses(ctx, repo, g); err != nil {
		b.log.Warn("github bridge: reading statuses; the store keeps its own for now", "repo", repo.String(), "err", err)
		b.pending = true
	}
	if w := b.opts.Webhook; w != nil && !g.hooked && b.caps.Check(Write, Webhook) {
		if err := b.api.ensureHook(ctx, repo, w.URL, w.Secret); err != nil {
			b.log.Error("github bridge: registering the webhook", "repo", repo.String(), "url", w.URL, "err", err)
			b.pending = true
		} else {
			g.hooked = true
			b.log.Info("github bridge: webhook registered", "repo", repo.String(), "url", w.URL)
		}
	}
	return nil
}

// readStoreCommits reads, before the first sync of repo decides
// anything, GitHub's statuses of the commits in the store that are not
// heads and hold statuses the bridge would send (capability x): a
// restarted bridge then sends only what GitHub lacks, not the statuses of
// old commits it sent before it stopped.
func (b *Bridge) readStoreCommits(ctx context.Context, repo bridge.Repo, sr *storeRepo, g *ghRepo) error {
	if !b.caps.Check(Read, Commit) {
		return nil
	}
	todo := map[string]bool{}
	for k := range sr.statuses {
		if !g.known[k.commit] && b.caps.Check(Excl, Status(k.context)) && b.caps.Check(Read, Status(k.context)) {
			todo[k.commit] = true
		}
	}
	shas := sortedKeys(todo)
	var mu sync.Mutex
	return forEach(ctx, b.opts.Parallel, len(shas), func(ctx context.Context, i int) error {
		sts, err := b.api.combinedStatus(ctx, repo, shas[i])
		if err != nil {
			return err
		}
		mu.Lock()
		g.setStatuses(shas[i], b.readable(repo, sts))
		mu.Unlock()
		return nil
	})
}

// findSent finds, at the first sync of a repository, the store's
// statuses the bridge may send that GitHub holds another value of, but
// had before: sent by this bridge before it stopped, then replaced by
// another writer (another CI's bridge, a person). They count as sent,
// and are not sent again, neither at once (with x, the store wins at
// start-up) nor when the store's writer puts them back after GitHub's
// value came in (with w): a restart changes nothing visible on GitHub.
func (b *Bridge) findSent(ctx context.Context, p *plan) error {
	if !b.caps.Check(Read, Commit) {
		return nil
	}
	want := map[string]map[string]statusValue{}
	for k, v := range p.sr.statuses {
		d := v.norm()
		gv, gok := p.g.statuses[k]
		if !p.g.known[k.commit] || !gok || gv == d || !b.caps.Check(Write, Status(k.context)) || !b.caps.Check(Read, Status(k.context)) {
			continue
		}
		if want[k.commit] == nil {
			want[k.commit] = map[string]statusValue{}
		}
		want[k.commit][k.context] = d
	}
	shas := sortedKeys(want)
	var mu sync.Mutex
	return forEach(ctx, b.opts.Parallel, len(shas), func(ctx context.Context, i int) error {
		found, err := b.api.sentBefore(ctx, p.repo, shas[i], want[shas[i]])
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for c := range found {
			p.bs.sent[ckey{shas[i], c}] = want[shas[i]][c]
		}
		return nil
	})
}

// decide compares the store with GitHub and with what they last agreed
// on, and plans: for what the store changed since (or, on the first sync
// of the repository, what the capabilities give x for) and the
// capabilities let it write, a change of GitHub; for the rest, GitHub
// wins.
func (b *Bridge) decide(p *plan) {
	sr, g, bs := p.sr, p.g, p.bs
	heads := g.heads()
	readCommits := b.caps.Check(Read, Commit)
	for _, k := range sortedStatusKeys(sr.statuses) {
		d := sr.statuses[k].norm()
		known := readCommits && b.caps.Check(Read, Status(k.context)) && g.known[k.commit]
		if !known && heads[k.commit] && readCommits && b.caps.Check(Read, Status(k.context)) {
			p.keepStatus[k] = keepUnknown // a head's statuses not read yet
			continue
		}
		gv, gok := g.statuses[k]
		if known && gok && gv == d {
			continue
		}
		if rv, ok := bs.refusedStatus[k]; ok {
			if rv == d {
				p.keepStatus[k] = keepRefused
				continue
			}
			delete(bs.refusedStatus, k)
		}
		var changed bool
		if p.first {
			changed = b.caps.Check(Excl, Status(k.context))
		} else {
			bv, bok := bs.statuses[k]
			changed = !bok || bv != d
		}
		sv, sent := bs.sent[k]
		switch {
		case changed && b.caps.Check(Write, Status(k.context)) && sent && sv == d:
			// The store says again what the bridge sent: another
			// writer changed it on GitHub since (and the store's
			// writer, a CI, put its value back). Not fighting it.
			p.keepStatus[k] = keepYielded
			if yv, ok := bs.yielded[k]; gok && (!ok || yv != gv) {
				bs.yielded[k] = gv
				b.log.Info("github bridge: another writer changed a status this bridge sent; not sending it again", "repo", p.repo.String(),
					"commit", short(k.commit), "context", contextName(k.context), "github", gv.state, "store", d.state)
			}
		case changed && b.caps.Check(Write, Status(k.context)):
			p.pushStatus = append(p.pushStatus, k)
			p.keepStatus[k] = keepPending
		case !known && heads[k.commit]:
			p.keepStatus[k] = keepUnknown
		}
	}
	if !b.caps.Check(Read, PR) {
		for n := range sr.prs {
			p.keepPR[n] = keepUnknown
		}
	}
	for _, n := range sortedKeys(sr.prs) {
		d := pushableOf(sr.prs[n])
		gv, gok := g.prs[n]
		if gok && pushableOf(gv) == d {
			continue
		}
		if rv, ok := bs.refusedPR[n]; ok {
			if rv == d {
				p.keepPR[n] = keepRefused
				continue
			}
			delete(bs.refusedPR, n)
		}
		bp, bok := bs.prs[n]
		changed := func(df, bf string) bool {
			if p.first {
				return b.caps.Check(Excl, PR)
			}
			return !bok || df != bf
		}
		if !b.caps.Check(Write, PR) {
			continue
		}
		var e prEdit
		gp := pushableOf(gv)
		switch {
		case gok:
			if d.title != gp.title && changed(d.title, bp.title) {
				e.title = &d.title
			}
			if d.state != gp.state && changed(d.state, bp.state) {
				e.state = &d.state
			}
			if d.base != gp.base && changed(d.base, bp.base) && d.base != "" {
				e.base = &d.base
			}
		case d.state == bridge.PROpen && b.caps.Check(Read, PR) && changed(d.state, bp.state):
			// Not open on GitHub, open in the store since: reopen it.
			e.state = &d.state
			if (!bok || d.title != bp.title) && d.title != "" {
				e.title = &d.title
			}
		}
		if e != (prEdit{}) {
			p.pushPR[n] = e
			p.keepPR[n] = keepPending
		}
	}
}

// push sends the planned changes to GitHub, at most Options.Parallel at
// once.
func (b *Bridge) push(ctx context.Context, p *plan) {
	sr, g, repo := p.sr, p.g, p.repo
	forEach(ctx, b.opts.Parallel, len(p.pushStatus), func(ctx context.Context, i int) error {
		k := p.pushStatus[i]
		d := sr.statuses[k].norm()
		id, err := b.api.createStatus(ctx, repo, k.commit, k.context, d)
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case err == nil:
			b.m.pushes.WithLabelValues("status", "ok").Inc()
			b.log.Info("github bridge: status set", "repo", repo.String(), "commit", short(k.commit), "context", contextName(k.context), "state", d.state)
			p.pushedValue[k] = d
			p.bs.sent[k] = d
			if g.known[k.commit] && b.caps.Check(Read, Status(k.context)) {
				g.statuses[k], g.ids[k] = d, max(id, g.ids[k])
				delete(p.keepStatus, k)
			} else {
				p.keepStatus[k] = keepUnknown
			}
		case isPermanent(err):
			b.m.pushes.WithLabelValues("status", "refused").Inc()
			b.log.Error("github bridge: GitHub refused a status; the store keeps it", "repo", repo.String(), "commit", short(k.commit), "context", contextName(k.context), "err", err)
			p.bs.refusedStatus[k] = d
			p.keepStatus[k] = keepRefused
		default:
			b.m.pushes.WithLabelValues("status", "retry").Inc()
			b.log.Warn("github bridge: setting a status failed; will try again", "repo", repo.String(), "commit", short(k.commit), "context", contextName(k.context), "err", err)
			b.pending = true
		}
		return nil
	})
	nums := sortedKeys(p.pushPR)
	forEach(ctx, b.opts.Parallel, len(nums), func(ctx context.Context, i int) error {
		n := nums[i]
		e := p.pushPR[n]
		d := sr.prs[n]
		out, err := b.api.editPR(ctx, repo, n, e)
		var pr bridge.PR
		var ok bool
		if err == nil && out.GetState() == "open" {
			p.mu.Lock()
			old, had := g.prs[n]
			p.mu.Unlock()
			if had {
				pr, ok = prOf(repo, out, old.Comments), validPR(prOf(repo, out, nil))
				if ok && len(pr.Comments) > 0 {
					pr.Comments[0].Body = out.GetBody()
				}
			} else {
				pr, ok, err = b.prWithComments(ctx, repo, out)
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case err == nil:
			b.m.pushes.WithLabelValues("pr", "ok").Inc()
			b.log.Info("github bridge: PR edited", "repo", repo.String(), "pr", n, "fields", e.String())
			p.pushedPR[n] = pushableOf(d)
			delete(p.keepPR, n)
			if ok {
				g.prs[n] = pr
			} else {
				delete(g.prs, n)
			}
		case isPermanent(err):
			b.m.pushes.WithLabelValues("pr", "refused").Inc()
			b.log.Error("github bridge: GitHub refused a PR edit; the store keeps it", "repo", repo.String(), "pr", n, "err", err)
			p.bs.refusedPR[n] = pushableOf(d)
			p.keepPR[n] = keepRefused
		default:
			b.m.pushes.WithLabelValues("pr", "retry").Inc()
			b.log.Warn("github bridge: editing a PR failed; will try again", "repo", repo.String(), "pr", n, "err", err)
			b.pending = true
		}
		return nil
	})
	if len(p.pushPR) > 0 {
		// A reopened PR's head may be new.
		if err := b.readStatuses(ctx, repo, g); err != nil {
			b.pending = true
		}
	}
}

func (e prEdit) String() string {
	var fs []string
	if e.title != nil {
		fs = append(fs, "title")
	}
	if e.state != nil {
		fs = append(fs, "state")
	}
	if e.base != nil {
		fs = append(fs, "base")
	}
	return strings.Join(fs, ",")
}

// target is what the store should hold for the repository: GitHub's
// state, but for the store values kept, pruned of closed PRs and of the
// commits that are no head.
func (b *Bridge) target(p *plan) *repoView {
	sr, g := p.sr, p.g
	t := newRepoView()
	maps.Copy(t.prs, g.prs)
	for n, why := range p.keepPR {
		d, ok := sr.prs[n]
		if !ok {
			continue
		}
		if gv, gok := g.prs[n]; gok && why != keepUnknown {
			gv.Title, gv.State, gv.Base = d.Title, d.State, d.Base
			t.prs[n] = gv
		} else {
			t.prs[n] = d
		}
	}
	for n, pr := range t.prs {
		if pr.State != bridge.PROpen && p.keepPR[n] != keepPending {
			delete(t.prs, n) // pruned
		}
	}
	if b.caps.Check(Read, Ref) {
		maps.Copy(t.refs, g.refs)
	} else {
		maps.Copy(t.refs, sr.refs)
	}
	heads := t.heads()
	for k, v := range g.statuses {
		if heads[k.commit] && g.known[k.commit] {
			t.statuses[k] = v
		}
	}
	for k, why := range p.keepStatus {
		if why == keepNot {
			continue
		}
		if d, ok := sr.statuses[k]; ok && (heads[k.commit] || why == keepPending) {
			t.statuses[k] = d
		}
	}
	// The statuses of heads not read yet stay as they are.
	for k, d := range sr.statuses {
		if heads[k.commit] && !g.known[k.commit] {
			if _, ok := t.statuses[k]; !ok {
				t.statuses[k] = d
			}
		}
	}
	return t
}

// agree records, after the store was made to hold t, what the store and
// GitHub now agree on.
func (b *Bridge) agree(p *plan, t *repoView) {
	bs := p.bs
	statuses := map[ckey]statusValue{}
	for k, v := range t.statuses {
		if p.keepStatus[k] == keepNot {
			statuses[k] = v.norm()
		} else if old, ok := bs.statuses[k]; ok {
			statuses[k] = old
		}
	}
	for k, v := range p.pushedValue {
		if _, ok := t.statuses[k]; ok {
			statuses[k] = v
		}
	}
	prs := map[int]pushable{}
	for n, pr := range t.prs {
		if p.keepPR[n] == keepNot {
			prs[n] = pushableOf(pr)
		} else if old, ok := bs.prs[n]; ok {
			prs[n] = old
		}
	}
	for n, v := range p.pushedPR {
		prs[n] = v
	}
	bs.statuses, bs.prs = statuses, prs
	for _, m := range []map[ckey]statusValue{bs.refusedStatus, bs.sent, bs.yielded} {
		for k := range m {
			if _, ok := t.statuses[k]; !ok {
				delete(m, k)
			}
		}
	}
	for n := range bs.refusedPR {
		if _, ok := t.prs[n]; !ok {
			delete(bs.refusedPR, n)
		}
	}
	b.base[p.repo] = bs
}

// commit writes the changes in one commit on top of the head read.
func (b *Bridge) commit(ctx context.Context, c *storeChanges) error {
	br, err := b.store.Branch(b.opts.Branch)
	if err != nil {
		return err
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{From: b.dk.head})
	if err != nil {
		return fmt.Errorf("github: %w", err)
	}
	defer tx.Abort(context.WithoutCancel(ctx))
	for _, w := range c.writes {
		if err := w(ctx, tx); err != nil {
			return fmt.Errorf("github: writing %s: %w", b.opts.Branch, err)
		}
	}
	msg := c.message()
	if _, err := tx.Commit(ctx, msg); err != nil {
		return fmt.Errorf("github: committing to %s: %w", b.opts.Branch, err)
	}
	first, _, _ := strings.Cut(msg, "\n")
	b.log.Info("github bridge: "+first, "branch", b.opts.Branch)
	return nil
}

// applyEvents records what webhook events say: a status (newer than the
// one known) at once; a PR or ref that differs from what the bridge knows
// is read again (so that events lost, repeated or out of order cannot
// leave it wrong).
func (b *Bridge) applyEvents(events []event) {
	for _, e := range events {
		g := b.gh[e.repo]
		if g == nil || !g.imported {
			continue // its import reads everything
		}
		switch e.kind {
		case eventPR:
			old, ok := g.prs[e.pr.Number]
			switch {
			case e.pr.State != bridge.PROpen && !ok:
			case e.pr.State == bridge.PROpen && ok && old.Head == e.pr.Head && pushableOf(old) == pushableOf(e.pr) &&
				old.Owner == e.pr.Owner && len(old.Comments) > 0 && old.Comments[0].Body == e.body:
			default:
				g.rereadPRs[e.pr.Number] = true
			}
		case eventRef:
			head, ok := g.refs[e.ref]
			switch {
			case e.deleted && !ok:
			case !e.deleted && e.head != "" && ok && head == e.head:
			default:
				g.rereadRefs[e.ref] = true
			}
		case eventStatus:
			if !g.known[e.status.commit] || !b.caps.Check(Read, Status(e.status.context)) || !bridge.ValidContext(e.status.context) {
				continue
			}
			if e.id > g.ids[e.status] {
				g.statuses[e.status], g.ids[e.status] = e.value, e.id
			}
		}
	}
}
