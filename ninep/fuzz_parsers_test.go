package ninep

// Fuzz targets for the text the client reads from a server (a commit's
// JSON, diffs, ref changes, heads) and the text the server reads from a
// client (a transaction's parents file), and for listen/dial addresses.
// `make fuzz` runs each for FUZZTIME; `go test` runs the seeds.

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

const (
	fuzzID1  = "0123456789abcdef0123456789abcdef01234567"
	fuzzID2  = "fedcba9876543210fedcba9876543210fedcba98"
	fuzzZero = "0000000000000000000000000000000000000000"
)

func mustID(tb testing.TB, s string) dkstore.CommitID {
	tb.Helper()
	id, err := dkstore.ParseCommitID(s)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// hexOf is the 40 lowercase hex digits of id, also for the zero id (whose
// String is "").
func hexOf(id dkstore.CommitID) string { return dkstore.Hash(id).String() }

func sigEqual(a, b dkstore.Signature) bool {
	return a.Name == b.Name && a.Email == b.Email && a.When.Equal(b.When)
}

func commitEqual(a, b dkstore.Commit) bool {
	return a.ID == b.ID && a.Tree == b.Tree && slices.Equal(a.Parents, b.Parents) &&
		a.Message == b.Message && sigEqual(a.Author, b.Author) && sigEqual(a.Committer, b.Committer)
}

// FuzzParseCommitJSON: what parses holds the record's ids (hex, any case),
// and the server's encoding of it (commitJSON) parses to the same commit.
// Errors name the op.
func FuzzParseCommitJSON(f *testing.F) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("", 2*3600))
	sig := dkstore.Signature{Name: "A U Thor", Email: "author@example.com", When: when}
	for _, c := range []dkstore.Commit{
		{ID: mustID(f, fuzzID1), Tree: dkstore.Hash(mustID(f, fuzzID2)), Message: "root\n", Author: sig, Committer: sig},
		{ID: mustID(f, fuzzID2), Tree: dkstore.Hash(mustID(f, fuzzID1)), Parents: []dkstore.CommitID{mustID(f, fuzzID1), mustID(f, fuzzID2)},
			Message: "Merge \u00fcn\u00efcode \"quoted\"\n\nbody\x00\n", Author: sig, Committer: dkstore.Signature{When: time.Unix(0, 0).UTC()}},
	} {
		data, err := json.Marshal(commitJSON(c))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"id":"` + fuzzID1 + `"}`,
		`{"id":"` + fuzzID1 + `","tree":"` + fuzzID2 + `","parents":null}`,
		`{"id":"` + strings.ToUpper(fuzzID1) + `","tree":"` + fuzzID2 + `","parents":["` + fuzzID2 + `"]}`,
		`{"id":"` + fuzzID1 + `","tree":"` + fuzzID2 + `","parents":["` + fuzzID2[:39] + `"]}`,
		`{"id":"` + fuzzID1 + `","tree":"` + fuzzID2[:39] + `x"}`,
		`{"id":"` + fuzzZero + `","tree":"` + fuzzZero + `","parents":["` + fuzzZero + `"]}`,
		`{"id":"` + fuzzID1 + `","tree":"` + fuzzID2 + `","author":{"date":"yesterday"}}`,
		`{"id":"` + fuzzID1 + `","tree":"` + fuzzID2 + `","committer":{"date":"2024-01-02T03:04:05-23:59"},"message":"\ud800"}`,
		`{"ID":"` + fuzzID1 + `","Tree":"` + fuzzID2 + `","id":"` + fuzzID2 + `"} trailing`,
	} {
		f.Add([]byte(s))
	}
	const op = "commit fuzz"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseCommitJSON(op, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ninep: "+op+": ") {
				t.Fatalf("parseCommitJSON(%q) error %q does not begin with the op", data, err)
			}
			return
		}
		var r commitRecord
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("parseCommitJSON(%q) succeeded but json.Unmarshal fails: %v", data, err)
		}
		if hexOf(c.ID) != strings.ToLower(r.ID) || c.Tree.String() != strings.ToLower(r.Tree) || len(c.Parents) != len(r.Parents) {
			t.Fatalf("parseCommitJSON(%q) = %+v, not the record's ids", data, c)
		}
		for i, p := range c.Parents {
			if hexOf(p) != strings.ToLower(r.Parents[i]) {
				t.Fatalf("parseCommitJSON(%q): parent %d = %s, want %s", data, i, hexOf(p), r.Parents[i])
			}
		}
		if c.ID.IsZero() || slices.ContainsFunc(c.Parents, dkstore.CommitID.IsZero) {
			// Accepted, but the zero id means "no commit" and the server
			// writes it as "": it has no encoding to round-trip through.
			return
		}
		enc, err := json.Marshal(commitJSON(c))
		if err != nil {
			t.Fatalf("parseCommitJSON(%q) = %+v, which the server cannot encode: %v", data, c, err)
		}
		again, err := parseCommitJSON(op, enc)
		if err != nil || !commitEqual(again, c) {
			t.Fatalf("parseCommitJSON(%q) = %+v, but after encoding as %s: %+v, %v", data, c, enc, again, err)
		}
	})
}

// FuzzParseChanges: a diff parses to changes with valid, non-root paths,
// which the server's encoding (changeLines) writes back as the input's
// non-empty lines. Errors name the op.
func FuzzParseChanges(f *testing.F) {
	f.Add(changeLines([]dkstore.Change{{Op: dkstore.Added, Path: "a"}, {Op: dkstore.Removed, Path: "b/c"},
		{Op: dkstore.Updated, Path: "d e/\u00fc.txt"}}))
	for _, s := range []string{
		"", "\n", "\n\n+ a\n\n", "+ a", "- a\r\n", "* .hidden/..x\n",
		"+a\n", "x a\n", "+ \n", "++ a\n", "+\ta\n", "+  a\n", "\xff a\n", "+ a\n- b\n? c\n",
		// Invalid paths, which parseChanges once passed on as changes.
		"+ a/\n", "+ /a\n", "+ a//b\n", "+ a/../b\n", "+ ./a\n", "+ a\x00b\n",
	} {
		f.Add([]byte(s))
	}
	const op = "diff fuzz"
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := parseChanges(op, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ninep: "+op+": bad diff line ") {
				t.Fatalf("parseChanges(%q) error %q does not begin with the op", data, err)
			}
			return
		}
		for _, c := range cs {
			switch c.Op {
			case dkstore.Added, dkstore.Removed, dkstore.Updated:
			default:
				t.Fatalf("parseChanges(%q): change %q has op %q", data, c, c.Op)
			}
			if err := c.Path.Valid(); err != nil || c.Path.IsRoot() {
				t.Fatalf("parseChanges(%q): change %q: path not a file path: %v", data, c, err)
			}
		}
		lines := textLines(data)
		enc := changeLines(cs)
		if want := strings.Join(lines, "\n") + "\n"; len(lines) > 0 && string(enc) != want || len(lines) == 0 && len(enc) != 0 {
			t.Fatalf("parseChanges(%q) = %q, which the server writes as %q", data, cs, enc)
		}
		again, err := parseChanges(op, enc)
		if err != nil || !slices.Equal(again, cs) {
			t.Fatalf("parseChanges(%q) = %q, but parsing it as the server writes it gives %q, %v", data, cs, again, err)
		}
	})
}

// oneChange is a watch that gives one change.
type oneChange struct{ ch dkstore.RefChange }

func (w oneChange) Next(context.Context) (dkstore.RefChange, error) { return w.ch, nil }
func (w oneChange) Close() error                                    { return nil }

// FuzzParseRefChange: a line of branch/.changes parses to a change of a
// valid branch, which the server's encoding (changesWatch) writes as a line
// that parses to the same change.
func FuzzParseRefChange(f *testing.F) {
	for _, s := range []string{
		"master - " + fuzzID1, "master " + fuzzID1 + " " + fuzzID2, "feature/x " + fuzzID2 + " -",
		"  master \t - \t - ", "master " + strings.ToUpper(fuzzID1) + " " + fuzzZero,
		"", "master", "master -", "master - - -", "master x -", "master - " + fuzzID1[:39],
		"bad\u00a0name - -", "ma ster - -",
		// Invalid branch names, which parseRefChange once passed on.
		"a..b - -", "/master - -",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ch, err := parseRefChange(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("parseRefChange(%q): empty error", line)
			}
			if ch != (dkstore.RefChange{}) {
				t.Fatalf("parseRefChange(%q) = %+v with error %v", line, ch, err)
			}
			return
		}
		if err := ch.Branch.Valid(); err != nil {
			t.Fatalf("parseRefChange(%q) = %+v: %v", line, ch, err)
		}
		fields := strings.Fields(line)
		for i, id := range []dkstore.CommitID{ch.Old, ch.New} {
			if w := fields[i+1]; !(w == "-" && id.IsZero()) && hexOf(id) != strings.ToLower(w) {
				t.Fatalf("parseRefChange(%q) = %+v: field %q", line, ch, w)
			}
		}
		enc, err := (&changesWatch{w: oneChange{ch}}).Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseRefChange(enc)
		if err != nil || again != ch {
			t.Fatalf("parseRefChange(%q) = %+v, but the server writes it as %q, which parses to %+v, %v", line, ch, enc, again, err)
		}
	})
}

// FuzzParseHeadLine reads a head file as the client does: blank is no
// head; else an id, which the server's encoding writes back.
func FuzzParseHeadLine(f *testing.F) {
	for _, s := range []string{
		"", "\n", fuzzID1 + "\n", fuzzID1, "  " + strings.ToUpper(fuzzID2) + " \r\n", fuzzZero + "\n",
		fuzzID1[:39] + "\n", fuzzID1 + "0\n", fuzzID1 + "\n" + fuzzID2 + "\n", "ref: refs/heads/master\n", "g" + fuzzID1[1:],
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := strings.TrimSpace(string(data))
		id, err := parseHeadLine(s)
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) || err.Error() == "" {
				t.Fatalf("parseHeadLine(%q) = %v, want an ErrInvalid error", s, err)
			}
			if !id.IsZero() {
				t.Fatalf("parseHeadLine(%q) = %v with error %v", s, id, err)
			}
			return
		}
		if s == "" && !id.IsZero() || s != "" && hexOf(id) != strings.ToLower(s) {
			t.Fatalf("parseHeadLine(%q) = %s", s, hexOf(id))
		}
		enc := id.String() + "\n" // as branch/<b>/head
		if again, err := parseHeadLine(strings.TrimSpace(enc)); err != nil || again != id {
			t.Fatalf("parseHeadLine(%q) = %s, but the server writes it as %q, which parses to %s, %v", s, hexOf(id), enc, hexOf(again), err)
		}
	})
}

// FuzzParseParents reads a parents file as a client may write it: one id
// a line, blank lines and spaces around ids ignored.
func FuzzParseParents(f *testing.F) {
	for _, s := range []string{
		"", "\n", fuzzID1 + "\n", fuzzID1 + "\n" + fuzzID2 + "\n", "\n  " + fuzzID1 + " \r\n\t\n" + strings.ToUpper(fuzzID2),
		fuzzZero + "\n", fuzzID1 + " " + fuzzID2 + "\n", fuzzID1[:39] + "\n", "x\n", fuzzID1 + "\n\x00\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids, err := parseParents(text)
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) || err.Error() == "" {
				t.Fatalf("parseParents(%q) = %v, want an ErrInvalid error", text, err)
			}
			return
		}
		var want []string
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				want = append(want, strings.ToLower(l))
			}
		}
		var got []string
		for _, id := range ids {
			got = append(got, hexOf(id))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("parseParents(%q) = %q, want %q", text, got, want)
		}
		// As the server writes the file at the start of a transaction.
		// The zero id, accepted here, is refused by SetParents.
		if slices.ContainsFunc(ids, dkstore.CommitID.IsZero) {
			return
		}
		var b strings.Builder
		for _, p := range ids {
			b.WriteString(p.String() + "\n")
		}
		if again, err := parseParents(b.String()); err != nil || !slices.Equal(again, ids) {
			t.Fatalf("parseParents(%q) = %q, but written as %q it parses to %v, %v", text, got, b.String(), again, err)
		}
	})
}

// FuzzParseAddr: an address parses to tcp or unix and a non-empty address,
// which parses to itself when written as a URL; errors quote the input.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"tcp://localhost:5640", "tcp://localhost", "tcp://127.0.0.1:564", "tcp://[::1]:564", "tcp://[::1]", "tcp://::1",
		"tcp://:5640", "tcp://host:", "tcp://host/path",
		"tcp://a[b", // once gave "a[b:5640", which is not HOST:PORT
		"unix:///run/datakit.sock", "unix://rel/x.sock",
		"localhost:5640", ":5640", "[::1]:1", "localhost", "/run/x.sock", "", "tcp://", "unix://", "http://x:1", "://",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, url string) {
		network, addr, err := ParseAddr(url)
		if err != nil {
			if network != "" || addr != "" {
				t.Fatalf("ParseAddr(%q) = %q, %q with error %v", url, network, addr, err)
			}
			if url != "" && !strings.Contains(err.Error(), strconv.Quote(url)) || err.Error() == "" {
				t.Fatalf("ParseAddr(%q) error %q does not quote the address", url, err)
			}
			return
		}
		switch {
		case addr == "":
			t.Fatalf("ParseAddr(%q) = %q, %q: empty address", url, network, addr)
		case network == "unix":
			if addr != strings.TrimPrefix(url, "unix://") || !strings.HasPrefix(url, "unix://") {
				t.Fatalf("ParseAddr(%q) = %q, %q", url, network, addr)
			}
		case network == "tcp":
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("ParseAddr(%q) = %q, %q, which is not HOST:PORT: %v", url, network, addr, err)
			}
			if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 || strings.Contains(host, "/") {
				t.Fatalf("ParseAddr(%q) = %q, %q: not a host and port number", url, network, addr)
			}
		default:
			t.Fatalf("ParseAddr(%q) = %q, %q: unknown network", url, network, addr)
		}
		n2, a2, err := ParseAddr(network + "://" + addr)
		if err != nil || n2 != network || a2 != addr {
			t.Fatalf("ParseAddr(%q) = %q, %q, but ParseAddr(%q) = %q, %q, %v", url, network, addr, network+"://"+addr, n2, a2, err)
		}
	})
}

func TestParseAddr(t *testing.T) {
	for _, c := range []struct{ in, network, addr string }{
		{"tcp://localhost", "tcp", "localhost:5640"},
		{"tcp://127.0.0.1:564", "tcp", "127.0.0.1:564"},
		{"tcp://[::1]", "tcp", "[::1]:5640"},
		{"tcp://:5640", "tcp", ":5640"},
		{"localhost:1", "tcp", "localhost:1"},
		{"unix:///run/x.sock", "unix", "/run/x.sock"},
		{"tcp://host:", "", ""},
		{"tcp://host:port", "", ""},
		{"tcp://host:70000", "", ""},
		{"tcp://host/path", "", ""},
		{"tcp://a:b:c", "", ""},
		{"host:http", "", ""},
	} {
		network, addr, err := ParseAddr(c.in)
		if network != c.network || addr != c.addr || (err != nil) != (c.network == "") {
			t.Errorf("ParseAddr(%q) = %q, %q, %v; want %q, %q", c.in, network, addr, err, c.network, c.addr)
		}
	}
}
