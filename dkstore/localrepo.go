package dkstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// RepoReader inspects a Git repository that belongs to someone else (a
// developer's checkout, watched by the local bridge) without ever writing
// to it: it reads refs, HEAD and objects, and works on a repository that
// is read-only (the original's issue #622).
//
// Refs are read from disk afresh on every call (loose refs, then
// packed-refs), so the reader is cheap to poll and never reports stale
// refs; only facts about immutable objects (what a tag peels to) are
// cached. A RepoReader is safe for concurrent use.
type RepoReader struct {
	gitdir    string // holds HEAD
	commondir string // holds refs, packed-refs and objects (== gitdir but in linked worktrees)

	mu    sync.Mutex // guards st (go-git storers are not goroutine-safe) and peel
	st    *filesystem.Storage
	peel  map[Hash]CommitID // tag object → commit, immutable facts
	close sync.Once
}

// GitRef is a ref of a repository read by a RepoReader.
type GitRef struct {
	Name string // the full name, e.g. "refs/heads/main", "refs/tags/v1"
	// Target is the commit the ref names, annotated tags peeled; zero for
	// a symbolic ref whose target does not exist.
	Target CommitID
	// Symbolic is the ref a symbolic ref points to ("refs/heads/main"),
	// or "" for a plain ref.
	Symbolic string
}

// OpenRepoReader opens the repository at path: a work tree holding .git
// (a directory, or a file "gitdir: …" as in linked worktrees and
// submodules), or a Git directory itself (bare repositories).
func OpenRepoReader(path string) (*RepoReader, error) {
	op := "open repository " + path
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, newErr(ErrInvalid, op, "%v", err)
	}
	gitdir, err := findGitDir(abs)
	if err != nil {
		return nil, withOp(err, op)
	}
	commondir := gitdir
	if data, err := os.ReadFile(filepath.Join(gitdir, "commondir")); err == nil {
		c := strings.TrimSpace(string(data))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitdir, c)
		}
		commondir = filepath.Clean(c)
	}
	if !isDir(filepath.Join(commondir, "objects")) {
		return nil, newErr(ErrNotExist, op, "%s is not a Git directory (no objects)", commondir)
	}
	st := filesystem.NewStorageWithOptions(osfs.New(commondir), cache.NewObjectLRU(4<<20), filesystem.Options{})
	return &RepoReader{gitdir: gitdir, commondir: commondir, st: st, peel: map[Hash]CommitID{}}, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// findGitDir finds the Git directory of the work tree or Git directory p.
func findGitDir(p string) (string, error) {
	dotgit := filepath.Join(p, ".git")
	fi, err := os.Stat(dotgit)
	switch {
	case err == nil && fi.IsDir():
		return dotgit, nil
	case err == nil:
		data, err := os.ReadFile(dotgit)
		if err != nil {
			return "", newErr(ErrPermission, "", "%v", err)
		}
		dir, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
		if !ok {
			return "", newErr(ErrInvalid, "", "%s is neither a directory nor a \"gitdir:\" file", dotgit)
		}
		dir = strings.TrimSpace(dir)
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(p, dir)
		}
		if !isDir(dir) {
			return "", newErr(ErrNotExist, "", "%s names %s, which is not a directory", dotgit, dir)
		}
		return filepath.Clean(dir), nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", newErr(ErrPermission, "", "%v", err)
	}
	if _, err := os.Stat(filepath.Join(p, "HEAD")); err == nil {
		return p, nil // a bare repository or a Git directory
	}
	if _, err := os.Stat(p); err != nil {
		return "", newErr(ErrNotExist, "", "no such directory")
	}
	return "", newErr(ErrNotExist, "", "%s is not a Git repository (no .git, no HEAD)", p)
}

// GitDir returns the absolute path of the repository's Git directory.
func (r *RepoReader) GitDir() string { return r.gitdir }

// CommonDir returns the directory holding the refs and objects: the Git
// directory, except in a linked worktree, where it is the main one's.
func (r *RepoReader) CommonDir() string { return r.commondir }

// Close releases the files the reader holds open.
func (r *RepoReader) Close() error {
	var err error
	r.close.Do(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		err = r.st.Close()
	})
	return err
}

// rawRef is a ref as found on disk, before resolution.
type rawRef struct {
	id     Hash   // zero for a symbolic ref
	sym    string // target of a symbolic ref
	peeled Hash   // from packed-refs' "^" lines: what an annotated tag peels to
}

// parseRefFile parses a loose ref file (or HEAD).
func parseRefFile(data []byte) (rawRef, bool) {
	s := strings.TrimSpace(string(data))
	if t, ok := strings.CutPrefix(s, "ref:"); ok {
		t = strings.TrimSpace(t)
		return rawRef{sym: t}, t != ""
	}
	h, err := ParseHash(s)
	if err != nil {
		return rawRef{}, false
	}
	return rawRef{id: h}, true
}

// readRefs reads every ref under refs/: packed-refs, overridden by loose
// ref files.
func (r *RepoReader) readRefs(ctx context.Context) (map[string]rawRef, error) {
	// A repository that went away must not read as one with no refs.
	if _, err := os.Stat(filepath.Join(r.gitdir, "HEAD")); err != nil {
		return nil, err
	}
	refs := map[string]rawRef{}
	data, err := os.ReadFile(filepath.Join(r.commondir, "packed-refs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	last := ""
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '^' {
			if h, err := ParseHash(strings.TrimSpace(line[1:])); err == nil && last != "" {
				ref := refs[last]
				ref.peeled = h
				refs[last] = ref
			}
			continue
		}
		hash, name, ok := strings.Cut(line, " ")
		h, err := ParseHash(hash)
		if !ok || err != nil || !strings.HasPrefix(name, "refs/") {
			last = ""
			continue
		}
		refs[name] = rawRef{id: h}
		last = name
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	root := filepath.Join(r.commondir, "refs")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(path, ".lock") {
			return nil
		}
		rel, err := filepath.Rel(r.commondir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if ref, ok := parseRefFile(data); ok {
			refs[filepath.ToSlash(rel)] = ref
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// Refs lists the repository's refs under refs/, sorted by name. Tags are
// peeled to the commit they name; refs naming no commit (a tag of a
// tree, a missing object, a dangling plain ref) are left out, but a
// symbolic ref is listed even when its target is missing (with a zero
// Target).
func (r *RepoReader) Refs(ctx context.Context) ([]GitRef, error) {
	op := "read refs of " + r.gitdir
	raw, err := r.readRefs(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, newErr(errKind(err), op, "%v", err)
	}
	var out []GitRef
	for name, ref := range raw {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g := GitRef{Name: name}
		direct := ref
		if ref.sym != "" {
			g.Symbolic = ref.sym
			direct = resolveSym(raw, ref)
		}
		if !direct.id.IsZero() {
			id, ok, err := r.peelTo(direct)
			if err != nil {
				return nil, newErr(errKind(err), op, "%s: %v", name, err)
			}
			if !ok && ref.sym == "" {
				continue
			}
			g.Target = id
		} else if ref.sym == "" {
			continue
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// resolveSym follows a symbolic ref (at most 5 steps, as git does) to a
// plain one, or gives the zero rawRef.
func resolveSym(refs map[string]rawRef, ref rawRef) rawRef {
	for range 5 {
		if ref.sym == "" {
			return ref
		}
		ref = refs[ref.sym]
	}
	return rawRef{}
}

func errKind(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotExist
	case errors.Is(err, fs.ErrPermission):
		return ErrPermission
	}
	return ErrInvalid
}

// peelTo returns the commit ref names, peeling tags; false if the object
// is missing or not (a tag of) a commit.
func (r *RepoReader) peelTo(ref rawRef) (CommitID, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.peel) > 1<<16 {
		clear(r.peel) // every head ever seen: forget them now and then
	}
	if id, ok := r.peel[ref.id]; ok {
		return id, !id.IsZero(), nil
	}
	if !ref.peeled.IsZero() {
		// packed-refs says what the tag peels to; check it is a commit.
		typ, err := r.objectType(ref.peeled)
		if err != nil || typ != plumbing.CommitObject {
			return CommitID{}, false, nil
		}
		r.peel[ref.id] = CommitID(ref.peeled)
		return CommitID(ref.peeled), true, nil
	}
	h := ref.id
	for range 10 { // tags of tags
		typ, err := r.objectType(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return CommitID{}, false, nil // not remembered: it may yet arrive
		}
		if err != nil {
			return CommitID{}, false, err
		}
		switch typ {
		case plumbing.CommitObject:
			r.peel[ref.id] = CommitID(h)
			return CommitID(h), true, nil
		case plumbing.TagObject:
			t, err := object.GetTag(r.st, plumbing.Hash(h))
			if err != nil {
				return CommitID{}, false, err
			}
			h = Hash(t.Target)
		default:
			r.peel[ref.id] = CommitID{}
			return CommitID{}, false, nil
		}
	}
	r.peel[ref.id] = CommitID{}
	return CommitID{}, false, nil
}

// objectType returns the type of object h. When the object is not found,
// the pack index is read again (git may have repacked since) and the
// lookup retried once. Callers hold r.mu.
func (r *RepoReader) objectType(h Hash) (plumbing.ObjectType, error) {
	o, err := r.st.EncodedObject(plumbing.AnyObject, plumbing.Hash(h))
	if err != nil {
		r.st.ObjectStorage.Reindex()
		o, err = r.st.EncodedObject(plumbing.AnyObject, plumbing.Hash(h))
	}
	if err != nil {
		return plumbing.InvalidObject, err
	}
	return o.Type(), nil
}

// commit decodes commit id, reindexing once if it is not found.
func (r *RepoReader) commit(id CommitID) (*object.Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := object.GetCommit(r.st, plumbing.Hash(id))
	if err != nil {
		r.st.ObjectStorage.Reindex()
		c, err = object.GetCommit(r.st, plumbing.Hash(id))
	}
	return c, err
}

// DefaultBranch returns the short name of the branch HEAD names ("main"),
// whether or not it has commits. A detached HEAD gives an ErrNotExist
// error.
func (r *RepoReader) DefaultBranch(ctx context.Context) (string, error) {
	op := "read HEAD of " + r.gitdir
	data, err := os.ReadFile(filepath.Join(r.gitdir, "HEAD"))
	if err != nil {
		return "", newErr(errKind(err), op, "%v", err)
	}
	ref, ok := parseRefFile(data)
	if !ok {
		return "", newErr(ErrInvalid, op, "HEAD holds neither a ref nor a commit id")
	}
	b, ok := strings.CutPrefix(ref.sym, "refs/heads/")
	if !ok || b == "" {
		return "", newErr(ErrNotExist, op, "HEAD is detached or names no branch")
	}
	return b, nil
}

// CommitSubject returns the subject of commit id, as git log's %s: its
// message's first paragraph, lines joined with spaces.
func (r *RepoReader) CommitSubject(ctx context.Context, id CommitID) (string, error) {
	c, err := r.commit(id)
	if err != nil {
		return "", r.commitErr(id, err)
	}
	msg := strings.TrimLeft(strings.ReplaceAll(c.Message, "\r\n", "\n"), "\n")
	para, _, _ := strings.Cut(msg, "\n\n")
	lines := strings.Split(strings.TrimSpace(para), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " "), nil
}

// CommitAuthor returns the name of the author of commit id.
func (r *RepoReader) CommitAuthor(ctx context.Context, id CommitID) (string, error) {
	c, err := r.commit(id)
	if err != nil {
		return "", r.commitErr(id, err)
	}
	return c.Author.Name, nil
}

func (r *RepoReader) commitErr(id CommitID, err error) error {
	op := fmt.Sprintf("read commit %s in %s", id, r.gitdir)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return newErr(ErrNotExist, op, "No such file or directory: commit %s", Hash(id))
	}
	if errors.Is(err, plumbing.ErrInvalidType) {
		return newErr(ErrInvalid, op, "%s is not a commit", Hash(id))
	}
	return newErr(errKind(err), op, "%v", err)
}
