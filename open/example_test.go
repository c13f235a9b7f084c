package open_test

import (
	"context"
	"fmt"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/open"
	"github.com/portkit/portkit/ports"
)

type Order struct {
	ID       int64
	Customer string
	Total    int64
}

type View struct {
	ports.Document `bson:",inline"`
	OrderID        int64
	Customer       string
}

// One URL per port: the application builds a Mux of the schemes it links
// (here only the fakes) and opens each port from its URL, then makes the
// typed stores on the handles.
func Example() {
	ctx := context.Background()
	m := open.New(fakes.Schemes())

	db, err := m.OpenSQL(ctx, "mem://")
	if err != nil {
		fmt.Println(err)
		return
	}
	group := lifecycle.NewGroup()
	group.Add(db.Connector, lifecycle.WithTarget(db.Target))
	defer group.Close(ctx)

	orders, err := open.NewSQLStore[Order](db, "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := open.Migrate(ctx, orders); err != nil {
		fmt.Println(err)
		return
	}
	err = db.WithinTx(ctx, func(ctx context.Context) error {
		return orders.Create(ctx, &Order{Customer: "ada", Total: 2500})
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	o, err := orders.Get(ctx, int64(1))
	fmt.Println(o.Customer, o.Total, err)
	fmt.Println(db.Scheme, db.Connector.Name(), db.Target)
	// Output:
	// ada 2500 <nil>
	// mem fake-sql in-memory
}

// A URL whose scheme the Mux was not given is ErrInvalid naming the
// schemes it knows; the URL's password never shows.
func ExampleMux_OpenSQL_unknownScheme() {
	m := open.New(fakes.Schemes())
	_, err := m.OpenSQL(context.Background(), "postgres://app:s3cret@db:5432/orders")
	fmt.Println(err)
	// Output:
	// open: open sql: invalid argument: unknown scheme postgres://; known schemes: mem (for the sql port: mem://)
}

func ExampleNewDocStore() {
	ctx := context.Background()
	m := open.New(fakes.Schemes())
	docs, err := m.OpenDoc(ctx, "mem://")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer docs.Close(ctx)
	views, err := open.NewDocStore[View](docs, "order_views",
		open.WithIndexes(open.Index{Fields: []string{"OrderID"}, Unique: true}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := open.Migrate(ctx, views); err != nil { // EnsureIndexes on MongoDB; nothing on the fake
		fmt.Println(err)
		return
	}
	fmt.Println(views.Insert(ctx, &View{OrderID: 1, Customer: "ada"}))
	err = views.Insert(ctx, &View{OrderID: 1, Customer: "bob"})
	fmt.Println(ports.KindName(err))
	// Output:
	// <nil>
	// ErrConflict
}

func ExampleMux_OpenCache() {
	ctx := context.Background()
	m := open.New(fakes.Schemes())
	c, err := m.OpenCache(ctx, "mem://?key_prefix=orders:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	fmt.Println(c.Set(ctx, "k", []byte("v"), 0))
	v, err := c.Get(ctx, "k")
	fmt.Println(string(v), err)
	// Output:
	// <nil>
	// v <nil>
}

func ExampleMux_OpenPubSub() {
	ctx := context.Background()
	m := open.New(fakes.Schemes())
	ps, err := m.OpenPubSub(ctx, "mem://")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ps.Close(ctx)
	// Admin works on every backend: no per-backend branch in wiring.
	fmt.Println(ps.EnsureTopic(ctx, "order.created"))
	fmt.Println(ps.EnsureSubscription(ctx, "projector", ports.SubscriptionConfig{Topic: "order.created"}))
	ids, err := ps.Publish(ctx, "order.created", ports.Message{Data: []byte(`{"id":1}`)})
	fmt.Println(len(ids), err)
	// Output:
	// <nil>
	// <nil>
	// 1 <nil>
}
