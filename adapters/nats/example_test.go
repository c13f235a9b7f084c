package nats_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/ports"
)

// Example opens the adapter from the environment (NATS_URL), creates a
// topic and an ordering subscription, publishes and receives. It needs a
// server with JetStream, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	cfg, err := nats.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	n, err := nats.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close(context.Background())

	if err := n.EnsureTopic(ctx, "orders"); err != nil {
		log.Fatal(err)
	}
	err = n.EnsureSubscription(ctx, "orders-projector", ports.SubscriptionConfig{
		Topic: "orders", Ordering: true, AckDeadline: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	ids, err := n.Publish(ctx, "orders",
		ports.Message{Data: []byte(`{"id":1}`), OrderingKey: "customer-42"},
		ports.Message{Data: []byte(`{"id":2}`), OrderingKey: "customer-42"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published", ids)

	rctx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	err = n.Subscribe(rctx, "orders-projector", func(_ context.Context, m ports.Message) error {
		fmt.Printf("%s (delivery %d)\n", m.Data, m.DeliveryAttempt)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

// A Config prints and logs without its secrets.
func ExampleConfig_String() {
	cfg := nats.Config{URL: "nats://app:s3cr3t@nats.internal:4222", Token: "", Prefix: "orders"}
	fmt.Println(cfg)
	fmt.Println(cfg.RedactedURL())
	// Output:
	// nats.Config{URL:"nats://app:xxxxx@nats.internal:4222" Prefix:"orders"}
	// nats://app:xxxxx@nats.internal:4222
}

// The adapter records spans and metrics with the application's providers
// (here the global ones, where an SDK would be installed), and writes the
// trace context into the messages with its propagator. It needs a server,
// so it is compiled but not run.
func ExampleWithTracerProvider() {
	ctx := context.Background()
	cfg, err := nats.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	n, err := nats.Open(ctx, cfg,
		nats.WithTracerProvider(otel.GetTracerProvider()),
		nats.WithMeterProvider(otel.GetMeterProvider()),
		nats.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close(context.Background())
	// A producer span "publish orders"; the message carries its traceparent.
	if _, err := n.Publish(ctx, "orders", ports.Message{Data: []byte(`{"id":1}`)}); err != nil {
		log.Fatal(err)
	}
}
