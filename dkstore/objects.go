package dkstore

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// Git tree entry modes.
const (
	modeDir     = 0o40000
	modeFile    = 0o100644
	modeExec    = 0o100755
	modeLink    = 0o120000
	modeGitlink = 0o160000
)

func kindOfMode(m uint32) Kind {
	switch {
	case m == modeDir:
		return KindDir
	case m == modeLink:
		return KindLink
	case m == modeGitlink:
		return KindNone // submodule commits are kept but not shown
	case m&0o111 != 0:
		return KindExec
	default:
		return KindFile
	}
}

func modeOfKind(k Kind) uint32 {
	switch k {
	case KindDir:
		return modeDir
	case KindExec:
		return modeExec
	case KindLink:
		return modeLink
	default:
		return modeFile
	}
}

// treeEntry is one entry of a decoded tree object.
type treeEntry struct {
	name string
	mode uint32
	hash Hash
}

func (e treeEntry) kind() Kind { return kindOfMode(e.mode) }

// treeObj is a decoded, immutable tree: entries in Git order.
type treeObj struct {
	entries []treeEntry
}

func (t *treeObj) find(name string) (treeEntry, bool) {
	es := t.entries
	// An entry sorts as its name, or name+"/" for a directory: look for both.
	for _, dir := range [2]bool{false, true} {
		i := sort.Search(len(es), func(i int) bool {
			return keyCmp(es[i].name, es[i].mode == modeDir, name, dir) >= 0
		})
		if i < len(es) && es[i].name == name {
			return es[i], true
		}
	}
	return treeEntry{}, false
}

// keyCmp compares two entry names in Git tree order, where a directory's
// name sorts as if it ended with "/".
func keyCmp(a string, adir bool, b string, bdir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	at := func(s string, dir bool) int {
		switch {
		case n < len(s):
			return int(s[n])
		case dir:
			return '/'
		}
		return -1
	}
	return cmp.Compare(at(a, adir), at(b, bdir))
}

// gitLess orders tree entries as Git does.
func gitLess(a, b treeEntry) bool {
	return keyCmp(a.name, a.mode == modeDir, b.name, b.mode == modeDir) < 0
}

func sortEntries(es []treeEntry) {
	sort.Slice(es, func(i, j int) bool { return gitLess(es[i], es[j]) })
}

func encodeTree(es []treeEntry) []byte {
	n := 0
	for _, e := range es {
		n += 7 + len(e.name) + 1 + 20
	}
	buf := make([]byte, 0, n)
	for _, e := range es {
		switch e.mode {
		case modeFile:
			buf = append(buf, "100644 "...)
		case modeDir:
			buf = append(buf, "40000 "...)
		case modeExec:
			buf = append(buf, "100755 "...)
		default:
			buf = strconv.AppendUint(buf, uint64(e.mode), 8)
			buf = append(buf, ' ')
		}
		buf = append(buf, e.name...)
		buf = append(buf, 0)
		buf = append(buf, e.hash[:]...)
	}
	return buf
}

func decodeTree(data []byte) (*treeObj, error) {
	t := &treeObj{}
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return nil, errors.New("corrupt tree: no mode")
		}
		mode, err := strconv.ParseUint(string(data[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("corrupt tree: mode %q", data[:sp])
		}
		data = data[sp+1:]
		nul := bytes.IndexByte(data, 0)
		if nul < 0 || len(data) < nul+21 {
			return nil, errors.New("corrupt tree: truncated entry")
		}
		e := treeEntry{name: string(data[:nul]), mode: uint32(mode)}
		copy(e.hash[:], data[nul+1:nul+21])
		t.entries = append(t.entries, e)
		data = data[nul+21:]
	}
	return t, nil
}

// objectHash computes the Git id of an object of type typ with content data.
func objectHash(typ string, data []byte) Hash {
	h := sha1.New()
	h.Write([]byte(typ))
	h.Write([]byte{' '})
	h.Write(strconv.AppendInt(nil, int64(len(data)), 10))
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// objects wraps a go-git object storer, which is not safe for concurrent
// use, with a lock and caches of decoded trees and commits.
type objects struct {
	mu     sync.Mutex
	st     storage.Storer
	loose  string      // on disk: the objects directory we write loose objects to
	spares *spareFiles // on disk, if we own the pool: files to recycle
	packer *packer     // on disk, if we own the pool: packs loose objects
	packs  *packSet    // on disk: the objects in packs
	// reopen, on disk, returns a new storer on the same repository (and
	// the same object cache): see refreshPacks.
	reopen      func() storage.Storer
	trees       map[Hash]*treeObj
	treeEntries int // entries in all cached trees
	commits     map[CommitID]*Commit
	// objects written since the last cache trim; we keep the caches
	// bounded by clearing them when they grow too big.
}

// The caches are bounded: commits by count, trees by their total number
// of entries (about 60 bytes each); when full they are simply emptied.
const (
	maxCached      = 50000
	maxTreeEntries = 2 << 20
)

func newObjects(st storage.Storer) *objects {
	return &objects{st: st, trees: map[Hash]*treeObj{}, commits: map[CommitID]*Commit{}}
}

var errNoObject = plumbing.ErrObjectNotFound

// reindexer is implemented by go-git's filesystem storer, which loads the
// list of packs once: packs that other programs add later (git push, git
// gc) are found after a Reindex.
type reindexer interface{ Reindex() }

// A pack that another program removed (git gc, or the store's packer in
// another process) while we had it listed is also found missing: a file
// that does not exist.
// Another program may remove packs again while go-git lists them, which
// leaves go-git's list incomplete: it is made again, a few times.
func (o *objects) encoded(typ plumbing.ObjectType, h Hash) (plumbing.EncodedObject, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, err := o.st.EncodedObject(typ, plumbing.Hash(h))
	for try := 0; try < 3 && isMissing(err); try++ {
		o.reindexLocked()
		obj, err = o.st.EncodedObject(typ, plumbing.Hash(h))
	}
	return obj, err
}

// refreshPacks makes the store read the packs as they are now. An on-disk
// store lists them and loads their indexes with a storer of its own, in
// the caller's goroutine (the packer's), then swaps it in: readers never
// see the list stale nor wait for it. The packer calls it after adding a
// pack and before removing the loose objects or packs it replaces.
func (o *objects) refreshPacks() {
	if o.reopen == nil {
		o.mu.Lock()
		o.reindexLocked()
		o.mu.Unlock()
		return
	}
	st := o.reopen()
	st.HasEncodedObject(plumbing.ZeroHash) // loads every pack index
	o.mu.Lock()
	o.st = st
	o.mu.Unlock()
}

// isMissing tells a missing object, or a missing pack, from other errors.
func isMissing(err error) bool {
	return errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, dotgit.ErrPackfileNotFound)
}

// reindexLocked makes go-git list the packs again; o.mu is held.
func (o *objects) reindexLocked() {
	if r, ok := o.st.(reindexer); ok {
		r.Reindex()
	}
}

func (o *objects) readRaw(typ plumbing.ObjectType, h Hash) ([]byte, error) {
	for try := 0; ; try++ {
		obj, err := o.encoded(typ, h)
		if err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return nil, errNoObject
			}
			return nil, err
		}
		data, err := readAllObject(obj)
		// A large object is read from its pack only now: the pack may be
		// gone (merged by the packer, or by git gc).
		if err != nil && isMissing(err) && try < 3 {
			o.mu.Lock()
			o.reindexLocked()
			o.mu.Unlock()
			continue
		}
		return data, err
	}
}

func readAllObject(obj plumbing.EncodedObject) ([]byte, error) {
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (o *objects) has(h Hash) bool {
	if o.loose != "" {
		if _, err := os.Lstat(o.loosePath(h)); err == nil {
			return true
		}
		if o.packs != nil {
			// Our own list of packed objects: go-git's lookup opens the
			// loose path again and lists the packs again after a change.
			// A no for an object packed a moment ago costs a duplicate.
			return o.packs.has(h)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st.HasEncodedObject(plumbing.Hash(h)) == nil
}

func (o *objects) loosePath(h Hash) string {
	hex := h.String()
	return filepath.Join(o.loose, hex[:2], hex[2:])
}

// Pack entries are compressed for speed: trees (mostly hashes) with
// Huffman coding only, blobs at level 1. Git reads any level.
var (
	blobZlib = sync.Pool{New: func() any { w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed); return w }}
	treeZlib = sync.Pool{New: func() any { w, _ := zlib.NewWriterLevel(nil, zlib.HuffmanOnly); return w }}
)

// writeLoose writes a loose object as git does: into a file beside its
// final name (a recycled spare, or a new temporary file), then renamed, so
// a reader (or a writer killed half-way) never sees part of an object.
// The zlib stream is not compressed (stored blocks): compressing is most
// of a commit's processor time, and a loose object lives only until the
// packer packs it, compressed, a few seconds later.
func (o *objects) writeLoose(h Hash, typ plumbing.ObjectType, data []byte) error {
	path := o.loosePath(h)
	file := looseForm(typ, data)
	if spare := o.spares.fill(file, 0o444); spare != "" {
		err := rename(spare, path)
		if errors.Is(err, fs.ErrNotExist) {
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
				err = rename(spare, path)
			}
		}
		if err == nil {
			return nil
		}
		os.Remove(spare)
		if !errors.Is(err, syscall.EXDEV) {
			return err
		}
		// objects/ is on another file system than the pool: create.
	}
	return writeAtomic(path, file, 0o444)
}

// looseForm returns the loose form of an object, "TYPE SIZE\0DATA", as a
// zlib stream of stored (uncompressed) deflate blocks.
func looseForm(typ plumbing.ObjectType, data []byte) []byte {
	hdr := strconv.AppendInt(append([]byte(typ.String()), ' '), int64(len(data)), 10)
	return storedZlib(append(hdr, 0), data)
}

// storedZlib returns the concatenation of parts as a zlib stream of
// stored deflate blocks: no compression, at the cost of a copy.
func storedZlib(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	const maxBlock = 65535
	out := make([]byte, 0, 2+n+5*(n/maxBlock+1)+4)
	out = append(out, 0x78, 0x01) // deflate, 32K window, no dictionary
	sum := adler32.New()
	for rest := n; ; {
		k := min(rest, maxBlock)
		rest -= k
		final := byte(0)
		if rest == 0 {
			final = 1
		}
		out = append(out, final, byte(k), byte(k>>8), ^byte(k), ^byte(k>>8))
		for k > 0 {
			for len(parts[0]) == 0 {
				parts = parts[1:]
			}
			c := min(k, len(parts[0]))
			out = append(out, parts[0][:c]...)
			sum.Write(parts[0][:c])
			parts[0], k = parts[0][c:], k-c
		}
		if rest == 0 {
			break
		}
	}
	return binary.BigEndian.AppendUint32(out, sum.Sum32())
}

// writeAtomic writes data to a new file at path through a temporary file
// renamed into place, creating path's directory if needed.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "tmp_obj_")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.CreateTemp(dir, "tmp_obj_")
		}
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (o *objects) write(typ plumbing.ObjectType, data []byte) (Hash, error) {
	h := objectHash(typ.String(), data)
	if o.loose != "" {
		if o.has(h) {
			return h, nil
		}
		if err := o.writeLoose(h, typ, data); err != nil {
			return h, err
		}
		o.packer.add(h, typ, data)
		return h, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.st.HasEncodedObject(plumbing.Hash(h)) == nil {
		return h, nil
	}
	if _, err := o.st.SetEncodedObject(&rawObject{hash: h, typ: typ, data: data}); err != nil {
		return h, err
	}
	return h, nil
}

// rawObject is an object whose hash we computed already (go-git's
// MemoryObject would compute it again, with the slower collision-detecting
// SHA-1). Its data must not change.
type rawObject struct {
	hash Hash
	typ  plumbing.ObjectType
	data []byte
}

func (r *rawObject) Hash() plumbing.Hash           { return plumbing.Hash(r.hash) }
func (r *rawObject) Type() plumbing.ObjectType     { return r.typ }
func (r *rawObject) SetType(t plumbing.ObjectType) { r.typ = t }
func (r *rawObject) Size() int64                   { return int64(len(r.data)) }
func (r *rawObject) SetSize(int64)                 {}
func (r *rawObject) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(r.data)), nil
}
func (r *rawObject) Writer() (io.WriteCloser, error) {
	return nil, errors.New("dkstore: stored objects are immutable")
}

func (o *objects) tree(h Hash) (*treeObj, error) {
	if h == EmptyTree {
		return &treeObj{}, nil
	}
	o.mu.Lock()
	t, ok := o.trees[h]
	o.mu.Unlock()
	if ok {
		return t, nil
	}
	data, err := o.readRaw(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	t, err = decodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	o.mu.Lock()
	o.cacheTree(h, t)
	o.mu.Unlock()
	return t, nil
}

// cacheTree remembers a decoded tree; o.mu is held.
func (o *objects) cacheTree(h Hash, t *treeObj) {
	if _, ok := o.trees[h]; ok {
		return
	}
	if o.treeEntries+len(t.entries) > maxTreeEntries {
		clear(o.trees)
		o.treeEntries = 0
	}
	o.trees[h] = t
	o.treeEntries += len(t.entries)
}

func (o *objects) writeTree(es []treeEntry) (Hash, error) {
	if len(es) == 0 {
		// The empty tree need not be stored for us, but git fsck wants
		// every tree a commit names to exist.
		return o.write(plumbing.TreeObject, nil)
	}
	data := encodeTree(es)
	h, err := o.write(plumbing.TreeObject, data)
	if err != nil {
		return h, err
	}
	o.mu.Lock()
	o.cacheTree(h, &treeObj{entries: es})
	o.mu.Unlock()
	return h, nil
}

func (o *objects) blob(h Hash) ([]byte, error) {
	return o.readRaw(plumbing.BlobObject, h)
}

func (o *objects) blobSize(h Hash) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.st.EncodedObjectSize(plumbing.Hash(h))
	for try := 0; try < 3 && isMissing(err); try++ {
		o.reindexLocked()
		n, err = o.st.EncodedObjectSize(plumbing.Hash(h))
	}
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return 0, errNoObject
	}
	return n, err
}

func (o *objects) commit(id CommitID) (*Commit, error) {
	o.mu.Lock()
	c, ok := o.commits[id]
	o.mu.Unlock()
	if ok {
		return c, nil
	}
	enc, err := o.encoded(plumbing.CommitObject, Hash(id))
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, errNoObject
		}
		return nil, err
	}
	c, err = decodeCommit(id, enc)
	if err != nil {
		return nil, err
	}
	o.cacheCommit(c)
	return c, nil
}

func decodeCommit(id CommitID, enc plumbing.EncodedObject) (*Commit, error) {
	var gc object.Commit
	if err := gc.Decode(enc); err != nil {
		return nil, fmt.Errorf("commit %s: %w", Hash(id), err)
	}
	c := &Commit{
		ID:        id,
		Tree:      Hash(gc.TreeHash),
		Message:   gc.Message,
		Author:    Signature{Name: gc.Author.Name, Email: gc.Author.Email, When: gc.Author.When},
		Committer: Signature{Name: gc.Committer.Name, Email: gc.Committer.Email, When: gc.Committer.When},
	}
	for _, p := range gc.ParentHashes {
		c.Parents = append(c.Parents, CommitID(p))
	}
	return c, nil
}

func (o *objects) cacheCommit(c *Commit) {
	o.mu.Lock()
	if len(o.commits) >= maxCached {
		clear(o.commits)
	}
	o.commits[c.ID] = c
	o.mu.Unlock()
}

// encodeCommit renders a commit object exactly as `git commit-tree` does.
func encodeCommit(tree Hash, parents []CommitID, author, committer Signature, msg string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "tree %s\n", tree)
	for _, p := range parents {
		fmt.Fprintf(&b, "parent %s\n", Hash(p))
	}
	sig := func(s Signature) string {
		return fmt.Sprintf("%s <%s> %d %s", s.Name, s.Email, s.When.Unix(), s.When.Format("-0700"))
	}
	fmt.Fprintf(&b, "author %s\ncommitter %s\n\n", sig(author), sig(committer))
	b.WriteString(msg)
	return b.Bytes()
}

// writeCommit writes a commit, and caches it as a read would decode it
// (the next transaction on the branch starts from it).
func (o *objects) writeCommit(tree Hash, parents []CommitID, author, committer Signature, msg string) (CommitID, error) {
	data := encodeCommit(tree, parents, author, committer, msg)
	h, err := o.write(plumbing.CommitObject, data)
	if err != nil {
		return CommitID(h), err
	}
	o.cacheCommit(&Commit{ID: CommitID(h), Tree: tree, Parents: slices.Clone(parents), Message: msg,
		Author: asDecoded(author), Committer: asDecoded(committer)})
	return CommitID(h), nil
}

// asDecoded returns s as decoding its encoding gives it back: the time to
// the second, in a zone with no name (go-git's decoding, which
// TestWrittenCommitAsRead checks).
func asDecoded(s Signature) Signature {
	_, off := s.When.Zone()
	s.When = time.Unix(s.When.Unix(), 0).In(time.FixedZone("", off))
	return s
}

// lookup finds the entry at p below the tree root. ok is false if absent.
// It returns ErrNotDir-kind errors as absent, like the reference's lookups.
func (o *objects) lookup(root Hash, p Path) (treeEntry, bool, error) {
	cur := treeEntry{mode: modeDir, hash: root}
	if p == Root {
		return cur, true, nil
	}
	for _, step := range p.Steps() {
		if cur.mode != modeDir {
			return treeEntry{}, false, nil
		}
		t, err := o.tree(cur.hash)
		if err != nil {
			return treeEntry{}, false, err
		}
		e, ok := t.find(step)
		if !ok || e.kind() == KindNone {
			return treeEntry{}, false, nil
		}
		cur = e
	}
	return cur, true, nil
}
