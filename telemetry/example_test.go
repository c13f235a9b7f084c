package telemetry_test

import (
	"context"
	"fmt"
	"sort"
	"strings"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/telemetry"
)

// printTree prints the ended spans as a tree, children under their
// parents.
func printTree(spans []sdktrace.ReadOnlySpan) {
	children := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		parent := ""
		if s.Parent().IsValid() {
			parent = s.Parent().SpanID().String()
		}
		children[parent] = append(children[parent], s)
	}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range children[parent] {
			fmt.Printf("%s%s (%s)\n", strings.Repeat("  ", depth), s.Name(), s.SpanKind())
			walk(s.SpanContext().SpanID().String(), depth+1)
		}
	}
	walk("", 0)
}

// One trace from a request through Publish and the fake Pub/Sub to the
// handler, and the handler's own cache call.
func ExampleSubscriber() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	opt := telemetry.WithTracerProvider(tp)

	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	_ = ps.CreateTopic(ctx, "orders")
	_ = ps.CreateSubscription(ctx, "orders-sub", "orders", fakes.SubscriptionConfig{})
	cache := telemetry.Cache(fakes.NewCache(), opt)
	pub := telemetry.Publisher(ps, opt)
	sub := telemetry.Subscriber(ps, opt)

	reqCtx, req := tp.Tracer("http").Start(ctx, "POST /orders")
	_, _ = pub.Publish(reqCtx, "orders", ports.Message{Data: []byte(`{"id":1}`)})
	req.End()

	subCtx, stop := context.WithCancel(ctx)
	_ = sub.Subscribe(subCtx, "orders-sub", func(ctx context.Context, m ports.Message) error {
		defer stop()
		return cache.Set(ctx, "order:1", m.Data, 0)
	})

	printTree(spans.Ended())
	// Output:
	// POST /orders (internal)
	//   publish orders (producer)
	//     process orders-sub (consumer)
	//       cache.set (client)
}

// The metrics of a decorated cache, read with the SDK's manual reader.
func ExampleCache() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	cache := telemetry.Cache(fakes.NewCache(), telemetry.WithMeterProvider(mp))
	_ = cache.Set(ctx, "k", []byte("v"), 0)
	_, _ = cache.Get(ctx, "k")
	_, _ = cache.Get(ctx, "absent")
	_, _ = cache.GetMany(ctx, "k", "absent")

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				op, _ := p.Attributes.Value("db.operation.name")
				lines = append(lines, fmt.Sprintf("%s %s %d", m.Name, op.String(), p.Value))
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				op, _ := p.Attributes.Value("db.operation.name")
				lines = append(lines, fmt.Sprintf("%s %s count=%d", m.Name, op.String(), p.Count))
			}
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// db.client.operation.duration get count=2
	// db.client.operation.duration get_many count=1
	// db.client.operation.duration set count=1
	// portkit.cache.hits get 1
	// portkit.cache.hits get_many 1
	// portkit.cache.misses get 1
	// portkit.cache.misses get_many 1
}

// An outbox stores the producer's trace context with each message, for its
// relay to publish later: the consumer's span then joins the producer's
// trace.
func ExampleInject() {
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(ctx)

	reqCtx, req := tp.Tracer("http").Start(ctx, "POST /orders")
	attrs := map[string]string{"type": "order.created"}
	telemetry.Inject(reqCtx, attrs) // at write time, in the request
	req.End()

	relayed := telemetry.Extract(ctx, attrs) // later, anywhere
	fmt.Println(len(attrs), attrs["traceparent"] != "")
	fmt.Println(req.SpanContext().TraceID() == trace.SpanContextFromContext(relayed).TraceID())
	// Output:
	// 2 true
	// true
}
