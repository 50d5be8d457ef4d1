package dkstore

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"slices"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// AutoPushOptions configure AutoPush. The zero value is useful: the
// original DataKit's 2 s batching delay and a backoff from 1 s to 30 s.
type AutoPushOptions struct {
	// Delay is how long changes are collected after the first one before
	// they are pushed together (default 2s).
	Delay time.Duration
	// MinBackoff and MaxBackoff bound the wait before a failed push is
	// tried again: it starts at MinBackoff (default 1s) and doubles after
	// each failure up to MaxBackoff (default 30s).
	MinBackoff, MaxBackoff time.Duration
	// PushAtStart pushes every branch once when AutoPush starts, so that
	// changes made while no auto-push ran reach the mirror. Branches
	// deleted meanwhile are not deleted from the mirror.
	PushAtStart bool
	// OnPush, if not nil, is called after every push attempt with the
	// branches pushed (sorted), how long the push took and its error (nil
	// on success): the hook for a metric such as the original's
	// DataKit_git_push_duration_seconds. It is called from AutoPush's
	// goroutine, one call at a time, and should return quickly. A push cut
	// short because AutoPush's context is done is not reported.
	OnPush func(branches []BranchName, d time.Duration, err error)
}

func (o AutoPushOptions) withDefaults() AutoPushOptions {
	if o.Delay <= 0 {
		o.Delay = 2 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	return o
}

// AutoPush mirrors the store's branches to the Git repository at url, as
// `datakit --auto-push URL` does: it watches every branch and, Delay after
// the first change, force-pushes the branches that changed since the last
// push (`git push --force` semantics: each to the same name, whatever the
// mirror had; a deleted branch is deleted from the mirror). A push that
// fails is logged (at level Warn; successes at Debug) and tried again with
// exponential backoff, keeping every change not yet pushed: unlike the
// original, which gave up, AutoPush drops no change.
//
// url is anything go-git can push to: a local path, file://, git://,
// http(s):// (credentials in the URL's user info) or ssh (scp-like
// "git@host:repo" or ssh://, authenticated by the SSH agent). Logs show it
// with any password redacted.
//
// AutoPush blocks until ctx is done, returning ctx.Err(), or until the
// store is closed, returning an ErrClosed error; it leaves no goroutine
// behind. Changes not pushed by then are not pushed (see PushAtStart).
// Several AutoPush calls, to the same or different mirrors, may run at
// once.
//
// Only an on-disk store can be pushed (ErrInvalid otherwise). A push reads
// the repository through a go-git storer of its own, so it never holds
// the store's locks: reads and commits go on while a slow mirror is
// pushed to.
func (s *GitStore) AutoPush(ctx context.Context, url string, opts AutoPushOptions) error {
	const op = "auto-push"
	if s.gitdir == "" {
		return newErr(ErrInvalid, op, "auto-push needs an on-disk store (--git)")
	}
	if url == "" {
		return newErr(ErrInvalid, op, "no mirror url")
	}
	ep, err := transport.NewEndpoint(url)
	if err == nil {
		_, err = client.NewClient(ep) // a scheme go-git can push to?
	}
	if err != nil {
		return newErr(ErrInvalid, op, "invalid mirror url %s: %v", redactURL(url), err)
	}
	opts = opts.withDefaults()
	shown := redactURL(url)

	// Watch before listing, so that no change falls in between.
	w, err := s.WatchRefs(ctx)
	if err != nil {
		return err
	}
	defer w.Close()

	dirty := map[BranchName]bool{}
	var due time.Time // when to push the dirty branches
	if opts.PushAtStart {
		bs, err := s.Branches(ctx)
		if err != nil {
			return err
		}
		for _, b := range bs {
			dirty[b] = true
		}
		due = time.Now()
	}
	backoff := time.Duration(0)
	for {
		if len(dirty) == 0 {
			ch, err := w.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			dirty[ch.Branch] = true
			due = time.Now().Add(opts.Delay)
			continue
		}
		if time.Until(due) > 0 {
			wctx, cancel := context.WithDeadline(ctx, due)
			ch, err := w.Next(wctx)
			cancel()
			if err == nil {
				dirty[ch.Branch] = true
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err() // the watch may have ended first, as ctx did
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
		}

		branches := make([]BranchName, 0, len(dirty))
		for b := range dirty {
			branches = append(branches, b)
		}
		slices.Sort(branches)
		start := time.Now()
		pushed, err := s.push(ctx, url, branches)
		d := time.Since(start)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if opts.OnPush != nil {
			opts.OnPush(slices.Clone(branches), d, err)
		}
		if err != nil {
			backoff = min(max(2*backoff, opts.MinBackoff), opts.MaxBackoff)
			s.log.Warn("dkstore: auto-push failed", "url", shown, "branches", branches,
				"duration", d, "retry_in", backoff, "err", err)
			due = time.Now().Add(backoff)
			continue
		}
		backoff = 0
		s.log.Debug("dkstore: auto-pushed", "url", shown, "branches", branches, "duration", d)
		clear(dirty)
		// A branch that moved while it was pushed, and moved back before
		// we looked, has no pending change in the watch: compare instead.
		for b, id := range pushed {
			if now, err := s.refs.get(b); err != nil || now != id {
				dirty[b] = true
				due = time.Now().Add(opts.Delay)
			}
		}
	}
}

// push force-pushes branches, at their current heads, to url, deleting
// those that do not exist, and returns the heads it pushed (zero for a
// deletion).
func (s *GitStore) push(ctx context.Context, url string, branches []BranchName) (map[BranchName]CommitID, error) {
	pushed := make(map[BranchName]CommitID, len(branches))
	specs := make([]config.RefSpec, 0, len(branches))
	for _, b := range branches {
		id, err := s.refs.get(b)
		if err != nil {
			return nil, err
		}
		pushed[b] = id
		ref := "refs/heads/" + string(b)
		if id.IsZero() {
			specs = append(specs, config.RefSpec(":"+ref))
		} else {
			// The commit id, not the ref: we then know exactly what the
			// mirror got, even if the branch moves during the push.
			specs = append(specs, config.RefSpec("+"+id.String()+":"+ref))
		}
	}
	// A storer of our own: go-git's are not safe for concurrent use, and
	// this one sees the objects and refs on disk as any git process would,
	// without stopping the store for the length of a network push.
	// The packer removes no file meanwhile (go-git would miss objects).
	s.objs.repack.RLock()
	defer s.objs.repack.RUnlock()
	st := filesystem.NewStorageWithOptions(osfs.New(s.gitdir), cache.NewObjectLRU(8<<20), filesystem.Options{})
	defer st.Close()
	const name = "dkmirror"
	remote := git.NewRemote(st, &config.RemoteConfig{Name: name, URLs: []string{url}})
	err := remote.PushContext(ctx, &git.PushOptions{RemoteName: name, RefSpecs: specs})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("dkstore: auto-push to %s: %w", redactURL(url), err)
	}
	return pushed, nil
}

// redactURL hides the password of a URL with user info.
func redactURL(url string) string {
	u, err := neturl.Parse(url)
	if err != nil || u.User == nil {
		return url
	}
	return u.Redacted()
}
