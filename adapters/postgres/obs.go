package postgres

import (
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider makes the DB and its stores trace with tp: one span
// per port operation ("sql.get orders", "tx.within_tx", "check postgres",
// ...; see package telemetry for the names and attributes), with
// db.system.name "postgresql" and the server's host and port, never with a
// statement or its parameters. By default they use the global
// TracerProvider, which records nothing until the application installs
// an SDK.
//
// portkit does not install gorm's OpenTelemetry plugin
// (gorm.io/plugin/opentelemetry) nor pgx's tracer: their spans carry the
// error's text (a PostgreSQL duplicate-key error quotes the value in its
// detail) or the statement's arguments. An application that wants
// statement spans can register the plugin on DB().
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

// serverAddress returns server.address and server.port of the server pgx
// connects to first: its host and TCP port, or a Unix socket's directory
// (port 0); never user info, which pgx keeps apart from the host.
func serverAddress(cc *pgx.ConnConfig) (string, int) {
	if strings.HasPrefix(cc.Host, "/") {
		return cc.Host, 0
	}
	return cc.Host, int(cc.Port)
}
