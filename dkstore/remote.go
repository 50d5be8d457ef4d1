package dkstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

var fetchSeq atomic.Uint64

// splitFragment splits "url#branch".
func splitFragment(url string) (string, string) {
	if i := strings.LastIndexByte(url, '#'); i >= 0 {
		return url[:i], url[i+1:]
	}
	return url, ""
}

// Fetch fetches branch from url into the object store and returns its head.
// No local branch moves; the commit is then readable by id.
func (s *GitStore) Fetch(ctx context.Context, url, branch string) (CommitID, error) {
	u, frag := splitFragment(url)
	if branch == "" {
		branch = frag
	}
	op := "fetch " + u
	if u == "" {
		return CommitID{}, newErr(ErrInvalid, op, "remote url is not defined")
	}
	if branch == "" {
		return CommitID{}, newErr(ErrInvalid, op, "no head to fetch")
	}
	ref := plumbing.ReferenceName("refs/heads/" + branch)
	if err := ref.Validate(); err != nil {
		return CommitID{}, newErr(ErrInvalid, op, "invalid branch %q: %v", branch, err)
	}
	tmp := plumbing.ReferenceName(fmt.Sprintf("refs/dkfetch/%d", fetchSeq.Add(1)))
	remote := git.NewRemote(s.st, &config.RemoteConfig{Name: "dkfetch", URLs: []string{u}})

	// go-git's storers are not safe for concurrent use: the fetch holds
	// the object lock while it writes.
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.objs.mu.Lock()
	err := remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{config.RefSpec("+" + string(ref) + ":" + string(tmp))},
		Tags:     git.NoTags,
		Force:    true,
	})
	var r *plumbing.Reference
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		r, err = s.st.Reference(tmp)
		_ = s.st.RemoveReference(tmp)
	}
	s.objs.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return CommitID{}, ctx.Err()
		}
		return CommitID{}, &Error{Kind: ErrNotExist, Op: op, Text: fmt.Sprintf("cannot fetch %s: %v", u, err)}
	}
	return CommitID(r.Hash()), nil
}
