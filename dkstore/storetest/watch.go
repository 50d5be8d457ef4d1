package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// The hashes of the reference's 9P "Watch" test. Its root hash after both
// files exist (acaa8ac…) is not the Git tree of that content, which Git's
// write-tree gives as eccca2d…: the store must be Git's, so that is used.
const (
	emptyTreeObject = "D-4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	makefileObject  = "F-d81e367f87ee314bcd3e449b1c6641efda5bc269" // blob "all: build"
	docObject       = "D-a3e8adf6d194bfbdec2ca73aebe0990edee2ddbf" // {README: "Instructions"}
	rootObject      = "D-eccca2d529dee833e47546cc2e095cc1c79f1917" // {doc/README, src/Makefile}
)

func watchPath(t *testing.T, b dkstore.Branch, p string) dkstore.Watch[dkstore.Object] {
	t.Helper()
	w, err := b.WatchPath(t.Context(), dkstore.Path(p))
	if err != nil {
		t.Fatalf("WatchPath(%q) = %v", p, err)
	}
	closeWatch(t, w)
	return w
}

func watchHead(t *testing.T, b dkstore.Branch) dkstore.Watch[dkstore.CommitID] {
	t.Helper()
	w, err := b.WatchHead(t.Context())
	if err != nil {
		t.Fatalf("%s.WatchHead() = %v", b.Name(), err)
	}
	closeWatch(t, w)
	return w
}

func object(t *testing.T, s string) dkstore.Object {
	t.Helper()
	o, err := dkstore.ParseObject(s)
	if err != nil {
		t.Fatalf("ParseObject(%q) = %v", s, err)
	}
	if o.String() != s {
		t.Fatalf("ParseObject(%q).String() = %q", s, o.String())
	}
	return o
}

func nextObject(t *testing.T, w dkstore.Watch[dkstore.Object], what string, want dkstore.Object) dkstore.Object {
	t.Helper()
	got := next(t, w, what)
	if got != want {
		t.Errorf("%s: Next() = %q, want %q", what, got, want)
	}
	return got
}

// createInTx commits dir/leaf = data, making dir first, as the
// reference's create_in_trans does.
func createInTx(t *testing.T, b dkstore.Branch, dir, leaf, data string) dkstore.CommitID {
	t.Helper()
	tr := tx(t, b, dkstore.TxOptions{})
	makeDirs(t, tr, dir)
	write(t, tr, dir+"/"+leaf, data)
	return commit(t, tr, "Add file")
}

// testWatch is the reference's "Watch" (client and 9P versions): path
// watches see only their own path's changes, with Git's hashes.
func testWatch(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	root := watchPath(t, master, "")
	nextObject(t, root, "root of a branch with no commit", object(t, emptyTreeObject))
	doc := watchPath(t, master, "doc")
	nextObject(t, doc, "doc before it exists", dkstore.Object{})

	createInTx(t, master, "src", "Makefile", "all: build")
	top := next(t, root, "root after adding src/Makefile")
	if top.Kind != dkstore.KindDir {
		t.Fatalf("root after adding src/Makefile: Next() = %q, want a directory", top)
	}
	topTree, err := s.Tree(ctx, top.Hash)
	if err != nil {
		t.Fatalf("Tree(%s) = %v", top.Hash, err)
	}
	checkNames(t, topTree, "", "src")

	makefile := watchPath(t, master, "src/Makefile")
	mk := nextObject(t, makefile, "src/Makefile", object(t, makefileObject))
	if want := blobHash([]byte("all: build")); mk.Hash != want {
		t.Errorf("src/Makefile hash = %s, want Git's %s", mk.Hash, want)
	}
	if h, ok := gitHashObject(t, "all: build"); ok && mk.Hash.String() != h {
		t.Errorf("src/Makefile hash = %s, but git hash-object says %s", mk.Hash, h)
	}
	if data, err := s.Blob(ctx, mk.Hash); err != nil || string(data) != "all: build" {
		t.Errorf("Blob(%s) = %q, %v, want %q", mk.Hash, data, err, "all: build")
	}

	// Modifying doc/README changes doc and the root, not src/Makefile.
	createInTx(t, master, "doc", "README", "Instructions")
	d := nextObject(t, doc, "doc after adding doc/README", object(t, docObject))
	if docTree, err := s.Tree(ctx, d.Hash); err != nil {
		t.Errorf("Tree(%s) = %v", d.Hash, err)
	} else {
		checkNames(t, docTree, "", "README")
	}
	r := nextObject(t, root, "root after adding doc/README", object(t, rootObject))
	if rootTree, err := s.Tree(ctx, r.Hash); err != nil {
		t.Errorf("Tree(%s) = %v", r.Hash, err)
	} else {
		checkNames(t, rootTree, "", "doc", "src")
	}
	quiet(t, makefile, "src/Makefile after changing doc/README")

	// Make it executable: same blob, kind X.
	tr := tx(t, master, dkstore.TxOptions{})
	if err := tr.SetKind(ctx, "src/Makefile", dkstore.KindExec); err != nil {
		t.Fatalf("SetKind(src/Makefile, KindExec) = %v", err)
	}
	commit(t, tr, "exec")
	nextObject(t, makefile, "src/Makefile made executable", dkstore.Object{Kind: dkstore.KindExec, Hash: mk.Hash})
	quiet(t, doc, "doc after changing src/Makefile")

	// Make it a symlink: kind L, the blob of the target.
	tr = tx(t, master, dkstore.TxOptions{})
	remove(t, tr, "src/Makefile")
	writeFile(t, tr, "src/Makefile", "my-target", dkstore.KindLink)
	commit(t, tr, "symlink")
	link := nextObject(t, makefile, "src/Makefile made a symlink", dkstore.Object{Kind: dkstore.KindLink, Hash: blobHash([]byte("my-target"))})
	if data, err := s.Blob(ctx, link.Hash); err != nil || string(data) != "my-target" {
		t.Errorf("Blob(%s) = %q, %v, want %q", link.Hash, data, err, "my-target")
	}

	// Remove it: the zero Object.
	tr = tx(t, master, dkstore.TxOptions{})
	remove(t, tr, "src/Makefile")
	commit(t, tr, "remove")
	nextObject(t, makefile, "src/Makefile removed", dkstore.Object{})
	quiet(t, makefile, "src/Makefile after its removal")

	// The root watch lagged over three commits: it sees only the latest.
	latest := next(t, root, "root after three commits")
	if latest.Kind != dkstore.KindDir {
		t.Fatalf("root after three commits: Next() = %q, want a directory", latest)
	}
	if latestTree, err := s.Tree(ctx, latest.Hash); err != nil {
		t.Errorf("Tree(%s) = %v", latest.Hash, err)
	} else {
		checkNames(t, latestTree, "", "doc")
	}
	quiet(t, root, "root after catching up")

	// A new watch starts from the current value.
	again := watchPath(t, master, "doc/README")
	nextObject(t, again, "doc/README", dkstore.Object{Kind: dkstore.KindFile, Hash: blobHash([]byte("Instructions"))})

	// Closing ends the watch.
	if err := makefile.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	_, err = makefile.Next(ctx)
	wantErr(t, "Next() after Close", err, dkstore.ErrClosed)
}

// testWatchHead checks head watches: first value at once, latest-value
// semantics, deletion, and the watch's end.
func testWatchHead(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	master := branch(t, s, "master")
	other := branch(t, s, "other")
	w := watchHead(t, master)
	if got := next(t, w, "head of a new branch"); !got.IsZero() {
		t.Errorf("head of a new branch: Next() = %s, want no commit", got)
	}
	ow := watchHead(t, other)
	next(t, ow, "head of other")

	c1 := commitFiles(t, master, "one", map[string]string{"f": "1"})
	if got := next(t, w, "head after a commit"); got != c1 {
		t.Errorf("head after a commit: Next() = %s, want %s", got, c1)
	}
	quiet(t, w, "head after catching up")
	quiet(t, ow, "other after a commit to master")

	commitFiles(t, master, "two", map[string]string{"f": "2"})
	commitFiles(t, master, "three", map[string]string{"f": "3"})
	c4 := commitFiles(t, master, "four", map[string]string{"f": "4"})
	if got := next(t, w, "head after three commits"); got != c4 {
		t.Errorf("head after three commits: Next() = %s, want the latest, %s", got, c4)
	}
	quiet(t, w, "head after catching up")

	w2 := watchHead(t, master)
	if got := next(t, w2, "a second watch"); got != c4 {
		t.Errorf("a second watch: Next() = %s, want %s", got, c4)
	}

	if err := master.Delete(ctx); err != nil {
		t.Fatalf("Delete() = %v", err)
	}
	if got := next(t, w, "head after Delete"); !got.IsZero() {
		t.Errorf("head after Delete: Next() = %s, want no commit", got)
	}

	// Cancelling the watch's context ends it.
	wctx, cancel := context.WithCancel(ctx)
	w3, err := master.WatchHead(wctx)
	if err != nil {
		t.Fatalf("WatchHead() = %v", err)
	}
	defer w3.Close()
	next(t, w3, "a watch to cancel")
	cancel()
	nctx, ncancel := context.WithTimeout(ctx, waitTime)
	defer ncancel()
	if got, err := w3.Next(nctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next() after cancelling the watch's context = %s, %v, want an error at once", got, err)
	}

	// A Next blocked when the watch closes returns ErrClosed.
	if got := next(t, w2, "second watch after Delete"); !got.IsZero() {
		t.Errorf("second watch after Delete: Next() = %s, want no commit", got)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := w2.Next(ctx)
		errc <- err
	}()
	time.Sleep(quietTime / 4) // let it block
	if err := w2.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	wantErr(t, "Next() blocked across Close", <-errc, dkstore.ErrClosed)
}

func nextRef(t *testing.T, w dkstore.Watch[dkstore.RefChange], what string, want dkstore.RefChange) {
	t.Helper()
	if got := next(t, w, what); got != want {
		t.Errorf("%s: Next() = %+v, want %+v", what, got, want)
	}
}

// testWatchRefs checks the stream of branch changes: creation, update,
// deletion, coalescing per branch in the order of first change.
func testWatchRefs(t *testing.T, s dkstore.Store) {
	ctx := t.Context()
	w, err := s.WatchRefs(ctx)
	if err != nil {
		t.Fatalf("WatchRefs() = %v", err)
	}
	closeWatch(t, w)
	a := branch(t, s, "a")
	c1 := commitFiles(t, a, "one", map[string]string{"f": "1"})
	nextRef(t, w, "create", dkstore.RefChange{Branch: "a", New: c1})
	c2 := commitFiles(t, a, "two", map[string]string{"f": "2"})
	nextRef(t, w, "update", dkstore.RefChange{Branch: "a", Old: c1, New: c2})
	if err := a.Delete(ctx); err != nil {
		t.Fatalf("Delete(a) = %v", err)
	}
	nextRef(t, w, "delete", dkstore.RefChange{Branch: "a", Old: c2})
	quiet(t, w, "refs after the deletion")

	// Three commits to one branch while the reader lags: one change.
	b := branch(t, s, "feature/b")
	commitFiles(t, b, "b1", map[string]string{"f": "1"})
	commitFiles(t, b, "b2", map[string]string{"f": "2"})
	b3 := commitFiles(t, b, "b3", map[string]string{"f": "3"})
	nextRef(t, w, "three commits coalesced", dkstore.RefChange{Branch: "feature/b", New: b3})
	quiet(t, w, "refs after the coalesced change")

	// Several branches: their latest states, in the order they first changed.
	x, y := branch(t, s, "x"), branch(t, s, "y")
	commitFiles(t, x, "x1", map[string]string{"f": "1"})
	y1 := commitFiles(t, y, "y1", map[string]string{"f": "1"})
	x2 := commitFiles(t, x, "x2", map[string]string{"f": "2"})
	nextRef(t, w, "x changed first", dkstore.RefChange{Branch: "x", New: x2})
	nextRef(t, w, "y changed second", dkstore.RefChange{Branch: "y", New: y1})
	quiet(t, w, "refs after x and y")

	// Fast-forwards and renames are changes too.
	z := branch(t, s, "z")
	if err := z.FastForward(ctx, y1); err != nil {
		t.Fatalf("FastForward(z, y1) = %v", err)
	}
	nextRef(t, w, "fast-forward", dkstore.RefChange{Branch: "z", New: y1})
	if err := z.Rename(ctx, "z2"); err != nil {
		t.Fatalf("Rename(z, z2) = %v", err)
	}
	got := []dkstore.RefChange{next(t, w, "rename"), next(t, w, "rename")}
	want := []dkstore.RefChange{{Branch: "z", Old: y1}, {Branch: "z2", New: y1}}
	slices.SortFunc(got, func(a, b dkstore.RefChange) int { return strings.Compare(string(a.Branch), string(b.Branch)) })
	if !slices.Equal(got, want) {
		t.Errorf("rename: Next(), Next() = %+v, want %+v in either order", got, want)
	}
	quiet(t, w, "refs after the rename")

	if err := w.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	_, err = w.Next(ctx)
	wantErr(t, "Next() after Close", err, dkstore.ErrClosed)
}
