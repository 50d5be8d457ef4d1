package dkstore_test

// Fetch from repositories made with git and served the four ways a user
// names them: a local path, a file:// URL, git:// (git daemon) and
// http:// (git's smart HTTP protocol through git http-backend).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
)

// remoteTransports are the ways to reach the repositories below root: each
// returns the URL of root/name.
var remoteTransports = []struct {
	name  string
	serve func(t *testing.T, root string) func(name string) string
}{
	{"path", func(t *testing.T, root string) func(string) string {
		return func(name string) string { return filepath.Join(root, name) }
	}},
	{"file URL", func(t *testing.T, root string) func(string) string {
		return func(name string) string { return "file://" + filepath.ToSlash(filepath.Join(root, name)) }
	}},
	{"git daemon", func(t *testing.T, root string) func(string) string {
		base := gitfixture.Daemon(t, root, false)
		return func(name string) string { return base + "/" + name }
	}},
	{"smart HTTP", func(t *testing.T, root string) func(string) string {
		base := gitfixture.HTTP(t, root, false)
		return func(name string) string { return base + "/" + name }
	}},
}

// remoteStores are the stores Fetch is tested on.
var remoteStores = []struct {
	name string
	open func(t *testing.T) *dkstore.GitStore
}{
	{"disk", func(t *testing.T) *dkstore.GitStore {
		s, err := dkstore.Open(t.TempDir(), dkstore.Options{})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"memory", func(t *testing.T) *dkstore.GitStore {
		s := dkstore.NewMemory(dkstore.Options{})
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// remoteCommit commits files to branch b of s and returns the new head.
func remoteCommit(t *testing.T, s dkstore.Store, b dkstore.BranchName, files map[dkstore.Path]string) dkstore.CommitID {
	t.Helper()
	ctx := t.Context()
	br, err := s.Branch(b)
	if err != nil {
		t.Fatalf("Branch(%q) = %v", b, err)
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatalf("Transaction(%s) = %v", b, err)
	}
	for p, data := range files {
		if err := tx.WriteFile(ctx, p, []byte(data), dkstore.KindFile); err != nil {
			t.Fatalf("WriteFile(%s) = %v", p, err)
		}
	}
	id, err := tx.Commit(ctx, "commit to "+string(b))
	if err != nil {
		t.Fatalf("Commit() on %s = %v", b, err)
	}
	return id
}

// remoteHeads returns every branch of s with its head.
func remoteHeads(t *testing.T, s dkstore.Store) map[dkstore.BranchName]dkstore.CommitID {
	t.Helper()
	bs, err := s.Branches(t.Context())
	if err != nil {
		t.Fatalf("Branches() = %v", err)
	}
	out := map[dkstore.BranchName]dkstore.CommitID{}
	for _, b := range bs {
		br, err := s.Branch(b)
		if err != nil {
			t.Fatal(err)
		}
		if out[b], err = br.Head(t.Context()); err != nil {
			t.Fatalf("Head(%s) = %v", b, err)
		}
	}
	return out
}

// remoteCheckTree checks that commit id's tree, read through Tree, holds
// files.
func remoteCheckTree(t *testing.T, s dkstore.Store, id dkstore.CommitID, files map[dkstore.Path]string) {
	t.Helper()
	ctx := t.Context()
	c, err := s.Commit(ctx, id)
	if err != nil {
		t.Fatalf("Commit(%s) = %v", id, err)
	}
	tree, err := s.Tree(ctx, c.Tree)
	if err != nil {
		t.Fatalf("Tree(%s) = %v", c.Tree, err)
	}
	for p, want := range files {
		got, err := tree.ReadFile(ctx, p)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) in fetched tree = %q, %v, want %q", p, got, err, want)
		}
	}
}

// remoteWantCannotFetch checks that err is a "cannot fetch" ErrNotExist.
func remoteWantCannotFetch(t *testing.T, call string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s = nil error, want one", call)
	case !errors.Is(err, dkstore.ErrNotExist):
		t.Errorf("%s = %v, want an ErrNotExist error", call, err)
	case !strings.HasPrefix(dkstore.Reason(err), "cannot fetch "):
		t.Errorf("Reason(%s) = %q, want it to start with %q", call, dkstore.Reason(err), "cannot fetch ")
	}
}

func TestFetch(t *testing.T) {
	gitfixture.Need(t)
	for _, tr := range remoteTransports {
		for _, st := range remoteStores {
			t.Run(tr.name+"/"+st.name, func(t *testing.T) {
				ctx := t.Context()
				root := t.TempDir()
				up := gitfixture.NewRepo(t, filepath.Join(root, "up"))
				master := up.Commit("initial", map[string]string{"foo": "foo\n", "x/y": "bar\n"})
				up.Git("checkout", "-q", "-b", "other")
				other := up.Commit("other", map[string]string{"other": "other\n"})
				up.Git("checkout", "-q", "master")
				url := tr.serve(t, root)("up")

				s := st.open(t)
				remoteCommit(t, s, "master", map[dkstore.Path]string{"local": "local\n"})
				before := remoteHeads(t, s)

				id, err := s.Fetch(ctx, url, "master")
				if err != nil {
					t.Fatalf("Fetch(%q, master) = %v", url, err)
				}
				if id.String() != master {
					t.Fatalf("Fetch(%q, master) = %s, want %s (git rev-parse master)", url, id, master)
				}
				remoteCheckTree(t, s, id, map[dkstore.Path]string{"foo": "foo\n", "x/y": "bar\n"})

				id, err = s.Fetch(ctx, url+"#other", "")
				if err != nil || id.String() != other {
					t.Fatalf("Fetch(%q, \"\") = %s, %v, want %s", url+"#other", id, err, other)
				}
				remoteCheckTree(t, s, id, map[dkstore.Path]string{"foo": "foo\n", "other": "other\n"})

				_, err = s.Fetch(ctx, url, "no-such-branch")
				remoteWantCannotFetch(t, fmt.Sprintf("Fetch(%q, no-such-branch)", url), err)
				_, err = s.Fetch(ctx, url+"#no-such-branch", "")
				remoteWantCannotFetch(t, fmt.Sprintf("Fetch(%q, \"\")", url+"#no-such-branch"), err)

				// A new upstream commit is fetched by the next fetch.
				next := up.Commit("second", map[string]string{"foo": "foo 2\n"})
				id, err = s.Fetch(ctx, url, "master")
				if err != nil || id.String() != next {
					t.Fatalf("Fetch(%q, master) after a new upstream commit = %s, %v, want %s", url, id, err, next)
				}
				remoteCheckTree(t, s, id, map[dkstore.Path]string{"foo": "foo 2\n", "x/y": "bar\n"})
				c, err := s.Commit(ctx, id)
				if err != nil || len(c.Parents) != 1 || c.Parents[0].String() != master {
					t.Errorf("Commit(%s) = parents %v, %v, want [%s]", id, c.Parents, err, master)
				}

				// No local branch moved, none appeared.
				if after := remoteHeads(t, s); !equalHeads(before, after) {
					t.Errorf("branches after fetches = %v, want them unchanged at %v", after, before)
				}
			})
		}
	}
}

func equalHeads(a, b map[dkstore.BranchName]dkstore.CommitID) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestFetchErrors(t *testing.T) {
	gitfixture.Need(t)
	root := t.TempDir()
	up := gitfixture.NewRepo(t, filepath.Join(root, "up"))
	up.Commit("initial", map[string]string{"foo": "foo\n"})
	daemon := gitfixture.Daemon(t, root, false)
	web := gitfixture.HTTP(t, root, false)
	closed := fmt.Sprintf("127.0.0.1:%d", gitfixture.FreePort(t))
	missing := filepath.Join(root, "missing")

	for _, st := range remoteStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := t.Context()
			s := st.open(t)
			for _, url := range []string{
				missing,
				"file://" + filepath.ToSlash(missing),
				daemon + "/missing",
				web + "/missing",
				"git://" + closed + "/up",
				"http://" + closed + "/up",
			} {
				_, err := s.Fetch(ctx, url, "master")
				remoteWantCannotFetch(t, fmt.Sprintf("Fetch(%q, master)", url), err)
				if err != nil && !strings.Contains(err.Error(), url) {
					t.Errorf("Fetch(%q, master) = %v, want the error to name the URL", url, err)
				}
			}
			for _, c := range []struct{ url, branch, reason string }{
				{"", "master", "remote url is not defined"},
				{"#master", "", "remote url is not defined"},
				{filepath.Join(root, "up"), "", "no head to fetch"},
				{filepath.Join(root, "up"), "bad..name", "invalid branch"},
			} {
				_, err := s.Fetch(ctx, c.url, c.branch)
				if !errors.Is(err, dkstore.ErrInvalid) || !strings.HasPrefix(dkstore.Reason(err), c.reason) {
					t.Errorf("Fetch(%q, %q) = %v, want an ErrInvalid error %q", c.url, c.branch, err, c.reason)
				}
			}
			if bs, err := s.Branches(ctx); err != nil || len(bs) != 0 {
				t.Errorf("Branches() after failed fetches = %v, %v, want none", bs, err)
			}
		})
	}
}

// TestFetchHangingRemote checks that a remote that never answers holds up
// neither the rest of the store nor, once ctx is done, the caller.
func TestFetchHangingRemote(t *testing.T) {
	gitfixture.Need(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // accepted, never answered
		}
	}()
	stall := make(chan struct{})
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stall:
		}
	}))
	defer web.Close()
	defer close(stall)

	for _, st := range remoteStores {
		for _, url := range []string{"git://" + l.Addr().String() + "/up", web.URL + "/up"} {
			t.Run(st.name+"/"+strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
				s := st.open(t)
				head := remoteCommit(t, s, "master", map[dkstore.Path]string{"a": "a\n"})
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() {
					_, err := s.Fetch(ctx, url, "master")
					done <- err
				}()
				time.Sleep(200 * time.Millisecond) // let the fetch reach the remote
				select {
				case err := <-done:
					t.Fatalf("Fetch(%q, master) = %v before the remote answered", url, err)
				default:
				}
				store := make(chan struct{})
				if st.name == "disk" {
					// Reads and commits go on while the fetch waits.
					go func() {
						defer close(store)
						if _, err := s.Commit(ctx, head); err != nil {
							t.Errorf("Commit(%s) during a fetch = %v", head, err)
						}
						br, _ := s.Branch("master")
						tx, err := br.Transaction(ctx, dkstore.TxOptions{})
						if err == nil {
							err = tx.WriteFile(ctx, "b", []byte("b\n"), dkstore.KindFile)
						}
						if err == nil {
							_, err = tx.Commit(ctx, "during a fetch")
						}
						if err != nil {
							t.Errorf("committing during a fetch: %v", err)
						}
					}()
					select {
					case <-store:
					case <-time.After(5 * time.Second):
						t.Errorf("the store is blocked while a fetch waits for %s", url)
					}
				}
				cancel()
				if st.name == "disk" {
					<-store
				}
				select {
				case err := <-done:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Fetch(%q, master) after cancel = %v, want context.Canceled", url, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("Fetch(%q, master) still running 10s after its context was cancelled", url)
				}
			})
		}
	}
}
