package process

import (
	"context"
	"strconv"
	"time"
)

// TimeoutError is the failure of a step that ran out of time. Its text is
// the original DataKitCI's: `Exceeded timeout of 10 seconds`, or of N
// minutes from two minutes on (the original's threshold), with at most two
// decimals and no trailing zeros (`0.5 seconds`, `2.5 minutes`).
//
// errors.Is(err, context.DeadlineExceeded) holds for a *TimeoutError.
type TimeoutError struct {
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return "Exceeded timeout of " + formatDuration(e.Timeout)
}

// Is makes a TimeoutError match context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// WithTimeout returns a context that is done after d, with a *TimeoutError
// as its cause: Run, and anything that returns context.Cause(ctx), then
// fails with `Exceeded timeout of …`.
func WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(parent, d, &TimeoutError{Timeout: d})
}

func formatDuration(d time.Duration) string {
	s := d.Seconds()
	if s < 120 {
		return formatNumber(s) + " seconds"
	}
	return formatNumber(s/60) + " minutes"
}

// formatNumber is %.2f without trailing zeros.
func formatNumber(x float64) string {
	return strconv.FormatFloat(roundTo2(x), 'f', -1, 64)
}

func roundTo2(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 2, 64), 64)
	return v
}
