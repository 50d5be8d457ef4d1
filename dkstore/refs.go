package dkstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errMoved: a compare-and-swap found another value than expected.
var errMoved = errors.New("ref moved")

// refStore holds branch heads. cas is the only way to change one.
// Implementations are safe for concurrent use.
type refStore interface {
	get(b BranchName) (CommitID, error)
	list() (map[BranchName]CommitID, error)
	// cas sets b to new if it is old now (zero means absent; a zero new
	// deletes the ref). It returns errMoved if b is not old.
	cas(b BranchName, old, new CommitID) error
}

type memRefs struct {
	mu   sync.Mutex
	refs map[BranchName]CommitID
	dirs map[string]int // "a/b" -> how many refs are below a/b/
}

func newMemRefs() *memRefs {
	return &memRefs{refs: map[BranchName]CommitID{}, dirs: map[string]int{}}
}

// addDirs counts b in the directories above it (delta +1 or -1).
func (m *memRefs) addDirs(b BranchName, delta int) {
	s := string(b)
	for i := strings.IndexByte(s, '/'); i >= 0; {
		m.dirs[s[:i]] += delta
		if m.dirs[s[:i]] == 0 {
			delete(m.dirs, s[:i])
		}
		j := strings.IndexByte(s[i+1:], '/')
		if j < 0 {
			break
		}
		i += 1 + j
	}
}

func (m *memRefs) get(b BranchName) (CommitID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refs[b], nil
}

func (m *memRefs) list() (map[BranchName]CommitID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[BranchName]CommitID, len(m.refs))
	for k, v := range m.refs {
		out[k] = v
	}
	return out, nil
}

func (m *memRefs) cas(b BranchName, old, new CommitID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refs[b] != old {
		return errMoved
	}
	_, had := m.refs[b]
	switch {
	case new.IsZero():
		if had {
			delete(m.refs, b)
			m.addDirs(b, -1)
		}
	case had:
		m.refs[b] = new
	default:
		// O(depth), not O(refs): the CI keeps a branch per target.
		if err := ancestorClash(m.refs, b); err != nil {
			return err
		}
		if m.dirs[string(b)] > 0 {
			return newErr(ErrExist, "", "branch %q clashes with existing branches under %q", string(b), string(b)+"/")
		}
		m.refs[b] = new
		m.addDirs(b, +1)
	}
	return nil
}

// ancestorClash refuses a branch a/b beside a branch a.
func ancestorClash(refs map[BranchName]CommitID, b BranchName) error {
	s := string(b)
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			if _, ok := refs[BranchName(s[:i])]; ok {
				return newErr(ErrExist, "", "branch %q clashes with existing branch %q", s, s[:i])
			}
		}
	}
	return nil
}

// refNameClash refuses a branch a/b beside a branch a, as Git does.
func refNameClash(refs map[BranchName]CommitID, b BranchName) error {
	if _, ok := refs[b]; ok {
		return nil
	}
	s := string(b)
	for other := range refs {
		o := string(other)
		if strings.HasPrefix(s, o+"/") || strings.HasPrefix(o, s+"/") {
			return newErr(ErrExist, "", "branch %q clashes with existing branch %q", s, o)
		}
	}
	return nil
}

// fileRefs keeps refs in a Git directory the way git does: loose ref files
// under refs/heads, moved atomically by writing a lock file and renaming it
// over the ref, with packed-refs as a fallback for reading.
type fileRefs struct {
	gitdir string      // updates of one ref are serialised by its lock file
	spares *spareFiles // recycles the ref files, or nil
}

func (f *fileRefs) refPath(b BranchName) string {
	return filepath.Join(f.gitdir, "refs", "heads", filepath.FromSlash(string(b)))
}

func parseRefLine(data []byte) (CommitID, bool) {
	s := strings.TrimSpace(string(data))
	if strings.HasPrefix(s, "ref:") {
		return CommitID{}, false // a symbolic ref is not a branch head
	}
	id, err := ParseCommitID(s)
	if err != nil {
		return CommitID{}, false
	}
	return id, true
}

func (f *fileRefs) packed() (map[BranchName]CommitID, error) {
	data, err := readFile(filepath.Join(f.gitdir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[BranchName]CommitID{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		hash, name, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "refs/heads/") {
			continue
		}
		id, err := ParseCommitID(hash)
		if err != nil {
			continue
		}
		out[BranchName(strings.TrimPrefix(name, "refs/heads/"))] = id
	}
	return out, sc.Err()
}

func (f *fileRefs) get(b BranchName) (CommitID, error) {
	data, err := readFile(f.refPath(b))
	switch {
	case err == nil:
		id, _ := parseRefLine(data)
		return id, nil
	case errors.Is(err, fs.ErrNotExist), isNotDir(err), errors.Is(err, syscall.EISDIR):
		// absent, or the directory of longer names (b/x): not a ref
	default:
		return CommitID{}, err
	}
	p, err := f.packed()
	if err != nil {
		return CommitID{}, err
	}
	return p[b], nil
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}

func (f *fileRefs) list() (map[BranchName]CommitID, error) {
	out, err := f.packed()
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = map[BranchName]CommitID{}
	}
	root := filepath.Join(f.gitdir, "refs", "heads")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(path, ".lock") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		name := BranchName(filepath.ToSlash(rel))
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if id, ok := parseRefLine(data); ok && name.Valid() == nil {
			out[name] = id
		}
		return nil
	})
	return out, err
}

// staleLock is the age after which a lock file is taken to be left over by
// a killed writer (an update holds it for microseconds), and lockTimeout,
// longer, bounds how long we wait for another process's lock.
const (
	staleLock   = 2 * time.Second
	lockTimeout = 4 * time.Second
)

// refLock is a held lock file path+".lock", as git takes it.
type refLock struct {
	fh   *os.File    // the lock's content is written here; nil if written already
	path string      // the ref file
	lock string      // path + ".lock"
	sp   *spareFiles // the pool that recycles the ref's files, or nil
}

// lockRef takes path+".lock" exclusively, as git does, waiting a little
// for another process's lock and breaking a stale one. With a pool of
// spare files, the lock is a spare already holding content, renamed to
// the lock's name only if that name is free (as exclusive as git's
// O_EXCL create, and without creating a file); else it is created.
func lockRef(path string, sp *spareFiles, content string) (*refLock, error) {
	l := &refLock{path: path, lock: path + ".lock", sp: sp}
	spare := sp.fill([]byte(content), 0o644)
	deadline := time.Now().Add(lockTimeout)
	for mkdirs := 0; ; {
		var err error
		if spare != "" {
			err = renameNoReplace(spare, l.lock)
			if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EXDEV) {
				os.Remove(spare)
				spare = ""
				continue
			}
			if err == nil {
				return l, nil
			}
		} else {
			l.fh, err = os.OpenFile(l.lock, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err == nil {
				return l, nil
			}
		}
		switch {
		case errors.Is(err, fs.ErrNotExist) && spare != "" && mkdirs >= 2:
			spare = "" // the spare itself is gone: create the lock
			continue
		case errors.Is(err, fs.ErrNotExist) && mkdirs < 2:
			mkdirs++
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				if spare != "" {
					os.Remove(spare)
				}
				return nil, err
			}
			continue
		case !errors.Is(err, fs.ErrExist):
			if spare != "" {
				os.Remove(spare)
			}
			return nil, err
		}
		if st, serr := os.Stat(l.lock); serr == nil && time.Since(st.ModTime()) > staleLock {
			os.Remove(l.lock) // left by a killed writer
			continue
		}
		if time.Now().After(deadline) {
			if spare != "" {
				os.Remove(spare)
			}
			return nil, fmt.Errorf("unable to lock %s: %w", l.lock, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// abort releases the lock without changing the ref.
func (l *refLock) abort() {
	if l.fh != nil {
		l.fh.Close()
	}
	if l.sp == nil || l.sp.retire(l.lock) != nil {
		os.Remove(l.lock)
	}
}

// commit writes content to the lock (unless it holds it already) and
// renames it over the ref. With a pool, the ref's old file joins it: a
// second link to it is made first (if the process dies before the rename,
// the pool finds the file linked twice, and drops it).
func (l *refLock) commit(content string) error {
	var err error
	if l.fh != nil {
		_, err = l.fh.WriteString(content)
		if cerr := l.fh.Close(); err == nil {
			err = cerr
		}
	}
	var old string
	if err == nil && l.sp != nil && l.sp.owned.Load() {
		name := l.sp.newName()
		if os.Link(l.path, filepath.Join(l.sp.dir, name)) == nil {
			old = name
		}
	}
	if err == nil {
		err = rename(l.lock, l.path)
	}
	if err != nil {
		os.Remove(l.lock)
		if old != "" {
			os.Remove(filepath.Join(l.sp.dir, old))
		}
		return err
	}
	if old != "" {
		l.sp.age(old)
	}
	return nil
}

func (f *fileRefs) cas(b BranchName, old, new CommitID) error {
	path := f.refPath(b)
	if !new.IsZero() {
		if err := f.clash(b); err != nil {
			return err
		}
	}
	content := ""
	if !new.IsZero() {
		content = Hash(new).String() + "\n"
	}
	l, err := lockRef(path, f.spares, content)
	if err != nil {
		return err
	}
	cur, err := f.get(b)
	if err != nil {
		l.abort()
		return err
	}
	if cur != old {
		l.abort()
		return errMoved
	}
	if new.IsZero() {
		err := f.remove(b, path)
		l.abort()
		return err
	}
	return l.commit(content)
}

// clash refuses a/b beside a loose or packed a (and the other way round).
// It looks only at the paths that could clash, not at every ref.
func (f *fileRefs) clash(b BranchName) error {
	path := f.refPath(b)
	if st, err := os.Stat(path); err == nil {
		if !st.IsDir() {
			return nil // the ref exists: an update
		}
		if os.Remove(path) != nil { // only an empty directory goes
			return newErr(ErrExist, "", "branch %q clashes with existing branches below it", string(b))
		}
	}
	steps := strings.Split(string(b), "/")
	for i := 1; i < len(steps); i++ {
		prefix := strings.Join(steps[:i], "/")
		if st, err := os.Stat(f.refPath(BranchName(prefix))); err == nil && !st.IsDir() {
			return newErr(ErrExist, "", "branch %q clashes with existing branch %q", string(b), prefix)
		}
	}
	packed, err := f.packed()
	if err != nil || len(packed) == 0 {
		return err
	}
	return refNameClash(packed, b)
}

// remove deletes the loose ref and its packed entry; the ref's lock is held.
func (f *fileRefs) remove(b BranchName, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Drop empty parent directories, as git does.
	heads := filepath.Join(f.gitdir, "refs", "heads")
	for dir := filepath.Dir(path); dir != heads && strings.HasPrefix(dir, heads); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	packed, err := f.packed()
	if err != nil {
		return err
	}
	if _, ok := packed[b]; !ok {
		return nil
	}
	return f.rewritePacked(b.Ref())
}

// rewritePacked rewrites packed-refs without the ref name, through
// packed-refs.lock renamed over it.
func (f *fileRefs) rewritePacked(name string) error {
	path := filepath.Join(f.gitdir, "packed-refs")
	l, err := lockRef(path, nil, "")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.abort()
		return err
	}
	var out bytes.Buffer
	skipPeel := false
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "^") {
			if !skipPeel {
				out.WriteString(line)
			}
			continue
		}
		skipPeel = false
		if _, n, ok := strings.Cut(strings.TrimRight(line, "\n"), " "); ok && n == name {
			skipPeel = true
			continue
		}
		out.WriteString(line)
	}
	return l.commit(out.String())
}

// signature summarises the state of the ref files cheaply (modification
// times of packed-refs and of every directory under refs/heads), so that a
// poller can tell when something outside changed them.
func (f *fileRefs) signature() string {
	var b strings.Builder
	if st, err := os.Stat(filepath.Join(f.gitdir, "packed-refs")); err == nil {
		fmt.Fprintf(&b, "p%d.%d;", st.ModTime().UnixNano(), st.Size())
	}
	root := filepath.Join(f.gitdir, "refs", "heads")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if info, err := d.Info(); err == nil {
				fmt.Fprintf(&b, "%s:%d;", path, info.ModTime().UnixNano())
			}
		}
		return nil
	})
	return b.String()
}
