package fakegithub

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// principal is who makes a request: nobody (anonymous), a user through
// a token, an installation through its token, or an app through a JWT.
type principal struct {
	token *token        // user and installation tokens
	user  *user         // the acting user; the app's bot for installations
	inst  *installation // installation tokens
	app   *app          // JWTs
	addr  string        // anonymous: the client's IP address
}

func (p *principal) key() string {
	switch {
	case p.inst != nil:
		return fmt.Sprintf("installation:%d", p.inst.id)
	case p.app != nil:
		return fmt.Sprintf("app:%d", p.app.id)
	case p.user != nil:
		return fmt.Sprintf("user:%d", p.user.id)
	}
	return "ip:" + p.addr
}

func (p *principal) anonymous() bool { return p.user == nil && p.app == nil }

// rateMessage is GitHub's message for an exhausted primary rate limit.
func (p *principal) rateMessage(r *http.Request) string {
	switch {
	case p.inst != nil:
		return fmt.Sprintf("API rate limit exceeded for installation ID %d.", p.inst.id)
	case p.app != nil:
		return fmt.Sprintf("API rate limit exceeded for app ID %d.", p.app.id)
	case p.user != nil:
		return fmt.Sprintf("API rate limit exceeded for user ID %d.", p.user.id)
	}
	return "API rate limit exceeded for " + p.addr + ". (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)"
}

// token is an access token: a user's (personal or OAuth) or an
// installation's.
type token struct {
	value   string
	user    *user
	inst    *installation
	scopes  []string          // user tokens
	perms   map[string]string // installation tokens: granted permissions
	repos   map[int64]bool    // installation tokens: nil means all the installation's
	expires time.Time         // zero: never
}

func (t *token) hasScope(any ...string) bool {
	for _, have := range t.scopes {
		for _, want := range any {
			if have == want {
				return true
			}
		}
	}
	return false
}

// newTokenValue returns a random token with GitHub's prefix for its kind
// (ghp_ personal, gho_ OAuth, ghs_ installation).
func newTokenValue(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// authenticate finds who makes r: "Authorization: token X" or "Bearer X"
// with a token the server issued, or a JWT signed by a registered app;
// no Authorization header is anonymous. Unknown and expired tokens are
// answered 401 Bad credentials.
func (s *Server) authenticate(r *http.Request) (*principal, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return &principal{addr: host}, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	bad := &apiError{http.StatusUnauthorized, "Bad credentials", docRoot}
	switch strings.ToLower(scheme) {
	case "token", "bearer":
	default:
		return nil, bad
	}
	if strings.Count(cred, ".") == 2 {
		if strings.ToLower(scheme) != "bearer" {
			return nil, bad
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		a, err := s.verifyJWT(cred)
		if err != nil {
			return nil, err
		}
		return &principal{app: a}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tokens[cred]
	if t == nil || (!t.expires.IsZero() && !s.now().Before(t.expires)) {
		return nil, bad
	}
	p := &principal{token: t, user: t.user, inst: t.inst}
	if t.inst != nil {
		p.user = t.inst.app.bot
	}
	return p, nil
}

// rateState is what the X-RateLimit-* headers say.
type rateState struct {
	limit, remaining, used int
	reset                  time.Time
}

type rateBucket struct {
	used  int
	reset time.Time
}

func (s *Server) limitOf(who *principal) int {
	if who.anonymous() {
		return s.opts.AnonymousRateLimit
	}
	return s.opts.RateLimit
}

// bucket returns who's current window, starting a new one when the last
// has ended.
func (s *Server) bucket(who *principal) *rateBucket {
	now := s.now()
	b := s.st.rates[who.key()]
	if b == nil || !now.Before(b.reset) {
		b = &rateBucket{reset: now.Add(s.opts.RateWindow)}
		s.st.rates[who.key()] = b
	}
	return b
}

// rate returns who's rate state without counting a request. An injected
// rate-limit fault shows an exhausted window that resets after resetIn.
func (s *Server) rate(who *principal, fault bool, resetIn time.Duration) rateState {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.limitOf(who)
	if fault {
		if resetIn <= 0 {
			resetIn = time.Second
		}
		return rateState{limit: limit, remaining: 0, used: limit, reset: s.now().Add(resetIn)}
	}
	b := s.bucket(who)
	return rateState{limit: limit, remaining: limit - b.used, used: b.used, reset: b.reset}
}

// use counts one request against who's primary rate limit.
func (s *Server) use(who *principal) rateState {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.limitOf(who)
	b := s.bucket(who)
	b.used++
	return rateState{limit: limit, remaining: limit - b.used, used: b.used, reset: b.reset}
}

// RateRemaining returns how many requests the token (or, with "", an
// anonymous client on 127.0.0.1) has left in its current window.
func (s *Server) RateRemaining(tok string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	who := &principal{addr: "127.0.0.1"}
	if tok != "" {
		t := s.st.tokens[tok]
		if t == nil {
			return 0
		}
		who = &principal{token: t, user: t.user, inst: t.inst}
		if t.inst != nil {
			who.user = t.inst.app.bot
		}
	}
	return s.limitOf(who) - s.bucket(who).used
}
