package portstest_test

import (
	"context"
	"fmt"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// Order is a user's own model: the checker draws its values from its
// fields by reflection.
type Order struct {
	ID     int64   `gorm:"primaryKey"`
	Status string  `gorm:"size:16"`
	Total  float64 `gorm:"not null"`
	Note   *string `gorm:"size:64"`
}

// gtAsGte is a store with a bug: Gt behaves as Gte.
type gtAsGte struct{ ports.SQLStore[Order] }

func (s gtAsGte) Find(ctx context.Context, q ports.Query) ([]Order, error) {
	fixed := ports.All()
	for _, c := range q.Conditions() {
		if c.Op == ports.Gt {
			c.Op = ports.Gte
		}
		fixed = fixed.And(c.Field, c.Op, c.Value)
	}
	for _, o := range q.Orders() {
		if o.Desc {
			fixed = fixed.OrderBy("-" + o.Field)
		} else {
			fixed = fixed.OrderBy(o.Field)
		}
	}
	return s.SQLStore.Find(ctx, fixed.Limit(q.LimitN()).Offset(q.OffsetN()))
}

// The checker runs the same random operations on a reference and on the
// implementation under test, and reports each kind of disagreement shrunk
// to a minimal sequence with the seed that replays it. In a test, call
// portstest.DiffSQLStore(t, fake, real, opts) instead: it fails t.
func ExampleCheckSQLStore() {
	open := func(broken bool) func() (portstest.SQLSubject[Order], error) {
		return func() (portstest.SQLSubject[Order], error) {
			db := fakes.NewDB()
			s, err := fakes.NewSQLStore[Order](db)
			if err != nil {
				return portstest.SQLSubject[Order]{}, err
			}
			var store ports.SQLStore[Order] = s
			if broken {
				store = gtAsGte{s}
			}
			return portstest.SQLSubject[Order]{Store: store, Tx: db, Close: func() { _ = db.Close(context.Background()) }}, nil
		}
	}
	divs, stats, err := portstest.CheckSQLStore(open(false), open(true), portstest.DiffOptions{Seed: 1, Ops: 3000})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("operations run:", stats.Ops >= 3000)
	d := divs[0]
	fmt.Println(d.Kind)
	fmt.Println("shrunk to at most 3 operations:", len(d.Ops) <= 3)
	// Output:
	// operations run: true
	// Find: rows differ [string Gt value]
	// shrunk to at most 3 operations: true
}
