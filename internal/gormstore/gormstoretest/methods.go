package gormstoretest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

func OptimisticConcurrency(t *testing.T, e Env) {
	ctx := context.Background()
	s := e.Orders(t, e.Open(t))
	o := Order{Status: "new", Version: 7}
	if err := s.Create(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if o.Version != 1 {
		t.Fatalf("Create stored version %d, want 1", o.Version)
	}
	stale := o
	o.Status = "paid"
	if err := s.Update(ctx, &o); err != nil || o.Version != 2 {
		t.Fatalf("Update: %v, version %d, want 2", err, o.Version)
	}
	stale.Status = "cancelled"
	if err := s.Update(ctx, &stale); ports.KindOf(err) != ports.ErrConflict {
		t.Errorf("Update of a stale version: %v, want ErrConflict", err)
	}
	if stale.Version != 1 || stale.Status != "cancelled" {
		t.Errorf("a failed Update changed the entity: %+v", stale)
	}
	if got, _ := s.Get(ctx, o.ID); got.Status != "paid" || got.Version != 2 {
		t.Errorf("after a stale Update: %+v, want paid v2", got)
	}
	absent := Order{ID: o.ID + 100, Version: 1}
	if err := s.Update(ctx, &absent); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Update of an absent row: %v, want ErrNotFound", err)
	}
	// Patch increments the version; IfVersion is checked.
	if err := s.Patch(ctx, o.ID, ports.Set("Status", "shipped").IfVersion(1)); ports.KindOf(err) != ports.ErrConflict {
		t.Errorf("Patch IfVersion(stale): %v, want ErrConflict", err)
	}
	if err := s.Patch(ctx, o.ID, ports.Set("Status", "shipped").IfVersion(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Patch(ctx, o.ID+100, ports.Set("Status", "x").IfVersion(2)); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Patch IfVersion of an absent row: %v, want ErrNotFound", err)
	}
	if got, _ := s.Get(ctx, o.ID); got.Status != "shipped" || got.Version != 3 {
		t.Errorf("after Patch: %+v, want shipped v3", got)
	}
	// DeleteIfVersion.
	if err := s.DeleteIfVersion(ctx, o.ID, 2); ports.KindOf(err) != ports.ErrConflict {
		t.Errorf("DeleteIfVersion(stale): %v, want ErrConflict", err)
	}
	if err := s.DeleteIfVersion(ctx, o.ID, 3); err != nil {
		t.Errorf("DeleteIfVersion(current): %v", err)
	}
	if err := s.DeleteIfVersion(ctx, o.ID, 3); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("DeleteIfVersion of a deleted row: %v, want ErrNotFound", err)
	}
	items := e.Items(t, e.Open(t))
	if err := items.DeleteIfVersion(ctx, int64(1), 1); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("DeleteIfVersion without a Version field: %v, want ErrInvalid", err)
	}
}

// Two writers read the same version; exactly one Update wins.
func OptimisticUpdateRace(t *testing.T, e Env) {
	ctx := context.Background()
	s := e.Orders(t, e.Open(t))
	o := Order{Status: "new"}
	if err := s.Create(ctx, &o); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := o
			mine.Status = fmt.Sprintf("w%d", i)
			errs[i] = s.Update(ctx, &mine)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case ports.KindOf(err) != ports.ErrConflict:
			t.Errorf("a losing Update: %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d Updates of version 1 won, want exactly 1", won)
	}
}

func Patch(t *testing.T, e Env) {
	ctx := context.Background()
	s := e.Orders(t, e.Open(t))
	o := Order{Status: "new", Total: 10}
	if err := s.Create(ctx, &o); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // UpdatedAt has ms precision
	// Concurrent increments add up; Set and Inc in one statement.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := s.Patch(ctx, o.ID, ports.Inc("Attempts", 1).Inc("Total", 0.5)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	note := "n"
	if err := s.Patch(ctx, o.ID, ports.Set("Note", &note).Set("Status", "paid").Inc("Attempts", -1)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 49 || got.Total != 35 || got.Status != "paid" || got.Note == nil || *got.Note != "n" ||
		got.Version != 52 || !got.CreatedAt.Equal(o.CreatedAt) || !got.UpdatedAt.After(o.UpdatedAt) {
		t.Errorf("after 51 patches: %+v", got)
	}
	if err := s.Patch(ctx, o.ID, ports.Set("Note", nil)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, o.ID); got.Note != nil {
		t.Errorf("Set(Note, nil) left %q", *got.Note)
	}
	if err := s.Patch(ctx, o.ID+1, ports.Set("Status", "x")); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Patch of an absent row: %v, want ErrNotFound", err)
	}
	// An unchanged row still counts as found (clientFoundRows).
	if err := s.Patch(ctx, o.ID, ports.Set("Status", "paid")); err != nil {
		t.Errorf("Patch to the same value: %v", err)
	}
	for name, p := range map[string]ports.Patch{
		"the key":          ports.Set("ID", int64(5)),
		"the version":      ports.Set("Version", ports.Version(5)),
		"a string by Inc":  ports.Inc("Status", 1),
		"a wrong type":     ports.Set("Attempts", "x"),
		"nil on a non-ptr": ports.Set("Status", nil),
	} {
		if err := s.Patch(ctx, o.ID, p); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("Patch of %s: %v, want ErrInvalid", name, err)
		}
	}
}

// Patch touches only its fields: a concurrent change of another column
// is kept (Update would overwrite it).
func PatchKeepsOtherColumns(t *testing.T, e Env) {
	ctx := context.Background()
	db := e.Open(t)
	s := e.Orders(t, db)
	o := Order{Status: "new"}
	if err := s.Create(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if err := db.DB().Exec("UPDATE "+e.QuoteIdent(s.Table())+" SET total = 99 WHERE id = ?", o.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Patch(ctx, o.ID, ports.Set("Status", "paid")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, o.ID); got.Total != 99 || got.Status != "paid" {
		t.Errorf("after Patch: %+v, want the other writer's total kept", got)
	}
}

func Upsert(t *testing.T, e Env) {
	ctx := context.Background()
	s := e.Orders(t, e.Open(t))
	o := Order{ID: 42, Status: "new", Total: 1}
	if err := s.Upsert(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if o.Version != 1 || o.CreatedAt.IsZero() {
		t.Errorf("Upsert insert: %+v, want version 1 and CreatedAt", o)
	}
	created := o.CreatedAt
	time.Sleep(2 * time.Millisecond)
	r := Order{ID: 42, Status: "replaced", Total: 2}
	if err := s.Upsert(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 || !r.CreatedAt.Equal(created) {
		t.Errorf("Upsert replace: %+v, want version 2 and the stored CreatedAt %v", r, created)
	}
	got, _ := s.Get(ctx, int64(42))
	if got.Status != "replaced" || got.Total != 2 || got.Version != 2 || !got.CreatedAt.Equal(created) {
		t.Errorf("after Upsert replace: %+v", got)
	}
	// With a version it is Update.
	stale := Order{ID: 42, Status: "stale", Version: 1}
	if err := s.Upsert(ctx, &stale); ports.KindOf(err) != ports.ErrConflict {
		t.Errorf("Upsert of a stale version: %v, want ErrConflict", err)
	}
	cur := Order{ID: 42, Status: "current", Version: 2}
	if err := s.Upsert(ctx, &cur); err != nil || cur.Version != 3 {
		t.Errorf("Upsert of the current version: %v, version %d, want 3", err, cur.Version)
	}
	absent := Order{ID: 43, Version: 5}
	if err := s.Upsert(ctx, &absent); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Upsert with a version of an absent row: %v, want ErrNotFound", err)
	}
	if err := s.Upsert(ctx, &Order{}); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Upsert without a key: %v, want ErrInvalid", err)
	}
	// A model without a version.
	items := e.Items(t, e.Open(t))
	it := portstest.Item{ID: 7, SKU: "a", Qty: 1}
	if err := items.Upsert(ctx, &it); err != nil {
		t.Fatal(err)
	}
	it2 := portstest.Item{ID: 7, SKU: "b", Qty: 2}
	if err := items.Upsert(ctx, &it2); err != nil {
		t.Fatal(err)
	}
	if got, _ := items.Get(ctx, int64(7)); got.SKU != "b" || got.Qty != 2 {
		t.Errorf("Item after two Upserts: %+v", got)
	}
	// A unique value of another row is ErrConflict (MySQL would take the
	// update branch on any unique index): the row that holds the value
	// must stay as it is.
	if err := items.Upsert(ctx, &portstest.Item{ID: 8, SKU: "b", Qty: 5}); ports.KindOf(err) != ports.ErrConflict {
		t.Errorf("Upsert of a duplicate unique value: %v, want ErrConflict", err)
	}
	if got, _ := items.Get(ctx, int64(7)); got.SKU != "b" || got.Qty != 2 {
		t.Errorf("the row holding the unique value changed: %+v", got)
	}
	if _, err := items.Get(ctx, int64(8)); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Get(8) after the conflicting Upsert: %v, want ErrNotFound", err)
	}
}

func DeleteWhere(t *testing.T, e Env) {
	ctx := context.Background()
	s := e.Items(t, e.Open(t))
	var items []*portstest.Item
	for i := range 10 {
		items = append(items, &portstest.Item{SKU: fmt.Sprintf("s%d", i), Qty: i % 3})
	}
	if err := s.CreateMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteWhere(ctx, ports.Where("Qty", ports.Eq, 1))
	if err != nil || n != 3 {
		t.Errorf("DeleteWhere(Qty = 1) = %d, %v, want 3", n, err)
	}
	if left, _ := s.Count(ctx, ports.All()); left != 7 {
		t.Errorf("%d rows left, want 7", left)
	}
	if n, err := s.DeleteWhere(ctx, ports.Where("Qty", ports.Eq, 1)); err != nil || n != 0 {
		t.Errorf("DeleteWhere matching nothing = %d, %v, want 0", n, err)
	}
	if _, err := s.DeleteWhere(ctx, ports.All()); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("DeleteWhere without a condition: %v, want ErrInvalid", err)
	}
}

func Stream(t *testing.T, e Env) {
	ctx := context.Background()
	db := e.Open(t)
	s := e.Items(t, db)
	var items []*portstest.Item
	for i := range 3000 {
		items = append(items, &portstest.Item{SKU: fmt.Sprintf("s%05d", i), Qty: i % 7})
	}
	if err := s.CreateMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	q := ports.Where("Qty", ports.Gte, 2).OrderBy("-Qty")
	want, err := s.Find(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var got []portstest.Item
	for it, err := range s.Stream(ctx, q) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Stream gave %d items, Find %d (or another order)", len(got), len(want))
	}
	// Breaking out early leaves the pool usable (and no goroutine, checked
	// by goleak in TestMain).
	n := 0
	for _, err := range s.Stream(ctx, ports.All()) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 10 {
			break
		}
	}
	if _, err := s.Get(ctx, items[0].ID); err != nil {
		t.Errorf("Get after a stream was left early: %v", err)
	}
	// A cancelled context ends the stream with its error, once.
	cctx, cancel := context.WithCancel(ctx)
	n = 0
	var last error
	errs := 0
	for _, err := range s.Stream(cctx, ports.All()) {
		if err != nil {
			last, errs = err, errs+1
			continue
		}
		if n++; n == 5 {
			cancel()
		}
	}
	cancel()
	if errs != 1 || !errors.Is(last, context.Canceled) || ports.KindOf(last) != ports.ErrUnavailable || n != 5 {
		t.Errorf("Stream cancelled after 5 rows: %d rows, %d errors, last %v; want 5 rows, then ErrUnavailable with context.Canceled once", n, errs, last)
	}
	// Inside a transaction it sees the transaction's writes.
	err = db.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, &portstest.Item{SKU: "in-tx", Qty: 99}); err != nil {
			return err
		}
		seen := 0
		for it, err := range s.Stream(ctx, ports.Where("Qty", ports.Eq, 99)) {
			if err != nil {
				return err
			}
			if it.SKU == "in-tx" {
				seen++
			}
		}
		if seen != 1 {
			t.Errorf("Stream in the transaction saw its row %d times, want 1", seen)
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}
	// After Close: ErrClosed.
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.Stream(ctx, ports.All()) {
		if ports.KindOf(err) != ports.ErrClosed {
			t.Errorf("Stream after Close: %v, want ErrClosed", err)
		}
	}
}

// FindPage walks every row exactly once, in Find's order, NULLs first
// ascending and last descending, with ties; rows inserted before the
// cursor shift nothing.
func FindPage(t *testing.T, e Env) {
	ctx := context.Background()
	s := e.Items(t, e.Open(t))
	var items []*portstest.Item
	for i := range 53 {
		it := &portstest.Item{SKU: fmt.Sprintf("s%03d", i), Qty: i % 4, Price: float64(i % 5)}
		if i%3 == 0 {
			it.Note = ptrTo(fmt.Sprintf("n%d", i%2))
		}
		items = append(items, it)
	}
	if err := s.CreateMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	for _, q := range []ports.Query{
		ports.All().Limit(10),
		ports.All().OrderBy("Note").Limit(7),
		ports.All().OrderBy("-Note", "Qty").Limit(6),
		ports.Where("Qty", ports.Ne, 2).OrderBy("-Price", "-Note").Limit(5),
		ports.All().OrderBy("-ID").Limit(20),
		// A condition and a keyset of one term (the primary key): gorm
		// read the term's one-element OR as "condition OR cursor" (found
		// by the differential checker).
		ports.Where("Qty", ports.Ne, 2).Limit(4),
		ports.Where("Qty", ports.Gte, 1).And("Note", ports.Ne, "n1").Limit(3),
	} {
		want, err := s.Find(ctx, q.Limit(0))
		if err != nil {
			t.Fatal(err)
		}
		var got []portstest.Item
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("%s: no end of pages", q)
			}
			page, err := s.FindPage(ctx, q, cursor)
			if err != nil {
				t.Fatalf("%s: FindPage: %v", q, err)
			}
			if len(page.Items) > q.LimitN() {
				t.Fatalf("%s: page of %d items", q, len(page.Items))
			}
			got = append(got, page.Items...)
			if page.Next == "" {
				break
			}
			if pages == 1 {
				// A row written before the cursor shifts nothing.
				if err := s.Create(ctx, &portstest.Item{SKU: fmt.Sprintf("late%d", len(got)), Qty: 3, Price: 99, Note: nil}); err != nil {
					t.Fatal(err)
				}
			}
			cursor = page.Next
		}
		ids := func(xs []portstest.Item) []int64 {
			out := make([]int64, 0, len(xs))
			for _, x := range xs {
				if x.SKU[0] != 'l' {
					out = append(out, x.ID)
				}
			}
			return out
		}
		if g, w := ids(got), ids(want); !slices.Equal(g, w) {
			t.Errorf("%s: pages gave %v\nwant %v", q, g, w)
		}
	}
	q := ports.All().OrderBy("Note").Limit(5)
	page, err := s.FindPage(ctx, q, "")
	if err != nil || page.Next == "" {
		t.Fatal(page, err)
	}
	for name, c := range map[string]string{
		"forged":        page.Next[:len(page.Next)-2] + "AA",
		"another query": page.Next,
		"garbage":       "not a cursor",
	} {
		qq := q
		if name == "another query" {
			qq = ports.Where("Qty", ports.Eq, 1).OrderBy("Note").Limit(5)
		}
		if _, err := s.FindPage(ctx, qq, c); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("FindPage with a %s cursor: %v, want ErrInvalid", name, err)
		}
	}
}

// ptrTo returns a pointer to a copy of v.
func ptrTo[T any](v T) *T { return &v }

// StampedRow has an UpdatedAt and no CreatedAt and no version.
type StampedRow struct {
	ID        int64
	Name      string `gorm:"size:16"`
	UpdatedAt time.Time
}

// An Upsert that replaces a row stamps its UpdatedAt with the time of the
// call, as Update does (the port: "replaces … as Update does"), whatever
// UpdatedAt e was given, and hands it back; one that inserts keeps the
// given UpdatedAt, as Create does (found by the differential checker,
// seed 20261201: the adapters kept the given value on replace).
func UpsertReplaceStampsUpdatedAt(t *testing.T, e Env) {
	ctx := context.Background()
	db := e.Open(t)
	given := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	orders := e.Orders(t, db)
	rows := e.StampedRows(t, db)
	check := func(what string, upsert func(at time.Time) (time.Time, error), get func() (time.Time, error)) {
		t.Helper()
		got, err := upsert(given)
		if err != nil || !got.Equal(given) {
			t.Errorf("%s: insert handed back UpdatedAt %v, %v; want the given %v", what, got, err, given)
		}
		before := time.Now().Add(-time.Second)
		got, err = upsert(given)
		if err != nil || got.Before(before) {
			t.Errorf("%s: replace handed back UpdatedAt %v, %v; want the time of the call", what, got, err)
		}
		if stored, err := get(); err != nil || !stored.Equal(got) {
			t.Errorf("%s: stored UpdatedAt %v, %v; want the one handed back %v", what, stored, err, got)
		}
	}
	check("versioned", func(at time.Time) (time.Time, error) {
		o := Order{ID: 3, Status: "s", UpdatedAt: at}
		err := orders.Upsert(ctx, &o)
		return o.UpdatedAt, err
	}, func() (time.Time, error) {
		o, err := orders.Get(ctx, int64(3))
		if err != nil {
			return time.Time{}, err
		}
		return o.UpdatedAt, nil
	})
	check("plain", func(at time.Time) (time.Time, error) {
		r := StampedRow{ID: 3, Name: "n", UpdatedAt: at}
		err := rows.Upsert(ctx, &r)
		return r.UpdatedAt, err
	}, func() (time.Time, error) {
		r, err := rows.Get(ctx, int64(3))
		if err != nil {
			return time.Time{}, err
		}
		return r.UpdatedAt, nil
	})
}

// DefaultRow has fields with gorm defaults.
type DefaultRow struct {
	ID    int64
	N5    int     `gorm:"default:5"`
	Price float64 `gorm:"not null;default:0"`
}

// An Upsert that replaces a row writes e's zeros as Update does, not the
// defaults an insert takes (gorm's Create had sent them in the update
// branch too: a -0 Price came back 0, found by the differential checker,
// seed 20261254); one that inserts takes the defaults, as Create does.
func UpsertReplaceWritesZerosNotDefaults(t *testing.T, e Env) {
	ctx := context.Background()
	db := e.Open(t)
	s := e.DefaultRows(t, db)
	ins := DefaultRow{ID: 1}
	if err := s.Upsert(ctx, &ins); err != nil || ins.N5 != 5 {
		t.Fatalf("Upsert insert: %+v, %v; want N5 5 (the default)", ins, err)
	}
	rep := DefaultRow{ID: 1, N5: 0, Price: math.Copysign(0, -1)}
	if err := s.Upsert(ctx, &rep); err != nil || rep.N5 != 0 || !math.Signbit(rep.Price) {
		t.Errorf("Upsert replace: %+v, %v; want N5 0 and Price -0 as given", rep, err)
	}
	if got, err := s.Get(ctx, int64(1)); err != nil || got.N5 != 0 {
		t.Errorf("stored after the replace: %+v, %v; want N5 0 (as Update writes it)", got, err)
	}
}

// CounterRow has an unsigned and a small integer column.
type CounterRow struct {
	ID    int64
	U64   uint64
	Small int8
}

// A Patch's Inc delta is not a column value: an unsigned column takes a
// negative delta and a tinyint one a delta past its range, as long as the
// sum fits; a missing row is ErrNotFound (found by the differential
// checker, seeds 20261220 and 20261257: U64 inc -1 was ErrInvalid).
func PatchIncDeltaOutsideTheColumnRange(t *testing.T, e Env) {
	ctx := context.Background()
	s := e.CounterRows(t, e.Open(t))
	if err := s.Patch(ctx, int64(1), ports.Inc("U64", int64(-1))); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Patch of a missing row, U64 inc -1: %v, want ErrNotFound", err)
	}
	if err := s.Create(ctx, &CounterRow{ID: 1, U64: 1, Small: 100}); err != nil {
		t.Fatal(err)
	}
	if err := s.Patch(ctx, int64(1), ports.Inc("U64", int64(-1)).Inc("Small", int64(-200))); err != nil {
		t.Errorf("Patch U64 1 inc -1, Small 100 inc -200: %v, want nil", err)
	}
	if got, err := s.Get(ctx, int64(1)); err != nil || got.U64 != 0 || got.Small != -100 {
		t.Errorf("after the Patch: %+v, %v; want U64 0 and Small -100", got, err)
	}
}
