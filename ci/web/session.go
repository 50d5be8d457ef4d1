package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/dkgo/datakit/ci"
)

// session is a visitor's state, kept in memory: its CSRF token, who is
// logged in, what GitHub said of them, and where to go after login.
type session struct {
	id       string
	csrf     string
	user     string          // "" anonymous, "admin", "github:<login>"
	orgs     []string        // GitHub organizations (GitHub users)
	readable map[string]bool // the ACLs' repositories the GitHub user can read
	checked  []string        // the repositories that were checked at login
	redirect string          // where to go after login
	flash    string          // a message for the next page (a rebuild started...)
	seen     time.Time
}

// identity is who the session's user is, for the ACLs.
func (s *session) identity() ci.Identity {
	if s == nil {
		return ci.Identity{}
	}
	return ci.Identity{User: s.user, GitHubOrgs: s.orgs, GitHubReadable: s.readable}
}

// sessions holds the sessions in memory (a restart logs everyone out).
// Idle sessions expire: anonymous ones after an hour, logged-in ones
// after a week; past maxSessions the least recently seen go first.
type sessions struct {
	mu    sync.Mutex
	m     map[string]*session
	now   func() time.Time
	swept time.Time
}

const (
	anonIdle    = time.Hour
	userIdle    = 7 * 24 * time.Hour
	maxSessions = 100000
)

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, now: now}
}

// randomToken returns n random bytes in URL-safe base64.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather)
	return base64.RawURLEncoding.EncodeToString(b)
}

// get returns the session with id, if it exists and has not expired.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	now := ss.now()
	if now.Sub(s.seen) > idleFor(s) {
		delete(ss.m, id)
		return nil
	}
	s.seen = now
	cp := *s
	return &cp
}

func idleFor(s *session) time.Duration {
	if s.user == "" {
		return anonIdle
	}
	return userIdle
}

// create makes a new anonymous session.
func (ss *sessions) create() *session {
	s := &session{id: randomToken(32), csrf: randomToken(16)}
	ss.put(s)
	cp := *s
	return &cp
}

// put stores s (a copy), replacing the session of its id.
func (ss *sessions) put(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	cp := *s
	cp.seen = now
	ss.m[s.id] = &cp
	if now.Sub(ss.swept) > time.Minute || len(ss.m) > maxSessions {
		ss.swept = now
		ss.sweep(now)
	}
}

// sweep drops the expired sessions, and the least recently seen beyond
// maxSessions. Called with ss.mu held.
func (ss *sessions) sweep(now time.Time) {
	for id, s := range ss.m {
		if now.Sub(s.seen) > idleFor(s) {
			delete(ss.m, id)
		}
	}
	if len(ss.m) <= maxSessions {
		return
	}
	all := make([]*session, 0, len(ss.m))
	for _, s := range ss.m {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seen.Before(all[j].seen) })
	for _, s := range all[:len(all)-maxSessions] {
		delete(ss.m, s.id)
	}
}

// setFlash leaves msg for the next page session id shows.
func (ss *sessions) setFlash(id, msg string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.m[id]; s != nil {
		s.flash = msg
	}
}

// takeFlash returns the message left for session id's next page, once.
func (ss *sessions) takeFlash(id string) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return ""
	}
	msg := s.flash
	s.flash = ""
	return msg
}

// drop removes the session id.
func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// count is the number of sessions.
func (ss *sessions) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// cookieName is the session cookie's name: "__Host-" prefixed under
// HTTPS, so that no other origin can set it.
func (s *Server) cookieName() string {
	if s.secure {
		return "__Host-ci_session_" + s.cookieSuffix
	}
	return "ci_session_" + s.cookieSuffix
}

// session returns the request's session, or nil.
func (s *Server) session(r *http.Request) *session {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" {
		return nil
	}
	return s.sessions.get(c.Value)
}

// ensureSession returns the request's session, making one (and setting
// its cookie) if it has none.
func (s *Server) ensureSession(w http.ResponseWriter, r *http.Request) *session {
	if sess := s.session(r); sess != nil {
		return sess
	}
	sess := s.sessions.create()
	s.setCookie(w, sess.id)
	return sess
}

// setCookie sets the session cookie: HttpOnly, SameSite=Lax (the GitHub
// login comes back by a cross-site redirect, which must carry it),
// Secure under HTTPS.
func (s *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: id, Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(userIdle / time.Second)})
}

// renew replaces a session by a new one (new id and CSRF token) with the
// same content, as at login, so that a session id known before the login
// is worth nothing after it.
func (s *Server) renew(w http.ResponseWriter, old *session) *session {
	ns := *old
	ns.id, ns.csrf = randomToken(32), randomToken(16)
	if old.id != "" {
		s.sessions.drop(old.id)
	}
	s.sessions.put(&ns)
	s.setCookie(w, ns.id)
	return &ns
}

// checkCSRF checks the CSRFToken of a POST (form field or query
// parameter) against the session's: "" if it matches, else the refusal.
func checkCSRF(r *http.Request, sess *session) string {
	tok := r.PostFormValue("CSRFToken")
	if tok == "" {
		tok = r.URL.Query().Get("CSRFToken")
	}
	switch {
	case tok == "":
		return "Missing CSRFToken"
	case sess == nil || subtle.ConstantTimeCompare([]byte(tok), []byte(sess.csrf)) != 1:
		return "Incorrect CSRFToken"
	}
	return ""
}
