package cimain

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// lineHandler writes one readable line per record, in the original's
// format: "2016-11-29 10:00.01 INFO message key=value …".
type lineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
	attrs string
}

func newLogger(w io.Writer, verbose int) *slog.Logger {
	level := slog.LevelInfo
	if verbose > 0 {
		level = slog.LevelDebug
	}
	return slog.New(&lineHandler{mu: &sync.Mutex{}, w: w, level: level})
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Time.Format("2006-01-02 15:04.05"))
	fmt.Fprintf(&b, " %-4s ", r.Level.String())
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	// A value of several lines (a stack, say) follows the line, indented,
	// rather than as one long quoted string.
	var blocks []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		if strings.Contains(strings.TrimRight(a.Value.String(), "\n"), "\n") {
			fmt.Fprintf(&b, " %s=(below)", a.Key)
			blocks = append(blocks, a)
			return true
		}
		writeAttr(&b, a)
		return true
	})
	b.WriteByte('\n')
	for _, a := range blocks {
		fmt.Fprintf(&b, "  %s:\n", a.Key)
		for _, l := range strings.Split(strings.TrimRight(a.Value.String(), "\n"), "\n") {
			b.WriteString("    " + l + "\n")
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func writeAttr(b *strings.Builder, a slog.Attr) {
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\n\"") || v == "" {
		v = fmt.Sprintf("%q", v)
	}
	fmt.Fprintf(b, " %s=%s", a.Key, v)
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		writeAttr(&b, a)
	}
	h2 := *h
	h2.attrs += b.String()
	return &h2
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
