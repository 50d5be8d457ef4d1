package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/dkgo/datakit/dkstore"
)

func invalid(op, format string, args ...any) error {
	return dkstore.Invalidf("bridge: %s: %s", op, fmt.Sprintf(format, args...))
}

// writeFile makes p a regular file holding data, writing only if its
// content or kind differs. Whatever is in the way (a directory at p, a
// file where a parent directory belongs) is removed first.
func writeFile(ctx context.Context, tx dkstore.Transaction, p dkstore.Path, data []byte) error {
	st, err := tx.Stat(ctx, p)
	switch {
	case err == nil && st.Kind == dkstore.KindFile:
		old, err := tx.ReadFile(ctx, p)
		if err == nil && bytes.Equal(old, data) {
			return nil
		}
	case err == nil && st.Kind == dkstore.KindDir:
		if err := tx.Remove(ctx, p); err != nil {
			return fmt.Errorf("bridge: write %s: %w", p, err)
		}
	case errors.Is(err, dkstore.ErrNotDir):
		if err := clearParents(ctx, tx, p); err != nil {
			return fmt.Errorf("bridge: write %s: %w", p, err)
		}
	}
	if err := tx.WriteFile(ctx, p, data, dkstore.KindFile); err != nil {
		return fmt.Errorf("bridge: write %s: %w", p, err)
	}
	return nil
}

// clearParents removes the first file found among p's parents.
func clearParents(ctx context.Context, tx dkstore.Transaction, p dkstore.Path) error {
	steps := p.Steps()
	q := dkstore.Root
	for _, s := range steps[:len(steps)-1] {
		q = q.Join(s)
		st, err := tx.Stat(ctx, q)
		if err != nil {
			return err
		}
		if st.Kind != dkstore.KindDir {
			return tx.Remove(ctx, q)
		}
	}
	return nil
}

// writeValue writes a value file: v and a newline.
func writeValue(ctx context.Context, tx dkstore.Transaction, p dkstore.Path, v string) error {
	return writeFile(ctx, tx, p, []byte(v+"\n"))
}

// remove removes p if it exists.
func remove(ctx context.Context, tx dkstore.Transaction, p dkstore.Path) error {
	err := tx.Remove(ctx, p)
	if err == nil || absent(err) {
		return nil
	}
	return fmt.Errorf("bridge: remove %s: %w", p, err)
}

// prune removes dir and its parents up to (not including) stop while they
// are empty directories.
func prune(ctx context.Context, tx dkstore.Transaction, dir, stop dkstore.Path) error {
	for dir != stop && dir.HasPrefix(stop) && dir != dkstore.Root {
		es, err := tx.ReadDir(ctx, dir)
		if absent(err) {
			dir = dir.Dir()
			continue
		}
		if err != nil {
			return fmt.Errorf("bridge: list %s: %w", dir, err)
		}
		if len(es) > 0 {
			return nil
		}
		if err := remove(ctx, tx, dir); err != nil {
			return err
		}
		dir = dir.Dir()
	}
	return nil
}

// WritePR writes pr's files: head, state, title, owner, base and
// comments/<i>/{id,user,body}, removing comments beyond len(pr.Comments).
// Other files of the PR directory (.dirty) are left alone. Head, state and
// owner are required.
func WritePR(ctx context.Context, tx dkstore.Transaction, pr PR) error {
	op := fmt.Sprintf("write PR %s#%d", pr.Repo, pr.Number)
	if err := pr.Repo.Valid(); err != nil {
		return fmt.Errorf("bridge: %s: %w", op, err)
	}
	if pr.Number <= 0 {
		return invalid(op, "PR numbers are positive")
	}
	if !validSHA(pr.Head) {
		return invalid(op, "head %q is not a commit id (lower-case hex)", pr.Head)
	}
	if pr.State != PROpen && pr.State != PRClosed {
		return invalid(op, "state %q is neither %q nor %q", pr.State, PROpen, PRClosed)
	}
	if pr.Owner == "" {
		return invalid(op, "no owner")
	}
	dir := PRPath(pr.Repo, pr.Number)
	for _, f := range []struct{ name, v string }{
		{"head", pr.Head}, {"state", pr.State}, {"title", pr.Title}, {"owner", pr.Owner}, {"base", pr.Base},
	} {
		if err := writeValue(ctx, tx, dir.Join(f.name), f.v); err != nil {
			return err
		}
	}
	cdir := dir.Join("comments")
	for i, c := range pr.Comments {
		p := cdir.Join(strconv.Itoa(i))
		if err := writeValue(ctx, tx, p.Join("id"), strconv.FormatInt(c.ID, 10)); err != nil {
			return err
		}
		if err := writeValue(ctx, tx, p.Join("user"), c.User); err != nil {
			return err
		}
		if err := writeFile(ctx, tx, p.Join("body"), []byte(c.Body)); err != nil {
			return err
		}
	}
	es, err := readDir(ctx, tx, cdir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if i, err := strconv.Atoi(e.Name); err == nil && i >= 0 && i < len(pr.Comments) && strconv.Itoa(i) == e.Name {
			continue
		}
		if err := remove(ctx, tx, cdir.Join(e.Name)); err != nil {
			return err
		}
	}
	return nil
}

// RemovePR removes PR n's directory.
func RemovePR(ctx context.Context, tx dkstore.Transaction, repo Repo, n int) error {
	if err := repo.Valid(); err != nil {
		return fmt.Errorf("bridge: remove PR %s#%d: %w", repo, n, err)
	}
	if n <= 0 {
		return invalid(fmt.Sprintf("remove PR %s#%d", repo, n), "PR numbers are positive")
	}
	if err := remove(ctx, tx, PRPath(repo, n)); err != nil {
		return err
	}
	return prune(ctx, tx, repo.Path().Join("pr"), repo.Path())
}

// WriteRef writes ref's head file.
func WriteRef(ctx context.Context, tx dkstore.Transaction, ref Ref) error {
	op := fmt.Sprintf("write ref %s %s", ref.Repo, ref.Name)
	if err := ref.Repo.Valid(); err != nil {
		return fmt.Errorf("bridge: %s: %w", op, err)
	}
	if !ValidRefName(ref.Name) {
		return invalid(op, "ref names are '/'-separated %s", nameRule)
	}
	if !validSHA(ref.Head) {
		return invalid(op, "head %q is not a commit id (lower-case hex)", ref.Head)
	}
	return writeValue(ctx, tx, RefPath(ref.Repo, ref.Name).Join("head"), ref.Head)
}

// RemoveRef removes the ref's head (and .dirty) file, and the directories
// this leaves empty. Refs nested below it are kept.
func RemoveRef(ctx context.Context, tx dkstore.Transaction, repo Repo, name string) error {
	op := fmt.Sprintf("remove ref %s %s", repo, name)
	if err := repo.Valid(); err != nil {
		return fmt.Errorf("bridge: %s: %w", op, err)
	}
	if !ValidRefName(name) {
		return invalid(op, "ref names are '/'-separated %s", nameRule)
	}
	dir := RefPath(repo, name)
	for _, f := range []string{"head", ".dirty"} {
		if err := remove(ctx, tx, dir.Join(f)); err != nil {
			return err
		}
	}
	return prune(ctx, tx, dir, repo.Path())
}

// WriteStatus writes st's state file, and its description and target_url
// files when they are not empty (removing them otherwise). Only files whose
// content changes are written.
func WriteStatus(ctx context.Context, tx dkstore.Transaction, st Status) error {
	op := fmt.Sprintf("write status %s %s %q", st.Repo, st.Commit, st.Context)
	if err := st.Repo.Valid(); err != nil {
		return fmt.Errorf("bridge: %s: %w", op, err)
	}
	if !validSHA(st.Commit) {
		return invalid(op, "%q is not a commit id (lower-case hex)", st.Commit)
	}
	if !validContext(st.Context) {
		return invalid(op, "a context is '/'-separated non-empty names, none of them state, description or target_url")
	}
	if !ValidState(st.State) {
		return invalid(op, "state %q is not pending, success, failure or error", st.State)
	}
	dir := StatusPath(st.Repo, st.Commit, st.Context)
	if err := writeValue(ctx, tx, dir.Join(stateFile), st.State); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{descriptionFile, st.Description}, {targetURLFile, st.TargetURL}} {
		var err error
		if f.v == "" {
			err = remove(ctx, tx, dir.Join(f.name))
		} else {
			err = writeValue(ctx, tx, dir.Join(f.name), f.v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RemoveStatus removes the status of commit sha in context (its state,
// description and target_url files) and the directories this leaves
// empty. Statuses of nested contexts are kept.
func RemoveStatus(ctx context.Context, tx dkstore.Transaction, repo Repo, sha, context string) error {
	op := fmt.Sprintf("remove status %s %s %q", repo, sha, context)
	if err := repo.Valid(); err != nil {
		return fmt.Errorf("bridge: %s: %w", op, err)
	}
	if !validSHA(sha) || !validContext(context) {
		return invalid(op, "invalid commit id or context")
	}
	dir := StatusPath(repo, sha, context)
	for _, f := range []string{stateFile, descriptionFile, targetURLFile} {
		if err := remove(ctx, tx, dir.Join(f)); err != nil {
			return err
		}
	}
	return prune(ctx, tx, dir, repo.Path())
}

// SetMonitored creates the repository's empty .monitor file.
func SetMonitored(ctx context.Context, tx dkstore.Transaction, repo Repo) error {
	if err := repo.Valid(); err != nil {
		return fmt.Errorf("bridge: monitor %s: %w", repo, err)
	}
	return writeFile(ctx, tx, MonitorPath(repo), nil)
}

// SetDirty creates the repository's empty .dirty file, asking the bridge
// to import the whole repository again.
func SetDirty(ctx context.Context, tx dkstore.Transaction, repo Repo) error {
	if err := repo.Valid(); err != nil {
		return fmt.Errorf("bridge: mark %s dirty: %w", repo, err)
	}
	return writeFile(ctx, tx, DirtyPath(repo), nil)
}

// The first commit of a metadata branch.
const (
	ReadmeText  = "### DataKit -- GitHub bridge\n"
	InitMessage = "Initial commit"
	readmeFile  = "README.md"
)

// Init gives branch its first commit, README.md with ReadmeText and the
// message "Initial commit", if it has no head yet. A branch that has one
// (or that another program initialises at the same time) is left as it is.
func Init(ctx context.Context, s dkstore.Store, branch dkstore.BranchName) error {
	b, err := s.Branch(branch)
	if err != nil {
		return fmt.Errorf("bridge: init %s: %w", branch, err)
	}
	head, err := b.Head(ctx)
	if err != nil {
		return fmt.Errorf("bridge: init %s: %w", branch, err)
	}
	if !head.IsZero() {
		return nil
	}
	tx, err := b.Transaction(ctx, dkstore.TxOptions{FastForwardOnly: true})
	if err != nil {
		return fmt.Errorf("bridge: init %s: %w", branch, err)
	}
	defer tx.Abort(context.WithoutCancel(ctx))
	if err := tx.WriteFile(ctx, readmeFile, []byte(ReadmeText), dkstore.KindFile); err != nil {
		return fmt.Errorf("bridge: init %s: %w", branch, err)
	}
	if _, err := tx.Commit(ctx, InitMessage); err != nil {
		if errors.Is(err, dkstore.ErrNotFastForward) {
			return nil // initialised meanwhile by someone else
		}
		return fmt.Errorf("bridge: init %s: %w", branch, err)
	}
	return nil
}
