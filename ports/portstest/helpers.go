package portstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// Bounds the suites use. They are generous so that real backends on a busy
// machine pass, and bounded so that a hanging implementation fails instead
// of stalling the test binary.
const (
	// caseTimeout bounds the context every case runs with.
	caseTimeout = 2 * time.Minute
	// promptBound is how soon a call with a cancelled context, or a Close,
	// must return.
	promptBound = 3 * time.Second
	// deliveryWait bounds how long the Pub/Sub suite waits for a delivery
	// or a redelivery.
	deliveryWait = 20 * time.Second
)

// testCase is one named case of a suite, run on a fresh environment E.
type testCase[E any] struct {
	name string
	run  func(t *testing.T, e E)
}

// names returns the case names of cs, in order.
func names[E any](cs []testCase[E]) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

// runCases runs every case of cs as a parallel subtest of a group subtest
// named group (which returns only when all cases are done, so a caller's
// deferred cleanup runs after them). Each case calls newEnv for a fresh
// implementation.
func runCases[E any](t *testing.T, group string, cs []testCase[E], newEnv func(t *testing.T) E) {
	t.Helper()
	t.Run(group, func(t *testing.T) {
		for _, c := range cs {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				if s, ok := any(e).(interface{ skips() Skips }); ok {
					s.skips().skip(t, c.name)
				}
				c.run(t, e)
			})
		}
	})
}

// caseCtx returns a context for one case: cancelled when the case ends, and
// bounded so that a hanging call fails the case instead of the binary.
func caseCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	t.Cleanup(cancel)
	return ctx
}

// cancelledCtx returns a context that is already cancelled.
func cancelledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uniquePrefix returns a prefix no other subtest uses: it starts with a
// letter and holds only ASCII letters, digits and '-', so that it is also a
// valid Pub/Sub resource name.
func uniquePrefix() string { return "pt-" + randomHex(6) }

// sentinelName names the ports sentinel err matches, for failure messages.
func sentinelName(err error) string {
	if n := ports.KindName(err); n != "none" {
		return n
	}
	return "no ports sentinel"
}

// wantErr fails t unless errors.Is(err, target); what describes the call.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got err %v (%s), want %s", what, err, sentinelName(err), sentinelName(target))
	}
}

// wantNoErr fails t now when err is not nil.
func wantNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error %v (%s)", what, err, sentinelName(err))
	}
}

// isCancelErr reports whether err is what a call with a cancelled context
// must return: the context's error or ErrUnavailable wrapping it.
func isCancelErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ports.ErrUnavailable)
}

// prompt runs fn and fails t when it does not return within bound. A hung
// fn is left running (the case fails; the test binary's own timeout or
// goleak reports it).
func prompt(t *testing.T, what string, bound time.Duration, fn func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		t.Errorf("%s: did not return within %v", what, bound)
		return false
	}
}

// wantCancelled checks a call made with a cancelled context: it must
// return promptly with an error that is the context's or ErrUnavailable.
func wantCancelled(t *testing.T, what string, call func(ctx context.Context) error) {
	t.Helper()
	var err error
	if !prompt(t, what+" with a cancelled context", promptBound, func() { err = call(cancelledCtx()) }) {
		return
	}
	if !isCancelErr(err) {
		t.Errorf("%s with a cancelled context: got err %v (%s), want context.Canceled or ErrUnavailable", what, err, sentinelName(err))
	}
}

// waitFor polls cond until it holds or max has passed; it reports whether
// cond held.
func waitFor(t *testing.T, max time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(max)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closeConn closes c and fails t unless the first Close returns nil.
func closeConn(t *testing.T, c ports.Connector) {
	t.Helper()
	var err error
	if !prompt(t, "Close", 30*time.Second, func() { err = c.Close(context.Background()) }) {
		t.FailNow()
	}
	wantNoErr(t, "first Close", err)
}

// ms returns tm in UTC truncated to milliseconds, the precision every
// backend keeps.
func ms(tm time.Time) time.Time { return tm.UTC().Truncate(time.Millisecond) }

// sameStrings reports whether a and b hold the same strings, in any order.
func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// parallel16 runs fn(i) for i in [0,16) in 16 goroutines at once and
// returns their errors.
func parallel16(fn func(i int) error) []error {
	const n = 16
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return errs
}

// firstErr returns the first non-nil error of errs, annotated with its
// index.
func firstErr(errs []error) error {
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("goroutine %d: %w", i, err)
		}
	}
	return nil
}
