// Package observe is the observability of the example service: the
// OpenTelemetry SDK, configured from the standard OTEL_* variables,
// otelhttp on the HTTP handlers, a /metrics handler in Prometheus format,
// and a printer of one trace as a tree.
//
// The library packages of portkit import the OpenTelemetry API only;
// choosing an SDK and exporters is the application's business, and this
// package is where the example service does it:
//
//	p, metrics, shutdown, err := observe.Setup(ctx, environ)
//	...
//	defer shutdown(context.Background())
//	mux.Handle("GET /metrics", metrics)
//	srv.Handler = p.HTTP(mux)
//
// Setup installs its providers as OpenTelemetry's globals (unless
// [WithoutGlobals]), which every portkit adapter and fake uses by default:
// from then on each port operation has its span and its metrics.
//
// # Variables
//
// Traces are exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and not made at all
// otherwise; metrics are always served on the metrics handler, and also
// exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set. Setup reads:
//
//	OTEL_SDK_DISABLED                      "true": no SDK at all
//	OTEL_SERVICE_NAME                      service.name (default "orders")
//	OTEL_RESOURCE_ATTRIBUTES               k=v,k=v added to the resource
//	OTEL_EXPORTER_OTLP_ENDPOINT            base URL (http/protobuf: /v1/traces, /v1/metrics appended)
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT     full URL of traces (overrides)
//	OTEL_EXPORTER_OTLP_METRICS_ENDPOINT    full URL of metrics (overrides)
//	OTEL_EXPORTER_OTLP_PROTOCOL            http/protobuf (default) or grpc; _TRACES_ and _METRICS_ variants
//	OTEL_EXPORTER_OTLP_HEADERS             k=v,k=v (URL-encoded values); _TRACES_ and _METRICS_ variants
//	OTEL_EXPORTER_OTLP_INSECURE            "true": no TLS for an https-less gRPC endpoint
//	OTEL_TRACES_SAMPLER                    always_on, always_off, traceidratio,
//	                                       parentbased_always_on (default), parentbased_always_off,
//	                                       parentbased_traceidratio
//	OTEL_TRACES_SAMPLER_ARG                the ratio of the *traceidratio samplers (default 1)
//	OTEL_METRIC_EXPORT_INTERVAL            ms between OTLP metric exports (default 60000)
//
// No error Setup returns, and nothing it logs, holds a header value (an
// API key, often).
package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Providers are the OpenTelemetry providers Setup made.
type Providers struct {
	// TracerProvider is nil when no trace is exported (no OTLP endpoint,
	// no [WithSpanExporter]): spans are then not made at all.
	TracerProvider *sdktrace.TracerProvider
	// MeterProvider feeds the metrics handler (and OTLP when configured);
	// nil with OTEL_SDK_DISABLED.
	MeterProvider *sdkmetric.MeterProvider
	// Propagator is W3C Trace Context and Baggage.
	Propagator propagation.TextMapPropagator
	// ExportsTraces and ExportsMetrics report whether OTLP export is on.
	ExportsTraces, ExportsMetrics bool
}

// Tracer returns the tracer provider to give an adapter's
// WithTracerProvider option: the SDK's, or the global one (a no-op
// unless another SDK was installed) when Setup made none.
func (p *Providers) Tracer() trace.TracerProvider {
	if p == nil || p.TracerProvider == nil {
		return otel.GetTracerProvider()
	}
	return p.TracerProvider
}

// Meter returns the meter provider, by the rule of [Providers.Tracer].
func (p *Providers) Meter() metric.MeterProvider {
	if p == nil || p.MeterProvider == nil {
		return otel.GetMeterProvider()
	}
	return p.MeterProvider
}

// HTTP wraps h (the service's mux) with otelhttp: a server span per
// request, named after the method and the mux's pattern ("POST
// /orders"), the child of the caller's trace context when the request
// carries one (traceparent), and the HTTP server metrics.
func (p *Providers) HTTP(h http.Handler) http.Handler {
	prop := propagation.TextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if p != nil && p.Propagator != nil {
		prop = p.Propagator
	}
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(p.Tracer()),
		otelhttp.WithMeterProvider(p.Meter()),
		otelhttp.WithPropagators(prop))
}

// Option configures Setup.
type Option func(*options)

type options struct {
	exporters []sdktrace.SpanExporter
	noGlobals bool
}

// WithSpanExporter adds exp to the tracer provider, synchronously (every
// span is exported as it ends): a tracetest.InMemoryExporter for a test,
// or to print a trace with [WriteTree]. It makes Setup trace even
// without an OTLP endpoint.
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(o *options) { o.exporters = append(o.exporters, exp) }
}

// WithoutGlobals keeps Setup from installing its providers and
// propagator as OpenTelemetry's globals: pass them to each adapter's
// options yourself.
func WithoutGlobals() Option {
	return func(o *options) { o.noGlobals = true }
}

// Setup builds the SDK from environ (see the package documentation) and
// returns the providers, the metrics handler (Prometheus text format,
// for GET /metrics) and the shutdown function, which flushes and stops
// the exporters within its context. On error nothing is installed and
// nothing is left running.
func Setup(ctx context.Context, environ map[string]string, opts ...Option) (*Providers, http.Handler, func(context.Context) error, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	cfg, err := parseEnv(environ)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("observe: %w", err)
	}
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	p := &Providers{Propagator: prop}
	if cfg.disabled {
		return p, http.NotFoundHandler(), func(context.Context) error { return nil }, nil
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(cfg.resource...))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("observe: resource: %w", err)
	}

	var stops []func(context.Context) error
	fail := func(err error) (*Providers, http.Handler, func(context.Context) error, error) {
		for _, stop := range stops {
			_ = stop(ctx)
		}
		return nil, nil, nil, fmt.Errorf("observe: %w", err)
	}

	// Metrics: Prometheus always, OTLP when configured.
	reg := prometheus.NewRegistry()
	promExp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return fail(fmt.Errorf("prometheus exporter: %w", err))
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}
	if cfg.metrics.endpoint != "" {
		exp, err := cfg.metrics.metricExporter(ctx)
		if err != nil {
			return fail(err)
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(cfg.metricInterval))))
		p.ExportsMetrics = true
	}
	p.MeterProvider = sdkmetric.NewMeterProvider(mopts...)
	stops = append(stops, p.MeterProvider.Shutdown)

	// Traces: only when they go somewhere.
	if cfg.traces.endpoint != "" || len(o.exporters) > 0 {
		topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(cfg.sampler)}
		if cfg.traces.endpoint != "" {
			exp, err := cfg.traces.spanExporter(ctx)
			if err != nil {
				return fail(err)
			}
			topts = append(topts, sdktrace.WithBatcher(exp))
			p.ExportsTraces = true
		}
		for _, exp := range o.exporters {
			topts = append(topts, sdktrace.WithSyncer(exp))
		}
		p.TracerProvider = sdktrace.NewTracerProvider(topts...)
		stops = append(stops, p.TracerProvider.Shutdown)
	}

	if !o.noGlobals {
		if p.TracerProvider != nil {
			otel.SetTracerProvider(p.TracerProvider)
		}
		otel.SetMeterProvider(p.MeterProvider)
		otel.SetTextMapPropagator(prop)
	}
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	shutdown := func(ctx context.Context) error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i](ctx))
		}
		return errors.Join(errs...)
	}
	return p, handler, shutdown, nil
}
