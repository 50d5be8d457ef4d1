package fakegithub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hook is a repository webhook.
type hook struct {
	id          int64
	url         string
	contentType string // "json" or "form"
	secret      string
	insecureSSL string
	events      []string
	active      bool
	created     time.Time
	updated     time.Time
	lastCode    int
	lastMessage string
}

func (h *hook) wants(event string) bool {
	return event == "ping" || slices.Contains(h.events, event) || slices.Contains(h.events, "*")
}

// Hook is a repository webhook as tests see and add it.
type Hook struct {
	ID          int64
	URL         string
	ContentType string   // "json" or "form"; "" means "form", GitHub's default
	Secret      string   // "" means no signature headers
	Events      []string // nil means ["push"]; "*" is every event
	Active      bool
}

// AddHook registers a webhook on repoName as its admin would on the web
// (h.Active is ignored: the hook is active) and returns its id. Like
// GitHub, it pings the hook.
func (s *Server) AddHook(repoName string, h Hook) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return 0, err
	}
	x, fe := s.addHook(r, h.URL, h.ContentType, h.Secret, "0", h.Events, true)
	if fe != nil {
		return 0, fmt.Errorf("%w: %s", ErrInvalid, fe.Message)
	}
	u, _ := s.sender(r, "")
	s.ping(r, x, u)
	return x.id, nil
}

func (s *Server) addHook(r *repo, hookURL, contentType, secret, insecure string, events []string, active bool) (*hook, *fieldError) {
	if fe := checkHookConfig(hookURL, contentType); fe != nil {
		return nil, fe
	}
	if events == nil {
		events = []string{"push"}
	}
	for _, h := range r.hooks {
		if h.url == hookURL {
			return nil, &fieldError{Resource: "Hook", Code: "custom", Message: "Hook already exists on this repository"}
		}
	}
	if contentType == "" {
		contentType = "form"
	}
	now := s.now().UTC()
	h := &hook{
		id: s.st.newID(), url: hookURL, contentType: contentType, secret: secret, insecureSSL: insecure,
		events: slices.Clone(events), active: active, created: now, updated: now,
	}
	r.hooks = append(r.hooks, h)
	return h, nil
}

func checkHookConfig(hookURL, contentType string) *fieldError {
	u, err := url.Parse(hookURL)
	if hookURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &fieldError{Resource: "Hook", Code: "custom", Message: "Invalid URL"}
	}
	if contentType != "" && contentType != "json" && contentType != "form" {
		return &fieldError{Resource: "Hook", Code: "invalid", Field: "content_type"}
	}
	return nil
}

// Hooks returns repoName's webhooks.
func (s *Server) Hooks(repoName string) ([]Hook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repoName)
	if err != nil {
		return nil, err
	}
	var out []Hook
	for _, h := range r.hooks {
		out = append(out, Hook{ID: h.id, URL: h.url, ContentType: h.contentType, Secret: h.secret, Events: slices.Clone(h.events), Active: h.active})
	}
	return out, nil
}

// send delivers event to the hooks of r that want it. The server's mutex
// is held.
func (s *Server) send(r *repo, event string, sender *user, payload map[string]any) {
	if r.owner.typ == "Organization" {
		payload["organization"] = s.orgJSON(r.owner)
	}
	for _, h := range r.hooks {
		if h.active && h.wants(event) {
			s.hooks.enqueue(s, r, h, event, payload)
		}
	}
}

// sendPull sends a pull_request event; before, for "synchronize", is the
// previous head.
func (s *Server) sendPull(r *repo, p *pull, action string, sender *user, changes map[string]any, before ...string) {
	m := map[string]any{
		"action": action, "number": p.number, "pull_request": s.fullPullJSON(r, p),
		"repository": s.repoJSON(r), "sender": s.userJSON(sender),
	}
	if changes != nil {
		m["changes"] = changes
	}
	if len(before) > 0 {
		m["before"], m["after"] = before[0], p.headSHA
	}
	s.send(r, "pull_request", sender, m)
}

type hookConfigJSON struct {
	ContentType string  `json:"content_type"`
	InsecureSSL string  `json:"insecure_ssl"`
	URL         string  `json:"url"`
	Secret      *string `json:"secret,omitempty"`
}

type hookJSON struct {
	Type          string         `json:"type"`
	ID            int64          `json:"id"`
	Name          string         `json:"name"`
	Active        bool           `json:"active"`
	Events        []string       `json:"events"`
	Config        hookConfigJSON `json:"config"`
	UpdatedAt     string         `json:"updated_at"`
	CreatedAt     string         `json:"created_at"`
	URL           string         `json:"url"`
	TestURL       string         `json:"test_url"`
	PingURL       string         `json:"ping_url"`
	DeliveriesURL string         `json:"deliveries_url"`
	LastResponse  map[string]any `json:"last_response"`
}

func (s *Server) hookJSON(r *repo, h *hook) *hookJSON {
	api := s.APIURL() + "/repos/" + r.fullName() + "/hooks/" + strconv.FormatInt(h.id, 10)
	j := &hookJSON{
		Type: "Repository", ID: h.id, Name: "web", Active: h.active, Events: h.events,
		Config:    hookConfigJSON{ContentType: h.contentType, InsecureSSL: h.insecureSSL, URL: h.url},
		UpdatedAt: ts(h.updated), CreatedAt: ts(h.created), URL: api, TestURL: api + "/test",
		PingURL: api + "/pings", DeliveriesURL: api + "/deliveries",
		LastResponse: map[string]any{"code": nil, "status": "unused", "message": nil},
	}
	if h.secret != "" {
		masked := "********"
		j.Config.Secret = &masked
	}
	if h.lastCode != 0 {
		j.LastResponse = map[string]any{"code": h.lastCode, "status": "active", "message": h.lastMessage}
	}
	return j
}

func (s *Server) ping(r *repo, h *hook, sender *user) {
	m := map[string]any{
		"zen": "Keep it logically awesome.", "hook_id": h.id, "hook": s.hookJSON(r, h),
		"repository": s.repoJSON(r), "sender": s.userJSON(sender),
	}
	if r.owner.typ == "Organization" {
		m["organization"] = s.orgJSON(r.owner)
	}
	s.hooks.enqueue(s, r, h, "ping", m)
}

// The REST handlers of hooks.

func (s *Server) hooksRepo(r *http.Request, level string) (*repo, *apiError) {
	who := info(r).who
	rp, aerr := s.readRepo(who, r.PathValue("owner"), r.PathValue("repo"))
	if aerr != nil {
		return nil, aerr
	}
	scopes := []string{"admin:repo_hook", "write:repo_hook", "repo"}
	if level == "read" {
		scopes = append(scopes, "read:repo_hook")
	}
	if aerr := access(who, rp, PermAdmin, scopes, "repository_hooks", level); aerr != nil {
		return nil, aerr
	}
	return rp, nil
}

func (s *Server) hookOf(r *http.Request, level string) (*repo, *hook, *apiError) {
	rp, aerr := s.hooksRepo(r, level)
	if aerr != nil {
		return nil, nil, aerr
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, h := range rp.hooks {
		if h.id == id {
			return rp, h, nil
		}
	}
	return nil, nil, notFound()
}

func (s *Server) handleListHooks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, aerr := s.hooksRepo(r, "read")
	if aerr != nil {
		aerr.write(w)
		return
	}
	lo, hi := page(w, r, s.URL(), len(rp.hooks))
	out := make([]*hookJSON, 0, hi-lo)
	for _, h := range rp.hooks[lo:hi] {
		out = append(out, s.hookJSON(rp, h))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetHook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, h, aerr := s.hookOf(r, "read")
	if aerr != nil {
		aerr.write(w)
		return
	}
	writeJSON(w, http.StatusOK, s.hookJSON(rp, h))
}

// hookConfigBody is a request's config: insecure_ssl may be a string or
// a number.
type hookConfigBody struct {
	URL         *string         `json:"url"`
	ContentType *string         `json:"content_type"`
	Secret      *string         `json:"secret"`
	InsecureSSL json.RawMessage `json:"insecure_ssl"`
}

func (c *hookConfigBody) insecure(old string) string {
	v := strings.Trim(string(c.InsecureSSL), `"`)
	if v == "" || v == "null" {
		return old
	}
	return v
}

const docHooks = "https://docs.github.com/rest/repos/webhooks"

func (s *Server) handleCreateHook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, aerr := s.hooksRepo(r, "write")
	if aerr != nil {
		aerr.write(w)
		return
	}
	var body struct {
		Name   *string         `json:"name"`
		Config *hookConfigBody `json:"config"`
		Events []string        `json:"events"`
		Active *bool           `json:"active"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Name != nil && *body.Name != "web" {
		validationFailed(w, docHooks+"#create-a-repository-webhook", fieldError{Resource: "Hook", Code: "custom", Message: "Name must be 'web'"})
		return
	}
	if body.Config == nil {
		body.Config = &hookConfigBody{}
	}
	c := body.Config
	val := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	active := body.Active == nil || *body.Active
	h, fe := s.addHook(rp, val(c.URL), val(c.ContentType), val(c.Secret), c.insecure("0"), body.Events, active)
	if fe != nil {
		validationFailed(w, docHooks+"#create-a-repository-webhook", *fe)
		return
	}
	if h.active {
		s.ping(rp, h, info(r).who.user)
	}
	w.Header().Set("Location", s.APIURL()+"/repos/"+rp.fullName()+"/hooks/"+strconv.FormatInt(h.id, 10))
	writeJSON(w, http.StatusCreated, s.hookJSON(rp, h))
}

func (s *Server) handleEditHook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, h, aerr := s.hookOf(r, "write")
	if aerr != nil {
		aerr.write(w)
		return
	}
	var body struct {
		Config       *hookConfigBody `json:"config"`
		Events       []string        `json:"events"`
		AddEvents    []string        `json:"add_events"`
		RemoveEvents []string        `json:"remove_events"`
		Active       *bool           `json:"active"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	next := *h
	if c := body.Config; c != nil {
		if c.URL != nil {
			next.url = *c.URL
		}
		if c.ContentType != nil {
			next.contentType = *c.ContentType
		}
		if c.Secret != nil {
			next.secret = *c.Secret
		}
		next.insecureSSL = c.insecure(h.insecureSSL)
	}
	if fe := checkHookConfig(next.url, next.contentType); fe != nil {
		validationFailed(w, docHooks+"#update-a-repository-webhook", *fe)
		return
	}
	if body.Events != nil {
		next.events = slices.Clone(body.Events)
	}
	for _, e := range body.AddEvents {
		if !slices.Contains(next.events, e) {
			next.events = append(slices.Clone(next.events), e)
		}
	}
	for _, e := range body.RemoveEvents {
		next.events = slices.DeleteFunc(slices.Clone(next.events), func(x string) bool { return x == e })
	}
	if body.Active != nil {
		next.active = *body.Active
	}
	next.updated = s.now().UTC()
	*h = next
	writeJSON(w, http.StatusOK, s.hookJSON(rp, h))
}

func (s *Server) handleDeleteHook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, h, aerr := s.hookOf(r, "write")
	if aerr != nil {
		aerr.write(w)
		return
	}
	rp.hooks = slices.DeleteFunc(rp.hooks, func(x *hook) bool { return x == h })
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handlePingHook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, h, aerr := s.hookOf(r, "write")
	if aerr != nil {
		aerr.write(w)
		return
	}
	s.ping(rp, h, info(r).who.user)
	w.WriteHeader(http.StatusNoContent)
}

// Delivery is a webhook delivery in the server's log.
type Delivery struct {
	Seq    int64 // 1 for the first
	GUID   string
	HookID int64
	URL    string
	Event  string
	Action string // the payload's "action", if any
	// Body is what was (or would have been) posted; Header its headers.
	Body   []byte
	Header http.Header
	// Status is the receiver's answer, 0 if none; Err why there was none.
	Status int
	Err    string
	// Fault is the fault injected, if any: a lost delivery was not sent,
	// a duplicated one was sent twice (and logged twice), a reordered one
	// after the delivery queued after it.
	Fault HookFault
}

// delivery is a queued webhook delivery.
type delivery struct {
	Delivery
	hook      *hook
	swapped   bool
	holdUntil time.Time
}

// deliverer posts webhooks one at a time, in order (but for reordering
// faults), from one goroutine.
type deliverer struct {
	client  *http.Client
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	kick    chan struct{}
	mu      sync.Mutex
	seq     int64
	queue   []*delivery
	busy    int
	flushes int
	log     []Delivery
	changed chan struct{} // closed and replaced when the queue or the log changes
}

func (d *deliverer) start(s *Server, client *http.Client) {
	d.client = client
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.done = make(chan struct{})
	d.kick = make(chan struct{}, 1)
	d.changed = make(chan struct{})
	go d.loop(s)
}

func (d *deliverer) stop() {
	d.cancel()
	<-d.done
}

func (d *deliverer) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// notify wakes FlushHooks; d.mu is held.
func (d *deliverer) notify() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// enqueue signs and queues a delivery of payload to h, or logs it as lost.
// The server's mutex is held.
func (d *deliverer) enqueue(s *Server, r *repo, h *hook, event string, payload map[string]any) {
	js, err := json.Marshal(payload)
	if err != nil {
		return
	}
	body := js
	ctype := "application/json"
	if h.contentType == "form" {
		body = []byte("payload=" + url.QueryEscape(string(js)))
		ctype = "application/x-www-form-urlencoded"
	}
	hdr := http.Header{}
	guid := newGUID()
	hdr.Set("User-Agent", "GitHub-Hookshot/fakegithub")
	hdr.Set("Content-Type", ctype)
	hdr.Set("X-GitHub-Event", event)
	hdr.Set("X-GitHub-Delivery", guid)
	hdr.Set("X-GitHub-Hook-ID", strconv.FormatInt(h.id, 10))
	hdr.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(r.id, 10))
	hdr.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	if h.secret != "" {
		m1 := hmac.New(sha1.New, []byte(h.secret))
		m1.Write(body)
		hdr.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m1.Sum(nil)))
		m256 := hmac.New(sha256.New, []byte(h.secret))
		m256.Write(body)
		hdr.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m256.Sum(nil)))
	}
	action, _ := payload["action"].(string)

	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	it := &delivery{
		Delivery: Delivery{Seq: d.seq, GUID: guid, HookID: h.id, URL: h.url, Event: event, Action: action, Body: body, Header: hdr},
		hook:     h,
	}
	it.Fault = s.faults.decideHook(d.seq)
	switch it.Fault {
	case HookLost:
		it.Err = "lost (injected fault)"
		d.log = append(d.log, it.Delivery)
		d.notify()
		return
	case HookReordered:
		hold := s.faults.ReorderHold
		if hold <= 0 {
			hold = 200 * time.Millisecond
		}
		it.holdUntil = time.Now().Add(hold)
	}
	d.queue = append(d.queue, it)
	d.notify()
	d.poke()
}

func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (d *deliverer) loop(s *Server) {
	defer close(d.done)
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.mu.Unlock()
			select {
			case <-d.kick:
				continue
			case <-d.ctx.Done():
				return
			}
		}
		it := d.queue[0]
		if it.Fault == HookReordered && !it.swapped {
			if len(d.queue) > 1 {
				// The next delivery goes first, whatever its own fault.
				next := d.queue[1]
				it.swapped, next.swapped = true, true
				d.queue[0], d.queue[1] = next, it
				it = next
			} else if wait := time.Until(it.holdUntil); d.flushes == 0 && wait > 0 {
				d.mu.Unlock()
				t := time.NewTimer(wait)
				select {
				case <-d.kick:
				case <-t.C:
				case <-d.ctx.Done():
					t.Stop()
					return
				}
				t.Stop()
				continue
			}
		}
		d.queue = d.queue[1:]
		d.busy++
		d.mu.Unlock()

		n := 1
		if it.Fault == HookDuplicated {
			n = 2
		}
		for range n {
			rec := d.post(it)
			s.mu.Lock()
			if rec.Status != 0 {
				it.hook.lastCode, it.hook.lastMessage = rec.Status, http.StatusText(rec.Status)
			} else {
				it.hook.lastCode, it.hook.lastMessage = 503, rec.Err
			}
			s.mu.Unlock()
			d.mu.Lock()
			d.log = append(d.log, rec)
			d.notify()
			d.mu.Unlock()
		}
		d.mu.Lock()
		d.busy--
		d.notify()
		d.mu.Unlock()
	}
}

// post sends one delivery and returns its log entry.
func (d *deliverer) post(it *delivery) Delivery {
	rec := it.Delivery
	rec.Header = it.Header.Clone()
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, it.URL, bytes.NewReader(it.Body))
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	req.Header = it.Header.Clone()
	resp, err := d.client.Do(req)
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	rec.Status = resp.StatusCode
	return rec
}

// FlushHooks waits until every queued webhook has been delivered (held
// reordered ones are released at once) or ctx is done.
func (s *Server) FlushHooks(ctx context.Context) error {
	d := &s.hooks
	d.mu.Lock()
	d.flushes++
	d.mu.Unlock()
	d.poke()
	defer func() {
		d.mu.Lock()
		d.flushes--
		d.mu.Unlock()
	}()
	for {
		d.mu.Lock()
		idle := len(d.queue) == 0 && d.busy == 0
		ch := d.changed
		d.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.done:
			return nil
		}
	}
}

// Deliveries returns a copy of the log of webhook deliveries, in the
// order they were made (lost ones when they were lost).
func (s *Server) Deliveries() []Delivery {
	d := &s.hooks
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Delivery, len(d.log))
	copy(out, d.log)
	return out
}
