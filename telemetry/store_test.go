package telemetry_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/telemetry"
)

type order struct {
	ID     int64
	Ref    string `gorm:"uniqueIndex"`
	Status string
	Total  int
}

type audit struct {
	ports.Document `bson:",inline"`
	Action         string `bson:"action"`
}

func TestSQLStoreSpansInTx(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	db := fakes.NewDB()
	defer db.Close(ctx)
	fs, err := fakes.NewSQLStore[order](db)
	if err != nil {
		t.Fatal(err)
	}
	store := telemetry.SQLStore[order](fs, s.opts()...)
	tx := telemetry.Transactor(db, s.opts()...)

	err = tx.WithinTx(ctx, func(ctx context.Context) error {
		if !tx.InTx(ctx) {
			t.Error("InTx is false inside WithinTx")
		}
		for i, ref := range []string{"a", "b", "c"} {
			if err := store.Create(ctx, &order{Ref: ref, Total: i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Find(ctx, ports.Where("Total", ports.Gte, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, int64(99)); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Get of an absent key: %v", err)
	}
	if err := store.Create(ctx, &order{Ref: "a"}); !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("Create of a duplicate: %v", err)
	}

	txSpan := s.Span("tx.within_tx")
	if txSpan.SpanKind() != trace.SpanKindInternal {
		t.Errorf("tx.within_tx kind %v", txSpan.SpanKind())
	}
	obstest.WantAttrs(t, txSpan, "db.operation.name", "within_tx")
	creates := 0
	for _, sp := range s.Ended() {
		if sp.Name() != "sql.create orders" {
			continue
		}
		creates++
		obstest.WantAttrs(t, sp, "db.collection.name", "orders")
		obstest.WantAttrs(t, sp, "db.operation.name", "create")
		obstest.WantAttrs(t, sp, "db.system.name", "fake-sql")
		obstest.WantAttrs(t, sp, "portkit.port", "sql")
		if creates <= 3 && sp.Parent().SpanID() != txSpan.SpanContext().SpanID() {
			t.Errorf("create %d in the transaction is not a child of tx.within_tx", creates)
		}
		if creates == 4 {
			obstest.WantAttrs(t, sp, "error.type", "ErrConflict")
			if sp.Parent().IsValid() {
				t.Error("create outside the transaction has a parent")
			}
		}
	}
	if creates != 4 {
		t.Fatalf("%d create spans, want 4", creates)
	}
	find := s.Span("sql.find orders")
	obstest.WantAttrs(t, find, "db.response.returned_rows", "2")
	obstest.WantAttrs(t, s.Span("sql.get orders"), "error.type", "ErrNotFound")

	if got := s.Total(telemetry.MetricDBDuration, "db.operation.name", "create", "db.collection.name", "orders"); got != 4 {
		t.Errorf("create durations %v, want 4", got)
	}
	if got := s.Total(telemetry.MetricErrors, "error.type", "ErrConflict", "db.collection.name", "orders"); got != 1 {
		t.Errorf("ErrConflict errors %v, want 1", got)
	}
}

func TestWithinTxPanic(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	db := fakes.NewDB()
	defer db.Close(ctx)
	tx := telemetry.Transactor(db, s.opts()...)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic to go on", r)
			}
		}()
		_ = tx.WithinTx(ctx, func(context.Context) error { panic("boom") })
	}()
	sp := s.Span("tx.within_tx")
	obstest.WantAttrs(t, sp, "error.type", "panic")
	for _, ev := range sp.Events() {
		t.Errorf("event %q: the panic value must not be recorded", ev.Name)
	}
}

func TestDocStoreSpans(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	db := fakes.NewDB()
	defer db.Close(ctx)
	fd, err := fakes.NewDocStore[audit](db)
	if err != nil {
		t.Fatal(err)
	}
	store := telemetry.DocStore[audit](fd, s.opts(telemetry.WithServerAddress("db.internal", 27017))...)

	a := &audit{Action: "login"}
	if err := store.Insert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := store.Count(ctx, ports.All()); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	for _, name := range []string{"doc.insert audits", "doc.get audits", "doc.count audits"} {
		sp := s.Span(name)
		obstest.WantAttrs(t, sp, "db.collection.name", "audits")
		obstest.WantAttrs(t, sp, "portkit.port", "doc")
		obstest.WantAttrs(t, sp, "server.address", "db.internal")
		obstest.WantAttrs(t, sp, "server.port", "27017")
	}
	if got := s.Total(telemetry.MetricDBDuration, "portkit.port", "doc", "server.address", "db.internal"); got != 3 {
		t.Errorf("doc durations %v, want 3", got)
	}
}
