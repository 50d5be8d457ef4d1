// Command datakit serves a DataKit store over 9P (9P2000.L, and the
// original DataKit's 9P2000.u and 9P2000).
//
//	datakit [--git PATH] [--listen-9p URLS] [-v] [--version]
//
// See `datakit --help` and docs/ninep.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	signal.Ignore(syscall.SIGPIPE)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		if !usage.printed {
			fmt.Fprintln(os.Stderr, "datakit:", err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "datakit:", err)
		os.Exit(1)
	}
}

// usageError is a command line that makes no sense: exit status 2, as
// for flags, where other failures give 1. printed says that package
// flag has printed it already.
type usageError struct {
	error
	printed bool
}

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error { return usageError{error: fmt.Errorf(format, args...)} }

// parseError is the error of a FlagSet's Parse, which printed it with the
// usage: flag.ErrHelp as it is (exit status 0), others as usage errors.
func parseError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{error: err, printed: true}
}

const usage = `Usage: datakit [flags]
       datakit mount [--store URL] DIR
       datakit local-bridge [--store URL] USER/REPO:PATH...
       datakit github-bridge [--store URL|DIR] [--repositories LIST] [flags]

Serve a DataKit store (a Git repository of versioned trees) as a file tree
over 9P2000.L, or 9P2000.u and 9P2000 as the original DataKit's clients ask.
Mount it with the kernel client:

  mount -t 9p -o trans=tcp,port=5640,version=9p2000.L 127.0.0.1 /mnt
  (version=9p2000.u works too, as with the original)

or, where the kernel has no 9p, through FUSE: datakit mount /mnt

Flags:
`

type verbosity int

func (v *verbosity) String() string   { return fmt.Sprint(int(*v)) }
func (v *verbosity) Set(string) error { *v++; return nil }
func (v *verbosity) IsBoolFlag() bool { return true }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "mount" {
		return runMount(ctx, args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "local-bridge" {
		return runLocalBridge(ctx, args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "github-bridge" {
		return runGitHubBridge(ctx, args[1:], stderr, os.Getenv)
	}
	fs := flag.NewFlagSet("datakit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gitPath := fs.String("git", "", "serve the Git repository at `PATH` (its Git directory is PATH/.git, created if absent; one server per repository); without it the store is in memory and lost on exit")
	listen := fs.String("listen-9p", "tcp://127.0.0.1:5640", "comma-separated `URLS` to listen on: tcp://HOST:PORT or unix:///PATH")
	fs.StringVar(listen, "url", "tcp://127.0.0.1:5640", "alias of --listen-9p")
	promAddr := fs.String("listen-prometheus", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. 127.0.0.1:9090); no authentication")
	autoPush := fs.String("auto-push", "", "after branches change, force-push them (batched for 2s) to the Git `URL` of a mirror; needs --git")
	var verbose verbosity
	fs.Var(&verbose, "v", "log debug messages too")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stdout, "datakit", version)
		return nil
	}
	level := new(slog.LevelVar) // info by default: the startup line, metrics' URL, failed fetches
	if verbose > 0 {
		level.Set(slog.LevelDebug)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var store *dkstore.GitStore
	if *gitPath != "" {
		var err error
		// One server per repository: a second one fails here, naming the
		// first.
		store, err = dkstore.Open(*gitPath, dkstore.Options{Logger: log, Exclusive: true})
		if err != nil {
			return fmt.Errorf("--git %s: %w", *gitPath, err)
		}
	} else {
		store = dkstore.NewMemory(dkstore.Options{Logger: log})
	}
	defer store.Close()
	if *autoPush != "" && *gitPath == "" {
		return errors.New("--auto-push needs an on-disk store: give --git PATH")
	}

	var lns []net.Listener
	for _, u := range strings.Split(*listen, ",") {
		ln, err := ninep.Listen(strings.TrimSpace(u))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	m := newMetrics(store)
	srv := ninep.NewServer(store, ninep.Options{
		Logger:  log,
		Sources: []ninep.LogSource{{Name: "datakit", Doc: "DataKit server", Level: level}},
		Metrics: m.ninep,
	})
	where := "in memory"
	if *gitPath != "" {
		where = "on " + store.GitDir()
	}
	log.Info("starting datakit "+version, "store", where, "listen", *listen)
	fmt.Fprintf(stderr, "datakit %s: serving the store %s on %s\n", version, where, *listen)

	var wg sync.WaitGroup
	errs := make(chan error, len(lns)+2)
	if *promAddr != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.serve(ctx, *promAddr, log); err != nil {
				errs <- err
			}
		}()
	}
	if *autoPush != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := store.AutoPush(ctx, *autoPush, dkstore.AutoPushOptions{
				PushAtStart: true,
				OnPush: func(_ []dkstore.BranchName, d time.Duration, _ error) {
					m.push.Observe(d.Seconds())
				},
			})
			if err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("auto-push: %w", err)
			}
		}()
	}
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ctx, ln); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Fprintln(stderr, "datakit: stopped; open transactions were dropped")
	return nil
}
