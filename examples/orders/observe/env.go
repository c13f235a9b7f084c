package observe

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// config is what Setup reads from the environment.
type config struct {
	disabled        bool
	resource        []attribute.KeyValue
	traces, metrics exporter
	sampler         sdktrace.Sampler
	metricInterval  time.Duration
}

// exporter is the OTLP configuration of one signal.
type exporter struct {
	signal   string // "traces", "metrics"
	endpoint string // full URL; "" for no export
	grpc     bool
	headers  map[string]string
	insecure bool
}

const (
	protoHTTP = "http/protobuf"
	protoGRPC = "grpc"
)

func parseEnv(env map[string]string) (config, error) {
	get := func(k string) string { return strings.TrimSpace(env[k]) }
	var c config
	if disabled, err := parseBool("OTEL_SDK_DISABLED", get("OTEL_SDK_DISABLED")); err != nil {
		return c, err
	} else if disabled {
		c.disabled = true
		return c, nil
	}
	service := get("OTEL_SERVICE_NAME")
	if service == "" {
		service = "orders"
	}
	if ra := get("OTEL_RESOURCE_ATTRIBUTES"); ra != "" {
		kv, err := parsePairs("OTEL_RESOURCE_ATTRIBUTES", ra)
		if err != nil {
			return c, err
		}
		for k, v := range kv {
			if k != string(semconv.ServiceNameKey) {
				c.resource = append(c.resource, attribute.String(k, v))
			}
		}
	}
	c.resource = append(c.resource, semconv.ServiceName(service))

	insecure, err := parseBool("OTEL_EXPORTER_OTLP_INSECURE", get("OTEL_EXPORTER_OTLP_INSECURE"))
	if err != nil {
		return c, err
	}
	for _, sig := range []struct {
		e    *exporter
		name string
	}{{&c.traces, "traces"}, {&c.metrics, "metrics"}} {
		e, up := sig.e, strings.ToUpper(sig.name)
		e.signal, e.insecure = sig.name, insecure
		pname := "OTEL_EXPORTER_OTLP_" + up + "_PROTOCOL"
		proto := get(pname)
		if proto == "" {
			pname = "OTEL_EXPORTER_OTLP_PROTOCOL"
			proto = get(pname)
		}
		switch proto {
		case "", protoHTTP:
		case protoGRPC:
			e.grpc = true
		default:
			return c, fmt.Errorf("%s %q: want %s or %s", pname, proto, protoHTTP, protoGRPC)
		}
		if ep := get("OTEL_EXPORTER_OTLP_" + up + "_ENDPOINT"); ep != "" {
			e.endpoint = ep
		} else if ep := get("OTEL_EXPORTER_OTLP_ENDPOINT"); ep != "" {
			e.endpoint = ep
			if !e.grpc {
				e.endpoint = strings.TrimRight(ep, "/") + "/v1/" + sig.name
			}
		}
		if e.endpoint != "" {
			u, err := url.Parse(e.endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				// The URL is not quoted: it may hold user info.
				return c, fmt.Errorf("the OTLP %s endpoint is not an http:// or https:// URL with a host", sig.name)
			}
			if u.User != nil {
				return c, fmt.Errorf("the OTLP %s endpoint holds user info: pass credentials in OTEL_EXPORTER_OTLP_HEADERS", sig.name)
			}
			e.insecure = e.insecure || u.Scheme == "http"
		}
		hv := get("OTEL_EXPORTER_OTLP_" + up + "_HEADERS")
		name := "OTEL_EXPORTER_OTLP_" + up + "_HEADERS"
		if hv == "" {
			hv, name = get("OTEL_EXPORTER_OTLP_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS"
		}
		if hv != "" {
			if e.headers, err = parsePairs(name, hv); err != nil {
				return c, err
			}
		}
	}

	if c.sampler, err = sampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return c, err
	}
	c.metricInterval = time.Minute
	if v := get("OTEL_METRIC_EXPORT_INTERVAL"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return c, fmt.Errorf("OTEL_METRIC_EXPORT_INTERVAL %q is not a positive number of milliseconds", v)
		}
		c.metricInterval = time.Duration(ms) * time.Millisecond
	}
	return c, nil
}

func parseBool(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q is not a boolean", name, v)
	}
	return b, nil
}

// parsePairs parses "k=v,k2=v2" with URL-encoded values. Its errors name
// the variable and the position, never a value (headers carry API keys).
func parsePairs(name, s string) (map[string]string, error) {
	out := map[string]string{}
	for i, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: entry %d is not key=value", name, i+1)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: the value of entry %d (%s) is not URL-encoded", name, i+1, k)
		}
		out[k] = dv
	}
	return out, nil
}

func sampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q is not a ratio in 0..1", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER %q is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio", name)
}

func (e exporter) spanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if e.grpc {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(e.endpoint), otlptracegrpc.WithHeaders(e.headers)}
		if e.insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(e.endpoint), otlptracehttp.WithHeaders(e.headers)}
		if e.insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP %s exporter: %w", e.signal, err)
	}
	return exp, nil
}

func (e exporter) metricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	var (
		exp sdkmetric.Exporter
		err error
	)
	if e.grpc {
		opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpointURL(e.endpoint), otlpmetricgrpc.WithHeaders(e.headers)}
		if e.insecure {
			opts = append(opts, otlpmetricgrpc.WithInsecure())
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	} else {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(e.endpoint), otlpmetrichttp.WithHeaders(e.headers)}
		if e.insecure {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP %s exporter: %w", e.signal, err)
	}
	return exp, nil
}
