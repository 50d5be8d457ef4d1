package fakegithub

import (
	"encoding/binary"
	"hash/fnv"
	"time"
)

// Fault is a fault injected into an API request.
type Fault int

// The faults of API requests.
const (
	FaultNone Fault = iota
	// FaultServerError answers 502 (or Faults.ServerErrorStatus) with
	// {"message":"Server Error"}.
	FaultServerError
	// FaultRateLimit answers 403 as for an exhausted primary rate limit:
	// X-RateLimit-Remaining 0 and a reset Faults.RateLimitReset away
	// (go-github: *github.RateLimitError).
	FaultRateLimit
	// FaultSecondaryRateLimit answers 403 with Retry-After and the
	// secondary rate limit's documentation URL (go-github:
	// *github.AbuseRateLimitError).
	FaultSecondaryRateLimit
	// FaultDisconnect closes the connection without an answer.
	FaultDisconnect
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultServerError:
		return "server-error"
	case FaultRateLimit:
		return "rate-limit"
	case FaultSecondaryRateLimit:
		return "secondary-rate-limit"
	case FaultDisconnect:
		return "disconnect"
	}
	return "fault?"
}

// HookFault is a fault injected into a webhook delivery.
type HookFault int

// The faults of webhook deliveries.
const (
	HookDelivered HookFault = iota
	// HookLost is never sent.
	HookLost
	// HookDuplicated is sent twice, with the same X-GitHub-Delivery.
	HookDuplicated
	// HookReordered is sent after the next delivery queued (or after
	// Faults.ReorderHold if none comes).
	HookReordered
)

func (f HookFault) String() string {
	switch f {
	case HookDelivered:
		return "delivered"
	case HookLost:
		return "lost"
	case HookDuplicated:
		return "duplicated"
	case HookReordered:
		return "reordered"
	}
	return "fault?"
}

// Faults says which faults to inject, as fractions between 0 and 1 of
// the requests (or deliveries) they hit. Which request gets which fault
// depends only on Seed and the request's sequence number (the n-th API
// request since New, the n-th delivery queued): the same seed and the
// same sequence of requests give the same faults.
type Faults struct {
	Seed uint64

	// Fractions of API requests answered by a fault (they add up; at
	// most 1 in total).
	ServerErrors        float64
	RateLimits          float64
	SecondaryRateLimits float64
	Disconnects         float64
	// Slow is the fraction of requests answered Delay late (independent
	// of the others: a slow request may also fail).
	Slow  float64
	Delay time.Duration // 0 means 2 seconds

	// ServerErrorStatus is the status of server errors; 0 means 502.
	ServerErrorStatus int
	// RateLimitReset is how far the reset of an injected rate limit is;
	// 0 means 1 second.
	RateLimitReset time.Duration
	// RetryAfter is the Retry-After of secondary rate limits; 0 means a
	// minute.
	RetryAfter time.Duration
	// Match, if not nil, limits API faults to the requests for which it
	// returns true; route is as in Stats.
	Match func(method, route string) bool

	// Fractions of webhook deliveries lost, duplicated and reordered.
	HooksLost       float64
	HooksDuplicated float64
	HooksReordered  float64
	// ReorderHold is how long a reordered delivery waits for a next one;
	// 0 means 200ms.
	ReorderHold time.Duration
}

// SetFaults replaces the faults injected from now on.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (f Faults) delay() time.Duration {
	if f.Delay <= 0 {
		return 2 * time.Second
	}
	return f.Delay
}

// draw returns a number in [0, 1) that depends only on the seed, the
// sequence number and the purpose.
func (f Faults) draw(seq int64, purpose byte) float64 {
	h := fnv.New64a()
	var b [17]byte
	binary.LittleEndian.PutUint64(b[0:], f.Seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(seq))
	b[16] = purpose
	h.Write(b[:])
	// A splitmix64 finalizer spreads FNV's low-entropy high bits.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// decide picks the fault of API request seq, and whether it is slow.
func (f Faults) decide(seq int64, method, route string) (Fault, bool) {
	if f.Match != nil && !f.Match(method, route) {
		return FaultNone, false
	}
	slow := f.Slow > 0 && f.draw(seq, 's') < f.Slow
	u := f.draw(seq, 'f')
	for _, c := range []struct {
		p float64
		f Fault
	}{
		{f.ServerErrors, FaultServerError},
		{f.RateLimits, FaultRateLimit},
		{f.SecondaryRateLimits, FaultSecondaryRateLimit},
		{f.Disconnects, FaultDisconnect},
	} {
		if u < c.p {
			return c.f, slow
		}
		u -= c.p
	}
	return FaultNone, slow
}

// decideHook picks the fault of delivery seq.
func (f Faults) decideHook(seq int64) HookFault {
	u := f.draw(seq, 'h')
	for _, c := range []struct {
		p float64
		f HookFault
	}{
		{f.HooksLost, HookLost},
		{f.HooksDuplicated, HookDuplicated},
		{f.HooksReordered, HookReordered},
	} {
		if u < c.p {
			return c.f
		}
		u -= c.p
	}
	return HookDelivered
}
