package fakegithub

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The control API does over HTTP what the Go methods do, without a
// token, and its requests are not counted as API calls.
func TestControl(t *testing.T) {
	s := New(Options{Control: true})
	defer s.Close()
	s.AddUser("me")
	s.CreateRepo("me/p", RepoOptions{})
	sha := strings.Repeat("a", 40)
	do := func(method, what, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+ControlPrefix+what, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	for _, c := range []struct {
		method, what, body string
		code               int
		want               string
	}{
		{"POST", "push", `{"repo":"me/p","ref":"refs/heads/main","sha":"` + sha + `"}`, 200, `{}`},
		{"POST", "push", `{"repo":"me/p","ref":"refs/heads/fix","sha":"` + sha + `"}`, 200, `{}`},
		{"POST", "pulls", `{"repo":"me/p","title":"Fix","head":"fix"}`, 200, `{"number":1}`},
		{"POST", "pulls/edit", `{"repo":"me/p","number":1,"title":"Fixed"}`, 200, `{}`},
		{"POST", "statuses", `{"repo":"me/p","sha":"` + sha + `","state":"success","context":"ci/x"}`, 200, `{}`},
		{"GET", "statuses?repo=me/p&sha=" + sha, "", 200, `[{"State":"success","Description":"","TargetURL":"","Context":"ci/x","Creator":"me"}]`},
		{"GET", "statuses?repo=me/p&sha=" + strings.Repeat("b", 40), "", 200, `[]`},
		{"GET", "statuses?repo=me/none&sha=" + sha, "", 404, `{"message":"fakegithub: not found: repository \"me/none\""}`},
		{"POST", "pulls", `{"repo":"me/p","head":"nope"}`, 400, ``},
		{"POST", "push", `{"repo":"me/p","bogus":1}`, 400, `{"message":"fakegithub: invalid: body: json: unknown field \"bogus\""}`},
		{"POST", "push", `{} {}`, 400, `{"message":"fakegithub: invalid: body: more than one JSON value"}`},
		{"GET", "push", "", 405, `{"message":"GET /_fakegithub/push: use POST"}`},
		{"GET", "nothing", "", 404, `{"message":"no control /_fakegithub/nothing (see fakegithub --help)"}`},
	} {
		code, body := do(c.method, c.what, c.body)
		if code != c.code || (c.want != "" && body != c.want) {
			t.Errorf("%s %s %s = %d %s, want %d %s", c.method, c.what, c.body, code, body, c.code, c.want)
		}
	}
	if pr, _ := s.PR("me/p", 1); pr.Title != "Fixed" {
		t.Errorf("PR 1's title = %q", pr.Title)
	}
	if calls, _ := s.TotalCalls(); calls != 0 {
		t.Errorf("%d API calls counted, want none", calls)
	}
	_, body := do("GET", "stats", "")
	var stats struct{ Calls int }
	if err := json.Unmarshal([]byte(body), &stats); err != nil || stats.Calls != 0 {
		t.Errorf("stats = %s, %v", body, err)
	}
	// Without Options.Control, there is no control API.
	s2 := New(Options{})
	defer s2.Close()
	resp, err := http.Post(s2.URL()+ControlPrefix+"push", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("control API without Options.Control: %s", resp.Status)
	}
}

// FuzzDecodeControl feeds the control API's body decoder arbitrary
// bytes: it must not panic, and what it accepts encodes back to an
// object it accepts again, equal.
func FuzzDecodeControl(f *testing.F) {
	f.Add([]byte(`{"repo":"me/p","ref":"refs/heads/main","sha":"` + strings.Repeat("a", 40) + `"}`))
	f.Add([]byte(`{"repo":"me/p","number":1,"state":"closed","title":null}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"x":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeControl(b)
		if err != nil {
			return
		}
		again, _ := json.Marshal(req)
		req2, err := decodeControl(again)
		if err != nil {
			t.Fatalf("decodeControl(%s) = %v after %s was accepted", again, err, b)
		}
		if a, b := jsonOf(req), jsonOf(req2); a != b {
			t.Fatalf("round trip: %s != %s", a, b)
		}
	})
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }
