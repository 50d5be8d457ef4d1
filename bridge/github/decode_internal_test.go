package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// octokit is where internal/fakegithub keeps GitHub's published webhook
// payload examples (octokit/webhooks, MIT).
const octokit = "../../internal/fakegithub/testdata/octokit-webhooks"

func readPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(octokit, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GitHub's own payloads decode into the events the bridge uses, as JSON
// and as a form.
func TestDecodeRealPayloads(t *testing.T) {
	for _, tc := range []struct {
		file, kind string
		want       event
	}{
		{"push/payload.json", "push", event{kind: eventRef, ref: "tags/simple-tag", deleted: true}},
		{"push/with-new-branch.payload.json", "push", event{kind: eventRef, ref: "heads/master"}},
		{"create/payload.json", "create", event{kind: eventRef, ref: "tags/simple-tag"}},
		{"delete/payload.json", "delete", event{kind: eventRef, ref: "tags/simple-tag", deleted: true}},
		{"pull_request/opened.payload.json", "pull_request", event{kind: eventPR}},
		{"pull_request/closed.payload.json", "pull_request", event{kind: eventPR}},
		{"pull_request/synchronize.payload.json", "pull_request", event{kind: eventPR}},
		{"status/payload.json", "status", event{kind: eventStatus}},
		{"ping/payload.json", "ping", event{}},
	} {
		body := readPayload(t, tc.file)
		for _, form := range []bool{false, true} {
			ctype, b := "application/json", body
			if form {
				ctype, b = "application/x-www-form-urlencoded", []byte("payload="+url.QueryEscape(string(body)))
			}
			evs, err := decodeEvent(tc.kind, ctype, b)
			if err != nil {
				t.Errorf("%s (form %v): %v", tc.file, form, err)
				continue
			}
			if tc.want.kind == 0 {
				if len(evs) != 0 {
					t.Errorf("%s: %+v, want no event", tc.file, evs)
				}
				continue
			}
			if len(evs) != 1 {
				t.Errorf("%s: %d events", tc.file, len(evs))
				continue
			}
			e := evs[0]
			if e.kind != tc.want.kind || e.repo.Valid() != nil {
				t.Errorf("%s: %+v", tc.file, e)
			}
			switch e.kind {
			case eventRef:
				if e.ref != tc.want.ref || e.deleted != tc.want.deleted || (!e.deleted && tc.kind == "push" && !validSHA(e.head)) {
					t.Errorf("%s: ref %q deleted %v head %q, want %q deleted %v", tc.file, e.ref, e.deleted, e.head, tc.want.ref, tc.want.deleted)
				}
			case eventPR:
				if !validPR(e.pr) {
					t.Errorf("%s: PR %+v", tc.file, e.pr)
				}
			case eventStatus:
				if !validSHA(e.status.commit) || e.id == 0 || e.value.state == "" {
					t.Errorf("%s: status %+v", tc.file, e)
				}
			}
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, tc := range []struct{ file, kind string }{
		{"push/payload.json", "push"}, {"push/with-new-branch.payload.json", "push"}, {"create/payload.json", "create"},
		{"delete/payload.json", "delete"}, {"pull_request/opened.payload.json", "pull_request"},
		{"status/payload.json", "status"}, {"ping/payload.json", "ping"},
	} {
		f.Add(tc.kind, "application/json", string(readPayload(f, tc.file)))
	}
	f.Add("push", "application/x-www-form-urlencoded", "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fx%22%7D")
	f.Add("status", "application/json", `{"sha":"abc","context":"default","repository":{"full_name":"a/b"}}`)
	f.Fuzz(func(t *testing.T, kind, ctype, body string) {
		evs, err := decodeEvent(kind, ctype, []byte(body))
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.repo.Valid() != nil {
				t.Errorf("event with invalid repository %v", e.repo)
			}
			switch e.kind {
			case eventRef:
				if !strings.HasPrefix(e.ref, "heads/") && !strings.HasPrefix(e.ref, "tags/") {
					t.Errorf("ref event with ref %q", e.ref)
				}
			case eventPR:
				if e.pr.Number <= 0 {
					t.Errorf("PR event with number %d", e.pr.Number)
				}
			case eventStatus:
				if !validSHA(e.status.commit) {
					t.Errorf("status event with commit %q", e.status.commit)
				}
			default:
				t.Errorf("event of kind %d", e.kind)
			}
		}
	})
}

func FuzzSignature(f *testing.F) {
	f.Add([]byte("key"), []byte(`{"zen":"x"}`), "")
	f.Add([]byte(""), []byte(""), "sha256=00")
	f.Fuzz(func(t *testing.T, key, body []byte, header string) {
		m := hmac.New(sha256.New, key)
		m.Write(body)
		good := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if !validSignature(key, body, good) {
			t.Errorf("the right signature is refused")
		}
		if validSignature(key, body, header) && !strings.EqualFold(header, good) {
			t.Errorf("signature %q accepted, want %q", header, good)
		}
	})
}
