package ninep

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/dkgo/datakit/dkstore"
)

// remoteState is remotes/<name> of one connection: a URL, and the latest
// fetched head, which the head stream follows.
type remoteState struct {
	url  *textBuf
	mu   sync.Mutex
	head string
	ch   chan struct{} // closed when head changes
}

func newRemote() *remoteState { return &remoteState{url: &textBuf{}, ch: make(chan struct{})} }

func (r *remoteState) setHead(h string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.head = h
	close(r.ch)
	r.ch = make(chan struct{})
}

type remotesDir struct{ s *session }

func (d *remotesDir) path() string { return "remotes" }
func (d *remotesDir) list(context.Context) ([]dirent, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	var out []dirent
	for name := range d.s.remotes {
		out = append(out, dirent{name, true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (d *remotesDir) lookup(_ context.Context, name string) (node, error) {
	d.s.mu.Lock()
	r := d.s.remotes[name]
	d.s.mu.Unlock()
	if r == nil {
		return nil, dkstore.ErrNotExist
	}
	return &remoteDir{s: d.s, p: "remotes/" + name, r: r}, nil
}

func (d *remotesDir) mkdir(_ context.Context, name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return dkstore.ErrInvalid
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.remotes[name] != nil {
		return dkstore.ErrExist
	}
	d.s.remotes[name] = newRemote()
	return nil
}

func (d *remotesDir) rename(_ context.Context, from, to string) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	r := d.s.remotes[from]
	if r == nil {
		return dkstore.ErrNotExist
	}
	if d.s.remotes[to] != nil {
		return dkstore.ErrExist
	}
	delete(d.s.remotes, from)
	d.s.remotes[to] = r
	return nil
}

func (d *remotesDir) create(context.Context, string, dkstore.Kind, string) error { return errDirsOnly }

type remoteDir struct {
	s *session
	p string
	r *remoteState
}

func (d *remoteDir) path() string { return d.p }
func (d *remoteDir) list(context.Context) ([]dirent, error) {
	return []dirent{{"fetch", false}, {"head", false}, {"url", false}}, nil
}

func (d *remoteDir) lookup(_ context.Context, name string) (node, error) {
	p := d.p + "/" + name
	switch name {
	case "url":
		return &textFile{p: p, buf: d.r.url}, nil
	case "fetch":
		return d.s.cmd(p, d.fetch), nil
	case "head":
		return &streamFile{p: p, watch: func(context.Context) (lineWatch, error) {
			return &remoteHeadWatch{r: d.r, done: make(chan struct{})}, nil
		}}, nil
	}
	return nil, dkstore.ErrNotExist
}

func (d *remoteDir) fetch(ctx context.Context, branch string) (string, error) {
	url := strings.TrimSpace(d.r.url.String())
	if url == "" {
		return "", userErr(dkstore.ErrInvalid, "remote url is not defined")
	}
	id, err := d.s.store.Fetch(ctx, url, branch)
	if err != nil {
		d.s.srv.log.Info("fetch failed", slog.String("url", url), slog.String("branch", branch), slog.Any("err", err))
		return "", err
	}
	d.r.setHead(id.String())
	return "", nil
}

// remoteHeadWatch prints nothing until the first fetch, then each head.
type remoteHeadWatch struct {
	r    *remoteState
	last string
	done chan struct{}
	once sync.Once
}

func (w *remoteHeadWatch) Next(ctx context.Context) (string, error) {
	for {
		w.r.mu.Lock()
		head, ch := w.r.head, w.r.ch
		w.r.mu.Unlock()
		if head != "" && head != w.last {
			w.last = head
			return head, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		case <-w.done:
			return "", dkstore.ErrClosed
		}
	}
}

func (w *remoteHeadWatch) Close() error {
	w.once.Do(func() { close(w.done) })
	return nil
}
