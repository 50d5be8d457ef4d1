package ninep

import (
	"context"
	"log/slog"
	"strings"

	"github.com/dkgo/datakit/dkstore"
)

// LogSource is a log source whose level can be read and set through
// /debug/src/<Name>/{doc,level}.
type LogSource struct {
	Name  string
	Doc   string
	Level *slog.LevelVar
}

// Level names, as the original showed them.
var levelNames = []struct {
	name  string
	level slog.Level
}{
	{"quiet", slog.Level(100)},
	{"app", slog.LevelError + 4},
	{"error", slog.LevelError},
	{"warning", slog.LevelWarn},
	{"info", slog.LevelInfo},
	{"debug", slog.LevelDebug},
}

func levelName(l slog.Level) string {
	for _, n := range levelNames {
		if l >= n.level {
			return n.name
		}
	}
	return "debug"
}

type debugDir struct{ s *session }

func (d *debugDir) path() string                           { return "debug" }
func (d *debugDir) list(context.Context) ([]dirent, error) { return []dirent{{"src", true}}, nil }
func (d *debugDir) lookup(_ context.Context, name string) (node, error) {
	if name != "src" {
		return nil, dkstore.ErrNotExist
	}
	return &sourcesDir{s: d.s}, nil
}

type sourcesDir struct{ s *session }

func (d *sourcesDir) path() string { return "debug/src" }
func (d *sourcesDir) list(context.Context) ([]dirent, error) {
	var out []dirent
	for _, src := range d.s.srv.sources {
		out = append(out, dirent{src.Name, true})
	}
	return out, nil
}

func (d *sourcesDir) lookup(_ context.Context, name string) (node, error) {
	for _, src := range d.s.srv.sources {
		if src.Name == name {
			return &sourceDir{s: d.s, src: src}, nil
		}
	}
	return nil, dkstore.ErrNotExist
}

type sourceDir struct {
	s   *session
	src LogSource
}

func (d *sourceDir) path() string { return "debug/src/" + d.src.Name }
func (d *sourceDir) list(context.Context) ([]dirent, error) {
	return []dirent{{"doc", false}, {"level", false}}, nil
}

func (d *sourceDir) lookup(_ context.Context, name string) (node, error) {
	p := d.path() + "/" + name
	switch name {
	case "doc":
		return &staticFile{p: p, content: fixed(d.src.Doc + "\n")}, nil
	case "level":
		return &levelFile{p: p, v: d.src.Level}, nil
	}
	return nil, dkstore.ErrNotExist
}

// levelFile reads as the level's name; writing a name sets it.
type levelFile struct {
	p string
	v *slog.LevelVar
}

func (f *levelFile) path() string { return f.p }
func (f *levelFile) text() []byte { return []byte(levelName(f.v.Level()) + "\n") }
func (f *levelFile) stat(context.Context) (dkstore.Kind, int64, error) {
	return dkstore.KindFile, int64(len(f.text())), nil
}
func (f *levelFile) truncate(context.Context, int64) error { return nil }
func (f *levelFile) open(context.Context, bool) (handle, error) {
	return &levelHandle{f}, nil
}

type levelHandle struct{ f *levelFile }

func (h *levelHandle) readAt(_ context.Context, p []byte, off int64) (int, error) {
	return readBytes(h.f.text(), p, off)
}

func (h *levelHandle) writeAt(_ context.Context, p []byte, _ int64) (int, error) {
	name := strings.TrimSpace(string(p))
	if name == "" {
		return len(p), nil
	}
	for _, n := range levelNames {
		if n.name == name {
			h.f.v.Set(n.level)
			return len(p), nil
		}
	}
	return 0, userErr(dkstore.ErrInvalid, "unknown level %q (want quiet, app, error, warning, info or debug)", name)
}

func (h *levelHandle) close() {}
