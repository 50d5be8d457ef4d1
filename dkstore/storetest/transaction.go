package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// testTransaction is the reference's "Transaction": write, commit, read
// back through the branch head, plus the commit's metadata and the
// transaction's life cycle.
func testTransaction(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	if h := head(t, master); !h.IsZero() {
		t.Fatalf("Head() of a new branch = %s, want no commit", h)
	}
	tr := tx(t, master, dkstore.TxOptions{})
	makeDirs(t, tr, "src")
	write(t, tr, "src/Makefile", "all: build test")
	parents, err := tr.Parents(ctx)
	if err != nil || len(parents) != 0 {
		t.Errorf("Parents() = %v, %v, want [], nil", parents, err)
	}
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	id := commit(t, tr, "My commit")
	after := time.Now().Add(time.Second)

	h := mustHead(t, master)
	if h != id {
		t.Errorf("Commit() = %s, but Head() = %s", id, h)
	}
	c := commitOf(t, s, h)
	if c.Message != "My commit" {
		t.Errorf("Commit(head).Message = %q, want %q", c.Message, "My commit")
	}
	if len(c.Parents) != 0 {
		t.Errorf("Commit(head).Parents = %v, want []", c.Parents)
	}
	for _, sig := range []struct {
		what string
		s    dkstore.Signature
	}{{"Author", c.Author}, {"Committer", c.Committer}} {
		if sig.s.Name != "datakit" || sig.s.Email != "datakit@mobyproject.org" {
			t.Errorf("Commit(head).%s = %s <%s>, want datakit <datakit@mobyproject.org>", sig.what, sig.s.Name, sig.s.Email)
		}
		if sig.s.When.Before(before) || sig.s.When.After(after) {
			t.Errorf("Commit(head).%s.When = %v, want the time of the commit (%v to %v)", sig.what, sig.s.When, before, after)
		}
	}
	root := treeOf(t, s, h)
	if st := stat(t, root, "src/Makefile"); st != (dkstore.Stat{Kind: dkstore.KindFile, Size: 15}) {
		t.Errorf("Stat(src/Makefile) = %+v, want {Kind:F Size:15}", st)
	}
	checkFile(t, root, "src/Makefile", "all: build test")
	if st := stat(t, root, "src"); st.Kind != dkstore.KindDir {
		t.Errorf("Stat(src).Kind = %v, want D", st.Kind)
	}
	if st := stat(t, root, ""); st.Kind != dkstore.KindDir {
		t.Errorf("Stat(/).Kind = %v, want D", st.Kind)
	}

	// A committed transaction is closed.
	wantErr(t, "WriteFile after Commit", tr.WriteFile(ctx, "x", []byte("x"), dkstore.KindFile), dkstore.ErrClosed)
	_, err = tr.ReadFile(ctx, "src/Makefile")
	wantErr(t, "ReadFile after Commit", err, dkstore.ErrClosed)
	_, err = tr.Commit(ctx, "again")
	wantErr(t, "Commit after Commit", err, dkstore.ErrClosed)
	wantErr(t, "Abort after Commit", tr.Abort(ctx), nil)
	if h2 := head(t, master); h2 != h {
		t.Errorf("Head() after a second Commit of a closed transaction = %s, want %s", h2, h)
	}

	// An empty message gets the default; the parent is the old head.
	tr2 := tx(t, master, dkstore.TxOptions{})
	parents, err = tr2.Parents(ctx)
	if err != nil || len(parents) != 1 || parents[0] != h {
		t.Errorf("Parents() = %v, %v, want [%s]", parents, err, h)
	}
	checkFile(t, tr2, "src/Makefile", "all: build test")
	write(t, tr2, "README", "hello")
	id2 := commit(t, tr2, "")
	c2 := commitOf(t, s, id2)
	if c2.Message != "(no commit message)" {
		t.Errorf("Commit(\"\").Message = %q, want %q", c2.Message, "(no commit message)")
	}
	if len(c2.Parents) != 1 || c2.Parents[0] != h {
		t.Errorf("Commit(second).Parents = %v, want [%s]", c2.Parents, h)
	}
	checkFiles(t, "second commit", treeOf(t, s, id2), plain(map[string]string{"src/Makefile": "all: build test", "README": "hello"}))

	// An aborted transaction leaves the branch alone and is closed.
	tr3 := tx(t, master, dkstore.TxOptions{})
	write(t, tr3, "aborted", "x")
	wantErr(t, "Abort()", tr3.Abort(ctx), nil)
	wantErr(t, "Abort() again", tr3.Abort(ctx), nil)
	_, err = tr3.Commit(ctx, "aborted")
	wantErr(t, "Commit after Abort", err, dkstore.ErrClosed)
	wantErr(t, "WriteFile after Abort", tr3.WriteFile(ctx, "y", nil, dkstore.KindFile), dkstore.ErrClosed)
	if h3 := head(t, master); h3 != id2 {
		t.Errorf("Head() after Abort = %s, want %s", h3, id2)
	}
}

// testMakeDirs is the reference's "Make dirs", plus what happens to empty
// directories at commit time.
func testMakeDirs(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	makeDirs(t, tr, "")
	makeDirs(t, tr, "foo/bar/baz")
	checkKind(t, tr, "foo/bar/baz", dkstore.KindDir)
	makeDirs(t, tr, "foo/bar/baz/new")
	checkKind(t, tr, "foo/bar/baz/new", dkstore.KindDir)
	makeDirs(t, tr, "foo/bar/baz")
	checkKind(t, tr, "foo", dkstore.KindDir)
	checkNames(t, tr, "", "foo")
	checkNames(t, tr, "foo/bar", "baz")
	checkNames(t, tr, "foo/bar/baz", "new")
	checkNames(t, tr, "foo/bar/baz/new")

	write(t, tr, "file", "data")
	wantErrOneOf(t, `MakeDirs("file")`, tr.MakeDirs(ctx, "file"), dkstore.ErrNotDir, dkstore.ErrExist)
	wantErr(t, `MakeDirs("file/sub")`, tr.MakeDirs(ctx, "file/sub"), dkstore.ErrNotDir)
	checkFile(t, tr, "file", "data")

	// Empty directories are not committed: Git cannot hold them.
	id := commit(t, tr, "mkdirs")
	root := treeOf(t, s, id)
	checkNames(t, root, "", "file")

	// A file made inside fresh directories materialises them; the empty
	// sibling stays out of the commit.
	tr2 := tx(t, master, dkstore.TxOptions{})
	makeDirs(t, tr2, "a/b/c")
	makeDirs(t, tr2, "a/empty")
	write(t, tr2, "a/b/c/f", "in c")
	checkNames(t, tr2, "a", "b", "empty")
	checkFile(t, tr2, "a/b/c/f", "in c")
	id2 := commit(t, tr2, "materialise")
	root2 := treeOf(t, s, id2)
	checkNames(t, root2, "", "a", "file")
	checkNames(t, root2, "a", "b")
	checkFiles(t, "after materialising", root2, plain(map[string]string{"file": "data", "a/b/c/f": "in c"}))
}

// testTruncate is the reference's "Truncate".
func testTruncate(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	writeFile(t, tr, "file", "Hello", dkstore.KindExec)
	for _, step := range []struct {
		name string
		size int64
		want string
	}{
		{"Truncate to 4", 4, "Hell"},
		{"Truncate to 4 again", 4, "Hell"},
		{"Extend to 6", 6, "Hell\x00\x00"},
		{"Truncate to 0", 0, ""},
		{"Extend from empty", 3, "\x00\x00\x00"},
		{"Truncate to 0 again", 0, ""},
	} {
		if err := tr.Truncate(ctx, "file", step.size); err != nil {
			t.Fatalf("%s: Truncate(file, %d) = %v", step.name, step.size, err)
		}
		checkFile(t, tr, "file", step.want)
		if st := stat(t, tr, "file"); st != (dkstore.Stat{Kind: dkstore.KindExec, Size: int64(len(step.want))}) {
			t.Errorf("%s: Stat(file) = %+v, want {Kind:X Size:%d}", step.name, st, len(step.want))
		}
	}
	writeFile(t, tr, "other", "abc", dkstore.KindFile)
	makeDirs(t, tr, "dir")
	wantErr(t, "Truncate(other, -1)", tr.Truncate(ctx, "other", -1), dkstore.ErrInvalid)
	checkFile(t, tr, "other", "abc")
	wantErr(t, "Truncate(missing, 1)", tr.Truncate(ctx, "missing", 1), dkstore.ErrNotExist)
	wantErr(t, "Truncate(dir, 1)", tr.Truncate(ctx, "dir", 1), dkstore.ErrIsDir)
	id := commit(t, tr, "truncate")
	checkFiles(t, "committed", treeOf(t, s, id), map[string]string{"file": "X:", "other": "F:abc"})
}

// testWriteAt checks writes at offsets: overwrite, append, zero padding
// past the end (the sequence of the reference's VFS unit test).
func testWriteAt(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	write(t, tr, "file", "hello")
	for _, step := range []struct {
		data string
		off  int64
		want string
	}{
		{"i", 1, "hillo"},
		{"E", 1, "hEllo"},
		{"!", 5, "hEllo!"},
		{"!", 7, "hEllo!\x00!"},
		{"", 8, "hEllo!\x00!"},
		{"HELLO", 0, "HELLO!\x00!"},
		{"tail", 6, "HELLO!tail"},
	} {
		if err := tr.WriteAt(ctx, "file", []byte(step.data), step.off); err != nil {
			t.Fatalf("WriteAt(file, %q, %d) = %v", step.data, step.off, err)
		}
		checkFile(t, tr, "file", step.want)
		if st := stat(t, tr, "file"); st.Size != int64(len(step.want)) {
			t.Errorf("after WriteAt(file, %q, %d): Stat(file).Size = %d, want %d", step.data, step.off, st.Size, len(step.want))
		}
	}
	wantErr(t, "WriteAt(file, x, -1)", tr.WriteAt(ctx, "file", []byte("x"), -1), dkstore.ErrInvalid)
	checkFile(t, tr, "file", "HELLO!tail")
	wantErr(t, "WriteAt(missing, x, 0)", tr.WriteAt(ctx, "missing", []byte("x"), 0), dkstore.ErrNotExist)
	makeDirs(t, tr, "dir")
	wantErr(t, "WriteAt(dir, x, 0)", tr.WriteAt(ctx, "dir", []byte("x"), 0), dkstore.ErrIsDir)

	// Writing at an offset keeps the kind; a fresh empty file grows.
	writeFile(t, tr, "exe", "", dkstore.KindExec)
	if err := tr.WriteAt(ctx, "exe", []byte("#!/bin/sh\n"), 0); err != nil {
		t.Fatalf("WriteAt(exe) = %v", err)
	}
	checkKind(t, tr, "exe", dkstore.KindExec)
	id := commit(t, tr, "writes")
	checkFiles(t, "committed", treeOf(t, s, id), map[string]string{"file": "F:HELLO!tail", "exe": "X:#!/bin/sh\n"})
}

// testLargeWrite is the reference's "Large write": a 1 MiB file, here
// written both whole and in chunks at increasing offsets.
func testLargeWrite(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + i/4096)
	}
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	if err := tr.WriteFile(ctx, "zeros", make([]byte, 1<<20), dkstore.KindFile); err != nil {
		t.Fatalf("WriteFile(zeros, 1 MiB) = %v", err)
	}
	write(t, tr, "test", "")
	const chunk = 64 << 10
	for off := 0; off < len(data); off += chunk {
		if err := tr.WriteAt(ctx, "test", data[off:off+chunk], int64(off)); err != nil {
			t.Fatalf("WriteAt(test, 64 KiB, %d) = %v", off, err)
		}
	}
	if st := stat(t, tr, "test"); st.Size != int64(len(data)) {
		t.Errorf("Stat(test).Size = %d, want %d", st.Size, len(data))
	}
	id := commit(t, tr, "big-write")
	if h := mustHead(t, master); h != id {
		t.Errorf("Head() = %s, want %s", h, id)
	}
	root := treeOf(t, s, id)
	for _, f := range []struct {
		name string
		want []byte
	}{{"test", data}, {"zeros", make([]byte, 1<<20)}} {
		got, err := root.ReadFile(ctx, dkstore.Path(f.name))
		if err != nil {
			t.Fatalf("ReadFile(%s) = %v", f.name, err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("ReadFile(%s) = %d bytes differing from the %d written", f.name, len(got), len(f.want))
		}
		if st := stat(t, root, f.name); st.Size != 1<<20 {
			t.Errorf("Stat(%s).Size = %d, want %d", f.name, st.Size, 1<<20)
		}
	}
	// The blob is Git's.
	want := blobHash(data)
	w, err := master.WatchPath(ctx, "test")
	if err != nil {
		t.Fatalf("WatchPath(test) = %v", err)
	}
	defer w.Close()
	if got := next(t, w, "WatchPath(test)"); got != (dkstore.Object{Kind: dkstore.KindFile, Hash: want}) {
		t.Errorf("WatchPath(test) = %v, want F-%s", got, want)
	}
	blob, err := s.Blob(ctx, want)
	if err != nil || !bytes.Equal(blob, data) {
		t.Errorf("Blob(%s) = %d bytes, %v, want the 1 MiB written", want, len(blob), err)
	}
}

// testRemove is the reference's "Remove": removing a subtree, then
// aborting; plus removal errors and removals that empty directories.
func testRemove(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	makeDirs(t, tr, "foo/bar/baz")
	write(t, tr, "foo/file1", "1")
	write(t, tr, "foo/bar/file2", "2")
	remove(t, tr, "foo/bar")
	checkNames(t, tr, "foo", "file1")
	_, err := tr.Stat(ctx, "foo/bar/baz")
	wantErr(t, "Stat(foo/bar/baz) after Remove(foo/bar)", err, dkstore.ErrNotExist)
	wantErr(t, "Abort()", tr.Abort(ctx), nil)
	if h := head(t, master); !h.IsZero() {
		t.Errorf("Head() after Abort = %s, want no commit", h)
	}

	base := commitFiles(t, master, "base", map[string]string{"a/x": "x", "a/y/z": "z", "b/only": "o", "c": "c"})
	tr2 := tx(t, master, dkstore.TxOptions{})
	wantErr(t, "Remove(missing)", tr2.Remove(ctx, "missing"), dkstore.ErrNotExist)
	wantErr(t, "Remove(a/missing)", tr2.Remove(ctx, "a/missing"), dkstore.ErrNotExist)
	wantErr(t, "Remove(missing/deeper)", tr2.Remove(ctx, "missing/deeper"), dkstore.ErrNotExist)
	remove(t, tr2, "a")
	remove(t, tr2, "b/only")
	wantErr(t, "Remove(a) twice", tr2.Remove(ctx, "a"), dkstore.ErrNotExist)
	changes, err := tr2.Diff(ctx, base)
	checkDiff(t, "Diff(base) after removals", changes, err, "- a/x", "- a/y/z", "- b/only")
	id := commit(t, tr2, "remove")
	checkNames(t, treeOf(t, s, id), "", "c")
}

// testRenameFile is the reference's 9P "Rename file" with the API's
// broader rename.
func testRenameFile(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	write(t, tr, "old", "data")
	if err := tr.Rename(ctx, "old", "new"); err != nil {
		t.Fatalf("Rename(old, new) = %v", err)
	}
	checkNames(t, tr, "", "new")
	checkFile(t, tr, "new", "data")
	makeDirs(t, tr, "dir")
	write(t, tr, "dir/precious", "data")
	wantErr(t, "Rename(new, dir)", tr.Rename(ctx, "new", "dir"), dkstore.ErrIsDir)
	checkFile(t, tr, "dir/precious", "data")
	remove(t, tr, "new")
	wantErr(t, "Rename(new, reborn) after Remove(new)", tr.Rename(ctx, "new", "reborn"), dkstore.ErrNotExist)
	id := commit(t, tr, "rename")
	checkNames(t, treeOf(t, s, id), "", "dir")

	// Renaming onto a file replaces it, keeping content and kind.
	tr2 := tx(t, master, dkstore.TxOptions{})
	writeFile(t, tr2, "a", "A", dkstore.KindExec)
	write(t, tr2, "b", "B")
	if err := tr2.Rename(ctx, "a", "b"); err != nil {
		t.Fatalf("Rename(a, b) = %v", err)
	}
	_, err := tr2.Stat(ctx, "a")
	wantErr(t, "Stat(a) after Rename(a, b)", err, dkstore.ErrNotExist)
	checkFile(t, tr2, "b", "A")
	checkKind(t, tr2, "b", dkstore.KindExec)
	// A directory moves with its contents.
	if err := tr2.Rename(ctx, "dir", "moved"); err != nil {
		t.Fatalf("Rename(dir, moved) = %v", err)
	}
	id2 := commit(t, tr2, "rename more")
	checkFiles(t, "after renames", treeOf(t, s, id2), map[string]string{"b": "X:A", "moved/precious": "F:data"})
}

// testCreateOrReplace is the reference's "Create_or_replace", plus
// replacing a file's kind.
func testCreateOrReplace(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	tr := tx(t, master, dkstore.TxOptions{})
	_, err := tr.Stat(ctx, "README")
	wantErr(t, "Stat(README) before creating it", err, dkstore.ErrNotExist)
	write(t, tr, "README", "Data")
	checkKind(t, tr, "README", dkstore.KindFile)
	write(t, tr, "README", "Data2")
	checkFile(t, tr, "README", "Data2")

	for _, step := range []struct {
		data string
		kind dkstore.Kind
	}{
		{"#!/bin/sh\n", dkstore.KindExec},
		{"target", dkstore.KindLink},
		{"plain", dkstore.KindFile},
		{"../README", dkstore.KindLink},
	} {
		writeFile(t, tr, "x", step.data, step.kind)
		if st := stat(t, tr, "x"); st != (dkstore.Stat{Kind: step.kind, Size: int64(len(step.data))}) {
			t.Errorf("after WriteFile(x, %q, %v): Stat(x) = %+v, want {Kind:%v Size:%d}", step.data, step.kind, st, step.kind, len(step.data))
		}
		checkFile(t, tr, "x", step.data)
	}
	id := commit(t, tr, "create-or-replace")
	checkFiles(t, "committed", treeOf(t, s, id), map[string]string{"README": "F:Data2", "x": "L:../README"})
}

// testErrors checks the error kinds of bad paths, bad names and misuse.
func testErrors(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	base := commitFiles(t, master, "base", map[string]string{"f": "file", "d/x": "x"})
	root := treeOf(t, s, base)
	tr := tx(t, master, dkstore.TxOptions{})

	// Paths that break the rules.
	for _, p := range []string{"/", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "a\x00b"} {
		wantErr(t, `WriteFile("`+p+`")`, tr.WriteFile(ctx, dkstore.Path(p), []byte("x"), dkstore.KindFile), dkstore.ErrInvalid)
		_, err := tr.ReadFile(ctx, dkstore.Path(p))
		wantErr(t, `tx.ReadFile("`+p+`")`, err, dkstore.ErrInvalid)
		_, err = root.Stat(ctx, dkstore.Path(p))
		wantErr(t, `tree.Stat("`+p+`")`, err, dkstore.ErrInvalid)
		_, err = master.WatchPath(ctx, dkstore.Path(p))
		wantErr(t, `WatchPath("`+p+`")`, err, dkstore.ErrInvalid)
	}

	type call struct {
		name string
		err  func() error
		want error
	}
	readers := []struct {
		name string
		r    dkstore.Reader
	}{{"tx", tr}, {"tree", root}}
	var calls []call
	for _, r := range readers {
		calls = append(calls,
			call{r.name + ".ReadFile(d)", func() error { _, err := r.r.ReadFile(ctx, "d"); return err }, dkstore.ErrIsDir},
			call{r.name + ".ReadFile(missing)", func() error { _, err := r.r.ReadFile(ctx, "missing"); return err }, dkstore.ErrNotExist},
			call{r.name + ".ReadDir(f)", func() error { _, err := r.r.ReadDir(ctx, "f"); return err }, dkstore.ErrNotDir},
			call{r.name + ".ReadDir(missing)", func() error { _, err := r.r.ReadDir(ctx, "missing"); return err }, dkstore.ErrNotExist},
			call{r.name + ".Stat(missing)", func() error { _, err := r.r.Stat(ctx, "missing"); return err }, dkstore.ErrNotExist},
			call{r.name + ".Stat(d/missing)", func() error { _, err := r.r.Stat(ctx, "d/missing"); return err }, dkstore.ErrNotExist},
		)
	}
	calls = append(calls,
		call{"WriteFile(f/x)", func() error { return tr.WriteFile(ctx, "f/x", []byte("x"), dkstore.KindFile) }, dkstore.ErrNotDir},
		call{"WriteFile(f/x/y)", func() error { return tr.WriteFile(ctx, "f/x/y", []byte("x"), dkstore.KindFile) }, dkstore.ErrNotDir},
		call{"WriteFile(d)", func() error { return tr.WriteFile(ctx, "d", []byte("x"), dkstore.KindFile) }, dkstore.ErrIsDir},
		call{"WriteFile(/)", func() error { return tr.WriteFile(ctx, dkstore.Root, []byte("x"), dkstore.KindFile) }, dkstore.ErrIsDir},
		call{"WriteFile(g, KindDir)", func() error { return tr.WriteFile(ctx, "g", []byte("x"), dkstore.KindDir) }, dkstore.ErrInvalid},
		call{"WriteFile(g, KindNone)", func() error { return tr.WriteFile(ctx, "g", []byte("x"), dkstore.KindNone) }, dkstore.ErrInvalid},
		call{"MakeDirs(f/x)", func() error { return tr.MakeDirs(ctx, "f/x") }, dkstore.ErrNotDir},
		call{"SetKind(d, KindExec)", func() error { return tr.SetKind(ctx, "d", dkstore.KindExec) }, dkstore.ErrIsDir},
		call{"SetKind(missing, KindExec)", func() error { return tr.SetKind(ctx, "missing", dkstore.KindExec) }, dkstore.ErrNotExist},
		call{"SetKind(f, KindDir)", func() error { return tr.SetKind(ctx, "f", dkstore.KindDir) }, dkstore.ErrInvalid},
		call{"Remove(f/x)", func() error { return tr.Remove(ctx, "f/x") }, nil}, // checked below: ErrNotDir or ErrNotExist
		call{"Commit(missing)", func() error { _, err := s.Commit(ctx, mustCommitID(t, missingCommit)); return err }, dkstore.ErrNotExist},
		call{"Tree(missing)", func() error { _, err := s.Tree(ctx, mustHash(t, missingCommit)); return err }, dkstore.ErrNotExist},
		call{"Blob(missing)", func() error { _, err := s.Blob(ctx, mustHash(t, missingCommit)); return err }, dkstore.ErrNotExist},
		call{"Diff(missing, base)", func() error { _, err := s.Diff(ctx, mustCommitID(t, missingCommit), base); return err }, dkstore.ErrNotExist},
		call{"Diff(base, missing)", func() error { _, err := s.Diff(ctx, base, mustCommitID(t, missingCommit)); return err }, dkstore.ErrNotExist},
		call{"tx.Diff(missing)", func() error { _, err := tr.Diff(ctx, mustCommitID(t, missingCommit)); return err }, dkstore.ErrNotExist},
		call{"Merge(missing)", func() error { _, err := tr.Merge(ctx, mustCommitID(t, missingCommit)); return err }, dkstore.ErrNotExist},
	)
	for _, c := range calls {
		if c.want == nil {
			wantErrOneOf(t, c.name, c.err(), dkstore.ErrNotDir, dkstore.ErrNotExist)
			continue
		}
		wantErr(t, c.name, c.err(), c.want)
	}
	// Nothing above changed the transaction.
	checkFiles(t, "after failed calls", tr, plain(map[string]string{"f": "file", "d/x": "x"}))

	// Hashes and branch names.
	for _, str := range []string{"hello", "", missingCommit[:39], missingCommit + "0", "g" + missingCommit[1:]} {
		_, err := dkstore.ParseCommitID(str)
		wantErr(t, `ParseCommitID("`+str+`")`, err, dkstore.ErrInvalid)
	}
	if h, err := dkstore.ParseHash(string(bytes.ToUpper([]byte(missingCommit)))); err != nil || h.String() != missingCommit {
		t.Errorf("ParseHash(upper case) = %s, %v, want %s", h, err, missingCommit)
	}
	for _, name := range []string{"", "a b", "a..b", "/a", "a/", "a//b", ".hidden", "a/.b", "x.lock", "a/x.lock/b", "foo.", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", "a@{b"} {
		_, err := s.Branch(dkstore.BranchName(name))
		wantErr(t, `Branch("`+name+`")`, err, dkstore.ErrInvalid)
	}
	for _, name := range []string{"master", "a", "feature/x", "release-1.0_rc.2", "A/B/C", "x.y"} {
		if _, err := s.Branch(dkstore.BranchName(name)); err != nil {
			t.Errorf("Branch(%q) = %v, want a branch", name, err)
		}
	}
	wantErr(t, `Rename(master, "a b")`, master.Rename(ctx, "a b"), dkstore.ErrInvalid)
	if h := mustHead(t, master); h != base {
		t.Errorf("Head() after a failed rename = %s, want %s", h, base)
	}
}
