package messaging

import (
	"context"
	"fmt"
	"time"

	"github.com/portkit/portkit/ports"
)

// RetryConfig configures [Retry].
type RetryConfig struct {
	// Attempts is how many times the handler may run per delivery, the
	// first included (default 3).
	Attempts int
	// Backoff spaces the attempts (default DefaultRetryBackoff).
	Backoff Backoff
	// AckDeadline is the subscription's ack deadline (default
	// ports.DefaultAckDeadline), within the port's bounds.
	AckDeadline time.Duration
	// Budget bounds the time from the first attempt to the start of the
	// last one: no wait is taken that would end past it. It must be below
	// AckDeadline (default: half of it), so that a delivery's retries end
	// before the backend would redeliver the message to someone else.
	Budget time.Duration
	// Retryable tells whether an error is worth another attempt (default
	// DefaultRetryable).
	Retryable func(error) bool
}

// DefaultRetryBackoff is Retry's backoff unless configured: 100 ms,
// doubling, capped at 2 s, half jitter.
var DefaultRetryBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.5}

func (c RetryConfig) withDefaults() RetryConfig {
	if c.Attempts == 0 {
		c.Attempts = 3
	}
	c.Backoff = c.Backoff.orDefault(DefaultRetryBackoff)
	if c.AckDeadline == 0 {
		c.AckDeadline = ports.DefaultAckDeadline
	}
	if c.Budget == 0 {
		c.Budget = c.AckDeadline / 2
	}
	if c.Retryable == nil {
		c.Retryable = DefaultRetryable
	}
	return c
}

// Validate reports a configuration out of range; the error names the
// field.
func (c RetryConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Attempts < 1:
		return configError("retry", "Attempts %d must be at least 1", c.Attempts)
	case c.AckDeadline < ports.MinAckDeadline || c.AckDeadline > ports.MaxAckDeadline:
		return configError("retry", "AckDeadline %v is outside %v..%v", c.AckDeadline, ports.MinAckDeadline, ports.MaxAckDeadline)
	case c.Budget < 0 || c.Budget >= c.AckDeadline:
		return configError("retry", "Budget %v must be positive and below AckDeadline %v", c.Budget, c.AckDeadline)
	}
	return c.Backoff.Validate()
}

// Retry runs the handler again, in process, when it fails with a
// retryable error, waiting by cfg.Backoff between attempts, until it
// succeeds, cfg.Attempts have run, the next wait would end past
// cfg.Budget, or ctx ends; then the delivery is acked (success) or nacked
// with the last error, wrapped with the number of attempts. A retry here is
// far cheaper than a redelivery, and keeps the message's place in its
// ordering key.
//
// The budget bounds waiting, not the attempts themselves: bound those with
// [Timeout] inside Retry.
func Retry(cfg RetryConfig) (Middleware, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error {
			start := time.Now()
			for attempt := 1; ; attempt++ {
				err := next(ctx, m)
				if err == nil {
					return nil
				}
				if attempt >= cfg.Attempts || !cfg.Retryable(err) || ctx.Err() != nil {
					return wrapAttempts(attempt, err)
				}
				d := cfg.Backoff.Delay(attempt - 1)
				if time.Since(start)+d >= cfg.Budget || !sleep(ctx, d) {
					return wrapAttempts(attempt, err)
				}
			}
		}
	}, nil
}

func wrapAttempts(n int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("messaging: %d attempts failed, the last with: %w", n, err)
}
