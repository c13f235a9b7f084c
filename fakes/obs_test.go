package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
)

type obsOrder struct {
	ID     int64
	Ref    string
	Status string
}

type obsAudit struct {
	ports.Document `bson:",inline"`
	Action         string
}

func telOpts(s *obstest.SDK) []fakes.Option {
	return []fakes.Option{fakes.WithTracerProvider(s.TP), fakes.WithMeterProvider(s.MP)}
}

func TestObsCache(t *testing.T) {
	ctx := context.Background()
	s := obstest.New(t)
	c := fakes.NewCache(telOpts(s)...)
	if err := c.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Get(ctx, "k")
	_, _ = c.Get(ctx, "missing")
	_, _ = c.GetMany(ctx, "k", "missing", "gone")
	_, _ = c.SetNX(ctx, "k", []byte("v"), 0)
	_, _ = c.Incr(ctx, "n", 1)
	_ = c.Delete(ctx, "k")
	_ = c.Set(ctx, "", nil, 0) // ErrInvalid
	_ = c.Check(ctx)
	_ = c.Close(ctx)
	_, _ = c.Get(ctx, "k") // ErrClosed

	for _, name := range []string{"cache.get_many", "cache.set_nx", "cache.incr", "cache.delete", "check fake-cache", "close fake-cache"} {
		sp := s.Span(name)
		obstest.WantNoAttr(t, sp, "error.type")
	}
	gets := s.Named("cache.get")
	if len(gets) != 3 {
		t.Fatalf("%d cache.get spans, want 3", len(gets))
	}
	obstest.WantAttrs(t, gets[0], "db.system.name", "fake-cache", "db.operation.name", "get", "portkit.port", "cache")
	obstest.WantKind(t, gets[0], trace.SpanKindClient)
	obstest.WantNoAttr(t, gets[1], "error.type") // a miss is no error
	obstest.WantAttrs(t, gets[2], "error.type", "ErrClosed")
	sets := s.Named("cache.set")
	obstest.WantAttrs(t, sets[1], "error.type", "ErrInvalid")
	if h, m := s.Total(obs.MetricCacheHits), s.Total(obs.MetricCacheMisses); h != 2 || m != 3 {
		t.Errorf("hits %v misses %v, want 2 and 3 (Get: 1+1, GetMany: 1+2)", h, m)
	}
	if n := s.Total(obs.MetricErrors, "error.type", "ErrClosed"); n != 1 {
		t.Errorf("ErrClosed errors %v, want 1", n)
	}
	if n := s.Total(obs.MetricCheckStatus, "portkit.connector.name", "fake-cache"); n != 1 {
		t.Errorf("check status %v, want 1", n)
	}
}

func TestObsStores(t *testing.T) {
	ctx := context.Background()
	s := obstest.New(t)
	db := fakes.NewDB(telOpts(s)...)
	defer db.Close(ctx)
	orders, err := fakes.NewSQLStore[obsOrder](db)
	if err != nil {
		t.Fatal(err)
	}
	audits, err := fakes.NewDocStore[obsAudit](db, fakes.WithTable("audits"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.WithinTx(ctx, func(ctx context.Context) error {
		if err := orders.CreateMany(ctx, []*obsOrder{{ID: 1, Ref: "a"}, {ID: 2, Ref: "b"}}); err != nil {
			return err
		}
		return audits.Insert(ctx, &obsAudit{Action: "created"})
	})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := orders.Find(ctx, ports.All())
	for range orders.Stream(ctx, ports.All()) {
	}
	_, _ = orders.FindPage(ctx, ports.All().OrderBy("ID").Limit(1), "")
	_, _ = orders.Get(ctx, int64(9)) // ErrNotFound
	_, _ = audits.Find(ctx, ports.All())
	if len(all) != 2 {
		t.Fatalf("Find = %d", len(all))
	}
	tx := s.Span("tx.within_tx")
	obstest.WantKind(t, tx, trace.SpanKindInternal)
	obstest.WantChild(t, tx, s.Span("sql.create_many obs_orders"))
	obstest.WantChild(t, tx, s.Span("doc.insert audits"))
	obstest.WantAttrs(t, s.Span("sql.find obs_orders"), "db.collection.name", "obs_orders", "db.response.returned_rows", "2", "db.system.name", "fake-sql")
	obstest.WantAttrs(t, s.Span("sql.stream obs_orders"), "db.response.returned_rows", "2")
	obstest.WantAttrs(t, s.Span("sql.find_page obs_orders"), "db.response.returned_rows", "1")
	obstest.WantAttrs(t, s.Span("sql.get obs_orders"), "error.type", "ErrNotFound")
	obstest.WantAttrs(t, s.Span("doc.find audits"), "db.system.name", "fake-doc", "db.response.returned_rows", "1")
	if n := s.Total(obs.MetricDBDuration, "db.collection.name", "obs_orders"); n != 5 {
		t.Errorf("%v durations of obs_orders, want 5", n)
	}
}

func TestObsPubSub(t *testing.T) {
	ctx := context.Background()
	s := obstest.New(t)
	ps := fakes.NewPubSub(append(telOpts(s), fakes.WithRedeliveryDelay(0))...)
	defer ps.Close(ctx)
	if err := ps.EnsureTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := ps.EnsureTopic(ctx, "dead"); err != nil {
		t.Fatal(err)
	}
	cfg := ports.SubscriptionConfig{Topic: "orders", MaxDeliveryAttempts: 5, DeadLetterTopic: "dead"}
	if err := ps.EnsureSubscription(ctx, "billing", cfg); err != nil {
		t.Fatal(err)
	}
	rctx, root := s.TP.Tracer("test").Start(ctx, "request")
	if _, err := ps.Publish(rctx, "orders", ports.Message{Data: []byte("ok")}, ports.Message{Data: []byte("poison")}); err != nil {
		t.Fatal(err)
	}
	root.End()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- ps.Subscribe(sctx, "billing", func(ctx context.Context, m ports.Message) error {
			if string(m.Data) == "poison" {
				return errors.New("cannot handle")
			}
			return nil
		})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(ps.Published("dead")) == 0 || ps.Acked("billing") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the poison message never reached the dead-letter topic")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = ps.Subscribe(ctx, "nope", func(context.Context, ports.Message) error { return nil }) // ErrNotFound

	pub := s.Span("publish orders")
	obstest.WantChild(t, s.Span("request"), pub)
	obstest.WantKind(t, pub, trace.SpanKindProducer)
	obstest.WantAttrs(t, pub, "messaging.system", "fake-pubsub", "messaging.destination.name", "orders",
		"messaging.operation.type", "send", "messaging.batch.message_count", "2")
	procs := s.Named("process billing")
	if len(procs) != 6 { // ok once, poison 5 times
		t.Fatalf("%d process spans, want 6", len(procs))
	}
	for _, p := range procs {
		obstest.WantChild(t, pub, p)
		obstest.WantKind(t, p, trace.SpanKindConsumer)
		if _, ok := obstest.Attr(p, "messaging.message.id"); !ok {
			t.Errorf("process span without messaging.message.id")
		}
	}
	obstest.WantAttrs(t, s.Span("ensure_subscription billing"), "messaging.destination.subscription.name", "billing")
	if len(s.Named("ensure_topic orders")) != 1 {
		t.Error("no ensure_topic span")
	}
	for _, c := range []struct {
		metric string
		kv     []string
		want   float64
	}{
		{obs.MetricSent, nil, 2},
		{obs.MetricBatchSize, nil, 1},
		{obs.MetricConsumed, nil, 6},
		{obs.MetricSettled, []string{"portkit.messaging.outcome", "ack"}, 1},
		{obs.MetricSettled, []string{"portkit.messaging.outcome", "nack"}, 5},
		{obs.MetricDeadLettered, nil, 1},
		{obs.MetricProcessDuration, []string{"error.type", "none"}, 5},
		{obs.MetricErrors, []string{"messaging.operation.name", "subscribe", "error.type", "ErrNotFound"}, 1},
	} {
		if got := s.Total(c.metric, c.kv...); got != c.want {
			t.Errorf("%s %v = %v, want %v", c.metric, c.kv, got, c.want)
		}
	}
	s.NoSecret("poison", "cannot handle")
}

// TestObsNoSecret hands secrets to every fake as keys, values, query and
// patch values, payloads, attribute values, ordering keys, names and
// errors; none may reach a span or a metric label.
func TestObsNoSecret(t *testing.T) {
	ctx := context.Background()
	s := obstest.New(t)
	sec := "x-" + testutil.SecretPassword
	c := fakes.NewCache(telOpts(s)...)
	_ = c.Set(ctx, sec, []byte(sec), time.Minute)
	_, _ = c.Get(ctx, sec)
	_, _ = c.GetMany(ctx, sec, sec+"2")
	_, _ = c.Incr(ctx, sec, 1)
	_ = c.Close(ctx)

	db := fakes.NewDB(telOpts(s)...)
	defer db.Close(ctx)
	orders, _ := fakes.NewSQLStore[obsOrder](db)
	_ = orders.Create(ctx, &obsOrder{ID: 1, Ref: sec, Status: sec})
	_ = orders.Create(ctx, &obsOrder{ID: 1, Ref: sec}) // ErrConflict
	_, _ = orders.Find(ctx, ports.Where("Ref", ports.Eq, sec))
	_, _ = orders.Find(ctx, ports.Where(sec, ports.Eq, sec)) // ErrInvalid naming the field
	_ = orders.Patch(ctx, int64(1), ports.Set("Status", sec))
	_, _ = orders.Get(ctx, sec)
	_ = db.WithinTx(ctx, func(context.Context) error { return errors.New(sec) })
	audits, _ := fakes.NewDocStore[obsAudit](db)
	_ = audits.Insert(ctx, &obsAudit{Action: sec})
	_, _ = audits.Find(ctx, ports.Where("Action", ports.Eq, sec))
	_, _ = audits.Get(ctx, sec)

	ps := fakes.NewPubSub(telOpts(s)...)
	defer ps.Close(ctx)
	if err := ps.EnsureTopic(ctx, "topic"); err != nil {
		t.Fatal(err)
	}
	_, _ = ps.Publish(ctx, "topic", ports.Message{Data: []byte(sec), Attributes: map[string]string{"k": sec}, OrderingKey: sec})
	_, _ = ps.Publish(ctx, "missing", ports.Message{Data: []byte(sec)})
	if n := s.NoSecret(testutil.SecretMarker); n < 50 {
		t.Errorf("only %d texts scanned", n)
	}
}

// TestObsDefaultProvidersRecordNothing: with the global providers and no
// SDK, the fakes record nothing and still pass the caller's trace context
// on in the messages.
func TestObsDefaultProvidersRecordNothing(t *testing.T) {
	ctx := context.Background()
	s := obstest.New(t)
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	_ = ps.EnsureTopic(ctx, "topic")
	rctx, root := s.TP.Tracer("test").Start(ctx, "request")
	if _, err := ps.Publish(rctx, "topic", ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	root.End()
	if got := ps.Published("topic")[0].Attributes["traceparent"]; got == "" || len(s.Ended()) != 1 {
		t.Errorf("traceparent %q, %d spans (want the caller's context and its span alone)", got, len(s.Ended()))
	}
}

// ExampleWithTracerProvider: the fakes record one span per port
// operation, as the adapters do.
func ExampleWithTracerProvider() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)
	c := fakes.NewCache(fakes.WithTracerProvider(tp))
	defer c.Close(ctx)
	_ = c.Set(ctx, "greeting", []byte("hello"), 0)
	_, _ = c.Get(ctx, "greeting")
	for _, sp := range rec.Ended() {
		fmt.Println(sp.Name(), sp.SpanKind())
	}
	// Output:
	// cache.set client
	// cache.get client
}
