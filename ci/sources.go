package ci

import (
	"context"
	"strings"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// snapshot is the metadata a round of evaluation reads: one commit of the
// metadata branch. Sources find it in the evaluation's context.
type snapshot struct {
	id   dkstore.CommitID
	tree dkstore.Tree // nil while the branch has no commit
}

type snapshotKey struct{}

func withSnapshot(ctx context.Context, s *snapshot) context.Context {
	return context.WithValue(ctx, snapshotKey{}, s)
}

// snapshotOf returns the evaluation's snapshot, or an Error result for a
// term evaluated outside the engine.
func snapshotOf[T any](c *term.Ctx) (*snapshot, *term.Result[T]) {
	s, _ := c.Context().Value(snapshotKey{}).(*snapshot)
	if s == nil {
		return nil, &term.Result[T]{State: term.Error, Msg: "no metadata snapshot: this term reads the store and must be evaluated by the CI engine (or ci/citest)"}
	}
	return s, nil
}

// source is the common shape of the store-reading terms: read from the
// snapshot, record the path read as a dependency, turn store errors into
// infrastructure errors.
func source[T any](dep func() dkstore.Path, read func(ctx context.Context, tree dkstore.Reader) term.Result[T]) term.Term[T] {
	return term.New(func(c *term.Ctx) term.Result[T] {
		s, bad := snapshotOf[T](c)
		if bad != nil {
			return *bad
		}
		c.Depend(string(dep()))
		if s.tree == nil {
			return read(c.Context(), bridge.Empty)
		}
		return read(c.Context(), s.tree)
	})
}

// resolve reads a target from a metadata tree: ok is false when it does
// not exist (or, for a PR, is not open).
func resolve(ctx context.Context, r dkstore.Reader, id TargetID) (Target, bool, error) {
	if id.IsPR() {
		pr, ok, err := bridge.ReadPR(ctx, r, id.Repo, id.PR)
		if err != nil || !ok || pr.State != "open" {
			return Target{}, false, err
		}
		return Target{ID: id, Head: pr.Head, Title: pr.Title, Owner: pr.Owner, Base: pr.Base}, true, nil
	}
	ref, ok, err := bridge.ReadRef(ctx, r, id.Repo, id.Ref)
	if err != nil || !ok {
		return Target{}, false, err
	}
	return Target{ID: id, Head: ref.Head}, true, nil
}

func targetPath(id TargetID) dkstore.Path {
	if id.IsPR() {
		return bridge.PRPath(id.Repo, id.PR)
	}
	return bridge.RefPath(id.Repo, id.Ref)
}

// TargetOf reads a target from the metadata: it fails with "Target <id>
// does not exist" when there is no such open PR, branch or tag (the
// original's Term.target).
func TargetOf(id TargetID) term.Term[Target] {
	return source(func() dkstore.Path { return targetPath(id) }, func(ctx context.Context, tree dkstore.Reader) term.Result[Target] {
		t, ok, err := resolve(ctx, tree, id)
		switch {
		case err != nil:
			return term.Result[Target]{State: term.Error, Msg: err.Error()}
		case !ok:
			return term.Result[Target]{State: term.Failure, Msg: "Target " + id.String() + " does not exist"}
		}
		return term.Result[Target]{State: term.Success, Value: t}
	})
}

// HeadOf is the head commit of a target (the original's Term.head).
func HeadOf(id TargetID) term.Term[Commit] {
	return term.Map(TargetOf(id), Target.Commit)
}

// BranchHead is the head of a branch of another (or the same) project:
// "user/repo", "master" (the original's Term.branch_head).
func BranchHead(repo, branch string) term.Term[Commit] { return HeadOf(Branch(repo, branch)) }

// TagCommit is the commit a tag points to (the original's Term.tag).
func TagCommit(repo, tag string) term.Term[Commit] { return HeadOf(Tag(repo, tag)) }

// CommitStatus is a status some CI set on a commit.
type CommitStatus struct {
	Context     string // e.g. "ci/circleci"
	State       State
	Description string
	TargetURL   string
}

func parseState(s string) State {
	switch s {
	case "success":
		return Success
	case "pending":
		return Pending
	case "error":
		return Error
	}
	return Failure
}

// StatusOf is the status with context ctx (e.g. "ci/circleci") of the
// commit: nil when there is none. It always succeeds once the commit is
// known (the original's Term.ci_status).
func StatusOf(ctx string, commit term.Term[Commit]) term.Term[*CommitStatus] {
	return term.Bind(commit, func(c Commit) term.Term[*CommitStatus] {
		// The metadata holds lower-case hashes: depend on the path that
		// is read, whatever the case the pipeline gave.
		sha := strings.ToLower(strings.TrimSpace(c.Hash))
		return source(func() dkstore.Path { return bridge.StatusPath(c.Repo, sha, ctx) },
			func(rctx context.Context, tree dkstore.Reader) term.Result[*CommitStatus] {
				st, ok, err := bridge.ReadStatus(rctx, tree, c.Repo, sha, ctx)
				switch {
				case err != nil:
					return term.Result[*CommitStatus]{State: term.Error, Msg: err.Error()}
				case !ok:
					return term.Result[*CommitStatus]{State: term.Success}
				}
				return term.Result[*CommitStatus]{State: term.Success, Value: &CommitStatus{
					Context: ctx, State: parseState(st.State), Description: st.Description, TargetURL: st.TargetURL}}
			})
	})
}

// TargetURL is the target URL of the commit's status ctx: "" when the
// status or its URL is absent (the original's Term.ci_target_url).
func TargetURL(ctx string, commit term.Term[Commit]) term.Term[string] {
	return term.Map(StatusOf(ctx, commit), func(s *CommitStatus) string {
		if s == nil {
			return ""
		}
		return s.TargetURL
	})
}

// SuccessTargetURL waits for the commit's status ctx to succeed and gives
// its target URL (the original's Term.ci_success_target_url). Pending
// "Waiting for <ctx> status to appear" or "Waiting for <ctx> to
// complete (<description>)"; failing "<ctx> failed (<description>)",
// "<ctx> errored (<description>)" or "<ctx> succeeded, but has no URL!".
func SuccessTargetURL(ctx string, commit term.Term[Commit]) term.Term[string] {
	return term.Bind(StatusOf(ctx, commit), func(s *CommitStatus) term.Term[string] {
		if s == nil {
			return term.Pendingf[string]("Waiting for %s status to appear", ctx)
		}
		descr := ""
		if s.Description != "" {
			descr = " (" + s.Description + ")"
		}
		switch s.State {
		case Pending:
			return term.Pendingf[string]("Waiting for %s to complete%s", ctx, descr)
		case Failure:
			return term.Failf[string]("%s failed%s", ctx, descr)
		case Error:
			return term.Failf[string]("%s errored%s", ctx, descr)
		}
		if s.TargetURL == "" {
			return term.Failf[string]("%s succeeded, but has no URL!", ctx)
		}
		return term.Return(s.TargetURL)
	})
}
