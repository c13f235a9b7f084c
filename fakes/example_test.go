package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

func ExampleNewCache() {
	ctx := context.Background()
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cache := fakes.NewCache(fakes.WithClock(clock))
	defer cache.Close(ctx)

	_ = cache.Set(ctx, "session", []byte("alice"), time.Minute)
	v, _ := cache.Get(ctx, "session")
	fmt.Printf("%s\n", v)

	n, _ := cache.Incr(ctx, "visits", 1)
	fmt.Println(n)

	clock.Advance(2 * time.Minute)
	_, err := cache.Get(ctx, "session")
	fmt.Println(errors.Is(err, ports.ErrNotFound))
	// Output:
	// alice
	// 1
	// true
}

type Order struct {
	ID     int64
	Ref    string `gorm:"uniqueIndex"`
	Status string
	Total  int
}

type Audit struct {
	ports.Document `bson:",inline"`
	Action         string
}

func ExampleNewSQLStore() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	orders, err := fakes.NewSQLStore[Order](db)
	if err != nil {
		panic(err)
	}
	audits, err := fakes.NewDocStore[Audit](db)
	if err != nil {
		panic(err)
	}

	// One transaction covers both stores; an error rolls both back.
	err = db.WithinTx(ctx, func(ctx context.Context) error {
		if err := orders.Create(ctx, &Order{Ref: "A-1", Status: "open", Total: 120}); err != nil {
			return err
		}
		if err := audits.Insert(ctx, &Audit{Action: "create A-1"}); err != nil {
			return err
		}
		return errors.New("payment declined")
	})
	fmt.Println(err)
	n, _ := orders.Count(ctx, ports.All())
	m, _ := audits.Count(ctx, ports.All())
	fmt.Println(n, m)

	_ = orders.Create(ctx, &Order{Ref: "A-2", Status: "open", Total: 80})
	_ = orders.Create(ctx, &Order{Ref: "A-3", Status: "open", Total: 150})
	err = orders.Create(ctx, &Order{Ref: "A-3"})
	fmt.Println(errors.Is(err, ports.ErrConflict))

	big, _ := orders.Find(ctx, ports.Where("Total", ports.Gte, 100).OrderBy("-Total"))
	for _, o := range big {
		fmt.Println(o.ID, o.Ref, o.Total)
	}
	// Output:
	// payment declined
	// 0 0
	// true
	// 3 A-3 150
}

func ExampleNewDocStore() {
	ctx := context.Background()
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 9, 30, 0, 0, time.UTC))
	db := fakes.NewDB(fakes.WithClock(clock))
	defer db.Close(ctx)
	audits, err := fakes.NewDocStore[Audit](db)
	if err != nil {
		panic(err)
	}

	a := Audit{Action: "login"}
	_ = audits.Insert(ctx, &a)
	fmt.Println(len(a.ID), a.CreatedAt)

	clock.Advance(time.Hour)
	a.Action = "logout"
	_ = audits.Update(ctx, &a)
	got, _ := audits.Get(ctx, a.ID)
	fmt.Println(got.Action, got.CreatedAt, got.UpdatedAt)

	_, err = audits.Get(ctx, "not-an-object-id")
	fmt.Println(errors.Is(err, ports.ErrNotFound))
	// Output:
	// 24 2025-01-01 09:30:00 +0000 UTC
	// logout 2025-01-01 09:30:00 +0000 UTC 2025-01-01 10:30:00 +0000 UTC
	// true
}

func ExampleNewPubSub() {
	ctx := context.Background()
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	_ = ps.EnsureTopic(ctx, "orders")
	_ = ps.EnsureTopic(ctx, "orders-dead")
	// With a dead-letter policy, DeliveryAttempt counts deliveries.
	_ = ps.EnsureSubscription(ctx, "billing", ports.SubscriptionConfig{
		Topic: "orders", Ordering: true, MaxDeliveryAttempts: 5, DeadLetterTopic: "orders-dead"})

	ids, _ := ps.Publish(ctx, "orders",
		ports.Message{Data: []byte("created"), OrderingKey: "A-1"},
		ports.Message{Data: []byte("paid"), OrderingKey: "A-1"})
	fmt.Println(ids)

	// The first delivery of "paid" fails; it is redelivered, still after
	// "created" and before anything later with the same key.
	subCtx, stop := context.WithCancel(ctx)
	failed := false
	_ = ps.Subscribe(subCtx, "billing", func(_ context.Context, m ports.Message) error {
		fmt.Printf("%s attempt %d\n", m.Data, m.DeliveryAttempt)
		if string(m.Data) == "paid" && !failed {
			failed = true
			return errors.New("ledger busy")
		}
		if string(m.Data) == "paid" {
			stop()
		}
		return nil
	})
	fmt.Println(ps.Acked("billing"), ps.Pending("billing"), len(ps.Published("orders")))
	// Output:
	// [1 2]
	// created attempt 1
	// paid attempt 1
	// paid attempt 2
	// 2 0 2
}

func ExampleFaults_FailNext() {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)

	cache.FailNext(2, ports.ErrUnavailable)
	for range 3 {
		err := cache.Set(ctx, "k", []byte("v"), 0)
		fmt.Println(errors.Is(err, ports.ErrUnavailable))
	}
	fmt.Println(cache.Calls())
	// Output:
	// true
	// true
	// false
	// 3
}

func ExampleFaults_SetUnavailable() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)

	db.SetUnavailable(true)
	fmt.Println(db.Check(ctx))
	db.SetUnavailable(false)
	fmt.Println(db.Check(ctx))
	// Output:
	// fake-sql: check: unavailable: injected fault
	// <nil>
}

func ExampleNewManualClock() {
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	clock.Advance(90 * time.Minute)
	fmt.Println(clock.Now())
	clock.Set(time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC))
	fmt.Println(clock.Now())
	// Output:
	// 2025-01-01 01:30:00 +0000 UTC
	// 2030-05-06 07:08:09 +0000 UTC
}
