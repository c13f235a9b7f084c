package portstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// TestConnector runs the Connector conformance suite: every case of
// [ConnectorCases] as a parallel subtest of a subtest named "Connector",
// each on a fresh, open connector from newConn (which must not call
// t.Parallel itself) whose backend is up.
//
// It checks:
//   - Name reports ConnectorSetup.Name;
//   - Check returns nil; with a cancelled context it returns promptly with
//     the context's error or ErrUnavailable; with a short deadline it
//     returns within the deadline (plus scheduling slack), nil or such an
//     error;
//   - 16 concurrent Checks all return nil;
//   - Close returns nil, a second Close returns ErrClosed, Check after
//     Close returns ErrClosed, a Close with a cancelled context still
//     closes and returns promptly;
//   - Close racing 16 goroutines of Checks: each Check returns nil or
//     ErrClosed, Close returns nil, and every Check after it ErrClosed.
//
// No capability flags: every implementation supports every case.
func TestConnector(t *testing.T, newConn func(t *testing.T) ConnectorSetup) {
	t.Helper()
	runCases(t, "Connector", connectorCases(), func(t *testing.T) ConnectorSetup {
		s := newConn(t)
		if s.Connector == nil {
			t.Fatal("ConnectorSetup.Connector is nil")
		}
		return s
	})
}

// ConnectorCases returns the names of the cases TestConnector runs, in
// order.
func ConnectorCases() []string { return names(connectorCases()) }

// slack is what a deadline-bounded call may overrun its deadline by on a
// busy machine.
const slack = time.Second

func connectorCases() []testCase[ConnectorSetup] {
	return []testCase[ConnectorSetup]{
		{"Name", func(t *testing.T, s ConnectorSetup) {
			if got := s.Connector.Name(); got != s.Name {
				t.Errorf("Name() = %q, want %q", got, s.Name)
			}
		}},
		{"Check", func(t *testing.T, s ConnectorSetup) {
			wantNoErr(t, "Check of an open connector whose backend is up", s.Connector.Check(caseCtx(t)))
		}},
		{"CheckCancelled", func(t *testing.T, s ConnectorSetup) {
			wantCancelled(t, "Check", s.Connector.Check)
		}},
		{"CheckShortDeadline", func(t *testing.T, s ConnectorSetup) {
			const deadline = 50 * time.Millisecond
			ctx, cancel := context.WithTimeout(caseCtx(t), deadline)
			defer cancel()
			var err error
			if !prompt(t, "Check with a 50ms deadline", deadline+slack, func() { err = s.Connector.Check(ctx) }) {
				return
			}
			if err != nil && !isCancelErr(err) {
				t.Errorf("Check with a 50ms deadline: got err %v (%s), want nil, the context's error or ErrUnavailable", err, sentinelName(err))
			}
		}},
		{"CheckExpiredDeadline", func(t *testing.T, s ConnectorSetup) {
			ctx, cancel := context.WithDeadline(caseCtx(t), time.Now().Add(-time.Second))
			defer cancel()
			var err error
			if !prompt(t, "Check with a past deadline", promptBound, func() { err = s.Connector.Check(ctx) }) {
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("Check with a past deadline: got err %v (%s), want context.DeadlineExceeded or ErrUnavailable", err, sentinelName(err))
			}
		}},
		{"ConcurrentChecks", func(t *testing.T, s ConnectorSetup) {
			ctx := caseCtx(t)
			errs := parallel16(func(int) error {
				for range 5 {
					if err := s.Connector.Check(ctx); err != nil {
						return err
					}
				}
				return nil
			})
			wantNoErr(t, "16 goroutines calling Check", firstErr(errs))
		}},
		{"Close", func(t *testing.T, s ConnectorSetup) {
			closeConn(t, s.Connector)
		}},
		{"CloseTwice", func(t *testing.T, s ConnectorSetup) {
			closeConn(t, s.Connector)
			var err error
			if prompt(t, "second Close", promptBound, func() { err = s.Connector.Close(context.Background()) }) {
				wantErr(t, "second Close", err, ports.ErrClosed)
			}
		}},
		{"CheckAfterClose", func(t *testing.T, s ConnectorSetup) {
			ctx := caseCtx(t)
			closeConn(t, s.Connector)
			var err error
			if prompt(t, "Check after Close", promptBound, func() { err = s.Connector.Check(ctx) }) {
				wantErr(t, "Check after Close", err, ports.ErrClosed)
			}
			if got := s.Connector.Name(); got != s.Name {
				t.Errorf("Name() after Close = %q, want %q", got, s.Name)
			}
		}},
		{"CloseCancelled", func(t *testing.T, s ConnectorSetup) {
			ctx := caseCtx(t)
			prompt(t, "Close with a cancelled context", promptBound, func() { _ = s.Connector.Close(cancelledCtx()) })
			var err error
			if prompt(t, "Check after Close with a cancelled context", promptBound, func() { err = s.Connector.Check(ctx) }) {
				wantErr(t, "Check after Close with a cancelled context (Close must close even when it cannot wait)", err, ports.ErrClosed)
			}
			wantErr(t, "Close after Close with a cancelled context", s.Connector.Close(context.Background()), ports.ErrClosed)
		}},
		{"CloseRacingChecks", func(t *testing.T, s ConnectorSetup) {
			ctx := caseCtx(t)
			closed := make(chan error, 1)
			errs := parallel16(func(g int) error {
				if g == 0 {
					closed <- s.Connector.Close(ctx)
					return nil
				}
				for range 10 {
					if err := s.Connector.Check(ctx); err != nil && !errors.Is(err, ports.ErrClosed) {
						return err
					}
				}
				return nil
			})
			if err := firstErr(errs); err != nil {
				t.Errorf("Check racing Close: got err %v (%s), want nil or ErrClosed", err, sentinelName(err))
			}
			wantNoErr(t, "Close racing Checks", <-closed)
			wantErr(t, "Check after Close raced Checks", s.Connector.Check(ctx), ports.ErrClosed)
		}},
	}
}
