package storetest

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/dkgo/datakit/dkstore"
)

// testSnapshots checks committed trees and open transactions through
// io/fs with testing/fstest, and that a snapshot never changes.
func testSnapshots(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	write(t, tr, "a", "A")
	write(t, tr, "dir/b", "BB")
	write(t, tr, "dir/sub/c", "CCC")
	writeFile(t, tr, "x", "#!/bin/sh\n", dkstore.KindExec)
	writeFile(t, tr, "l", "a", dkstore.KindLink)
	id := commit(t, tr, "snapshot")
	tree := treeOf(t, s, id)
	if tree.Hash() != commitOf(t, s, id).Tree {
		t.Errorf("Tree().Hash() = %s, want the commit's tree %s", tree.Hash(), commitOf(t, s, id).Tree)
	}
	snap := dkstore.FS(ctx, tree)
	committed := []string{"a", "dir", "dir/b", "dir/sub", "dir/sub/c", "x", "l"}
	if err := fstest.TestFS(snap, committed...); err != nil {
		t.Errorf("fstest.TestFS(committed tree) = %v", err)
	}
	checkFS(t, "committed tree", snap, map[string]string{"a": "A", "dir/b": "BB", "dir/sub/c": "CCC", "x": "#!/bin/sh\n", "l": "a"})
	for _, m := range []struct {
		name string
		want fs.FileMode // the bits that must be set
		not  fs.FileMode // the bits that must be clear
	}{
		{"a", 0, fs.ModeType | 0o111},
		{"x", 0o100, fs.ModeType},
		{"l", fs.ModeSymlink, fs.ModeDir},
		{"dir", fs.ModeDir, 0},
		{".", fs.ModeDir, 0},
	} {
		fi, err := fs.Stat(snap, m.name)
		if err != nil {
			t.Errorf("fs.Stat(%s) = %v", m.name, err)
			continue
		}
		if mode := fi.Mode(); mode&m.want != m.want || mode&m.not != 0 {
			t.Errorf("fs.Stat(%s).Mode() = %v, want %v set and %v clear", m.name, mode, m.want, m.not)
		}
	}

	// An open transaction, with uncommitted changes and an empty directory.
	tr2 := tx(t, master, dkstore.TxOptions{})
	write(t, tr2, "new", "N")
	remove(t, tr2, "dir/sub")
	makeDirs(t, tr2, "empty/dir")
	live := dkstore.FS(ctx, tr2)
	if err := fstest.TestFS(live, "a", "dir", "dir/b", "x", "l", "new", "empty", "empty/dir"); err != nil {
		t.Errorf("fstest.TestFS(open transaction) = %v", err)
	}
	if _, err := fs.Stat(live, "dir/sub/c"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fs.Stat(dir/sub/c) in the transaction = %v, want fs.ErrNotExist", err)
	}
	if es, err := fs.ReadDir(live, "empty/dir"); err != nil || len(es) != 0 {
		t.Errorf("fs.ReadDir(empty/dir) = %v, %v, want [], nil", es, err)
	}
	commit(t, tr2, "after")

	// The first snapshot is unchanged.
	if err := fstest.TestFS(snap, committed...); err != nil {
		t.Errorf("fstest.TestFS(committed tree) after another commit = %v", err)
	}
	checkFS(t, "committed tree after another commit", snap, map[string]string{"a": "A", "dir/b": "BB", "dir/sub/c": "CCC", "x": "#!/bin/sh\n", "l": "a"})
	if _, err := fs.Stat(dkstore.FS(ctx, headTree(t, s, master)), "dir/sub"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fs.Stat(dir/sub) in the new head = %v, want fs.ErrNotExist", err)
	}
}

// checkFS checks that fsys holds exactly the files want (path to content).
func checkFS(t *testing.T, what string, fsys fs.FS, want map[string]string) {
	t.Helper()
	var got []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		got = append(got, p)
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if w, ok := want[p]; !ok || string(data) != w {
			t.Errorf("%s: fs.ReadFile(%s) = %q, want %q", what, p, data, w)
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: fs.WalkDir = %v", what, err)
	}
	if wantNames := sortedKeys(want); !slices.Equal(got, wantNames) {
		t.Errorf("%s: files %q, want %q", what, got, wantNames)
	}
}

// testConcurrency runs many writers at once on one branch.
func testConcurrency(t *testing.T, open func(t *testing.T) dkstore.Store) {
	t.Run("Different files", func(t *testing.T) {
		s := open(t)
		master := branch(t, s, "master")
		commitFiles(t, master, "base", map[string]string{"base": "base"})
		const n = 50
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = commitOne(t, master, fmt.Sprintf("file-%02d", i), fmt.Sprint(i))
			}()
		}
		close(start)
		wg.Wait()
		want := map[string]string{"base": "base"}
		for i, err := range errs {
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
			want[fmt.Sprintf("file-%02d", i)] = fmt.Sprint(i)
		}
		checkFiles(t, "after 50 concurrent commits", headTree(t, s, master), plain(want))
	})

	t.Run("Same file", func(t *testing.T) {
		s := open(t)
		master := branch(t, s, "master")
		commitFiles(t, master, "base", map[string]string{"shared": "base"})
		const n = 20
		txs := make([]dkstore.Transaction, n)
		for i := range txs {
			txs[i] = tx(t, master, dkstore.TxOptions{})
		}
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, tr := range txs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := tr.WriteFile(t.Context(), "shared", []byte(fmt.Sprint("v", i)), dkstore.KindFile); err != nil {
					errs[i] = err
					return
				}
				_, errs[i] = tr.Commit(t.Context(), fmt.Sprint("writer ", i))
			}()
		}
		close(start)
		wg.Wait()
		var landed []string
		for i, err := range errs {
			switch {
			case err == nil:
				landed = append(landed, fmt.Sprint("v", i))
			case !errors.Is(err, dkstore.ErrConflict):
				t.Errorf("writer %d: Commit() = %v, want nil or ErrConflict", i, err)
			}
		}
		if len(landed) == 0 {
			t.Fatalf("no writer landed, want at least one")
		}
		got := readFile(t, headTree(t, s, master), "shared")
		if !slices.Contains(landed, got) {
			t.Errorf("ReadFile(shared) = %q, want the value of a writer that landed, one of %q", got, landed)
		}
	})

	t.Run("One transaction", func(t *testing.T) {
		s := open(t)
		master := branch(t, s, "master")
		tr := tx(t, master, dkstore.TxOptions{})
		const n = 20
		var wg sync.WaitGroup
		want := map[string]string{}
		for i := range n {
			p := fmt.Sprintf("d%d/f%02d", i%3, i)
			want[p] = fmt.Sprint(i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := tr.WriteFile(t.Context(), dkstore.Path(p), []byte(fmt.Sprint(i)), dkstore.KindFile); err != nil {
					t.Errorf("WriteFile(%s) = %v", p, err)
				}
				if _, err := tr.ReadDir(t.Context(), dkstore.Root); err != nil {
					t.Errorf("ReadDir(/) = %v", err)
				}
			}()
		}
		wg.Wait()
		checkFiles(t, "transaction written by 20 goroutines", tr, plain(want))
		id := commit(t, tr, "many writers")
		checkFiles(t, "committed", treeOf(t, s, id), plain(want))
	})
}

// commitOne commits p = data to b in its own transaction, for goroutines:
// it reports errors instead of failing the test.
func commitOne(t *testing.T, b dkstore.Branch, p, data string) error {
	ctx := t.Context()
	tr, err := b.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return fmt.Errorf("Transaction() = %w", err)
	}
	defer tr.Abort(ctx)
	if err := tr.WriteFile(ctx, dkstore.Path(p), []byte(data), dkstore.KindFile); err != nil {
		return fmt.Errorf("WriteFile(%s) = %w", p, err)
	}
	if _, err := tr.Commit(ctx, "add "+p); err != nil {
		return fmt.Errorf("Commit() = %w", err)
	}
	return nil
}
