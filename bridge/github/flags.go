package github

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// ReadSecretFile reads a token, a private key or a webhook secret from
// the file path, trimmed of surrounding white space. A file that anyone
// may read (world-readable) is refused, as the original refused its
// token's cookie file: a secret belongs in a file only its owner (and
// group) can read (chmod 600).
func ReadSecretFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("%s is world-readable (mode %v): refusing to use a secret anyone can read; chmod o-r %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// Flags are the command-line flags of a GitHub bridge: credentials,
// GitHub's URL, capabilities, webhook and resync. datakit github-bridge
// defines them with no prefix, a CI program (ci/cimain) with the prefix
// "github-".
type Flags struct {
	prefix string
	// The flags' values, as given: --github-url, --token-file, --app-id,
	// --app-key (a file), --app-installation, --capabilities, --webhook,
	// --webhook-listen, --webhook-secret-file (a file), --resync-interval
	// and --no-resync.
	URL            string
	TokenFile      string
	AppID          int64
	AppKey         string
	AppInstall     int64
	Capabilities   string
	Webhook        string
	WebhookListen  string
	WebhookSecret  string
	ResyncInterval string
	NoResync       bool
}

// DefineFlags defines the flags in fs, each name with prefix (but
// --github-url), with defaultCaps as --capabilities' default.
func DefineFlags(fs *flag.FlagSet, prefix, defaultCaps string) *Flags {
	f := &Flags{prefix: prefix}
	n := func(s string) string { return prefix + s }
	fs.StringVar(&f.URL, "github-url", "", "GitHub's `URL`: empty for github.com (API at https://api.github.com/); for GitHub Enterprise Server, https://HOST/ (API at /api/v3/)")
	fs.StringVar(&f.TokenFile, n("token-file"), "", "read the GitHub token from `FILE` (not world-readable); else from $GITHUB_TOKEN")
	fs.Int64Var(&f.AppID, n("app-id"), 0, "act as the GitHub App with this `ID` (with --"+n("app-key")+") instead of a token")
	fs.StringVar(&f.AppKey, n("app-key"), "", "the GitHub App's private key: a PEM `FILE` (not world-readable)")
	fs.Int64Var(&f.AppInstall, n("app-installation"), 0, "the App's installation `ID`; 0: found for each repository's account")
	fs.StringVar(&f.Capabilities, n("capabilities"), defaultCaps, "what the bridge may do: comma-separated `CAPS` RESOURCE:OPS, OPS any of r (read), w (write), x (write, and the store wins at start-up), RESOURCE one of *, commit, pr, ref, webhook, repo[USER/NAME], status[CONTEXT]")
	fs.StringVar(&f.Webhook, n("webhook"), "", "the public `URL` GitHub posts events to: the bridge registers it (with webhook:w) and listens on its port")
	fs.StringVar(&f.WebhookListen, n("webhook-listen"), "", "listen for webhooks on `ADDR` (e.g. :8000) rather than on --"+n("webhook")+"'s port")
	fs.StringVar(&f.WebhookSecret, n("webhook-secret-file"), "", "the webhook's secret, from `FILE` (not world-readable); default: a new random one, registered with the hook (needs webhook:w)")
	fs.StringVar(&f.ResyncInterval, n("resync-interval"), "3600", "read everything from GitHub again every `D` (seconds, or a duration such as 10m)")
	fs.BoolVar(&f.NoResync, n("no-resync"), false, "never read everything again (webhooks and .dirty files only)")
	return f
}

// Enabled reports whether credentials were given by flags (a token file
// or an App); $GITHUB_TOKEN does not count.
func (f *Flags) Enabled() bool { return f.TokenFile != "" || f.AppID != 0 || f.AppKey != "" }

// Setup is what the flags say: how to reach GitHub, the options they set,
// and where to listen for webhooks ("" for nowhere).
type Setup struct {
	GitHub       GitHub
	Options      Options // Capabilities, Webhook, ResyncInterval
	WebhookAddr  string
	RandomSecret bool // the webhook's secret was made up
}

// Setup checks the flags and reads the credentials: the App's key, else
// the token file, else getenv("GITHUB_TOKEN"). Errors name the flag and
// wrap dkstore.ErrInvalid for bad values.
func (f *Flags) Setup(getenv func(string) string) (*Setup, error) {
	n := func(s string) string { return "--" + f.prefix + s }
	bad := func(flag, format string, args ...any) error {
		return &flagError{msg: flag + ": " + fmt.Sprintf(format, args...)}
	}
	s := &Setup{GitHub: GitHub{URL: f.URL}}
	if _, err := s.GitHub.apiBase(); err != nil {
		return nil, bad("--github-url", "%v", err)
	}
	caps, err := ParseCapabilities(f.Capabilities)
	var ce *capError
	if errors.As(err, &ce) {
		return nil, bad(n("capabilities"), "%s", ce.detail())
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", n("capabilities"), err)
	}
	s.Options.Capabilities = &caps
	if f.NoResync {
		s.Options.ResyncInterval = -1
	} else {
		d, err := ParseInterval(f.ResyncInterval)
		if err != nil {
			return nil, bad(n("resync-interval"), "%v", err)
		}
		s.Options.ResyncInterval = d
	}
	if f.Webhook == "" {
		if f.WebhookListen != "" || f.WebhookSecret != "" {
			given := n("webhook-listen")
			if f.WebhookListen == "" {
				given = n("webhook-secret-file")
			}
			return nil, &flagError{msg: given + " needs " + n("webhook") + " URL (where GitHub posts the events)"}
		}
		return s, f.credentials(s, getenv)
	}
	u, err := url.Parse(f.Webhook)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, bad(n("webhook"), "%q: want http(s)://HOST[:PORT]/PATH", f.Webhook)
	}
	s.WebhookAddr = f.WebhookListen
	if s.WebhookAddr == "" {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		s.WebhookAddr = ":" + port
	}
	if _, _, err := net.SplitHostPort(s.WebhookAddr); err != nil {
		return nil, bad(n("webhook-listen"), "%q: want HOST:PORT or :PORT", s.WebhookAddr)
	}
	var secret []byte
	if f.WebhookSecret != "" {
		if secret, err = ReadSecretFile(f.WebhookSecret); err != nil {
			return nil, fmt.Errorf("%s: %w", n("webhook-secret-file"), err)
		}
	} else {
		if !caps.Check(Write, Webhook) {
			return nil, bad(n("webhook-secret-file"), "without webhook:w the bridge does not register the hook, so it cannot make up its secret: give the secret GitHub has")
		}
		var b [32]byte
		rand.Read(b[:])
		secret = []byte("datakit-" + hex.EncodeToString(b[:]))
		s.RandomSecret = true
	}
	s.Options.Webhook = &HookConfig{URL: f.Webhook, Secret: secret}
	return s, f.credentials(s, getenv)
}

// credentials reads the credentials into s: the App's key, else the
// token file, else getenv("GITHUB_TOKEN").
func (f *Flags) credentials(s *Setup, getenv func(string) string) error {
	n := func(s string) string { return "--" + f.prefix + s }
	bad := func(flag, format string, args ...any) error {
		return &flagError{msg: flag + ": " + fmt.Sprintf(format, args...)}
	}
	switch {
	case f.AppID != 0 || f.AppKey != "":
		if f.AppID <= 0 || f.AppKey == "" {
			return bad(n("app-id"), "a GitHub App needs both %s and %s", n("app-id"), n("app-key"))
		}
		if f.TokenFile != "" {
			return bad(n("token-file"), "give a token or an App, not both")
		}
		key, err := ReadSecretFile(f.AppKey)
		if err != nil {
			return fmt.Errorf("%s: %w", n("app-key"), err)
		}
		s.GitHub.App = &App{ID: f.AppID, PrivateKey: key, Installation: f.AppInstall}
		s.GitHub.CredentialsFrom = fmt.Sprintf("%s %d and %s %s", n("app-id"), f.AppID, n("app-key"), f.AppKey)
	case f.TokenFile != "":
		tok, err := ReadSecretFile(f.TokenFile)
		if err != nil {
			return fmt.Errorf("%s: %w", n("token-file"), err)
		}
		s.GitHub.Token = string(tok)
		s.GitHub.CredentialsFrom = n("token-file") + " " + f.TokenFile
	default:
		s.GitHub.Token = strings.TrimSpace(getenv("GITHUB_TOKEN"))
		if s.GitHub.Token == "" {
			return &flagError{msg: fmt.Sprintf("no GitHub credentials: give %s FILE (a file holding a token) or set GITHUB_TOKEN; or, for a GitHub App, give %s and %s", n("token-file"), n("app-id"), n("app-key"))}
		}
		s.GitHub.CredentialsFrom = "GITHUB_TOKEN (no " + n("token-file") + ")"
	}
	return nil
}

// flagError is a bad flag value (or a missing one): its message names
// the flag. It is a dkstore.ErrInvalid, which its message leaves out.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }
func (e *flagError) Unwrap() error { return dkstore.ErrInvalid }

// ParseInterval parses a resync interval: a number of seconds, as the
// original's --resync-interval, or a Go duration ("10m", "1h30m").
func ParseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return 0, errors.New("the interval must be positive")
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds nor a duration such as 10m", s)
	}
	if d <= 0 {
		return 0, errors.New("the interval must be positive")
	}
	return d, nil
}
