package bridge_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
	sha3 = "3333333333333333333333333333333333333333"
)

var repo = bridge.Repo{User: "u", Name: "r"}

// tx starts a transaction on the metadata branch of s.
func tx(t *testing.T, s dkstore.Store) dkstore.Transaction {
	t.Helper()
	b, err := s.Branch(bridge.DefaultBranch)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := b.Transaction(context.Background(), dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Abort(context.Background()) })
	return tx
}

func commit(t *testing.T, tx dkstore.Transaction) dkstore.CommitID {
	t.Helper()
	id, err := tx.Commit(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// snapshot reads the head of the metadata branch.
func snapshot(t *testing.T, s dkstore.Store) dkstore.Reader {
	t.Helper()
	r, _, err := bridge.Snapshot(context.Background(), s, bridge.DefaultBranch)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withFiles returns a store whose metadata branch holds files.
func withFiles(t *testing.T, files map[string]string) dkstore.Store {
	t.Helper()
	s := dkstore.NewMemory(dkstore.Options{})
	t.Cleanup(func() { s.Close() })
	tx := tx(t, s)
	for p, data := range files {
		if err := tx.WriteFile(context.Background(), dkstore.Path(p), []byte(data), dkstore.KindFile); err != nil {
			t.Fatalf("WriteFile(%s): %v", p, err)
		}
	}
	commit(t, tx)
	return s
}

// files lists every file of r with its content.
func files(t *testing.T, r dkstore.Reader) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	var walk func(p dkstore.Path)
	walk = func(p dkstore.Path) {
		es, err := r.ReadDir(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			q := p.Join(e.Name)
			if e.Kind == dkstore.KindDir {
				walk(q)
				continue
			}
			data, err := r.ReadFile(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			out[string(q)] = string(data)
		}
	}
	walk(dkstore.Root)
	return out
}

func TestParseRepo(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bridge.Repo
		ok   bool
	}{
		{"docker/datakit", bridge.Repo{"docker", "datakit"}, true},
		{"  a.b_c-d/E.f \n", bridge.Repo{"a.b_c-d", "E.f"}, true},
		{"a / b", bridge.Repo{"a", "b"}, true},
		{"a", bridge.Repo{}, false},
		{"a/b/c", bridge.Repo{}, false},
		{"/b", bridge.Repo{}, false},
		{"a/", bridge.Repo{}, false},
		{"./b", bridge.Repo{}, false},
		{"a/..", bridge.Repo{}, false},
		{"a b/c", bridge.Repo{}, false},
		{"a/b:c", bridge.Repo{}, false},
		{"", bridge.Repo{}, false},
	} {
		got, err := bridge.ParseRepo(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRepo(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
		if err != nil {
			if !errors.Is(err, dkstore.ErrInvalid) {
				t.Errorf("ParseRepo(%q) error %v is not ErrInvalid", c.in, err)
			}
			if !strings.Contains(err.Error(), "invalid repository") {
				t.Errorf("ParseRepo(%q) error = %q, want it to say invalid repository", c.in, err)
			}
			if strings.HasSuffix(err.Error(), "invalid argument") {
				t.Errorf("ParseRepo(%q) error = %q ends in the kind's text, which says nothing to a user", c.in, err)
			}
		}
	}
	r := bridge.Repo{"u", "r"}
	if r.String() != "u/r" || r.Path() != "u/r" {
		t.Errorf("String, Path = %q, %q; want u/r", r.String(), r.Path())
	}
}

func TestPaths(t *testing.T) {
	for _, c := range []struct{ got, want dkstore.Path }{
		{bridge.MonitorPath(repo), "u/r/.monitor"},
		{bridge.DirtyPath(repo), "u/r/.dirty"},
		{bridge.PRPath(repo, 7), "u/r/pr/7"},
		{bridge.RefPath(repo, "heads/a/b"), "u/r/ref/heads/a/b"},
		{bridge.CommitPath(repo, sha1), "u/r/commit/" + sha1},
		{bridge.StatusPath(repo, sha1, "ci/datakit/test"), "u/r/commit/" + sha1 + "/status/ci/datakit/test"},
		{bridge.StatusPath(repo, sha1, ""), "u/r/commit/" + sha1 + "/status/default"},
	} {
		if c.got != c.want {
			t.Errorf("path = %q, want %q", c.got, c.want)
		}
	}
}

func TestRef(t *testing.T) {
	for _, c := range []struct {
		name        string
		branch, tag bool
		short       string
	}{
		{"heads/master", true, false, "master"},
		{"heads/feature/x", true, false, "feature/x"},
		{"tags/v1.0", false, true, "v1.0"},
		{"pull/1/head", false, false, "pull/1/head"},
	} {
		r := bridge.Ref{Name: c.name}
		if r.IsBranch() != c.branch || r.IsTag() != c.tag || r.Short() != c.short {
			t.Errorf("Ref %q: IsBranch, IsTag, Short = %v, %v, %q; want %v, %v, %q", c.name, r.IsBranch(), r.IsTag(), r.Short(), c.branch, c.tag, c.short)
		}
	}
}

func TestPRRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	pr7 := bridge.PR{Repo: repo, Number: 7, Head: sha1, State: "open", Title: "Add a thing", Owner: "alice", Base: "master",
		Comments: []bridge.Comment{{0, "alice", "body\nwith lines"}, {42, "bob", "LGTM"}, {43, "carol", ""}}}
	pr10 := bridge.PR{Repo: repo, Number: 10, Head: sha2, State: "closed", Owner: "bob", Base: "dev"}
	tx := tx(t, s)
	for _, pr := range []bridge.PR{pr10, pr7} {
		if err := bridge.WritePR(ctx, tx, pr); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, tx)

	r := snapshot(t, s)
	fs := files(t, r)
	for p, want := range map[string]string{
		"u/r/pr/7/head":            sha1 + "\n",
		"u/r/pr/7/state":           "open\n",
		"u/r/pr/7/title":           "Add a thing\n",
		"u/r/pr/7/owner":           "alice\n",
		"u/r/pr/7/base":            "master\n",
		"u/r/pr/7/comments/0/id":   "0\n",
		"u/r/pr/7/comments/0/user": "alice\n",
		"u/r/pr/7/comments/0/body": "body\nwith lines",
		"u/r/pr/7/comments/1/id":   "42\n",
		"u/r/pr/7/comments/2/body": "",
		"u/r/pr/10/state":          "closed\n",
		"u/r/pr/10/title":          "\n",
	} {
		if got, ok := fs[p]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", p, got, ok, want)
		}
	}
	got, err := bridge.ReadPRs(ctx, r, repo)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bridge.PR{pr7, pr10}; !reflect.DeepEqual(got, want) {
		t.Errorf("ReadPRs = %+v\nwant %+v", got, want)
	}
	one, ok, err := bridge.ReadPR(ctx, r, repo, 7)
	if err != nil || !ok || !reflect.DeepEqual(one, pr7) {
		t.Errorf("ReadPR(7) = %+v, %v, %v; want %+v", one, ok, err, pr7)
	}
	if _, ok, err := bridge.ReadPR(ctx, r, repo, 8); ok || err != nil {
		t.Errorf("ReadPR(8) = _, %v, %v; want false, nil", ok, err)
	}

	// Rewriting with fewer comments drops the stale ones; removing a PR.
	pr7.Comments = pr7.Comments[:1]
	pr7.State = "closed"
	tx = tx2(t, s)
	if err := bridge.WritePR(ctx, tx, pr7); err != nil {
		t.Fatal(err)
	}
	if err := bridge.RemovePR(ctx, tx, repo, 10); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	r = snapshot(t, s)
	got, err = bridge.ReadPRs(ctx, r, repo)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bridge.PR{pr7}; !reflect.DeepEqual(got, want) {
		t.Errorf("after update, ReadPRs = %+v\nwant %+v", got, want)
	}
	if _, ok := files(t, r)["u/r/pr/7/comments/1/id"]; ok {
		t.Errorf("stale comment 1 kept")
	}
}

// tx2 is tx for a second transaction in one test.
func tx2(t *testing.T, s dkstore.Store) dkstore.Transaction { t.Helper(); return tx(t, s) }

func TestWriteInvalid(t *testing.T) {
	ctx := context.Background()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	tx := tx(t, s)
	good := bridge.PR{Repo: repo, Number: 1, Head: sha1, State: "open", Owner: "o"}
	for name, err := range map[string]error{
		"PR no head":        bridge.WritePR(ctx, tx, func() bridge.PR { p := good; p.Head = ""; return p }()),
		"PR bad state":      bridge.WritePR(ctx, tx, func() bridge.PR { p := good; p.State = "merged"; return p }()),
		"PR no owner":       bridge.WritePR(ctx, tx, func() bridge.PR { p := good; p.Owner = ""; return p }()),
		"PR number 0":       bridge.WritePR(ctx, tx, func() bridge.PR { p := good; p.Number = 0; return p }()),
		"PR bad repo":       bridge.WritePR(ctx, tx, func() bridge.PR { p := good; p.Repo.User = ".."; return p }()),
		"ref bad name":      bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/a b", Head: sha1}),
		"ref empty comp":    bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads//a", Head: sha1}),
		"ref bad head":      bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/a", Head: "xyz"}),
		"status bad state":  bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: sha1, Context: "c", State: "ok"}),
		"status bad ctx":    bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: sha1, Context: "a//b", State: "success"}),
		"status ctx clash":  bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: sha1, Context: "a/state", State: "success"}),
		"status bad commit": bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: "HEAD", Context: "c", State: "success"}),
		"monitor bad repo":  bridge.SetMonitored(ctx, tx, bridge.Repo{User: "u"}),
	} {
		if !errors.Is(err, dkstore.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
	if ch, _ := tx.Changes(ctx); len(ch) != 0 {
		t.Errorf("invalid writes changed %v", ch)
	}
}

func TestRefRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	refs := []bridge.Ref{
		{Repo: repo, Name: "heads/master", Head: sha1},
		{Repo: repo, Name: "heads/feature/a/b", Head: sha2},
		{Repo: repo, Name: "tags/v1.0", Head: sha3},
	}
	tx := tx(t, s)
	for _, r := range refs {
		if err := bridge.WriteRef(ctx, tx, r); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, tx)
	r := snapshot(t, s)
	if got := files(t, r)["u/r/ref/heads/feature/a/b/head"]; got != sha2+"\n" {
		t.Errorf("head file = %q", got)
	}
	got, err := bridge.ReadRefs(ctx, r, repo)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]bridge.Ref(nil), refs...)
	sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadRefs = %+v\nwant %+v", got, want)
	}
	if one, ok, err := bridge.ReadRef(ctx, r, repo, "heads/feature/a/b"); !ok || err != nil || one != refs[1] {
		t.Errorf("ReadRef = %+v, %v, %v", one, ok, err)
	}
	if _, ok, err := bridge.ReadRef(ctx, r, repo, "heads/feature"); ok || err != nil {
		t.Errorf("ReadRef(heads/feature) = _, %v, %v; want false", ok, err)
	}

	tx = tx2(t, s)
	if err := bridge.RemoveRef(ctx, tx, repo, "heads/feature/a/b"); err != nil {
		t.Fatal(err)
	}
	if err := bridge.RemoveRef(ctx, tx, repo, "heads/never"); err != nil {
		t.Errorf("RemoveRef of a missing ref: %v", err)
	}
	commit(t, tx)
	r = snapshot(t, s)
	got, _ = bridge.ReadRefs(ctx, r, repo)
	if want := []bridge.Ref{refs[0], refs[2]}; !reflect.DeepEqual(got, want) {
		t.Errorf("after RemoveRef, ReadRefs = %+v\nwant %+v", got, want)
	}
	if _, err := r.Stat(ctx, "u/r/ref/heads/feature"); !errors.Is(err, dkstore.ErrNotExist) {
		t.Errorf("empty directory heads/feature left: %v", err)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	sts := []bridge.Status{
		{Repo: repo, Commit: sha1, Context: "", State: "pending"},
		{Repo: repo, Commit: sha1, Context: "ci/datakit/test", State: "success", Description: "passed", TargetURL: "http://ci/1"},
		{Repo: repo, Commit: sha1, Context: "foo", State: "failure", Description: "broke"},
		{Repo: repo, Commit: sha1, Context: "foo/bar/baz", State: "error"},
	}
	tx := tx(t, s)
	for _, st := range sts {
		if err := bridge.WriteStatus(ctx, tx, st); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, tx)
	r := snapshot(t, s)
	fs := files(t, r)
	base := "u/r/commit/" + sha1 + "/status/"
	for p, want := range map[string]string{
		base + "default/state":               "pending\n",
		base + "ci/datakit/test/state":       "success\n",
		base + "ci/datakit/test/description": "passed\n",
		base + "ci/datakit/test/target_url":  "http://ci/1\n",
		base + "foo/state":                   "failure\n",
		base + "foo/bar/baz/state":           "error\n",
	} {
		if got, ok := fs[p]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", p, got, ok, want)
		}
	}
	if _, ok := fs[base+"foo/target_url"]; ok {
		t.Errorf("empty target_url written")
	}
	got, err := bridge.ReadStatuses(ctx, r, repo, sha1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sts) {
		t.Errorf("ReadStatuses = %+v\nwant %+v", got, sts)
	}
	for _, st := range sts {
		one, ok, err := bridge.ReadStatus(ctx, r, repo, sha1, st.Context)
		if !ok || err != nil || one != st {
			t.Errorf("ReadStatus(%q) = %+v, %v, %v; want %+v", st.Context, one, ok, err, st)
		}
	}

	// An update touches only the files that change, and empties remove.
	tx = tx2(t, s)
	upd := sts[1]
	upd.Description, upd.TargetURL = "", ""
	if err := bridge.WriteStatus(ctx, tx, sts[2]); err != nil {
		t.Fatal(err)
	}
	if err := bridge.WriteStatus(ctx, tx, upd); err != nil {
		t.Fatal(err)
	}
	ch, err := tx.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []dkstore.Change{
		{Op: dkstore.Removed, Path: dkstore.Path(base + "ci/datakit/test/description")},
		{Op: dkstore.Removed, Path: dkstore.Path(base + "ci/datakit/test/target_url")},
	}
	if !reflect.DeepEqual(ch, want) {
		t.Errorf("Changes = %v, want %v", ch, want)
	}
	if err := bridge.RemoveStatus(ctx, tx, repo, sha1, "foo"); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	got, _ = bridge.ReadStatuses(ctx, snapshot(t, s), repo, sha1)
	if want := []bridge.Status{sts[0], upd, sts[3]}; !reflect.DeepEqual(got, want) {
		t.Errorf("after update, ReadStatuses = %+v\nwant %+v", got, want)
	}
}

func TestMonitored(t *testing.T) {
	ctx := context.Background()
	s := withFiles(t, map[string]string{
		"README.md":           "x",
		"b/z/.monitor":        "",
		"a/y/.monitor":        "anything",
		"a/x/.monitor":        "",
		"a/w/.dirty":          "",
		"a/v/.monitor/oops":   "", // a directory, not a file
		"bad name/r/.monitor": "",
		"c/r:x/.monitor":      "",
	})
	got, err := bridge.Monitored(ctx, snapshot(t, s))
	if err != nil {
		t.Fatal(err)
	}
	want := []bridge.Repo{{"a", "x"}, {"a", "y"}, {"b", "z"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Monitored = %v, want %v", got, want)
	}

	tx := tx2(t, s)
	if err := bridge.SetMonitored(ctx, tx, bridge.Repo{"c", "d"}); err != nil {
		t.Fatal(err)
	}
	if err := bridge.SetDirty(ctx, tx, bridge.Repo{"c", "d"}); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	fs := files(t, snapshot(t, s))
	if v, ok := fs["c/d/.monitor"]; !ok || v != "" {
		t.Errorf(".monitor = %q, %v", v, ok)
	}
	if v, ok := fs["c/d/.dirty"]; !ok || v != "" {
		t.Errorf(".dirty = %q, %v", v, ok)
	}
}

func TestLenientReading(t *testing.T) {
	ctx := context.Background()
	s := withFiles(t, map[string]string{
		// PR 1: values trimmed, upper-case head accepted.
		"u/r/pr/1/head":  "  " + strings.ToUpper(sha1) + "  \n\n",
		"u/r/pr/1/state": "open",
		"u/r/pr/1/owner": " alice\n",
		// PR 2 lacks an owner, 3 a state, 4 a head; 5 has a bad state,
		// 6 a head that is no SHA; "07" and "x" are not PR numbers.
		"u/r/pr/2/head": sha1, "u/r/pr/2/state": "open",
		"u/r/pr/3/head": sha1, "u/r/pr/3/owner": "o",
		"u/r/pr/4/state": "open", "u/r/pr/4/owner": "o",
		"u/r/pr/5/head": sha1, "u/r/pr/5/state": "merged", "u/r/pr/5/owner": "o",
		"u/r/pr/6/head": "master", "u/r/pr/6/state": "open", "u/r/pr/6/owner": "o",
		"u/r/pr/07/head": sha1, "u/r/pr/07/state": "open", "u/r/pr/07/owner": "o",
		"u/r/pr/x/head": sha1, "u/r/pr/x/state": "open", "u/r/pr/x/owner": "o",
		// PR 8: a comment with a bad id is skipped, one without user kept.
		"u/r/pr/8/head": sha2, "u/r/pr/8/state": "closed", "u/r/pr/8/owner": "o",
		"u/r/pr/8/comments/0/id": "zero", "u/r/pr/8/comments/1/id": "5", "u/r/pr/8/comments/1/body": " raw \n",
		"u/r/pr/8/comments/10/id": "6", "u/r/pr/8/comments/2/id": "7",
		// Refs: bad names and heads skipped.
		"u/r/ref/heads/ok/head":      sha3 + "\n",
		"u/r/ref/heads/b a d/head":   sha3,
		"u/r/ref/heads/nohead/x":     sha3,
		"u/r/ref/heads/garbage/head": "not a sha",
		"u/r/ref/head":               sha3, // no name
		// Statuses: bad state reads as failure.
		"u/r/commit/" + sha1 + "/status/a/state":       " success \n",
		"u/r/commit/" + sha1 + "/status/b/state":       "bogus",
		"u/r/commit/" + sha1 + "/status/b/description": "  why \n",
		"u/r/commit/" + sha1 + "/status/c/description": "no state",
		"u/r/commit/" + sha1 + "/status/default/state": "error",
	})
	r := snapshot(t, s)
	prs, err := bridge.ReadPRs(ctx, r, repo)
	if err != nil {
		t.Fatal(err)
	}
	want := []bridge.PR{
		{Repo: repo, Number: 1, Head: sha1, State: "open", Owner: "alice"},
		{Repo: repo, Number: 8, Head: sha2, State: "closed", Owner: "o",
			Comments: []bridge.Comment{{ID: 5, Body: " raw \n"}, {ID: 7}, {ID: 6}}},
	}
	if !reflect.DeepEqual(prs, want) {
		t.Errorf("ReadPRs = %+v\nwant %+v", prs, want)
	}
	refs, err := bridge.ReadRefs(ctx, r, repo)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bridge.Ref{{Repo: repo, Name: "heads/ok", Head: sha3}}; !reflect.DeepEqual(refs, want) {
		t.Errorf("ReadRefs = %+v\nwant %+v", refs, want)
	}
	sts, err := bridge.ReadStatuses(ctx, r, repo, sha1)
	if err != nil {
		t.Fatal(err)
	}
	wantSts := []bridge.Status{
		{Repo: repo, Commit: sha1, Context: "", State: "error"},
		{Repo: repo, Commit: sha1, Context: "a", State: "success"},
		{Repo: repo, Commit: sha1, Context: "b", State: "failure", Description: "why"},
	}
	if !reflect.DeepEqual(sts, wantSts) {
		t.Errorf("ReadStatuses = %+v\nwant %+v", sts, wantSts)
	}

	// Missing directories are empty results, not errors.
	other := bridge.Repo{"no", "such"}
	if prs, err := bridge.ReadPRs(ctx, r, other); prs != nil || err != nil {
		t.Errorf("ReadPRs(missing) = %v, %v", prs, err)
	}
	if refs, err := bridge.ReadRefs(ctx, r, other); refs != nil || err != nil {
		t.Errorf("ReadRefs(missing) = %v, %v", refs, err)
	}
	if sts, err := bridge.ReadStatuses(ctx, r, repo, sha3); sts != nil || err != nil {
		t.Errorf("ReadStatuses(missing) = %v, %v", sts, err)
	}
	empty, _, err := bridge.Snapshot(ctx, s, "no-such-branch")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := bridge.Monitored(ctx, empty); m != nil || err != nil {
		t.Errorf("Monitored(empty) = %v, %v", m, err)
	}
}

// Writing over garbage: a file where a directory belongs is replaced.
func TestWriteOverGarbage(t *testing.T) {
	ctx := context.Background()
	s := withFiles(t, map[string]string{
		"u/r/pr/1":                   "a file, not a directory",
		"u/r/ref/heads/x/head/inner": "a directory where head belongs",
	})
	tx := tx(t, s)
	pr := bridge.PR{Repo: repo, Number: 1, Head: sha1, State: "open", Owner: "o"}
	if err := bridge.WritePR(ctx, tx, pr); err != nil {
		t.Fatal(err)
	}
	ref := bridge.Ref{Repo: repo, Name: "heads/x", Head: sha2}
	if err := bridge.WriteRef(ctx, tx, ref); err != nil {
		t.Fatal(err)
	}
	commit(t, tx)
	r := snapshot(t, s)
	if got, ok, err := bridge.ReadPR(ctx, r, repo, 1); !ok || err != nil || !reflect.DeepEqual(got, pr) {
		t.Errorf("ReadPR = %+v, %v, %v", got, ok, err)
	}
	if got, ok, err := bridge.ReadRef(ctx, r, repo, "heads/x"); !ok || err != nil || got != ref {
		t.Errorf("ReadRef = %+v, %v, %v", got, ok, err)
	}
}

func TestInit(t *testing.T) {
	ctx := context.Background()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	if err := bridge.Init(ctx, s, bridge.DefaultBranch); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Branch(bridge.DefaultBranch)
	head, _ := b.Head(ctx)
	c, err := s.Commit(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if c.Message != "Initial commit" && c.Message != "Initial commit\n" {
		t.Errorf("message = %q", c.Message)
	}
	if fs := files(t, snapshot(t, s)); !reflect.DeepEqual(fs, map[string]string{"README.md": "### DataKit -- GitHub bridge\n"}) {
		t.Errorf("files = %v", fs)
	}
	if err := bridge.Init(ctx, s, bridge.DefaultBranch); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.Head(ctx); again != head {
		t.Errorf("second Init moved the head")
	}
}

func TestLocate(t *testing.T) {
	for _, c := range []struct {
		path string
		want bridge.Location
		ok   bool
	}{
		{"u/r/.monitor", bridge.Location{Kind: bridge.KindMonitor, Repo: repo}, true},
		{"u/r/.dirty", bridge.Location{Kind: bridge.KindDirty, Repo: repo}, true},
		{"u/r/pr/7/head", bridge.Location{Kind: bridge.KindPR, Repo: repo, PR: 7}, true},
		{"u/r/pr/7/comments/0/body", bridge.Location{Kind: bridge.KindPR, Repo: repo, PR: 7}, true},
		{"u/r/pr/7", bridge.Location{Kind: bridge.KindPR, Repo: repo, PR: 7}, true},
		{"u/r/pr/07/head", bridge.Location{}, false},
		{"u/r/pr/x/head", bridge.Location{}, false},
		{"u/r/pr", bridge.Location{Kind: bridge.KindOther, Repo: repo}, true},
		{"u/r/ref/heads/a/b/head", bridge.Location{Kind: bridge.KindRef, Repo: repo, Ref: "heads/a/b"}, true},
		{"u/r/ref/heads/a/b/.dirty", bridge.Location{Kind: bridge.KindRef, Repo: repo, Ref: "heads/a/b"}, true},
		{"u/r/ref/tags/v1", bridge.Location{Kind: bridge.KindRef, Repo: repo, Ref: "tags/v1"}, true},
		{"u/r/ref/heads/a b/head", bridge.Location{}, false},
		{"u/r/commit/abc/status/ci/datakit/x/state", bridge.Location{Kind: bridge.KindStatus, Repo: repo, Commit: "abc", Context: "ci/datakit/x"}, true},
		{"u/r/commit/abc/status/ci/description", bridge.Location{Kind: bridge.KindStatus, Repo: repo, Commit: "abc", Context: "ci"}, true},
		{"u/r/commit/abc/status/default/target_url", bridge.Location{Kind: bridge.KindStatus, Repo: repo, Commit: "abc", Context: ""}, true},
		{"u/r/commit/abc/status/foo", bridge.Location{Kind: bridge.KindStatus, Repo: repo, Commit: "abc", Context: "foo"}, true},
		{"u/r/commit/abc/status", bridge.Location{Kind: bridge.KindCommit, Repo: repo, Commit: "abc"}, true},
		{"u/r/commit/abc/other", bridge.Location{Kind: bridge.KindCommit, Repo: repo, Commit: "abc"}, true},
		{"u/r/commit/xyz/status/a/state", bridge.Location{}, false},
		{"u/r/something", bridge.Location{Kind: bridge.KindOther, Repo: repo}, true},
		{"u/r", bridge.Location{Kind: bridge.KindOther, Repo: repo}, true},
		{"README.md", bridge.Location{}, false},
		{"u", bridge.Location{}, false},
		{"", bridge.Location{}, false},
		{"u/r:x/pr/1/head", bridge.Location{}, false},
		{"u/../pr/1/head", bridge.Location{}, false},
	} {
		got, ok := bridge.Locate(dkstore.Path(c.path))
		if ok != c.ok || got != c.want {
			t.Errorf("Locate(%q) = %+v, %v; want %+v, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}

// Every path the writers make is located where it belongs.
func TestLocateWrittenPaths(t *testing.T) {
	ctx := context.Background()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	tx := tx(t, s)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(bridge.WritePR(ctx, tx, bridge.PR{Repo: repo, Number: 3, Head: sha1, State: "open", Owner: "o", Comments: []bridge.Comment{{1, "a", "b"}}}))
	must(bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/x/y", Head: sha1}))
	must(bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: sha1, Context: "a/b", State: "success", Description: "d", TargetURL: "u"}))
	must(bridge.SetMonitored(ctx, tx, repo))
	for p := range files(t, tx) {
		loc, ok := bridge.Locate(dkstore.Path(p))
		var want bridge.Location
		switch {
		case strings.HasPrefix(p, "u/r/pr/"):
			want = bridge.Location{Kind: bridge.KindPR, Repo: repo, PR: 3}
		case strings.HasPrefix(p, "u/r/ref/"):
			want = bridge.Location{Kind: bridge.KindRef, Repo: repo, Ref: "heads/x/y"}
		case strings.HasPrefix(p, "u/r/commit/"):
			want = bridge.Location{Kind: bridge.KindStatus, Repo: repo, Commit: sha1, Context: "a/b"}
		default:
			want = bridge.Location{Kind: bridge.KindMonitor, Repo: repo}
		}
		if !ok || loc != want {
			t.Errorf("Locate(%q) = %+v, %v; want %+v", p, loc, ok, want)
		}
	}
}
