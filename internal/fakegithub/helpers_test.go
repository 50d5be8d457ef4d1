package fakegithub_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Commits used by the tests: any 40 hex digits are a commit.
const (
	sha1a = "1111111111111111111111111111111111111111"
	sha2b = "2222222222222222222222222222222222222222"
	sha3c = "3333333333333333333333333333333333333333"
	sha4d = "4444444444444444444444444444444444444444"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1700000000, 0).UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is a server with users alice (owner of alice/hello, public, with
// branches main and feature/x, and PR #1 from feature/x) and bob (no
// rights), the organization acme (owner alice, member bob, private),
// and acme/secret (private).
type world struct {
	t     *testing.T
	s     *fakegithub.Server
	alice string // alice's token
	bob   string
}

func newWorld(t *testing.T, opts fakegithub.Options) *world {
	t.Helper()
	s := fakegithub.New(opts)
	t.Cleanup(s.Close)
	w := &world{t: t, s: s}
	w.alice = must(s.AddUser("alice"))
	w.bob = must(s.AddUser("bob"))
	check(t, s.AddOrg("acme", "alice"))
	check(t, s.AddMember("acme", "bob", false))
	check(t, s.CreateRepo("alice/hello", fakegithub.RepoOptions{Description: "Hello"}))
	check(t, s.CreateRepo("acme/secret", fakegithub.RepoOptions{Private: true}))
	check(t, s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/main", SHA: sha1a}))
	check(t, s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/feature/x", SHA: sha2b}))
	check(t, s.Push("acme/secret", fakegithub.Push{Ref: "refs/heads/main", SHA: sha3c}))
	n, err := s.OpenPR("alice/hello", fakegithub.NewPR{Title: "Add x", Body: "Please", Head: "feature/x"})
	check(t, err)
	if n != 1 {
		t.Fatalf("OpenPR = %d, want 1", n)
	}
	return w
}

// client returns a go-github client using tok ("" for none), through the
// Enterprise prefix.
func (w *world) client(tok string) *github.Client {
	c := github.NewClient(w.s.Client())
	if tok != "" {
		c = c.WithAuthToken(tok)
	}
	c, err := c.WithEnterpriseURLs(w.s.URL(), w.s.URL())
	check(w.t, err)
	return c
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// statusOf returns the HTTP status of a go-github error.
func statusOf(err error) int {
	switch e := err.(type) {
	case *github.ErrorResponse:
		return e.Response.StatusCode
	case *github.RateLimitError:
		return e.Response.StatusCode
	case *github.AbuseRateLimitError:
		return e.Response.StatusCode
	}
	return 0
}

// received is a webhook request a receiver got.
type received struct {
	header http.Header
	body   []byte
	req    *http.Request // with the body restored
}

// receiver is a webhook endpoint recording what it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	code int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{code: http.StatusOK}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r2 := r.Clone(context.Background())
		r2.Body = io.NopCloser(strings.NewReader(string(b)))
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: b, req: r2})
		code := rc.code
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = nil
}

// events returns the X-GitHub-Event (and action) of what rc got.
func (rc *receiver) events() []string {
	var out []string
	for _, r := range rc.all() {
		e := r.header.Get("X-GitHub-Event")
		if ev, err := github.ParseWebHook(e, r.body); err == nil {
			if pr, ok := ev.(*github.PullRequestEvent); ok {
				e += "/" + pr.GetAction()
			}
		}
		out = append(out, e)
	}
	return out
}
