package obs

import (
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every tracer and meter portkit
// creates.
const ScopeName = "github.com/portkit/portkit"

// Settings are the OpenTelemetry providers an Instr uses; the zero value
// uses the global ones.
type Settings struct {
	// TracerProvider makes the tracer; nil for otel.GetTracerProvider().
	// A provider given here always traces (no fast path).
	TracerProvider trace.TracerProvider
	// MeterProvider makes the instruments; nil for otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator injects the trace context into message attributes and
	// extracts it; nil for W3C Trace Context (traceparent, tracestate),
	// whatever the global propagator is.
	Propagator propagation.TextMapPropagator
}

// Backend describes the instrumented implementation.
type Backend struct {
	// Port is the port whose operations are recorded.
	Port Port
	// Name is the implementation's Connector name ("redis", "fake-cache");
	// it names connector spans and is portkit.connector.name.
	Name string
	// System is db.system.name (database ports) or messaging.system
	// (messaging ports); "" for [System](Name).
	System string
	// Collection is db.collection.name: the table or collection of a
	// store, "" for none.
	Collection string
	// ServerAddress and ServerPort are server.address and server.port:
	// the host (never user info) and port of the backend; "" and 0 when
	// unknown or in memory.
	ServerAddress string
	ServerPort    int
}

// System maps a portkit backend name to the semantic conventions' value
// of db.system.name or messaging.system ("mongo" is "mongodb", "pubsub"
// is "gcp_pubsub", "postgres" is "postgresql"); a name it does not know
// (a fake's, a third party's) is returned as it is.
func System(name string) string {
	switch strings.ToLower(name) {
	case "mysql":
		return semconv.DBSystemNameMySQL.Value.AsString()
	case "mariadb":
		return semconv.DBSystemNameMariaDB.Value.AsString()
	case "postgres", "postgresql", "pgx":
		return semconv.DBSystemNamePostgreSQL.Value.AsString()
	case "mongo", "mongodb":
		return semconv.DBSystemNameMongoDB.Value.AsString()
	case "redis":
		return semconv.DBSystemNameRedis.Value.AsString()
	case "pubsub", "gcppubsub", "gcp_pubsub":
		return semconv.MessagingSystemGCPPubSub.Value.AsString()
	}
	return name
}

// Instr instruments one backend instance: it holds the tracer, the
// instruments and the precomputed attributes of its operations. It is safe
// for concurrent use. A nil *Instr records nothing.
type Instr struct {
	b      Backend
	prop   propagation.TextMapPropagator
	fields []string // prop.Fields()

	tracer trace.Tracer
	// tpWord is the data word of the global default TracerProvider as it
	// was when the Instr was made, while that was the untouched global
	// delegate; the Instr's own address (which no provider has) when a
	// provider was given or an SDK was installed already: then tracing is
	// always on. Never nil, so that the check is one compare.
	tpWord unsafe.Pointer
	mpWord unsafe.Pointer
	meter  metric.Meter
	m      *instruments

	base []attribute.KeyValue // system, server, port
	ops  [numOps]*opData      // the precomputed operations of the port

	dests  sync.Map     // destKey → *opData: per-destination operations
	ndests atomic.Int32 // entries of dests, at most maxDests
}

// maxDests bounds the cache of per-destination attributes; destinations
// beyond it are built per call.
const maxDests = 1024

type destKey struct {
	op   Op
	dest string
}

// NoHooks, given as Settings.TracerProvider, makes [New] return a nil
// *Instr: the hooks then cost one inlined compare and no call, as if they
// were compiled out. It exists for the benchmarks that compare the hooks'
// cost with today's (package bench); it records nothing.
type NoHooks struct{ noop.TracerProvider }

// New returns the instrumentation of backend b with the providers of s,
// or nil when s.TracerProvider is [NoHooks].
func New(b Backend, s Settings) *Instr {
	if _, off := s.TracerProvider.(NoHooks); off {
		return nil
	}
	if b.System == "" {
		b.System = System(b.Name)
	}
	in := &Instr{b: b, prop: s.Propagator}
	if in.prop == nil {
		in.prop = propagation.TraceContext{}
	}
	in.fields = in.prop.Fields()
	in.tpWord, in.mpWord = unsafe.Pointer(in), unsafe.Pointer(in) // always on, unless:
	tp := s.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if isGlobalDelegate(tp) {
			in.tpWord = word(tp)
		}
	}
	mp := s.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
		if isGlobalDelegate(mp) {
			in.mpWord = word(mp)
		}
	}
	in.tracer = tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	in.meter = mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	in.m = newInstruments(in.meter)
	in.base = baseAttrs(b)
	if int(b.Port) < len(portOps) {
		for _, op := range portOps[b.Port] {
			in.ops[op] = in.newOp(op, b.Collection)
		}
	}
	return in
}

// Backend returns what the Instr describes (the zero Backend for a nil
// Instr).
func (in *Instr) Backend() Backend {
	if in == nil {
		return Backend{}
	}
	return in.b
}

// Propagator returns the propagator of message attributes (W3C Trace
// Context for a nil Instr).
func (in *Instr) Propagator() propagation.TextMapPropagator {
	if in == nil {
		return propagation.TraceContext{}
	}
	return in.prop
}

func baseAttrs(b Backend) []attribute.KeyValue {
	var kv []attribute.KeyValue
	switch {
	case b.Port == PortConnector:
		kv = append(kv, attribute.String(keyConnectorName, b.Name))
	case b.Port.messaging():
		kv = append(kv, semconv.MessagingSystemKey.String(b.System))
	default:
		kv = append(kv, semconv.DBSystemNameKey.String(b.System))
	}
	if b.ServerAddress != "" {
		kv = append(kv, semconv.ServerAddress(b.ServerAddress))
		if b.ServerPort > 0 {
			kv = append(kv, semconv.ServerPort(b.ServerPort))
		}
	}
	return append(kv, attribute.String(keyPort, b.Port.String()))
}

// portkit's own attribute keys.
const (
	keyPort          = "portkit.port"
	keyConnectorName = "portkit.connector.name"
	keyOperation     = "portkit.operation.name" // of a Connector operation: check, close
	keyClientSide    = "portkit.cache.client_side"
	keyDeadLettered  = "portkit.messaging.dead_lettered" // on a process span whose message was dead-lettered
)

// spanName returns the span name of op on dest (a table, collection,
// topic, subscription or connector name).
func spanName(p Port, op Op, dest string) string {
	var name string
	switch p {
	case PortCache:
		name = "cache." + op.String()
	case PortSQL:
		name = "sql." + op.String()
	case PortDoc:
		name = "doc." + op.String()
	case PortTx:
		name = "tx." + op.String()
	default:
		name = op.String()
	}
	if dest != "" {
		name += " " + dest
	}
	return name
}

// word returns the data word of an interface value: the pointer a
// provider is represented by. Comparing it with the word captured at
// construction is one load and one compare; comparing the interfaces
// themselves calls runtime.ifaceeq when their types are equal, which is
// the case on every call while no SDK is installed.
func word(v any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1]
}

// isGlobalDelegate reports whether p is OpenTelemetry's global default
// provider, the one that delegates to the SDK once otel.SetTracerProvider
// (or SetMeterProvider) is called: a pointer to a type of package
// go.opentelemetry.io/otel/internal/global.
func isGlobalDelegate(p any) bool {
	t := reflect.TypeOf(p)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// tracing reports whether spans are to be made: a provider was given, or
// the global one is no longer the default delegate (an SDK was installed).
func (in *Instr) tracing() bool {
	return word(otel.GetTracerProvider()) != in.tpWord
}

// measuring reports whether metrics are to be recorded, by the same rule.
func (in *Instr) measuring() bool {
	return word(otel.GetMeterProvider()) != in.mpWord
}

// Tracing reports whether the Instr makes spans now: false for a nil
// Instr and while the global TracerProvider is the untouched default. It
// is inlined at its call sites (unlike [Instr.Active], which has two
// global reads): a hot path that already makes a call of its own (an
// entry check) can test Tracing() || Measuring() there, and call Start
// only when one holds, so that the hooks add no call while nothing
// records.
func (in *Instr) Tracing() bool { return in != nil && in.tracing() }

// Measuring reports whether the Instr records metrics now, by the rule of
// [Instr.Tracing].
func (in *Instr) Measuring() bool { return in != nil && in.measuring() }

// Active reports whether the Instr records anything now: false while the
// global providers are the untouched defaults (no SDK installed).
func (in *Instr) Active() bool {
	return in != nil && (in.tracing() || in.measuring())
}
