package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

const githubBridgeUsage = `Usage: datakit github-bridge [--store URL|DIR] [--repositories LIST] [--capabilities CAPS] [--webhook URL] [flags]

Keep the metadata branch of a DataKit store and GitHub in agreement, both
ways: the open PRs (with their comments), branches, tags and the statuses of
their heads of every monitored repository (USER/REPO/.monitor; --repositories
writes it) go into the store; the statuses written to the store, and PR
titles, states and bases edited there, go to GitHub as --capabilities allow.
See docs/bridge.md.

Credentials: a token from --token-file FILE or $GITHUB_TOKEN, or a GitHub
App (--app-id and --app-key). Secret files must not be world-readable.

Examples:
  GITHUB_TOKEN=... datakit github-bridge --store tcp://127.0.0.1:5640 --repositories me/project
  datakit github-bridge --store /var/lib/datakit --app-id 1234 --app-key key.pem \
      --capabilities '*:r,status[ci/datakit]:x,webhook:rw' --webhook https://ci.example.com:8100/github

Flags:
`

func runGitHubBridge(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("datakit github-bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "tcp://127.0.0.1:5640", "the store `URL`: a DataKit server (tcp://HOST:PORT, unix:///PATH), or the directory of a Git repository to open directly (a path, or git://PATH)")
	fs.StringVar(store, "datakit", "tcp://127.0.0.1:5640", "alias of --store")
	fs.StringVar(store, "d", "tcp://127.0.0.1:5640", "alias of --store")
	branch := fs.String("branch", string(bridge.DefaultBranch), "the metadata branch `NAME`")
	fs.StringVar(branch, "b", string(bridge.DefaultBranch), "alias of --branch")
	repos := fs.String("repositories", "", "comma-separated `USER/REPO`s to mark monitored at start-up")
	fs.StringVar(repos, "r", "", "alias of --repositories")
	prom := fs.String("listen-prometheus", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. 127.0.0.1:9090)")
	gf := github.DefineFlags(fs, "", "*:rw")
	fs.StringVar(&gf.Capabilities, "c", "*:rw", "alias of --capabilities")
	var verbose verbosity
	fs.Var(&verbose, "v", "log debug messages too")
	fs.Usage = func() {
		fmt.Fprint(stderr, githubBridgeUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	b, err := dkstore.ParseBranchName(*branch)
	if err != nil {
		return fmt.Errorf("--branch: %w", err)
	}
	var monitor []bridge.Repo
	for _, r := range strings.Split(*repos, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		repo, err := bridge.ParseRepo(r)
		if err != nil {
			return usagef("--repositories: %q is not USER/REPO (comma-separated; names of letters, digits, '.', '_' and '-')", r)
		}
		monitor = append(monitor, repo)
	}
	setup, err := gf.Setup(getenv)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	if verbose > 0 {
		level.Set(slog.LevelDebug)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := setup.Options
	opts.Branch, opts.Monitor, opts.Logger, opts.Metrics = b, monitor, log, github.NewMetrics(reg)

	// The webhook's listener, and the bridge it hands deliveries to (a
	// new one after each reconnection).
	var current atomic.Pointer[github.Bridge]
	var hookLn net.Listener
	if setup.WebhookAddr != "" {
		if hookLn, err = net.Listen("tcp", setup.WebhookAddr); err != nil {
			return fmt.Errorf("--webhook: %w", err)
		}
		defer hookLn.Close()
	}
	errs := make(chan error, 2)
	if *prom != "" {
		m := &metrics{reg: reg}
		go func() {
			if err := m.serve(ctx, *prom, log); err != nil {
				errs <- err
			}
		}()
	}
	if hookLn != nil {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if br := current.Load(); br != nil {
				br.Handler().ServeHTTP(w, r)
				return
			}
			http.Error(w, "the bridge is starting", http.StatusServiceUnavailable)
		})
		go func() {
			if err := serveHTTP(ctx, hookLn, h); err != nil {
				errs <- fmt.Errorf("webhook: %w", err)
			}
		}()
	}

	who := "token"
	if setup.GitHub.App != nil {
		who = fmt.Sprintf("GitHub App %d", setup.GitHub.App.ID)
	}
	ghURL := setup.GitHub.URL
	if ghURL == "" {
		ghURL = "https://api.github.com"
	}
	fmt.Fprintf(stderr, "datakit github-bridge: syncing branch %s of %s with %s (as %s; capabilities %s)\n", b, *store, ghURL, who, opts.Capabilities)
	if hookLn != nil {
		note := "secret from " + gf.WebhookSecret
		if setup.RandomSecret {
			note = "a new secret, registered with the hooks"
		}
		fmt.Fprintf(stderr, "  webhook: %s, listening on %s (%s)\n", opts.Webhook.URL, hookLn.Addr(), note)
	}

	run := func(s dkstore.Store) error {
		br, err := github.New(s, setup.GitHub, opts)
		if err != nil {
			return permanentErr{err}
		}
		current.Store(br)
		defer current.Store(nil)
		err = br.Run(ctx)
		if errors.Is(err, github.ErrBadCredentials) {
			return permanentErr{err} // connecting again does not mend it
		}
		return err
	}
	done := make(chan error, 1)
	go func() { done <- runWithStore(ctx, *store, log, run) }()
	select {
	case err = <-done:
	case err = <-errs:
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "datakit github-bridge: stopped")
		return nil
	}
	return err
}

// permanentErr marks an error reconnecting cannot mend.
type permanentErr struct{ error }

func (p permanentErr) Unwrap() error { return p.error }

// runWithStore opens the store url names and calls run with it: a local
// Git repository once; a DataKit server again after each lost connection
// (after 1s, doubling up to 30s). The first connection must work.
func runWithStore(ctx context.Context, url string, log *slog.Logger, run func(dkstore.Store) error) error {
	if dir, ok := localStore(url); ok {
		s, err := dkstore.Open(dir, dkstore.Options{Logger: log, Exclusive: true})
		if err != nil {
			return fmt.Errorf("--store %s: %w", dir, err)
		}
		defer s.Close()
		return run(s)
	}
	if u, ok := strings.CutPrefix(url, "file://"); ok {
		url = "unix://" + u // the original's spelling of a Unix socket
	}
	backoff := time.Second
	for connected := false; ; {
		start := time.Now()
		err := func() error {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			c, err := ninep.Dial(dctx, url, ninep.ClientOptions{})
			cancel()
			if err != nil {
				return err
			}
			defer c.Close()
			connected = true
			return run(c)
		}()
		if ctx.Err() != nil {
			return nil
		}
		var perm permanentErr
		if !connected || errors.As(err, &perm) {
			return err
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		log.Warn("github bridge: lost the store; connecting again", "in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// localStore reports whether url names a local Git repository (a path,
// or git://PATH) rather than a server.
func localStore(url string) (string, bool) {
	if dir, ok := strings.CutPrefix(url, "git://"); ok {
		return dir, true
	}
	if strings.Contains(url, "://") {
		return "", false
	}
	return url, true
}

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
