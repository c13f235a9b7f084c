package pubsub_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/ports"
)

// Open reads its configuration from the environment: PUBSUB_PROJECT_ID and,
// for an emulator, PUBSUB_EMULATOR_HOST; Application Default Credentials
// otherwise.
func ExampleOpen() {
	ctx := context.Background()
	cfg, err := pubsub.ConfigFromEnv()
	if err != nil {
		log.Fatal(err) // names the variable at fault
	}
	ps, err := pubsub.Open(ctx, cfg) // fails with ErrUnavailable if Pub/Sub does not answer within 5s
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ps.Close(ctx); err != nil { // flushes pending messages
			log.Print(err)
		}
	}()

	// The application sees only the ports.
	var pub ports.Publisher = ps
	ids, err := pub.Publish(ctx, "orders", ports.Message{
		Data:        []byte(`{"id":42}`),
		Attributes:  map[string]string{"type": "order.created"},
		OrderingKey: "customer-7",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published", ids)
}

// An in-process pstest server stands in for Pub/Sub in tests, without Java.
// Admin (ports.Admin) creates the topic and the subscription idempotently,
// on any backend.
func Example_pstest() {
	srv, err := pstestserver.Start("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	ps, err := pubsub.Open(ctx, pubsub.Config{ProjectID: "demo", EmulatorHost: srv.Addr},
		pubsub.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close(ctx)

	var admin ports.Admin = ps
	if err := admin.EnsureTopic(ctx, "greetings"); err != nil {
		log.Fatal(err)
	}
	if err := admin.EnsureSubscription(ctx, "greeter", ports.SubscriptionConfig{Topic: "greetings"}); err != nil {
		log.Fatal(err)
	}
	if _, err := ps.Publish(ctx, "greetings", ports.Message{Data: []byte("hello")}); err != nil {
		log.Fatal(err)
	}

	rctx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	err = ps.Subscribe(rctx, "greeter", func(_ context.Context, m ports.Message) error {
		fmt.Println("received", string(m.Data))
		stop()     // Subscribe returns nil once its context ends
		return nil // ack
	})
	fmt.Println("subscribe returned", err)
	// Output:
	// received hello
	// subscribe returned <nil>
}
