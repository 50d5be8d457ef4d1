// Package livelog keeps the logs of running build steps: text that grows
// while the step runs, readable (and followable) by the web UI at any
// moment, with headings, timestamped lines and a stack of pending reasons
// that says what the step waits for. Secrets are masked before anything is
// stored, even when a secret is split across two writes.
//
// A Manager holds the live logs of a process, one per result branch. All
// methods are safe for concurrent use.
package livelog

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Manager holds the live logs, by branch.
type Manager struct {
	mu      sync.Mutex
	logs    map[string]*Log
	now     func() time.Time
	secrets []string // masked in every log
}

// NewManager returns an empty manager. now is the clock for timestamps
// (time.Now if nil).
func NewManager(now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{logs: map[string]*Log{}, now: now}
}

// SetSecrets sets the secrets masked in every log created from now on
// (on top of each log's own Options.Secrets): the CI's configured secrets.
func (m *Manager) SetSecrets(secrets []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets = append([]string(nil), secrets...)
}

// Mask replaces the manager's secrets in s by "***": for texts written
// elsewhere than a log (statuses, errors).
func (m *Manager) Mask(s string) string {
	m.mu.Lock()
	mk := newMasker(m.secrets)
	m.mu.Unlock()
	return string(mk.scan([]byte(s), true))
}

// ErrBusy is returned by Create when a live log is already open on the
// branch (the original's "Can't create new live log").
var ErrBusy = errors.New("livelog: a live log is already open on this branch")

// Options tune a log.
type Options struct {
	// Secrets are replaced by "***" in everything the log keeps.
	Secrets []string
	// Pending is the reason shown while no other reason is pushed.
	Pending string
}

// Create opens a live log on branch, titled title. It fails with ErrBusy
// (text "Can't create new live log on branch <b>") while another is open
// there.
func (m *Manager) Create(branch, title string, opts Options) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.logs[branch]; ok {
		return nil, fmt.Errorf("Can't create new live log on branch %s: %w", branch, ErrBusy)
	}
	l := &Log{m: m, branch: branch, title: title, base: opts.Pending, changed: make(chan struct{})}
	l.secrets = append(append([]string(nil), m.secrets...), opts.Secrets...)
	l.mask = newMasker(l.secrets)
	m.logs[branch] = l
	return l, nil
}

// Get returns the live log on branch, if one is open.
func (m *Manager) Get(branch string) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logs[branch]
	return l, ok
}

// List returns the branches with an open live log, sorted.
func (m *Manager) List() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.logs))
	for b := range m.logs {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// Log is one live log.
type Log struct {
	m       *Manager
	branch  string
	title   string
	base    string
	mu      sync.Mutex
	buf     []byte
	mask    *masker
	reasons []string
	secrets []string
	changed chan struct{} // closed and replaced on every change
	done    bool
}

// Branch is the branch the log belongs to.
func (l *Log) Branch() string { return l.branch }

// Title is the log's title.
func (l *Log) Title() string { return l.title }

// Write appends raw output (e.g. a command's), masking secrets. A secret
// split across writes is masked too: the last bytes that could begin a
// secret are held back until the next write or Finish.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return 0, errors.New("livelog: write to a finished log")
	}
	l.append(l.mask.write(p))
	return len(p), nil
}

// append adds masked text and wakes readers. Called with l.mu held.
func (l *Log) append(b []byte) {
	if len(b) == 0 {
		return
	}
	l.buf = append(l.buf, b...)
	l.notify()
}

func (l *Log) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Printf appends a timestamped line "[YYYY-MM-DD HH:MM.SS] text\n".
func (l *Log) Printf(format string, args ...any) {
	line := fmt.Sprintf("[%s] %s\n", l.m.now().UTC().Format("2006-01-02 15:04.05"), strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
	l.Write([]byte(line))
}

// Heading appends "=== title\n", after a blank line unless the log is
// empty.
func (l *Log) Heading(title string) {
	l.mu.Lock()
	empty := len(l.buf) == 0 && l.mask.held() == 0
	l.mu.Unlock()
	if empty {
		l.Write([]byte("=== " + title + "\n"))
	} else {
		l.Write([]byte("\n=== " + title + "\n"))
	}
}

// PushReason pushes a pending reason (e.g. `Waiting for resource in
// "docker"`) until the returned function pops it.
func (l *Log) PushReason(reason string) (pop func()) {
	l.mu.Lock()
	l.reasons = append(l.reasons, reason)
	l.notify()
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			for i := len(l.reasons) - 1; i >= 0; i-- {
				if l.reasons[i] == reason {
					l.reasons = append(l.reasons[:i], l.reasons[i+1:]...)
					break
				}
			}
			l.notify()
		})
	}
}

// Reason is the current pending reason: the last pushed, else the log's
// base reason, else its title.
func (l *Log) Reason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case len(l.reasons) > 0:
		return l.reasons[len(l.reasons)-1]
	case l.base != "":
		return l.base
	}
	return l.title
}

// Contents returns the text so far (without held-back bytes).
func (l *Log) Contents() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf)
}

// Len is the length of Contents.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buf)
}

// Since returns the text from offset off on, whether the log is
// finished, and a channel closed at the next change (new text, a reason,
// the end): a reader follows the log by calling it again after each
// change.
func (l *Log) Since(off int) (text []byte, finished bool, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off < 0 || off > len(l.buf) {
		off = len(l.buf)
	}
	return bytes.Clone(l.buf[off:]), l.done, l.changed
}

// Finish flushes the bytes held back for masking, ends the log and frees
// its branch for a new live log. It returns the whole text.
func (l *Log) Finish() []byte {
	l.mu.Lock()
	if !l.done {
		l.append(l.mask.flush())
		l.done = true
		l.notify()
	}
	out := bytes.Clone(l.buf)
	l.mu.Unlock()
	l.m.mu.Lock()
	if l.m.logs[l.branch] == l {
		delete(l.m.logs, l.branch)
	}
	l.m.mu.Unlock()
	return out
}

// Mask replaces the log's secrets in s by "***": for a step's failure
// message, saved beside the log.
func (l *Log) Mask(s string) string {
	return string(newMasker(l.secrets).scan([]byte(s), true))
}

// Finished reports whether Finish was called.
func (l *Log) Finished() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done
}

// masker replaces secrets by "***" in a stream of writes.
type masker struct {
	secrets [][]byte // longest first
	first   [256]bool
	pending []byte // raw bytes that may begin a secret, held back
}

func newMasker(secrets []string) *masker {
	m := &masker{}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		m.secrets = append(m.secrets, []byte(s))
		m.first[s[0]] = true
	}
	// longest first, so that a secret containing another is masked whole
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
	return m
}

func (m *masker) held() int { return len(m.pending) }

// write masks p (after the held-back bytes) and returns what is safe to
// emit. It scans left to right: at each position a whole secret (the
// longest that matches) becomes "***"; at the first position where the
// rest of the data is only the beginning of a secret, it stops and holds
// that rest back for the next write.
func (m *masker) write(p []byte) []byte { return m.scan(p, false) }

func (m *masker) scan(p []byte, final bool) []byte {
	if len(m.secrets) == 0 {
		return p
	}
	data := append(m.pending, p...)
	m.pending = nil
	out := make([]byte, 0, len(data))
	j := 0
	for j < len(data) {
		// copy bytes that cannot begin a secret in bulk
		k := j
		for k < len(data) && !m.first[data[k]] {
			k++
		}
		out = append(out, data[j:k]...)
		j = k
		if j == len(data) {
			break
		}
		matched, partial := 0, false
		for _, s := range m.secrets {
			rest := data[j:]
			if bytes.HasPrefix(rest, s) {
				matched = len(s)
				break
			}
			if !final && len(rest) < len(s) && bytes.HasPrefix(s, rest) {
				partial = true // a longer secret may follow: wait and see
				break
			}
		}
		switch {
		case partial:
			m.pending = bytes.Clone(data[j:])
			return out
		case matched > 0:
			out = append(out, "***"...)
			j += matched
		default:
			out = append(out, data[j])
			j++
		}
	}
	return out
}

// flush masks and returns the held-back bytes: at the end, no longer
// secret can follow.
func (m *masker) flush() []byte { return m.scan(nil, true) }
