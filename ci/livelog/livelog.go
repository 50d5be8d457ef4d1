// Package livelog keeps the logs of running build steps: text that grows
// while the step runs, readable (and followable) by the web UI at any
// moment, with headings, timestamped lines and a stack of pending reasons
// that says what the step waits for. Secrets are masked before anything is
// stored, even when a secret is split across two writes.
//
// A Manager holds the live logs of a process, one per result branch. All
// methods are safe for concurrent use.
//
// A Tail beside a log keeps the last line a command printed, and Explain
// makes of it the end of the command's failure message, which the steps of
// ci/git and ci/docker report: `Command "make" "test" exited with status
// 2: FAIL: TestX`, the command abbreviated so that the reason fits in a
// status.
//
// # Masking
//
// Every byte that belongs to an occurrence of a secret is hidden: each run
// of overlapping occurrences becomes one "***" (so of two secrets "abc" and
// "bcd", "abcd" reads "***"; adjacent occurrences are masked one by one,
// "hunter2hunter2" reads "******"). To mask a secret split across writes,
// a log holds back the last bytes of a write that could begin a secret
// (never more than the longest secret) until the next write or Finish: a
// command's output may reach readers a few bytes late, never unmasked.
//
// # Limits
//
// A log lives in memory until it is finished, and is saved whole, so its
// size is bounded: output written past Options.MaxBytes (DefaultMaxBytes
// unless set) is not kept, except its last few kilobytes, which follow a
// line saying how much was left out when the step logs its next line
// (e.g. "Failed: ...") or finishes. Headings and timestamped lines are
// always kept. A log also keeps the text it returns to Contents, Since and
// Finish callers only as long as they hold it: each call copies.
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
	// MaxBytes bounds the output kept (see Limits in the package
	// documentation): DefaultMaxBytes if 0, no bound if negative.
	MaxBytes int
}

// DefaultMaxBytes is the output a log keeps unless told otherwise: 64 MiB.
const DefaultMaxBytes = 64 << 20

// tailBytes is how much of the output past the limit a log keeps, at most.
const tailBytes = 64 << 10

// Create opens a live log on branch, titled title. It fails with ErrBusy
// (text "Can't create new live log on branch <b>") while another is open
// there.
func (m *Manager) Create(branch, title string, opts Options) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.logs[branch]; ok {
		return nil, fmt.Errorf("Can't create new live log on branch %s: %w", branch, ErrBusy)
	}
	l := &Log{m: m, branch: branch, title: title, base: opts.Pending, changed: make(chan struct{}), limit: opts.MaxBytes, started: m.now()}
	if l.limit == 0 {
		l.limit = DefaultMaxBytes
	}
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
	started time.Time
	base    string
	mu      sync.Mutex
	buf     []byte
	mask    *masker
	reasons []string
	secrets []string
	changed chan struct{} // closed and replaced on every change
	done    bool

	limit     int    // bound on buf for output (Write); <0: none
	truncated bool   // output reached the limit: more is omitted
	omitted   int    // output bytes omitted since the last notice
	tail      []byte // the end of the omitted output
}

// Branch is the branch the log belongs to.
func (l *Log) Branch() string { return l.branch }

// Started is when the log was created: when its step began.
func (l *Log) Started() time.Time { return l.started }

// Title is the log's title.
func (l *Log) Title() string { return l.title }

// Write appends raw output (e.g. a command's), masking secrets. A secret
// split across writes is masked too: the last bytes that could begin a
// secret are held back until the next write or Finish. Output past the
// log's limit is counted but not kept (see Limits in the package
// documentation); Write still reports it written.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return 0, errors.New("livelog: write to a finished log")
	}
	l.output(l.mask.write(p))
	return len(p), nil
}

// writeLine appends a line of the log's own (a heading, a timestamped
// line): never omitted. It first says what output was omitted, if any.
func (l *Log) writeLine(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	b := l.mask.write(p)
	l.flushOmitted()
	l.append(b)
}

// output appends masked output within the limit. Called with l.mu held.
func (l *Log) output(b []byte) {
	if !l.truncated {
		room := l.limit - len(l.buf)
		if l.limit < 0 || len(b) <= room {
			l.append(b)
			return
		}
		l.append(b[:room])
		b = b[room:]
		l.truncated = true
	}
	l.omitted += len(b)
	l.tail = append(l.tail, b...)
	if keep := l.tailKeep(); len(l.tail) > 2*keep {
		l.tail = append([]byte(nil), l.tail[len(l.tail)-keep:]...)
	}
}

func (l *Log) tailKeep() int { return min(tailBytes, max(l.limit/4, 1)) }

// flushOmitted appends a line saying how much output was omitted, then
// the last of it (from a line start). Called with l.mu held.
func (l *Log) flushOmitted() {
	if l.omitted == 0 {
		return
	}
	keep := l.tail
	if n := l.tailKeep(); len(keep) > n {
		keep = keep[len(keep)-n:]
		if i := bytes.IndexByte(keep, '\n'); i >= 0 {
			keep = keep[i+1:]
		}
	}
	var b []byte
	if len(l.buf) > 0 && l.buf[len(l.buf)-1] != '\n' {
		b = append(b, '\n')
	}
	if n := l.omitted - len(keep); n > 0 {
		b = fmt.Appendf(b, "[... %d bytes of output omitted: the log keeps %d bytes of output ...]\n", n, l.limit)
	}
	b = append(b, keep...)
	l.omitted, l.tail = 0, nil
	l.append(b)
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
	l.writeLine([]byte(line))
}

// Heading appends "=== title\n", after a blank line unless the log is
// empty.
func (l *Log) Heading(title string) {
	l.mu.Lock()
	empty := len(l.buf) == 0 && l.mask.held() == 0
	l.mu.Unlock()
	if empty {
		l.writeLine([]byte("=== " + title + "\n"))
	} else {
		l.writeLine([]byte("\n=== " + title + "\n"))
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
		l.output(l.mask.flush())
		l.flushOmitted()
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
	forced  int    // the first forced bytes of pending belong to a secret
	maxHold int    // beyond this, a run of occurrences is emitted in parts
}

func newMasker(secrets []string) *masker {
	m := &masker{maxHold: 4096}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		m.secrets = append(m.secrets, []byte(s))
		m.first[s[0]] = true
		m.maxHold = max(m.maxHold, 2*len(s))
	}
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
	return m
}

func (m *masker) held() int { return len(m.pending) }

// write masks p (after the held-back bytes) and returns what is safe to
// emit.
func (m *masker) write(p []byte) []byte { return m.scan(p, false) }

// scan masks the held-back bytes and p. It scans left to right; where
// occurrences of secrets begin, it takes the run of occurrences that
// overlap one another and emits "***" for the run. Unless final, it stops
// where the rest of the data could still be the beginning of an
// occurrence belonging to the current run (or starting a new one), and
// holds that rest back for the next write. A run longer than maxHold (only
// secrets that overlap themselves, such as "aaaa", make long runs) is
// emitted in parts, so that what is held back stays bounded.
func (m *masker) scan(p []byte, final bool) []byte {
	if len(m.secrets) == 0 {
		return p
	}
	data := append(m.pending, p...)
	forced := m.forced
	m.pending, m.forced = nil, 0
	out := make([]byte, 0, len(data))
	j := 0
	for j < len(data) {
		if forced == 0 {
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
		}
		// the run of overlapping occurrences starting at j
		end := j + forced
		forced = 0
		for k := j; k < len(data) && (k == j || k < end); k++ {
			if !m.first[data[k]] {
				continue
			}
			rest := data[k:]
			for _, s := range m.secrets {
				switch {
				case bytes.HasPrefix(rest, s):
					end = max(end, k+len(s))
				case !final && len(rest) < len(s) && bytes.HasPrefix(s, rest):
					// an occurrence may be completed by the next write
					if k > j && len(data)-j > m.maxHold {
						out = append(out, "***"...)
						m.pending, m.forced = bytes.Clone(rest), end-k
						return out
					}
					m.pending, m.forced = bytes.Clone(data[j:]), end-j
					return out
				}
			}
		}
		if end == j {
			out = append(out, data[j])
			j++
			continue
		}
		out = append(out, "***"...)
		j = min(end, len(data))
	}
	return out
}

// flush masks and returns the held-back bytes: at the end, no longer
// secret can follow.
func (m *masker) flush() []byte { return m.scan(nil, true) }
