package obs

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// OutboxStats is what a transactional outbox reports to its gauges.
type OutboxStats struct {
	// Pending is how many rows wait to be published.
	Pending int64
	// OldestAge is how long the oldest pending row has waited (0 when
	// none waits).
	OldestAge time.Duration
}

// ObserveOutbox registers the observable gauges portkit.outbox.pending
// ({row}) and portkit.outbox.oldest_age (s) of the outbox called name
// (portkit.outbox.name), read by calling stats at every collection (so
// stats must be bounded by its ctx). A collection at which stats fails
// observes nothing; its error is not recorded. mp nil means the global
// MeterProvider. Unregister the returned registration to stop.
func ObserveOutbox(mp metric.MeterProvider, name string, stats func(context.Context) (OutboxStats, error)) (metric.Registration, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	pending, err := m.Int64ObservableGauge(MetricOutboxPending, metric.WithUnit("{row}"),
		metric.WithDescription("Outbox rows waiting to be published."))
	if err != nil {
		return nil, err
	}
	oldest, err := m.Float64ObservableGauge(MetricOutboxOldestAge, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest outbox row waiting to be published."))
	if err != nil {
		return nil, err
	}
	set := metric.WithAttributeSet(attribute.NewSet(attribute.String(keyOutboxName, name)))
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		st, err := stats(ctx)
		if err != nil {
			return nil
		}
		o.ObserveInt64(pending, st.Pending, set)
		o.ObserveFloat64(oldest, st.OldestAge.Seconds(), set)
		return nil
	}, pending, oldest)
}
