package github

import (
	"context"
	"errors"
	"fmt"
	"sync"

	gh "github.com/google/go-github/v60/github"

	"github.com/dkgo/datakit/bridge"
)

// ghRepo is what the bridge knows of a repository on GitHub: its open
// PRs, its refs, and the statuses of their heads.
type ghRepo struct {
	*repoView
	ids      map[ckey]int64  // status ids, to order status events
	known    map[string]bool // commits whose statuses were read
	imported bool            // read in full at least once
	hooked   bool            // its webhook was registered

	// What events asked to read again.
	rereadPRs  map[int]bool
	rereadRefs map[string]bool
}

func newGHRepo() *ghRepo {
	return &ghRepo{repoView: newRepoView(), ids: map[ckey]int64{}, known: map[string]bool{},
		rereadPRs: map[int]bool{}, rereadRefs: map[string]bool{}}
}

// setStatuses records the statuses read for commit sha, replacing what
// was known of it.
func (g *ghRepo) setStatuses(sha string, sts map[string]ghStatus) {
	for k := range g.statuses {
		if k.commit == sha {
			delete(g.statuses, k)
			delete(g.ids, k)
		}
	}
	for c, s := range sts {
		k := ckey{sha, c}
		g.statuses[k] = s.value
		g.ids[k] = s.id
	}
	g.known[sha] = true
}

// forget drops what is known of the commits that are not heads.
func (g *ghRepo) forget(heads map[string]bool) {
	for k := range g.statuses {
		if !heads[k.commit] {
			delete(g.statuses, k)
			delete(g.ids, k)
		}
	}
	for sha := range g.known {
		if !heads[sha] {
			delete(g.known, sha)
		}
	}
}

// forEach runs f(i) for i in [0, n), at most par at once, and returns
// the errors joined.
func forEach(ctx context.Context, par, n int, f func(ctx context.Context, i int) error) error {
	sem := make(chan struct{}, max(par, 1))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readablePR converts a pull request with its comments, or says why it
// cannot be stored.
func (b *Bridge) prWithComments(ctx context.Context, repo bridge.Repo, p *gh.PullRequest) (bridge.PR, bool, error) {
	pr := prOf(repo, p, nil)
	if !validPR(pr) {
		b.warnOnce(fmt.Sprintf("pr %s#%d", repo, p.GetNumber()), "github bridge: skipping a PR the metadata cannot hold", "repo", repo.String(), "pr", p.GetNumber())
		return bridge.PR{}, false, nil
	}
	cs, err := b.api.comments(ctx, repo, p)
	if err != nil {
		return bridge.PR{}, false, err
	}
	pr.Comments = cs
	return pr, true, nil
}

// importRepo reads repo in full: open PRs with their comments, branches
// and tags, and the statuses of their heads.
func (b *Bridge) importRepo(ctx context.Context, repo bridge.Repo, g *ghRepo) error {
	next := newRepoView()
	if b.caps.Check(Read, PR) {
		prs, err := b.api.listOpenPRs(ctx, repo)
		if err != nil {
			return err
		}
		var mu sync.Mutex
		err = forEach(ctx, b.opts.Parallel, len(prs), func(ctx context.Context, i int) error {
			pr, ok, err := b.prWithComments(ctx, repo, prs[i])
			if ok {
				mu.Lock()
				next.prs[pr.Number] = pr
				mu.Unlock()
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	if b.caps.Check(Read, Ref) {
		refs, err := b.api.listRefs(ctx, repo)
		if err != nil {
			return err
		}
		for name, t := range refs {
			sha, ok, err := b.resolve(ctx, repo, name, t)
			if err != nil {
				return err
			}
			if ok {
				next.refs[name] = sha
			}
		}
	}
	g.prs, g.refs = next.prs, next.refs
	clear(g.rereadPRs)
	clear(g.rereadRefs)
	clear(g.known) // read every head's statuses again
	g.imported = true
	return nil
}

// resolve peels a ref's target to its commit; false for names the
// metadata cannot hold.
func (b *Bridge) resolve(ctx context.Context, repo bridge.Repo, name string, t refTarget) (string, bool, error) {
	if !bridge.ValidRefName(name) {
		b.warnOnce("ref "+repo.String()+" "+name, "github bridge: skipping a ref the metadata cannot hold (names are '/'-separated [A-Za-z0-9._-])", "repo", repo.String(), "ref", name)
		return "", false, nil
	}
	sha := t.sha
	if t.isTag {
		var err error
		if sha, err = b.api.peel(ctx, repo, t.sha); err != nil {
			return "", false, err
		}
	}
	if !validSHA(sha) {
		return "", false, nil
	}
	return sha, true, nil
}

// reread reads again the PRs and refs that events or .dirty files named.
func (b *Bridge) reread(ctx context.Context, repo bridge.Repo, g *ghRepo, prs []int, refs []string) error {
	var errs []error
	if b.caps.Check(Read, PR) {
		for _, n := range prs {
			p, err := b.api.getPR(ctx, repo, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			delete(g.rereadPRs, n)
			if p == nil || p.GetState() != "open" {
				delete(g.prs, n)
				continue
			}
			pr, ok, err := b.prWithComments(ctx, repo, p)
			if err != nil {
				g.rereadPRs[n] = true
				errs = append(errs, err)
				continue
			}
			if ok {
				g.prs[n] = pr
			}
		}
	}
	if b.caps.Check(Read, Ref) {
		for _, name := range refs {
			if !bridge.ValidRefName(name) {
				delete(g.rereadRefs, name)
				continue
			}
			t, found, err := b.api.getRef(ctx, repo, name)
			if err == nil && found {
				var ok bool
				t.sha, ok, err = b.resolve(ctx, repo, name, t)
				found = found && ok
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			delete(g.rereadRefs, name)
			if found {
				g.refs[name] = t.sha
			} else {
				delete(g.refs, name)
			}
		}
	}
	return errors.Join(errs...)
}

// readStatuses reads the statuses of the heads whose statuses are not
// known yet.
func (b *Bridge) readStatuses(ctx context.Context, repo bridge.Repo, g *ghRepo) error {
	if !b.caps.Check(Read, Commit) {
		return nil
	}
	var todo []string
	for sha := range g.heads() {
		if !g.known[sha] {
			todo = append(todo, sha)
		}
	}
	var mu sync.Mutex
	return forEach(ctx, b.opts.Parallel, len(todo), func(ctx context.Context, i int) error {
		sts, err := b.api.combinedStatus(ctx, repo, todo[i])
		if err != nil {
			return err
		}
		mu.Lock()
		g.setStatuses(todo[i], b.readable(repo, sts))
		mu.Unlock()
		return nil
	})
}

// readable drops from sts the contexts the store cannot hold or the
// capabilities do not let the bridge read.
func (b *Bridge) readable(repo bridge.Repo, sts map[string]ghStatus) map[string]ghStatus {
	for c := range sts {
		if !bridge.ValidContext(c) {
			b.warnOnce("context "+c, "github bridge: skipping a status context the metadata cannot hold", "repo", repo.String(), "context", c)
			delete(sts, c)
		} else if !b.caps.Check(Read, Status(c)) {
			delete(sts, c)
		}
	}
	return sts
}
