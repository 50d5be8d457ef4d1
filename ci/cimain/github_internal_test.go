package cimain

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dkgo/datakit/ci/web"
)

// credentialsWatch reports a 401 as a problem, and clears it at the next
// accepted request; other refusals (403, 404) leave it as it is.
func TestCredentialsWatch(t *testing.T) {
	var code atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(code.Load())) }))
	defer srv.Close()
	h := &web.Health{}
	c := &http.Client{Transport: &credentialsWatch{next: http.DefaultTransport, health: h, what: "the token"}}
	get := func(status int) []string {
		t.Helper()
		code.Store(int32(status))
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return h.Problems()
	}
	if p := get(200); len(p) != 0 {
		t.Errorf("after a 200: %q", p)
	}
	if p := get(401); len(p) != 1 || !strings.HasPrefix(p[0], "GitHub rejects the token (401 Unauthorized)") {
		t.Errorf("after a 401: %q", p)
	}
	if p := get(404); len(p) != 1 {
		t.Errorf("a 404 changed the problems: %q", p)
	}
	if p := get(304); len(p) != 0 {
		t.Errorf("after a 304 (accepted): %q", p)
	}
}
