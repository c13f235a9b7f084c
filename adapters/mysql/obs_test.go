package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// TestTelemetry: the DB and its stores record one span per port operation
// with the semantic conventions' attributes, the transaction as the
// parent of the calls made in it, errors as the port sentinel, the
// metrics, and never a parameter (a duplicate-key error's text quotes the
// value: it must not reach the span).
func TestTelemetry(t *testing.T) {
	s := obstest.New(t)
	db := openTest(t, Config{}, WithTracerProvider(s.TP), WithMeterProvider(s.MP))
	ctx := context.Background()
	table := testenv.UniqueName("pk_t2_items")
	store, err := NewStore[portstest.Item](db, WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	secret := "sku-" + testutil.SecretPassword
	err = db.WithinTx(ctx, func(ctx context.Context) error {
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

	tx := s.Span("tx.within_tx")
	creates := s.Named("sql.create " + table)
	if len(creates) != 2 {
		t.Fatalf("%d create spans, want 2: %v", len(creates), obstest.Names(s.Ended()))
	}
	obstest.WantChild(t, tx, creates[0])
	obstest.WantAttrs(t, creates[1], "error.type", "ErrConflict")
	obstest.WantKind(t, creates[0], trace.SpanKindClient)
	system, _ := obstest.Attr(creates[0], "db.system.name")
	if v := system.String(); v != "mysql" && v != "mariadb" {
		t.Errorf("db.system.name %q", v)
	}
	find := s.Span("sql.find " + table)
	obstest.WantAttrs(t, find, "db.collection.name", table, "db.operation.name", "find",
		"db.response.returned_rows", "1", "server.address", "127.0.0.1", "server.port", "3306", "portkit.port", "sql")
	gets := s.Named("sql.get " + table)
	if len(gets) != 2 {
		t.Fatalf("%d get spans", len(gets))
	}
	obstest.WantNoAttr(t, gets[0], "error.type")
	obstest.WantAttrs(t, gets[1], "error.type", "ErrNotFound")
	obstest.WantAttrs(t, s.Span("check mysql"), "portkit.operation.name", "check")
	if n := s.Total(obs.MetricDBDuration, "db.collection.name", table); n != 5 {
		t.Errorf("%v durations on %s, want 5", n, table)
	}
	if n := s.Total(obs.MetricErrors, "error.type", "ErrConflict"); n != 1 {
		t.Errorf("%v ErrConflict, want 1", n)
	}
	if n := s.Total(obs.MetricCheckStatus, "portkit.connector.name", "mysql"); n != 1 {
		t.Errorf("check status %v, want 1", n)
	}
	s.NoSecret(testutil.SecretMarker)
}

// TestServerAddressHoldsNoSecret: server.address and server.port, the
// only parts of a connection string the spans record, never hold a
// credential, whatever form the configuration takes.
func TestServerAddressHoldsNoSecret(t *testing.T) {
	n := 0
	for _, f := range testutil.SecretForms("db.internal:3307") {
		if f.Backend != "mysql" {
			continue
		}
		cfg, err := ConfigFromEnviron(f.Env)
		if err != nil {
			continue // refused before anything is opened
		}
		pc, err := cfg.primaryConfig()
		if err != nil {
			continue
		}
		host, _ := serverAddress(pc)
		if strings.Contains(host, testutil.SecretMarker) || strings.Contains(host, "app") {
			t.Errorf("%s: server.address %q", f.Name, host)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d forms parsed", n)
	}
}
