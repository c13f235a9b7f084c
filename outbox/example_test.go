package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

type Order struct {
	ID    int64
	Total int
}

type OrderCreated struct {
	OrderID int64 `json:"order_id"`
}

func ExamplePublisher() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	orders, _ := fakes.NewSQLStore[Order](db)
	rows, _ := fakes.NewSQLStore[outbox.Row](db)
	events, _ := outbox.NewPublisher(outbox.Config{Tx: db, Rows: rows})

	// The order and its event commit together, or not at all.
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		o := &Order{Total: 120}
		if err := orders.Create(ctx, o); err != nil {
			return err
		}
		_, err := messaging.Publish(ctx, events, "order.created", nil, OrderCreated{OrderID: o.ID})
		return err
	})
	fmt.Println(err)
	pending, _ := rows.Find(ctx, ports.All())
	fmt.Println(len(pending), pending[0].Topic, string(pending[0].Data))

	// Outside a transaction it refuses: that would be the dual write.
	_, err = events.Publish(ctx, "order.created", ports.Message{Data: []byte("x")})
	fmt.Println(errors.Is(err, ports.ErrInvalid), errors.Is(err, outbox.ErrNoTransaction))
	// Output:
	// <nil>
	// 1 order.created {"order_id":1}
	// true true
}

// ExampleRelay wires a relay on the fakes. (It prints "published 1" once
// the fakes implement Patch and versions; until then it only compiles.)
func ExampleRelay() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := fakes.NewDB()
	defer db.Close(context.Background())
	ps := fakes.NewPubSub()
	defer ps.Close(context.Background())
	_ = ps.CreateTopic(ctx, "order.created")

	rows, _ := fakes.NewSQLStore[outbox.Row](db)
	leases, _ := fakes.NewSQLStore[outbox.Lease](db)
	cfg := outbox.RelayConfig{
		Config: outbox.Config{Tx: db, Rows: rows},
		Leases: leases,
		Target: ps,
	}
	// With the MySQL adapter, Migrate creates the tables too.
	if err := outbox.Migrate(ctx, cfg); err != nil {
		fmt.Println(err)
		return
	}
	relay, _ := outbox.NewRelay(cfg)
	go func() { _ = relay.Run(ctx) }()
	defer relay.Close(context.Background())

	events, _ := outbox.NewPublisher(cfg.Config)
	_ = db.WithinTx(ctx, func(ctx context.Context) error {
		_, err := messaging.Publish(ctx, events, "order.created", nil, OrderCreated{OrderID: 7})
		return err
	})
	for len(ps.Published("order.created")) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("published", len(ps.Published("order.created")))
}
