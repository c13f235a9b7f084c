package telemetry

import "github.com/portkit/portkit/internal/obs"

// Names of the metrics the decorators (and portkit's adapters and fakes)
// record. Durations are in seconds.
const (
	// MetricDBDuration is the histogram of Cache, SQLStore, DocStore and
	// Transactor operations, by db.system.name, db.operation.name,
	// db.collection.name, portkit.port and error.type.
	MetricDBDuration = obs.MetricDBDuration
	// MetricMsgDuration is the histogram of Publish and Admin operations,
	// by messaging.system, messaging.operation.name,
	// messaging.destination.name and error.type.
	MetricMsgDuration = obs.MetricMsgDuration
	// MetricProcessDuration is the histogram of handler calls, by
	// messaging.destination.subscription.name and error.type.
	MetricProcessDuration = obs.MetricProcessDuration
	// MetricSent counts the messages handed to Publish (error.type set on
	// those that failed).
	MetricSent = obs.MetricSent
	// MetricConsumed counts the messages handed to a handler.
	MetricConsumed = obs.MetricConsumed
	// MetricErrors counts failed operations by error.type, the port
	// sentinel's name.
	MetricErrors = obs.MetricErrors
	// MetricCacheHits counts the keys Get and GetMany found, by
	// portkit.cache.client_side.
	MetricCacheHits = obs.MetricCacheHits
	// MetricCacheMisses counts the keys Get and GetMany did not find.
	MetricCacheMisses = obs.MetricCacheMisses
	// MetricBatchSize is the histogram of messages per Publish call.
	MetricBatchSize = obs.MetricBatchSize
	// MetricSettled counts handled messages by portkit.messaging.outcome,
	// "ack" or "nack".
	MetricSettled = obs.MetricSettled
	// MetricDeadLettered counts messages moved to a dead-letter topic.
	MetricDeadLettered = obs.MetricDeadLettered
	// MetricCheckDuration is the histogram of Connector checks, by
	// portkit.connector.name and error.type.
	MetricCheckDuration = obs.MetricCheckDuration
	// MetricCheckStatus is the gauge of the last check of each
	// connector: 1 passed, 0 failed.
	MetricCheckStatus = obs.MetricCheckStatus
	// MetricOutboxPending is the gauge of outbox rows waiting to be
	// published (see ObserveOutbox).
	MetricOutboxPending = obs.MetricOutboxPending
	// MetricOutboxOldestAge is the gauge of the age of the oldest
	// pending outbox row.
	MetricOutboxOldestAge = obs.MetricOutboxOldestAge
)
