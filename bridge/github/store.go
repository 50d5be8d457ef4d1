package github

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

// storeRepo is what the store holds for a monitored repository, and the
// .dirty files in it.
type storeRepo struct {
	*repoView
	dirty     bool            // user/repo/.dirty
	dirtyPRs  map[int]bool    // pr/<n>/.dirty
	dirtyRefs map[string]bool // ref/<name>/.dirty
}

func newStoreRepo() *storeRepo {
	return &storeRepo{repoView: newRepoView(), dirtyPRs: map[int]bool{}, dirtyRefs: map[string]bool{}}
}

// storeState is the bridge's copy of the metadata branch: the head it
// read, and the monitored repositories' metadata at that head. It is
// brought up to date from the diff between the old head and the new.
type storeState struct {
	head  dkstore.CommitID
	repos map[bridge.Repo]*storeRepo
}

// absent reports whether err means "nothing there".
func absent(err error) bool {
	return errors.Is(err, dkstore.ErrNotExist) || errors.Is(err, dkstore.ErrNotDir) || errors.Is(err, dkstore.ErrIsDir)
}

func isFile(ctx context.Context, r dkstore.Reader, p dkstore.Path) (bool, error) {
	st, err := r.Stat(ctx, p)
	if absent(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.Kind.IsFile(), nil
}

// readStore brings s up to date with the branch head and returns the
// tree there. only, if not empty, limits the repositories read.
func (b *Bridge) readStore(ctx context.Context) (dkstore.Reader, error) {
	r, head, err := bridge.Snapshot(ctx, b.store, b.opts.Branch)
	if err != nil {
		return nil, err
	}
	s := &b.dk
	if head == s.head && s.repos != nil {
		return r, nil
	}
	monitored, err := bridge.Monitored(ctx, r)
	if err != nil {
		return nil, err
	}
	want := map[bridge.Repo]bool{}
	for _, repo := range monitored {
		if b.only == nil || b.only[repo] {
			want[repo] = true
		}
	}
	var changes []dkstore.Change
	incremental := !s.head.IsZero() && s.repos != nil && !head.IsZero()
	if incremental {
		if changes, err = b.store.Diff(ctx, s.head, head); err != nil {
			b.log.Warn("github bridge: reading the whole branch again: no diff from the last head", "err", err)
			incremental = false
		}
	}
	if !incremental {
		s.repos = map[bridge.Repo]*storeRepo{}
	}
	for repo := range s.repos {
		if !want[repo] {
			delete(s.repos, repo) // no longer monitored: left alone
		}
	}
	// Re-read what changed, element by element.
	type prKey struct {
		repo bridge.Repo
		n    int
	}
	type refKey struct {
		repo bridge.Repo
		name string
	}
	type stKey struct {
		repo bridge.Repo
		k    ckey
	}
	prs, refs, sts, dirties := map[prKey]bool{}, map[refKey]bool{}, map[stKey]bool{}, map[bridge.Repo]bool{}
	for _, c := range changes {
		loc, ok := bridge.Locate(c.Path)
		if !ok || !want[loc.Repo] || s.repos[loc.Repo] == nil {
			continue
		}
		switch loc.Kind {
		case bridge.KindPR:
			prs[prKey{loc.Repo, loc.PR}] = true
		case bridge.KindRef:
			refs[refKey{loc.Repo, loc.Ref}] = true
		case bridge.KindStatus:
			sts[stKey{loc.Repo, ckey{loc.Commit, loc.Context}}] = true
		case bridge.KindDirty:
			dirties[loc.Repo] = true
		}
	}
	for repo := range want {
		if s.repos[repo] == nil {
			sr, err := readRepo(ctx, r, repo)
			if err != nil {
				return nil, err
			}
			s.repos[repo] = sr
		}
	}
	for k := range prs {
		sr := s.repos[k.repo]
		pr, ok, err := bridge.ReadPR(ctx, r, k.repo, k.n)
		if err != nil {
			return nil, err
		}
		if ok {
			sr.prs[k.n] = pr
		} else {
			delete(sr.prs, k.n)
		}
		d, err := isFile(ctx, r, bridge.PRPath(k.repo, k.n).Join(".dirty"))
		if err != nil {
			return nil, err
		}
		setOrDelete(sr.dirtyPRs, k.n, d)
	}
	for k := range refs {
		sr := s.repos[k.repo]
		ref, ok, err := bridge.ReadRef(ctx, r, k.repo, k.name)
		if err != nil {
			return nil, err
		}
		if ok {
			sr.refs[k.name] = ref.Head
		} else {
			delete(sr.refs, k.name)
		}
		d, err := isFile(ctx, r, bridge.RefPath(k.repo, k.name).Join(".dirty"))
		if err != nil {
			return nil, err
		}
		setOrDelete(sr.dirtyRefs, k.name, d)
	}
	for k := range sts {
		sr := s.repos[k.repo]
		st, ok, err := bridge.ReadStatus(ctx, r, k.repo, k.k.commit, k.k.context)
		if err != nil {
			return nil, err
		}
		if ok {
			sr.statuses[k.k] = valueOf(st)
		} else {
			delete(sr.statuses, k.k)
		}
	}
	for repo := range dirties {
		d, err := isFile(ctx, r, bridge.DirtyPath(repo))
		if err != nil {
			return nil, err
		}
		s.repos[repo].dirty = d
	}
	s.head = head
	return r, nil
}

func setOrDelete[K comparable](m map[K]bool, k K, v bool) {
	if v {
		m[k] = true
	} else {
		delete(m, k)
	}
}

// readRepo reads a repository's metadata and .dirty files.
func readRepo(ctx context.Context, r dkstore.Reader, repo bridge.Repo) (*storeRepo, error) {
	sr := newStoreRepo()
	prs, err := bridge.ReadPRs(ctx, r, repo)
	if err != nil {
		return nil, err
	}
	for _, pr := range prs {
		sr.prs[pr.Number] = pr
	}
	es, err := r.ReadDir(ctx, repo.Path().Join("pr"))
	if err != nil && !absent(err) {
		return nil, err
	}
	for _, e := range es {
		if n, err := strconv.Atoi(e.Name); err == nil && n > 0 && strconv.Itoa(n) == e.Name {
			d, err := isFile(ctx, r, bridge.PRPath(repo, n).Join(".dirty"))
			if err != nil {
				return nil, err
			}
			setOrDelete(sr.dirtyPRs, n, d)
		}
	}
	refs, err := bridge.ReadRefs(ctx, r, repo)
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		sr.refs[ref.Name] = ref.Head
	}
	if err := findDirtyRefs(ctx, r, repo.Path().Join("ref"), "", sr.dirtyRefs); err != nil {
		return nil, err
	}
	commits, err := r.ReadDir(ctx, repo.Path().Join("commit"))
	if err != nil && !absent(err) {
		return nil, err
	}
	for _, c := range commits {
		if c.Kind != dkstore.KindDir {
			continue
		}
		sts, err := bridge.ReadStatuses(ctx, r, repo, c.Name)
		if err != nil {
			return nil, err
		}
		for _, st := range sts {
			sr.statuses[ckey{st.Commit, st.Context}] = valueOf(st)
		}
	}
	if sr.dirty, err = isFile(ctx, r, bridge.DirtyPath(repo)); err != nil {
		return nil, err
	}
	return sr, nil
}

// findDirtyRefs finds the ref/<name>/.dirty files below dir.
func findDirtyRefs(ctx context.Context, r dkstore.Reader, dir dkstore.Path, name string, out map[string]bool) error {
	es, err := r.ReadDir(ctx, dir)
	if absent(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range es {
		switch {
		case e.Name == ".dirty" && e.Kind.IsFile() && bridge.ValidRefName(name):
			out[name] = true
		case e.Kind == dkstore.KindDir && bridge.ValidName(e.Name):
			sub := e.Name
			if name != "" {
				sub = name + "/" + e.Name
			}
			if err := findDirtyRefs(ctx, r, dir.Join(e.Name), sub, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// storeChanges are the writes that make the store agree with a target:
// the functions, and the items they update and remove (for the commit
// message).
type storeChanges struct {
	writes  []func(context.Context, dkstore.Transaction) error
	updated []string
	removed []string
	dirty   int // .dirty files removed
}

func (c *storeChanges) empty() bool { return len(c.writes) == 0 }

func (c *storeChanges) add(f func(context.Context, dkstore.Transaction) error) {
	c.writes = append(c.writes, f)
}

// diffRepo adds the writes that turn sr into target, and remove the
// repository's .dirty files.
func diffRepo(repo bridge.Repo, sr *storeRepo, target *repoView, c *storeChanges) {
	for _, n := range sortedKeys(sr.prs) {
		if _, ok := target.prs[n]; !ok {
			c.removed = append(c.removed, fmt.Sprintf("PR %s#%d", repo, n))
			c.add(func(ctx context.Context, tx dkstore.Transaction) error { return bridge.RemovePR(ctx, tx, repo, n) })
		}
	}
	for _, n := range sortedKeys(target.prs) {
		pr := target.prs[n]
		if old, ok := sr.prs[n]; ok && samePR(old, pr) {
			continue
		}
		c.updated = append(c.updated, fmt.Sprintf("PR %s#%d", repo, n))
		c.add(func(ctx context.Context, tx dkstore.Transaction) error { return bridge.WritePR(ctx, tx, pr) })
	}
	for _, name := range sortedKeys(sr.refs) {
		if _, ok := target.refs[name]; !ok {
			c.removed = append(c.removed, fmt.Sprintf("ref %s %s", repo, name))
			c.add(func(ctx context.Context, tx dkstore.Transaction) error { return bridge.RemoveRef(ctx, tx, repo, name) })
		}
	}
	for _, name := range sortedKeys(target.refs) {
		head := target.refs[name]
		if sr.refs[name] == head {
			continue
		}
		c.updated = append(c.updated, fmt.Sprintf("ref %s %s", repo, name))
		ref := bridge.Ref{Repo: repo, Name: name, Head: head}
		c.add(func(ctx context.Context, tx dkstore.Transaction) error { return bridge.WriteRef(ctx, tx, ref) })
	}
	// Statuses: a commit none of whose statuses stays goes as a whole
	// (commit/<sha>, with any other file in it).
	keepCommit := map[string]bool{}
	for k := range target.statuses {
		keepCommit[k.commit] = true
	}
	gone := map[string]bool{}
	for _, k := range sortedStatusKeys(sr.statuses) {
		if _, ok := target.statuses[k]; ok {
			continue
		}
		if !keepCommit[k.commit] {
			if !gone[k.commit] {
				gone[k.commit] = true
				sha := k.commit
				c.removed = append(c.removed, fmt.Sprintf("commit %s %s", repo, short(sha)))
				c.add(func(ctx context.Context, tx dkstore.Transaction) error {
					if err := tx.Remove(ctx, bridge.CommitPath(repo, sha)); err != nil && !absent(err) {
						return err
					}
					return pruneEmpty(ctx, tx, repo.Path().Join("commit"), repo.Path())
				})
			}
			continue
		}
		c.removed = append(c.removed, fmt.Sprintf("status %s %s %s", repo, short(k.commit), contextName(k.context)))
		c.add(func(ctx context.Context, tx dkstore.Transaction) error {
			return bridge.RemoveStatus(ctx, tx, repo, k.commit, k.context)
		})
	}
	for _, k := range sortedStatusKeys(target.statuses) {
		v := target.statuses[k]
		if old, ok := sr.statuses[k]; ok && old == v {
			continue
		}
		c.updated = append(c.updated, fmt.Sprintf("status %s %s %s", repo, short(k.commit), contextName(k.context)))
		st := bridge.Status{Repo: repo, Commit: k.commit, Context: k.context, State: v.state, Description: v.descr, TargetURL: v.url}
		c.add(func(ctx context.Context, tx dkstore.Transaction) error { return bridge.WriteStatus(ctx, tx, st) })
	}
	// .dirty files.
	var dirty []dkstore.Path
	if sr.dirty {
		dirty = append(dirty, bridge.DirtyPath(repo))
	}
	for _, n := range sortedKeys(sr.dirtyPRs) {
		dirty = append(dirty, bridge.PRPath(repo, n).Join(".dirty"))
	}
	for _, name := range sortedKeys(sr.dirtyRefs) {
		dirty = append(dirty, bridge.RefPath(repo, name).Join(".dirty"))
	}
	for _, p := range dirty {
		c.dirty++
		c.add(func(ctx context.Context, tx dkstore.Transaction) error {
			if err := tx.Remove(ctx, p); err != nil && !absent(err) {
				return err
			}
			return pruneEmpty(ctx, tx, p.Dir(), repo.Path())
		})
	}
}

// pruneEmpty removes dir and its parents up to stop while they are empty.
func pruneEmpty(ctx context.Context, tx dkstore.Transaction, dir, stop dkstore.Path) error {
	for dir != stop && dir.HasPrefix(stop) && dir != dkstore.Root {
		es, err := tx.ReadDir(ctx, dir)
		if absent(err) {
			dir = dir.Dir()
			continue
		}
		if err != nil || len(es) > 0 {
			return err
		}
		if err := tx.Remove(ctx, dir); err != nil && !absent(err) {
			return err
		}
		dir = dir.Dir()
	}
	return nil
}

// message is the commit message of the changes, as the original's:
// "1 item updated", "3 items removed", "4 items modified" (with the
// items listed), or "Cleaning up .dirty files".
func (c *storeChanges) message() string {
	u, r := len(c.updated), len(c.removed)
	items := func(n int) string {
		if n == 1 {
			return "1 item"
		}
		return fmt.Sprintf("%d items", n)
	}
	list := func(xs []string) string { return "  " + strings.Join(xs, "\n  ") }
	switch {
	case u == 0 && r == 0:
		return "Cleaning up .dirty files"
	case r == 0:
		return items(u) + " updated\n\n" + list(c.updated)
	case u == 0:
		return items(r) + " removed\n\n" + list(c.removed)
	}
	return items(u+r) + " modified\n\nUpdated\n" + list(c.updated) + "\n\nRemoved\n" + list(c.removed)
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sortedStatusKeys(m map[ckey]statusValue) []ckey {
	ks := make([]ckey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].commit != ks[j].commit {
			return ks[i].commit < ks[j].commit
		}
		return ks[i].context < ks[j].context
	})
	return ks
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func contextName(c string) string {
	if c == "" {
		return bridge.DefaultContext
	}
	return c
}
