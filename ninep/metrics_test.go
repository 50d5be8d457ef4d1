package ninep

import (
	"context"
	"testing"

	"github.com/hugelgupf/p9/p9"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	st, _ := testServer(t)
	defer st.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	srv := NewServer(st, Options{Metrics: m})
	ctx := context.Background()

	c, root, conn, done := pipeClient(t, ctx, srv)
	if got := testutil.ToFloat64(m.connections); got != 1 {
		t.Errorf("connections_open = %v, want 1", got)
	}
	_, txs, err := root.Walk([]string{"branch", "master", "transactions"})
	if err != nil {
		t.Fatal(err)
	}
	txs.Mkdir("a", 0o755, 0, 0)
	txs.Mkdir("b", 0o755, 0, 0)
	fc := &fsClient{t: t, root: root}
	// Both change a/b: the first commits, the second conflicts.
	for _, tx := range []string{"a", "b"} {
		_, rw, _ := root.Walk([]string{"branch", "master", "transactions", tx, "rw", "a"})
		f, _, _, err := rw.Create("b", p9.ReadWrite, 0o644, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte(tx), 0)
		f.Close()
	}
	if err := fc.write("branch/master/transactions/a/ctl", "commit"); err != nil {
		t.Fatal(err)
	}
	if err := fc.write("branch/master/transactions/b/ctl", "commit"); err == nil {
		t.Fatal("conflicting commit accepted")
	}
	if _, _, err := root.Walk([]string{"nope"}); err == nil {
		t.Fatal("walk to nope worked")
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"committed", testutil.ToFloat64(m.committed), 1},
		{"conflicted", testutil.ToFloat64(m.conflicted), 1},
		{"walk errors", testutil.ToFloat64(m.errors.WithLabelValues("walk")) + testutil.ToFloat64(m.errors.WithLabelValues("walkgetattr")), 1},
		{"write errors", testutil.ToFloat64(m.errors.WithLabelValues("write")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// p9's server answers Twalk with WalkGetAttr where it can.
	if n := testutil.ToFloat64(m.requests.WithLabelValues("walk")) + testutil.ToFloat64(m.requests.WithLabelValues("walkgetattr")); n < 5 {
		t.Errorf("walk requests = %v, want at least 5", n)
	}
	c.Close()
	conn.Close()
	<-done
	if got := testutil.ToFloat64(m.connections); got != 0 {
		t.Errorf("connections_open after close = %v, want 0", got)
	}
}
