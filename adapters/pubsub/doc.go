// Package pubsub implements [ports.Publisher], [ports.Subscriber] and
// [ports.Connector] over Google Cloud Pub/Sub (cloud.google.com/go/pubsub/v2),
// the real service or an emulator: Google's own (Java) or pstest, the Go
// fake, which package internal/pstestserver serves on a port.
//
// [Open] returns one [*PubSub] that is all three ports; [PubSub.Client]
// gives the underlying client for anything else, and [PubSub.EnsureTopic]
// and [PubSub.EnsureSubscription] create topics and subscriptions for tests
// and local development.
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
//	PUBSUB_RECEIVE_GOROUTINES       cap on concurrent handler calls per Subscribe (default:
//	                                only PUBSUB_RECEIVE_MAX_OUTSTANDING caps them).
//	PUBSUB_RECEIVE_MAX_OUTSTANDING  received, not yet acked messages per Subscribe (default 1000).
//	PUBSUB_SHUTDOWN_TIMEOUT         how long Subscribe waits for running handlers once its
//	                                context ends (default 10s).
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
// Publish hands all its messages to the client's batcher before it waits
// for any confirmation, so one call of 10,000 messages costs about 10,000 /
// batch size round trips, all in flight together. A publisher per topic is
// created on first use and cached. Ordering keys need no setting: message
// ordering is enabled on every publisher (it changes nothing for messages
// without a key), and a subscription created with ordering receives the
// messages of one key in publish order. See [PubSub.Publish] for partial
// failures and ordering after a failure.
//
// # Subscribing
//
// Subscribe acks a message when the handler returns nil and nacks it when
// the handler returns an error or panics. It returns when its context ends,
// after its handlers (see [ReceiveConfig.ShutdownTimeout]).
//
// # Recovery
//
// After a network failure the client's connections reconnect after 100ms,
// then at growing intervals capped at 500ms (gRPC's defaults: 1s growing
// to 120s), so calls succeed again within about 0.6s of the service's
// return; [Open] says how to change it. Messages the server had pushed
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
// gRPC codes map to port errors: NotFound is [ports.ErrNotFound],
// AlreadyExists [ports.ErrConflict], InvalidArgument [ports.ErrInvalid],
// Unavailable and DeadlineExceeded (and other server failures)
// [ports.ErrUnavailable], Canceled the context's error. The client's error
// stays reachable through errors.As.
package pubsub
