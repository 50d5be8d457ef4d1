// Command storedemo shows the dkstore API at work on a real Git
// repository: it commits to a branch, watches a path, lands two
// concurrent transactions (the second as a merge), resolves a conflict,
// and prints where to look with plain git.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "storedemo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("storedemo", flag.ContinueOnError)
	dir := fs.String("git", ".state/demo", "directory of the store (its Git directory is DIR/.git)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := dkstore.Open(*dir, dkstore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	master, err := s.Branch("master")
	if err != nil {
		return err
	}

	// Watch a path: the first value arrives at once, later ones on change.
	w, err := master.WatchPath(ctx, "greeting")
	if err != nil {
		return err
	}
	defer w.Close()
	first, err := w.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "watch greeting: %q (empty means absent)\n", first.String())

	// A transaction: write, commit, get the new head back.
	tx, err := master.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return err
	}
	stamp := time.Now().Format(time.RFC3339)
	if err := tx.WriteFile(ctx, "greeting", []byte("hello at "+stamp+"\n"), dkstore.KindFile); err != nil {
		return err
	}
	head, err := tx.Commit(ctx, "Say hello\n")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "committed %s\n", head)
	next, err := w.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "watch greeting: %s\n", next)

	// Two transactions from the same head: the second lands as a merge.
	a, _ := master.Transaction(ctx, dkstore.TxOptions{})
	b, _ := master.Transaction(ctx, dkstore.TxOptions{})
	a.WriteFile(ctx, "left", []byte("from a\n"), dkstore.KindFile)
	b.WriteFile(ctx, "right", []byte("from b\n"), dkstore.KindFile)
	if _, err := a.Commit(ctx, "Left\n"); err != nil {
		return err
	}
	merged, err := b.Commit(ctx, "Right\n")
	if err != nil {
		return err
	}
	c, err := s.Commit(ctx, merged)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "second transaction landed as %q with %d parents\n", firstLine(c.Message), len(c.Parents))

	// A conflict: both change the same file; the commit says why.
	x, _ := master.Transaction(ctx, dkstore.TxOptions{})
	y, _ := master.Transaction(ctx, dkstore.TxOptions{})
	x.WriteFile(ctx, "left", []byte("x was here\n"), dkstore.KindFile)
	y.WriteFile(ctx, "left", []byte("y was here\n"), dkstore.KindFile)
	if _, err := x.Commit(ctx, "X\n"); err != nil {
		return err
	}
	_, err = y.Commit(ctx, "Y\n")
	if !errors.Is(err, dkstore.ErrConflict) {
		return fmt.Errorf("expected a conflict, got %v", err)
	}
	fmt.Fprintf(out, "conflicting commit refused: %s\n", dkstore.Reason(err))
	y.Abort(ctx)

	abs, _ := filepath.Abs(*dir)
	fmt.Fprintf(out, "\nThe store is a plain Git repository. Try:\n  git --git-dir %s/.git log --graph --oneline master\n", abs)
	return nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
