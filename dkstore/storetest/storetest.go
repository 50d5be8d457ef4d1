// Package storetest is a conformance suite for implementations of
// dkstore.Store: the in-memory and on-disk Git stores, and the 9P client.
// It translates the original DataKit's client test list
// (tests/common/test_client.ml and the matching 9P server cases) to the Go
// API, with the reference's exact values: Git hashes, commit messages,
// author, merge conflict reasons and marker contents.
//
// Run uses only the dkstore interfaces, so any implementation can run it:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) dkstore.Store {
//			s := dkstore.NewMemory(dkstore.Options{})
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The remote tests make Git repositories with the git command and are
// skipped when it is not installed.
package storetest

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// Run runs the suite as subtests of t. open must return a new, empty store
// each time it is called, and close it when the test t ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) dkstore.Store) {
	t.Helper()
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

// suite lists the tests, named after the reference's where it has them.
var suite = []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) dkstore.Store)
}{
	{"Transaction", one(testTransaction)},
	{"Watch", one(testWatch)},
	{"WatchHead", one(testWatchHead)},
	{"Make dirs", one(testMakeDirs)},
	{"Truncate", one(testTruncate)},
	{"WriteAt", one(testWriteAt)},
	{"Parents", one(testParents)},
	{"Merge", one(testMerge)},
	{"Diff", one(testDiff)},
	{"Merge_metadata", one(testMergeMetadata)},
	{"Merge empty", one(testMergeEmpty)},
	{"Conflicts", one(testConflicts)},
	{"Commit into moved branch", one(testMovedBranch)},
	{"TxOptions", testTxOptions},
	{"Large write", one(testLargeWrite)},
	{"Remove", one(testRemove)},
	{"Rename file", one(testRenameFile)},
	{"Create_or_replace", one(testCreateOrReplace)},
	{"Errors", one(testErrors)},
	{"Branches", one(testBranches)},
	{"Fast-forward", one(testFastForward)},
	{"Rename branch", one(testRenameBranch)},
	{"WatchRefs", one(testWatchRefs)},
	{"Snapshots", one(testSnapshots)},
	{"Concurrency", testConcurrency},
	{"Remotes", testRemotes},
}

// one adapts a test that needs a single store.
func one(f func(t *testing.T, s dkstore.Store)) func(*testing.T, func(*testing.T) dkstore.Store) {
	return func(t *testing.T, open func(*testing.T) dkstore.Store) { f(t, open(t)) }
}

// missingCommit is the unknown commit id the reference's tests use.
const missingCommit = "a3827c5d1a2ba8c6a40eded5598dba8d3835fb35"

// waitTime bounds every wait for a watch; quietTime is how long a watch
// must stay silent to count as unchanged.
const (
	waitTime  = 10 * time.Second
	quietTime = 200 * time.Millisecond
)

// Errors.

var errKinds = []struct {
	name string
	err  error
}{
	{"ErrNotExist", dkstore.ErrNotExist},
	{"ErrExist", dkstore.ErrExist},
	{"ErrInvalid", dkstore.ErrInvalid},
	{"ErrPermission", dkstore.ErrPermission},
	{"ErrNotDir", dkstore.ErrNotDir},
	{"ErrIsDir", dkstore.ErrIsDir},
	{"ErrConflict", dkstore.ErrConflict},
	{"ErrNotFastForward", dkstore.ErrNotFastForward},
	{"ErrClosed", dkstore.ErrClosed},
}

func kindName(err error) string {
	if err == nil {
		return "nil"
	}
	for _, k := range errKinds {
		if k.err == err {
			return k.name
		}
	}
	return err.Error()
}

// wantErr checks that err is of kind want (nil: no error) and of no other
// kind, reporting a failure as "call = err, want kind".
func wantErr(t *testing.T, call string, err, want error) bool {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s = %v, want nil", call, err)
			return false
		}
		return true
	}
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want %s", call, errOrNil(err), kindName(want))
		return false
	}
	for _, k := range errKinds {
		if k.err != want && errors.Is(err, k.err) {
			t.Errorf("%s = %v, which is %s as well as %s", call, err, k.name, kindName(want))
			return false
		}
	}
	return true
}

// wantErrOneOf is wantErr for calls where the reference allows two kinds.
func wantErrOneOf(t *testing.T, call string, err error, want ...error) {
	t.Helper()
	for _, w := range want {
		if err != nil && errors.Is(err, w) {
			wantErr(t, call, err, w)
			return
		}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = kindName(w)
	}
	t.Errorf("%s = %v, want %s", call, errOrNil(err), strings.Join(names, " or "))
}

func errOrNil(err error) any {
	if err == nil {
		return "nil"
	}
	return err
}

// Stores, branches and commits.

func branch(t *testing.T, s dkstore.Store, name string) dkstore.Branch {
	t.Helper()
	b, err := s.Branch(dkstore.BranchName(name))
	if err != nil {
		t.Fatalf("Branch(%q) = %v", name, err)
	}
	if got := b.Name(); got != dkstore.BranchName(name) {
		t.Fatalf("Branch(%q).Name() = %q, want %q", name, got, name)
	}
	return b
}

func head(t *testing.T, b dkstore.Branch) dkstore.CommitID {
	t.Helper()
	id, err := b.Head(t.Context())
	if err != nil {
		t.Fatalf("%s.Head() = %v", b.Name(), err)
	}
	return id
}

// mustHead is head for a branch that must exist.
func mustHead(t *testing.T, b dkstore.Branch) dkstore.CommitID {
	t.Helper()
	id := head(t, b)
	if id.IsZero() {
		t.Fatalf("%s.Head() = no commit, want a commit", b.Name())
	}
	return id
}

func commitOf(t *testing.T, s dkstore.Store, id dkstore.CommitID) dkstore.Commit {
	t.Helper()
	c, err := s.Commit(t.Context(), id)
	if err != nil {
		t.Fatalf("Commit(%s) = %v", id, err)
	}
	if c.ID != id {
		t.Fatalf("Commit(%s).ID = %s, want %s", id, c.ID, id)
	}
	return c
}

func treeOf(t *testing.T, s dkstore.Store, id dkstore.CommitID) dkstore.Tree {
	t.Helper()
	c := commitOf(t, s, id)
	tr, err := s.Tree(t.Context(), c.Tree)
	if err != nil {
		t.Fatalf("Tree(%s) = %v", c.Tree, err)
	}
	if tr.Hash() != c.Tree {
		t.Fatalf("Tree(%s).Hash() = %s", c.Tree, tr.Hash())
	}
	return tr
}

// headTree returns the tree of b's head, which must exist.
func headTree(t *testing.T, s dkstore.Store, b dkstore.Branch) dkstore.Tree {
	t.Helper()
	return treeOf(t, s, mustHead(t, b))
}

func tx(t *testing.T, b dkstore.Branch, opts dkstore.TxOptions) dkstore.Transaction {
	t.Helper()
	tr, err := b.Transaction(t.Context(), opts)
	if err != nil {
		t.Fatalf("%s.Transaction(%+v) = %v", b.Name(), opts, err)
	}
	t.Cleanup(func() { tr.Abort(context.Background()) })
	return tr
}

func writeFile(t *testing.T, tr dkstore.Transaction, p, data string, kind dkstore.Kind) {
	t.Helper()
	if err := tr.WriteFile(t.Context(), dkstore.Path(p), []byte(data), kind); err != nil {
		t.Fatalf("WriteFile(%q, %q, %v) = %v", p, data, kind, err)
	}
}

func write(t *testing.T, tr dkstore.Transaction, p, data string) {
	t.Helper()
	writeFile(t, tr, p, data, dkstore.KindFile)
}

func remove(t *testing.T, tr dkstore.Transaction, p string) {
	t.Helper()
	if err := tr.Remove(t.Context(), dkstore.Path(p)); err != nil {
		t.Fatalf("Remove(%q) = %v", p, err)
	}
}

func makeDirs(t *testing.T, tr dkstore.Transaction, p string) {
	t.Helper()
	if err := tr.MakeDirs(t.Context(), dkstore.Path(p)); err != nil {
		t.Fatalf("MakeDirs(%q) = %v", p, err)
	}
}

func commit(t *testing.T, tr dkstore.Transaction, msg string) dkstore.CommitID {
	t.Helper()
	id, err := tr.Commit(t.Context(), msg)
	if err != nil {
		t.Fatalf("Commit(%q) = %v", msg, err)
	}
	return id
}

// commitFiles commits files (path to content) to b in one transaction and
// checks that the returned id is the new head.
func commitFiles(t *testing.T, b dkstore.Branch, msg string, files map[string]string) dkstore.CommitID {
	t.Helper()
	tr := tx(t, b, dkstore.TxOptions{})
	for _, p := range sortedKeys(files) {
		write(t, tr, p, files[p])
	}
	id := commit(t, tr, msg)
	if h := head(t, b); h != id {
		t.Fatalf("Commit(%q) = %s, but %s.Head() = %s", msg, id, b.Name(), h)
	}
	return id
}

// populate replaces the files of b with files, like the reference's
// populate: remove every root entry, check the tree is empty, write.
func populate(t *testing.T, b dkstore.Branch, files [][2]string) dkstore.CommitID {
	t.Helper()
	tr := tx(t, b, dkstore.TxOptions{})
	for _, name := range names(t, tr, "") {
		remove(t, tr, name)
	}
	if got := names(t, tr, ""); len(got) != 0 {
		t.Fatalf("ReadDir(/) after removing everything = %q, want []", got)
	}
	for _, f := range files {
		write(t, tr, f[0], f[1])
	}
	return commit(t, tr, "init")
}

// Reading.

func readFile(t *testing.T, r dkstore.Reader, p string) string {
	t.Helper()
	data, err := r.ReadFile(t.Context(), dkstore.Path(p))
	if err != nil {
		t.Fatalf("ReadFile(%q) = %v", p, err)
	}
	return string(data)
}

func checkFile(t *testing.T, r dkstore.Reader, p, want string) {
	t.Helper()
	data, err := r.ReadFile(t.Context(), dkstore.Path(p))
	if err != nil {
		t.Errorf("ReadFile(%q) = %v, want %q", p, err, want)
		return
	}
	if string(data) != want {
		t.Errorf("ReadFile(%q) = %q, want %q", p, data, want)
	}
}

func stat(t *testing.T, r dkstore.Reader, p string) dkstore.Stat {
	t.Helper()
	st, err := r.Stat(t.Context(), dkstore.Path(p))
	if err != nil {
		t.Fatalf("Stat(%q) = %v", p, err)
	}
	return st
}

func checkKind(t *testing.T, r dkstore.Reader, p string, want dkstore.Kind) {
	t.Helper()
	st, err := r.Stat(t.Context(), dkstore.Path(p))
	if err != nil {
		t.Errorf("Stat(%q) = %v, want kind %v", p, err, want)
		return
	}
	if st.Kind != want {
		t.Errorf("Stat(%q).Kind = %v, want %v", p, st.Kind, want)
	}
}

// names lists the directory p.
func names(t *testing.T, r dkstore.Reader, p string) []string {
	t.Helper()
	es, err := r.ReadDir(t.Context(), dkstore.Path(p))
	if err != nil {
		t.Fatalf("ReadDir(%q) = %v", p, err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	if !sort.StringsAreSorted(out) {
		t.Errorf("ReadDir(%q) = %q, not sorted by name", p, out)
	}
	return out
}

func checkNames(t *testing.T, r dkstore.Reader, p string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := names(t, r, p); !slices.Equal(got, want) {
		t.Errorf("ReadDir(%q) = %q, want %q", p, got, want)
	}
}

// files returns every file below the root of r as path to "K:content",
// where K is the kind letter.
func files(t *testing.T, r dkstore.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir dkstore.Path)
	walk = func(dir dkstore.Path) {
		es, err := r.ReadDir(t.Context(), dir)
		if err != nil {
			t.Fatalf("ReadDir(%q) = %v", dir, err)
		}
		for _, e := range es {
			p := dir.Join(e.Name)
			if e.Kind == dkstore.KindDir {
				walk(p)
				continue
			}
			out[string(p)] = e.Kind.String() + ":" + readFile(t, r, string(p))
		}
	}
	walk(dkstore.Root)
	return out
}

// plain turns path to content into the form files returns, for normal files.
func plain(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = "F:" + v
	}
	return out
}

func checkFiles(t *testing.T, what string, r dkstore.Reader, want map[string]string) {
	t.Helper()
	got := files(t, r)
	for _, p := range sortedKeys(want) {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s missing, want %q", what, p, want[p])
		} else if g != want[p] {
			t.Errorf("%s: ReadFile(%q) = %q, want %q", what, p, g, want[p])
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected file %s = %q", what, p, got[p])
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Diffs.

func diffStrings(cs []dkstore.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	sort.Strings(out)
	return out
}

// checkDiff compares changes with want ("+ path" etc.) as sets.
func checkDiff(t *testing.T, call string, cs []dkstore.Change, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s = %v, want %q", call, err, want)
		return
	}
	if want == nil {
		want = []string{}
	}
	want = slices.Clone(want)
	sort.Strings(want)
	if got := diffStrings(cs); !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", call, got, want)
	}
}

// Hashes.

// blobHash is the Git hash of a blob holding data.
func blobHash(data []byte) dkstore.Hash {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	var out dkstore.Hash
	copy(out[:], h.Sum(nil))
	return out
}

func mustHash(t *testing.T, s string) dkstore.Hash {
	t.Helper()
	h, err := dkstore.ParseHash(s)
	if err != nil {
		t.Fatalf("ParseHash(%q) = %v", s, err)
	}
	return h
}

func mustCommitID(t *testing.T, s string) dkstore.CommitID {
	t.Helper()
	return dkstore.CommitID(mustHash(t, s))
}

// Watches.

// next returns the watch's next value, failing the test if none comes.
func next[T any](t *testing.T, w dkstore.Watch[T], what string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTime)
	defer cancel()
	v, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("%s: Next() = %v, want a value", what, err)
	}
	return v
}

// quiet checks that the watch reports no change for a while.
func quiet[T any](t *testing.T, w dkstore.Watch[T], what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), quietTime)
	defer cancel()
	v, err := w.Next(ctx)
	switch {
	case err == nil:
		t.Errorf("%s: Next() = %v, want no change", what, v)
	case !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s: Next() = %v, want to block until the deadline", what, err)
	}
}

func closeWatch[T any](t *testing.T, w dkstore.Watch[T]) {
	t.Cleanup(func() { w.Close() })
}
