// Command settings keeps a (pretend) virtual machine's settings in a
// DataKit store with package dkstore/record, and prints each change as it
// comes: set one from a shell in a `datakit mount`, and watch it arrive.
//
//	go run ./cmd/datakit --git /tmp/db --listen-9p unix:///tmp/dk.sock &
//	go run ./examples/settings --addr unix:///tmp/dk.sock
//
//	# in another shell, with the store mounted on ~/db
//	# (go run ./cmd/datakit mount --store unix:///tmp/dk.sock ~/db):
//	mkdir ~/db/branch/master/transactions/t
//	mkdir -p ~/db/branch/master/transactions/t/rw/vm
//	echo 4 > ~/db/branch/master/transactions/t/rw/vm/cpus
//	echo commit > ~/db/branch/master/transactions/t/ctl
//
// Without --addr it uses a store of its own (--git DIR). Ctrl-C ends it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/record"
	"github.com/dkgo/datakit/ninep"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "settings:", err)
		os.Exit(1)
	}
}

// setting is a field of any type, as this program shows it.
type setting struct {
	key        string
	show       func() string
	hasChanged func(record.Version) bool
}

func show[T any](f *record.Field[T], format func(T) string) setting {
	return setting{
		key:        f.Key(),
		show:       func() string { v, _ := f.Get(); return format(v) },
		hasChanged: f.HasChanged,
	}
}

// run prints the settings, then each change, until ctx ends (which is no
// error) or --once is given.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("settings", flag.ContinueOnError)
	addr := fs.String("addr", "", "a DataKit server to use, e.g. unix:///tmp/dk.sock or tcp://host:5640 (default: a store of our own)")
	dir := fs.String("git", ".state/settings", "the store's directory, without --addr")
	once := fs.Bool("once", false, "print the settings and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var store dkstore.Store
	if *addr != "" {
		c, err := ninep.Dial(ctx, *addr, ninep.ClientOptions{})
		if err != nil {
			return err
		}
		store = c
	} else {
		s, err := dkstore.Open(*dir, dkstore.Options{})
		if err != nil {
			return err
		}
		store = s
	}
	defer store.Close()

	// The record's warnings (a value that does not parse, and so counts
	// as the default) go to out too: whoever typed the value learns why
	// it changed nothing.
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	vm, err := record.New(ctx, store, record.Options{
		Lookup:   []dkstore.BranchName{"master", "defaults"},
		Defaults: "defaults",
		State:    "state",
		Dir:      "vm",
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	defer vm.Close()
	cpus, err := vm.IntField(ctx, "cpus", 2)
	if err != nil {
		return err
	}
	memory, err := vm.IntField(ctx, "memory-mib", 2048)
	if err != nil {
		return err
	}
	name, err := vm.StringField(ctx, "name", "default-vm")
	if err != nil {
		return err
	}
	gui, err := vm.BoolField(ctx, "gui", false)
	if err != nil {
		return err
	}
	proxy, err := vm.StringRefField(ctx, "proxy", nil)
	if err != nil {
		return err
	}
	if err := vm.Seal(ctx); err != nil {
		return err
	}
	number := func(i int) string { return fmt.Sprint(i) }
	settings := []setting{
		show(cpus, number),
		show(memory, number),
		show(name, func(s string) string { return fmt.Sprintf("%q", s) }),
		show(gui, func(b bool) string { return fmt.Sprint(b) }),
		show(proxy, func(p *string) string {
			if p == nil {
				return "(none)"
			}
			return fmt.Sprintf("%q", *p)
		}),
	}
	fmt.Fprintln(out, "settings in vm/ of master, defaults in defaults, in use in state:")
	for _, s := range settings {
		fmt.Fprintf(out, "  %s = %s\n", s.key, s.show())
	}
	if *once {
		return nil
	}

	seen := vm.Version()
	for {
		v, err := vm.WaitAfter(ctx, seen)
		if ctx.Err() != nil {
			return nil // interrupted: done
		}
		if err != nil {
			if errors.Is(err, dkstore.ErrClosed) {
				return nil
			}
			return err
		}
		for _, s := range settings {
			if s.hasChanged(seen) {
				fmt.Fprintf(out, "version %d: %s = %s\n", v, s.key, s.show())
			}
		}
		seen = v
	}
}
