package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

type Customer struct {
	ID      int64
	Email   string `gorm:"size:100;uniqueIndex"`
	Credit  int
	Version ports.Version
}

// The SQL fake follows the collation the adapter creates its tables with:
// on MySQL (the default) utf8mb4_general_ci, where case, accents and
// trailing spaces do not count; on PostgreSQL "C", bytewise.
func ExampleWithDialect() {
	ctx := context.Background()
	for _, d := range []fakes.Dialect{fakes.MySQL, fakes.Postgres} {
		db := fakes.NewDB(fakes.WithDialect(d))
		customers, _ := fakes.NewSQLStore[Customer](db)
		_ = customers.Create(ctx, &Customer{Email: "ann@example.com"})
		err := customers.Create(ctx, &Customer{Email: "Ann@Example.com "})
		n, _ := customers.Count(ctx, ports.Where("Email", ports.Eq, "ANN@EXAMPLE.COM"))
		fmt.Printf("%s: duplicate=%v matches=%d\n", d, errors.Is(err, ports.ErrConflict), n)
		_ = db.Close(ctx)
	}
	// Output:
	// mysql: duplicate=true matches=1
	// postgres: duplicate=false matches=0
}

// Patch changes named fields in one atomic write; Inc adds in the store,
// so concurrent increments add up; a Version field makes a stale write
// ErrConflict.
func ExampleSQLStore_Patch() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	customers, _ := fakes.NewSQLStore[Customer](db)
	c := Customer{Email: "ann@example.com"}
	_ = customers.Create(ctx, &c)

	_ = customers.Patch(ctx, c.ID, ports.Inc("Credit", 10))
	err := customers.Patch(ctx, c.ID, ports.Set("Credit", 0).IfVersion(c.Version)) // read before the Inc
	fmt.Println(errors.Is(err, ports.ErrConflict))

	got, _ := customers.Get(ctx, c.ID)
	fmt.Println(got.Credit, got.Version)
	// Output:
	// true
	// 10 2
}

// FindPage reads keyset pages: each cursor holds the last row's sort
// values, so every page costs the same and rows written meanwhile shift
// nothing.
func ExampleSQLStore_FindPage() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	customers, _ := fakes.NewSQLStore[Customer](db)
	for _, e := range []string{"d@x", "a@x", "c@x", "b@x", "e@x"} {
		_ = customers.Create(ctx, &Customer{Email: e})
	}
	q := ports.All().OrderBy("Email").Limit(2)
	for cursor := ""; ; {
		page, err := customers.FindPage(ctx, q, cursor)
		if err != nil {
			panic(err)
		}
		var emails []string
		for _, c := range page.Items {
			emails = append(emails, c.Email)
		}
		fmt.Println(strings.Join(emails, " "))
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	// Output:
	// a@x b@x
	// c@x d@x
	// e@x
}

// Stream reads a query's rows one at a time; an error comes once, last.
func ExampleSQLStore_Stream() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	customers, _ := fakes.NewSQLStore[Customer](db)
	for i, e := range []string{"a@x", "b@x", "c@x"} {
		_ = customers.Create(ctx, &Customer{Email: e, Credit: i})
	}
	for c, err := range customers.Stream(ctx, ports.Where("Credit", ports.Gte, 1).OrderBy("-Credit")) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(c.Email)
	}
	// Output:
	// c@x
	// b@x
}

// InTx tells whether a context carries a transaction of the DB.
func ExampleDB_InTx() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	_ = db.WithinTx(ctx, func(ctx context.Context) error {
		fmt.Println(db.InTx(ctx))
		return nil
	})
	fmt.Println(db.InTx(ctx))
	// Output:
	// true
	// false
}
