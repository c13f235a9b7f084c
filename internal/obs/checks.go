package obs

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Names of the instruments of [Checks].
const (
	// MetricGroupCheckDuration is the latency of one connector's check as
	// a lifecycle.Group measured it (s): unlike portkit.check.duration,
	// which the connector records itself, it includes the wait until the
	// group gave up on a connector that ignores its context.
	MetricGroupCheckDuration = "portkit.lifecycle.check.duration"
	// MetricGroupCheckStatus is 1 when the connector's last check through
	// the group passed, 0 when it failed.
	MetricGroupCheckStatus = "portkit.lifecycle.check.status"
)

// SpanGroupCheck is the name of the span of one lifecycle.Group check:
// the parent of the spans of the connectors' own checks.
const SpanGroupCheck = "lifecycle.check"

// Checks records what a lifecycle.Group sees of its connectors' checks: a
// span per Group.Check ([SpanGroupCheck], kind internal, with
// portkit.lifecycle.connectors, the number of connectors checked), and
// per connector the latency and the outcome of its check
// ([MetricGroupCheckDuration], [MetricGroupCheckStatus]), by
// portkit.connector.name and, for a failed check, error.type. It follows
// the same provider rules as [Instr]. A nil *Checks records nothing.
type Checks struct {
	in       *Instr
	duration metric.Float64Histogram
	status   metric.Int64Gauge
}

// NewChecks returns the instrumentation of a lifecycle.Group with the
// providers of s (nil for [NoHooks]).
func NewChecks(s Settings) *Checks {
	in := New(Backend{Port: PortConnector, Name: "lifecycle"}, s)
	if in == nil {
		return nil
	}
	c := &Checks{in: in}
	var err error
	if c.duration, err = in.meter.Float64Histogram(MetricGroupCheckDuration, metric.WithUnit("s"),
		metric.WithDescription("Latency of a connector's check as the lifecycle group measured it."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil || c.duration == nil {
		c.duration, _ = noop.Meter{}.Float64Histogram(MetricGroupCheckDuration)
	}
	if c.status, err = in.meter.Int64Gauge(MetricGroupCheckStatus, metric.WithUnit("1"),
		metric.WithDescription("1 when the connector's last check through the lifecycle group passed, 0 when it failed.")); err != nil || c.status == nil {
		c.status, _ = noop.Meter{}.Int64Gauge(MetricGroupCheckStatus)
	}
	return c
}

// Start begins the span of one Group.Check of n connectors. End it with
// [Checks.End] and the number of connectors that failed.
func (c *Checks) Start(ctx context.Context, n int) (context.Context, trace.Span) {
	if c == nil || ctx == nil || !c.in.tracing() {
		return ctx, nil
	}
	return c.in.tracer.Start(ctx, SpanGroupCheck, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.Int("portkit.lifecycle.connectors", n)))
}

// End ends the span of a Group.Check, with status Error when failed
// connectors (portkit.lifecycle.failed) are more than none.
func (c *Checks) End(sp trace.Span, failed int) {
	if sp == nil {
		return
	}
	sp.SetAttributes(attribute.Int("portkit.lifecycle.failed", failed))
	if failed > 0 {
		sp.SetStatus(codes.Error, "connector check failed")
	}
	sp.End()
}

// Record records the check of the connector called name: its latency and
// its outcome err (recorded as error.type, never as text).
func (c *Checks) Record(ctx context.Context, name string, err error, latency time.Duration) {
	if c == nil || !c.in.measuring() {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	nameKV := attribute.String(keyConnectorName, name)
	kv := []attribute.KeyValue{nameKV}
	up := int64(1)
	if err != nil {
		kv = append(kv, semconv.ErrorTypeKey.String(errName(errIndex(err))))
		up = 0
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...)) // sorts kv
	c.duration.Record(ctx, latency.Seconds(), set)
	// The status has the name alone, so that a failing then passing
	// connector has one series, not one per error type.
	c.status.Record(ctx, up, metric.WithAttributeSet(attribute.NewSet(nameKV)))
}
