package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v60/github"

	"github.com/dkgo/datakit/bridge"
)

// GitHub says where GitHub is and who the bridge is there: a token, or a
// GitHub App. Neither is ever logged nor written to the store.
type GitHub struct {
	// URL is the API's base URL: "" for https://api.github.com/. For
	// GitHub Enterprise Server give the server's URL (https://HOST/); a
	// URL with no path gets /api/v3/ added, as go-github's
	// WithEnterpriseURLs does.
	URL string
	// Token is a personal access token (or an OAuth token) with the
	// scopes the capabilities need: repo (or public_repo, repo:status)
	// and admin:repo_hook for webhooks.
	Token string
	// App, if set, authenticates as a GitHub App's installations
	// instead of with Token.
	App *App
	// CredentialsFrom says where Token or App came from, for the error
	// when GitHub rejects them (ErrBadCredentials): "--token-file
	// /etc/gh-token", "GITHUB_TOKEN". Never the credentials themselves.
	CredentialsFrom string
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent is sent with every request; "" means
	// "datakit-github-bridge".
	UserAgent string
}

// App is a GitHub App the bridge acts as. Its installations' tokens are
// made from the private key and refreshed a minute before they expire.
type App struct {
	ID         int64
	PrivateKey []byte // PEM, as GitHub gives it
	// Installation is the id of the installation to act as; 0 means:
	// find it for each repository's account (GET
	// /repos/{owner}/{repo}/installation).
	Installation int64
}

// apiBase returns the API's base URL, with a trailing slash.
func (g GitHub) apiBase() (*url.URL, error) {
	if g.URL == "" {
		return url.Parse("https://api.github.com/")
	}
	u, err := url.Parse(g.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github: API URL %q: want http(s)://HOST/...", g.URL)
	}
	if u.Host == "github.com" || u.Host == "www.github.com" {
		return url.Parse("https://api.github.com/") // the web's URL, as the web UI's login takes it
	}
	if u.Path == "" || u.Path == "/" {
		if u.Host != "api.github.com" {
			u.Path = "/api/v3/"
		} else {
			u.Path = "/"
		}
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// api calls GitHub for the bridge: one go-github client per identity
// (the token, or an installation), conditional requests through a shared
// ETag cache, retries with backoff on server and network errors, and
// waits for rate limits to reset.
type api struct {
	base    *url.URL
	cfg     GitHub
	log     *slog.Logger
	metrics *Metrics
	cache   *etagCache

	// maxAttempts is how many times a call is tried on server and
	// network errors; backoff the first wait, doubled each time up to
	// maxBackoff.
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration

	mu      sync.Mutex
	single  *gh.Client // token: the one client
	apps    *ghinstallation.AppsTransport
	byOwner map[string]*gh.Client // app: a client per account (lower case)
	byInst  map[int64]*gh.Client  // app: a client per installation
	appCli  *gh.Client            // app: the JWT-authenticated client
	tags    map[string]string     // annotated tag objects peeled: tag SHA -> commit
}

func newAPI(cfg GitHub, log *slog.Logger, m *Metrics) (*api, error) {
	base, err := cfg.apiBase()
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" && cfg.App == nil {
		return nil, errors.New("github: no credentials: give a token or an App")
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "datakit-github-bridge"
	}
	a := &api{
		base: base, cfg: cfg, log: log, metrics: m, cache: newETagCache(20000, m),
		maxAttempts: 6, backoff: 100 * time.Millisecond, maxBackoff: 5 * time.Second,
		byOwner: map[string]*gh.Client{}, byInst: map[int64]*gh.Client{}, tags: map[string]string{},
	}
	next := cfg.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	next = &countingTransport{next: next, m: m}
	if cfg.App != nil {
		atr, err := ghinstallation.NewAppsTransport(next, cfg.App.ID, cfg.App.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github: App %d: the private key: %w", cfg.App.ID, err)
		}
		atr.BaseURL = strings.TrimSuffix(base.String(), "/")
		a.apps = atr
		a.appCli = a.client(atr)
		if cfg.App.Installation != 0 {
			a.byInst[cfg.App.Installation] = a.installationClient(cfg.App.Installation)
		}
		return a, nil
	}
	a.single = a.client(&tokenTransport{token: cfg.Token, next: next})
	return a, nil
}

// client makes a go-github client over the ETag cache and auth.
func (a *api) client(auth http.RoundTripper) *gh.Client {
	c := gh.NewClient(&http.Client{Transport: &etagTransport{cache: a.cache, next: auth}})
	c.BaseURL = a.base
	c.UploadURL = a.base
	c.UserAgent = a.cfg.UserAgent
	return c
}

func (a *api) installationClient(id int64) *gh.Client {
	itr := ghinstallation.NewFromAppsTransport(a.apps, id)
	itr.BaseURL = strings.TrimSuffix(a.base.String(), "/")
	return a.client(itr)
}

// clientFor returns the client that acts on repositories of owner.
func (a *api) clientFor(ctx context.Context, owner, repo string) (*gh.Client, error) {
	if a.single != nil {
		return a.single, nil
	}
	a.mu.Lock()
	if a.cfg.App.Installation != 0 {
		c := a.byInst[a.cfg.App.Installation]
		a.mu.Unlock()
		return c, nil
	}
	if c := a.byOwner[strings.ToLower(owner)]; c != nil {
		a.mu.Unlock()
		return c, nil
	}
	a.mu.Unlock()
	var inst *gh.Installation
	err := a.do(ctx, "find the App's installation for "+owner+"/"+repo, func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		inst, resp, err = a.appCli.Apps.FindRepositoryInstallation(ctx, owner, repo)
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.byInst[inst.GetID()]
	if c == nil {
		c = a.installationClient(inst.GetID())
		a.byInst[inst.GetID()] = c
	}
	a.byOwner[strings.ToLower(owner)] = c
	return c, nil
}

// tokenTransport authenticates with a token.
type tokenTransport struct {
	token string
	next  http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "token "+t.token)
	return t.next.RoundTrip(r)
}

// countingTransport counts the requests that reach the network, by
// status.
type countingTransport struct {
	next http.RoundTripper
	m    *Metrics
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = fmt.Sprint(resp.StatusCode)
	}
	t.m.requests.WithLabelValues(req.Method, code).Inc()
	return resp, err
}

// ErrBadCredentials is GitHub's 401: the token (or the App's key) is
// wrong, expired or revoked. A bridge that has not synced yet stops on
// it (Run returns it); later, it logs it and tries again.
var ErrBadCredentials = errors.New("GitHub rejected the credentials")

// credentialsError is a 401, saying where the credentials came from.
type credentialsError struct {
	cfg               GitHub
	status, msg, what string
}

func (e *credentialsError) Error() string {
	who := "the token"
	if e.cfg.App != nil {
		who = "the GitHub App's credentials"
	}
	if e.cfg.CredentialsFrom != "" {
		who += " from " + e.cfg.CredentialsFrom
	}
	why := e.status
	if e.msg != "" && !strings.Contains(why, e.msg) {
		why += ": " + e.msg
	}
	return fmt.Sprintf("GitHub rejected %s: %s, to %s; give a valid one, not expired nor revoked", who, why, e.what)
}

func (e *credentialsError) Is(target error) bool { return target == ErrBadCredentials }

// ErrRepoNotFound is GitHub's 404 for a repository: it does not exist,
// or the credentials may not see it. The bridge logs it and tries again;
// the other repositories sync meanwhile.
var ErrRepoNotFound = errors.New("no such repository on GitHub")

// repoNotFoundError is a 404 for a repository.
type repoNotFoundError struct {
	repo bridge.Repo
	cfg  GitHub
	err  error
}

func (e *repoNotFoundError) Error() string {
	who := "the token"
	if e.cfg.App != nil {
		who = "the GitHub App"
	}
	if e.cfg.CredentialsFrom != "" {
		who += " from " + e.cfg.CredentialsFrom
	}
	return fmt.Sprintf("GitHub has no repository %s that %s may read (%v): check its name and the credentials' access to it; to stop syncing it, remove %s from the metadata branch", e.repo, who, e.err, bridge.MonitorPath(e.repo))
}

func (e *repoNotFoundError) Is(target error) bool { return target == ErrRepoNotFound }
func (e *repoNotFoundError) Unwrap() error        { return e.err }

// responseError is GitHub's answer to a request it refused, said
// shortly (go-github's ErrorResponse says the URL and an empty list of
// errors, "[]").
type responseError struct{ er *gh.ErrorResponse }

func (e *responseError) Error() string {
	s := "GitHub answered " + e.er.Response.Status
	if m := e.er.Message; m != "" && !strings.HasSuffix(e.er.Response.Status, m) {
		s += ": " + m
	}
	for _, x := range e.er.Errors {
		if x.Message != "" {
			s += "; " + x.Message
		} else if x.Field != "" {
			s += fmt.Sprintf("; %s %s", x.Field, x.Code)
		}
	}
	return s
}

func (e *responseError) Unwrap() error { return e.er }

// errPermanent marks errors that retrying cannot mend: GitHub refused
// the request (4xx but rate limits).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// isPermanent reports whether err is GitHub's refusal.
func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// isNotFound reports whether err is a 404 (or a 410).
func isNotFound(err error) bool {
	var e *gh.ErrorResponse
	return errors.As(err, &e) && e.Response != nil && (e.Response.StatusCode == http.StatusNotFound || e.Response.StatusCode == http.StatusGone)
}

// do calls f until it succeeds, GitHub refuses it (a permanentError),
// it failed maxAttempts times on server or network errors, or ctx is
// done. It waits for rate limits to reset, as long as it takes, saying so
// in the log and the metrics.
func (a *api) do(ctx context.Context, what string, f func(context.Context) (*gh.Response, error)) error {
	wait := a.backoff
	for attempt := 1; ; attempt++ {
		resp, err := f(ctx)
		if resp != nil {
			a.metrics.rateRemaining.Set(float64(resp.Rate.Remaining))
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var rle *gh.RateLimitError
		var abuse *gh.AbuseRateLimitError
		var er *gh.ErrorResponse
		switch {
		case errors.As(err, &rle):
			d := time.Until(rle.Rate.Reset.Time) + 500*time.Millisecond
			if d < 500*time.Millisecond {
				d = 500 * time.Millisecond
			}
			if err := a.rateWait(ctx, what, "primary", d); err != nil {
				return err
			}
			attempt--
			continue
		case errors.As(err, &abuse):
			d := time.Minute
			if abuse.RetryAfter != nil {
				d = *abuse.RetryAfter
			}
			if err := a.rateWait(ctx, what, "secondary", d); err != nil {
				return err
			}
			attempt--
			continue
		case errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnauthorized:
			return permanentError{&credentialsError{cfg: a.cfg, status: er.Response.Status, msg: er.Message, what: what}}
		case errors.As(err, &er) && er.Response != nil && er.Response.StatusCode < 500 && er.Response.StatusCode != http.StatusTooManyRequests:
			return permanentError{fmt.Errorf("github: %s: %w", what, &responseError{er})}
		}
		if attempt >= a.maxAttempts {
			return fmt.Errorf("github: %s: %d attempts: %w", what, attempt, err)
		}
		a.metrics.retries.Inc()
		a.log.Debug("github: retrying", "call", what, "attempt", attempt, "err", err)
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, a.maxBackoff)
	}
}

// rateWait waits d for a rate limit to reset.
func (a *api) rateWait(ctx context.Context, what, kind string, d time.Duration) error {
	a.metrics.rateWaits.WithLabelValues(kind).Inc()
	a.metrics.rateWaitSeconds.Add(d.Seconds())
	a.log.Warn("github: rate limit reached; waiting for it to reset", "limit", kind, "wait", d.Round(time.Millisecond).String(), "call", what)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
