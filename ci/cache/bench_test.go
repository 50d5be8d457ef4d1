package cache_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/process"
	"github.com/dkgo/datakit/dkstore"
)

// BenchmarkLogThroughput runs a step whose command prints 100,000 lines
// (seq) into its live log while the log is saved in chunks, and reports
// lines per second, against the same command writing to io.Discard, and
// the commits made on the result branch.
//
//	go test -run '^$' -bench LogThroughput -benchtime 5x ./ci/cache
func BenchmarkLogThroughput(b *testing.B) {
	const lines = 100000
	argv := []string{"seq", fmt.Sprint(lines)}
	var direct time.Duration
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		if err := process.Run(context.Background(), process.Cmd{Argv: argv}, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(t0)
	}
	direct /= 3
	var logged time.Duration
	var commits int
	for i := 0; i < b.N; i++ {
		f := newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
			return "ok", process.Run(ctx, process.Cmd{Argv: argv}, log, log)
		})
		c := cache.New[string, string](f, cache.Options{})
		h := citest.New(b, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }),
			citest.WithOptions(ci.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t0 := time.Now()
		h.SetBranch("me/p", "master", sha1)
		h.WaitStatus("me/p", sha1, "t", ci.Success)
		logged += time.Since(t0)
		commits += countCommits(b, h.Store, "fake-of-k")
		h.Stop()
	}
	logged /= time.Duration(b.N)
	b.ReportMetric(lines/logged.Seconds(), "lines/s")
	b.ReportMetric(float64(logged)/float64(direct), "time/direct")
	b.ReportMetric(float64(commits)/float64(b.N), "commits/100k-lines")
}

// BenchmarkLogLines writes 100,000 lines one Write each (the worst case
// for a log: a build that flushes every line) into a step's live log while
// it is saved in chunks every 100 ms, with two secrets to mask; it
// reports lines per second and the commits made.
//
//	go test -run '^$' -bench LogLines -benchtime 5x ./ci/cache
func BenchmarkLogLines(b *testing.B) {
	const lines = 100000
	line := []byte("ok  \tgithub.com/dkgo/datakit/ci/cache\t2.413s coverage: 91.2% of statements\n")
	var total time.Duration
	commits := 0
	for i := 0; i < b.N; i++ {
		var took time.Duration
		f := newFake(func(ctx context.Context, log *livelog.Log, key string) (string, error) {
			t0 := time.Now()
			for j := 0; j < lines; j++ {
				log.Write(line)
			}
			took = time.Since(t0)
			return "ok", nil
		})
		c := cache.New[string, string](f, cache.Options{SaveEvery: 100 * time.Millisecond, Secrets: []string{"hunter2", "ghp_0123456789"}})
		h := citest.New(b, config(func(ci.Target) ci.Jobs { return ci.Jobs{"t": c.Find("k")} }),
			citest.WithOptions(ci.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		h.SetBranch("me/p", "master", sha1)
		h.WaitStatus("me/p", sha1, "t", ci.Success)
		total += took
		commits += countCommits(b, h.Store, "fake-of-k")
		h.Stop()
	}
	b.ReportMetric(float64(lines*b.N)/total.Seconds(), "lines/s")
	b.ReportMetric(float64(commits)/float64(b.N), "commits/100k-lines")
}

func countCommits(tb testing.TB, s dkstore.Store, branch string) int {
	ctx := context.Background()
	br, _ := s.Branch(dkstore.BranchName(branch))
	id, _ := br.Head(ctx)
	n := 0
	for !id.IsZero() {
		n++
		c, err := s.Commit(ctx, id)
		if err != nil || len(c.Parents) == 0 {
			break
		}
		id = c.Parents[0]
	}
	return n
}

// BenchmarkReevaluateCached restarts a CI whose 1,000 targets each have a
// finished, cached step: the time to settle, and the store reads it takes.
//
//	go test -run '^$' -bench ReevaluateCached -benchtime 3x ./ci/cache
func BenchmarkReevaluateCached(b *testing.B) {
	const n = 1000
	mem := dkstore.NewMemory(dkstore.Options{})
	b.Cleanup(func() { mem.Close() })
	f := newFake(func(ctx context.Context, _ *livelog.Log, key string) (string, error) { return "built " + key, nil })
	jobs := func(c *cache.Cache[string, string]) func(ci.Target) ci.Jobs {
		return func(t ci.Target) ci.Jobs { return ci.Jobs{"build": c.Find(t.Head)} }
	}
	quiet := citest.WithOptions(ci.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := citest.New(b, config(jobs(cache.New[string, string](f, cache.Options{}))), citest.WithStore(mem), quiet)
	h.Timeout = 5 * time.Minute
	for i := 0; i < n; i++ {
		h.OpenPR("me/p", i+1, fmt.Sprintf("%040x", i+1), "PR")
	}
	h.Settle()
	h.WaitStatus("me/p", fmt.Sprintf("%040x", n), "build", ci.Success)
	h.Stop()
	b.ResetTimer()
	var reads int64
	for i := 0; i < b.N; i++ {
		counting := &countingStore{Store: mem}
		h := citest.New(b, config(jobs(cache.New[string, string](f, cache.Options{}))), citest.WithStore(counting), quiet)
		h.Timeout = 5 * time.Minute
		h.Settle()
		reads += counting.reads.Load()
		h.Stop()
	}
	b.StopTimer()
	if got := f.count(fmt.Sprintf("%040x", 1)); got != 1 {
		b.Errorf("the cached step was built %d times, want 1", got)
	}
	b.ReportMetric(float64(reads)/float64(b.N)/n, "reads/job")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "µs/job")
}

// countingStore counts the reads made through it.
type countingStore struct {
	dkstore.Store
	reads atomic.Int64
}

func (s *countingStore) Commit(ctx context.Context, id dkstore.CommitID) (dkstore.Commit, error) {
	s.reads.Add(1)
	return s.Store.Commit(ctx, id)
}

func (s *countingStore) Tree(ctx context.Context, h dkstore.Hash) (dkstore.Tree, error) {
	s.reads.Add(1)
	t, err := s.Store.Tree(ctx, h)
	if err != nil {
		return nil, err
	}
	return countingTree{t, &s.reads}, nil
}

func (s *countingStore) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(name)
	if err != nil {
		return nil, err
	}
	return countingBranch{b, &s.reads}, nil
}

type countingBranch struct {
	dkstore.Branch
	reads *atomic.Int64
}

func (b countingBranch) Head(ctx context.Context) (dkstore.CommitID, error) {
	b.reads.Add(1)
	return b.Branch.Head(ctx)
}

type countingTree struct {
	dkstore.Tree
	reads *atomic.Int64
}

func (t countingTree) ReadFile(ctx context.Context, p dkstore.Path) ([]byte, error) {
	t.reads.Add(1)
	return t.Tree.ReadFile(ctx, p)
}

func (t countingTree) Stat(ctx context.Context, p dkstore.Path) (dkstore.Stat, error) {
	t.reads.Add(1)
	return t.Tree.Stat(ctx, p)
}

func (t countingTree) ReadDir(ctx context.Context, p dkstore.Path) ([]dkstore.DirEntry, error) {
	t.reads.Add(1)
	return t.Tree.ReadDir(ctx, p)
}
