package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/dkgo/datakit/ninep/mount"
)

const mountUsage = `Usage: datakit mount [--store URL] DIR

Mount a DataKit server on DIR through FUSE (no kernel 9p needed) and stay in
the foreground until DIR is unmounted (fusermount -u DIR) or the command is
interrupted. As root the mount is direct; otherwise fusermount (Debian's
fuse3) is used. A process blocked reading a stream file (cat head.live)
can be interrupted: Ctrl-C or kill ends its read at once (EINTR).

Flags:
`

func runMount(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("datakit mount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "tcp://127.0.0.1:5640", "the DataKit server: tcp://HOST:PORT or unix:///PATH")
	debug := fs.Bool("debug", false, "log every FUSE request")
	fs.Usage = func() {
		fmt.Fprint(stderr, mountUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("mount needs one directory")
	}
	dir := fs.Arg(0)
	srv, err := mount.Mount(ctx, *store, dir, mount.Options{Debug: *debug})
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", *store, dir, err)
	}
	fmt.Fprintf(stderr, "datakit: %s mounted on %s; unmount with: fusermount -u %s\n", *store, dir, dir)
	stop := context.AfterFunc(ctx, func() { srv.Unmount() })
	defer stop()
	srv.Wait()
	return nil
}
