package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/local"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/ninep"
)

const localBridgeUsage = `Usage: datakit local-bridge [--store URL] [--branch NAME] [--interval D] [-v] USER/REPO:PATH...

Mirror local Git repositories into the metadata branch of a DataKit server,
so that a CI can build them with no GitHub. Each USER/REPO:PATH names a
repository in the metadata tree (USER/REPO) and its path on disk (a work
tree holding .git, or a bare repository). Its branches become
USER/REPO/ref/heads/..., its tags USER/REPO/ref/tags/..., and its refs
refs/pull/N/head open pull requests USER/REPO/pr/N (closed when the ref goes
away); see docs/bridge.md. The repositories are only read, never written.

Never watch the repository the DataKit server itself stores its data in:
give its Git directory to --refuse.

Example:
  datakit local-bridge --store tcp://127.0.0.1:5640 me/project:$HOME/src/project

Flags:
`

func runLocalBridge(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("datakit local-bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "tcp://127.0.0.1:5640", "the DataKit server: tcp://HOST:PORT or unix:///PATH")
	branch := fs.String("branch", string(bridge.DefaultBranch), "the metadata branch `NAME` to write")
	interval := fs.Duration("interval", 250*time.Millisecond, "how often to look at the repositories: a duration `D` such as 250ms or 1s")
	refuse := fs.String("refuse", "", "comma-separated Git `DIRS` never to watch (the server's own store)")
	var verbose verbosity
	fs.Var(&verbose, "v", "log more: every change (repeat for debug)")
	fs.Usage = func() {
		fmt.Fprint(stderr, localBridgeUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("local-bridge needs at least one USER/REPO:PATH")
	}
	var srcs []local.Source
	for _, a := range fs.Args() {
		src, err := local.ParseSource(a)
		if err != nil {
			return err
		}
		srcs = append(srcs, src)
	}
	b, err := dkstore.ParseBranchName(*branch)
	if err != nil {
		return fmt.Errorf("--branch: %w", err)
	}
	if *interval <= 0 {
		return fmt.Errorf("--interval %v: want a positive duration", *interval)
	}
	var refused []string
	for _, d := range strings.Split(*refuse, ",") {
		if d = strings.TrimSpace(d); d != "" {
			refused = append(refused, d)
		}
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn - slog.Level(4*int(verbose)))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.String()
	}
	fmt.Fprintf(stderr, "datakit local-bridge: mirroring %s into branch %s of %s\n", strings.Join(names, " "), b, *store)
	opts := local.Options{Branch: b, Interval: *interval, Logger: log, Refuse: refused}
	// The first connection must work; a connection lost later is made
	// again, with backoff from 1s to 30s.
	backoff := time.Second
	for connected := false; ; {
		start := time.Now()
		err := bridgeOnce(ctx, *store, srcs, opts, &connected)
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "datakit local-bridge: stopped")
			return nil
		}
		if !connected || errors.Is(err, local.ErrRefused) {
			return err
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		log.Warn("local bridge: lost the server; connecting again", "in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "datakit local-bridge: stopped")
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// bridgeOnce dials the server and runs the bridge until ctx is done or the
// connection is lost (noticed by a watch of the metadata branch, which
// fails with its connection). It sets *connected once the dial succeeds.
func bridgeOnce(ctx context.Context, url string, srcs []local.Source, opts local.Options, connected *bool) error {
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := ninep.Dial(dialCtx, url, ninep.ClientOptions{})
	cancel()
	if err != nil {
		return err
	}
	defer client.Close()
	br, err := client.Branch(opts.Branch)
	if err != nil {
		return err
	}
	w, err := br.WatchHead(ctx)
	if err != nil {
		return err
	}
	*connected = true
	rctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		for {
			if _, err := w.Next(rctx); err != nil {
				lost(fmt.Errorf("connection to %s lost: %w", url, err))
				return
			}
		}
	}()
	defer func() {
		w.Close()
		<-watching
	}()
	if err := local.Run(rctx, client, srcs, opts); err != nil {
		return err
	}
	return context.Cause(rctx)
}
