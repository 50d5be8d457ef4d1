// Command fakegithub runs the GitHub stand-in (internal/fakegithub) as a
// process, so that a GitHub bridge or a GitHub CI can be tried against it
// on a machine that cannot reach GitHub:
//
//	go run ./internal/fakegithub/cmd/fakegithub --repo me/project:~/src/project --token-file /tmp/gh-token
//
// It prints its URL and the token to use, serves the API until
// interrupted, then prints how many API calls it answered. See --help
// and docs/bridge.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		if !usage.printed {
			fmt.Fprintln(os.Stderr, "fakegithub:", err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "fakegithub:", err)
		os.Exit(1)
	}
}

// usageError is a command line that makes no sense: exit status 2.
// printed says that package flag has printed it already.
type usageError struct {
	error
	printed bool
}

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error {
	return usageError{error: fmt.Errorf(format, args...)}
}

const usage = `Usage: fakegithub [--listen ADDR] [--repo OWNER/NAME[:DIR]]... [flags]

Run a stand-in for GitHub's REST API (the endpoints the DataKit GitHub
bridge and the web UI's GitHub login call) on this machine, holding its own
repositories, pull requests, statuses and webhooks, and counting calls. It
prints its URL and the token to use, for example:

  datakit github-bridge --github-url URL --token-file FILE -r OWNER/NAME --store DIR
  (or a CI: --github-repo OWNER/NAME --github-url URL --github-token-file FILE)

A --repo with a DIR (a local Git repository) gets its branches and tags,
read again every --poll: commit or branch there and the stand-in sees a
push (and sends its webhooks). Pull requests, pushes and statuses can also
be made over HTTP, without a token (the control API):

  curl -d '{"repo":"me/p","ref":"refs/heads/fix","sha":"<40 hex>"}' URL/_fakegithub/push
  curl -d '{"repo":"me/p","title":"Fix","head":"fix"}' URL/_fakegithub/pulls
  curl -d '{"repo":"me/p","number":1,"state":"closed"}' URL/_fakegithub/pulls/edit
  curl -d '{"repo":"me/p","sha":"<40 hex>","state":"success","context":"ci/x"}' URL/_fakegithub/statuses
  curl 'URL/_fakegithub/statuses?repo=me/p&sha=<40 hex>'
  curl URL/_fakegithub/stats     (API calls by route; /_fakegithub/calls: the log)

On SIGINT or SIGTERM it prints how many API calls it answered, and exits.

Flags:
`

type flags struct {
	listen, user, token, tokenFile string
	repos                          []string
	hook, hookSecret               string
	poll                           time.Duration
	rateLimit                      int
	serverErrors, hooksLost, slow  float64
	delay                          time.Duration
}

type listFlag struct{ list *[]string }

func (l listFlag) String() string {
	if l.list == nil {
		return ""
	}
	return strings.Join(*l.list, ",")
}
func (l listFlag) Set(s string) error { *l.list = append(*l.list, s); return nil }

func newFlagSet(stderr io.Writer) (*flags, *flag.FlagSet) {
	f := &flags{}
	fs := flag.NewFlagSet("fakegithub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "serve at `ADDR` (host:port; port 0 picks a free one, printed)")
	fs.Var(listFlag{&f.repos}, "repo", "create the repository OWNER/NAME (and the user OWNER): empty, or with the branches and tags of the local Git repository DIR (`OWNER/NAME[:DIR]`); repeatable")
	fs.StringVar(&f.user, "user", "", "the `LOGIN` the token belongs to (default: the first --repo's owner, or \"me\"); it may read and write every --repo")
	fs.StringVar(&f.token, "token", "", "accept this `TOKEN` for --user (default: a new random ghp_ token, printed)")
	fs.StringVar(&f.tokenFile, "token-file", "", "also write the token to `FILE` (mode 0600), for the bridge's --token-file or a CI's --github-token-file")
	fs.StringVar(&f.hook, "webhook", "", "register a webhook posting every event to `URL` on each --repo (a bridge with webhook:w registers its own)")
	fs.StringVar(&f.hookSecret, "webhook-secret", "", "sign the --webhook's deliveries with `SECRET` (HMAC-SHA256, X-Hub-Signature-256)")
	fs.DurationVar(&f.poll, "poll", time.Second, "read the --repo directories again every `DURATION` (0: only at start)")
	fs.IntVar(&f.rateLimit, "rate-limit", 5000, "allow a token `N` API calls an hour, as github.com does")
	fs.Float64Var(&f.serverErrors, "server-errors", 0, "answer this `FRACTION` (0 to 1) of API calls 502, to try retries")
	fs.Float64Var(&f.slow, "slow", 0, "answer this `FRACTION` (0 to 1) of API calls --delay late")
	fs.DurationVar(&f.delay, "delay", 2*time.Second, "answer --slow calls `DURATION` late")
	fs.Float64Var(&f.hooksLost, "hooks-lost", 0, "lose this `FRACTION` (0 to 1) of webhook deliveries, to try resyncs")
	return f, fs
}

// repoSpec is a --repo: a repository, and the directory it mirrors.
type repoSpec struct {
	name, owner, dir string
	refs             map[string]string // the directory's refs as last pushed
}

func parseRepo(s string) (*repoSpec, error) {
	name, dir, hasDir := strings.Cut(s, ":")
	owner, repo, ok := strings.Cut(name, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, usagef("--repo %q: want OWNER/NAME or OWNER/NAME:DIR (a local Git repository)", s)
	}
	if hasDir && dir == "" {
		return nil, usagef("--repo %q: no directory after ':' (want OWNER/NAME:DIR, or OWNER/NAME for an empty repository)", s)
	}
	if strings.HasPrefix(dir, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, dir[2:])
		}
	}
	return &repoSpec{name: name, owner: owner, dir: dir, refs: map[string]string{}}, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, fs := newFlagSet(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{error: err, printed: true}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (repositories are given with --repo OWNER/NAME[:DIR])", fs.Arg(0))
	}
	for _, fr := range []struct {
		name string
		v    float64
	}{{"--server-errors", f.serverErrors}, {"--slow", f.slow}, {"--hooks-lost", f.hooksLost}} {
		if fr.v < 0 || fr.v > 1 {
			return usagef("%s %v: want a fraction from 0 to 1", fr.name, fr.v)
		}
	}
	if f.rateLimit <= 0 {
		return usagef("--rate-limit %d: want a positive number of calls per hour", f.rateLimit)
	}
	if f.hookSecret != "" && f.hook == "" {
		return usagef("--webhook-secret needs --webhook URL")
	}
	var specs []*repoSpec
	for _, r := range f.repos {
		spec, err := parseRepo(r)
		if err != nil {
			return err
		}
		specs = append(specs, spec)
	}
	user := f.user
	if user == "" {
		user = "me"
		if len(specs) > 0 {
			user = specs[0].owner
		}
	}
	tok := f.token
	if tok == "" {
		b := make([]byte, 18)
		rand.Read(b)
		tok = "ghp_" + hex.EncodeToString(b)
	}

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return usagef("--listen %s: %v", f.listen, err)
	}
	s := fakegithub.New(fakegithub.Options{Listener: ln, Control: true, RateLimit: f.rateLimit,
		Faults: fakegithub.Faults{Seed: uint64(time.Now().UnixNano()), ServerErrors: f.serverErrors, Slow: f.slow, Delay: f.delay, HooksLost: f.hooksLost}})
	defer s.Close()
	if err := s.AddUserToken(user, tok); err != nil {
		return usagef("--user %q: %v", user, err)
	}
	for _, spec := range specs {
		if err := setUpRepo(ctx, s, spec, user); err != nil {
			return err
		}
		if f.hook != "" {
			if _, err := s.AddHook(spec.name, fakegithub.Hook{URL: f.hook, ContentType: "json", Secret: f.hookSecret, Events: []string{"*"}}); err != nil {
				return usagef("--webhook %s: %v", f.hook, err)
			}
		}
	}
	if f.tokenFile != "" {
		if err := os.WriteFile(f.tokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		if err := os.Chmod(f.tokenFile, 0o600); err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
	}

	url := s.URL()
	fmt.Fprintf(stdout, "fakegithub: GitHub stand-in at %s (the API also under %s, as GitHub Enterprise)\n", url, s.APIURL())
	fmt.Fprintf(stdout, "  token: %s (user %s)", tok, user)
	if f.tokenFile != "" {
		fmt.Fprintf(stdout, ", written to %s", f.tokenFile)
	}
	fmt.Fprintln(stdout)
	for _, spec := range specs {
		from := "empty"
		if spec.dir != "" {
			from = fmt.Sprintf("%d refs from %s", len(spec.refs), spec.dir)
			if f.poll > 0 {
				from += fmt.Sprintf(", read again every %v", f.poll)
			}
		}
		fmt.Fprintf(stdout, "  repository %s: %s\n", spec.name, from)
	}
	if f.hook != "" {
		fmt.Fprintf(stdout, "  webhook: %s on every repository\n", f.hook)
	}
	env, tokenArg := "GITHUB_TOKEN="+tok+" ", ""
	if f.tokenFile != "" {
		env, tokenArg = "", " --token-file "+f.tokenFile
	}
	repoArg := "OWNER/NAME"
	if len(specs) > 0 {
		repoArg = specs[0].name
	}
	fmt.Fprintf(stdout, "  try: %sdatakit github-bridge --github-url %s%s -r %s --store DIR\n", env, url, tokenArg, repoArg)
	fmt.Fprintf(stdout, "  control: %s%s… (see --help); calls so far: curl %s%sstats\n", url, fakegithub.ControlPrefix, url, fakegithub.ControlPrefix)

	if f.poll > 0 {
		t := time.NewTicker(f.poll)
		defer t.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-t.C:
				for _, spec := range specs {
					if spec.dir == "" {
						continue
					}
					if err := mirror(ctx, s, spec, user); err != nil {
						fmt.Fprintf(stderr, "fakegithub: reading %s for %s: %v\n", spec.dir, spec.name, err)
					}
				}
			}
		}
	} else {
		<-ctx.Done()
	}
	printStats(stdout, s)
	return nil
}

// setUpRepo creates spec's owner (unless it is the user) and repository,
// and pushes its directory's refs.
func setUpRepo(ctx context.Context, s *fakegithub.Server, spec *repoSpec, user string) error {
	if spec.owner != user {
		if _, err := s.AddUser(spec.owner); err != nil && !errors.Is(err, fakegithub.ErrExist) {
			return usagef("--repo %s: owner %q: %v", spec.name, spec.owner, err)
		}
	}
	o := fakegithub.RepoOptions{}
	if spec.dir != "" {
		rd, err := dkstore.OpenRepoReader(spec.dir)
		if err != nil {
			return usagef("--repo %s:%s: %v", spec.name, spec.dir, err)
		}
		if def, err := rd.DefaultBranch(ctx); err == nil {
			o.DefaultBranch = def
		}
		rd.Close()
	}
	if err := s.CreateRepo(spec.name, o); err != nil {
		return usagef("--repo %s: %v", spec.name, err)
	}
	if spec.owner != user {
		if err := s.AddCollaborator(spec.name, user, fakegithub.PermAdmin); err != nil {
			return fmt.Errorf("--repo %s: making %s a collaborator: %w", spec.name, user, err)
		}
	}
	if spec.dir != "" {
		if err := mirror(ctx, s, spec, user); err != nil {
			return usagef("--repo %s:%s: %v", spec.name, spec.dir, err)
		}
	}
	return nil
}

// mirror pushes the changes of spec's directory's branches and tags since
// it last did.
func mirror(ctx context.Context, s *fakegithub.Server, spec *repoSpec, user string) error {
	rd, err := dkstore.OpenRepoReader(spec.dir)
	if err != nil {
		return err
	}
	defer rd.Close()
	refs, err := rd.Refs(ctx)
	if err != nil {
		return err
	}
	now := map[string]string{}
	for _, r := range refs {
		if r.Symbolic != "" || r.Target.IsZero() {
			continue
		}
		if strings.HasPrefix(r.Name, "refs/heads/") || strings.HasPrefix(r.Name, "refs/tags/") {
			now[r.Name] = r.Target.String()
		}
	}
	var errs []error
	for _, name := range sortedKeys(now) {
		if spec.refs[name] == now[name] {
			continue
		}
		if err := s.Push(spec.name, fakegithub.Push{Ref: name, SHA: now[name], Sender: user}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		spec.refs[name] = now[name]
	}
	for _, name := range sortedKeys(spec.refs) {
		if _, ok := now[name]; ok {
			continue
		}
		if err := s.Push(spec.name, fakegithub.Push{Ref: name, Sender: user}); err != nil && !errors.Is(err, fakegithub.ErrNotFound) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", name, err))
			continue
		}
		delete(spec.refs, name)
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// printStats says how many API calls the server answered, by route.
func printStats(w io.Writer, s *fakegithub.Server) {
	calls, nm := s.TotalCalls()
	plural := "s"
	if calls == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "fakegithub: stopped after %d API call%s (%d answered 304 Not Modified)\n", calls, plural, nm)
	stats := s.Stats()
	routes := make([]string, 0, len(stats))
	for r := range stats {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		st := stats[r]
		fmt.Fprintf(w, "  %6d  %s", st.Calls, r)
		if st.NotModified > 0 {
			fmt.Fprintf(w, " (%d 304)", st.NotModified)
		}
		if st.Faulted > 0 {
			fmt.Fprintf(w, " (%d faulted)", st.Faulted)
		}
		fmt.Fprintln(w)
	}
}
