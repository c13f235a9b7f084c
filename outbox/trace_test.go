package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

type tracedOrder struct {
	ID  int64
	Ref string
}

// TestOneTraceFromRequestToHandler follows one request on the fakes: an
// HTTP-like root span, the SQL transaction with the order's insert and
// the outbox write, the relay's publish through the fake Pub/Sub, and the
// handler's span (with a store call of its own): one trace, each span the
// child of the one that caused it.
func TestOneTraceFromRequestToHandler(t *testing.T) {
	ctx := context.Background()
	sdk := obstest.New(t)
	tel := []fakes.Option{fakes.WithTracerProvider(sdk.TP), fakes.WithMeterProvider(sdk.MP)}
	fdb := fakes.NewDB(tel...)
	defer fdb.Close(ctx)
	orders := fakeStore[tracedOrder](t, fdb)
	cfg := outbox.Config{Tx: fdb, Rows: fakeStore[outbox.Row](t, fdb), TracerProvider: sdk.TP, MeterProvider: sdk.MP}
	pub, err := outbox.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ps := fakes.NewPubSub(tel...)
	defer ps.Close(ctx)
	if err := ps.CreateTopic(ctx, "order.created"); err != nil {
		t.Fatal(err)
	}
	if err := ps.CreateSubscription(ctx, "billing", "order.created", ports.SubscriptionConfig{}); err != nil {
		t.Fatal(err)
	}
	handled := make(chan ports.Message, 1)
	sctx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() {
		subDone <- ps.Subscribe(sctx, "billing", func(ctx context.Context, m ports.Message) error {
			if _, err := orders.Get(ctx, int64(1)); err != nil {
				return err
			}
			handled <- m
			return nil
		})
	}()
	defer func() {
		stopSub()
		if err := <-subDone; err != nil {
			t.Errorf("Subscribe = %v", err)
		}
	}()

	// The request.
	rctx, root := sdk.TP.Tracer("test").Start(ctx, "POST /orders", trace.WithSpanKind(trace.SpanKindServer))
	err = fdb.WithinTx(rctx, func(ctx context.Context) error {
		if err := orders.Create(ctx, &tracedOrder{ID: 1, Ref: "A-1"}); err != nil {
			return err
		}
		_, err := pub.Publish(ctx, "order.created", ports.Message{Data: []byte(`{"id":1}`)})
		return err
	})
	root.End()
	if err != nil {
		t.Fatal(err)
	}

	rcfg := fastRelay(&db{tx: fdb, rows: cfg.Rows, leases: fakeStore[outbox.Lease](t, fdb)}, ps, "r1")
	rcfg.Config = cfg
	relay := newRelay(t, rcfg)
	stop := running(t, relay)
	var got ports.Message
	select {
	case got = <-handled:
	case <-time.After(wait):
		t.Fatal("the handler never got the message")
	}
	eventually(t, "the relay's gauges", wait, func() bool {
		return sdk.Total(obs.MetricOutboxPending, "portkit.outbox.name", "outbox-relay") == 0 &&
			len(sdk.Points(obs.MetricOutboxPending)) == 1
	})
	stop()
	if n := len(sdk.Points(obs.MetricOutboxPending)); n != 0 {
		t.Errorf("%d pending gauge points after Run returned, want none", n)
	}

	reqTrace := root.SpanContext().TraceID()
	var spans []sdktrace.ReadOnlySpan
	// The handler's span ends after the handler has handed the message
	// over (once it has returned and the message is acked).
	eventually(t, "the handler's span to end", wait, func() bool {
		spans = spans[:0]
		processed := false
		for _, sp := range sdk.Ended() {
			if sp.SpanContext().TraceID() == reqTrace {
				spans = append(spans, sp)
				processed = processed || sp.Name() == "process billing"
			}
		}
		return processed
	})
	t.Logf("the request's trace:\n%s", obstest.Tree(spans, "messaging.system"))
	byName := func(name, system string) sdktrace.ReadOnlySpan {
		t.Helper()
		var found []sdktrace.ReadOnlySpan
		for _, sp := range spans {
			if v, _ := obstest.Attr(sp, "messaging.system"); sp.Name() == name && (system == "" || v.String() == system) {
				found = append(found, sp)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%d spans %q (%s) in the request's trace, want 1:\n%s", len(found), name, system, obstest.Tree(spans, "messaging.system"))
		}
		return found[0]
	}
	rootSpan := byName("POST /orders", "")
	tx := byName("tx.within_tx", "")
	create := byName("sql.create traced_orders", "")
	write := byName("publish order.created", "outbox")
	rows := byName("sql.create_many outbox", "")
	send := byName("publish order.created", "fake-pubsub")
	process := byName("process billing", "fake-pubsub")
	get := byName("sql.get traced_orders", "")
	obstest.WantChild(t, rootSpan, tx)
	obstest.WantChild(t, tx, create)
	obstest.WantChild(t, tx, write)
	obstest.WantChild(t, write, rows)
	obstest.WantChild(t, write, send) // the relay publishes in the producer's context
	obstest.WantChild(t, write, process)
	obstest.WantChild(t, process, get)
	obstest.WantKind(t, write, trace.SpanKindProducer)
	obstest.WantKind(t, send, trace.SpanKindProducer)
	obstest.WantKind(t, process, trace.SpanKindConsumer)
	if links := send.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != write.SpanContext().SpanID() {
		t.Errorf("the relay's publish links to %v, want the outbox write", links)
	}
	// The message carries the write's context, as the row stored it.
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(got.Attributes)))
	if sc.SpanID() != write.SpanContext().SpanID() {
		t.Errorf("the delivered message carries span %s, want the outbox write's %s", sc.SpanID(), write.SpanContext().SpanID())
	}
	obstest.WantAttrs(t, process, "messaging.operation.type", "process", "messaging.destination.subscription.name", "billing")
	if n := sdk.Total(obs.MetricSettled, "portkit.messaging.outcome", "ack"); n != 1 {
		t.Errorf("acked %v, want 1", n)
	}
	sdk.NoSecret(`{"id":1}`, "A-1")
}

func fakeStore[T any](t *testing.T, db *fakes.DB) *fakes.SQLStore[T] {
	t.Helper()
	s, err := fakes.NewSQLStore[T](db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPublisherKeepsATraceContext: a message that carries a trace context
// keeps it; one that has none gets the write's; one that is full gets
// none rather than breaking a limit.
func TestPublisherKeepsATraceContext(t *testing.T) {
	ctx := context.Background()
	sdk := obstest.New(t)
	fdb := fakes.NewDB()
	defer fdb.Close(ctx)
	rows := fakeStore[outbox.Row](t, fdb)
	pub, err := outbox.NewPublisher(outbox.Config{Tx: fdb, Rows: rows, TracerProvider: sdk.TP})
	if err != nil {
		t.Fatal(err)
	}
	const theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	full := map[string]string{}
	for i := range ports.MaxAttributes - 1 { // with the ID attribute: full
		full[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	err = fdb.WithinTx(ctx, func(ctx context.Context) error {
		_, err := pub.Publish(ctx, "t",
			ports.Message{Data: []byte("a"), Attributes: map[string]string{"traceparent": theirs}},
			ports.Message{Data: []byte("b")},
			ports.Message{Data: []byte("c"), Attributes: full})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := rows.Find(ctx, ports.All().OrderBy("ID"))
	if err != nil || len(stored) != 3 {
		t.Fatalf("Find = %d rows, %v", len(stored), err)
	}
	write := sdk.Span("publish t")
	obstest.WantAttrs(t, write, "messaging.system", "outbox", "messaging.batch.message_count", "3")
	want := []string{theirs, "00-" + write.SpanContext().TraceID().String() + "-" + write.SpanContext().SpanID().String() + "-01", ""}
	for i, r := range stored {
		if (want[i] != "" && !strings.Contains(r.Attributes, want[i])) || (want[i] == "" && strings.Contains(r.Attributes, "traceparent")) {
			t.Errorf("row %d attributes %s, want traceparent %q", i, r.Attributes, want[i])
		}
	}
}
