package fakegithub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ControlPrefix is where a server with Options.Control answers its
// control API, which does over HTTP what tests do with Go methods. It
// needs no authentication (the server is a local stand-in) and its
// requests are not API calls (they are not counted). Bodies are JSON:
//
//	GET  /_fakegithub/stats                      {"calls", "not_modified", "routes": {route: RouteStats}}
//	GET  /_fakegithub/calls                      [Call…], the log of API requests
//	POST /_fakegithub/push                       {"repo", "ref", "sha"}: Push ("sha" "" deletes)
//	POST /_fakegithub/pulls                      {"repo", "title", "head", "base", "body"}: OpenPR, answers {"number"}
//	POST /_fakegithub/pulls/edit                 {"repo", "number", "title", "state", "base"}: EditPR
//	POST /_fakegithub/statuses                   {"repo", "sha", "state", "context", "description", "target_url"}: SetStatus
//	GET  /_fakegithub/statuses?repo=R&sha=S      [Status…] of commit S, oldest first
//	POST /_fakegithub/reset-stats                ResetStats
//
// Errors are answered 400 (bad input), 404 (no such repository or PR)
// or 405 (wrong method), with {"message"}.
const ControlPrefix = "/_fakegithub/"

// controlRequest is the body of the control API's POSTs; each uses the
// fields its line above names.
type controlRequest struct {
	Repo        string  `json:"repo"`
	Ref         string  `json:"ref"`
	SHA         string  `json:"sha"`
	Title       *string `json:"title"`
	Head        string  `json:"head"`
	Base        *string `json:"base"`
	Body        string  `json:"body"`
	Number      int     `json:"number"`
	State       *string `json:"state"`
	Context     string  `json:"context"`
	Description string  `json:"description"`
	TargetURL   string  `json:"target_url"`
}

// decodeControl reads a control request body: one JSON object with known
// fields only.
func decodeControl(b []byte) (controlRequest, error) {
	var req controlRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return controlRequest{}, fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	if dec.More() {
		return controlRequest{}, fmt.Errorf("%w: body: more than one JSON value", ErrInvalid)
	}
	return req, nil
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	what := strings.TrimPrefix(r.URL.Path, ControlPrefix)
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(err error) {
		code := http.StatusBadRequest
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
		reply(code, map[string]string{"message": err.Error()})
	}
	gets := map[string]bool{"stats": true, "calls": true, "statuses": true}
	if r.Method == http.MethodGet && gets[what] {
		switch what {
		case "stats":
			calls, nm := s.TotalCalls()
			reply(http.StatusOK, map[string]any{"calls": calls, "not_modified": nm, "routes": s.Stats()})
		case "calls":
			reply(http.StatusOK, s.Calls())
		case "statuses":
			sts, err := s.Statuses(r.URL.Query().Get("repo"), r.URL.Query().Get("sha"))
			if err != nil {
				fail(err)
				return
			}
			if sts == nil {
				sts = []Status{}
			}
			reply(http.StatusOK, sts)
		}
		return
	}
	posts := map[string]bool{"push": true, "pulls": true, "pulls/edit": true, "statuses": true, "reset-stats": true}
	if !posts[what] {
		reply(http.StatusNotFound, map[string]string{"message": "no control " + r.URL.Path + " (see fakegithub --help)"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		reply(http.StatusMethodNotAllowed, map[string]string{"message": r.Method + " " + r.URL.Path + ": use POST"})
		return
	}
	buf, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		fail(fmt.Errorf("%w: body: %v", ErrInvalid, err))
		return
	}
	var req controlRequest
	if what != "reset-stats" {
		if req, err = decodeControl(buf); err != nil {
			fail(err)
			return
		}
	}
	var out any = map[string]string{}
	switch what {
	case "push":
		err = s.Push(req.Repo, Push{Ref: req.Ref, SHA: req.SHA})
	case "pulls":
		var n int
		title := ""
		if req.Title != nil {
			title = *req.Title
		}
		base := ""
		if req.Base != nil {
			base = *req.Base
		}
		n, err = s.OpenPR(req.Repo, NewPR{Title: title, Head: req.Head, Base: base, Body: req.Body})
		out = map[string]int{"number": n}
	case "pulls/edit":
		err = s.EditPR(req.Repo, req.Number, PREdit{Title: req.Title, State: req.State, Base: req.Base})
	case "statuses":
		state := ""
		if req.State != nil {
			state = *req.State
		}
		err = s.SetStatus(req.Repo, req.SHA, Status{State: state, Context: req.Context, Description: req.Description, TargetURL: req.TargetURL})
	case "reset-stats":
		s.ResetStats()
	}
	if err != nil {
		fail(err)
		return
	}
	reply(http.StatusOK, out)
}
