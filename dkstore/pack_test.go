package dkstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/storage/memory"
)

func packGit(t *testing.T, gitdir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	cmd := exec.Command("git", append([]string{"--git-dir", gitdir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func packCommit(t *testing.T, s *GitStore, n int) CommitID {
	t.Helper()
	ctx := context.Background()
	b, _ := s.Branch("master")
	tx, err := b.Transaction(ctx, TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.WriteFile(ctx, Path(fmt.Sprintf("d%d/f%d", n%3, n%7)), fmt.Appendf(nil, "%d\n", n), KindFile); err != nil {
		t.Fatal(err)
	}
	id, err := tx.Commit(ctx, fmt.Sprint("commit ", n))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func looseCount(t *testing.T, objects string) int {
	t.Helper()
	n := 0
	dirs, _ := filepath.Glob(filepath.Join(objects, "[0-9a-f][0-9a-f]"))
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		n += len(ents)
	}
	return n
}

func packCount(t *testing.T, objects string) int {
	t.Helper()
	idx, _ := filepath.Glob(filepath.Join(objects, "pack", "*.idx"))
	return len(idx)
}

// TestPackerRecycles checks the whole cycle: commits written loose, packed
// (git reads the packs, git fsck --strict is clean), their files recycled
// for new objects and refs, packs merged so that few remain, and every
// commit readable by git as soon as Commit returns.
func TestPackerRecycles(t *testing.T) {
	if !canRecycle {
		t.Skip("no file recycling on this system")
	}
	dir := t.TempDir()
	gitdir := filepath.Join(dir, ".git")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.objs.spares.owned.Load() {
		t.Fatal("the only store open does not own the spare pool")
	}
	var ids []CommitID
	for i := range 40 {
		ids = append(ids, packCommit(t, s, i))
	}
	if err := s.objs.packer.run(); err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(gitdir, "objects")
	if n := looseCount(t, objects); n != 0 {
		t.Errorf("%d loose objects left after packing", n)
	}
	if s.objs.spares.count() == 0 {
		t.Error("packing put no files in the spare pool")
	}
	packGit(t, gitdir, "fsck", "--strict", "--no-dangling")
	time.Sleep(spareQuarantine + 50*time.Millisecond)
	reused0 := s.objs.spares.reused.Load()
	for round := range 6 {
		for i := range 10 {
			id := packCommit(t, s, 100+10*round+i)
			ids = append(ids, id)
			// At once: git sees the branch at the commit, and can read it.
			if got := packGit(t, gitdir, "rev-parse", "master"); got != id.String() {
				t.Fatalf("git rev-parse master = %s just after commit %s", got, id)
			}
			packGit(t, gitdir, "cat-file", "-p", id.String()+"^{tree}")
		}
		if err := s.objs.packer.run(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(spareQuarantine + 50*time.Millisecond)
	}
	if s.objs.spares.reused.Load() == reused0 {
		t.Error("no spare file was reused")
	}
	if n := packCount(t, objects); n > 4 {
		t.Errorf("%d packs after 7 packings: they are not merged", n)
	}
	packGit(t, gitdir, "fsck", "--strict", "--no-dangling")
	all := packGit(t, gitdir, "rev-list", "master")
	for _, id := range ids {
		if !strings.Contains(all, id.String()) {
			t.Errorf("commit %s is not on master", id)
		}
	}
	// Another store (another owner, after this one) reads everything.
	s.Close()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, id := range ids {
		c, err := s2.Commit(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Tree(context.Background(), c.Tree); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSpareInUse checks that a spare file is not rewritten while another
// file has it open, nor when it has another link.
func TestSpareInUse(t *testing.T) {
	if !canRecycle {
		t.Skip("no file recycling on this system")
	}
	gitdir := t.TempDir()
	p := newSpares(gitdir)
	if !p.tryOwn() {
		t.Fatal("cannot own a new pool")
	}
	defer p.close()
	// The pool is owned once: a second pool on the same directory is not.
	if q := newSpares(gitdir); q.tryOwn() {
		t.Fatal("two owners of one pool")
	}
	old := filepath.Join(gitdir, "old")
	if err := os.WriteFile(old, []byte("old content"), 0o444); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.retire(old); err != nil {
		t.Fatal(err)
	}
	if got := p.fill([]byte("new"), 0o444); got != "" {
		t.Fatalf("a spare in quarantine was used: %s", got)
	}
	time.Sleep(spareQuarantine + 50*time.Millisecond)
	if got := p.fill([]byte("new"), 0o444); got != "" {
		t.Fatalf("a spare open elsewhere was used: %s", got)
	}
	buf := make([]byte, 100)
	n, _ := reader.ReadAt(buf, 0)
	if string(buf[:n]) != "old content" {
		t.Fatalf("the reader reads %q", buf[:n])
	}
	reader.Close()
	time.Sleep(spareQuarantine + 50*time.Millisecond)
	got := p.fill([]byte("new"), 0o644)
	if got == "" {
		t.Fatal("a free spare was not used")
	}
	if data, err := os.ReadFile(got); err != nil || string(data) != "new" {
		t.Fatalf("the spare holds %q, %v", data, err)
	}
	// A spare with another link (a hard link made by git clone --local)
	// is dropped, not rewritten.
	if err := os.Link(got, filepath.Join(gitdir, "clone")); err != nil {
		t.Fatal(err)
	}
	if err := p.retire(got); err != nil {
		t.Fatal(err)
	}
	time.Sleep(spareQuarantine + 50*time.Millisecond)
	if again := p.fill([]byte("other"), 0o644); again != "" {
		t.Fatalf("a spare linked elsewhere was used: %s", again)
	}
	if data, _ := os.ReadFile(filepath.Join(gitdir, "clone")); string(data) != "new" {
		t.Fatalf("the other link holds %q", data)
	}
}

// TestWrittenCommitAsRead checks that the commit cached when written is
// the commit read back from the repository.
func TestWrittenCommitAsRead(t *testing.T) {
	for _, when := range []time.Time{
		time.Unix(1700000000, 0).UTC(),
		time.Unix(1700000000, 500).In(time.FixedZone("CET", 3600)),
		time.Unix(1700000000, 0).In(time.FixedZone("", -(5*3600 + 30*60))),
	} {
		o := newObjects(memory.NewStorage())
		sig := Signature{Name: AuthorName, Email: AuthorEmail, When: when}
		for _, parents := range [][]CommitID{nil, {CommitID(EmptyTree)}, {CommitID(EmptyTree), CommitID(objectHash("blob", nil))}} {
			id, err := o.writeCommit(EmptyTree, parents, sig, sig, "line\n\nmore\n")
			if err != nil {
				t.Fatal(err)
			}
			cached := *o.commits[id]
			clear(o.commits)
			read, err := o.commit(id)
			if err != nil {
				t.Fatal(err)
			}
			same := func(a, b Signature) bool {
				an, ao := a.When.Zone()
				bn, bo := b.When.Zone()
				return a.Name == b.Name && a.Email == b.Email && a.When.Equal(b.When) && an == bn && ao == bo &&
					a.When.Nanosecond() == b.When.Nanosecond()
			}
			if cached.ID != read.ID || cached.Tree != read.Tree || !slices.Equal(cached.Parents, read.Parents) ||
				(cached.Parents == nil) != (read.Parents == nil) || cached.Message != read.Message ||
				!same(cached.Author, read.Author) || !same(cached.Committer, read.Committer) {
				t.Errorf("written: %+v\nread:    %+v", cached, *read)
			}
		}
	}
}

// TestGitReadsWhilePacking runs git commands on the repository while the
// store commits, packs often and recycles files: every commit git finds on
// the branch must be readable whole, and git fsck --strict clean after.
func TestGitReadsWhilePacking(t *testing.T) {
	if !canRecycle {
		t.Skip("no file recycling on this system")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	defer func(b int, i time.Duration) { packBatch, packInterval = b, i }(packBatch, packInterval)
	packBatch, packInterval = 8, 20*time.Millisecond
	dir := t.TempDir()
	gitdir := filepath.Join(dir, ".git")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	packCommit(t, s, 0)
	list := filepath.Join(t.TempDir(), "objects")
	done := make(chan struct{})
	errs := make(chan error, 1)
	reads := 0
	go func() {
		defer close(errs)
		for {
			select {
			case <-done:
				return
			default:
			}
			// The whole tree of the head, every blob's content included.
			// cat-file prints "<id> missing" for an object it cannot find.
			cmd := exec.Command("sh", "-c", "git --git-dir '"+gitdir+"' rev-list --objects -n 3 master >"+list+" && "+
				"cut -d' ' -f1 <"+list+" | git --git-dir '"+gitdir+"' cat-file --batch | grep -a ' missing$'; "+
				"test -s "+list)
			if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
				errs <- fmt.Errorf("git read: %v: %s", err, out)
				return
			}
			reads++
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for n := 1; time.Now().Before(deadline); n++ {
		packCommit(t, s, n)
	}
	close(done)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if s.objs.spares.reused.Load() == 0 {
		t.Error("no file was recycled: the test tests nothing")
	}
	t.Logf("%d reads by git; %d files recycled, %d created", reads, s.objs.spares.reused.Load(), s.objs.spares.missed.Load())
	// git fsck lists the packs first and checks them after: a pack merged
	// meanwhile is missing then (as with git gc running beside it).
	s.Close()
	packGit(t, gitdir, "fsck", "--strict", "--no-dangling")
}

// TestReadsWhilePacking reads, through the store, every file of each
// commit it makes while the packer packs every 8 objects, merges packs and
// recycles files: no read may fail (go-git's list of packs goes stale
// under it).
func TestReadsWhilePacking(t *testing.T) {
	if !canRecycle {
		t.Skip("no file recycling on this system")
	}
	defer func(b int, i time.Duration) { packBatch, packInterval = b, i }(packBatch, packInterval)
	packBatch, packInterval = 8, 10*time.Millisecond
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var ids []CommitID
	deadline := time.Now().Add(2 * time.Second)
	b, _ := s.Branch("master")
	for n := 0; time.Now().Before(deadline); n++ {
		ids = append(ids, packCommit(t, s, n))
		if n%10 == 0 {
			// Now and then a file go-git reads from its pack lazily (over
			// 16 KiB), and compressed in the pack (over 512 bytes).
			tx, err := b.Transaction(ctx, TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat(fmt.Appendf(nil, "%d ", n), 8<<10)
			if err := tx.WriteFile(ctx, Path(fmt.Sprintf("d0/big%d", n%3)), big, KindFile); err != nil {
				t.Fatal(err)
			}
			id, err := tx.Commit(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		// Read an older commit whole: its objects are being packed.
		id := ids[len(ids)/2]
		if n%2 == 0 {
			id = ids[len(ids)-1]
		}
		c, err := s.Commit(ctx, id)
		if err != nil {
			t.Fatalf("commit %d: %v", n, err)
		}
		tree, err := s.Tree(ctx, c.Tree)
		if err != nil {
			t.Fatalf("commit %d: %v", n, err)
		}
		for d := range 3 {
			ents, err := tree.ReadDir(ctx, Path(fmt.Sprintf("d%d", d)))
			if err != nil {
				continue // not made yet
			}
			for _, e := range ents {
				p := Path(fmt.Sprintf("d%d/%s", d, e.Name))
				if _, err := tree.ReadFile(ctx, p); err != nil {
					t.Fatalf("commit %d: read %s: %v", n, p, err)
				}
				if _, err := tree.Stat(ctx, p); err != nil {
					t.Fatalf("commit %d: stat %s: %v", n, p, err)
				}
			}
		}
		if n%50 == 0 {
			// Forget the decoded trees, so that they are read again.
			s.objs.mu.Lock()
			clear(s.objs.trees)
			clear(s.objs.commits)
			s.objs.mu.Unlock()
		}
	}
	t.Logf("%d commits read back", len(ids))
}
