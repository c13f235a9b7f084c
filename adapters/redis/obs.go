package redis

import (
	"net"
	"strconv"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider makes the Cache trace with tp: one span per port
// operation ("cache.get", "cache.set", ..., "check redis"; see package
// telemetry for the attributes), never with a key or a value. By default
// it uses the global TracerProvider, which records nothing until the
// application installs an SDK.
//
// portkit does not use rueidisotel (rueidis' OpenTelemetry wrapper),
// which cannot be resolved here and would name spans by Redis command
// rather than by port operation; the client-side cache hits it would
// count are counted from rueidis' IsCacheHit instead (see
// [WithMeterProvider]).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tel.TracerProvider = tp }
}

// WithMeterProvider makes the Cache record its metrics with mp instead of
// the global MeterProvider: db.client.operation.duration,
// portkit.operation.errors by error.type, portkit.cache.hits (with
// portkit.cache.client_side=true for a value served from the client-side
// cache) and portkit.cache.misses, portkit.check.duration and
// portkit.check.status.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.tel.MeterProvider = mp }
}

// serverAddress returns server.address and server.port of the first node
// of addrs ("host:port"); they never hold user info.
func serverAddress(addrs []string) (string, int) {
	if len(addrs) == 0 {
		return "", 0
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return addrs[0], 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}
