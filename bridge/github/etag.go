package github

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
)

// etagCache keeps the last answer of each GET, by URL, with its ETag, so
// that the next GET of the URL is a conditional request: GitHub answers
// 304 Not Modified (which does not count against the rate limit) when
// nothing changed, and the cached answer is used.
type etagCache struct {
	max int
	m   *Metrics

	mu      sync.Mutex
	entries map[string]*cachedAnswer
	order   []string // insertion order, for eviction (may hold stale keys)
}

type cachedAnswer struct {
	etag   string
	header http.Header
	body   []byte
}

func newETagCache(max int, m *Metrics) *etagCache {
	return &etagCache{max: max, m: m, entries: map[string]*cachedAnswer{}}
}

func (c *etagCache) get(key string) *cachedAnswer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[key]
}

func (c *etagCache) put(key string, a *cachedAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		c.order = append(c.order, key)
	}
	c.entries[key] = a
	for len(c.entries) > c.max && len(c.order) > 0 {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	if len(c.order) > 2*c.max {
		// Compact: drop the keys evicted or deleted meanwhile.
		keep := c.order[:0]
		for _, k := range c.order {
			if _, ok := c.entries[k]; ok {
				keep = append(keep, k)
			}
		}
		c.order = keep
	}
}

func (c *etagCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

// etagTransport makes GETs conditional on the cached answer's ETag and
// answers a 304 with the cached answer (status 200, the 304's rate-limit
// headers), so that go-github sees the resource as if fetched.
type etagTransport struct {
	cache *etagCache
	next  http.RoundTripper
}

func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return t.next.RoundTrip(req)
	}
	key := req.Header.Get("Accept") + " " + req.URL.String()
	old := t.cache.get(key)
	if old != nil {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && old != nil:
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.cache.m.notModified.Inc()
		h := old.header.Clone()
		for k, v := range resp.Header {
			if strings.HasPrefix(k, "X-Ratelimit-") || k == "Date" {
				h[k] = v
			}
		}
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
			Header: h, Body: io.NopCloser(bytes.NewReader(old.body)), ContentLength: int64(len(old.body)), Request: req,
		}, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		t.cache.put(key, &cachedAnswer{etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		t.cache.drop(key)
	}
	return resp, nil
}
