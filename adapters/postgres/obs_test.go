package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// TestTelemetry: with WithTracerProvider and WithMeterProvider the DB and
// its stores record one span per port operation on those providers (not
// the global ones) with the semantic conventions' attributes
// (db.system.name postgresql, server.address and server.port from the pgx
// configuration), the transaction as the parent of the calls made in it,
// errors as the port sentinel, Check and Close, the metrics, and never a
// parameter (a duplicate-key error's detail quotes the value: it must not
// reach the span).
func TestTelemetry(t *testing.T) {
	s := obstest.New(t)
	db := openTest(t, Config{}, WithTracerProvider(s.TP), WithMeterProvider(s.MP))
	ctx := context.Background()
	store := newTestStore[portstest.Item](t, db, "pk_tel_items")
	table := store.Table()
	secret := "sku-" + testutil.SecretPassword
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		return store.Create(ctx, &portstest.Item{SKU: secret, Name: secret})
	})
	if err != nil {
		t.Fatal(err)
	}
	dup := store.Create(ctx, &portstest.Item{SKU: secret})
	if !errors.Is(dup, ports.ErrConflict) {
		t.Fatalf("duplicate Create = %v", dup)
	}
	items, err := store.Find(ctx, ports.Where("SKU", ports.Eq, secret))
	if err != nil || len(items) != 1 {
		t.Fatalf("Find = %v, %v", items, err)
	}
	if _, err := store.Get(ctx, items[0].ID); err != nil {
		t.Fatal(err)
	}
	_, _ = store.Get(ctx, int64(1<<40))
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); !errors.Is(err, ports.ErrClosed) {
		t.Fatalf("Check after Close = %v", err)
	}

	tx := s.Span("tx.within_tx")
	obstest.WantAttrs(t, tx, "db.system.name", "postgresql", "portkit.port", "tx")
	creates := s.Named("sql.create " + table)
	if len(creates) != 2 {
		t.Fatalf("%d create spans, want 2: %v", len(creates), obstest.Names(s.Ended()))
	}
	obstest.WantChild(t, tx, creates[0])
	obstest.WantKind(t, creates[0], trace.SpanKindClient)
	obstest.WantNoAttr(t, creates[0], "error.type")
	obstest.WantAttrs(t, creates[1], "error.type", "ErrConflict")
	find := s.Span("sql.find " + table)
	obstest.WantAttrs(t, find, "db.system.name", "postgresql", "db.collection.name", table, "db.operation.name", "find",
		"db.response.returned_rows", "1", "server.address", "127.0.0.1", "server.port", "5432", "portkit.port", "sql")
	gets := s.Named("sql.get " + table)
	if len(gets) != 2 {
		t.Fatalf("%d get spans: %v", len(gets), obstest.Names(s.Ended()))
	}
	obstest.WantNoAttr(t, gets[0], "error.type")
	obstest.WantAttrs(t, gets[1], "error.type", "ErrNotFound")
	checks := s.Named("check postgres")
	if len(checks) != 2 {
		t.Fatalf("%d check spans, want 2: %v", len(checks), obstest.Names(s.Ended()))
	}
	obstest.WantAttrs(t, checks[0], "portkit.connector.name", "postgres", "portkit.operation.name", "check",
		"server.address", "127.0.0.1", "server.port", "5432")
	obstest.WantNoAttr(t, checks[0], "error.type")
	obstest.WantAttrs(t, checks[1], "error.type", "ErrClosed")
	obstest.WantAttrs(t, s.Span("close postgres"), "portkit.operation.name", "close")

	if n := s.Total(obs.MetricDBDuration, "db.collection.name", table); n != 5 {
		t.Errorf("%v durations on %s, want 5", n, table)
	}
	if n := s.Total(obs.MetricDBDuration, "db.system.name", "postgresql"); n < 6 {
		t.Errorf("%v postgresql durations, want 6 or more (the stores' and the transaction's)", n)
	}
	if n := s.Total(obs.MetricErrors, "error.type", "ErrConflict"); n != 1 {
		t.Errorf("%v ErrConflict, want 1", n)
	}
	if n := s.Total(obs.MetricCheckDuration, "portkit.connector.name", "postgres"); n != 2 {
		t.Errorf("%v check durations, want 2", n)
	}
	s.NoSecret(testutil.SecretMarker)
}

// TestServerAddressHoldsNoSecret: server.address and server.port, the
// only parts of a connection string the spans record, never hold a
// credential, whatever form the configuration takes.
func TestServerAddressHoldsNoSecret(t *testing.T) {
	n := 0
	for _, f := range testutil.SecretForms("db.internal:5433") {
		if f.Backend != "postgres" {
			continue
		}
		cfg, err := ConfigFromEnviron(f.Env)
		if err != nil {
			continue // refused before anything is opened
		}
		cc, err := cfg.connConfig()
		if err != nil {
			continue
		}
		host, port := serverAddress(cc)
		if strings.Contains(host, testutil.SecretMarker) || strings.Contains(host, "app") || strings.Contains(host, "@") {
			t.Errorf("%s: server.address %q", f.Name, host)
		}
		if strings.Contains(f.Conn, "5433") && port != 5433 {
			t.Errorf("%s: server.port %d, want 5433", f.Name, port)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d forms parsed", n)
	}
	cc, err := pgx.ParseConfig("host=/var/run/postgresql user=app password=" + testutil.SecretPassword + " dbname=test")
	if err != nil {
		t.Fatal(err)
	}
	if host, port := serverAddress(cc); host != "/var/run/postgresql" || port != 0 {
		t.Errorf("unix socket: server.address %q, server.port %d", host, port)
	}
}
