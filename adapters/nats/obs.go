package nats

import (
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
)

// system is messaging.system: NATS has no value of its own in the
// semantic conventions' list, whose rule is the system's lowercase name.
const system = "nats"

// defaultPort is the port of a NATS URL that names none.
const defaultPort = 4222

// WithTracerProvider makes the adapter trace with tp: a producer span
// per Publish ("publish <topic>"), whose trace context every message
// carries in its attributes (W3C traceparent and tracestate, sent as NATS
// headers), a consumer span per handler call ("process <subscription>",
// child of the context its message carries), a span per Admin call
// (EnsureTopic, EnsureSubscription) and per Check and Close; never a
// payload, an attribute value or a credential of the URL. By default it
// uses the global TracerProvider, which records nothing until the
// application installs an SDK (the trace context of the caller is still
// passed on in the messages).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tel.TracerProvider = tp }
}

// WithMeterProvider makes the adapter record its metrics with mp instead
// of the global MeterProvider: messaging.client.operation.duration,
// messaging.client.sent.messages, portkit.messaging.publish.batch.size,
// messaging.process.duration, messaging.client.consumed.messages,
// portkit.messaging.settled.messages (ack, nack),
// portkit.messaging.dead_lettered.messages (a handler's failure at the
// subscription's MaxDeliveryAttempts, which forwards the message to the
// dead-letter topic), portkit.operation.errors, portkit.check.*.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.tel.MeterProvider = mp }
}

// WithPropagator sets how Publish writes the trace context into message
// attributes and Subscribe reads it: W3C Trace Context by default,
// whatever the global propagator is.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.tel.Propagator = p }
}

// instrument sets up the adapter's spans and metrics.
func (n *NATS) instrument(s obs.Settings) {
	host, port := serverAddress(n.cfg.URL)
	b := obs.Backend{Name: backend, System: system, ServerAddress: host, ServerPort: port}
	mk := func(p obs.Port) *obs.Instr {
		b.Port = p
		return obs.New(b, s)
	}
	n.pub, n.sub, n.admin, n.conn = mk(obs.PortPublisher), mk(obs.PortSubscriber), mk(obs.PortAdmin), mk(obs.PortConnector)
}

// serverAddress returns server.address and server.port of the first
// server of the URL: its host and port (4222 when it names none); never
// the user info, which holds the credentials.
func serverAddress(rawURL string) (string, int) {
	first, _, _ := strings.Cut(rawURL, ",")
	u, err := url.Parse(strings.TrimSpace(first))
	if err != nil || u.Hostname() == "" {
		return "", 0
	}
	port := defaultPort
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil {
			port = 0
		}
	}
	return u.Hostname(), port
}
