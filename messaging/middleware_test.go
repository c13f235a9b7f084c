package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

var msg = ports.Message{ID: "m1", Data: []byte("payload-secret-4242"), Attributes: map[string]string{"k": "v"}}

func TestChainOrder(t *testing.T) {
	var trace []string
	tag := func(name string) messaging.Middleware {
		return func(next ports.Handler) ports.Handler {
			return func(ctx context.Context, m ports.Message) error {
				trace = append(trace, name)
				return next(ctx, m)
			}
		}
	}
	h := messaging.Apply(func(context.Context, ports.Message) error { trace = append(trace, "h"); return nil },
		tag("a"), nil, tag("b"), tag("c"))
	if err := h(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trace, ","); got != "a,b,c,h" {
		t.Fatalf("order = %s, want a,b,c,h", got)
	}
}

func TestPermanent(t *testing.T) {
	if messaging.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	err := messaging.Permanent(fmt.Errorf("x: %w", ports.ErrNotFound))
	if !messaging.IsPermanent(err) || !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Permanent lost its mark or its cause: %v", err)
	}
	if messaging.IsPermanent(errBoom) || messaging.IsPermanent(fmt.Errorf("w: %w", errBoom)) {
		t.Fatal("a plain error is permanent")
	}
	if !messaging.IsPermanent(fmt.Errorf("wrapped: %w", err)) {
		t.Fatal("a wrapped permanent error is not permanent")
	}
	for _, e := range []error{ports.ErrInvalid, ports.ErrPermission, ports.ErrClosed, err, &messaging.PanicError{Value: 1}} {
		if messaging.DefaultRetryable(e) {
			t.Errorf("DefaultRetryable(%v) = true", e)
		}
	}
	for _, e := range []error{ports.ErrUnavailable, ports.ErrConflict, ports.ErrNotFound, errBoom} {
		if !messaging.DefaultRetryable(e) {
			t.Errorf("DefaultRetryable(%v) = false", e)
		}
	}
}

func TestRecover(t *testing.T) {
	log, buf := newLogger()
	h := messaging.Recover(log)(func(_ context.Context, m ports.Message) error {
		panic("cannot handle " + string(m.Data))
	})
	err := h(context.Background(), msg)
	var pe *messaging.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *PanicError", err)
	}
	if !messaging.IsPermanent(err) {
		t.Fatal("a panic is not permanent")
	}
	if pe.Value != "cannot handle payload-secret-4242" || len(pe.Stack) == 0 {
		t.Fatalf("PanicError = %+v", pe)
	}
	lines := buf.lines()
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), buf)
	}
	for _, leak := range []string{"secret", "4242", `"k"`} {
		if strings.Contains(lines[0], leak) || strings.Contains(err.Error(), leak) {
			t.Fatalf("the message's data leaked (%q):\nlog: %s\nerr: %v", leak, lines[0], err)
		}
	}
	for _, want := range []string{`"message_id":"m1"`, `"stack":`, "TestRecover", "a value of type string"} {
		if !strings.Contains(lines[0], want) {
			t.Fatalf("log line lacks %s:\n%s", want, lines[0])
		}
	}

	// A runtime error is described.
	h = messaging.Recover(log)(func(context.Context, ports.Message) error {
		var m map[string]int
		//lint:ignore SA5000 the runtime panic is the point
		m["x"] = 1
		return nil
	})
	err = h(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "assignment to entry in nil map") {
		t.Fatalf("err = %v", err)
	}
	// No panic: the handler's result as it is.
	h = messaging.Recover(log)(func(context.Context, ports.Message) error { return errBoom })
	if err := h(context.Background(), msg); err != errBoom {
		t.Fatalf("err = %v", err)
	}
}

func fastRetry(t *testing.T, cfg messaging.RetryConfig) messaging.Middleware {
	t.Helper()
	if cfg.Backoff == (messaging.Backoff{}) {
		cfg.Backoff = messaging.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Multiplier: 2, Jitter: 0.5}
	}
	return must[messaging.Middleware](t)(messaging.Retry(cfg))
}

func TestRetry(t *testing.T) {
	ctx := context.Background()
	t.Run("until success", func(t *testing.T) {
		var calls atomic.Int32
		h := fastRetry(t, messaging.RetryConfig{Attempts: 5})(func(context.Context, ports.Message) error {
			if calls.Add(1) < 3 {
				return ports.NewError("x", "y", ports.ErrUnavailable, nil)
			}
			return nil
		})
		if err := h(ctx, msg); err != nil || calls.Load() != 3 {
			t.Fatalf("err = %v after %d calls, want nil after 3", err, calls.Load())
		}
	})
	t.Run("attempts exhausted", func(t *testing.T) {
		var calls atomic.Int32
		h := fastRetry(t, messaging.RetryConfig{Attempts: 4})(func(context.Context, ports.Message) error {
			calls.Add(1)
			return errBoom
		})
		err := h(ctx, msg)
		if !errors.Is(err, errBoom) || calls.Load() != 4 || !strings.Contains(err.Error(), "4 attempts") {
			t.Fatalf("err = %v after %d calls", err, calls.Load())
		}
	})
	t.Run("permanent is not retried", func(t *testing.T) {
		for _, e := range []error{messaging.Permanent(errBoom), ports.NewError("x", "y", ports.ErrInvalid, nil)} {
			var calls atomic.Int32
			h := fastRetry(t, messaging.RetryConfig{Attempts: 5})(func(context.Context, ports.Message) error {
				calls.Add(1)
				return e
			})
			if err := h(ctx, msg); err != e || calls.Load() != 1 {
				t.Fatalf("err = %v after %d calls, want %v after 1", err, calls.Load(), e)
			}
		}
	})
	t.Run("custom predicate", func(t *testing.T) {
		var calls atomic.Int32
		h := fastRetry(t, messaging.RetryConfig{Attempts: 5, Retryable: func(error) bool { return false }})(
			func(context.Context, ports.Message) error { calls.Add(1); return errBoom })
		if err := h(ctx, msg); err != errBoom || calls.Load() != 1 {
			t.Fatalf("%d calls, want 1", calls.Load())
		}
	})
	t.Run("budget", func(t *testing.T) {
		// The first wait (1 h) would end past the budget: no retry, and
		// no wait.
		var calls atomic.Int32
		h := fastRetry(t, messaging.RetryConfig{Attempts: 5, Budget: time.Second,
			Backoff: messaging.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}})(
			func(context.Context, ports.Message) error { calls.Add(1); return errBoom })
		if err := h(ctx, msg); !errors.Is(err, errBoom) || calls.Load() != 1 {
			t.Fatalf("err = %v after %d calls", err, calls.Load())
		}
	})
	t.Run("ctx ends during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		var calls atomic.Int32
		h := fastRetry(t, messaging.RetryConfig{Attempts: 5, AckDeadline: time.Minute, Budget: 50 * time.Second,
			Backoff: messaging.Backoff{Initial: 40 * time.Second, Max: 40 * time.Second, Multiplier: 1}})(
			func(context.Context, ports.Message) error { calls.Add(1); cancel(); return errBoom })
		done := make(chan error, 1)
		go func() { done <- h(ctx, msg) }()
		select {
		case err := <-done:
			if !errors.Is(err, errBoom) || calls.Load() != 1 {
				t.Fatalf("err = %v after %d calls", err, calls.Load())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Retry kept waiting after its context ended")
		}
	})
	t.Run("every attempt shares the delivery's context", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(ctx, key{}, "delivery")
		var seen []any
		h := fastRetry(t, messaging.RetryConfig{})(func(ctx context.Context, _ ports.Message) error {
			seen = append(seen, ctx.Value(key{}))
			return errBoom
		})
		_ = h(ctx, msg)
		if len(seen) != 3 || seen[0] != "delivery" || seen[2] != "delivery" {
			t.Fatalf("seen = %v", seen)
		}
	})
}

func TestRetryConfigValidate(t *testing.T) {
	bad := map[string]messaging.RetryConfig{
		"negative attempts":        {Attempts: -1},
		"budget at the deadline":   {Budget: 10 * time.Second},
		"budget past the deadline": {AckDeadline: 20 * time.Second, Budget: 30 * time.Second},
		"deadline too short":       {AckDeadline: time.Second},
		"deadline too long":        {AckDeadline: time.Hour},
		"bad backoff":              {Backoff: messaging.Backoff{Initial: time.Second, Max: time.Millisecond, Multiplier: 2}},
		"bad jitter":               {Backoff: messaging.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 2, Jitter: 2}},
		"bad multiplier":           {Backoff: messaging.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 0.5}},
	}
	for name, cfg := range bad {
		if _, err := messaging.Retry(cfg); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := messaging.Retry(messaging.RetryConfig{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestBackoffDelayBounds(t *testing.T) {
	b := messaging.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.5}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 50 {
			d := b.Delay(n)
			if d > want || d < want/2 {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d := (messaging.Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 10}).Delay(1000); d != time.Minute {
		t.Fatalf("a huge exponent: Delay = %v, want the cap", d)
	}
}

func TestTimeout(t *testing.T) {
	if _, err := messaging.Timeout(0); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("Timeout(0): err = %v", err)
	}
	mw := must[messaging.Middleware](t)(messaging.Timeout(20 * time.Millisecond))
	// A handler that waits for its context fails with the timeout.
	h := mw(func(ctx context.Context, _ ports.Message) error {
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), messaging.ErrHandlerTimeout) {
			t.Errorf("cause = %v", context.Cause(ctx))
		}
		return ctx.Err()
	})
	err := h(context.Background(), msg)
	if !errors.Is(err, messaging.ErrHandlerTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// A fast handler is untouched.
	if err := mw(func(context.Context, ports.Message) error { return nil })(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	// The caller's own cancellation is not reported as a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = mw(func(ctx context.Context, _ ports.Message) error { return ctx.Err() })(ctx, msg)
	if !errors.Is(err, context.Canceled) || errors.Is(err, messaging.ErrHandlerTimeout) {
		t.Fatalf("err = %v", err)
	}
}
