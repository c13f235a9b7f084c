package telemetry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/telemetry"
)

// A decorated Connector in a lifecycle.Group records every readiness
// check: its duration and the status of the last one.
func TestConnectorCheckStatus(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	fc := fakes.NewCache(fakes.WithName("sessions"))
	g := lifecycle.NewGroup()
	g.Add(telemetry.Connector(fc, s.opts()...))

	if r := g.Check(ctx); !r.OK() {
		t.Fatalf("check failed: %+v", r)
	}
	if got := s.Total(telemetry.MetricCheckStatus, "portkit.connector.name", "sessions"); got != 1 {
		t.Errorf("status %v after a passing check, want 1", got)
	}
	_ = fc.Close(ctx)
	if r := g.Check(ctx); r.OK() {
		t.Fatal("check passed after Close")
	}
	if got := s.Total(telemetry.MetricCheckStatus, "portkit.connector.name", "sessions"); got != 0 {
		t.Errorf("status %v after a failing check, want 0", got)
	}
	if got := s.Total(telemetry.MetricCheckDuration, "portkit.connector.name", "sessions"); got != 2 {
		t.Errorf("%v check durations, want 2", got)
	}
	if got := s.Total(telemetry.MetricCheckDuration, "error.type", "ErrClosed"); got != 1 {
		t.Errorf("%v failed checks with error.type ErrClosed, want 1", got)
	}
	obstest.WantAttrs(t, s.Ended()[1], "error.type", "ErrClosed")
	obstest.WantAttrs(t, s.Ended()[0], "portkit.operation.name", "check")
	if n := s.Ended()[0].Name(); n != "check sessions" {
		t.Errorf("span %q, want check sessions", n)
	}
	_ = g.Close(ctx)
}

func TestObserveOutbox(t *testing.T) {
	s := newSDK(t)
	var fail error
	reg, err := telemetry.ObserveOutbox("orders", func(context.Context) (telemetry.OutboxStats, error) {
		return telemetry.OutboxStats{Pending: 42, OldestAge: 1500 * time.Millisecond}, fail
	}, s.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Total(telemetry.MetricOutboxPending, "portkit.outbox.name", "orders"); got != 42 {
		t.Errorf("pending %v, want 42", got)
	}
	if got := s.Total(telemetry.MetricOutboxOldestAge, "portkit.outbox.name", "orders"); got != 1.5 {
		t.Errorf("oldest age %v, want 1.5", got)
	}
	fail = errors.New("db down")
	if pts := s.Points(telemetry.MetricOutboxPending); len(pts) != 0 {
		t.Errorf("a failed read observed %v", pts)
	}
	fail = nil
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if pts := s.Points(telemetry.MetricOutboxPending); len(pts) != 0 {
		t.Errorf("observed %v after Unregister", pts)
	}
}
