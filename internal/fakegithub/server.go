package fakegithub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server. The zero value is useful.
type Options struct {
	// Now is the server's clock: timestamps, token expiry, JWT checks and
	// rate-limit windows. Nil means time.Now.
	Now func() time.Time
	// RateLimit is the primary rate limit of an authenticated identity (a
	// user's token or an installation) per RateWindow; 0 means 5000, as on
	// github.com.
	RateLimit int
	// AnonymousRateLimit is the limit of unauthenticated requests per
	// RateWindow; 0 means 60.
	AnonymousRateLimit int
	// RateWindow is how long a rate-limit window lasts from the first
	// request counted in it; 0 means an hour.
	RateWindow time.Duration
	// Addr is the TCP address to listen on; "" means a free port on
	// 127.0.0.1, as does an address that cannot be listened on (URL
	// tells where the server is).
	Addr string
	// Listener, if set, is where the server serves (Addr is then
	// ignored); the server closes it.
	Listener net.Listener
	// Control serves the control API under /_fakegithub/ (see
	// ControlPrefix): what tests do with Go methods, over HTTP, for the
	// fakegithub command's users.
	Control bool
	// HookClient delivers webhooks; nil means a client with GitHub's 10
	// second timeout.
	HookClient *http.Client
	// Faults are the faults injected from the start (see SetFaults).
	Faults Faults
	// InstallationTokenTTL is how long the installation tokens that POST
	// /app/installations/{id}/access_tokens makes last; 0 means an hour,
	// as on GitHub. Tests of token refreshing make it short.
	InstallationTokenTTL time.Duration
}

// Server is a fake GitHub: a REST API v3 server on the loopback interface
// holding its own state. See the package documentation.
type Server struct {
	opts Options
	now  func() time.Time
	ts   *httptest.Server
	mux  *http.ServeMux

	closing chan struct{}
	closed  sync.Once

	seq atomic.Int64 // API requests received

	mu     sync.Mutex // guards everything below, and the state in the objects
	st     state
	oauth  oauthState // the OAuth web flow's (oauth.go)
	faults Faults
	stats  map[string]*RouteStats
	log    []Call

	hooks        deliverer
	ownTransport *http.Transport // the hook client's, when the server made it
}

// New starts a Server. Close it when done.
func New(opts Options) *Server {
	s := &Server{
		opts:    opts,
		now:     opts.Now,
		closing: make(chan struct{}),
		stats:   map[string]*RouteStats{},
		faults:  opts.Faults,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.RateLimit <= 0 {
		s.opts.RateLimit = 5000
	}
	if s.opts.AnonymousRateLimit <= 0 {
		s.opts.AnonymousRateLimit = 60
	}
	if s.opts.RateWindow <= 0 {
		s.opts.RateWindow = time.Hour
	}
	s.st.init()
	s.mux = http.NewServeMux()
	s.routes()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if opts.Listener != nil {
		s.ts.Listener.Close()
		s.ts.Listener = opts.Listener
	} else if opts.Addr != "" {
		l, err := net.Listen("tcp", opts.Addr)
		if err == nil {
			s.ts.Listener.Close()
			s.ts.Listener = l
		}
	}
	s.ts.Start()
	client := opts.HookClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
		s.ownTransport = tr
	}
	s.hooks.start(s, client)
	return s
}

// URL returns the server's root URL, e.g. "http://127.0.0.1:41234", with
// no trailing slash. The API answers both at the root (as api.github.com)
// and under /api/v3 (as GitHub Enterprise Server), so either of these
// makes a go-github client use it:
//
//	github.NewClient(nil).WithEnterpriseURLs(s.URL(), s.URL())
//	c := github.NewClient(nil); c.BaseURL, _ = url.Parse(s.URL() + "/")
func (s *Server) URL() string { return s.ts.URL }

// APIURL returns the API's base URL as the objects it serves spell it:
// URL() + "/api/v3".
func (s *Server) APIURL() string { return s.ts.URL + "/api/v3" }

// Close stops delivering webhooks (undelivered ones are dropped), answers
// requests still delayed by a fault as cancelled, and stops the server.
func (s *Server) Close() {
	s.closed.Do(func() {
		close(s.closing)
		s.hooks.stop()
		if s.ownTransport != nil {
			s.ownTransport.CloseIdleConnections()
		}
		s.ts.Close()
	})
}

// Client returns an HTTP client that reaches the server (go-github's
// NewClient takes it; a nil client works as well).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// ctxKey keys the per-request values.
type ctxKey struct{}

// reqInfo is what a handler knows about its request beyond the
// http.Request.
type reqInfo struct {
	who    *principal
	prefix string // "" or "/api/v3", as the client called
	route  string
}

func info(r *http.Request) *reqInfo { return r.Context().Value(ctxKey{}).(*reqInfo) }

// RouteStats counts the requests of one route.
type RouteStats struct {
	// Calls is how many requests arrived, including those answered by a
	// fault.
	Calls int
	// NotModified is how many of them were answered 304 Not Modified.
	NotModified int
	// Faulted is how many of them were answered (or not answered) by an
	// injected fault.
	Faulted int
}

// Call is one request in the server's log.
type Call struct {
	Seq    int64  // 1 for the first request
	Method string // "GET"
	Route  string // "GET /repos/{owner}/{repo}/pulls"
	Path   string // "/repos/o/r/pulls", without the /api/v3 prefix
	Status int    // 0 when a fault closed the connection
	Fault  Fault  // FaultNone when answered normally
	Slow   bool   // delayed by a fault
}

// Stats returns the call counts per route ("GET /repos/{owner}/{repo}/pulls",
// as in the go-github methods' documentation; "UNKNOWN" for paths no route
// matches). The map is a copy.
func (s *Server) Stats() map[string]RouteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]RouteStats, len(s.stats))
	for k, v := range s.stats {
		m[k] = *v
	}
	return m
}

// Count returns how many requests of route arrived (see Stats).
func (s *Server) Count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stats[route]; st != nil {
		return st.Calls
	}
	return 0
}

// TotalCalls returns how many API requests arrived, and how many of them
// were answered 304.
func (s *Server) TotalCalls() (calls, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stats {
		calls += st.Calls
		notModified += st.NotModified
	}
	return calls, notModified
}

// Calls returns a copy of the log of requests, by sequence number.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Call(nil), s.log...)
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// ResetStats forgets the call counts and the log (not the rate limits).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = map[string]*RouteStats{}
	s.log = nil
}

func (s *Server) record(c Call, notModified bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[c.Route]
	if st == nil {
		st = &RouteStats{}
		s.stats[c.Route] = st
	}
	st.Calls++
	if notModified {
		st.NotModified++
	}
	if c.Fault != FaultNone {
		st.Faulted++
	}
	s.log = append(s.log, c)
}

// buffered collects a handler's answer so that the server can add ETags,
// 304s and rate-limit headers once it is known.
type buffered struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.h }
func (b *buffered) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *buffered) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// serveHTTP is the pipeline every API request goes through: route, fault,
// authentication, rate limit, handler, conditional answer, headers.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveWeb(w, r) { // the OAuth flow's web pages (oauth.go)
		return
	}
	if s.opts.Control && strings.HasPrefix(r.URL.Path, ControlPrefix) {
		s.serveControl(w, r) // control.go; not an API call
		return
	}
	seq := s.seq.Add(1)
	prefix := ""
	if p := r.URL.Path; p == "/api/v3" || strings.HasPrefix(p, "/api/v3/") {
		prefix = "/api/v3"
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(p, prefix)
		if r2.URL.Path == "" {
			r2.URL.Path = "/"
		}
		r2.URL.RawPath = ""
		r = r2
	}
	_, pattern := s.mux.Handler(r)
	route := routeName(pattern, r.URL.Path)
	call := Call{Seq: seq, Method: r.Method, Route: route, Path: r.URL.Path}
	reqID := fmt.Sprintf("FAKE:%04X:%06X", seq>>24, seq&0xffffff)

	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	fault, slow := f.decide(seq, r.Method, route)
	call.Slow = slow
	if slow {
		t := time.NewTimer(f.delay())
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.closing:
		}
		t.Stop()
	}
	out := &buffered{h: http.Header{}}
	var who *principal
	var authErr *apiError
	if fault != FaultDisconnect {
		// Even an answer by a fault carries the identity's rate headers.
		who, authErr = s.authenticate(r)
	}
	switch fault {
	case FaultDisconnect:
		call.Fault = fault
		s.record(call, false)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	case FaultServerError:
		code := f.ServerErrorStatus
		if code == 0 {
			code = http.StatusBadGateway
		}
		writeError(out, code, "Server Error", "")
	case FaultSecondaryRateLimit:
		retry := f.RetryAfter
		if retry <= 0 {
			retry = time.Minute
		}
		out.h.Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		writeError(out, http.StatusForbidden, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID "+reqID+".", docSecondaryRate)
	}

	counted := false
	if out.status == 0 && authErr != nil {
		authErr.write(out)
	}
	var rl rateState
	if who != nil {
		rl = s.rate(who, fault == FaultRateLimit, f.RateLimitReset)
		if out.status == 0 && rl.remaining <= 0 && route != "GET /rate_limit" {
			writeError(out, http.StatusForbidden, who.rateMessage(r), docPrimaryRate)
		}
	}
	if out.status == 0 {
		ri := &reqInfo{who: who, prefix: prefix, route: route}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		if pattern == "" {
			writeError(out, http.StatusNotFound, "Not Found", docRoot)
		} else {
			s.mux.ServeHTTP(out, r)
		}
		counted = route != "GET /rate_limit"
	}
	if out.status == 0 {
		out.status = http.StatusOK
	}

	notModified := false
	if r.Method == http.MethodGet && out.status == http.StatusOK {
		sum := sha256.Sum256(out.body.Bytes())
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		out.h.Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			notModified = etagMatch(inm, etag)
		} else if ims := r.Header.Get("If-Modified-Since"); ims != "" {
			if lm := out.h.Get("Last-Modified"); lm != "" {
				t1, err1 := http.ParseTime(ims)
				t2, err2 := http.ParseTime(lm)
				notModified = err1 == nil && err2 == nil && !t2.After(t1)
			}
		}
	}
	if counted && !notModified && who != nil {
		rl = s.use(who)
	}

	h := w.Header()
	for k, v := range out.h {
		h[k] = v
	}
	if who != nil {
		h.Set("X-RateLimit-Limit", strconv.Itoa(rl.limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(max(rl.remaining, 0)))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(rl.reset.Unix(), 10))
		h.Set("X-RateLimit-Used", strconv.Itoa(rl.used))
		h.Set("X-RateLimit-Resource", "core")
		if who.token != nil && who.token.user != nil && who.inst == nil {
			h.Set("X-OAuth-Scopes", strings.Join(who.token.scopes, ", "))
		}
	}
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-GitHub-Request-Id", reqID)
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	call.Fault = fault
	if fault == FaultRateLimit && out.status != http.StatusForbidden {
		call.Fault = FaultNone // the request failed before the rate limit
	}
	call.Status = out.status
	if notModified {
		call.Status = http.StatusNotModified
	}
	// Record before answering, so that a client that waits for the
	// answer finds its request counted.
	s.record(call, notModified)
	if notModified {
		h.Del("Content-Type")
		h.Del("Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if out.body.Len() > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(out.status)
	w.Write(out.body.Bytes())
}

// routeName names the route of a request for the statistics: the mux
// pattern, except for the commits routes whose ref may hold slashes.
func routeName(pattern, path string) string {
	switch {
	case pattern == "":
		return "UNKNOWN"
	case strings.HasSuffix(pattern, "/commits/{rest...}"):
		if strings.HasSuffix(path, "/statuses") {
			return "GET /repos/{owner}/{repo}/commits/{ref}/statuses"
		}
		return "GET /repos/{owner}/{repo}/commits/{ref}/status"
	case strings.HasSuffix(pattern, "/git/matching-refs/{ref...}"):
		return strings.TrimSuffix(pattern, "{ref...}") + "{ref}"
	case strings.HasSuffix(pattern, "/git/ref/{ref...}"):
		return strings.TrimSuffix(pattern, "{ref...}") + "{ref}"
	}
	return pattern
}

// etagMatch reports whether an If-None-Match header matches etag, by weak
// comparison (RFC 9110, 13.1.2).
func etagMatch(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// Documentation URLs of the error bodies.
const (
	docRoot          = "https://docs.github.com/rest"
	docPrimaryRate   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit"
	docSecondaryRate = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// apiError is an error answer: status, message and documentation URL.
type apiError struct {
	status  int
	message string
	doc     string
}

func writeError(w http.ResponseWriter, status int, message, doc string) {
	if doc == "" {
		doc = docRoot
	}
	writeJSON(w, status, map[string]string{"message": message, "documentation_url": doc})
}

func (e *apiError) write(w http.ResponseWriter) { writeError(w, e.status, e.message, e.doc) }

func notFound() *apiError { return &apiError{http.StatusNotFound, "Not Found", docRoot} }

// fieldError is one entry of a 422's "errors".
type fieldError struct {
	Resource string `json:"resource"`
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message,omitempty"`
}

func validationFailed(w http.ResponseWriter, doc string, errs ...fieldError) {
	writeJSON(w, http.StatusUnprocessableEntity, struct {
		Message string       `json:"message"`
		Errors  []fieldError `json:"errors"`
		Doc     string       `json:"documentation_url"`
	}{"Validation Failed", errs, doc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"Server Error","documentation_url":"https://docs.github.com/rest"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// readJSON decodes a request body; a bad body is answered 400 as GitHub
// does.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", docRoot)
		return false
	}
	return true
}

// page reads per_page and page and sets the Link header for n items; it
// returns the slice bounds of the page asked for.
func page(w http.ResponseWriter, r *http.Request, base string, n int) (lo, hi int) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	p, err := strconv.Atoi(q.Get("page"))
	if err != nil || p <= 0 {
		p = 1
	}
	last := max((n+per-1)/per, 1)
	link := func(pg int, rel string) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		q2.Set("page", strconv.Itoa(pg))
		q2.Set("per_page", strconv.Itoa(per))
		return "<" + base + info(r).prefix + r.URL.Path + "?" + q2.Encode() + `>; rel="` + rel + `"`
	}
	var links []string
	if p > 1 {
		links = append(links, link(min(p-1, last), "prev"))
	}
	if p < last {
		links = append(links, link(p+1, "next"), link(last, "last"))
	}
	if p > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((p-1)*per, n)
	hi = min(lo+per, n)
	return lo, hi
}
