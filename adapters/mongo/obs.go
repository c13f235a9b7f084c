package mongo

import (
	"net"
	"strconv"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
)

// WithTracerProvider makes the Store and its DocStores trace with tp: one
// span per port operation ("doc.insert audits", "tx.within_tx", "check
// mongo", ...; see package telemetry for the attributes), never with a
// filter, an update or a document. By default they use the global
// TracerProvider, which records nothing until the application installs
// an SDK.
//
// portkit does not install otelmongo (the driver's command monitor): the
// only release for driver v1 here is v0.40.0, built against an old
// OpenTelemetry, and it records each command's document (query values)
// as db.statement unless told otherwise. An application that wants
// command spans can pass its monitor with [WithClientOptions].
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *openOptions) { o.tel.TracerProvider = tp }
}

// WithMeterProvider makes the Store and its DocStores record their
// metrics (db.client.operation.duration, portkit.operation.errors by
// error.type, portkit.check.duration and portkit.check.status) with mp
// instead of the global MeterProvider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *openOptions) { o.tel.MeterProvider = mp }
}

// instr returns the instrumentation of port on collection ("" for none).
func (s *Store) instr(port obs.Port, collection string) *obs.Instr {
	b := s.obs
	b.Port, b.Collection = port, collection
	return obs.New(b, s.tel)
}

// serverAddress returns server.address and server.port of the first host
// of the URI (hosts hold no user info).
func serverAddress(hosts []string) (string, int) {
	if len(hosts) == 0 {
		return "", 0
	}
	host, port, err := net.SplitHostPort(hosts[0])
	if err != nil {
		return hosts[0], 27017
	}
	p, _ := strconv.Atoi(port)
	return host, p
}
