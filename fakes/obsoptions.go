package fakes

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
)

// WithTracerProvider makes the fake trace its operations with tp: one
// span per port operation, as the adapters make (see package telemetry for
// the names and attributes). By default the fakes use the global
// TracerProvider, which records nothing until the application installs an
// SDK (otel.SetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tel.TracerProvider = tp }
}

// WithMeterProvider makes the fake record its metrics (operation
// durations, errors by sentinel, cache hits and misses, messages sent,
// consumed, acked, nacked and dead-lettered, publish batch sizes, check
// durations) with mp instead of the global MeterProvider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.tel.MeterProvider = mp }
}

// WithPropagator sets how the PubSub fake writes the trace context of a
// Publish into the attributes of its messages and reads it back for the
// handler's span: W3C Trace Context (traceparent, tracestate) by default,
// whatever the global propagator is.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.tel.Propagator = p }
}

// instr returns the instrumentation of the fake called name as an
// implementation of port (on collection, "" for none).
func (c *config) instr(port obs.Port, collection string) *obs.Instr {
	return obs.New(obs.Backend{Port: port, Name: c.name, Collection: collection}, c.tel)
}
