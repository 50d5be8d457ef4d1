package cimain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/dkstore"
)

// runStatus lists, from the store, every target of the configured
// projects that has jobs, and the statuses of its head commit. It accepts
// the program's own flags (extra), which its configuration may read.
func runStatus(ctx context.Context, configure func() ci.Config, cmd string, args []string, stdout, stderr io.Writer, extra *flag.FlagSet) error {
	f, fs := defineFlags(cmd+" status", stderr)
	own := addProgramFlags(fs, extra)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s status [--store URL | --state-dir DIR] [--canary TARGET]...\n\nList the targets of this CI's projects that have jobs, and their jobs' statuses, as the store has them (with --canary, as the CI run with it does: only those targets).\n\nFlags:\n", cmd)
		// The flags status uses, shown as --help shows them (argument
		// names, defaults).
		shown := flag.NewFlagSet(cmd+" status", flag.ContinueOnError)
		shown.SetOutput(stderr)
		fs.VisitAll(func(fl *flag.Flag) {
			if fl.Name == "store" || fl.Name == "state-dir" || fl.Name == "canary" || own[fl.Name] {
				shown.Var(fl.Value, fl.Name, fl.Usage)
				shown.Lookup(fl.Name).DefValue = fl.DefValue
			}
		})
		shown.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("status: unexpected argument %q (see status --help)", fs.Arg(0))
	}
	if f.store == "memory" {
		return usagef("status needs a store that outlives this command: give --state-dir or a remote --store")
	}
	var canaries []ci.TargetID
	for _, c := range f.canaries {
		id, err := ci.ParseTargetID(c)
		if err != nil {
			return usagef("--canary: %v", err)
		}
		canaries = append(canaries, id)
	}
	cfg := configure()
	f.resolve(cfg)
	connect, _, cleanup, err := openStore(ctx, f, newLogger(stderr, 0), false)
	if err != nil {
		return err
	}
	defer cleanup()
	store, err := connect(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	rows, err := listStatuses(ctx, cfg, store, canaries)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tHEAD\tJOB\tSTATE\tDESCRIPTION")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.target, r.head, r.job, r.state, r.descr)
	}
	return tw.Flush()
}

type statusRow struct{ target, head, job, state, descr string }

// listStatuses reads the targets of cfg's projects from the metadata
// branch and, for those that have jobs (and are canaries, if any are
// given), their jobs' statuses.
func listStatuses(ctx context.Context, cfg ci.Config, store dkstore.Store, canaries []ci.TargetID) ([]statusRow, error) {
	tree, head, err := bridge.Snapshot(ctx, store, bridge.DefaultBranch)
	if err != nil {
		return nil, err
	}
	if head.IsZero() {
		return nil, fmt.Errorf("the store has no %s branch yet: no CI or bridge has written to it", bridge.DefaultBranch)
	}
	var rows []statusRow
	for _, p := range cfg.Projects {
		repo, err := bridge.ParseRepo(p.Repo)
		if err != nil {
			return nil, err
		}
		var ts []ci.Target
		prs, err := bridge.ReadPRs(ctx, tree, repo)
		if err != nil {
			return nil, err
		}
		for _, pr := range prs {
			if pr.State == "open" {
				ts = append(ts, ci.Target{ID: ci.TargetID{Repo: repo, PR: pr.Number}, Head: pr.Head, Title: pr.Title, Owner: pr.Owner, Base: pr.Base})
			}
		}
		refs, err := bridge.ReadRefs(ctx, tree, repo)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			ts = append(ts, ci.Target{ID: ci.TargetID{Repo: repo, Ref: r.Name}, Head: r.Head})
		}
		for _, t := range ts {
			if len(canaries) > 0 && !slices.Contains(canaries, t.ID) {
				continue // a CI run with --canary does not test it
			}
			jobs, err := jobsOf(p, t)
			if err != nil {
				rows = append(rows, statusRow{t.ID.String(), short(t.Head), "-", "-", err.Error()})
				continue
			}
			if len(jobs) == 0 {
				continue // the CI tests nothing there
			}
			sts, err := bridge.ReadStatuses(ctx, tree, repo, t.Head)
			if err != nil {
				return nil, err
			}
			for _, job := range jobs {
				row := statusRow{t.ID.String(), short(t.Head), job, "-", "no status yet"}
				for _, s := range sts {
					if s.Context == ci.StatusContextPrefix+job {
						row.state, row.descr = s.State, s.Description
					}
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// jobsOf returns the names of the jobs p has for t, sorted.
func jobsOf(p ci.Project, t ci.Target) (names []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the project's Jobs function failed: panic: %v", v)
		}
	}()
	for name := range p.Jobs(t) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func short(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}
