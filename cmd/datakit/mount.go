package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/dkgo/datakit/ninep/mount"
)

const mountUsage = `Usage: datakit mount [--store URL] DIR

Mount a DataKit server on DIR through FUSE (no kernel 9p needed) and stay in
the foreground until DIR is unmounted (fusermount -u DIR) or the command is
interrupted (Ctrl-C, SIGTERM): then it unmounts DIR, or, while DIR is busy
(a process has a file or its working directory there), detaches it lazily,
as fusermount -u -z does, and says so; what still used it gets errors. As
root the mount is direct; otherwise fusermount (Debian's fuse3) is used.
A process blocked reading a stream file (cat head.live) can be interrupted:
Ctrl-C or kill ends its read at once (EINTR).

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
		return parseError(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("mount needs one directory")
	}
	dir := fs.Arg(0)
	srv, err := mount.Mount(ctx, *store, dir, mount.Options{Debug: *debug})
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", *store, dir, err)
	}
	fmt.Fprintf(stderr, "datakit: %s mounted on %s; unmount with: fusermount -u %s\n", *store, dir, dir)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done: // unmounted from outside
		return nil
	case <-ctx.Done():
	}
	err = srv.Unmount()
	if err == nil {
		<-done
		return nil
	}
	// Busy: a process has a file open there (a reader blocked on a
	// stream, say) or its working directory. Detach the mount lazily, as
	// libfuse's programs do when interrupted: it leaves the directory
	// tree now, and exiting closes the FUSE connection, so that what still
	// used it gets errors instead of hanging.
	fmt.Fprintf(stderr, "datakit: %s is busy (%s): detaching it; what still uses it gets errors\n", dir, firstLine(err))
	if err := detach(dir); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// detach unmounts dir lazily (MNT_DETACH): directly as root, else with
// fusermount's -z.
func detach(dir string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err == nil {
			return nil
		}
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if path, err := exec.LookPath(bin); err == nil {
			out, err := exec.Command(path, "-u", "-z", dir).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s -u -z: %v: %s", bin, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("no fusermount to detach it with")
}

// firstLine is the first non-empty line of err's text (fusermount's
// errors come with a second line of exit status).
func firstLine(err error) string {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return err.Error()
}
