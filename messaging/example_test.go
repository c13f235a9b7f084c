package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

func ExampleChain() {
	log := slog.New(slog.DiscardHandler)
	retry, _ := messaging.Retry(messaging.RetryConfig{Attempts: 3,
		Backoff: messaging.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 2, Jitter: 0.5}})
	timeout, _ := messaging.Timeout(5 * time.Second)

	calls := 0
	h := messaging.Chain(messaging.Recover(log), retry, timeout)(func(ctx context.Context, m ports.Message) error {
		calls++
		if calls < 3 {
			return errors.New("downstream busy")
		}
		return nil
	})
	err := h(context.Background(), ports.Message{ID: "1", Data: []byte("x")})
	fmt.Println(err, calls)
	// Output: <nil> 3
}

func ExampleRecover() {
	h := messaging.Recover(slog.New(slog.DiscardHandler))(func(context.Context, ports.Message) error {
		panic(errors.New("invariant broken: order without lines"))
	})
	err := h(context.Background(), ports.Message{ID: "1", Data: []byte("x")})
	fmt.Println(err)
	fmt.Println(messaging.IsPermanent(err))
	// Output:
	// messaging: handler panicked: invariant broken: order without lines
	// true
}

func ExampleDeadLetter() {
	ctx := context.Background()
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	_ = ps.CreateTopic(ctx, "orders.dead")

	dl, _ := messaging.DeadLetter(messaging.DeadLetterConfig{
		Publisher: ps, Topic: "orders.dead", Subscription: "orders-projector", MaxDeliveries: 2,
		Logger: slog.New(slog.DiscardHandler),
	})
	h := dl(func(context.Context, ports.Message) error { return errors.New("cannot project") })

	m := ports.Message{ID: "41", Data: []byte(`{"order_id":7}`), Attributes: map[string]string{"tenant": "acme"}}
	fmt.Println(h(ctx, m)) // first failure: nacked (counted in process)
	fmt.Println(h(ctx, m)) // second: moved, then acked
	dead := ps.Published("orders.dead")[0]
	fmt.Println(string(dead.Data), dead.Attributes["tenant"], dead.Attributes[ports.AttrDeadLetterSubscription],
		dead.Attributes[ports.AttrDeadLetterDeliveryCount], dead.Attributes[messaging.AttrDeadLetterReason])
	// Output:
	// cannot project
	// <nil>
	// {"order_id":7} acme orders-projector 2 cannot project
}

func ExampleDedupe() {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)
	dedupe, _ := messaging.Dedupe(messaging.DedupeConfig{Cache: cache, Consumer: "projector", TTL: 24 * time.Hour})

	applied := 0
	h := dedupe(func(context.Context, ports.Message) error { applied++; return nil })
	m, _ := messaging.Encode[string](nil, "order 7 created")
	m.ID = "1"
	_ = h(ctx, m)
	m.ID = "2" // published again (a relay retried): same stable ID
	_ = h(ctx, m)
	fmt.Println(applied)
	// Output: 1
}

type View struct {
	ID      int64
	OrderID int64 `gorm:"uniqueIndex"`
}

func ExampleDedupeTx() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	processed, _ := fakes.NewSQLStore[messaging.Processed](db)
	views, _ := fakes.NewSQLStore[View](db)
	dedupe, _ := messaging.DedupeTx(messaging.DedupeTxConfig{Tx: db, Store: processed, Consumer: "projector"})

	// The handler writes with the ctx it gets: its write and the
	// Processed row commit together.
	h := dedupe(messaging.Handle[int64](nil, func(ctx context.Context, orderID int64, _ ports.Message) error {
		return views.Create(ctx, &View{OrderID: orderID})
	}))
	m, _ := messaging.Encode[int64](nil, 7)
	fmt.Println(h(ctx, m), h(ctx, m)) // the second is a duplicate: acked, not applied
	n, _ := views.Count(ctx, ports.All())
	fmt.Println(n)
	// Output:
	// <nil> <nil>
	// 1
}

type OrderPlaced struct {
	OrderID int64 `json:"order_id"`
}

func ExamplePublish() {
	ctx := context.Background()
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	_ = ps.CreateTopic(ctx, "orders")

	_, err := messaging.Publish(ctx, ps, "orders", nil, OrderPlaced{OrderID: 7})
	fmt.Println(err)
	m := ps.Published("orders")[0]
	fmt.Println(string(m.Data), m.Attributes[messaging.AttrContentType], len(m.Attributes[messaging.AttrMessageID]))
	// Output:
	// <nil>
	// {"order_id":7} application/json 36
}

func ExampleHandle() {
	h := messaging.Handle[OrderPlaced](nil, func(ctx context.Context, e OrderPlaced, m ports.Message) error {
		fmt.Println("placed", e.OrderID)
		return nil
	})
	m, _ := messaging.Encode[OrderPlaced](nil, OrderPlaced{OrderID: 7})
	_ = h(context.Background(), m)

	// A payload that does not decode never reaches the function: the
	// error is permanent (nacked, or dead-lettered at once under DeadLetter).
	err := h(context.Background(), ports.Message{Data: []byte("garbage")})
	fmt.Println(messaging.IsPermanent(err), errors.Is(err, ports.ErrInvalid))
	// Output:
	// placed 7
	// true true
}

func ExampleRunner() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps := fakes.NewPubSub()
	defer ps.Close(context.Background())
	_ = ps.CreateTopic(ctx, "orders")
	_ = ps.CreateSubscription(ctx, "orders-projector", "orders", fakes.SubscriptionConfig{})

	got := make(chan OrderPlaced, 1)
	r, err := messaging.NewRunner(ps, messaging.RunnerConfig{Name: "consumers"}, messaging.Route{
		Subscription: "orders-projector",
		Middleware:   []messaging.Middleware{messaging.Recover(nil)},
		Handler: messaging.Handle[OrderPlaced](nil, func(_ context.Context, e OrderPlaced, _ ports.Message) error {
			got <- e
			return nil
		}),
	})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	_, _ = messaging.Publish(ctx, ps, "orders", nil, OrderPlaced{OrderID: 7})
	fmt.Println("handled", (<-got).OrderID)
	cancel()
	fmt.Println("run:", <-done)
	// Output:
	// handled 7
	// run: <nil>
}
