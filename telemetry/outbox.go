package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/portkit/portkit/internal/obs"
)

// OutboxStats is what a transactional outbox reports to its gauges: the
// rows waiting to be published and the age of the oldest.
type OutboxStats = obs.OutboxStats

// ObserveOutbox registers the observable gauges portkit.outbox.pending
// and portkit.outbox.oldest_age of the outbox called name
// (portkit.outbox.name), read by calling stats at each collection of the
// MeterProvider ([WithMeterProvider], else the global one). stats must be
// bounded by its ctx; a collection at which it fails observes nothing.
// Unregister the registration to stop.
func ObserveOutbox(name string, stats func(ctx context.Context) (OutboxStats, error), opts ...Option) (metric.Registration, error) {
	return obs.ObserveOutbox(newOptions(opts).s.MeterProvider, name, stats)
}
