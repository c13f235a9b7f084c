// Package nats is portkit's messaging adapter over NATS JetStream
// (github.com/nats-io/nats.go and its jetstream package): a
// ports.Publisher, ports.Subscriber, ports.Admin and ports.Connector that
// keeps the rules of the ports, checked by the same suites as the Google
// Pub/Sub adapter and the fake (ports/portstest, messaging/messagingtest,
// the outbox, and a parity test against fakes.PubSub).
//
// # Layout on the server
//
// Every name starts with the configured prefix P (Config.Prefix, default
// "portkit"); a portkit name that NATS cannot hold as it is (a topic or
// subscription may contain . ~ + %) is escaped: letters, digits and '-'
// stay, any other byte b becomes "_" and two hex digits (see escapeName),
// and a NATS name that would exceed 255 bytes ends with a hash instead.
//
//   - A topic T is a stream P_t_T (EnsureTopic) whose subjects are
//     P.T.>: a message without an ordering key is published to P.T.u, one
//     with key K to P.T.k.N, N = FNV-1a-32(K) mod [Partitions] (8). The
//     stream keeps a message until every subscription has acknowledged it
//     (interest retention) or Config.MaxAge (default 7 days) has passed; a
//     message published while the topic has no subscription is not kept,
//     as on Google Pub/Sub.
//   - A subscription S is a record in the key-value bucket P_subscriptions
//     (its ports.SubscriptionConfig and the topic's stream), which makes
//     subscription names unique across topics, as Google's are, and lets
//     Subscribe find a subscription by name alone; and one or more durable
//     pull consumers of the topic's stream, created to start with the
//     messages published after EnsureSubscription began, AckWait =
//     AckDeadline, explicit acks, MaxDeliver unlimited:
//   - without ordering, one consumer S of every subject of the topic;
//   - with ordering, one consumer S of P.T.u (messages without a key,
//     delivered concurrently) and one consumer S_kN per partition, each
//     with MaxAckPending 1: the messages of one key reach the handlers one
//     at a time, in publish order, across all the Subscribe calls of the
//     subscription; a nacked or expired message comes again before any
//     later message of its partition. Keys of one partition wait for each
//     other.
//
// # Messages
//
// Attributes travel as NATS headers, and the ordering key in the header
// Pk-Ordering-Key. A key or value that a header cannot carry as it is
// (':' and other characters nats.go refuses in keys, CR and LF, blanks at
// the edges of a value, '%' itself) is percent-encoded, as is the first
// byte of a key starting with "Nats-" or "Pk-" (JetStream reads headers
// named Nats-..., such as its deduplication ID): they arrive as they were
// published. A received message's ID is its stream sequence number, in
// decimal (unique within its topic); PublishTime is JetStream's
// timestamp (nanoseconds); DeliveryAttempt is JetStream's count of
// deliveries, from 1, with or without a dead-letter policy (NATS always
// counts; Google Pub/Sub and the fake report 0 without one).
//
// Limits: Publish checks ports.ValidateMessage and also the server's
// max_payload (1 MiB by default, below the port's 9.9 MB), counted as NATS
// counts it: data plus encoded headers. A message over it is ErrInvalid
// and nothing of its call is sent (the server would close the connection).
//
// Dead letters: with MaxDeliveryAttempts N, the adapter (not the server)
// forwards a message to DeadLetterTopic when its handler fails on
// delivery N, or when it is delivered an (N+1)th time after its last
// delivery expired unhandled, with the ports.AttrDeadLetter* attributes
// (the "subscription project" is the prefix), then acknowledges it. The
// consumers' MaxDeliver stays unlimited so that a message the server
// stopped delivering can never be left unforwarded.
//
// # Telemetry
//
// The adapter records OpenTelemetry spans and metrics through portkit's
// instrumentation core, as the Google Pub/Sub adapter and the fake do (see
// package telemetry for the names and attributes): a producer span per
// Publish ("publish <topic>"), a consumer span per handler call
// ("process <subscription>"), a span per EnsureTopic, EnsureSubscription,
// Check (Open's among them) and Close, with messaging.system "nats" and
// server.address and server.port of the URL's first server (never its user
// info), and the messaging metrics. It uses the global providers by
// default, or those of [WithTracerProvider] and [WithMeterProvider].
//
// Publish adds the trace context of its span (W3C traceparent and
// tracestate, or what [WithPropagator] writes) to the attributes of every
// message that can take it within the port's limits, and so to its
// headers; a message that already carries one keeps it. The handler sees
// it among the attributes, as on Google Pub/Sub and the fake, and its
// process span is a child of it. A message that the trace context would
// take over the server's max_payload is sent without it. A handler's
// failure at the subscription's MaxDeliveryAttempts, which forwards the
// message to the dead-letter topic, marks the process span and counts in
// portkit.messaging.dead_lettered.messages; a message forwarded because
// its last delivery expired unhandled runs no handler and has no span.
//
// # Configuration
//
// [ConfigFromEnv] reads NATS_URL (required; nats:// or tls:// servers,
// comma-separated, credentials in the user info or in NATS_USER and
// NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY; TLS files in
// NATS_CA, NATS_CERT and NATS_KEY), NATS_PREFIX, NATS_CHECK_TIMEOUT,
// NATS_STORAGE, NATS_REPLICAS, NATS_MAX_AGE, NATS_PUBLISH_TIMEOUT,
// NATS_PUBLISH_MAX_PENDING, NATS_RECEIVE_GOROUTINES, NATS_RECEIVE_POLL,
// NATS_SHUTDOWN_TIMEOUT and NATS_UNAVAILABLE_TIMEOUT. Passwords and tokens
// never appear in a Config's rendering, an error or a log line.
//
// # Errors
//
// Every error is an *ports.OpError of backend "nats" with exactly one
// sentinel, by the classification table of package ports (see
// classifier): a missing stream, consumer or subscription record is
// ErrNotFound; an authorization or permissions violation is
// ErrPermission (a violation the server reports asynchronously is matched
// to the call whose subject it names, which then fails at once); no
// responders, timeouts and lost connections are ErrUnavailable.
package nats
