package cimain

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/ci/web"
)

// githubCaps is what the in-process GitHub bridge may do by default: read
// everything, own the CI's statuses (pushed to GitHub, and the store's
// win when the CI starts again), register webhooks.
const githubCaps = "*:r,status[ci/datakit]:x,webhook:rw"

// githubFlags are the flags of the GitHub bridge a CI runs in its own
// process (--github-repo and the github.Flags with prefix "github-").
type githubFlags struct {
	repos []string
	flags *github.Flags
}

func defineGitHubFlags(fs *flag.FlagSet) *githubFlags {
	g := &githubFlags{}
	fs.Var(listFlag{&g.repos}, "github-repo", "sync the project `USER/REPO` with GitHub, in this process (its PRs, branches and tags in; the CI's statuses out; see docs/bridge.md); repeatable")
	g.flags = github.DefineFlags(fs, "github-", githubCaps)
	return g
}

// githubSettings is the in-process GitHub bridge, as the flags set it up.
type githubSettings struct {
	repos []bridge.Repo
	setup *github.Setup
	ln    net.Listener // the webhook's, opened by open
}

// parseGitHub checks the GitHub flags; nil settings when there is no
// --github-repo.
func parseGitHub(g *githubFlags, getenv func(string) string) (*githubSettings, error) {
	if len(g.repos) == 0 {
		if g.flags.Enabled() || g.flags.Webhook != "" {
			return nil, usagef("the --github-* flags need --github-repo USER/REPO: the repositories to sync with GitHub")
		}
		return nil, nil
	}
	s := &githubSettings{}
	for _, r := range g.repos {
		repo, err := bridge.ParseRepo(r)
		if err != nil {
			return nil, usagef("--github-repo %q: want USER/REPO (names of letters, digits, '.', '_' and '-')", r)
		}
		s.repos = append(s.repos, repo)
	}
	setup, err := g.flags.Setup(getenv)
	if err != nil {
		return nil, usageError{err}
	}
	s.setup = setup
	return s, nil
}

// openGitHub listens for the GitHub bridge's webhooks.
func (in *instance) openGitHub() error {
	g := in.github
	if g == nil || g.setup.WebhookAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", g.setup.WebhookAddr)
	if err != nil {
		return fmt.Errorf("--github-webhook: %w", err)
	}
	g.ln = ln
	in.onClose(func() { ln.Close() })
	return nil
}

// runGitHubBridge runs the GitHub bridge on the CI's store until ctx is
// done, again after each failure; it serves the webhook meanwhile.
func (in *instance) runGitHubBridge(ctx context.Context) error {
	g := in.github
	opts := g.setup.Options
	opts.Branch, opts.Monitor, opts.Only = bridge.DefaultBranch, g.repos, g.repos
	opts.Logger = in.log.With("src", "github-bridge")
	opts.Metrics = github.NewMetrics(in.reg)
	var current atomic.Pointer[github.Bridge]
	hookErr := make(chan error, 1)
	if g.ln != nil {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if b := current.Load(); b != nil {
				b.Handler().ServeHTTP(w, r)
				return
			}
			http.Error(w, "the GitHub bridge is starting", http.StatusServiceUnavailable)
		})
		go func() { hookErr <- serveHTTP(ctx, g.ln, h) }()
	}
	err := reconnecting(ctx, in.log, "GitHub bridge", func() error {
		store, err := in.connect(ctx)
		if err != nil {
			return err
		}
		defer store.Close()
		b, err := github.New(store, in.watchedGitHub(), opts)
		if err != nil {
			return permanent{err}
		}
		current.Store(b)
		defer current.Store(nil)
		bctx, stop := whileAlive(ctx, store)
		defer stop()
		err = b.Run(bctx)
		if err == nil && ctx.Err() == nil {
			err = context.Cause(bctx)
		}
		return err
	})
	if g.ln != nil {
		if herr := <-hookErr; err == nil && herr != nil {
			err = fmt.Errorf("webhook: %w", herr)
		}
	}
	return err
}

// watchedGitHub is the GitHub bridge's GitHub, its requests watched by
// a credentialsWatch that tells the web UI's health when GitHub rejects
// the bridge's credentials.
func (in *instance) watchedGitHub() github.GitHub {
	g := in.github.setup.GitHub
	next := g.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	what := "the CI's GitHub token (--github-token-file or $GITHUB_TOKEN)"
	if g.App != nil {
		what = "the CI's GitHub App credentials (--github-app-id, --github-app-key)"
	}
	g.Transport = &credentialsWatch{next: next, health: in.health, what: what}
	return g
}

// credentialsWatch watches the GitHub bridge's requests: an answer 401
// (Bad credentials) reports a problem to health, which the web UI shows
// in a banner and on /healthz; a later successful answer clears it.
type credentialsWatch struct {
	next   http.RoundTripper
	health *web.Health
	what   string // the credentials, for people
}

func (c *credentialsWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		c.health.Set("github", "GitHub rejects "+c.what+" (401 Unauthorized): nothing is synced with GitHub, no PRs or branches in, no statuses out, until the credentials are replaced and the CI restarted.")
	case resp.StatusCode < 400:
		c.health.Set("github", "")
	}
	return resp, nil
}

// githubBanner says where the GitHub bridge's targets come from.
func (in *instance) githubBanner(w io.Writer) {
	g := in.github
	var names []string
	for _, r := range g.repos {
		names = append(names, r.String())
	}
	url := g.setup.GitHub.URL
	if url == "" {
		url = "https://api.github.com"
	}
	fmt.Fprintf(w, "  targets: from GitHub (%s) for %s; capabilities %s\n", url, strings.Join(names, ", "), g.setup.Options.Capabilities)
	if g.ln != nil {
		fmt.Fprintf(w, "  GitHub webhook: %s, listening on %s\n", g.setup.Options.Webhook.URL, g.ln.Addr())
	}
	for _, r := range g.repos {
		if !isProject(in.cfg, r) {
			fmt.Fprintf(w, "  warning: --github-repo %s is not a project of this CI (%s): it is synced into the store for others, and nothing here tests it\n", r, projectList(in.cfg))
		}
	}
}
