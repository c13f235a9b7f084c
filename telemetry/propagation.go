package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Attribute keys of the W3C trace context in message attributes.
const (
	AttrTraceParent = "traceparent"
	AttrTraceState  = "tracestate"
)

func propagator(opts []Option) propagation.TextMapPropagator {
	if p := newOptions(opts).s.Propagator; p != nil {
		return p
	}
	return propagation.TraceContext{}
}

// Inject writes ctx's trace context into attrs (traceparent and
// tracestate, or the fields of [WithPropagator]'s propagator), unless attrs
// holds one of those fields already: a trace context is never
// overwritten. attrs must not be nil. An outbox writes the producer's
// context into a message with it, for its relay to carry.
func Inject(ctx context.Context, attrs map[string]string, opts ...Option) {
	obs.Inject(ctx, propagator(opts), attrs)
}

// Extract returns ctx with the trace context attrs carry, as the remote
// parent of the spans started from it, or ctx itself when they carry none.
func Extract(ctx context.Context, attrs map[string]string, opts ...Option) context.Context {
	return obs.Extract(ctx, propagator(opts), attrs)
}

// InjectMessages returns msgs with ctx's trace context in the attributes
// of each message that can take it, as a decorated Publisher sends them:
// copies, never the caller's messages or maps. A message is left as it is
// when it carries a trace context already, when it is empty (no data, no
// attribute: it must stay invalid), or when the two attributes would take
// it over a limit of [ports.ValidateMessage].
func InjectMessages(ctx context.Context, msgs []ports.Message, opts ...Option) []ports.Message {
	return obs.InjectMessages(ctx, propagator(opts), msgs)
}
