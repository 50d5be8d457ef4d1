package cimain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/dkstore"
)

// runStatus lists, from the store, every target of the configured
// projects and the statuses of its head commit.
func runStatus(ctx context.Context, cfg ci.Config, cmd string, args []string, stdout, stderr io.Writer) error {
	f, fs, _ := parseFlags(cfg, cmd+" status", args, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s status [--store URL | --state-dir DIR]\n\nList the targets of %s and their jobs' statuses, as the store has them.\n\nFlags:\n", cmd, projectList(cfg))
		fs.VisitAll(func(fl *flag.Flag) {
			if fl.Name == "store" || fl.Name == "state-dir" {
				fmt.Fprintf(stderr, "  --%s\n    \t%s\n", fl.Name, fl.Usage)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if f.store == "memory" {
		return usagef("status needs a store that outlives this command: give --state-dir or a remote --store")
	}
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
	rows, err := listStatuses(ctx, cfg, store)
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

// listStatuses reads the targets of cfg's projects and their CI statuses
// from the metadata branch.
func listStatuses(ctx context.Context, cfg ci.Config, store dkstore.Store) ([]statusRow, error) {
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
		type tgt struct{ name, head string }
		var ts []tgt
		prs, err := bridge.ReadPRs(ctx, tree, repo)
		if err != nil {
			return nil, err
		}
		for _, pr := range prs {
			if pr.State == "open" {
				ts = append(ts, tgt{fmt.Sprintf("%s/prs/%d", repo, pr.Number), pr.Head})
			}
		}
		refs, err := bridge.ReadRefs(ctx, tree, repo)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			ts = append(ts, tgt{repo.String() + "/" + r.Name, r.Head})
		}
		for _, t := range ts {
			sts, err := bridge.ReadStatuses(ctx, tree, repo, t.head)
			if err != nil {
				return nil, err
			}
			n := 0
			for _, s := range sts {
				if job, ok := strings.CutPrefix(s.Context, ci.StatusContextPrefix); ok {
					rows = append(rows, statusRow{t.name, short(t.head), job, s.State, s.Description})
					n++
				}
			}
			if n == 0 {
				rows = append(rows, statusRow{t.name, short(t.head), "-", "-", "no status yet"})
			}
		}
	}
	return rows, nil
}

func short(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// statusPage serves the engine's targets and jobs as a plain HTML table
// (until the web UI exists), and /healthz.
func statusPage(cfg ci.Config, e *ci.Engine) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5><title>CI: %s</title>\n<h1>CI: %s</h1>\n",
			html.EscapeString(projectList(cfg)), html.EscapeString(projectList(cfg)))
		ts := e.Targets()
		if len(ts) == 0 {
			io.WriteString(w, "<p>No targets yet: no open PR, branch or tag has been seen in the metadata.</p>\n")
			return
		}
		io.WriteString(w, "<table border=1 cellpadding=4><tr><th>Target<th>Head<th>Job<th>State<th>Description</tr>\n")
		for _, t := range ts {
			jobs := t.Jobs
			sort.Slice(jobs, func(a, b int) bool { return jobs[a].Name < jobs[b].Name })
			title := t.Target.ID.String()
			if t.Target.Title != "" {
				title += " (" + t.Target.Title + ")"
			}
			for _, j := range jobs {
				state := j.State.String()
				if j.New {
					state = "pending (new)"
				}
				fmt.Fprintf(w, "<tr><td>%s<td><code>%s</code><td>%s<td>%s<td>%s</tr>\n", html.EscapeString(title), short(t.Target.Head),
					html.EscapeString(j.Name), state, html.EscapeString(j.Descr))
			}
		}
		io.WriteString(w, "</table>\n")
	})
	return mux
}
