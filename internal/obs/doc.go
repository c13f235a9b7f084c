// Package obs is the one instrumentation core of portkit: every adapter,
// every fake and the decorators of package telemetry call it, so that a
// port operation gets the same span, the same attributes and the same
// metrics whatever implements the port.
//
// An [Instr] instruments one backend instance. Its hooks are one call at
// the start and one at the end of a port operation:
//
//	ctx, sp := in.Start(ctx, obs.OpGet)
//	v, err := get(ctx, key)
//	sp.End(err)
//
// # Cost when off
//
// With the default (global) providers and no SDK installed, Start returns
// ctx unchanged and a nil *Span without reading the clock, allocating or
// creating a span: it compares the data words of the global providers with
// those captured when the Instr was made (one call, two atomic loads and
// two pointer compares; comparing the interfaces themselves would call
// runtime.ifaceeq, and a non-recording tracer.Start allocates a context).
// Start cannot be inlined: the two global reads alone exceed the
// inliner's budget. As
// soon as the application installs an SDK with otel.SetTracerProvider or
// otel.SetMeterProvider, the next call records. A provider given
// explicitly ([Settings]) always records.
//
// # What is never recorded
//
// No span attribute, span event, status description or metric attribute
// holds a statement parameter, a Query or Patch value, a cache key or
// value, a message payload or attribute value, or an error's text: errors
// are recorded as error.type, the name of the port sentinel they match
// ([ports.KindName]). Names that are configuration (tables, collections,
// topics, subscriptions, the backend's host) are recorded.
//
// # Semantic conventions
//
// Attributes follow the OpenTelemetry semantic conventions v1.43.0
// (go.opentelemetry.io/otel/semconv/v1.43.0): db.system.name,
// db.operation.name, db.collection.name, db.response.returned_rows,
// messaging.system, messaging.operation.name, messaging.operation.type,
// messaging.destination.name, messaging.destination.subscription.name,
// messaging.batch.message_count, messaging.message.id, server.address,
// server.port and error.type; portkit adds portkit.port (the port:
// "cache", "sql", "doc", "tx", "publisher", "subscriber", "admin",
// "connector").
package obs
