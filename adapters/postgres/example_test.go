package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/ports"
)

// Order is a model: a plain struct with gorm tags, no portkit import.
type Order struct {
	ID        int64  `gorm:"primaryKey"`
	Number    string `gorm:"size:32;uniqueIndex"`
	Status    string `gorm:"size:16;index"`
	Total     int64
	CreatedAt time.Time
}

// A Config never shows its password, whichever way it is printed.
func ExampleConfig() {
	cfg := postgres.Config{URL: "postgres://shop:s3cret@db.internal:5432/shop?sslmode=require", MaxOpenConns: 20}
	fmt.Println(cfg)
	fmt.Printf("%+v\n", postgres.Config{Host: "db.internal", User: "shop", Password: "s3cret", Database: "shop"})
	// Output:
	// postgres.Config{URL:"postgres://shop:xxxxx@db.internal:5432/shop?sslmode=require" MaxOpenConns:20}
	// postgres.Config{Host:"db.internal" User:"shop" Password:xxxxx Database:"shop"}
}

// Open a database from the environment (DATABASE_URL, or PGHOST and the
// other PG* variables), use a store, close at shutdown.
func ExampleOpen() {
	ctx := context.Background()
	cfg, err := postgres.ConfigFromEnv()
	if err != nil {
		log.Fatal(err) // names the variable, never the password
	}
	db, err := postgres.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(context.Background())

	var orders ports.SQLStore[Order]
	s, err := postgres.NewStore[Order](db)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	orders = s

	o := &Order{Number: "A-1001", Status: "open", Total: 4200}
	if err := orders.Create(ctx, o); errors.Is(err, ports.ErrConflict) {
		fmt.Println("order number taken")
	}
	open, err := orders.Find(ctx, ports.Where("Status", ports.Eq, "open").OrderBy("-CreatedAt").Limit(20))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(open), "open orders")
}

// Several store calls in one transaction: the transaction travels in the
// context. Returning an error (or panicking) rolls everything back.
func ExampleDB_WithinTx() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	orders, err := postgres.NewStore[Order](db)
	if err != nil {
		log.Fatal(err)
	}

	err = db.WithinTx(ctx, func(ctx context.Context) error {
		o, err := orders.Get(ctx, int64(1001))
		if err != nil {
			return err // ErrNotFound: nothing was changed
		}
		o.Status = "paid"
		if err := orders.Update(ctx, o); err != nil {
			return err
		}
		return orders.Create(ctx, &Order{Number: "R-1001", Status: "receipt", Total: o.Total})
	})
	if err != nil {
		log.Print(err)
	}
}

func ExampleNewStore() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{Host: "127.0.0.1", User: "root", Database: "test"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	archive, err := postgres.NewStore[Order](db, postgres.WithTable("orders_2024"), postgres.WithBatchSize(500))
	if err != nil {
		log.Fatal(err)
	}
	batch := []*Order{{Number: "X-1"}, {Number: "X-2"}}
	if err := archive.CreateMany(ctx, batch); err != nil {
		log.Fatal(err)
	}
	fmt.Println(batch[0].ID != 0, batch[1].ID != 0)
}

// Stream reads a result of any size one row at a time.
func ExampleStore_Stream() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{Host: "127.0.0.1", User: "root", Database: "test"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	orders, err := postgres.NewStore[Order](db)
	if err != nil {
		log.Fatal(err)
	}
	var total int64
	for o, err := range orders.Stream(ctx, ports.Where("Status", ports.Eq, "open")) {
		if err != nil {
			log.Fatal(err) // yielded once, last
		}
		total += o.Total
	}
	fmt.Println(total)
}

// FindPage walks a result in keyset pages: each page costs the same, and
// rows written meanwhile shift nothing.
func ExampleStore_FindPage() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{Host: "127.0.0.1", User: "root", Database: "test"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	orders, err := postgres.NewStore[Order](db)
	if err != nil {
		log.Fatal(err)
	}
	q := ports.Where("Status", ports.Eq, "open").OrderBy("-CreatedAt").Limit(50)
	for cursor := ""; ; {
		page, err := orders.FindPage(ctx, q, cursor)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(page.Items))
		if page.Next == "" {
			break
		}
		cursor = page.Next // hand it to the client, which sends it back
	}
}

// Account opts in to optimistic concurrency with a ports.Version field.
type Account struct {
	ID      int64
	Owner   string `gorm:"size:64"`
	Balance int64
	Version ports.Version
}

// Two writers that read the same version: the second Update is
// ErrConflict and changes nothing; Patch increments atomically in the
// server.
func ExampleStore_Update() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{Host: "127.0.0.1", User: "root", Database: "test"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	accounts, err := postgres.NewStore[Account](db)
	if err != nil {
		log.Fatal(err)
	}
	a := Account{Owner: "ada"}
	if err := accounts.Create(ctx, &a); err != nil { // version 1
		log.Fatal(err)
	}
	b := a
	a.Balance = 10
	fmt.Println(accounts.Update(ctx, &a), a.Version) // <nil> 2
	b.Balance = 20
	fmt.Println(errors.Is(accounts.Update(ctx, &b), ports.ErrConflict)) // true: re-read, then retry
	fmt.Println(accounts.Patch(ctx, a.ID, ports.Inc("Balance", 5).IfVersion(a.Version)))
}

// The DB and its stores record spans and metrics with the application's
// providers (here the global ones, where an SDK would be installed). It
// needs a server, so it is compiled but not run.
func ExampleWithTracerProvider() {
	ctx := context.Background()
	cfg, err := postgres.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	db, err := postgres.Open(ctx, cfg,
		postgres.WithTracerProvider(otel.GetTracerProvider()),
		postgres.WithMeterProvider(otel.GetMeterProvider()))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(context.Background())
	// A span "check postgres" with server.address and server.port.
	if err := db.Check(ctx); err != nil {
		log.Fatal(err)
	}
}
