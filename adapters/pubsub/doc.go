// Package pubsub implements [ports.Publisher], [ports.Subscriber],
// [ports.Admin] and [ports.Connector] over Google Cloud Pub/Sub
// (cloud.google.com/go/pubsub/v2), the real service or an emulator:
// Google's own (Java) or pstest, the Go fake, which package
// internal/pstestserver serves on a port with the service's request
// limits.
//
// [Open] returns one [*PubSub] that is all four ports; [PubSub.Client]
// gives the underlying client for anything else. [PubSub.EnsureTopic] and
// [PubSub.EnsureSubscription] (ports.Admin, with ports.SubscriptionConfig)
// create topics and subscriptions idempotently, for wiring, tests and local
// development. Topics and subscriptions are named by ID or full name; an
// ID must follow Google's naming rule (3 to 255 characters, starting with
// a letter, no "goog" prefix), checked before anything is sent.
//
// # Configuration
//
// [ConfigFromEnv] reads these variables (all optional):
//
//	PUBSUB_PROJECT_ID               the project of topics and subscriptions given by ID;
//	                                falls back to GOOGLE_CLOUD_PROJECT, then to the
//	                                project of the credentials. Required with an emulator.
//	PUBSUB_EMULATOR_HOST            host:port of an emulator: the client dials it without
//	                                TLS and without credentials. Unset: the real service,
//	                                with Application Default Credentials.
//	PUBSUB_CHECK_TIMEOUT            bound on Check, Open's check and Subscribe's startup
//	                                check (default 5s).
//	PUBSUB_PUBLISH_BATCH_COUNT      messages per publish request (default 100, max 1000).
//	PUBSUB_PUBLISH_BATCH_BYTES      bytes per publish request (default 1000000, max 10000000).
//	PUBSUB_PUBLISH_BATCH_DELAY      longest wait before a non-full request is sent (default 10ms).
//	PUBSUB_PUBLISH_TIMEOUT          bound on sending one request, retries included
//	                                (default 15s; the client's own is 60s).
//	PUBSUB_RECEIVE_STREAMS          StreamingPull streams per Subscribe call (default 4).
//	PUBSUB_RECEIVE_GOROUTINES       cap on concurrent handler calls per Subscribe (default
//	                                ports.DefaultMaxConcurrency, 16).
//	PUBSUB_RECEIVE_MAX_OUTSTANDING  received, not yet acked messages per Subscribe (default 1000,
//	                                and never more than PUBSUB_RECEIVE_GOROUTINES' value).
//	PUBSUB_SHUTDOWN_TIMEOUT         the shutdown grace: how long running handlers keep a live
//	                                context once Subscribe's ends (default 10s,
//	                                ports.DefaultShutdownGrace).
//	PUBSUB_UNAVAILABLE_TIMEOUT      how long a running Subscribe tolerates a service that
//	                                does not answer before returning ErrUnavailable (default 30s).
//	PUBSUB_RECEIVE_MAX_ACK_EXTENSION
//	                                longest ack deadline Subscribe asks for at a time, 10s to
//	                                600s (default 10s; the client's is 60s for the messages of
//	                                a stream): a message pushed into a stream that broke, or
//	                                held by a subscriber cut off, is redelivered at most this
//	                                long after. Lower is faster recovery; a handler running
//	                                longer has its deadline extended every (value - 5s).
//
// A bad value is an error that names the variable and wraps
// [ports.ErrInvalid]. Credentials never pass through [Config]: Application
// Default Credentials find them (GOOGLE_APPLICATION_CREDENTIALS, gcloud,
// the metadata server), or [WithClientOptions] passes them explicitly.
//
// # Publishing
//
// Publish checks every message with ports.ValidateMessage (the limits of
// ports.MaxMessageBytes and the attribute and ordering-key rules) before
// anything is sent, so that no bad message ever shares a request with
// another caller's, then hands all its messages to the client's batcher
// before it waits for any confirmation: one call of 10,000 messages costs
// about 10,000 / batch size round trips, all in flight together, and large
// messages are split into requests under the service's 10 MB limit. A
// publisher per topic is created on first use and cached. Ordering keys
// need no setting: message ordering is enabled on every publisher (it
// changes nothing for messages without a key), and a subscription created
// with ordering receives the messages of one key in publish order. Failed
// and unconfirmed messages are listed in a *ports.PublishError; see
// [PubSub.Publish].
//
// # Subscribing
//
// Subscribe runs the handler through package internal/subscribe, the
// runner every portkit messaging implementation shares: at most
// PUBSUB_RECEIVE_GOROUTINES handlers at once, an ack on nil, a nack on an
// error or a panic (logged once with the stack, never the data), and the
// shutdown rule of ports.Subscriber when its context ends (see
// [PubSub.Subscribe]). DeliveryAttempt is 0 unless the subscription has a
// dead-letter policy.
//
// # Recovery
//
// After a network failure the client's connections reconnect after 100ms,
// then at growing intervals capped at 500ms (gRPC's defaults: 1s growing
// to 120s), so calls succeed again within about 0.6s of the service's
// return; [Open] says how to change it. A publish request waits for the
// connection to be ready and retries after at most 250ms (the client's
// own pause grows to 60s): the requests in flight during an outage
// complete within about 0.5s of the service's return. Messages the server had pushed
// into a stream the failure broke are invisible until their ack deadline
// expires, then redelivered: PUBSUB_RECEIVE_MAX_ACK_EXTENSION (10s) bounds
// that wait.
//
// # Never hang
//
// With its default settings the client retries a Receive against a dead
// server forever, and a publisher's Stop waits up to a minute per request.
// This package bounds every wait: Open and Check by the check timeout,
// each publish request by the publish timeout, Subscribe's start by the
// check timeout and its run by the unavailable timeout (it probes the
// subscription meanwhile), Subscribe's shutdown by the shutdown timeout,
// and Close by its context. A server that does not answer comes back as
// [ports.ErrUnavailable], never as a silent nil.
//
// # Errors
//
// Every error is an *ports.OpError with exactly one sentinel, following
// the classification table of package ports (through internal/errclass):
// NotFound is [ports.ErrNotFound], AlreadyExists [ports.ErrConflict],
// InvalidArgument, FailedPrecondition and a request over the server's size
// limit [ports.ErrInvalid] (never retried), PermissionDenied and
// Unauthenticated [ports.ErrPermission], Unavailable, DeadlineExceeded and
// the other server failures [ports.ErrUnavailable], as is a cancelled or
// expired context (whose error stays reachable with errors.Is). Every
// method checks, in order: Close (ErrClosed), a nil context (ErrInvalid),
// a done context (ErrUnavailable), then its arguments. The client's error
// stays reachable through errors.As.
package pubsub
