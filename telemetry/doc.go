// Package telemetry adds OpenTelemetry traces and metrics to any
// implementation of portkit's ports — portkit's fakes and adapters, or a
// third party's — as decorators: one span per port operation, named after
// it, with the semantic conventions' attributes, and its metrics. The
// decorators are built on the instrumentation core that portkit's adapters
// and fakes call too, so a decorated third-party implementation records
// exactly what they do.
//
//	cache := telemetry.Cache(redisCache)
//	orders := telemetry.SQLStore(ordersStore)
//	pub := telemetry.Publisher(pubsub)
//	sub := telemetry.Subscriber(pubsub)
//	group.Add(telemetry.Connector(redisCache))
//
// portkit's own adapters and fakes need no decorator: they record the
// same spans and metrics themselves, through the same core, with the
// global providers by default or those of their WithTracerProvider,
// WithMeterProvider (and, for messaging, WithPropagator) options. That
// holds for every adapter: MySQL and PostgreSQL (db.system.name mysql,
// mariadb or postgresql: the stores' sql.* spans, tx.within_tx, check and
// close, server.address and server.port of the primary), MongoDB, Redis,
// Google Pub/Sub and NATS (messaging.system gcp_pubsub or nats: publish,
// process, ensure_topic, ensure_subscription, check and close, with the
// trace context in the message attributes, which NATS carries as
// headers). The decorators are for third-party implementations.
//
// Each decorator returns the port's interface only: a decorated Cache is
// not a Connector any more, so wrap the Connector side separately (as
// above). Wrap an implementation that records by itself (an adapter opened with
// a TracerProvider option) only if two spans per call are what you want.
//
// # Providers
//
// By default the decorators use the global providers
// (otel.GetTracerProvider, otel.GetMeterProvider): nothing is recorded
// until the application installs an SDK, and then everything is, whether
// the SDK was installed before or after the decorator was made. While no
// SDK is installed a decorated call costs two function calls (the
// decorator's and the check's), two loads and two compares more than the
// call itself, and allocates nothing more. [WithTracerProvider]
// and [WithMeterProvider] give providers of their own.
//
// This package imports the OpenTelemetry API only, never the SDK or an
// exporter: the application chooses those.
//
// # Spans
//
//	port        span name                        kind      attributes
//	Cache       cache.get, cache.set, ...        client    db.system.name, db.operation.name
//	SQLStore    sql.find orders, ...             client    + db.collection.name, db.response.returned_rows
//	DocStore    doc.insert audits, ...           client    + db.collection.name, db.response.returned_rows
//	Transactor  tx.within_tx                     internal  db.system.name, db.operation.name
//	Publisher   publish orders                   producer  messaging.system, messaging.destination.name, messaging.operation.type=send
//	Subscriber  process orders-sub (per message) consumer  messaging.destination.subscription.name, messaging.operation.type=process, messaging.message.id
//	Admin       ensure_topic orders, ...         client    messaging.system, messaging.destination.(subscription.)name
//	Connector   check redis, close redis         client    portkit.connector.name, portkit.operation.name
//
// Every span has portkit.port, and server.address and server.port when
// [WithServerAddress] gives them. A failed operation has error.type, the
// name of the port sentinel its error matches ("ErrNotFound", ...;
// "none" for an error that matches none, "panic"), and status Error; a
// cache miss is not an error. No attribute, event or status ever holds a
// statement parameter, a Query, Patch or cache value, a cache key, a
// message payload or attribute value, or an error's text.
//
// # Propagation
//
// Publish writes the W3C trace context of its span into the attributes of
// every message (traceparent, tracestate), except a message that carries a
// trace context already: it keeps it (an outbox relay forwarding its
// producers' messages), and the publish span links to it. Each handler
// call of a decorated Subscriber runs in a process span that is a child of
// the context its message carries, so that one trace goes from the
// producer's request to every consumer, through an outbox too.
//
// # Metrics
//
// See the Metric constants: the duration histograms
// db.client.operation.duration, messaging.client.operation.duration and
// messaging.process.duration (by db.system.name or messaging.system,
// operation, collection or destination, portkit.port and error.type),
// portkit.operation.errors by error.type, cache hits and misses (the Redis
// adapter reports client-side cache hits with portkit.cache.client_side),
// messages sent and consumed, publish batch sizes, messages acked, nacked
// and dead-lettered, Connector check duration and status, and the outbox
// gauges of [ObserveOutbox] (which outbox.Relay registers while it runs).
// A lifecycle.Group adds a span per Check (lifecycle.check) and
// portkit.lifecycle.check.duration and portkit.lifecycle.check.status
// per connector, as the group saw the check.
package telemetry
