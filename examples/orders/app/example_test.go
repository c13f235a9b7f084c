package app_test

import (
	"context"
	"fmt"
	"time"

	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/fakes"
)

// The service over the in-memory fakes: place an order, read it back
// (through the cache), and project its event into the read model, as the
// subscriber started by main does.
func ExampleService() {
	ctx := context.Background()
	sql, docs := fakes.NewDB(), fakes.NewDB()
	cache, ps := fakes.NewCache(), fakes.NewPubSub()
	defer func() {
		_ = ps.Close(ctx)
		_ = cache.Close(ctx)
		_ = docs.Close(ctx)
		_ = sql.Close(ctx)
	}()
	_ = ps.CreateTopic(ctx, app.TopicOrderCreated)
	orders, _ := fakes.NewSQLStore[domain.Order](sql)
	lines, _ := fakes.NewSQLStore[domain.OrderLine](sql)
	auditStore, _ := fakes.NewDocStore[domain.Audit](docs)
	viewStore, _ := fakes.NewDocStore[domain.OrderView](docs)
	svc, err := app.New(app.Config{
		Orders: orders, Lines: lines, Tx: sql,
		Audits: auditStore, Views: viewStore,
		Cache: cache, Publisher: ps,
		Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	placed, err := svc.PlaceOrder(ctx, "request-1", domain.NewOrder{
		Customer: "ada",
		Lines:    []domain.Line{{SKU: "book-1", Qty: 2, PriceCents: 1250}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("placed order", placed.Order.ID, "total", placed.Order.TotalCents)

	got, _ := svc.GetOrder(ctx, placed.Order.ID)
	fmt.Println("read back:", got.Customer, got.Lines[0].SKU, got.Lines[0].Qty)

	for _, m := range ps.Published(app.TopicOrderCreated) {
		_ = svc.HandleOrderCreated(ctx, m)
	}
	views, _ := svc.CustomerOrders(ctx, "ada", 10)
	fmt.Println("read model:", len(views), "order(s),", views[0].Items, "item(s)")
	// Output:
	// placed order 1 total 2500
	// read back: ada book-1 2
	// read model: 1 order(s), 2 item(s)
}
