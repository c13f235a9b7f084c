package telemetry_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/telemetry"
)

func TestCacheSpansAndMetrics(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	fc := fakes.NewCache()
	defer fc.Close(ctx)
	c := telemetry.Cache(fc, s.opts()...)

	if err := c.Set(ctx, "a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "b", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "a"); err != nil || string(v) != "1" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := c.Get(ctx, "absent"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Get of an absent key: %v", err)
	}
	if m, err := c.GetMany(ctx, "a", "b", "absent"); err != nil || len(m) != 2 {
		t.Fatalf("GetMany = %v, %v", m, err)
	}
	if ok, err := c.SetNX(ctx, "a", []byte("x"), 0); err != nil || ok {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	if n, err := c.Incr(ctx, "n", 2); err != nil || n != 2 {
		t.Fatalf("Incr = %d, %v", n, err)
	}
	if err := c.Delete(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}

	want := []string{"cache.set", "cache.set", "cache.get", "cache.get", "cache.get_many", "cache.set_nx", "cache.incr", "cache.delete"}
	if got := obstest.Names(s.Ended()); !slices.Equal(got, want) {
		t.Fatalf("spans %v, want %v", got, want)
	}
	for _, sp := range s.Ended() {
		if sp.SpanKind() != trace.SpanKindClient {
			t.Errorf("%s: kind %v", sp.Name(), sp.SpanKind())
		}
		obstest.WantAttrs(t, sp, "db.system.name", "fake-cache")
		obstest.WantAttrs(t, sp, "portkit.port", "cache")
		if sp.Status().Code == codes.Error {
			t.Errorf("%s: status %v: a miss is not an error", sp.Name(), sp.Status())
		}
		obstest.WantNoAttr(t, sp, "error.type")
	}
	obstest.WantAttrs(t, s.Ended()[4], "db.operation.name", "get_many")

	// 1 hit and 1 miss of Get, 2 hits and 1 miss of GetMany.
	if got := s.Total(telemetry.MetricCacheHits, "db.operation.name", "get"); got != 1 {
		t.Errorf("Get hits %v, want 1", got)
	}
	if got := s.Total(telemetry.MetricCacheMisses, "db.operation.name", "get"); got != 1 {
		t.Errorf("Get misses %v, want 1", got)
	}
	if got := s.Total(telemetry.MetricCacheHits, "db.operation.name", "get_many", "portkit.cache.client_side", "false"); got != 2 {
		t.Errorf("GetMany hits %v, want 2", got)
	}
	if got := s.Total(telemetry.MetricCacheMisses, "db.operation.name", "get_many"); got != 1 {
		t.Errorf("GetMany misses %v, want 1", got)
	}
	if got := s.Total(telemetry.MetricDBDuration, "db.operation.name", "set", "db.system.name", "fake-cache", "portkit.port", "cache"); got != 2 {
		t.Errorf("set durations %v, want 2", got)
	}
	if got := s.Total(telemetry.MetricErrors); got != 0 {
		t.Errorf("%v errors, want 0 (a miss is not an error)", got)
	}
}

func TestCacheErrorType(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	fc := fakes.NewCache()
	c := telemetry.Cache(fc, s.opts()...)

	if err := c.Set(ctx, "", []byte("v"), 0); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("Set of an empty key: %v", err)
	}
	_ = fc.Close(ctx)
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ports.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}

	set := s.Span("cache.set")
	obstest.WantAttrs(t, set, "error.type", "ErrInvalid")
	if st := set.Status(); st.Code != codes.Error || st.Description != "ErrInvalid" {
		t.Errorf("status %+v, want Error ErrInvalid", st)
	}
	get := s.Span("cache.get")
	obstest.WantAttrs(t, get, "error.type", "ErrClosed")
	if len(set.Events()) != 0 || len(get.Events()) != 0 {
		t.Errorf("events %v %v: errors are recorded as error.type only", set.Events(), get.Events())
	}
	if got := s.Total(telemetry.MetricErrors, "error.type", "ErrInvalid", "db.operation.name", "set"); got != 1 {
		t.Errorf("ErrInvalid errors of set %v, want 1", got)
	}
	if got := s.Total(telemetry.MetricErrors, "error.type", "ErrClosed", "db.operation.name", "get"); got != 1 {
		t.Errorf("ErrClosed errors of get %v, want 1", got)
	}
	if got := s.Total(telemetry.MetricDBDuration, "error.type", "ErrClosed"); got != 1 {
		t.Errorf("durations with error.type ErrClosed %v, want 1", got)
	}
	if got := s.Total(telemetry.MetricCacheMisses) + s.Total(telemetry.MetricCacheHits); got != 0 {
		t.Errorf("a failed Get counted %v lookups, want 0", got)
	}
}

// A nil context is the implementation's ErrInvalid, never a panic of the
// decorator, even while tracing.
func TestNilContext(t *testing.T) {
	s := newSDK(t)
	fc := fakes.NewCache()
	defer fc.Close(context.Background())
	c := telemetry.Cache(fc, s.opts()...)
	//lint:ignore SA1012 a nil context is what this test is about
	if _, err := c.Get(nil, "k"); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("Get(nil ctx): %v", err)
	}
	if got := s.Total(telemetry.MetricErrors, "error.type", "ErrInvalid"); got != 1 {
		t.Errorf("ErrInvalid errors %v, want 1", got)
	}
}
