package ninep

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/dkgo/datakit/dkstore"
)

// txState is an open transaction of this connection.
type txState struct {
	tx      dkstore.Transaction
	msg     *textBuf
	parents *textBuf
	mu      sync.Mutex
	merge   *dkstore.MergeResult // after a merge: ours/theirs/base
}

// txsDir is branch/<b>/transactions: mkdir <t> starts a transaction.
type txsDir struct {
	s *session
	b dkstore.Branch
	p string
}

func (d *txsDir) path() string { return d.p }

func (d *txsDir) list(context.Context) ([]dirent, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	var out []dirent
	for name := range d.s.txs[d.b.Name()] {
		out = append(out, dirent{name, true})
	}
	return out, nil
}

func (d *txsDir) get(name string) *txState {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.s.txs[d.b.Name()][name]
}

func (d *txsDir) lookup(_ context.Context, name string) (node, error) {
	t := d.get(name)
	if t == nil {
		return nil, dkstore.ErrNotExist
	}
	return &txDir{s: d.s, b: d.b, name: name, p: d.p + "/" + name, t: t}, nil
}

func (d *txsDir) mkdir(ctx context.Context, name string) error {
	if strings.ContainsAny(name, "/\x00") || name == "" {
		return dkstore.ErrInvalid
	}
	if d.get(name) != nil {
		return dkstore.ErrExist
	}
	tx, err := d.b.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		return err
	}
	parents, err := tx.Parents(ctx)
	if err != nil {
		return err
	}
	var pb strings.Builder
	for _, p := range parents {
		pb.WriteString(p.String() + "\n")
	}
	t := &txState{tx: tx, msg: &textBuf{}, parents: &textBuf{}}
	t.parents.set(pb.String())
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	m := d.s.txs[d.b.Name()]
	if m == nil {
		m = map[string]*txState{}
		d.s.txs[d.b.Name()] = m
	}
	if m[name] != nil {
		tx.Abort(ctx)
		return dkstore.ErrExist
	}
	m[name] = t
	return nil
}

func (d *txsDir) create(context.Context, string, dkstore.Kind, string) error { return errDirsOnly }

// drop forgets a transaction (after commit or close).
func (s *session) drop(b dkstore.BranchName, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.txs[b], name)
}

// txDir is transactions/<t>.
type txDir struct {
	s    *session
	b    dkstore.Branch
	name string
	p    string
	t    *txState
}

func (d *txDir) path() string { return d.p }

func (d *txDir) list(context.Context) ([]dirent, error) {
	out := []dirent{{"ctl", false}, {"merge", false}, {"msg", false}, {"origin", false}, {"parents", false}, {"rw", true}}
	d.t.mu.Lock()
	if d.t.merge != nil {
		out = append(out, dirent{"base", true}, dirent{"conflicts", false}, dirent{"ours", true}, dirent{"theirs", true})
	}
	d.t.mu.Unlock()
	return out, nil
}

func (d *txDir) lookup(ctx context.Context, name string) (node, error) {
	t, p := d.t, d.p+"/"+name
	switch name {
	case "rw":
		return &treeDir{s: d.s, p: p, tx: t, src: func(context.Context) (dkstore.Reader, error) { return t.tx, nil }}, nil
	case "msg":
		return &textFile{p: p, buf: t.msg}, nil
	case "parents":
		return &textFile{p: p, buf: t.parents}, nil
	case "origin":
		return &staticFile{p: p, content: fixed("")}, nil
	case "ctl":
		return d.s.cmd(p, d.ctl), nil
	case "merge":
		return d.s.cmd(p, d.mergeCmd), nil
	case "diff":
		return &diffDir{s: d.s, p: p, diff: t.tx.Diff}, nil
	}
	t.mu.Lock()
	m := t.merge
	t.mu.Unlock()
	if m != nil {
		ro := func(tr dkstore.Tree) node {
			return &treeDir{s: d.s, p: p, src: func(context.Context) (dkstore.Reader, error) { return tr, nil }}
		}
		switch name {
		case "ours":
			return ro(m.Ours), nil
		case "theirs":
			return ro(m.Theirs), nil
		case "base":
			return ro(m.Base), nil
		case "conflicts":
			return &staticFile{p: p, content: func(ctx context.Context) ([]byte, error) {
				cs, err := t.tx.Conflicts(ctx)
				if err != nil {
					return nil, err
				}
				var b strings.Builder
				for _, c := range cs {
					b.WriteString(string(c.Path) + "\n")
				}
				return []byte(b.String()), nil
			}}, nil
		}
	}
	return nil, dkstore.ErrNotExist
}

// parseParents reads the parents file: one commit id per non-empty line.
func parseParents(text string) ([]dkstore.CommitID, error) {
	var out []dkstore.CommitID
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		id, err := dkstore.ParseCommitID(line)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

func (d *txDir) ctl(ctx context.Context, cmd string) (string, error) {
	switch cmd {
	case "close":
		d.t.tx.Abort(ctx)
		d.s.drop(d.b.Name(), d.name)
		return "", nil
	case "commit":
		parents, err := parseParents(d.t.parents.String())
		if err != nil {
			return "", err
		}
		if err := d.t.tx.SetParents(ctx, parents); err != nil {
			return "", err
		}
		if _, err := d.t.tx.Commit(ctx, d.t.msg.String()); err != nil {
			return "", err
		}
		d.s.drop(d.b.Name(), d.name)
		return "", nil
	}
	return "", fmt.Errorf("Unknown command %q: %w", cmd, dkstore.ErrInvalid)
}

func (d *txDir) mergeCmd(ctx context.Context, arg string) (string, error) {
	id, err := dkstore.ParseCommitID(arg)
	if err != nil {
		return "", err
	}
	parents, err := parseParents(d.t.parents.String())
	if err != nil {
		return "", err
	}
	if err := d.t.tx.SetParents(ctx, parents); err != nil {
		return "", err
	}
	res, err := d.t.tx.Merge(ctx, id)
	if err != nil {
		return "", err
	}
	d.t.mu.Lock()
	d.t.merge = &res
	d.t.mu.Unlock()
	d.t.parents.set(strings.TrimRight(d.t.parents.String(), "\n") + trimNL(d.t.parents.String()) + id.String() + "\n")
	return "ok", nil
}

// trimNL returns "\n" if s is non-empty (so the merged id goes on a line
// of its own).
func trimNL(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return "\n"
}
