package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/ports"
)

// TestCheckTelemetry: a Group's Check is one span, parent of the spans
// the connectors record of their own checks, and each connector's
// latency and status are recorded as the group saw them, a connector
// that ignores its context included (error.type, never the error's text).
func TestCheckTelemetry(t *testing.T) {
	s := obstest.New(t)
	g := lifecycle.NewGroup(lifecycle.WithTracerProvider(s.TP), lifecycle.WithMeterProvider(s.MP))
	cache := fakes.NewCache(fakes.WithTracerProvider(s.TP), fakes.WithMeterProvider(s.MP))
	g.Add(cache)
	stuck, _ := stubborn(t)
	g.Add(&conn{name: "stuck", check: stuck}, lifecycle.WithTimeout(20*time.Millisecond))
	g.Add(&conn{name: "down", check: func(context.Context) error {
		return ports.NewError("down", "check", ports.ErrUnavailable, errors.New("dial secret-host:1"))
	}})
	r := g.Check(context.Background())
	if r.OK() || len(r.Failed()) != 2 {
		t.Fatalf("report %+v", r)
	}
	group := s.Span(obs.SpanGroupCheck)
	obstest.WantChild(t, group, s.Span("check fake-cache"))
	obstest.WantAttrs(t, group, "portkit.lifecycle.connectors", "3", "portkit.lifecycle.failed", "2")
	status := map[string]float64{}
	for _, p := range s.Points(obs.MetricGroupCheckStatus) {
		status[p.Get("portkit.connector.name")] = p.Value
	}
	if status["fake-cache"] != 1 || status["stuck"] != 0 || status["down"] != 0 || len(status) != 3 {
		t.Errorf("status %v", status)
	}
	if n := s.Total(obs.MetricGroupCheckDuration, "portkit.connector.name", "stuck", "error.type", "ErrUnavailable"); n != 1 {
		t.Errorf("stuck's failed checks %v, want 1", n)
	}
	s.NoSecret("secret-host")
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
