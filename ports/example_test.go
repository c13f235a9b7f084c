package ports_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// A service depends on ports.Cache only; main wires a Redis adapter or,
// here, the in-memory fake.
func ExampleCache() {
	ctx := context.Background()
	var cache ports.Cache = fakes.NewCache()

	// A fixed-window rate limit: the first Incr creates the counter.
	for range 3 {
		n, _ := cache.Incr(ctx, "hits:alice", 1)
		fmt.Println("hits:", n)
	}

	// SetNX is a lock: only the first caller gets it.
	first, _ := cache.SetNX(ctx, "lock:report", []byte("worker-1"), time.Minute)
	second, _ := cache.SetNX(ctx, "lock:report", []byte("worker-2"), time.Minute)
	fmt.Println("locks:", first, second)

	if _, err := cache.Get(ctx, "missing"); errors.Is(err, ports.ErrNotFound) {
		fmt.Println("miss")
	}
	values, _ := cache.GetMany(ctx, "hits:alice", "missing")
	fmt.Println("found:", len(values), string(values["hits:alice"]))
	// Output:
	// hits: 1
	// hits: 2
	// hits: 3
	// locks: true false
	// miss
	// found: 1 3
}

// Order is an SQLStore entity: its primary key is the field named ID.
type Order struct {
	ID       int64
	Customer string
	Total    int
	Status   string
}

func ExampleSQLStore() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	orders, err := fakes.NewSQLStore[Order](db)
	if err != nil {
		panic(err)
	}
	var store ports.SQLStore[Order] = orders
	var tx ports.Transactor = db

	// Create fills in the generated key; WithinTx commits both or neither.
	err = tx.WithinTx(ctx, func(ctx context.Context) error {
		for _, o := range []Order{{Customer: "ann", Total: 120, Status: "open"}, {Customer: "bob", Total: 80, Status: "open"}} {
			if err := store.Create(ctx, &o); err != nil {
				return err
			}
			fmt.Println("created", o.ID, o.Customer)
		}
		return nil
	})
	if err != nil {
		panic(err)
	}

	big, _ := store.Find(ctx, ports.Where("Status", ports.Eq, "open").And("Total", ports.Gte, 100))
	fmt.Println("big open orders:", len(big), big[0].Customer)

	_, err = store.Get(ctx, int64(42))
	fmt.Println("order 42 not found:", errors.Is(err, ports.ErrNotFound))

	_, err = store.Find(ctx, ports.Where("total", ports.Gte, 100))
	fmt.Println("column name instead of field is invalid:", errors.Is(err, ports.ErrInvalid))
	// Output:
	// created 1 ann
	// created 2 bob
	// big open orders: 1 ann
	// order 42 not found: true
	// column name instead of field is invalid: true
}

// Note is a DocStore model: it embeds ports.Document and needs no bson or
// mgm import beyond the struct tags.
type Note struct {
	ports.Document `bson:",inline"`
	Title          string `bson:"title"`
	Author         struct {
		Name string `bson:"name"`
	} `bson:"author"`
}

func ExampleDocStore() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	store, err := fakes.NewDocStore[Note](db)
	if err != nil {
		panic(err)
	}
	var notes ports.DocStore[Note] = store

	for _, title := range []string{"hexagons", "ports", "adapters"} {
		n := Note{Title: title}
		n.Author.Name = "ann"
		if err := notes.Insert(ctx, &n); err != nil {
			panic(err)
		}
		fmt.Println("inserted", n.Title, "id length", len(n.ID))
	}

	// Dotted paths reach nested fields.
	found, _ := notes.Find(ctx, ports.Where("Author.Name", ports.Eq, "ann").OrderBy("Title").Limit(2))
	for _, n := range found {
		fmt.Println("found", n.Title)
	}
	_, err = notes.Get(ctx, "not-an-object-id")
	fmt.Println("malformed id not found:", errors.Is(err, ports.ErrNotFound))
	// Output:
	// inserted hexagons id length 24
	// inserted ports id length 24
	// inserted adapters id length 24
	// found adapters
	// found hexagons
	// malformed id not found: true
}

func ExamplePublisher() {
	ctx := context.Background()
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	_ = ps.CreateTopic(ctx, "orders")
	var pub ports.Publisher = ps

	ids, err := pub.Publish(ctx, "orders",
		ports.Message{Data: []byte(`{"id":1}`), Attributes: map[string]string{"type": "created"}},
		ports.Message{Data: []byte(`{"id":2}`), Attributes: map[string]string{"type": "created"}},
	)
	fmt.Println(len(ids), "messages published,", err)

	_, err = pub.Publish(ctx, "no-such-topic", ports.Message{Data: []byte("x")})
	fmt.Println("unknown topic:", errors.Is(err, ports.ErrNotFound))
	_, err = pub.Publish(ctx, "orders", ports.Message{})
	fmt.Println("empty message:", errors.Is(err, ports.ErrInvalid))
	// Output:
	// 2 messages published, <nil>
	// unknown topic: true
	// empty message: true
}

func ExampleSubscriber() {
	ctx := context.Background()
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	_ = ps.CreateTopic(ctx, "orders")
	_ = ps.CreateSubscription(ctx, "billing", "orders", fakes.SubscriptionConfig{})
	_, _ = ps.Publish(ctx, "orders", ports.Message{Data: []byte("order 1")})

	var sub ports.Subscriber = ps
	ctx, cancel := context.WithCancel(ctx)
	attempts := 0
	// Subscribe runs until ctx ends; a handler error asks for redelivery.
	err := sub.Subscribe(ctx, "billing", func(_ context.Context, m ports.Message) error {
		attempts++
		if attempts == 1 {
			fmt.Println("failed once:", string(m.Data))
			return errors.New("payment service down")
		}
		fmt.Println("processed:", string(m.Data))
		cancel()
		return nil
	})
	fmt.Println("Subscribe returned", err)
	// Output:
	// failed once: order 1
	// processed: order 1
	// Subscribe returned <nil>
}

func ExampleQuery() {
	base := ports.Where("Status", ports.Eq, "open")
	recent := base.OrderBy("-CreatedAt").Limit(20)
	big := base.And("Total", ports.Gte, 100)

	// Queries are values: extending one leaves it as it was.
	fmt.Println(base)
	fmt.Println(recent)
	fmt.Println(big)
	// Output:
	// Query{Status = ?}
	// Query{Status = ? ORDER BY CreatedAt DESC LIMIT 20}
	// Query{Status = ? AND Total >= ?}
}

func ExampleSchema_Validate() {
	type Invoice struct {
		ID       int64
		Total    float64
		Paid     bool
		Customer struct{ Country string }
	}
	schema, _ := ports.SchemaOf[Invoice]()
	for _, q := range []ports.Query{
		ports.Where("Customer.Country", ports.In, []string{"FR", "DE"}).OrderBy("-Total"),
		ports.Where("total", ports.Gt, 10),
		ports.Where("Total", ports.Gt, "10"),
		ports.Where("Paid", ports.Lt, true),
		ports.All().Limit(-1),
	} {
		err := schema.Validate(q)
		fmt.Println(errors.Is(err, ports.ErrInvalid), strings.TrimPrefix(fmt.Sprint(err), "query: validate: invalid argument: "))
	}
	// Output:
	// false <nil>
	// true Invoice has no queryable field "total"
	// true number field Total compared with string
	// true operator < does not apply to bool field Paid
	// true negative limit -1
}

func ExampleNewError() {
	driverErr := errors.New("Error 1062: Duplicate entry 'a' for key 'sku'")
	err := fmt.Errorf("create item: %w", ports.NewError("mysql", "create items", ports.ErrConflict, driverErr))

	fmt.Println(err)
	fmt.Println(errors.Is(err, ports.ErrConflict), errors.Is(err, driverErr), errors.Is(err, ports.ErrNotFound))
	var oe *ports.OpError
	if errors.As(err, &oe) {
		fmt.Println(oe.Backend, oe.Op)
	}
	// Output:
	// create item: mysql: create items: conflict: Error 1062: Duplicate entry 'a' for key 'sku'
	// true true false
	// mysql create items
}
