package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/ports"
)

// Order is a domain model: it embeds ports.Document and imports neither
// mgm nor bson.
type Order struct {
	ports.Document `bson:",inline"`
	Customer       string  `bson:"customer"`
	Status         string  `bson:"status"`
	Total          float64 `bson:"total"`
	Address        struct {
		City string `bson:"city"`
	} `bson:"address"`
}

// Open a Store from MONGODB_URI and MONGODB_DATABASE, declare a DocStore
// with its indexes, and use it through the port. It needs a server, so it
// is compiled but not run.
func Example() {
	ctx := context.Background()
	cfg, err := mongo.ConfigFromEnv()
	if err != nil {
		log.Fatal(err) // names the variable, never the password
	}
	store, err := mongo.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err) // ErrUnavailable when no server answers the ping
	}
	defer store.Close(ctx)

	orders, err := mongo.NewDocStore[Order](store, "orders", mongo.WithIndexes(
		mongo.Index{Fields: []string{"Customer", "-CreatedAt"}},
		mongo.Index{Fields: []string{"UpdatedAt"}, TTL: 90 * 24 * time.Hour},
	))
	if err != nil {
		log.Fatal(err)
	}
	if err := orders.EnsureIndexes(ctx); err != nil {
		log.Fatal(err)
	}

	var repo ports.DocStore[Order] = orders // what the service sees
	o := &Order{Customer: "ann", Status: "open", Total: 120}
	o.Address.City = "Lyon"
	if err := repo.Insert(ctx, o); err != nil {
		log.Fatal(err)
	}
	open, err := repo.Find(ctx, ports.Where("Status", ports.Eq, "open").
		And("Address.City", ports.Eq, "Lyon").
		OrderBy("-Total").Limit(20))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(open), "open order(s); first ID", open[0].ID)

	if _, err := repo.Get(ctx, "not-an-id"); errors.Is(err, ports.ErrNotFound) {
		fmt.Println("not found")
	}
}

// WithinTx needs a replica set (or mongos); elsewhere it returns
// ErrInvalid wrapping ErrNoTransactions.
func ExampleStore_WithinTx() {
	ctx := context.Background()
	cfg, err := mongo.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	store, err := mongo.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close(ctx)
	orders, err := mongo.NewDocStore[Order](store, "orders")
	if err != nil {
		log.Fatal(err)
	}
	err = store.WithinTx(ctx, func(ctx context.Context) error {
		a := &Order{Customer: "ann", Total: 10}
		if err := orders.Insert(ctx, a); err != nil {
			return err // aborts
		}
		a.Status = "paid"
		return orders.Update(ctx, a) // commits when nil
	})
	if errors.Is(err, mongo.ErrNoTransactions) {
		fmt.Println("this server has no transactions:", store.Server())
	}
}

func ExampleRedactURI() {
	fmt.Println(mongo.RedactURI("mongodb://app:hunter2@db1:27017,db2:27017/shop?replicaSet=rs0"))
	// Output: mongodb://app:xxxxx@db1:27017,db2:27017/shop?replicaSet=rs0
}

// A Config redacts its password whatever the verb, and in log/slog.
func ExampleConfig() {
	cfg := mongo.Config{URI: "mongodb://app:hunter2@db:27017/shop", CheckTimeout: 2 * time.Second}
	fmt.Printf("%v\n", cfg)
	fmt.Printf("%+v\n", &cfg)
	// Output:
	// mongo.Config{URI:"mongodb://app:xxxxx@db:27017/shop" CheckTimeout:2s}
	// mongo.Config{URI:"mongodb://app:xxxxx@db:27017/shop" CheckTimeout:2s}
}

// Profile is written by a Node service with mongoose too: its times are
// createdAt and updatedAt, its Owner an ObjectId reference.
type Profile struct {
	ports.Document `bson:",inline"`
	Name           string        `bson:"name"`
	Owner          ports.DocRef  `bson:"owner"`
	Visits         int           `bson:"visits"`
	Version        ports.Version `bson:"__rev"`
}

// A DocStore over documents another program shares: the timestamp keys
// are named, DocRef fields are ObjectIDs, Update keeps the fields the
// model does not declare, Patch and Version make concurrent writers safe.
// It needs a server, so it is compiled but not run.
func ExampleWithTimestampKeys() {
	ctx := context.Background()
	cfg, err := mongo.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	store, err := mongo.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close(ctx)
	profiles, err := mongo.NewDocStore[Profile](store, "profiles", mongo.WithTimestampKeys("createdAt", "updatedAt"))
	if err != nil {
		log.Fatal(err)
	}
	owner := "65f0c0ffee0123456789abcd"
	mine, err := profiles.Find(ctx, ports.Where("Owner", ports.Eq, owner).OrderBy("-CreatedAt"))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range mine {
		// Atomic and only if nobody changed it since it was read.
		err := profiles.Patch(ctx, p.ID, ports.Inc("Visits", 1).IfVersion(p.Version))
		if errors.Is(err, ports.ErrConflict) {
			fmt.Println("changed meanwhile: read it again")
		}
	}
}

// Stream reads a large result from the server's cursor, one document at
// a time; FindPage serves it page by page to a client. Compiled, not run.
func ExampleDocStore_Stream() {
	ctx := context.Background()
	cfg, _ := mongo.ConfigFromEnv()
	store, err := mongo.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close(ctx)
	orders, _ := mongo.NewDocStore[Order](store, "orders")
	total := 0.0
	for o, err := range orders.Stream(ctx, ports.Where("Status", ports.Eq, "paid")) {
		if err != nil {
			log.Fatal(err)
		}
		total += o.Total
	}
	page, err := orders.FindPage(ctx, ports.All().OrderBy("-Total").Limit(50), "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(total, len(page.Items), page.Next != "")
}
