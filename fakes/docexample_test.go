package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// Account is a document model with optimistic concurrency.
type Account struct {
	ports.Document `bson:",inline"`
	Email          string        `bson:"email"`
	Balance        int           `bson:"balance"`
	Version        ports.Version `bson:"v"`
}

// One index declaration serves the fake and the adapter (fakes.Index is
// mongo.Index); duplicates are ErrConflict on both.
func ExampleWithIndexes() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	unique := fakes.Index{Fields: []string{"Email"}, Unique: true}
	accounts, err := fakes.NewDocStore[Account](db, fakes.WithIndexes(unique))
	if err != nil {
		panic(err)
	}
	_ = accounts.Insert(ctx, &Account{Email: "ann@example.com"})
	err = accounts.Insert(ctx, &Account{Email: "ann@example.com"})
	fmt.Println(errors.Is(err, ports.ErrConflict))
	// Output: true
}

// Patch changes named fields atomically; a stale version is ErrConflict.
func ExampleDocStore_Patch() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	accounts, _ := fakes.NewDocStore[Account](db)
	a := &Account{Email: "ann@example.com", Balance: 10}
	_ = accounts.Insert(ctx, a)

	_ = accounts.Patch(ctx, a.ID, ports.Inc("Balance", 5))
	err := accounts.Patch(ctx, a.ID, ports.Inc("Balance", 5).IfVersion(a.Version)) // a.Version is 1, the store holds 2
	fmt.Println(errors.Is(err, ports.ErrConflict))

	got, _ := accounts.Get(ctx, a.ID)
	fmt.Println(got.Balance, got.Version)
	// Output:
	// true
	// 15 2
}

// FindPage walks a query in keyset pages: pass each page's Next to get
// the one after it.
func ExampleDocStore_FindPage() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	accounts, _ := fakes.NewDocStore[Account](db)
	for i := range 5 {
		_ = accounts.Insert(ctx, &Account{Email: fmt.Sprintf("u%d@example.com", i), Balance: i % 2})
	}
	q := ports.All().OrderBy("-Balance", "Email").Limit(2)
	for cursor := ""; ; {
		page, err := accounts.FindPage(ctx, q, cursor)
		if err != nil {
			panic(err)
		}
		emails := make([]string, len(page.Items))
		for i, a := range page.Items {
			emails[i] = a.Email
		}
		fmt.Println(strings.Join(emails, " "))
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	// Output:
	// u1@example.com u3@example.com
	// u0@example.com u2@example.com
	// u4@example.com
}

// Stream yields one document at a time; break to stop early.
func ExampleDocStore_Stream() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	accounts, _ := fakes.NewDocStore[Account](db)
	for i := range 3 {
		_ = accounts.Insert(ctx, &Account{Email: fmt.Sprintf("u%d@example.com", i), Balance: i})
	}
	for a, err := range accounts.Stream(ctx, ports.Where("Balance", ports.Gt, 0).OrderBy("Balance")) {
		if err != nil {
			panic(err)
		}
		fmt.Println(a.Email)
	}
	// Output:
	// u1@example.com
	// u2@example.com
}

// Documents written by mongoose keep their times under createdAt and
// updatedAt; name the keys on the fake as on the adapter.
func ExampleWithTimestampKeys() {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	accounts, _ := fakes.NewDocStore[Account](db, fakes.WithTimestampKeys("createdAt", "updatedAt"))
	a := &Account{Email: "ann@example.com"}
	_ = accounts.Insert(ctx, a)
	n, _ := accounts.Count(ctx, ports.Where("CreatedAt", ports.Lte, a.CreatedAt))
	fmt.Println(n)
	// Output: 1
}
