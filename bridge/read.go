package bridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/dkgo/datakit/dkstore"
)

// absent reports whether err means "nothing there" for a lenient reader:
// a missing entry, a file where a directory was expected or the reverse.
func absent(err error) bool {
	return errors.Is(err, dkstore.ErrNotExist) || errors.Is(err, dkstore.ErrNotDir) || errors.Is(err, dkstore.ErrIsDir)
}

// readRaw returns the content of the file at p, or false if there is none.
func readRaw(ctx context.Context, r dkstore.Reader, p dkstore.Path) ([]byte, bool, error) {
	data, err := r.ReadFile(ctx, p)
	if absent(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("bridge: read %s: %w", p, err)
	}
	return data, true, nil
}

// readValue returns the trimmed content of the file at p, or false.
func readValue(ctx context.Context, r dkstore.Reader, p dkstore.Path) (string, bool, error) {
	data, ok, err := readRaw(ctx, r, p)
	return strings.TrimSpace(string(data)), ok, err
}

// readDir lists the directory at p; a missing directory is empty.
func readDir(ctx context.Context, r dkstore.Reader, p dkstore.Path) ([]dkstore.DirEntry, error) {
	es, err := r.ReadDir(ctx, p)
	if absent(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: list %s: %w", p, err)
	}
	return es, nil
}

// isFile reports whether there is a file (of any kind) at p.
func isFile(ctx context.Context, r dkstore.Reader, p dkstore.Path) (bool, error) {
	st, err := r.Stat(ctx, p)
	if absent(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("bridge: stat %s: %w", p, err)
	}
	return st.Kind.IsFile(), nil
}

// Monitored lists the repositories that have a .monitor file, sorted.
func Monitored(ctx context.Context, r dkstore.Reader) ([]Repo, error) {
	users, err := readDir(ctx, r, dkstore.Root)
	if err != nil {
		return nil, err
	}
	var out []Repo
	for _, u := range users {
		if u.Kind != dkstore.KindDir || !ValidName(u.Name) {
			continue
		}
		repos, err := readDir(ctx, r, dkstore.Path(u.Name))
		if err != nil {
			return nil, err
		}
		for _, e := range repos {
			if e.Kind != dkstore.KindDir || !ValidName(e.Name) {
				continue
			}
			repo := Repo{User: u.Name, Name: e.Name}
			ok, err := isFile(ctx, r, MonitorPath(repo))
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, repo)
			}
		}
	}
	return out, nil // ReadDir sorts, and so user/repo pairs come sorted
}

// ReadPRs returns the repository's PRs, sorted by number. PRs lacking a
// head, a state or an owner are skipped.
func ReadPRs(ctx context.Context, r dkstore.Reader, repo Repo) ([]PR, error) {
	if repo.Valid() != nil {
		return nil, nil
	}
	es, err := readDir(ctx, r, repo.Path().Join("pr"))
	if err != nil {
		return nil, err
	}
	var out []PR
	for _, e := range es {
		n, ok := parsePRNumber(e.Name)
		if !ok || e.Kind != dkstore.KindDir {
			continue
		}
		pr, ok, err := ReadPR(ctx, r, repo, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, pr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// ReadPR returns PR n of the repository, or false if there is none or it
// lacks a head, a state or an owner.
func ReadPR(ctx context.Context, r dkstore.Reader, repo Repo, n int) (PR, bool, error) {
	if repo.Valid() != nil || n <= 0 {
		return PR{}, false, nil
	}
	dir := PRPath(repo, n)
	pr := PR{Repo: repo, Number: n}
	var ok [5]bool
	var err error
	for i, f := range []struct {
		name string
		v    *string
	}{{"head", &pr.Head}, {"state", &pr.State}, {"owner", &pr.Owner}, {"title", &pr.Title}, {"base", &pr.Base}} {
		if *f.v, ok[i], err = readValue(ctx, r, dir.Join(f.name)); err != nil {
			return PR{}, false, err
		}
	}
	pr.Head = normSHA(pr.Head)
	if !ok[0] || !validSHA(pr.Head) || !ok[1] || (pr.State != PROpen && pr.State != PRClosed) || !ok[2] || pr.Owner == "" {
		return PR{}, false, nil
	}
	if pr.Comments, err = readComments(ctx, r, dir.Join("comments")); err != nil {
		return PR{}, false, err
	}
	return pr, true, nil
}

// readComments reads comments/<i>/{id,user,body} in the order of i.
// Comments with no id, or an id that is not a number, are skipped.
func readComments(ctx context.Context, r dkstore.Reader, dir dkstore.Path) ([]Comment, error) {
	es, err := readDir(ctx, r, dir)
	if err != nil {
		return nil, err
	}
	type indexed struct {
		i int
		c Comment
	}
	var cs []indexed
	for _, e := range es {
		i, err := strconv.Atoi(e.Name)
		if err != nil || i < 0 || strconv.Itoa(i) != e.Name || e.Kind != dkstore.KindDir {
			continue
		}
		p := dir.Join(e.Name)
		idText, ok, err := readValue(ctx, r, p.Join("id"))
		if err != nil {
			return nil, err
		}
		id, perr := strconv.ParseInt(idText, 10, 64)
		if !ok || perr != nil {
			continue
		}
		user, _, err := readValue(ctx, r, p.Join("user"))
		if err != nil {
			return nil, err
		}
		body, _, err := readRaw(ctx, r, p.Join("body"))
		if err != nil {
			return nil, err
		}
		cs = append(cs, indexed{i, Comment{ID: id, User: user, Body: string(body)}})
	}
	sort.Slice(cs, func(a, b int) bool { return cs[a].i < cs[b].i })
	var out []Comment
	for _, c := range cs {
		out = append(out, c.c)
	}
	return out, nil
}

// ReadRefs returns the repository's refs, sorted by name: every directory
// below ref/ that holds a head file, at any depth.
func ReadRefs(ctx context.Context, r dkstore.Reader, repo Repo) ([]Ref, error) {
	if repo.Valid() != nil {
		return nil, nil
	}
	var out []Ref
	var walk func(dir dkstore.Path, name string) error
	walk = func(dir dkstore.Path, name string) error {
		es, err := readDir(ctx, r, dir)
		if err != nil {
			return err
		}
		for _, e := range es {
			switch {
			case e.Name == "head" && e.Kind.IsFile() && name != "":
				head, _, err := readValue(ctx, r, dir.Join(e.Name))
				if err != nil {
					return err
				}
				if head = normSHA(head); validSHA(head) {
					out = append(out, Ref{Repo: repo, Name: name, Head: head})
				}
			case e.Kind == dkstore.KindDir && ValidName(e.Name):
				sub := e.Name
				if name != "" {
					sub = name + "/" + e.Name
				}
				if err := walk(dir.Join(e.Name), sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(repo.Path().Join("ref"), ""); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ReadRef returns the ref name of the repository, or false if it has no
// valid head.
func ReadRef(ctx context.Context, r dkstore.Reader, repo Repo, name string) (Ref, bool, error) {
	if repo.Valid() != nil || !ValidRefName(name) {
		return Ref{}, false, nil
	}
	head, ok, err := readValue(ctx, r, RefPath(repo, name).Join("head"))
	if err != nil || !ok {
		return Ref{}, false, err
	}
	if head = normSHA(head); !validSHA(head) {
		return Ref{}, false, nil
	}
	return Ref{Repo: repo, Name: name, Head: head}, true, nil
}

// ReadStatuses returns the statuses of commit sha, sorted by context: a
// status for every directory below status/ that holds a state file, at
// any depth.
func ReadStatuses(ctx context.Context, r dkstore.Reader, repo Repo, sha string) ([]Status, error) {
	sha = normSHA(sha)
	if repo.Valid() != nil || !validSHA(sha) {
		return nil, nil
	}
	var out []Status
	var walk func(dir dkstore.Path, context string) error
	walk = func(dir dkstore.Path, context string) error {
		es, err := readDir(ctx, r, dir)
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.Kind != dkstore.KindDir || !validContext(e.Name) {
				continue
			}
			sub := e.Name
			if context != "" {
				sub = context + "/" + e.Name
			}
			if err := walk(dir.Join(e.Name), sub); err != nil {
				return err
			}
		}
		if context == "" {
			return nil
		}
		st, ok, err := ReadStatus(ctx, r, repo, sha, contextOfDir(context))
		if err != nil {
			return err
		}
		if ok {
			out = append(out, st)
		}
		return nil
	}
	if err := walk(CommitPath(repo, sha).Join("status"), ""); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Context < out[j].Context })
	return out, nil
}

// contextOfDir maps a context directory path to its context: "default"
// is the empty context.
func contextOfDir(dir string) string {
	if dir == DefaultContext {
		return ""
	}
	return dir
}

// ReadStatus returns the status of commit sha in context, or false if its
// state file is missing. A state that is not one of the four reads as
// "failure".
func ReadStatus(ctx context.Context, r dkstore.Reader, repo Repo, sha, context string) (Status, bool, error) {
	sha = normSHA(sha)
	if repo.Valid() != nil || !validSHA(sha) || !validContext(context) {
		return Status{}, false, nil
	}
	dir := StatusPath(repo, sha, context)
	state, ok, err := readValue(ctx, r, dir.Join(stateFile))
	if err != nil || !ok {
		return Status{}, false, err
	}
	if !ValidState(state) {
		state = StateFailure
	}
	st := Status{Repo: repo, Commit: sha, Context: contextOfDir(context), State: state}
	if st.Description, _, err = readValue(ctx, r, dir.Join(descriptionFile)); err != nil {
		return Status{}, false, err
	}
	if st.TargetURL, _, err = readValue(ctx, r, dir.Join(targetURLFile)); err != nil {
		return Status{}, false, err
	}
	return st, true, nil
}

// Snapshot returns a reader of the tree at the head of branch, and the
// head. A branch with no commit reads as an empty tree, with a zero head.
func Snapshot(ctx context.Context, s dkstore.Store, branch dkstore.BranchName) (dkstore.Reader, dkstore.CommitID, error) {
	b, err := s.Branch(branch)
	if err != nil {
		return nil, dkstore.CommitID{}, fmt.Errorf("bridge: snapshot %s: %w", branch, err)
	}
	head, err := b.Head(ctx)
	if err != nil {
		return nil, dkstore.CommitID{}, fmt.Errorf("bridge: snapshot %s: %w", branch, err)
	}
	if head.IsZero() {
		return Empty, head, nil
	}
	c, err := s.Commit(ctx, head)
	if err != nil {
		return nil, dkstore.CommitID{}, fmt.Errorf("bridge: snapshot %s: %w", branch, err)
	}
	t, err := s.Tree(ctx, c.Tree)
	if err != nil {
		return nil, dkstore.CommitID{}, fmt.Errorf("bridge: snapshot %s: %w", branch, err)
	}
	return t, head, nil
}

// Empty reads as an empty tree: the metadata of a branch with no commit.
var Empty dkstore.Reader = emptyTree{}

type emptyTree struct{}

func (emptyTree) Stat(ctx context.Context, p dkstore.Path) (dkstore.Stat, error) {
	if p == dkstore.Root {
		return dkstore.Stat{Kind: dkstore.KindDir}, nil
	}
	return dkstore.Stat{}, fmt.Errorf("bridge: stat %s: %w", p, dkstore.ErrNotExist)
}

func (emptyTree) ReadFile(ctx context.Context, p dkstore.Path) ([]byte, error) {
	if p == dkstore.Root {
		return nil, fmt.Errorf("bridge: read %s: %w", p, dkstore.ErrIsDir)
	}
	return nil, fmt.Errorf("bridge: read %s: %w", p, dkstore.ErrNotExist)
}

func (emptyTree) ReadDir(ctx context.Context, p dkstore.Path) ([]dkstore.DirEntry, error) {
	if p == dkstore.Root {
		return nil, nil
	}
	return nil, fmt.Errorf("bridge: list %s: %w", p, dkstore.ErrNotExist)
}
