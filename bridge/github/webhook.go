package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/dkgo/datakit/bridge"
)

// eventKind is what a webhook event is about.
type eventKind int

const (
	eventPR eventKind = iota + 1
	eventRef
	eventStatus
)

// event is what the bridge takes from a webhook delivery.
type event struct {
	repo bridge.Repo
	kind eventKind

	pr   bridge.PR // eventPR: the PR as the payload has it (no comments)
	body string    // eventPR: its body

	ref     string // eventRef: "heads/x", "tags/v1"
	head    string // eventRef: the commit, "" if the payload does not say
	deleted bool   // eventRef: the ref is gone

	status ckey // eventStatus
	value  statusValue
	id     int64
}

// maxPayload is GitHub's limit on a webhook payload.
const maxPayload = 25 << 20

// Handler returns the HTTP handler of the bridge's webhook: it answers
// POSTs to the path of Options.Webhook's URL (any path if the URL has
// none). A delivery whose X-Hub-Signature-256 is missing or is not the
// HMAC-SHA256 of its body with the secret is answered 401 and changes
// nothing. Accepted deliveries of the events create, delete, push,
// status and pull_request (JSON, or form-encoded as GitHub's default
// content type) are queued for the next sync, which Run starts at once;
// other events (ping) are answered and ignored. Without
// Options.Webhook, every request is answered 404.
func (b *Bridge) Handler() http.Handler { return http.HandlerFunc(b.serveHook) }

func (b *Bridge) serveHook(w http.ResponseWriter, r *http.Request) {
	wh := b.opts.Webhook
	if wh == nil || !pathMatches(wh.URL, r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhook deliveries are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		http.Error(w, "reading the delivery: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxPayload {
		b.m.rejected.Inc()
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !validSignature(wh.Secret, body, r.Header.Get("X-Hub-Signature-256")) {
		b.m.rejected.Inc()
		b.log.Warn("github bridge: webhook delivery refused: bad or missing signature", "from", r.RemoteAddr, "delivery", r.Header.Get("X-GitHub-Delivery"))
		http.Error(w, "bad or missing X-Hub-Signature-256", http.StatusUnauthorized)
		return
	}
	kind := r.Header.Get("X-GitHub-Event")
	evs, err := decodeEvent(kind, r.Header.Get("Content-Type"), body)
	if err != nil {
		b.m.rejected.Inc()
		b.log.Warn("github bridge: webhook delivery refused", "event", kind, "delivery", r.Header.Get("X-GitHub-Delivery"), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.m.events.WithLabelValues(kind).Inc()
	if len(evs) > 0 && b.caps.Check(Read, Webhook) {
		b.emu.Lock()
		if len(b.events)+len(evs) > maxEvents {
			b.events, b.overflow = nil, true
		} else {
			b.events = append(b.events, evs...)
		}
		b.emu.Unlock()
		b.wake()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// pathMatches reports whether path is the path of the webhook's URL.
func pathMatches(hookURL, path string) bool {
	u, err := url.Parse(hookURL)
	if err != nil || u.Path == "" || u.Path == "/" {
		return true
	}
	return strings.TrimSuffix(u.Path, "/") == strings.TrimSuffix(path, "/")
}

// validSignature reports whether header ("sha256=<hex>") is the
// HMAC-SHA256 of body with secret, comparing in constant time.
func validSignature(secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// decodeEvent decodes a delivery's body (JSON, or a form whose field
// payload holds the JSON) into the events the bridge uses: none for
// events it does not use.
func decodeEvent(kind, contentType string, body []byte) ([]event, error) {
	payload := body
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("a form body that does not parse: %w", err)
		}
		payload = []byte(form.Get("payload"))
	}
	switch kind {
	case "pull_request", "push", "create", "delete", "status":
	case "":
		return nil, errors.New("no X-GitHub-Event")
	default:
		return nil, nil // ping, and events not subscribed to
	}
	parsed, err := gh.ParseWebHook(kind, payload)
	if err != nil {
		return nil, fmt.Errorf("a %s payload that does not parse: %w", kind, err)
	}
	repoOf := func(fullName string) (bridge.Repo, error) {
		r, err := bridge.ParseRepo(fullName)
		if err != nil {
			return bridge.Repo{}, fmt.Errorf("a %s payload with repository %q: %w", kind, fullName, err)
		}
		return r, nil
	}
	switch e := parsed.(type) {
	case *gh.PullRequestEvent:
		repo, err := repoOf(e.GetRepo().GetFullName())
		if err != nil {
			return nil, err
		}
		pr := prOf(repo, e.GetPullRequest(), nil)
		if pr.Number <= 0 {
			return nil, fmt.Errorf("a pull_request payload with no PR number")
		}
		return []event{{repo: repo, kind: eventPR, pr: pr, body: e.GetPullRequest().GetBody()}}, nil
	case *gh.PushEvent:
		repo, err := repoOf(e.GetRepo().GetFullName())
		if err != nil {
			return nil, err
		}
		name, ok := strings.CutPrefix(e.GetRef(), "refs/")
		if !ok || !(strings.HasPrefix(name, "heads/") || strings.HasPrefix(name, "tags/")) {
			return nil, nil // refs/pull/…, notes: not in the metadata
		}
		ev := event{repo: repo, kind: eventRef, ref: name}
		if e.GetDeleted() || e.HeadCommit == nil {
			ev.deleted = true // a push with no head commit removes the ref
		} else {
			ev.head = strings.ToLower(e.GetHeadCommit().GetID())
		}
		return []event{ev}, nil
	case *gh.CreateEvent:
		repo, err := repoOf(e.GetRepo().GetFullName())
		if err != nil {
			return nil, err
		}
		name, ok := refName(e.GetRefType(), e.GetRef())
		if !ok {
			return nil, nil
		}
		return []event{{repo: repo, kind: eventRef, ref: name}}, nil
	case *gh.DeleteEvent:
		repo, err := repoOf(e.GetRepo().GetFullName())
		if err != nil {
			return nil, err
		}
		name, ok := refName(e.GetRefType(), e.GetRef())
		if !ok {
			return nil, nil
		}
		return []event{{repo: repo, kind: eventRef, ref: name, deleted: true}}, nil
	case *gh.StatusEvent:
		repo, err := repoOf(e.GetRepo().GetFullName())
		if err != nil {
			return nil, err
		}
		sha := strings.ToLower(e.GetSHA())
		if !validSHA(sha) {
			return nil, fmt.Errorf("a status payload with commit %q", e.GetSHA())
		}
		return []event{{repo: repo, kind: eventStatus, status: ckey{sha, contextOf(e.GetContext())},
			value: statusValue{state: e.GetState(), descr: e.GetDescription(), url: e.GetTargetURL()}, id: e.GetID()}}, nil
	}
	return nil, nil
}

// refName makes the metadata's ref name of a create or delete event's
// ref_type and ref.
func refName(refType, ref string) (string, bool) {
	switch refType {
	case "branch":
		return "heads/" + ref, ref != ""
	case "tag":
		return "tags/" + ref, ref != ""
	}
	return "", false
}
