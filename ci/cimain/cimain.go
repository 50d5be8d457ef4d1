// Package cimain is the entry point of a CI program: it turns a ci.Config
// into a command with flags, a store (embedded on disk by default, or a
// remote DataKit over 9P), an optional local-repository bridge, the web UI
// (package ci/web: logs, rebuilds, login) and metrics. It is the wiring layer: package ci itself never
// imports a transport or a bridge.
//
// Main parses the flags, then asks the program for its configuration, once:
// the program's own flags have their values by then, so the steps (a Git
// remote, a Docker build, a pool) are made there, once, and every target's
// jobs share them.
//
//	func main() {
//		src := flag.String("src", ".", "the repository to test")
//		cimain.Main(func() ci.Config { // called once, after the flags are parsed
//			remote := git.NewRemote(*src, "/var/lib/ci/git", git.Options{})
//			vet := remote.Command("vet", git.CommandOptions{}, []string{"go", "vet", "./..."})
//			return ci.Config{Projects: []ci.Project{{
//				Repo: "me/my-project",
//				Jobs: func(t ci.Target) ci.Jobs {
//					return ci.Jobs{"vet": term.Then(term.Bind(remote.Fetch(t.Commit()), vet), "Vet passed")}
//				},
//			}}}
//		})
//	}
//
// Run the program with --help for its flags.
//
// A CI owns its state directory: a second CI started on the same one exits
// at once with an error naming the process that holds it (an exclusive
// lock, released by the kernel when the holder exits, even killed).
package cimain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/local"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/ci/process"
	"github.com/dkgo/datakit/ci/web"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

// Main runs a CI program until SIGINT or SIGTERM, and exits: status 0
// after a clean stop, 2 for bad flags, 1 for other errors (a state
// directory another CI holds, say).
//
// It parses the command line's flags, cimain's and those the program
// defined with package flag, and then calls configure, once, for the CI's
// configuration. configure is where the program makes its steps (Git
// remotes, Docker builds and runs, pools) from its flags' values: a step is
// a long-lived value that the jobs of every target share, so a project's
// Jobs function uses steps and never makes them (two copies of one step
// fight over its result branch; the CI reports that as an error). configure
// only makes values and starts nothing: the CI may yet refuse to start.
// "PROG status" calls it too (to know the projects and their jobs);
// --help and --version do not.
//
// Main makes the CI's logger (its format, -v's level) the default
// slog.Logger before it calls configure, so that every line the program
// prints, its own and its libraries', has one format. Run does not.
func Main(configure func() ci.Config) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	signal.Ignore(syscall.SIGPIPE)
	stdout := &pipeWriter{w: os.Stdout}
	err := run(ctx, configure, os.Args[1:], stdout, os.Stderr, flag.CommandLine)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case stdout.closed() && errors.Is(err, syscall.EPIPE):
		// The reader went away (PROG status | head): end quietly, with
		// no error text (a shell takes exit 0 as success; a program
		// killed by SIGPIPE would give 141).
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

// pipeWriter notes whether a write to w failed because its reader has
// gone (EPIPE).
type pipeWriter struct {
	w      io.Writer
	mu     sync.Mutex
	broken bool
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.mu.Lock()
		p.broken = true
		p.mu.Unlock()
	}
	return n, err
}

func (p *pipeWriter) closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.broken
}

type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// flags are the command line's settings.
type flags struct {
	store, stateDir, webUI, listen, listen9p, secrets, prom string
	canaries, localRepos                                    []string
	verbose                                                 int
	web                                                     webFlags // web.go
	github                                                  *githubFlags
}

type listFlag struct{ list *[]string }

func (l listFlag) String() string {
	if l.list == nil {
		return ""
	}
	return strings.Join(*l.list, ",")
}
func (l listFlag) Set(s string) error { *l.list = append(*l.list, s); return nil }

type countFlag struct{ n *int }

func (c countFlag) String() string {
	if c.n == nil {
		return "0"
	}
	return fmt.Sprint(*c.n)
}
func (c countFlag) Set(string) error { *c.n++; return nil }
func (c countFlag) IsBoolFlag() bool { return true }

func defaultStateDir(name string) string {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".local", "state")
		} else {
			base = os.TempDir()
		}
	}
	return filepath.Join(base, "datakit-ci", name)
}

// defineFlags defines cimain's flags in a new flag set.
func defineFlags(cmd string, stderr io.Writer) (*flags, *flag.FlagSet) {
	f := &flags{}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.store, "store", "", "the DataKit store: empty for one embedded in --state-dir, \"memory\" for a throw-away one, or a remote DataKit's 9P `URL` (tcp://HOST:PORT, unix:///PATH)")
	fs.StringVar(&f.stateDir, "state-dir", "", "`DIR` of the embedded store (a Git repository: try git -C DIR log github-metadata) and the secrets; one CI at a time (default "+defaultStateDir("NAME")+", NAME being the configuration's Name, else datakit-ci)")
	fs.StringVar(&f.webUI, "web-ui", "", "public base `URL` of the web UI, for the links in statuses (default: http:// + --listen)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "`ADDR` to serve the web UI on; \"off\" for none")
	fs.StringVar(&f.listen9p, "listen-9p", "", "also serve the embedded store over 9P at `URL` (tcp://HOST:PORT, unix:///PATH), for bridges and `datakit mount`")
	fs.StringVar(&f.secrets, "secrets-dir", "", "`DIR` of secrets: a file per name in the configuration's Secrets (their values are masked in all the CI writes; else read from the environment), and the web UI's: its admin password's hash, GitHub OAuth application, TLS key and certificate (default: STATE-DIR/secrets)")
	fs.Var(listFlag{&f.canaries}, "canary", "test only this `TARGET` (USER/REPO/heads/BRANCH, USER/REPO/tags/TAG or USER/REPO/prs/N); repeatable")
	fs.Var(listFlag{&f.localRepos}, "local-repo", "mirror the branches, tags and refs/pull/N/head refs of the local Git repository at PATH as project USER/REPO (`USER/REPO:PATH`); repeatable")
	fs.StringVar(&f.prom, "listen-prometheus", "", "serve Prometheus metrics at http://`ADDR`/metrics")
	fs.Var(countFlag{&f.verbose}, "v", "debug logging: also when the metadata changes and how many jobs each round evaluated (and the libraries' debug lines)")
	defineWebFlags(fs, &f.web)
	f.github = defineGitHubFlags(fs)
	return f, fs
}

const usageText = `Usage: %[1]s [flags]
       %[1]s status [--store URL | --state-dir DIR]

Run this CI: for every open PR, branch and tag of its projects, evaluate
the jobs and write their results as commit statuses (context
ci/datakit/JOB) to the store's github-metadata branch.

Targets come from a bridge writing that branch: --local-repo USER/REPO:PATH
mirrors a local Git repository; --github-repo USER/REPO syncs a GitHub
repository (statuses go back to GitHub; credentials: $GITHUB_TOKEN,
--github-token-file or a GitHub App); datakit github-bridge or local-bridge can
write to the store over 9P (--listen-9p, or --store for a remote DataKit).

"%[1]s status" lists the targets that have jobs, and their jobs' statuses,
from the store.

Flags:
`

// Run runs the CI with the command-line arguments args (without the
// program name) until ctx is done, as Main does: it calls configure once,
// after parsing args. Main also accepts the flags the program defined with
// package flag (e.g. a --profile of its own); Run does not.
func Run(ctx context.Context, configure func() ci.Config, args []string, stdout, stderr io.Writer) error {
	return run(ctx, configure, args, stdout, stderr, nil)
}

// run parses the command line, opens what it names and serves until ctx
// is done.
func run(ctx context.Context, configure func() ci.Config, args []string, stdout, stderr io.Writer, extra *flag.FlagSet) error {
	if configure == nil {
		return errors.New("cimain: no configuration (configure is nil)")
	}
	cmd := filepath.Base(os.Args[0])
	if len(args) > 0 && args[0] == "status" {
		return runStatus(ctx, configure, cmd, args[1:], stdout, stderr, extra)
	}
	s, err := parse(cmd, args, stdout, stderr, extra)
	if err != nil || s == nil {
		return err
	}
	if extra != nil {
		// Main owns the process: its logger becomes the default, before
		// configure makes the steps, so that what logs through
		// slog.Default (ci/docker's clean-up line, a user's own lines)
		// writes in the CI's one format.
		slog.SetDefault(s.log)
	}
	cfg := configure()
	s.resolve(cfg)
	in, err := open(ctx, cfg, s)
	if err != nil {
		return err
	}
	defer in.close()
	return in.serve(ctx)
}

// settings are the command line's, checked.
type settings struct {
	flags
	cmd      string
	log      *slog.Logger
	stderr   io.Writer
	canaries []ci.TargetID
	sources  []local.Source
	github   *githubSettings // nil without --github-repo
}

// addProgramFlags defines in fs the flags of extra (the program's own,
// defined with package flag) that cimain does not define, and returns
// their names.
func addProgramFlags(fs, extra *flag.FlagSet) map[string]bool {
	own := map[string]bool{}
	if extra == nil {
		return own
	}
	extra.VisitAll(func(fl *flag.Flag) {
		if fs.Lookup(fl.Name) == nil {
			fs.Var(fl.Value, fl.Name, fl.Usage)
			own[fl.Name] = true
		}
	})
	return own
}

// parse parses and checks the command line. It returns nil settings when
// there is nothing to run (--version).
func parse(cmd string, args []string, stdout, stderr io.Writer, extra *flag.FlagSet) (*settings, error) {
	f, fs := defineFlags(cmd, stderr)
	addProgramFlags(fs, extra)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, usageText, cmd)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if *showVersion {
		fmt.Fprintln(stdout, cmd, version())
		return nil, nil
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q (see --help)", fs.Arg(0))
	}
	s := &settings{flags: *f, cmd: cmd, log: newLogger(stderr, f.verbose), stderr: stderr}
	for _, c := range f.canaries {
		id, err := ci.ParseTargetID(c)
		if err != nil {
			return nil, usagef("--canary: %v", err)
		}
		s.canaries = append(s.canaries, id)
	}
	for _, l := range f.localRepos {
		src, err := local.ParseSource(l)
		if err != nil {
			return nil, usagef("--local-repo: %v", err)
		}
		rd, err := dkstore.OpenRepoReader(src.Path)
		if err != nil {
			return nil, usagef("--local-repo %s: %v", l, err)
		}
		rd.Close()
		s.sources = append(s.sources, src)
	}
	var err error
	if s.github, err = parseGitHub(f.github, os.Getenv); err != nil {
		return nil, err
	}
	if s.listen == "off" {
		s.listen = ""
	}
	return s, nil
}

// resolve sets the defaults that depend on the configuration.
func (f *flags) resolve(cfg ci.Config) {
	if f.stateDir == "" {
		f.stateDir = defaultStateDir(cfgName(cfg))
	}
	if f.secrets == "" {
		f.secrets = filepath.Join(f.stateDir, "secrets")
	}
}

// instance is a CI opened as its settings say: its engine, its store and
// its listeners, ready to serve.
type instance struct {
	*settings
	cfg       ci.Config
	engine    *ci.Engine
	reg       *prometheus.Registry
	connect   ci.Connect
	where     string // the store, for people
	webUI     string
	web       net.Listener // the web UI's, or nil
	webServer interface {
		http.Handler
		IntroURL() string
	} // the web UI (web.go)
	prom     net.Listener // the metrics', or nil
	ninep    net.Listener // the 9P server's, or nil
	health   *web.Health  // what the GitHub bridge reports, for the web UI
	warnings []string
	closers  []func() // run in reverse order by close
}

// open makes the engine and opens the store and the listeners.
func open(ctx context.Context, cfg ci.Config, s *settings) (_ *instance, err error) {
	in := &instance{settings: s, cfg: cfg, health: &web.Health{}}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	for i, src := range s.sources {
		if !isProject(cfg, src.Repo) {
			in.warnings = append(in.warnings, fmt.Sprintf("--local-repo %s: %s is not a project of this CI (%s): it is mirrored into the store for others, and nothing here tests it", s.localRepos[i], src.Repo, projectList(cfg)))
		}
	}
	if in.web, err = in.listenTCP("--listen", s.listen); err != nil {
		return nil, err
	}
	in.webUI = s.webUI
	if in.webUI == "" {
		in.webUI = s.webScheme() + "://127.0.0.1:8080/"
		if in.web != nil {
			in.webUI = s.webScheme() + "://" + in.web.Addr().String() + "/"
		}
	}
	if err := in.newEngine(); err != nil {
		return nil, err
	}
	if in.web != nil {
		if err := in.newWebUI(); err != nil {
			return nil, err
		}
	}
	connect, where, cleanup, err := openStore(ctx, &s.flags, s.log, true)
	if err != nil {
		return nil, err
	}
	in.connect, in.where = connect, where
	in.onClose(cleanup)
	// Before the store closes: the cancelled builds end (removing their
	// containers) and save their logs.
	in.onClose(func() { in.engine.Close() })
	if in.prom, err = in.listenTCP("--listen-prometheus", s.prom); err != nil {
		return nil, err
	}
	if err := in.openGitHub(); err != nil {
		return nil, err
	}
	if s.listen9p != "" {
		if s.store != "" && s.store != "memory" {
			return nil, usagef("--listen-9p serves the embedded store: it cannot be used with a remote --store")
		}
		ln, err := ninep.Listen(s.listen9p)
		if err != nil {
			return nil, fmt.Errorf("--listen-9p: %w", err)
		}
		in.ninep = ln
		in.onClose(func() { ln.Close() })
	}
	return in, nil
}

// listenTCP listens on the TCP address addr of flag name; nil if addr is
// empty.
func (in *instance) listenTCP(name, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	in.onClose(func() { ln.Close() })
	return ln, nil
}

// newEngine makes the engine, with its metrics and secrets.
func (in *instance) newEngine() error {
	in.reg = prometheus.NewRegistry()
	in.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	secrets, err := readSecrets(in.cfg.Secrets, in.secrets)
	if err != nil {
		return err
	}
	poolMetrics := pool.NewMetrics(in.reg)
	for _, p := range in.cfg.Pools {
		p.SetMetrics(poolMetrics)
	}
	e, err := ci.NewEngine(in.cfg, ci.Options{WebUI: in.webUI, Canaries: in.canaries, Logger: in.log, Metrics: ci.NewMetrics(in.reg), Secrets: secrets})
	if err != nil {
		return usageError{err}
	}
	in.engine = e
	in.onClose(func() { e.Close() })
	return nil
}

func (in *instance) onClose(f func()) { in.closers = append(in.closers, f) }

// close closes what open opened, the last first.
func (in *instance) close() {
	for i := len(in.closers) - 1; i >= 0; i-- {
		in.closers[i]()
	}
	in.closers = nil
}

// serve runs the engine and the servers until ctx is done or one fails.
func (in *instance) serve(ctx context.Context) error {
	// No process outlives its CI: before the engine runs a step, kill the
	// processes that the steps of a killed earlier run left (they would
	// run beside the same steps started again, over their pools' capacity).
	if n, err := process.KillOrphans(ctx); err != nil {
		in.log.Warn("processes left by an earlier run of a CI", "killed", n, "err", err)
	} else if n > 0 {
		in.log.Info("killed processes left by an earlier run of a CI", "count", n)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	spawn := func(what string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", what, err)
				cancel()
			}
		}()
	}
	if in.prom != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(in.reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "metrics are at /metrics", http.StatusBadRequest)
		})
		spawn("metrics", func() error { return serveHTTP(ctx, in.prom, mux) })
	}
	if in.web != nil {
		spawn("web UI", func() error { return in.serveWeb(ctx) })
	}
	if len(in.sources) > 0 {
		spawn("local bridge", func() error { return in.runBridge(ctx) })
	}
	if in.github != nil {
		spawn("GitHub bridge", func() error { return in.runGitHubBridge(ctx) })
	}
	if in.ninep != nil {
		spawn("9P server", func() error {
			store, err := in.connect(ctx)
			if err != nil {
				return err
			}
			defer store.Close()
			return ninep.NewServer(store, ninep.Options{Logger: in.log.With("src", "9p")}).Serve(ctx, in.ninep)
		})
	}
	in.banner()
	spawn("engine", func() error { return in.engine.RunConnected(ctx, in.connect) })
	wg.Wait()
	close(errs)
	return <-errs
}

// runBridge mirrors the --local-repo repositories into the store, again
// after each failure, until ctx is done.
func (in *instance) runBridge(ctx context.Context) error {
	return reconnecting(ctx, in.log, "local bridge", func() error {
		store, err := in.connect(ctx)
		if err != nil {
			return err
		}
		defer store.Close()
		var refuse []string
		if g, ok := store.(interface{ GitDir() string }); ok && g.GitDir() != "" {
			refuse = append(refuse, g.GitDir())
		}
		bctx, stop := whileAlive(ctx, store)
		defer stop()
		err = local.Run(bctx, store, in.sources, local.Options{Logger: in.log.With("src", "local-bridge"), Refuse: refuse})
		if errors.Is(err, local.ErrRefused) {
			return permanent{err}
		}
		if err == nil && ctx.Err() == nil {
			err = context.Cause(bctx)
		}
		return err
	})
}

// banner says where the statuses go and where targets come from.
func (in *instance) banner() {
	w := in.stderr
	fmt.Fprintf(w, "%s: CI %q for %s\n", in.cmd, cfgName(in.cfg), projectList(in.cfg))
	fmt.Fprintf(w, "  statuses: branch %s of %s\n", bridge.DefaultBranch, in.where)
	if in.web != nil {
		in.webBanner()
	}
	if in.ninep != nil {
		fmt.Fprintf(w, "  9P: %s (e.g. datakit mount --store %s DIR)\n", in.listen9p, in.listen9p)
	}
	if len(in.sources) > 0 {
		fmt.Fprintf(w, "  targets: mirrored from %s\n", strings.Join(in.localRepos, ", "))
		for _, warn := range in.warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
	}
	if in.github != nil {
		in.githubBanner(w)
	}
	if len(in.sources) == 0 && in.github == nil {
		fmt.Fprintf(w, "  targets: none are fed by this process; add --local-repo USER/REPO:PATH or --github-repo USER/REPO, or run a bridge against the store\n")
	}
}

func cfgName(cfg ci.Config) string {
	if cfg.Name == "" {
		return "datakit-ci"
	}
	return cfg.Name
}

func projectList(cfg ci.Config) string {
	var ps []string
	for _, p := range cfg.Projects {
		ps = append(ps, p.Repo)
	}
	return strings.Join(ps, ", ")
}

// isProject reports whether repo is one of cfg's projects.
func isProject(cfg ci.Config, repo bridge.Repo) bool {
	for _, p := range cfg.Projects {
		if r, err := bridge.ParseRepo(p.Repo); err == nil && r == repo {
			return true
		}
	}
	return false
}

func version() string { return "dev" }

// openStore returns how to connect to the store the flags name. For an
// embedded store every connection shares one open store, closed by cleanup.
// With create false (for commands that only read), an embedded store must
// exist already: nothing is created.
func openStore(ctx context.Context, f *flags, log *slog.Logger, create bool) (connect ci.Connect, where string, cleanup func(), err error) {
	switch {
	case f.store == "memory":
		s := dkstore.NewMemory(dkstore.Options{Logger: log})
		return shared(s), "an in-memory store (lost on exit)", func() { s.Close() }, nil
	case f.store == "" && !create:
		s, err := openExisting(f.stateDir, log)
		if err != nil {
			return nil, "", nil, err
		}
		return shared(s), "the Git repository " + s.GitDir(), func() { s.Close() }, nil
	case f.store == "":
		if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
			return nil, "", nil, fmt.Errorf("--state-dir: %w", err)
		}
		s, err := dkstore.Open(f.stateDir, dkstore.Options{Logger: log, Exclusive: true})
		if errors.Is(err, dkstore.ErrLocked) {
			return nil, "", nil, fmt.Errorf("--state-dir %s is in use (one CI per state directory, and no DataKit server on a CI's store: stop the other, or give another --state-dir): %w", f.stateDir, err)
		}
		if err != nil {
			return nil, "", nil, fmt.Errorf("opening the store in %s: %w", f.stateDir, err)
		}
		return shared(s), "the Git repository " + s.GitDir(), func() { s.Close() }, nil
	}
	if _, _, err := ninep.ParseAddr(f.store); err != nil {
		return nil, "", nil, usagef("--store: %v", err)
	}
	url := f.store
	return func(ctx context.Context) (dkstore.Store, error) {
		return ninep.Dial(ctx, url, ninep.ClientOptions{})
	}, "the DataKit at " + url, func() {}, nil
}

// openExisting opens the embedded store in stateDir, which must hold one
// already (DIR/.git, as the CI creates when it first runs).
func openExisting(stateDir string, log *slog.Logger) (*dkstore.GitStore, error) {
	gitdir := filepath.Join(stateDir, ".git")
	if _, err := os.Stat(gitdir); err != nil {
		why := "there is no " + gitdir
		if _, err := os.Stat(stateDir); err != nil {
			why = "the directory does not exist"
		}
		return nil, fmt.Errorf("no store in %s: %s (the CI makes one there when it first runs; else give --state-dir DIR or --store URL)", stateDir, why)
	}
	s, err := dkstore.OpenGitDir(gitdir, dkstore.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("no store in %s: %w", stateDir, err)
	}
	return s, nil
}

// shared hands out one store to every connection; closing a handle does
// nothing.
func shared(s *dkstore.GitStore) ci.Connect {
	return func(context.Context) (dkstore.Store, error) { return noClose{s}, nil }
}

type noClose struct{ *dkstore.GitStore }

func (noClose) Close() error { return nil }

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// permanent marks an error that retrying cannot mend.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// reconnecting runs fn until ctx is done, again after each failure (with
// backoff from 1 s to 30 s), unless the error is permanent.
func reconnecting(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	backoff := time.Second
	for {
		start := time.Now()
		err := fn()
		if ctx.Err() != nil {
			return nil
		}
		var perm permanent
		if errors.As(err, &perm) {
			return perm.error
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		log.Warn(what+" failed; restarting", "in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// whileAlive returns a context cancelled when ctx is or when the store's
// connection is lost (a watch of the metadata branch fails), with the
// loss as its cause.
func whileAlive(ctx context.Context, store dkstore.Store) (context.Context, func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	go func() {
		br, err := store.Branch(bridge.DefaultBranch)
		if err != nil {
			cancel(err)
			return
		}
		w, err := br.WatchHead(cctx)
		if err != nil {
			cancel(fmt.Errorf("store connection lost: %w", err))
			return
		}
		defer w.Close()
		for {
			if _, err := w.Next(cctx); err != nil {
				cancel(fmt.Errorf("store connection lost: %w", err))
				return
			}
		}
	}()
	return cctx, func() { cancel(nil) }
}

// readSecrets reads the values of the named secrets: the file NAME in dir,
// else the environment variable NAME. A secret that is neither is an error.
func readSecrets(names []string, dir string) ([]string, error) {
	var vals []string
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			if v := strings.TrimSpace(string(b)); v != "" {
				vals = append(vals, v)
			}
			continue
		}
		if v, ok := os.LookupEnv(n); ok {
			if v != "" {
				vals = append(vals, v)
			}
			continue
		}
		return nil, fmt.Errorf("secret %q: no file %s and no environment variable %s", n, filepath.Join(dir, n), n)
	}
	return vals, nil
}
