package record_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/record"
	"github.com/dkgo/datakit/ninep"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait of these tests: long, so that a busy
// machine does not fail them, and only a hang does.
const waitTimeout = time.Minute

// stores are the two handles a test gets on one store: rec for the
// program's record, other for another program's changes. In process they
// are the same store; over 9P, two clients of one server.
type stores struct {
	rec, other dkstore.Store
}

// backends are the stores every behaviour test runs on.
var backends = []struct {
	name string
	open func(t testing.TB) stores
}{
	{"memory", func(t testing.TB) stores {
		s := dkstore.NewMemory(dkstore.Options{})
		t.Cleanup(func() { s.Close() })
		return stores{s, s}
	}},
	{"disk", func(t testing.TB) stores {
		s, err := dkstore.Open(t.TempDir(), dkstore.Options{})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return stores{s, s}
	}},
	{"9p", func(t testing.TB) stores {
		url := serve(t, dkstore.NewMemory(dkstore.Options{}), "tcp")
		return stores{dial(t, url), dial(t, url)}
	}},
}

// forEachBackend runs fn as a subtest on each backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, s stores)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

// serve serves st over 9P on a new loopback listener ("tcp", or "unix")
// until the test ends, then closes st, and returns the URL to dial.
func serve(t testing.TB, st dkstore.Store, network string) string {
	t.Helper()
	var (
		ln  net.Listener
		url string
		err error
	)
	switch network {
	case "tcp":
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			url = "tcp://" + ln.Addr().String()
		}
	case "unix":
		// A short path: socket paths are limited to about 100 bytes.
		dir, derr := os.MkdirTemp("", "dkrec")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		url = "unix://" + filepath.Join(dir, "s")
		ln, err = ninep.Listen(url)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ninep.NewServer(st, ninep.Options{}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store Close() = %v", err)
		}
	})
	return url
}

// dial dials url; the client closes when the test ends, before the server.
func dial(t testing.TB, url string) *ninep.Client {
	t.Helper()
	c, err := ninep.Dial(t.Context(), url, ninep.ClientOptions{})
	if err != nil {
		t.Fatalf("Dial(%s) = %v", url, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close() = %v", err)
		}
	})
	return c
}

// testOptions are the reference test's record: lookup in master then
// defaults, state mirrored in "state", under tests/.
var testOptions = record.Options{
	Lookup:   []dkstore.BranchName{"master", "defaults"},
	Defaults: "defaults",
	State:    "state",
	Dir:      "tests",
}

// open opens a record on s with opts, closed when the test ends.
func open(t testing.TB, s dkstore.Store, opts record.Options) *record.Record {
	t.Helper()
	r, err := record.New(t.Context(), s, opts)
	if err != nil {
		t.Fatalf("record.New() = %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Record.Close() = %v", err)
		}
	})
	return r
}

// write commits the files of kv (path → content; "" removes the path) to
// branch b in one commit.
func write(t testing.TB, s dkstore.Store, b dkstore.BranchName, kv map[string]string) dkstore.CommitID {
	t.Helper()
	ctx := t.Context()
	br, err := s.Branch(b)
	if err != nil {
		t.Fatalf("Branch(%s) = %v", b, err)
	}
	tx, err := br.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatalf("Transaction() = %v", err)
	}
	for p, v := range kv {
		if v == "" {
			err = tx.Remove(ctx, dkstore.Path(p))
		} else {
			err = tx.WriteFile(ctx, dkstore.Path(p), []byte(v), dkstore.KindFile)
		}
		if err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
	}
	id, err := tx.Commit(ctx, "Write test")
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	return id
}

// read returns the content of p in branch b, and whether it is there.
func read(t testing.TB, s dkstore.Store, b dkstore.BranchName, p string) (string, bool) {
	t.Helper()
	ctx := t.Context()
	br, err := s.Branch(b)
	if err != nil {
		t.Fatalf("Branch(%s) = %v", b, err)
	}
	head, err := br.Head(ctx)
	if err != nil || head.IsZero() {
		t.Fatalf("Head(%s) = %v, %v", b, head, err)
	}
	c, err := s.Commit(ctx, head)
	if err != nil {
		t.Fatalf("Commit(%s) = %v", head, err)
	}
	tree, err := s.Tree(ctx, c.Tree)
	if err != nil {
		t.Fatalf("Tree() = %v", err)
	}
	data, err := tree.ReadFile(ctx, dkstore.Path(p))
	if errors.Is(err, dkstore.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatalf("ReadFile(%s in %s) = %v", p, b, err)
	}
	return string(data), true
}

// head returns the head of branch b.
func head(t testing.TB, s dkstore.Store, b dkstore.BranchName) dkstore.CommitID {
	t.Helper()
	br, err := s.Branch(b)
	if err != nil {
		t.Fatalf("Branch(%s) = %v", b, err)
	}
	h, err := br.Head(t.Context())
	if err != nil {
		t.Fatalf("Head(%s) = %v", b, err)
	}
	return h
}

// wait calls r.Wait with waitTimeout and fails the test on an error.
func wait(t testing.TB, r *record.Record) record.Version {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	v, err := r.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	return v
}

// declare helpers that fail the test on an error.

func stringField(t testing.TB, r *record.Record, key, def string) *record.Field[string] {
	t.Helper()
	f, err := r.StringField(t.Context(), key, def)
	if err != nil {
		t.Fatalf("StringField(%q) = %v", key, err)
	}
	return f
}

func intField(t testing.TB, r *record.Record, key string, def int) *record.Field[int] {
	t.Helper()
	f, err := r.IntField(t.Context(), key, def)
	if err != nil {
		t.Fatalf("IntField(%q) = %v", key, err)
	}
	return f
}

func boolField(t testing.TB, r *record.Record, key string, def bool) *record.Field[bool] {
	t.Helper()
	f, err := r.BoolField(t.Context(), key, def)
	if err != nil {
		t.Fatalf("BoolField(%q) = %v", key, err)
	}
	return f
}

func seal(t testing.TB, r *record.Record) {
	t.Helper()
	if err := r.Seal(t.Context()); err != nil {
		t.Fatalf("Seal() = %v", err)
	}
}
