package local

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

// source is a Source with what the syncer remembers of it.
type source struct {
	Source
	rd     *dkstore.RepoReader // nil until opened (again)
	synced string              // fingerprint of the refs last made to agree
}

// repoState is what a pass read from a repository.
type repoState struct {
	refs        []dkstore.GitRef
	defBranch   string
	fingerprint string
}

// commitInfo is what a PR takes from its head commit.
type commitInfo struct{ title, owner string }

// syncer holds the state of Sync (one pass) or Run (many).
type syncer struct {
	store    dkstore.Store
	opts     Options
	srcs     []*source
	inited   bool
	lastHead dkstore.CommitID // the head last found in agreement
	warned   map[string]bool  // names already logged as skipped
	commits  map[string]commitInfo
	lastErr  string
}

func newSyncer(store dkstore.Store, srcs []Source, opts Options) (*syncer, error) {
	if len(srcs) == 0 {
		return nil, dkstore.Invalidf("local: no repositories to watch")
	}
	if _, err := store.Branch(opts.Branch); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	s := &syncer{store: store, opts: opts, warned: map[string]bool{}, commits: map[string]commitInfo{}}
	seen := map[bridge.Repo]string{}
	for _, src := range srcs {
		if err := src.Repo.Valid(); err != nil {
			return nil, fmt.Errorf("local: source %s: %w", src, err)
		}
		if src.Path == "" {
			return nil, dkstore.Invalidf("local: source %s: no path", src)
		}
		if other, ok := seen[src.Repo]; ok {
			return nil, dkstore.Invalidf("local: %s is given twice (%s and %s)", src.Repo, other, src.Path)
		}
		seen[src.Repo] = src.Path
		s.srcs = append(s.srcs, &source{Source: src})
	}
	return s, nil
}

func (s *syncer) close() {
	for _, src := range s.srcs {
		if src.rd != nil {
			src.rd.Close()
			src.rd = nil
		}
	}
}

// open opens the repositories not open yet. It returns the errors of those
// that cannot be, and an ErrRefused error for a refused one.
func (s *syncer) open() error {
	var errs []error
	for _, src := range s.srcs {
		if src.rd != nil {
			continue
		}
		rd, err := dkstore.OpenRepoReader(src.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("local: %s: %w", src, err))
			continue
		}
		if r, ok := refused(s.opts.Refuse, src.Path, rd.GitDir(), rd.CommonDir()); ok {
			rd.Close()
			return fmt.Errorf("local: %s: Git directory %s is %s: %w", src, rd.GitDir(), r, ErrRefused)
		}
		src.rd = rd
	}
	return errors.Join(errs...)
}

// report logs err if it differs from the last one.
func (s *syncer) report(err error) {
	text := ""
	if err != nil {
		text = err.Error()
	}
	if text == s.lastErr {
		return
	}
	if err != nil {
		s.opts.Logger.Error("local bridge", "err", err)
	} else {
		s.opts.Logger.Info("local bridge: all repositories read again")
	}
	s.lastErr = text
}

// warn logs that name is skipped, once.
func (s *syncer) warn(src *source, name, why string) {
	key := src.Repo.String() + " " + name
	if s.warned[key] {
		return
	}
	s.warned[key] = true
	s.opts.Logger.Warn("local bridge: skipping ref", "repo", src.Repo.String(), "ref", name, "why", why)
}

// pass makes the metadata branch agree with the repositories.
func (s *syncer) pass(ctx context.Context) (dkstore.CommitID, bool, error) {
	openErr := s.open()
	if errors.Is(openErr, ErrRefused) {
		return dkstore.CommitID{}, false, openErr
	}
	errs := []error{openErr}
	if !s.inited {
		if err := bridge.Init(ctx, s.store, s.opts.Branch); err != nil {
			return dkstore.CommitID{}, false, fmt.Errorf("local: %w", err)
		}
		s.inited = true
	}
	states := map[*source]*repoState{}
	for _, src := range s.srcs {
		if src.rd == nil {
			continue
		}
		st, err := s.read(ctx, src)
		if err != nil {
			if ctx.Err() != nil {
				return dkstore.CommitID{}, false, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("local: %s: %w", src, err))
			src.rd.Close()
			src.rd = nil // open it again next time: it may be replaced
			continue
		}
		states[src] = st
	}
	b, err := s.store.Branch(s.opts.Branch)
	if err != nil {
		return dkstore.CommitID{}, false, fmt.Errorf("local: %w", err)
	}
	head, err := b.Head(ctx)
	if err != nil {
		return dkstore.CommitID{}, false, fmt.Errorf("local: %w", err)
	}
	unchanged := head == s.lastHead
	for src, st := range states {
		unchanged = unchanged && src.synced == st.fingerprint
	}
	if unchanged {
		return head, false, errors.Join(errs...)
	}
	var id dkstore.CommitID
	var committed bool
	for attempt := 0; ; attempt++ {
		id, committed, err = s.apply(ctx, b, states)
		if !errors.Is(err, dkstore.ErrConflict) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return dkstore.CommitID{}, false, errors.Join(append(errs, err)...)
	}
	s.lastHead = id
	for src, st := range states {
		src.synced = st.fingerprint
	}
	return id, committed, errors.Join(errs...)
}

// read reads a repository's refs and default branch.
func (s *syncer) read(ctx context.Context, src *source) (*repoState, error) {
	refs, err := src.rd.Refs(ctx)
	if err != nil {
		return nil, err
	}
	def, err := src.rd.DefaultBranch(ctx)
	if err != nil {
		def = "" // detached: PRs get no default base
	}
	var fp strings.Builder
	fp.WriteString(def)
	for _, g := range refs {
		fmt.Fprintf(&fp, "\n%s %s %s", g.Name, g.Target, g.Symbolic)
	}
	return &repoState{refs: refs, defBranch: def, fingerprint: fp.String()}, nil
}

// change is one line of the commit message and what it writes.
type change struct {
	line  string
	apply func(ctx context.Context, tx dkstore.Transaction) error
}

// apply computes the changes against the branch head and commits them.
func (s *syncer) apply(ctx context.Context, b dkstore.Branch, states map[*source]*repoState) (dkstore.CommitID, bool, error) {
	r, head, err := bridge.Snapshot(ctx, s.store, s.opts.Branch)
	if err != nil {
		return dkstore.CommitID{}, false, fmt.Errorf("local: %w", err)
	}
	var changes []change
	for _, src := range s.srcs { // in the order given
		st, ok := states[src]
		if !ok {
			continue
		}
		cs, err := s.diff(ctx, r, src, st)
		if err != nil {
			return dkstore.CommitID{}, false, fmt.Errorf("local: %s: %w", src, err)
		}
		changes = append(changes, cs...)
	}
	if len(changes) == 0 {
		return head, false, nil
	}
	tx, err := b.Transaction(ctx, dkstore.TxOptions{From: head})
	if err != nil {
		return dkstore.CommitID{}, false, fmt.Errorf("local: %w", err)
	}
	defer tx.Abort(context.WithoutCancel(ctx))
	lines := make([]string, len(changes))
	for i, c := range changes {
		if err := c.apply(ctx, tx); err != nil {
			return dkstore.CommitID{}, false, fmt.Errorf("local: %s: %w", c.line, err)
		}
		lines[i] = c.line
	}
	id, err := tx.Commit(ctx, strings.Join(lines, "\n"))
	if err != nil {
		return dkstore.CommitID{}, false, fmt.Errorf("local: commit to %s: %w", s.opts.Branch, err)
	}
	for _, l := range lines {
		s.opts.Logger.Info(l)
	}
	return id, true, nil
}

// diff lists the changes that make the metadata of src agree with st.
func (s *syncer) diff(ctx context.Context, r dkstore.Reader, src *source, st *repoState) ([]change, error) {
	repo := src.Repo
	want := map[string]string{} // ref name → head
	prs := map[int]string{}     // PR number → head
	for _, g := range st.refs {
		var name string
		switch {
		case strings.HasPrefix(g.Name, "refs/heads/"):
			name = "heads/" + strings.TrimPrefix(g.Name, "refs/heads/")
		case strings.HasPrefix(g.Name, "refs/tags/"):
			name = "tags/" + strings.TrimPrefix(g.Name, "refs/tags/")
		case strings.HasPrefix(g.Name, "refs/pull/") && strings.HasSuffix(g.Name, "/head"):
			num := strings.TrimSuffix(strings.TrimPrefix(g.Name, "refs/pull/"), "/head")
			n, err := strconv.Atoi(num)
			if err != nil || n <= 0 || strconv.Itoa(n) != num {
				s.warn(src, g.Name, "not refs/pull/<number>/head")
				continue
			}
			if !g.Target.IsZero() {
				prs[n] = g.Target.String()
			}
			continue
		default:
			continue
		}
		if g.Target.IsZero() {
			continue
		}
		if !bridge.ValidRefName(name) {
			s.warn(src, g.Name, "names are '/'-separated components made of letters, digits, '.', '_' and '-'")
			continue
		}
		want[name] = g.Target.String()
	}

	var out []change
	have, err := bridge.ReadRefs(ctx, r, repo)
	if err != nil {
		return nil, err
	}
	haveMap := map[string]string{}
	for _, ref := range have {
		if !ref.IsBranch() && !ref.IsTag() {
			continue
		}
		haveMap[ref.Name] = ref.Head
		if _, ok := want[ref.Name]; !ok {
			name := ref.Name
			out = append(out, change{
				line: fmt.Sprintf("Removing deleted %s %s of %s", refKind(ref), ref.Short(), repo),
				apply: func(ctx context.Context, tx dkstore.Transaction) error {
					return bridge.RemoveRef(ctx, tx, repo, name)
				},
			})
		}
	}
	for _, name := range sortedKeys(want) {
		ref := bridge.Ref{Repo: repo, Name: name, Head: want[name]}
		old, ok := haveMap[name]
		var line string
		switch {
		case !ok:
			line = fmt.Sprintf("Tracking new %s %s of %s", refKind(ref), ref.Short(), repo)
		case old != ref.Head:
			line = fmt.Sprintf("Updating existing %s %s of %s to %s", refKind(ref), ref.Short(), repo, ref.Head)
		default:
			continue
		}
		out = append(out, change{line: line, apply: func(ctx context.Context, tx dkstore.Transaction) error {
			return bridge.WriteRef(ctx, tx, ref)
		}})
	}

	havePRs, err := bridge.ReadPRs(ctx, r, repo)
	if err != nil {
		return nil, err
	}
	prMap := map[int]bridge.PR{}
	for _, pr := range havePRs {
		prMap[pr.Number] = pr
		if _, ok := prs[pr.Number]; !ok && pr.State == bridge.PROpen {
			pr.State = bridge.PRClosed
			out = append(out, writePR(fmt.Sprintf("Closing PR %d of %s", pr.Number, repo), pr))
		}
	}
	nums := make([]int, 0, len(prs))
	for n := range prs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		head := prs[n]
		base := prBase(st, n)
		old, ok := prMap[n]
		pr := old
		pr.Base = base
		if !ok || old.Head != head || old.State != bridge.PROpen {
			info := s.commitInfo(ctx, src, head)
			pr = bridge.PR{Repo: repo, Number: n, Head: head, State: bridge.PROpen,
				Title: info.title, Owner: info.owner, Base: base, Comments: old.Comments}
		}
		// One line per change; each writes the whole PR, which is the same.
		var lines []string
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("Tracking new PR %d of %s", n, repo))
		case old.State != bridge.PROpen:
			lines = append(lines, fmt.Sprintf("Reopening PR %d of %s at %s", n, repo, head))
		case old.Head != head:
			lines = append(lines, fmt.Sprintf("Updating PR %d of %s to %s", n, repo, head))
		}
		if ok && old.Base != pr.Base {
			lines = append(lines, fmt.Sprintf("Updating base of PR %d of %s to %s", n, repo, pr.Base))
		}
		if ok && old.Title != pr.Title {
			lines = append(lines, fmt.Sprintf("Updating title of PR %d of %s to %q", n, repo, pr.Title))
		}
		for _, l := range lines {
			out = append(out, writePR(l, pr))
		}
	}
	return out, nil
}

func writePR(line string, pr bridge.PR) change {
	return change{line: line, apply: func(ctx context.Context, tx dkstore.Transaction) error {
		return bridge.WritePR(ctx, tx, pr)
	}}
}

func refKind(r bridge.Ref) string {
	if r.IsTag() {
		return "tag"
	}
	return "branch"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// prBase returns the base branch of PR n: the branch refs/pull/<n>/base
// names (symbolically, or by having the same head), else the default
// branch.
func prBase(st *repoState, n int) string {
	name := fmt.Sprintf("refs/pull/%d/base", n)
	var base dkstore.GitRef
	found := false
	for _, g := range st.refs {
		if g.Name == name {
			base, found = g, true
			break
		}
	}
	if !found {
		return st.defBranch
	}
	if b, ok := strings.CutPrefix(base.Symbolic, "refs/heads/"); ok && b != "" {
		return b
	}
	if base.Target.IsZero() {
		return st.defBranch
	}
	var match []string
	for _, g := range st.refs {
		if b, ok := strings.CutPrefix(g.Name, "refs/heads/"); ok && g.Target == base.Target {
			if b == st.defBranch {
				return b
			}
			match = append(match, b)
		}
	}
	if len(match) > 0 {
		return match[0] // refs are sorted
	}
	return st.defBranch
}

// commitInfo returns the title and owner of a PR whose head is sha.
func (s *syncer) commitInfo(ctx context.Context, src *source, sha string) commitInfo {
	if info, ok := s.commits[sha]; ok {
		return info
	}
	id, err := dkstore.ParseCommitID(sha)
	if err != nil {
		return commitInfo{owner: "local"}
	}
	info := commitInfo{owner: "local"}
	if subj, err := src.rd.CommitSubject(ctx, id); err == nil {
		info.title = subj
	} else {
		s.opts.Logger.Warn("local bridge: reading a PR's head commit", "repo", src.Repo.String(), "commit", sha, "err", err)
	}
	if author, err := src.rd.CommitAuthor(ctx, id); err == nil {
		info.owner = Owner(author)
	}
	if len(s.commits) >= 4096 {
		clear(s.commits) // a long Run sees many heads; forget old ones
	}
	s.commits[sha] = info
	return info
}

// Owner makes a PR owner name of a commit author's name: runs of
// characters other than letters, digits, '.', '_' and '-' become one '-'
// ("Jane Doe" gives "Jane-Doe"), and a name left empty gives "local".
func Owner(author string) string {
	var b strings.Builder
	dash := false
	for _, c := range author {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteRune(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.Trim(b.String(), "-.")
	if !bridge.ValidName(s) {
		return "local"
	}
	return s
}
