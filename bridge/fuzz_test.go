package bridge_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

func FuzzLocate(f *testing.F) {
	for _, s := range []string{"u/r/pr/7/head", "u/r/ref/heads/a/b/head", "u/r/commit/abc/status/ci/datakit/x/state",
		"u/r/.monitor", "README.md", "u/r/commit/abc/status/default/state", "u/r/ref/head", "a//b", "u/r/pr/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, ok := bridge.Locate(dkstore.Path(s))
		if !ok {
			return
		}
		if loc.Repo.Valid() != nil {
			t.Errorf("Locate(%q) gave invalid repo %v", s, loc.Repo)
		}
		if !dkstore.Path(s).HasPrefix(loc.Repo.Path()) {
			t.Errorf("Locate(%q) gave repo %v, not a prefix", s, loc.Repo)
		}
		switch loc.Kind {
		case bridge.KindPR:
			if !dkstore.Path(s).HasPrefix(bridge.PRPath(loc.Repo, loc.PR)) {
				t.Errorf("Locate(%q) = PR %d, not a prefix", s, loc.PR)
			}
		case bridge.KindRef:
			if !bridge.ValidRefName(loc.Ref) || !dkstore.Path(s).HasPrefix(bridge.RefPath(loc.Repo, loc.Ref)) {
				t.Errorf("Locate(%q) = ref %q", s, loc.Ref)
			}
		case bridge.KindStatus:
			if !dkstore.Path(s).HasPrefix(bridge.StatusPath(loc.Repo, loc.Commit, loc.Context)) {
				t.Errorf("Locate(%q) = status %q %q, not a prefix", s, loc.Commit, loc.Context)
			}
		}
	})
}

func FuzzParseRepo(f *testing.F) {
	for _, s := range []string{"u/r", " a.b/c-d ", "a/b/c", "../x", "a/", "é/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := bridge.ParseRepo(s)
		if err != nil {
			return
		}
		again, err := bridge.ParseRepo(r.String())
		if err != nil || again != r {
			t.Errorf("ParseRepo(%q) = %v, but ParseRepo(%q) = %v, %v", s, r, r.String(), again, err)
		}
		if err := r.Path().Valid(); err != nil {
			t.Errorf("ParseRepo(%q).Path() invalid: %v", s, err)
		}
	})
}

// FuzzRead reads arbitrary trees: the readers never panic, and what they
// read can be written back and read again unchanged.
func FuzzRead(f *testing.F) {
	f.Add("u/r/.monitor=\nu/r/pr/1/head=abc\nu/r/pr/1/state=open\nu/r/pr/1/owner=o\nu/r/pr/1/comments/0/id=1")
	f.Add("u/r/ref/heads/a/head=abc\nu/r/ref/heads/a/b/head=def\nu/r/commit/abc/status/x/state=success\nu/r/commit/abc/status/x/y/state=bad")
	f.Add("u/r/commit/abc/status/default/state=error\nu/r/commit/abc/status/default/description= d \nu/r/pr=file")
	f.Fuzz(func(t *testing.T, spec string) {
		ctx := context.Background()
		s := dkstore.NewMemory(dkstore.Options{})
		defer s.Close()
		b, _ := s.Branch(bridge.DefaultBranch)
		tx, err := b.Transaction(ctx, dkstore.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Abort(ctx)
		for _, line := range strings.Split(spec, "\n") {
			p, data, _ := strings.Cut(line, "=")
			tx.WriteFile(ctx, dkstore.Path(p), []byte(data), dkstore.KindFile) // invalid ones fail
		}
		repos, err := bridge.Monitored(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, bridge.Repo{User: "u", Name: "r"})
		for _, repo := range repos {
			prs, err := bridge.ReadPRs(ctx, tx, repo)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := bridge.ReadRefs(ctx, tx, repo)
			if err != nil {
				t.Fatal(err)
			}
			commits, _ := tx.ReadDir(ctx, repo.Path().Join("commit"))
			var sts []bridge.Status
			for _, c := range commits {
				st, err := bridge.ReadStatuses(ctx, tx, repo, c.Name)
				if err != nil {
					t.Fatal(err)
				}
				sts = append(sts, st...)
			}

			// Write it all back into an empty store and read it again.
			s2 := dkstore.NewMemory(dkstore.Options{})
			defer s2.Close()
			b2, _ := s2.Branch(bridge.DefaultBranch)
			tx2, err := b2.Transaction(ctx, dkstore.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer tx2.Abort(ctx)
			for _, pr := range prs {
				if err := bridge.WritePR(ctx, tx2, pr); err != nil {
					t.Fatalf("WritePR(%+v) of a PR read: %v", pr, err)
				}
			}
			for _, ref := range refs {
				if err := bridge.WriteRef(ctx, tx2, ref); err != nil {
					t.Fatalf("WriteRef(%+v) of a ref read: %v", ref, err)
				}
			}
			for _, st := range sts {
				if err := bridge.WriteStatus(ctx, tx2, st); err != nil {
					t.Fatalf("WriteStatus(%+v) of a status read: %v", st, err)
				}
			}
			prs2, _ := bridge.ReadPRs(ctx, tx2, repo)
			refs2, _ := bridge.ReadRefs(ctx, tx2, repo)
			if !reflect.DeepEqual(prs, prs2) || !reflect.DeepEqual(refs, refs2) {
				t.Errorf("read back %+v %+v\nwant %+v %+v", prs2, refs2, prs, refs)
			}
			var sts2 []bridge.Status
			for _, c := range commits {
				st, _ := bridge.ReadStatuses(ctx, tx2, repo, c.Name)
				sts2 = append(sts2, st...)
			}
			if !reflect.DeepEqual(sts, sts2) {
				t.Errorf("statuses read back %+v\nwant %+v", sts2, sts)
			}
		}
	})
}
