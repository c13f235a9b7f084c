package lifecycle

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider makes the group trace each Check with tp: one span
// "lifecycle.check" (kind internal, with portkit.lifecycle.connectors and
// portkit.lifecycle.failed), the parent of the spans the connectors
// record of their own checks. By default the group uses the global
// TracerProvider, which records nothing until the application installs
// an SDK.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(g *Group) { g.tel.TracerProvider = tp }
}

// WithMeterProvider makes the group record, per connector
// (portkit.connector.name), the latency of each check as the group saw
// it, timeouts included (portkit.lifecycle.check.duration, s, with
// error.type for a failed check), and its outcome
// (portkit.lifecycle.check.status: 1 passed, 0 failed), with mp instead of
// the global MeterProvider. A connector's own instrumentation records
// portkit.check.duration and portkit.check.status; the group's names
// differ so that the two never add up.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(g *Group) { g.tel.MeterProvider = mp }
}
