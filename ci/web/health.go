package web

import (
	"sort"
	"sync"
)

// Health collects what other parts of the CI process report about their
// own health, such as the in-process GitHub bridge whose token GitHub
// rejects: a problem per source. The web UI shows each problem as a
// banner on every page, and /healthz answers 503 with them. The zero
// value (and nil) has no problems. It is safe for concurrent use.
type Health struct {
	mu       sync.Mutex
	problems map[string]string
}

// Set reports the problem of source (a short name, e.g. "github"), in a
// sentence for the CI's users; "" says source is well again.
func (h *Health) Set(source, problem string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if problem == "" {
		delete(h.problems, source)
		return
	}
	if h.problems == nil {
		h.problems = map[string]string{}
	}
	h.problems[source] = problem
}

// Problems returns the problems reported and not fixed, by source.
func (h *Health) Problems() []string {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	srcs := make([]string, 0, len(h.problems))
	for s := range h.problems {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = h.problems[s]
	}
	return out
}

// problems are the banners of every page: the store, then Options.Health.
func (s *Server) problems() []string {
	var out []string
	if !s.e.Running() {
		out = append(out, storeProblem)
	}
	return append(out, s.opts.Health.Problems()...)
}

const storeProblem = "The CI is not connected to its store: what is shown may be out of date."
