package dkstore

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// The store writes each new object as a loose file, which git and other
// programs can read the moment it is renamed into place. In the background
// the owner of the spare pool packs them: the loose objects written since
// the last pack go into one new pack (with its index, fsynced), and only
// then do the loose files leave (to the spare pool, to be recycled). Packs
// are merged geometrically, as `git repack --geometric=2` does: whenever a
// pack is smaller than twice all the smaller ones together, those are
// merged into one, so a repository written by n objects has O(log n)
// packs and each object is copied O(log n) times. Only packs without
// deltas (ours, and git's that have none) are merged: their entries are
// copied as they are. Packs with deltas, kept (.keep) or covered by a
// multi-pack-index are left to git.

// Variables for the tests.
var (
	packBatch    = 1024            // loose objects that start a pack at once
	packInterval = 2 * time.Second // how often anything pending is packed
)

// Pack entries are compressed from minCompress bytes; trees, mostly
// hashes, which compress little, from maxStoredTree.
const (
	minCompress   = 512
	maxStoredTree = 64 << 10
)

// packer packs the loose objects of a store in the background.
type packer struct {
	objs *objects
	dir  string // the objects directory
	log  *slog.Logger

	mu      sync.Mutex
	pending []pendingObj
	noMerge map[string]bool // pack names found to hold deltas

	// threshold is the number of pending objects that starts a pack: it
	// grows with the number of packed objects (a new pack makes go-git
	// read every pack index again, see objects.refreshPacks).
	threshold  atomic.Int64
	kick       chan struct{}
	stop, done chan struct{}
	runMu      sync.Mutex // one run at a time (background or flush)
}

func newPacker(objs *objects, log *slog.Logger) *packer {
	p := &packer{objs: objs, dir: objs.loose, log: log, noMerge: map[string]bool{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	p.threshold.Store(int64(packBatch))
	return p
}

// setThreshold sets the threshold for n packed objects: n/16, within
// packBatch and 16 packBatch.
func (p *packer) setThreshold(n int) {
	p.threshold.Store(int64(min(max(n/16, packBatch), 16*packBatch)))
}

// pendingObj is a loose object to pack: its content is kept if it is
// small (else, or if found by a scan, it is read back from its file).
type pendingObj struct {
	hash Hash
	typ  plumbing.ObjectType
	data []byte
}

const maxPendingData = 64 << 10

// add notes a loose object written by the store.
func (p *packer) add(h Hash, typ plumbing.ObjectType, data []byte) {
	if p == nil || !p.objs.spares.owned.Load() {
		return // the owner's scan finds it
	}
	o := pendingObj{hash: h}
	if len(data) <= maxPendingData {
		o.typ, o.data = typ, bytes.Clone(data)
		if o.data == nil {
			o.data = []byte{}
		}
	}
	p.mu.Lock()
	p.pending = append(p.pending, o)
	n := len(p.pending)
	p.mu.Unlock()
	if n >= int(p.threshold.Load()) {
		p.wake()
	}
}

// wake makes the packer run now, if it is not running.
func (p *packer) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// start runs the packer until close. It works while this process owns
// the spare pool, which it tries to take at every tick. It queues the
// loose objects already there (left by an earlier process, or written by
// git or by a store in another process) when it takes the pool and then
// every 30 s. A tick packs only if enough is pending (see due).
func (p *packer) start() {
	const rescan = 30 * time.Second
	go func() {
		defer close(p.done)
		t := time.NewTicker(packInterval)
		defer t.Stop()
		var scanned time.Time
		idle := 0 // ticks since the last run
		for owned := false; ; {
			if p.objs.spares.tryOwn() && (idle == 0 || p.due(idle)) {
				idle = 0
				if !owned {
					left, _ := filepath.Glob(filepath.Join(p.dir, "pack", packTempPrefix+"*"))
					for _, f := range left {
						os.Remove(f)
					}
				}
				owned = true
				if time.Since(scanned) >= rescan {
					p.scanLoose()
					scanned = time.Now()
				}
				if err := p.run(); err != nil && !errors.Is(err, errStopping) {
					p.log.Warn("dkstore: packing loose objects", "err", err)
				}
			}
			select {
			case <-p.stop:
				return
			case <-p.kick:
				idle = 0
			case <-t.C:
				idle++
			}
		}
	}()
}

// due tells whether a tick, idle ticks after the last run, should pack
// what is pending: a sixteenth of the threshold, or anything after 15
// ticks.
func (p *packer) due(idle int) bool {
	p.mu.Lock()
	n := len(p.pending)
	p.mu.Unlock()
	return n > 0 && (int64(n) >= p.threshold.Load()/16 || idle >= 15) || idle%15 == 0
}

// errStopping: the store is closing; the pack is left for another time.
var errStopping = errors.New("dkstore: closing")

func (p *packer) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *packer) close() {
	if p != nil {
		close(p.stop)
		<-p.done
	}
}

// scanLoose queues every loose object in the objects directory.
func (p *packer) scanLoose() {
	var found []pendingObj
	for i := range 256 {
		sub := fmt.Sprintf("%02x", i)
		ents, err := os.ReadDir(filepath.Join(p.dir, sub))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if h, err := ParseHash(sub + e.Name()); err == nil {
				found = append(found, pendingObj{hash: h})
			}
		}
		select {
		case <-p.stop:
			return
		default:
		}
	}
	p.mu.Lock()
	p.pending = append(found, p.pending...)
	p.mu.Unlock()
}

// run packs what is pending, then merges packs if their sizes ask for it.
func (p *packer) run() error {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	p.mu.Lock()
	batch := p.pending
	p.pending = nil
	p.mu.Unlock()
	if len(batch) > 0 {
		if err := p.packLoose(batch); err != nil {
			p.mu.Lock()
			p.pending = append(batch, p.pending...)
			p.mu.Unlock()
			return err
		}
	}
	err := p.merge()
	p.setThreshold(p.objs.packs.count())
	return err
}

// packLoose writes the loose objects os into a new pack, then retires
// their files, once the store's go-git knows the pack.
func (p *packer) packLoose(os_ []pendingObj) error {
	slices.SortFunc(os_, func(a, b pendingObj) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	os_ = slices.CompactFunc(os_, func(a, b pendingObj) bool { return a.hash == b.hash })
	// First the content of each object still loose, then the pack.
	var objs []pendingObj
	for i, o := range os_ {
		if i%256 == 255 && p.stopping() {
			return errStopping
		}
		if o.data == nil {
			data, err := os.ReadFile(p.objs.loosePath(o.hash))
			if errors.Is(err, fs.ErrNotExist) {
				continue // packed meanwhile (git gc)
			}
			if err != nil {
				return err
			}
			typ, body, err := inflateLoose(data)
			if err != nil {
				p.log.Warn("dkstore: unreadable loose object left as it is", "object", o.hash, "err", err)
				continue
			}
			if objectHash(typ.String(), body) != o.hash {
				p.log.Warn("dkstore: loose object with another hash left as it is", "object", o.hash)
				continue
			}
			o.typ, o.data = typ, body
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil
	}
	w, err := newPackWriter(filepath.Join(p.dir, "pack"), len(objs))
	if err != nil {
		return err
	}
	defer w.discard()
	for _, o := range objs {
		if err := w.add(o.hash, o.typ, o.data); err != nil {
			return err
		}
	}
	if _, err := w.finish(); err != nil {
		return err
	}
	p.objs.packs.invalidate()
	p.objs.packs.current() // read here rather than by a commit
	p.objs.refreshPacks()
	for _, o := range objs {
		path := p.objs.loosePath(o.hash)
		if p.objs.spares == nil || p.objs.spares.retire(path) != nil {
			os.Remove(path)
		}
	}
	return nil
}

// inflateLoose decodes a loose object file.
func inflateLoose(data []byte) (plumbing.ObjectType, []byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return 0, nil, err
	}
	nul := bytes.IndexByte(raw, 0)
	if nul < 0 {
		return 0, nil, errors.New("no header")
	}
	typName, size, ok := strings.Cut(string(raw[:nul]), " ")
	n, err := strconv.Atoi(size)
	if !ok || err != nil || n != len(raw)-nul-1 {
		return 0, nil, fmt.Errorf("bad header %q", raw[:nul])
	}
	typ, err := plumbing.ParseObjectType(typName)
	if err != nil || typ < plumbing.CommitObject || typ > plumbing.TagObject {
		return 0, nil, fmt.Errorf("bad type %q", typName)
	}
	return typ, raw[nul+1:], nil
}

// packInfo describes a pack for merging.
type packInfo struct {
	name    string // pack-<hex>, without extension
	objects int
}

// merge merges the smallest mergeable packs when one is smaller than
// twice all the smaller ones together.
func (p *packer) merge() error {
	dir := filepath.Join(p.dir, "pack")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	if names["multi-pack-index"] {
		return nil
	}
	var packs []packInfo
	for n := range names {
		base, ok := strings.CutSuffix(n, ".idx")
		if !ok || !strings.HasPrefix(base, "pack-") || !names[base+".pack"] {
			continue
		}
		if names[base+".keep"] || names[base+".promisor"] || names[base+".bitmap"] || names[base+".mtimes"] {
			continue
		}
		p.mu.Lock()
		bad := p.noMerge[base]
		p.mu.Unlock()
		if bad {
			continue
		}
		count, err := idxCount(filepath.Join(dir, base+".idx"))
		if err != nil {
			continue
		}
		packs = append(packs, packInfo{base, count})
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].objects < packs[j].objects })
	// Merge packs[:k+1] for the last k whose pack is under twice the sum
	// of the smaller ones.
	k, sum := -1, 0
	for i, pk := range packs {
		if i > 0 && pk.objects < 2*sum {
			k = i
		}
		sum += pk.objects
	}
	if k < 1 {
		return nil
	}
	return p.mergePacks(dir, packs[:k+1])
}

// idxCount reads the number of objects of a version 2 pack index.
func idxCount(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var hdr [8 + 256*4]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, err
	}
	if !bytes.Equal(hdr[:8], idxHeader) {
		return 0, errors.New("not a version 2 pack index")
	}
	return int(binary.BigEndian.Uint32(hdr[8+255*4:])), nil
}

// mergePacks copies the entries of packs into a new pack, then removes
// them. A pack with deltas is left out, and remembered.
func (p *packer) mergePacks(dir string, packs []packInfo) error {
	// First the indexes: which entries, how many.
	type source struct {
		name string
		ents []idxEntry
	}
	var srcs []source
	seen := map[Hash]bool{}
	count := 0
	for _, pk := range packs {
		base := filepath.Join(dir, pk.name)
		idx, err := os.ReadFile(base + ".idx")
		if err != nil {
			return err
		}
		st, err := os.Stat(base + ".pack")
		if err != nil {
			return err
		}
		ents, err := parseIdx(idx, st.Size())
		if err != nil {
			return fmt.Errorf("%s.idx: %w", base, err)
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].off < ents[j].off })
		for i := range ents {
			ents[i].end = st.Size() - 20
			if i+1 < len(ents) {
				ents[i].end = ents[i+1].off
			}
			if ents[i].off < 12 || ents[i].off >= ents[i].end {
				return fmt.Errorf("%s.idx: bad offset %d", base, ents[i].off)
			}
			if !seen[ents[i].hash] {
				seen[ents[i].hash] = true
				count++
			} else {
				ents[i].end = -1 // a duplicate: skipped
			}
		}
		srcs = append(srcs, source{pk.name, ents})
	}
	w, err := newPackWriter(dir, count)
	if err != nil {
		return err
	}
	defer w.discard()
	var merged []string
	for _, src := range srcs {
		if p.stopping() {
			return errStopping
		}
		err := w.copyPack(filepath.Join(dir, src.name), src.ents)
		if errors.Is(err, errDelta) {
			// Remembered, and the merge is made again without it.
			p.mu.Lock()
			p.noMerge[src.name] = true
			p.mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		merged = append(merged, src.name)
	}
	name, err := w.finish()
	if err != nil {
		return err
	}
	// .pack first: git lists packs by .idx and skips one without its
	// .pack; go-git lists them by .pack. Another go-git that still lists a
	// removed pack finds its file missing, and lists the packs again
	// (objects.encoded).
	// The store's readers wait while the packs go: go-git lists the packs,
	// then reads their indexes, then opens them, and a pack removed in
	// between makes it miss objects, even after listing the packs again if
	// the packer removes packs again meanwhile.
	p.objs.mu.Lock()
	for _, m := range merged {
		if m == name {
			continue
		}
		for _, ext := range []string{".pack", ".idx", ".rev"} {
			os.Remove(filepath.Join(dir, m+ext))
		}
	}
	p.objs.reindexLocked()
	p.objs.mu.Unlock()
	p.objs.refreshPacks() // the indexes read here rather than by a reader
	p.objs.packs.invalidate()
	p.objs.packs.current()
	return nil
}

var idxHeader = []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}

// packWriter writes a pack of a known number of objects and its version
// 2 index to temporary files in the pack directory.
type packWriter struct {
	dir   string
	f     *os.File
	buf   *bufio.Writer
	sum   hash.Hash
	off   int64
	count int
	ents  []packEntry
	zbuf  bytes.Buffer
	final bool
}

type packEntry struct {
	hash Hash
	crc  uint32
	off  int64
}

// packTempPrefix names the packer's temporary files, which a packer killed
// half-way leaves: the next owner of the pool removes them.
const packTempPrefix = "tmp_pack_datakit_"

// errDelta: a pack to merge holds deltas.
var errDelta = errors.New("pack with deltas")

func newPackWriter(dir string, count int) (*packWriter, error) {
	f, err := os.CreateTemp(dir, packTempPrefix+"*")
	if err != nil {
		return nil, err
	}
	w := &packWriter{dir: dir, f: f, sum: sha1.New(), count: count}
	w.buf = bufio.NewWriterSize(io.MultiWriter(f, w.sum), 64<<10)
	hdr := []byte{'P', 'A', 'C', 'K', 0, 0, 0, 2, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[8:], uint32(count))
	w.write(hdr)
	return w, nil
}

func (w *packWriter) write(b []byte) {
	w.buf.Write(b)
	w.off += int64(len(b))
}

// add appends a whole object.
func (w *packWriter) add(h Hash, typ plumbing.ObjectType, body []byte) error {
	w.zbuf.Reset()
	appendEntryHeader(&w.zbuf, typ, len(body))
	if len(body) < minCompress || typ == plumbing.TreeObject && len(body) < maxStoredTree {
		// Small objects are stored: compressing them costs more time
		// than the bytes it saves are worth.
		w.zbuf.Write(storedZlib(body))
	} else {
		zpool := &blobZlib
		if typ == plumbing.TreeObject {
			zpool = &treeZlib
		}
		zw := zpool.Get().(*zlib.Writer)
		zw.Reset(&w.zbuf)
		zw.Write(body)
		err := zw.Close()
		zpool.Put(zw)
		if err != nil {
			return err
		}
	}
	w.ents = append(w.ents, packEntry{hash: h, crc: crc32.ChecksumIEEE(w.zbuf.Bytes()), off: w.off})
	w.write(w.zbuf.Bytes())
	return nil
}

func appendEntryHeader(b *bytes.Buffer, typ plumbing.ObjectType, size int) {
	c := byte(typ)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		b.WriteByte(c | 0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	b.WriteByte(c)
}

// copyPack appends the entries ents (sorted by offset, those with end -1
// skipped) of the pack base.pack as they are. It returns errDelta if one
// is a delta.
func (w *packWriter) copyPack(base string, ents []idxEntry) error {
	f, err := os.Open(base + ".pack")
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	pos := int64(0)
	for _, e := range ents {
		if e.end < 0 {
			continue
		}
		if _, err := r.Discard(int(e.off - pos)); err != nil {
			return err
		}
		t, err := r.Peek(1)
		if err != nil {
			return err
		}
		if typ := (t[0] >> 4) & 7; typ < 1 || typ > 4 {
			return errDelta // a delta, or not an object
		}
		w.ents = append(w.ents, packEntry{hash: e.hash, crc: e.crc, off: w.off})
		n, err := io.CopyN(w.buf, r, e.end-e.off)
		w.off += n
		if err != nil {
			return err
		}
		pos = e.end
	}
	return nil
}

type idxEntry struct {
	hash     Hash
	crc      uint32
	off, end int64
}

// parseIdx decodes a version 2 pack index.
func parseIdx(idx []byte, packSize int64) ([]idxEntry, error) {
	if len(idx) < 8+256*4+40 || !bytes.Equal(idx[:8], idxHeader) {
		return nil, errors.New("not a version 2 pack index")
	}
	n := int(binary.BigEndian.Uint32(idx[8+255*4:]))
	hashes := 8 + 256*4
	crcs := hashes + 20*n
	offs := crcs + 4*n
	big := offs + 4*n
	if n < 0 || big+40 > len(idx) {
		return nil, errors.New("truncated pack index")
	}
	out := make([]idxEntry, n)
	for i := range out {
		copy(out[i].hash[:], idx[hashes+20*i:])
		out[i].crc = binary.BigEndian.Uint32(idx[crcs+4*i:])
		o := binary.BigEndian.Uint32(idx[offs+4*i:])
		if o&0x80000000 == 0 {
			out[i].off = int64(o)
		} else {
			j := big + 8*int(o&0x7fffffff)
			if j+8 > len(idx)-40 {
				return nil, errors.New("bad large offset")
			}
			out[i].off = int64(binary.BigEndian.Uint64(idx[j:]))
		}
		if out[i].off >= packSize {
			return nil, errors.New("offset past the pack's end")
		}
	}
	return out, nil
}

// finish completes the pack and writes its index, fsyncs both and renames
// them into place (index first: go-git lists packs by .pack and needs the
// index; git lists them by .idx and skips an index without its pack). It
// returns the pack's name (pack-<hex>).
func (w *packWriter) finish() (string, error) {
	if len(w.ents) != w.count {
		return "", fmt.Errorf("dkstore: pack of %d objects announced as %d", len(w.ents), w.count)
	}
	if err := w.buf.Flush(); err != nil {
		return "", err
	}
	packSum := w.sum.Sum(nil)
	if _, err := w.f.Write(packSum); err != nil {
		return "", err
	}
	if err := w.f.Chmod(0o444); err != nil {
		return "", err
	}
	name := "pack-" + fmt.Sprintf("%x", packSum)
	idx := encodeIdx(w.ents, packSum)
	tmpIdx := w.f.Name() + ".idx"
	if err := writeSynced(tmpIdx, idx); err != nil {
		return "", err
	}
	if err := w.f.Sync(); err != nil {
		os.Remove(tmpIdx)
		return "", err
	}
	base := filepath.Join(w.dir, name)
	if _, err := os.Stat(base + ".pack"); err == nil {
		os.Remove(tmpIdx) // the same pack exists already
		return name, nil
	}
	if err := os.Rename(tmpIdx, base+".idx"); err != nil {
		os.Remove(tmpIdx)
		return "", err
	}
	if err := os.Rename(w.f.Name(), base+".pack"); err != nil {
		os.Remove(base + ".idx")
		return "", err
	}
	w.final = true
	syncDir(w.dir)
	return name, nil
}

// discard removes the temporary pack unless finish renamed it.
func (w *packWriter) discard() {
	w.f.Close()
	if !w.final {
		os.Remove(w.f.Name())
	}
}

func encodeIdx(ents []packEntry, packSum []byte) []byte {
	slices.SortFunc(ents, func(a, b packEntry) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	var b bytes.Buffer
	b.Write(idxHeader)
	var fan [256]uint32
	for _, e := range ents {
		fan[e.hash[0]]++
	}
	var n uint32
	for i := range fan {
		n += fan[i]
		binary.Write(&b, binary.BigEndian, n)
	}
	for _, e := range ents {
		b.Write(e.hash[:])
	}
	for _, e := range ents {
		binary.Write(&b, binary.BigEndian, e.crc)
	}
	var large []int64
	for _, e := range ents {
		if e.off < 0x80000000 {
			binary.Write(&b, binary.BigEndian, uint32(e.off))
		} else {
			binary.Write(&b, binary.BigEndian, uint32(0x80000000|len(large)))
			large = append(large, e.off)
		}
	}
	for _, o := range large {
		binary.Write(&b, binary.BigEndian, uint64(o))
	}
	b.Write(packSum)
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// writeSynced creates path with data, fsynced.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// packSet lists the objects in the packs of a repository, for
// objects.has. It loads each pack's index once, and looks at the pack
// directory again when its modification time changes (or the packer says
// it changed). A stale list errs harmlessly: a pack added a moment ago is
// missed (the object is written again, loose), a pack just removed was
// merged into another (the store removes no object).
type packSet struct {
	dir string

	mu      sync.Mutex
	sig     string
	checked time.Time              // when the directory was last looked at
	packs   map[string]*packHashes // replaced, never changed
}

// packSetRecheck is how often a lookup looks at the pack directory.
const packSetRecheck = 50 * time.Millisecond

// packHashes are the sorted object ids of one pack.
type packHashes struct {
	fan    [256]uint32
	hashes []byte // 20 bytes each
}

func newPackSet(dir string) *packSet {
	return &packSet{dir: dir, packs: map[string]*packHashes{}}
}

// invalidate makes the next lookup read the directory again.
func (ps *packSet) invalidate() {
	if ps == nil {
		return
	}
	ps.mu.Lock()
	ps.sig = ""
	ps.mu.Unlock()
}

// count is the number of packed objects (duplicates counted again).
func (ps *packSet) count() int {
	n := 0
	for _, p := range ps.current() {
		n += int(p.fan[255])
	}
	return n
}

func (ps *packSet) has(h Hash) bool {
	for _, p := range ps.current() {
		if p.has(h) {
			return true
		}
	}
	return false
}

// current returns the packs, read again if the directory changed. The
// indexes are read without the lock held.
func (ps *packSet) current() map[string]*packHashes {
	ps.mu.Lock()
	now := time.Now()
	if ps.sig != "" && now.Sub(ps.checked) < packSetRecheck {
		defer ps.mu.Unlock()
		return ps.packs
	}
	ps.checked = now
	old, oldSig := ps.packs, ps.sig
	ps.mu.Unlock()
	packs, sig := ps.load(old, oldSig)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if sig != oldSig || len(packs) != len(old) {
		ps.packs, ps.sig = packs, sig
	}
	return packs
}

// load lists the packs (reusing those of old), unless the directory has
// signature oldSig still.
func (ps *packSet) load(old map[string]*packHashes, oldSig string) (map[string]*packHashes, string) {
	st, err := os.Stat(ps.dir)
	if err != nil {
		return map[string]*packHashes{}, ""
	}
	sig := fmt.Sprintf("%d.%d", st.ModTime().UnixNano(), st.Size())
	if sig == oldSig {
		return old, sig
	}
	ents, err := os.ReadDir(ps.dir)
	if err != nil {
		return old, ""
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	packs := map[string]*packHashes{}
	for n := range names {
		base, ok := strings.CutSuffix(n, ".idx")
		if !ok || !names[base+".pack"] {
			continue
		}
		if p := old[base]; p != nil {
			packs[base] = p
		} else if p, err := loadPackHashes(filepath.Join(ps.dir, n)); err == nil {
			packs[base] = p
		} else {
			sig = "" // not complete yet: look again next time
		}
	}
	return packs, sig
}

func loadPackHashes(path string) (*packHashes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return readPackHashes(f, st.Size())
}

// readPackHashes reads the object ids of a version 2 pack index of size
// bytes.
func readPackHashes(f io.Reader, size int64) (*packHashes, error) {
	var hdr [8 + 256*4]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, err
	}
	if !bytes.Equal(hdr[:8], idxHeader) {
		return nil, errors.New("not a version 2 pack index")
	}
	p := &packHashes{}
	prev := uint32(0)
	for i := range p.fan {
		p.fan[i] = binary.BigEndian.Uint32(hdr[8+4*i:])
		if p.fan[i] < prev {
			return nil, errors.New("corrupt fan-out table")
		}
		prev = p.fan[i]
	}
	n := int64(p.fan[255])
	if size < int64(len(hdr))+28*n+40 {
		return nil, errors.New("truncated pack index")
	}
	p.hashes = make([]byte, 20*n)
	if _, err := io.ReadFull(f, p.hashes); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *packHashes) has(h Hash) bool {
	lo := 0
	if h[0] > 0 {
		lo = int(p.fan[h[0]-1])
	}
	hi := int(p.fan[h[0]])
	i := lo + sort.Search(hi-lo, func(i int) bool {
		return bytes.Compare(p.hashes[20*(lo+i):20*(lo+i)+20], h[:]) >= 0
	})
	return i < hi && bytes.Equal(p.hashes[20*i:20*i+20], h[:])
}
