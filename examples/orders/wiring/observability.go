package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/portkit/portkit/examples/orders/observe"
)

// Telemetry is the service's observability wiring, from [Observability].
type Telemetry struct {
	// Wrap instruments the HTTP handler (otelhttp: one span and the
	// metrics per request). Never nil.
	Wrap func(http.Handler) http.Handler
	// Metrics serves GET /metrics in Prometheus' format; nil when there is
	// none (OTEL_SDK_DISABLED=true).
	Metrics http.Handler
	// Shutdown flushes and stops the exporters, within ctx. Never nil.
	Shutdown func(ctx context.Context) error
	// Providers are the OpenTelemetry providers installed; nil with
	// OTEL_SDK_DISABLED=true.
	Providers *observe.Providers
}

// Observability sets up the service's traces and metrics from environ
// with [observe.Setup]: OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT (and
// the other standard OTEL_ variables) are set, nothing otherwise; a
// Prometheus /metrics endpoint; otelhttp on the handlers. It installs its
// providers as OpenTelemetry's globals, which every portkit adapter and
// fake, the outbox and the messaging runner record through: call it
// before [Build], so that the adapters Build opens use them. opts are
// observe's (a test's [observe.WithSpanExporter]).
//
// A bad OTEL_ variable is an error that names it and never shows a header
// value or a URL's user info. log receives one line saying where traces
// and metrics go (never an endpoint or a header).
func Observability(ctx context.Context, environ map[string]string, log *slog.Logger, opts ...observe.Option) (Telemetry, error) {
	if log == nil {
		log = slog.Default()
	}
	p, metrics, shutdown, err := observe.Setup(ctx, environ, opts...)
	if err != nil {
		return Telemetry{}, fmt.Errorf("observability: %w", err)
	}
	t := Telemetry{Wrap: p.HTTP, Metrics: metrics, Providers: p,
		Shutdown: func(ctx context.Context) error {
			if err := shutdown(ctx); err != nil {
				return fmt.Errorf("observability: flush and stop the exporters: %w", err)
			}
			return nil
		}}
	if p.MeterProvider == nil {
		// OTEL_SDK_DISABLED: no SDK, no /metrics.
		t.Metrics = nil
		t.Providers = nil
		log.LogAttrs(ctx, slog.LevelInfo, "orders: telemetry disabled (OTEL_SDK_DISABLED)")
		return t, nil
	}
	log.LogAttrs(ctx, slog.LevelInfo, "orders: telemetry",
		slog.Bool("traces", p.TracerProvider != nil), slog.Bool("otlp_traces", p.ExportsTraces),
		slog.Bool("otlp_metrics", p.ExportsMetrics), slog.String("metrics", "GET /metrics"))
	return t, nil
}
