package mysql

import (
	"net"
	"strconv"

	mysqldrv "github.com/go-sql-driver/mysql"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider makes the DB and its stores trace with tp: one span
// per port operation ("sql.get orders", "tx.within_tx", "check mysql",
// ...; see package telemetry for the names and attributes), never with a
// statement or its parameters. By default they use the global
// TracerProvider, which records nothing until the application installs
// an SDK.
//
// portkit does not install gorm's OpenTelemetry plugin
// (gorm.io/plugin/opentelemetry): its spans carry the error's text (a
// MySQL duplicate-key error quotes the value), its tracing package links
// the ClickHouse and PostgreSQL drivers into every binary, and the Get
// fast path skips gorm's callbacks. An application that wants statement
// spans can register it on DB() together with [WithQueryCallbacks].
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tel.TracerProvider = tp }
}

// WithMeterProvider makes the DB and its stores record their metrics
// (db.client.operation.duration, portkit.operation.errors by error.type,
// portkit.check.duration and portkit.check.status) with mp instead of the
// global MeterProvider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.tel.MeterProvider = mp }
}

// serverAddress returns server.address and server.port of the primary:
// its host and TCP port, or a Unix socket's path; never user info.
func serverAddress(dc *mysqldrv.Config) (string, int) {
	if dc.Net != "tcp" && dc.Net != "tcp6" && dc.Net != "tcp4" {
		return dc.Addr, 0
	}
	host, port, err := net.SplitHostPort(dc.Addr)
	if err != nil {
		return dc.Addr, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}
