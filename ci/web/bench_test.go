package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/web"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// bigCI is a CI with 5,000 open PRs and 5,000 branches, three jobs each,
// and its web UI (public).
func bigCI(b *testing.B) http.Handler {
	b.Helper()
	cfg := ci.Config{CanRead: ci.Everyone(), Projects: []ci.Project{{Repo: "me/big", Jobs: func(t ci.Target) ci.Jobs {
		return ci.Jobs{"build": term.Return("Build succeeded"), "test": term.Pendingf[string]("Waiting for build"), "lint": term.Failf[string]("lint failed")}
	}}}}
	h := citest.New(b, cfg, citest.WithOptions(ci.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	h.Timeout = 5 * time.Minute
	repo := bridge.Repo{User: "me", Name: "big"}
	h.Update("10,000 targets", func(ctx context.Context, tx dkstore.Transaction) error {
		for i := 1; i <= 5000; i++ {
			sha := fmt.Sprintf("%040x", i)
			if err := bridge.WritePR(ctx, tx, bridge.PR{Repo: repo, Number: i, Head: sha, State: "open", Title: fmt.Sprintf("Change number %d", i), Owner: "someone", Base: "master"}); err != nil {
				return err
			}
			if err := bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: fmt.Sprintf("heads/branch-%d", i), Head: fmt.Sprintf("%040x", 100000+i)}); err != nil {
				return err
			}
		}
		return nil
	})
	h.Settle()
	if n := len(h.Engine.Targets()); n != 10000 {
		b.Fatalf("%d targets, want 10,000", n)
	}
	w, err := web.New(h.Engine, web.Options{SecretsDir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// BenchmarkPages10kTargets is the server time of the dashboard and the PR
// and branch lists of a CI with 10,000 targets (target: 100 ms a page).
func BenchmarkPages10kTargets(b *testing.B) {
	w := bigCI(b)
	for _, path := range []string{"/", "/pr", "/branch", "/me/big/pr/4321"} {
		b.Run(path, func(b *testing.B) {
			size := 0
			for b.Loop() {
				rec := httptest.NewRecorder()
				w.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != 200 {
					b.Fatalf("GET %s = %d", path, rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
