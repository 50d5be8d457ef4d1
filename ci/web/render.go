package web

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	terminal "github.com/buildkite/terminal-to-html/v3"
)

// renderer turns a log's text into HTML lines as it arrives, with
// github.com/buildkite/terminal-to-html/v3: colours and other SGR
// attributes (carried from line to line), "\r" progress lines (a line
// shows what it ended as), OSC 8 links, all HTML-escaped. Each finished
// line is written at once, numbered, with an anchor (#L<n>) to link to
// it: a step's output reaches the reader line by line, and no line waits
// for the next.
//
// A line is final once it has ended: cursor movements up into lines
// already written (rare in logs) are not shown.
type renderer struct {
	scr    *terminal.Screen
	w      io.Writer
	line   int      // lines written so far
	owed   int      // finished lines the screen has yet to scroll out
	wraps  []string // pieces of the current line scrolled out (wrapped)
	open   bool     // a line has begun and not ended
	buf    bytes.Buffer
	prefix string // added to the anchors' ids (several logs on a page)
}

// maxColumns is the width of the emulated terminal: a longer line wraps
// (it is shown whole all the same).
const maxColumns = 2048

func newRenderer(w io.Writer, firstLine int) *renderer {
	r := &renderer{w: w, line: firstLine}
	scr, err := terminal.NewScreen(terminal.WithSize(maxColumns, 1), terminal.WithMaxSize(maxColumns, 1))
	if err != nil {
		panic(err) // only for sizes out of range; ours are constant
	}
	scr.Timestamps = false
	scr.ScrollOutFunc = func(html string) {
		if r.owed > 0 {
			r.owed-- // a line already written
			return
		}
		r.wraps = append(r.wraps, strings.TrimSuffix(html, "\n"))
	}
	// Give the screen its one line now, so that every finished line is
	// scrolled out exactly once, later (an empty first line included).
	scr.Write([]byte(" \r\x1b[2K"))
	r.scr = scr
	return r
}

// Write renders p, writing the lines it finishes.
func (r *renderer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i+1]
		}
		p = p[len(seg):]
		owed := r.owed
		r.scr.Write(seg)
		if i >= 0 {
			// Nothing written since the last finished line (an empty
			// line): the screen still shows that line, not this one.
			empty := owed > 0 && r.owed == owed && !r.open
			r.finish(empty)
		} else {
			r.open = true
		}
	}
	return n, r.flush()
}

// finish writes the line the screen holds, which has just ended.
func (r *renderer) finish(empty bool) {
	r.line++
	html := "&nbsp;"
	if !empty {
		html = strings.Join(r.wraps, "") + r.scr.AsHTMLWithTimestamps(false)
	}
	r.wraps = r.wraps[:0]
	r.owed++
	r.open = false
	fmt.Fprintf(&r.buf, "<span class=l id=%sL%d><a href=#%sL%d>%d</a>%s\n</span>", r.prefix, r.line, r.prefix, r.line, r.line, html)
}

// Close writes the last line if it has not ended.
func (r *renderer) Close() error {
	if r.open {
		rest := strings.Join(r.wraps, "") + r.scr.AsHTMLWithTimestamps(false)
		r.open = false
		r.line++
		fmt.Fprintf(&r.buf, "<span class=l id=%sL%d><a href=#%sL%d>%d</a>%s</span>", r.prefix, r.line, r.prefix, r.line, r.line, rest)
	}
	return r.flush()
}

func (r *renderer) flush() error {
	if r.buf.Len() == 0 {
		return nil
	}
	_, err := r.w.Write(r.buf.Bytes())
	r.buf.Reset()
	return err
}

// tailStart returns the offset in text of the start of its last n lines
// (a last line without "\n" counts), and how many lines come before.
func tailStart(text []byte, n int) (off, before int) {
	end := len(text)
	if end > 0 && text[end-1] == '\n' {
		end--
	}
	off = end
	for k := 0; k < n; k++ {
		i := bytes.LastIndexByte(text[:off], '\n')
		if i < 0 {
			return 0, 0
		}
		off = i
	}
	off++ // after the '\n'
	return off, bytes.Count(text[:off], []byte{'\n'})
}
