package messaging

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff with jitter: the wait before retry n
// (counting from 0) is Initial·Multiplier^n, capped at Max, then shortened
// by a random fraction of up to Jitter of itself, so that clients that
// failed together do not retry together.
type Backoff struct {
	// Initial is the first wait (> 0).
	Initial time.Duration
	// Max caps every wait (>= Initial).
	Max time.Duration
	// Multiplier grows the wait from one retry to the next (>= 1).
	Multiplier float64
	// Jitter is the largest fraction of a wait taken off at random, in
	// [0, 1]: 0.5 waits between half the wait and the whole of it.
	Jitter float64
}

// Validate reports a Backoff whose fields are out of range.
func (b Backoff) Validate() error {
	switch {
	case b.Initial <= 0:
		return configError("backoff", "Initial %v must be positive", b.Initial)
	case b.Max < b.Initial:
		return configError("backoff", "Max %v is below Initial %v", b.Max, b.Initial)
	case !(b.Multiplier >= 1) || math.IsInf(b.Multiplier, 0):
		return configError("backoff", "Multiplier %v must be at least 1", b.Multiplier)
	case !(b.Jitter >= 0 && b.Jitter <= 1):
		return configError("backoff", "Jitter %v is outside [0, 1]", b.Jitter)
	}
	return nil
}

// orDefault returns b, or d when b is the zero Backoff.
func (b Backoff) orDefault(d Backoff) Backoff {
	if b == (Backoff{}) {
		return d
	}
	return b
}

// Delay returns the wait before retry n (0 for the first retry).
func (b Backoff) Delay(n int) time.Duration { return b.delay(n, rand.Float64()) }

// delay is Delay with the random number r in [0, 1) given.
func (b Backoff) delay(n int, r float64) time.Duration {
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(max(n, 0)))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.Max)
	}
	d -= d * b.Jitter * r
	return time.Duration(d)
}

// sleep waits d or until ctx ends; it reports whether it waited the whole
// of d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
