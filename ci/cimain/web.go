package cimain

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"

	"github.com/dkgo/datakit/ci/web"
)

// webFlags are the web UI's flags (package ci/web).
type webFlags struct {
	tls          bool
	metricsToken string // hex SHA-256 of /metrics' bearer token
	stateRepo    string
}

// defineWebFlags defines the web UI's flags in fs.
func defineWebFlags(fs *flag.FlagSet, f *webFlags) {
	fs.BoolVar(&f.tls, "tls", false, "serve the web UI over HTTPS on --listen, with SECRETS-DIR/server.key and server.crt (a self-signed certificate is made there if they are missing); without it, plain HTTP (behind a proxy that does HTTPS, give --web-ui https://...: cookies are then Secure)")
	fs.StringVar(&f.metricsToken, "web-metrics-token-sha256", "", "serve the Prometheus metrics on the web UI's /metrics to clients with the bearer token whose SHA-256 is `HEX` (echo -n TOKEN | sha256sum); refused (403) without")
	fs.StringVar(&f.stateRepo, "state-repo", "", "`URL` of a public mirror of the CI's state, for the web UI's history links")
}

// newWebUI makes the web UI served on --listen.
func (in *instance) newWebUI() error {
	opts := web.Options{Name: in.cfg.Name, SecretsDir: in.secrets, PublicURL: in.webUI, GitHubURL: in.flags.github.flags.URL,
		StateRepo: in.flags.web.stateRepo, Gatherer: in.reg, Registerer: in.reg, Logger: in.log.With("src", "web"),
		Health: in.health}
	for _, src := range in.sources {
		opts.LocalRepos = append(opts.LocalRepos, src.Repo)
	}
	if in.flags.web.metricsToken != "" {
		d, err := web.MetricsTokenDigest(in.flags.web.metricsToken)
		if err != nil {
			return usagef("--web-metrics-token-sha256: %v", err)
		}
		opts.MetricsTokenSHA256 = d
	}
	w, err := web.New(in.engine, opts)
	if err != nil {
		return err
	}
	in.webServer = w
	if in.flags.web.tls {
		host, _, _ := net.SplitHostPort(in.web.Addr().String())
		conf, err := web.TLSConfig(in.secrets, host)
		if err != nil {
			return err
		}
		in.web = tls.NewListener(in.web, conf)
	}
	return nil
}

// webScheme is the scheme the web UI is served with.
func (f *flags) webScheme() string {
	if f.web.tls {
		return "https"
	}
	return "http"
}

// serveWeb serves the web UI until ctx is done.
func (in *instance) serveWeb(ctx context.Context) error {
	return serveHTTP(ctx, in.web, in.webServer)
}

// webBanner says where the web UI is and, on a first run, how to set it
// up.
func (in *instance) webBanner() {
	fmt.Fprintf(in.stderr, "  web UI: %s\n", in.webUI)
	if u := in.webServer.IntroURL(); u != "" {
		fmt.Fprintf(in.stderr, ">>> First run: set the admin password at %s (a one-time link)\n", u)
	}
}
