package dkstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
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
// No local branch moves; the commit is then readable by id. Errors: an
// ErrInvalid error for a missing url or branch or an invalid branch name;
// an ErrNotExist error "cannot fetch URL: why" when the repository or the
// branch cannot be reached; ctx.Err() when ctx is done first. Reads and
// commits of an on-disk store go on during a fetch; other fetches wait.
func (s *GitStore) Fetch(ctx context.Context, url, branch string) (CommitID, error) {
	u, frag := splitFragment(url)
	if branch == "" {
		branch = frag
	}
	op := "fetch " + redactURL(u)
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
	tmp := plumbing.ReferenceName(fmt.Sprintf("refs/dkfetch/%d-%d", os.Getpid(), fetchSeq.Add(1)))

	// Fetches are serialised with each other, not with the rest of the
	// store: go-git's storers are not safe for concurrent use, so on disk
	// the fetch writes through a storer of its own, which sees the
	// repository as any other git process does, and the store's storer
	// then looks for the new pack. Only the in-memory store, which has no
	// such second view, holds its object lock for the whole fetch.
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	st := s.st
	if s.gitdir != "" {
		fst := filesystem.NewStorageWithOptions(osfs.New(s.gitdir), cache.NewObjectLRU(8<<20), filesystem.Options{})
		defer fst.Close()
		st = fst
	} else {
		s.objs.mu.Lock()
	}
	remote := git.NewRemote(st, &config.RemoteConfig{Name: "dkfetch", URLs: []string{u}})
	err := remote.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "dkfetch",
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + string(ref) + ":" + string(tmp))},
		Tags:       git.NoTags,
		Force:      true,
	})
	var r *plumbing.Reference
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		r, err = st.Reference(tmp)
		_ = st.RemoveReference(tmp)
	}
	if s.gitdir != "" {
		s.objs.mu.Lock()
		s.objs.reindexLocked()
	}
	s.objs.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return CommitID{}, ctx.Err()
		}
		return CommitID{}, &Error{Kind: ErrNotExist, Op: op, Text: fmt.Sprintf("cannot fetch %s: %v", redactURL(u), err)}
	}
	return CommitID(r.Hash()), nil
}
