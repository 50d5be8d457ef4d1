// Package citest runs a CI configuration in a test: an in-memory store, the
// real engine, and helpers to open PRs, move branches and check the
// statuses the jobs report, so that pipelines are tested with go test,
// without Docker or GitHub.
//
//	func TestPipeline(t *testing.T) {
//		h := citest.New(t, config)
//		h.OpenPR("me/my-project", 7, "abc123", "Fix the thing")
//		h.Settle()
//		h.WantStatus("me/my-project", "abc123", "my-test", ci.Success, "Success!")
//	}
//
// A Harness is used by the test's goroutine; its methods fail the test
// (t.Fatal) on error rather than returning one.
//
// WantStatus checks a status's whole description; WaitStatus waits for a
// state and, with Description or DescriptionContains, a description (a
// pending reason that changes, the end of a failure message). A pipeline
// whose steps fetch commits is tested on a repository that package
// ci/citest/gitrepo makes.
//
// A broken pipeline fails the test too: a project's Jobs function that
// panics, or that names a job in a way the engine refuses ("bad name"),
// and two different steps that use one result branch (a step made inside
// Jobs rather than once, outside), are reported with t.Errorf as soon as
// the engine meets them (AllowBadJobs turns that off). A job whose term
// panics or fails is not a broken pipeline but a status the test may
// check.
package citest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/dkstore"
)

// Harness runs a CI configuration against an in-memory store.
type Harness struct {
	T      testing.TB
	Store  dkstore.Store
	Engine *ci.Engine
	// Timeout bounds Settle and the Wait helpers (default 10 s).
	Timeout time.Duration

	opts     ci.Options
	projects map[bridge.Repo]bool // the configured projects
	shared   bool                 // the store is the test's (WithStore): others may write to it
	cancel   context.CancelFunc
	stopped  chan struct{} // closed when the engine's Run returns
	runErr   error         // what it returned
}

// Option changes how New sets the harness up.
type Option func(*setup)

type setup struct {
	store   dkstore.Store
	opts    ci.Options
	badJobs bool
}

// WithStore runs the engine on store instead of a fresh in-memory one (the
// harness does not close it).
func WithStore(s dkstore.Store) Option { return func(c *setup) { c.store = s } }

// WithOptions sets the engine's options (its Logger defaults to the test
// log).
func WithOptions(o ci.Options) Option { return func(c *setup) { c.opts = o } }

// AllowBadJobs keeps the harness from failing the test when a project's
// Jobs function panics or returns an invalid job name, or two steps use
// one result branch, for a test of what the engine does then (it logs the
// error and carries on).
func AllowBadJobs() Option { return func(c *setup) { c.badJobs = true } }

// New starts the engine for cfg on an in-memory store; the test's cleanup
// stops it.
func New(t testing.TB, cfg ci.Config, options ...Option) *Harness {
	t.Helper()
	var s setup
	for _, o := range options {
		o(&s)
	}
	store := s.store
	if store == nil {
		mem := dkstore.NewMemory(dkstore.Options{})
		store = mem
		t.Cleanup(func() { mem.Close() })
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if !s.badJobs {
		next := s.opts.OnBadJobs
		s.opts.OnBadJobs = func(id ci.TargetID, err error) {
			t.Errorf("citest: the pipeline is broken: %s: %v\n(citest.AllowBadJobs lets a test do this on purpose)", id, err)
			if next != nil {
				next(id, err)
			}
		}
	}
	e, err := ci.NewEngine(cfg, s.opts)
	if err != nil {
		t.Fatalf("citest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Harness{T: t, Store: store, Engine: e, Timeout: 10 * time.Second, opts: s.opts, projects: map[bridge.Repo]bool{}, shared: s.store != nil, cancel: cancel, stopped: make(chan struct{})}
	for _, p := range cfg.Projects {
		if r, err := bridge.ParseRepo(p.Repo); err == nil { // NewEngine checked it
			h.projects[r] = true
		}
	}
	if h.opts.Branch == "" {
		h.opts.Branch = bridge.DefaultBranch
	}
	go func() {
		h.runErr = e.Run(ctx, store)
		close(h.stopped)
	}()
	t.Cleanup(h.Stop)
	return h
}

// Stop stops the engine and cancels its jobs' work (the cleanup does it).
func (h *Harness) Stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	<-h.stopped
	if h.runErr != nil {
		h.T.Errorf("citest: engine: %v", h.runErr)
	}
	h.Engine.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (h *Harness) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.Timeout)
}

func (h *Harness) repo(s string) bridge.Repo {
	h.T.Helper()
	r, err := bridge.ParseRepo(s)
	if err != nil {
		h.T.Fatalf("citest: %v", err)
	}
	return r
}

// Update changes the metadata branch in one commit, as a bridge would.
func (h *Harness) Update(msg string, f func(ctx context.Context, tx dkstore.Transaction) error) {
	h.T.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	br, err := h.Store.Branch(h.opts.Branch)
	if err == nil {
		var tx dkstore.Transaction
		if tx, err = br.Transaction(ctx, dkstore.TxOptions{}); err == nil {
			if err = f(ctx, tx); err == nil {
				_, err = tx.Commit(ctx, msg)
			}
			tx.Abort(ctx)
		}
	}
	if err != nil {
		h.T.Fatalf("citest: %s: %v", msg, err)
	}
}

// OpenPR opens (or updates) pull request n of repo with head and title.
func (h *Harness) OpenPR(repo string, n int, head, title string) {
	h.T.Helper()
	r := h.repo(repo)
	h.Update(fmt.Sprintf("Open PR %d", n), func(ctx context.Context, tx dkstore.Transaction) error {
		return bridge.WritePR(ctx, tx, bridge.PR{Repo: r, Number: n, Head: head, State: "open", Title: title, Owner: "tester", Base: "master"})
	})
}

// MoveHead moves the head of open PR n.
func (h *Harness) MoveHead(repo string, n int, head string) {
	h.T.Helper()
	r := h.repo(repo)
	h.Update(fmt.Sprintf("Move PR %d", n), func(ctx context.Context, tx dkstore.Transaction) error {
		pr, ok, err := bridge.ReadPR(ctx, tx, r, n)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no PR %d in %s", n, r)
		}
		pr.Head = head
		return bridge.WritePR(ctx, tx, pr)
	})
}

// ClosePR closes PR n.
func (h *Harness) ClosePR(repo string, n int) {
	h.T.Helper()
	r := h.repo(repo)
	h.Update(fmt.Sprintf("Close PR %d", n), func(ctx context.Context, tx dkstore.Transaction) error {
		pr, ok, err := bridge.ReadPR(ctx, tx, r, n)
		if err != nil || !ok {
			return errors.Join(err, fmt.Errorf("no PR %d in %s", n, r))
		}
		pr.State = "closed"
		return bridge.WritePR(ctx, tx, pr)
	})
}

// SetBranch creates or moves a branch.
func (h *Harness) SetBranch(repo, branch, head string) { h.setRef(repo, "heads/"+branch, head) }

// DeleteBranch deletes a branch.
func (h *Harness) DeleteBranch(repo, branch string) { h.setRef(repo, "heads/"+branch, "") }

// SetTag creates or moves a tag.
func (h *Harness) SetTag(repo, tag, head string) { h.setRef(repo, "tags/"+tag, head) }

// DeleteTag deletes a tag.
func (h *Harness) DeleteTag(repo, tag string) { h.setRef(repo, "tags/"+tag, "") }

func (h *Harness) setRef(repo, name, head string) {
	h.T.Helper()
	r := h.repo(repo)
	h.Update("Set "+name, func(ctx context.Context, tx dkstore.Transaction) error {
		if head == "" {
			return bridge.RemoveRef(ctx, tx, r, name)
		}
		return bridge.WriteRef(ctx, tx, bridge.Ref{Repo: r, Name: name, Head: head})
	})
}

// SetStatus sets a status as another CI would (context e.g. "ci/circleci").
func (h *Harness) SetStatus(repo, head, sctx string, state ci.State, descr, url string) {
	h.T.Helper()
	r := h.repo(repo)
	h.Update("Set status "+sctx, func(ctx context.Context, tx dkstore.Transaction) error {
		return bridge.WriteStatus(ctx, tx, bridge.Status{Repo: r, Commit: head, Context: sctx, State: state.String(), Description: descr, TargetURL: url})
	})
}

// Settle waits until the engine has processed every change made so far:
// the statuses it writes for them are in the store when Settle returns.
// It fails the test if that takes longer than Timeout, or if the engine
// has stopped.
func (h *Harness) Settle() {
	h.T.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	select {
	case <-h.stopped:
		h.T.Fatalf("citest: Settle: the engine is not running (%s)", h.stopReason())
	default:
	}
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	go func() {
		select {
		case <-h.stopped:
			scancel()
		case <-sctx.Done():
		}
	}()
	if err := h.Engine.Settle(sctx, h.Store); err != nil {
		select {
		case <-h.stopped:
			h.T.Fatalf("citest: Settle: the engine stopped (%s)", h.stopReason())
		default:
		}
		h.T.Fatalf("citest: Settle: the engine did not settle within %v: %v (a job that wakes itself forever, or a store that keeps failing?)", h.Timeout, err)
	}
}

func (h *Harness) stopReason() string {
	if h.runErr != nil {
		return "it failed: " + h.runErr.Error()
	}
	return "Stop was called"
}

// wantConfigured fails the test at once if repo is not a configured
// project: a status is wanted there, and the CI sets none.
func (h *Harness) wantConfigured(repo, head, job string) {
	h.T.Helper()
	if r := h.repo(repo); !h.projects[r] {
		h.T.Fatalf("citest: no status of %s on %s@%s: %s is not a configured project (did the test open a PR or set a branch of a configured project? the configuration has %s)", job, repo, short(head), r, h.projectList())
	}
}

// Status reads the status the CI wrote for job on commit head.
func (h *Harness) Status(repo, head, job string) (ci.CommitStatus, bool) {
	h.T.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	st, ok, err := h.read(ctx, func(r dkstore.Reader) (bridge.Status, bool, error) {
		return bridge.ReadStatus(ctx, r, h.repo(repo), head, ci.StatusContextPrefix+job)
	})
	if err != nil {
		h.T.Fatalf("citest: reading status: %v", err)
	}
	if !ok {
		return ci.CommitStatus{}, false
	}
	state := ci.Failure
	for _, s := range []ci.State{ci.Success, ci.Pending, ci.Failure, ci.Error} {
		if s.String() == st.State {
			state = s
		}
	}
	return ci.CommitStatus{Context: st.Context, State: state, Description: st.Description, TargetURL: st.TargetURL}, true
}

func (h *Harness) read(ctx context.Context, f func(dkstore.Reader) (bridge.Status, bool, error)) (bridge.Status, bool, error) {
	r, _, err := bridge.Snapshot(ctx, h.Store, h.opts.Branch)
	if err != nil {
		return bridge.Status{}, false, err
	}
	return f(r)
}

// WantStatus fails the test unless job's status on commit head has state
// and description descr, all of it. (Status returns the whole status, for
// other checks; WaitStatus also waits, and matches a part of the
// description with DescriptionContains.)
func (h *Harness) WantStatus(repo, head, job string, state ci.State, descr string) {
	h.T.Helper()
	h.wantConfigured(repo, head, job)
	st, ok := h.Status(repo, head, job)
	switch {
	case !ok:
		h.T.Errorf("status of %s on %s@%s: none, want %s %q\n%s", job, repo, short(head), state, descr, h.explain(repo, head))
	case st.State != state || st.Description != descr:
		h.T.Errorf("status of %s on %s@%s = %s %q, want %s %q", job, repo, short(head), st.State, st.Description, state, descr)
	}
}

// WantNoStatus fails the test if job has a status on commit head.
func (h *Harness) WantNoStatus(repo, head, job string) {
	h.T.Helper()
	if st, ok := h.Status(repo, head, job); ok {
		h.T.Errorf("status of %s on %s@%s = %s %q, want none", job, repo, short(head), st.State, st.Description)
	}
}

// A DescriptionMatch is a condition on a status's description, for
// WaitStatus: Description or DescriptionContains.
type DescriptionMatch struct {
	s    string
	part bool
}

// Description matches the description s, all of it (a pending reason such
// as `Waiting for resource in "go"`, say).
func Description(s string) DescriptionMatch { return DescriptionMatch{s: s} }

// DescriptionContains matches a description that contains s (the end of
// a failure message, say).
func DescriptionContains(s string) DescriptionMatch { return DescriptionMatch{s: s, part: true} }

func (m DescriptionMatch) match(descr string) bool {
	if m.part {
		return strings.Contains(descr, m.s)
	}
	return descr == m.s
}

func (m DescriptionMatch) String() string {
	if m.part {
		return fmt.Sprintf("containing %q", m.s)
	}
	return fmt.Sprintf("%q", m.s)
}

// WaitStatus waits (up to Timeout) until job's status on head has state
// and a description that every one of descr matches, for jobs whose
// background work finishes after Settle returned, or that go through
// several pending reasons. It returns the status.
//
//	h.WaitStatus("me/p", head, "all", ci.Pending, citest.Description("Waiting for build, vet"))
//	h.WaitStatus("me/p", head, "lint", ci.Failure, citest.DescriptionContains("no license header"))
//
// It fails the test at once if repo is not a configured project, or if,
// once the engine has settled, no target tests head with job: then nothing
// will change the status. (With WithStore, where a bridge of the test may
// yet add the target, it waits for Timeout instead.)
func (h *Harness) WaitStatus(repo, head, job string, state ci.State, descr ...DescriptionMatch) ci.CommitStatus {
	h.T.Helper()
	h.wantConfigured(repo, head, job)
	want := state.String()
	for i, d := range descr {
		if i == 0 {
			want += " " + d.String()
		} else {
			want += " and " + d.String()
		}
	}
	matches := func(st ci.CommitStatus) bool {
		if st.State != state {
			return false
		}
		for _, d := range descr {
			if !d.match(st.Description) {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(h.Timeout)
	for {
		h.Settle()
		st, ok := h.Status(repo, head, job)
		if ok && matches(st) {
			return st
		}
		if !h.shared && !h.tests(repo, head, job) {
			got := "none"
			if ok {
				got = fmt.Sprintf("%s %q", st.State, st.Description)
			}
			h.T.Fatalf("status of %s on %s@%s: %s, want %s, but no target tests that commit with job %s\n%s", job, repo, short(head), got, want, job, h.explain(repo, head))
		}
		if time.Now().After(deadline) {
			if !ok {
				h.T.Fatalf("status of %s on %s@%s: none, want %s within %v\n%s", job, repo, short(head), want, h.Timeout, h.explain(repo, head))
			}
			h.T.Fatalf("status of %s on %s@%s = %s %q, want %s within %v", job, repo, short(head), st.State, st.Description, want, h.Timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// explain describes, for a test failure, the CI's statuses on commit head
// and the targets the engine tests.
func (h *Harness) explain(repo, head string) string {
	h.T.Helper()
	var b strings.Builder
	ctx, cancel := h.ctx()
	defer cancel()
	var sts []bridge.Status
	_, _, err := h.read(ctx, func(r dkstore.Reader) (bridge.Status, bool, error) {
		var err error
		sts, err = bridge.ReadStatuses(ctx, r, h.repo(repo), head)
		return bridge.Status{}, false, err
	})
	if err != nil {
		return fmt.Sprintf("\t(reading the statuses: %v)", err)
	}
	n := 0
	for _, st := range sts {
		if job, ok := strings.CutPrefix(st.Context, ci.StatusContextPrefix); ok {
			if n == 0 {
				fmt.Fprintf(&b, "\tthe CI's statuses on %s@%s:\n", repo, short(head))
			}
			n++
			fmt.Fprintf(&b, "\t\t%s: %s %q\n", job, st.State, st.Description)
		}
	}
	if n == 0 {
		fmt.Fprintf(&b, "\tthe CI set no status on %s@%s\n", repo, short(head))
	}
	ts := h.Engine.Targets()
	if len(ts) == 0 {
		b.WriteString("\tthe engine tests no target (did the test open a PR or set a branch of a configured project?)")
		return b.String()
	}
	b.WriteString("\tthe engine tests:")
	for _, t := range ts {
		fmt.Fprintf(&b, "\n\t\t%s at %s:", t.Target.ID, short(t.Target.Head))
		if len(t.Jobs) == 0 {
			b.WriteString(" no jobs")
		}
		for _, j := range t.Jobs {
			fmt.Fprintf(&b, " %s", j.Name)
		}
	}
	return b.String()
}

// tests reports whether a target the engine tests is at repo@head and has
// job.
func (h *Harness) tests(repo, head, job string) bool {
	h.T.Helper()
	r := h.repo(repo)
	for _, t := range h.Engine.Targets() {
		if t.Target.ID.Repo != r || !strings.EqualFold(t.Target.Head, head) {
			continue
		}
		for _, j := range t.Jobs {
			if j.Name == job {
				return true
			}
		}
	}
	return false
}

// projectList lists the configured projects, for messages.
func (h *Harness) projectList() string {
	var rs []string
	for r := range h.projects {
		rs = append(rs, r.String())
	}
	slices.Sort(rs)
	return strings.Join(rs, ", ")
}

// Targets lists the targets the engine follows and their jobs' states; a
// target for which the project has no jobs (a tag, say) is listed with
// none.
func (h *Harness) Targets() []ci.TargetSummary { return h.Engine.Targets() }

func short(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}
