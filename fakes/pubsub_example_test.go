package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// The fake is a ports.Admin: wiring creates topics and subscriptions the
// same way on every backend, idempotently, and learns when an existing
// subscription has another configuration.
func ExamplePubSub_EnsureSubscription() {
	ctx := context.Background()
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	var admin ports.Admin = ps

	_ = admin.EnsureTopic(ctx, "orders")
	cfg := ports.SubscriptionConfig{Topic: "orders", Ordering: true}
	fmt.Println(admin.EnsureSubscription(ctx, "billing", cfg))
	fmt.Println(admin.EnsureSubscription(ctx, "billing", cfg)) // again: nothing to do

	cfg.Ordering = false
	err := admin.EnsureSubscription(ctx, "billing", cfg)
	fmt.Println(errors.Is(err, ports.ErrConflict))
	fmt.Println(err)
	// Output:
	// <nil>
	// <nil>
	// true
	// fake-pubsub: ensure subscription billing: conflict: subscription exists with another configuration: Ordering is true, not false
}

// With WithPublishLatency, a Publish whose context ends before the
// confirmation reports each message as unconfirmed: it may have been
// published (here it was), and publishing it again may duplicate it.
func ExampleWithPublishLatency() {
	ctx := context.Background()
	ps := fakes.NewPubSub(fakes.WithPublishLatency(time.Hour))
	defer ps.Close(ctx)
	_ = ps.EnsureTopic(ctx, "orders")

	pctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err := ps.Publish(pctx, "orders", ports.Message{Data: []byte("created")})
	var pe *ports.PublishError
	if errors.As(err, &pe) {
		fmt.Println("unconfirmed:", pe.Unconfirmed())
	}
	fmt.Println(errors.Is(err, ports.ErrUnavailable), errors.Is(err, ports.ErrOutcomeUnknown))
	fmt.Println("published anyway:", len(ps.Published("orders")))
	// Output:
	// unconfirmed: [0]
	// true true
	// published anyway: 1
}
