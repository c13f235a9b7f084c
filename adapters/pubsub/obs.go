package pubsub

import (
	"net"
	"strconv"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
)

// WithTracerProvider makes the adapter trace with tp: a producer span
// per Publish ("publish <topic>"), whose trace context every message
// carries in its attributes (W3C traceparent and tracestate), a consumer
// span per handler call ("process <subscription>", child of the context
// its message carries), a span per Admin call and per Check and Close;
// never a payload or an attribute value. By default it uses the global
// TracerProvider, which records nothing until the application installs
// an SDK (the trace context of the caller is still passed on in the
// messages).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tel.TracerProvider = tp }
}

// WithMeterProvider makes the adapter record its metrics with mp instead
// of the global MeterProvider: messaging.client.operation.duration,
// messaging.client.sent.messages, portkit.messaging.publish.batch.size,
// messaging.process.duration, messaging.client.consumed.messages,
// portkit.messaging.settled.messages (ack, nack),
// portkit.messaging.dead_lettered.messages (a nack at the subscription's
// MaxDeliveryAttempts), portkit.operation.errors, portkit.check.*.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.tel.MeterProvider = mp }
}

// WithPropagator sets how Publish writes the trace context into message
// attributes and Subscribe reads it: W3C Trace Context by default,
// whatever the global propagator is.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.tel.Propagator = p }
}

// WithClientTracing turns on the Pub/Sub client's own OpenTelemetry
// tracing (ClientConfig.EnableOpenTelemetryTracing): spans of its
// batching, flow control, RPCs and ack handling, under portkit's publish
// and process spans. The client traces with the global TracerProvider
// only, and adds its own trace context to each message
// (googclient_traceparent), which the handlers then see among the
// attributes: two attributes more than ports.ValidateMessage counted.
// Its span names and attributes are experimental (the client says so).
func WithClientTracing() Option {
	return func(o *options) { o.clientTracing = true }
}

// instrument sets up the adapter's spans and metrics.
func (p *PubSub) instrument(cfg Config, s obs.Settings) {
	b := obs.Backend{Name: backend, ServerAddress: "pubsub.googleapis.com", ServerPort: 443}
	if cfg.EmulatorHost != "" {
		b.ServerAddress, b.ServerPort = cfg.EmulatorHost, 0
		if host, port, err := net.SplitHostPort(cfg.EmulatorHost); err == nil {
			b.ServerAddress = host
			b.ServerPort, _ = strconv.Atoi(port)
		}
	}
	mk := func(port obs.Port) *obs.Instr {
		b.Port = port
		return obs.New(b, s)
	}
	p.pub, p.sub, p.admin, p.conn = mk(obs.PortPublisher), mk(obs.PortSubscriber), mk(obs.PortAdmin), mk(obs.PortConnector)
}
