package ninep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/dkgo/datakit/dkstore"
)

// txState is an open transaction of this connection.
type txState struct {
	b       dkstore.Branch
	msg     *textBuf
	parents *textBuf
	mu      sync.Mutex
	tx      dkstore.Transaction  // replaced by the "start" command
	merge   *dkstore.MergeResult // after a merge: ours/theirs/base
}

func (t *txState) get() dkstore.Transaction {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tx
}

// begin (re)starts the transaction with opts and resets parents.
func (t *txState) begin(ctx context.Context, opts dkstore.TxOptions) error {
	tx, err := t.b.Transaction(ctx, opts)
	if err != nil {
		return err
	}
	parents, err := tx.Parents(ctx)
	if err != nil {
		tx.Abort(ctx)
		return err
	}
	var pb strings.Builder
	for _, p := range parents {
		pb.WriteString(p.String() + "\n")
	}
	t.mu.Lock()
	old := t.tx
	t.tx, t.merge = tx, nil
	t.mu.Unlock()
	t.parents.set(pb.String())
	if old != nil {
		old.Abort(ctx)
	}
	return nil
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
	t := &txState{b: d.b, msg: &textBuf{}, parents: &textBuf{}}
	if err := t.begin(ctx, dkstore.TxOptions{}); err != nil {
		return err
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	m := d.s.txs[d.b.Name()]
	if m == nil {
		m = map[string]*txState{}
		d.s.txs[d.b.Name()] = m
	}
	if m[name] != nil {
		t.get().Abort(ctx)
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
	// Its command files' results go too; open files keep their own.
	prefix := "branch/" + string(b) + "/transactions/" + name + "/"
	for p := range s.results {
		if strings.HasPrefix(p, prefix) {
			delete(s.results, p)
		}
	}
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
		return &treeDir{s: d.s, p: p, tx: t, src: func(context.Context) (dkstore.Reader, error) { return t.get(), nil }}, nil
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
		return &diffDir{s: d.s, p: p, diff: func(ctx context.Context, from dkstore.CommitID) ([]dkstore.Change, error) {
			return t.get().Diff(ctx, from)
		}}, nil
	case "changes": // beyond the original: the files changed so far
		return &staticFile{p: p, content: func(ctx context.Context) ([]byte, error) {
			cs, err := t.get().Changes(ctx)
			return changeLines(cs), err
		}}, nil
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
		case "trees": // beyond the original: the three trees by hash
			return &staticFile{p: p, content: fixed(fmt.Sprintf("ours %s\ntheirs %s\nbase %s\n",
				m.Ours.Hash(), m.Theirs.Hash(), m.Base.Hash()))}, nil
		case "conflicts":
			return &staticFile{p: p, content: func(ctx context.Context) ([]byte, error) {
				cs, err := t.get().Conflicts(ctx)
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

// ctl runs a transaction command: "commit" and "close" as in the original,
// and beyond it "start [COMMIT] [ff-only] [skip-if-empty]", which restarts
// an unchanged transaction from COMMIT (default: the branch head) with
// those commit options. "commit" leaves the new head's id in ctl.
func (d *txDir) ctl(ctx context.Context, line string) (string, error) {
	words := strings.Fields(line)
	cmd := ""
	if len(words) > 0 {
		cmd = words[0]
	}
	tx := d.t.get()
	switch {
	case line == "close":
		tx.Abort(ctx)
		d.s.drop(d.b.Name(), d.name)
		return "", nil
	case line == "commit":
		parents, err := parseParents(d.t.parents.String())
		if err != nil {
			return "", err
		}
		if err := tx.SetParents(ctx, parents); err != nil {
			return "", err
		}
		id, err := tx.Commit(ctx, d.t.msg.String())
		d.s.srv.metrics.commitResult(err, errors.Is(err, dkstore.ErrConflict))
		if err != nil {
			return "", err
		}
		d.s.drop(d.b.Name(), d.name)
		return id.String() + "\n", nil
	case cmd == "start":
		var opts dkstore.TxOptions
		for _, w := range words[1:] {
			switch w {
			case "ff-only":
				opts.FastForwardOnly = true
			case "skip-if-empty":
				opts.SkipIfEmpty = true
			default:
				id, err := dkstore.ParseCommitID(w)
				if err != nil {
					return "", err
				}
				opts.From = id
			}
		}
		changes, err := tx.Changes(ctx)
		if err != nil {
			return "", err
		}
		d.t.mu.Lock()
		merged := d.t.merge != nil
		d.t.mu.Unlock()
		if len(changes) > 0 || merged {
			return "", userErr(dkstore.ErrInvalid, "start: the transaction has changes already")
		}
		return "", d.t.begin(ctx, opts)
	}
	return "", userErr(dkstore.ErrInvalid, "Unknown command %q", line)
}

func changeLines(cs []dkstore.Change) []byte {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.String() + "\n")
	}
	return []byte(b.String())
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
	if err := d.t.get().SetParents(ctx, parents); err != nil {
		return "", err
	}
	res, err := d.t.get().Merge(ctx, id)
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
