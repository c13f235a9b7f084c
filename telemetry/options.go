package telemetry

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
)

// Option configures a decorator.
type Option func(*options)

type options struct {
	s          obs.Settings
	name       string
	system     string
	collection string
	host       string
	port       int
	deadLetter map[string]int
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// WithTracerProvider makes the decorator trace with tp instead of the
// global TracerProvider (and always, even before an SDK is installed
// globally).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.s.TracerProvider = tp }
}

// WithMeterProvider makes the decorator record its metrics with mp
// instead of the global MeterProvider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.s.MeterProvider = mp }
}

// WithPropagator sets how the trace context is written into and read from
// message attributes: W3C Trace Context (propagation.TraceContext{}) by
// default, whatever the global propagator is.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.s.Propagator = p }
}

// WithName sets the backend's name (portkit.connector.name of a
// Connector, and the default of the system) when the decorated value has
// no Name method or another name is wanted.
func WithName(name string) Option {
	return func(o *options) { o.name = name }
}

// WithSystem sets db.system.name (or messaging.system) to system. By
// default it is derived from the decorated value's Name ("mysql",
// "mongodb", "redis", "gcp_pubsub", ...; a name it does not know, such as
// a fake's, as it is).
func WithSystem(system string) Option {
	return func(o *options) { o.system = system }
}

// WithCollection sets db.collection.name, the table or collection of a
// decorated store. By default it is what the store's Table or Collection
// method returns, when it has one.
func WithCollection(name string) Option {
	return func(o *options) { o.collection = name }
}

// WithServerAddress sets server.address and server.port (0: not
// recorded): the backend's host, never a connection string.
func WithServerAddress(host string, port int) Option {
	return func(o *options) { o.host, o.port = host, port }
}

// WithDeadLetterPolicy tells a decorated Subscriber that subscription
// moves a message to its dead-letter topic after maxDeliveryAttempts
// deliveries: a nacked delivery at that attempt counts in
// portkit.messaging.dead_lettered.messages. It may be given once per
// subscription.
func WithDeadLetterPolicy(subscription string, maxDeliveryAttempts int) Option {
	return func(o *options) {
		if o.deadLetter == nil {
			o.deadLetter = make(map[string]int)
		}
		o.deadLetter[subscription] = maxDeliveryAttempts
	}
}

// instr returns the instrumentation of inner as an implementation of port.
func (o options) instr(port obs.Port, inner any) *obs.Instr {
	b := obs.Backend{
		Port: port, Name: o.name, System: o.system, Collection: o.collection,
		ServerAddress: o.host, ServerPort: o.port,
	}
	if n, ok := inner.(interface{ Name() string }); ok && b.Name == "" {
		b.Name = n.Name()
	}
	if b.Collection == "" && (port == obs.PortSQL || port == obs.PortDoc) {
		switch c := inner.(type) {
		case interface{ Table() string }:
			b.Collection = c.Table()
		case interface{ Collection() string }:
			b.Collection = c.Collection()
		}
	}
	return obs.New(b, o.s)
}
