package dkstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Creating a file is by far the dearest step of a commit on ext4: about
// 0.2 ms of kernel time to allocate an inode, against 10 µs to rename a
// file and under 1 µs to write one. So an on-disk store recycles inodes:
// the files that the store no longer needs — loose objects once they are
// packed, the old file of a ref moved by rename — go to a pool of spare
// files (GITDIR/datakit-spare) instead of being deleted, and a new object
// or ref lock is a spare, rewritten and renamed into place. A spare is
// handed out only when nobody can be reading its old content: it waits in
// the pool for a while (spareQuarantine), must have no other link (a
// `git clone --local` hard-links loose objects), and where the system has
// must have no other open file or mapping in any process (a write lease
// is refused otherwise). The quarantine covers only a reader that looked
// the name up but has not opened it yet; where leases are not supported
// (NFS), files are not recycled.
//
// One process at a time uses the pool, the one holding the flock on
// GITDIR/datakit-spare/.lock; others create files as git does. When the
// pool is empty, or the system cannot rename without replacing, files are
// created as before.

const (
	spareDirName    = "datakit-spare"
	spareQuarantine = 250 * time.Millisecond
	maxSpares       = 50000
)

type agedSpare struct {
	name  string
	since time.Time
}

// spareFiles is the pool. It is safe for concurrent use; until the
// process owns the pool (tryOwn), it holds no spares and takes none.
type spareFiles struct {
	dir   string
	owned atomic.Bool

	mu    sync.Mutex
	lock  *os.File    // flock held while the store is open
	ready []string    // names in dir, out of quarantine
	aging []agedSpare // in quarantine, oldest first
	seq   atomic.Uint64
	tag   string // makes names unique across owners

	// onMiss, if set, is called when no spare is ready (the packer packs
	// what is pending then, whose files will be spares).
	onMiss func()

	// Counters, for tests and benchmarks.
	reused, missed  atomic.Int64
	youngMiss, busy atomic.Int64
}

func newSpares(gitdir string) *spareFiles {
	return &spareFiles{dir: filepath.Join(gitdir, spareDirName), tag: strconv.FormatInt(time.Now().UnixNano(), 36)}
}

// tryOwn takes the pool if nobody has it, and reports whether this process
// owns it.
func (p *spareFiles) tryOwn() bool {
	if p == nil || !canRecycle {
		return false
	}
	if p.owned.Load() {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return false
	}
	lock, err := os.OpenFile(filepath.Join(p.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false
	}
	if ok, err := tryLock(lock); err != nil || !ok {
		lock.Close()
		return false
	}
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		lock.Close()
		return false
	}
	now := time.Now()
	for _, e := range ents {
		if e.Name() != ".lock" {
			p.aging = append(p.aging, agedSpare{e.Name(), now})
		}
	}
	p.lock = lock
	p.owned.Store(true)
	return true
}

func (p *spareFiles) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.owned.Store(false)
	if p.lock != nil {
		p.lock.Close()
		p.lock = nil
	}
	p.ready, p.aging = nil, nil
}

// newName returns a fresh path in the pool.
func (p *spareFiles) newName() string {
	return fmt.Sprintf("s%s-%d", p.tag, p.seq.Add(1))
}

// count is the number of spares, ready or not.
func (p *spareFiles) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready) + len(p.aging)
}

// age puts name (in the pool's directory) into quarantine.
func (p *spareFiles) age(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aging = append(p.aging, agedSpare{name, time.Now()})
}

// retire moves the file at path, which no name needs any more, into the
// pool; or deletes it when the pool is full.
func (p *spareFiles) retire(path string) error {
	if p == nil || !p.owned.Load() || p.count() >= maxSpares {
		return os.Remove(path)
	}
	name := p.newName()
	if err := rename(path, filepath.Join(p.dir, name)); err != nil {
		return err
	}
	p.age(name)
	return nil
}

// take pops a spare out of quarantine; "" if there is none.
func (p *spareFiles) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ready) == 0 {
		now := time.Now()
		n := 0
		for n < len(p.aging) && now.Sub(p.aging[n].since) >= spareQuarantine {
			n++
		}
		for _, a := range p.aging[:n] {
			p.ready = append(p.ready, a.name)
		}
		p.aging = append(p.aging[:0], p.aging[n:]...)
	}
	if len(p.ready) == 0 {
		return ""
	}
	name := p.ready[len(p.ready)-1]
	p.ready = p.ready[:len(p.ready)-1]
	return name
}

// fill rewrites a spare with data and mode perm and returns its path, or
// "" if no spare is ready (the caller then creates a file).
func (p *spareFiles) fill(data []byte, perm os.FileMode) string {
	if p == nil || !p.owned.Load() {
		return ""
	}
	for {
		name := p.take()
		if name == "" {
			p.missed.Add(1)
			if p.onMiss != nil {
				p.onMiss()
			}
			return ""
		}
		path := filepath.Join(p.dir, name)
		switch err := rewriteSpare(path, data, perm); {
		case err == nil:
			p.reused.Add(1)
			return path
		case errors.Is(err, errSpareBusy):
			p.age(name) // someone reads it still: later
		case errors.Is(err, errors.ErrUnsupported):
			p.owned.Store(false) // no leases here: no recycling
			p.missed.Add(1)
			return ""
		case errors.Is(err, errSpareLinked):
			os.Remove(path) // the inode is another name's: drop ours
		case errors.Is(err, fs.ErrNotExist):
		default:
			os.Remove(path)
		}
	}
}

var (
	errSpareBusy   = errors.New("spare file open elsewhere")
	errSpareLinked = errors.New("spare file has other links")
)
