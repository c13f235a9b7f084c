package portstest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// TestSQLStore runs the SQLStore + Transactor conformance suite: every case
// of [SQLStoreCases] as a parallel subtest of a subtest named "SQLStore",
// each on a fresh, empty store of [Item]s from newStore (which must not call
// t.Parallel itself).
//
// It checks:
//   - Create fills an auto-increment ID (distinct, increasing), keeps an
//     explicit one, and round-trips every field (pointer nil and non-nil,
//     ms-precision UTC times, exactly representable floats); a duplicate
//     primary key, or unique index value (with UniqueIndexes), is
//     ErrConflict; a nil entity is ErrInvalid;
//   - CreateMany fills every ID, stores batches larger than one round trip,
//     is a no-op on an empty slice, and is ErrConflict on a duplicate inside
//     the batch or against a stored row;
//   - Get, Update and Delete of an absent key are ErrNotFound, and Update of
//     an absent key inserts nothing; Update writes zero values and nil
//     pointers and succeeds when nothing changed; Delete removes;
//   - Find and Count with every operator (Eq, Ne, Lt, Lte, Gt, Gte, In,
//     empty In, nil with a pointer field), on numbers, strings, bools and
//     times, conjunctions, OrderBy ascending, descending and on several
//     keys, Limit, Offset (with and without Limit, and past the end), and
//     primary key order by default; Count ignores order, limit and offset;
//   - an unknown field (including a column name that is not a Go field
//     name), an unknown operator, a wrong-typed value, nil on a non-pointer
//     field, a non-slice In, an ordering operator on a bool, an unknown sort
//     field, a negative limit or offset: ErrInvalid from Find and Count;
//   - with Transactions: commit, visibility inside the transaction and
//     invisibility outside it before commit, rollback on error (the error is
//     returned), rollback on panic (re-panicked with the same value), a
//     nested WithinTx rolls back only its own work, an inner commit is
//     undone by the outer rollback, 16 concurrent transactions;
//   - 16 goroutines creating at once: every ID distinct, every row readable;
//   - a cancelled context makes every method return promptly with the
//     context's error or ErrUnavailable;
//   - after Connector.Close every method (and WithinTx) returns ErrClosed.
//
// Capability flags (SQLSetup.Caps): Transactions (Tx is set; the
// transaction cases run), UniqueIndexes (Item.SKU's unique index rejects
// duplicates). A nil Connector skips the Close case.
func TestSQLStore(t *testing.T, newStore func(t *testing.T) SQLSetup) {
	t.Helper()
	runCases(t, "SQLStore", sqlCases(), func(t *testing.T) *sqlEnv {
		s := newStore(t)
		checkSetup(t, "SQLSetup", s.Store == nil, s.Caps.Transactions, s.Tx == nil)
		return &sqlEnv{SQLSetup: s}
	})
}

// SQLStoreCases returns the names of the cases TestSQLStore runs, in order.
func SQLStoreCases() []string { return names(sqlCases()) }

// sqlEnv is one case's store.
type sqlEnv struct {
	SQLSetup
}

func (e *sqlEnv) skips() Skips { return e.Skip }

// sqlT0 is the base CreatedAt of the seeded items.
var sqlT0 = time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

func strPtr(s string) *string { return &s }

// newItem returns an Item with every field set.
func newItem(sku string) Item {
	return Item{SKU: sku, Name: "name " + sku, Qty: 3, Price: 4.25, Active: true, Note: strPtr("note " + sku), CreatedAt: sqlT0}
}

// seedItems are the rows the query cases run on, created in this order (so
// primary key order is a, b, c, d, e).
//
//	SKU    Name    Qty Price Active Note   CreatedAt
//	sku-a  apple     5  1.5  true   nil    t0
//	sku-b  banana   10  0.25 false  "ripe" t0+1h
//	sku-c  cherry    0 10    true   ""     t0+2h
//	sku-d  date     10  2.5  false  nil    t0+3h
//	sku-e  elder     7  0.5  true   "x"    t0+4h
func seedItems() []Item {
	return []Item{
		{SKU: "sku-a", Name: "apple", Qty: 5, Price: 1.5, Active: true, Note: nil, CreatedAt: sqlT0},
		{SKU: "sku-b", Name: "banana", Qty: 10, Price: 0.25, Active: false, Note: strPtr("ripe"), CreatedAt: sqlT0.Add(time.Hour)},
		{SKU: "sku-c", Name: "cherry", Qty: 0, Price: 10, Active: true, Note: strPtr(""), CreatedAt: sqlT0.Add(2 * time.Hour)},
		{SKU: "sku-d", Name: "date", Qty: 10, Price: 2.5, Active: false, Note: nil, CreatedAt: sqlT0.Add(3 * time.Hour)},
		{SKU: "sku-e", Name: "elder", Qty: 7, Price: 0.5, Active: true, Note: strPtr("x"), CreatedAt: sqlT0.Add(4 * time.Hour)},
	}
}

// seed creates the seed items one by one and returns them with their IDs.
func (e *sqlEnv) seed(t *testing.T, ctx context.Context) []Item {
	t.Helper()
	items := seedItems()
	for i := range items {
		wantNoErr(t, "Create of seed item "+items[i].SKU, e.Store.Create(ctx, &items[i]))
	}
	return items
}

// create creates it and returns it with its ID, or fails t.
func (e *sqlEnv) create(t *testing.T, ctx context.Context, it Item) Item {
	t.Helper()
	wantNoErr(t, "Create of "+it.SKU, e.Store.Create(ctx, &it))
	if it.ID == 0 {
		t.Fatalf("Create of %s left ID 0, want a generated primary key", it.SKU)
	}
	return it
}

// count returns Count(q) or fails t.
func (e *sqlEnv) count(t *testing.T, ctx context.Context, what string, q ports.Query) int64 {
	t.Helper()
	return countOf(t, ctx, e.Store, what, q)
}

// wantItem checks that Get(id) returns want.
func (e *sqlEnv) wantItem(t *testing.T, ctx context.Context, what string, want Item) {
	t.Helper()
	got, err := e.Store.Get(ctx, want.ID)
	wantRecord(t, what, fmt.Sprintf("Get(%d)", want.ID), "item", got, err, want, itemDiff)
}

// wantNoItem checks that Get(id) is ErrNotFound.
func (e *sqlEnv) wantNoItem(t *testing.T, ctx context.Context, what string, id int64) {
	t.Helper()
	got, err := e.Store.Get(ctx, id)
	wantAbsent(t, what, fmt.Sprintf("Get(%d)", id), got, err)
}

// itemDiff describes how got differs from want ("" when equal); times
// compare at millisecond precision in UTC.
func itemDiff(got, want Item) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID %d, want %d", got.ID, want.ID))
	}
	if got.SKU != want.SKU {
		d = append(d, fmt.Sprintf("SKU %q, want %q", got.SKU, want.SKU))
	}
	if got.Name != want.Name {
		d = append(d, fmt.Sprintf("Name %q, want %q", got.Name, want.Name))
	}
	if got.Qty != want.Qty {
		d = append(d, fmt.Sprintf("Qty %d, want %d", got.Qty, want.Qty))
	}
	if got.Price != want.Price && !(math.IsNaN(got.Price) && math.IsNaN(want.Price)) {
		d = append(d, fmt.Sprintf("Price %v, want %v", got.Price, want.Price))
	}
	if got.Active != want.Active {
		d = append(d, fmt.Sprintf("Active %v, want %v", got.Active, want.Active))
	}
	if (got.Note == nil) != (want.Note == nil) || (got.Note != nil && *got.Note != *want.Note) {
		d = append(d, fmt.Sprintf("Note %s, want %s", fmtPtr(got.Note), fmtPtr(want.Note)))
	}
	if !ms(got.CreatedAt).Equal(ms(want.CreatedAt)) {
		d = append(d, fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	return strings.Join(d, "; ")
}

func fmtPtr(p *string) string {
	if p == nil {
		return "nil"
	}
	return strconv.Quote(*p)
}

// skusOf returns the SKUs of items, in order.
func skusOf(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.SKU
	}
	return out
}

// skus turns "a b c" into ["sku-a" "sku-b" "sku-c"].
func skus(letters ...string) []string {
	out := make([]string, 0, len(letters))
	for _, l := range letters {
		out = append(out, "sku-"+l)
	}
	return out
}

// sqlKit builds the query, invalid-query, FindEmpty and CountIgnoresLimit
// cases on the seed items. Its query cases find the given SKU letters (in
// that order when ordered, else in primary key order, which is the seed
// order).
var sqlKit = queryKit[Item, *sqlEnv]{
	noun:    "items",
	store:   func(e *sqlEnv) finder[Item] { return e.Store },
	seed:    func(t *testing.T, ctx context.Context, e *sqlEnv) { e.seed(t, ctx) },
	seedOne: func(t *testing.T, ctx context.Context, e *sqlEnv) { e.create(t, ctx, newItem("x")) },
	check: func(t *testing.T, q ports.Query, got []Item, want []string) {
		t.Helper()
		if w := skus(want...); !slices.Equal(skusOf(got), w) {
			t.Errorf("Find(%s) returned %v, want %v", q, skusOf(got), w)
		}
	},
}

// sqlQuery is a query case on the seed items: see [sqlKit].
func sqlQuery(name string, q ports.Query, want ...string) testCase[*sqlEnv] {
	return sqlKit.query(name, q, want...)
}

// sqlInvalid is a case where Find and Count of q must be ErrInvalid.
func sqlInvalid(name string, q ports.Query) testCase[*sqlEnv] { return sqlKit.invalid(name, q) }

// needTx skips the case unless the store claims transactions.
func (e *sqlEnv) needTx(t *testing.T) {
	t.Helper()
	needTx(t, e.Caps.Transactions, "SQLCaps")
}

// errRollback is what transaction cases return from fn to force a
// rollback.
var errRollback = errors.New("portstest: roll back")

func sqlCases() []testCase[*sqlEnv] {
	return append(sqlBaseCases(), sqlNewCases()...)
}

func sqlBaseCases() []testCase[*sqlEnv] {
	return []testCase[*sqlEnv]{
		{"CreateFillsID", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			b := e.create(t, ctx, newItem("b"))
			if b.ID <= a.ID {
				t.Errorf("second Create got ID %d, first %d: want a greater auto-increment ID", b.ID, a.ID)
			}
			e.wantItem(t, ctx, "Get of the first created item", a)
			e.wantItem(t, ctx, "Get of the second created item", b)
		}},
		{"CreateRoundTrip", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			for _, it := range seedItems() {
				it = e.create(t, ctx, it)
				e.wantItem(t, ctx, "Get after Create", it)
			}
			zero := e.create(t, ctx, Item{SKU: "zero", CreatedAt: sqlT0})
			e.wantItem(t, ctx, "Get after Create of an item with zero values", zero)
		}},
		{"CreateExplicitID", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			it := newItem("x")
			it.ID = 4242
			wantNoErr(t, "Create with an explicit ID", e.Store.Create(ctx, &it))
			if it.ID != 4242 {
				t.Errorf("Create with explicit ID 4242 changed it to %d", it.ID)
			}
			e.wantItem(t, ctx, "Get of an item created with an explicit ID", it)
		}},
		{"CreateDuplicateKey", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			dup := newItem("other")
			dup.ID = a.ID
			wantErr(t, "Create with the primary key of a stored item", e.Store.Create(ctx, &dup), ports.ErrConflict)
			e.wantItem(t, ctx, "Get after a conflicting Create", a)
		}},
		{"CreateDuplicateUnique", func(t *testing.T, e *sqlEnv) {
			if !e.Caps.UniqueIndexes {
				t.Skip("needs SQLCaps.UniqueIndexes")
			}
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			dup := newItem("a")
			dup.Name = "other"
			wantErr(t, "Create with the SKU (unique index) of a stored item", e.Store.Create(ctx, &dup), ports.ErrConflict)
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after a Create rejected by a unique index = %d, want 1", n)
			}
			e.wantItem(t, ctx, "Get after a conflicting Create", a)
		}},
		{"CreateNil", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			wantErr(t, "Create(nil)", e.Store.Create(ctx, nil), ports.ErrInvalid)
			wantErr(t, "Update(nil)", e.Store.Update(ctx, nil), ports.ErrInvalid)
			wantErr(t, "CreateMany with a nil element", e.Store.CreateMany(ctx, []*Item{{SKU: "ok", CreatedAt: sqlT0}, nil}), ports.ErrInvalid)
		}},
		{"CreateMany", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			items := []*Item{ptr(newItem("a")), ptr(newItem("b")), ptr(newItem("c"))}
			items[1].Note = nil
			items[2].Qty = 0
			wantNoErr(t, "CreateMany of 3 items", e.Store.CreateMany(ctx, items))
			seen := map[int64]bool{}
			for _, it := range items {
				if it.ID == 0 || seen[it.ID] {
					t.Fatalf("CreateMany filled IDs %d, %d, %d: want distinct non-zero IDs", items[0].ID, items[1].ID, items[2].ID)
				}
				seen[it.ID] = true
				e.wantItem(t, ctx, "Get after CreateMany", *it)
			}
		}},
		{"CreateManyLarge", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			const n = 250
			items := make([]*Item, n)
			for i := range items {
				items[i] = &Item{SKU: fmt.Sprintf("bulk-%03d", i), Name: "bulk", Qty: i, CreatedAt: sqlT0}
			}
			wantNoErr(t, "CreateMany of 250 items", e.Store.CreateMany(ctx, items))
			if got := e.count(t, ctx, "Count", ports.All()); got != n {
				t.Errorf("Count after CreateMany of %d items = %d", n, got)
			}
			got, err := e.Store.Find(ctx, ports.Where("Qty", ports.Gte, 200).OrderBy("Qty"))
			wantNoErr(t, "Find", err)
			if len(got) != 50 || got[0].SKU != "bulk-200" || got[49].SKU != "bulk-249" {
				t.Errorf("Find(Qty >= 200 ORDER BY Qty) after CreateMany returned %d items, want bulk-200..bulk-249", len(got))
			}
			e.wantItem(t, ctx, "Get of the last item of a large CreateMany", *items[n-1])
		}},
		{"CreateManyEmpty", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			wantNoErr(t, "CreateMany(nil)", e.Store.CreateMany(ctx, nil))
			wantNoErr(t, "CreateMany of an empty slice", e.Store.CreateMany(ctx, []*Item{}))
			if n := e.count(t, ctx, "Count", ports.All()); n != 0 {
				t.Errorf("Count after CreateMany of no item = %d, want 0", n)
			}
		}},
		{"CreateManyConflict", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			dup := newItem("dup")
			dup.ID = a.ID
			err := e.Store.CreateMany(ctx, []*Item{ptr(newItem("b")), &dup})
			wantErr(t, "CreateMany with the primary key of a stored item", err, ports.ErrConflict)
			e.wantItem(t, ctx, "Get of the stored item after a conflicting CreateMany", a)
			x, y := newItem("x"), newItem("y")
			x.ID, y.ID = 9001, 9001
			wantErr(t, "CreateMany with a primary key twice in the batch", e.Store.CreateMany(ctx, []*Item{&x, &y}), ports.ErrConflict)
			if e.Caps.UniqueIndexes {
				wantErr(t, "CreateMany with a SKU twice in the batch", e.Store.CreateMany(ctx, []*Item{ptr(newItem("u")), ptr(newItem("u"))}), ports.ErrConflict)
			}
		}},
		{"CreateManyZeroValues", func(t *testing.T, e *sqlEnv) {
			// Only a nil pointer is NULL: an empty string first in a
			// batch (the first parameter of the statement) is stored as
			// itself, matches Eq "" and collides in the unique index.
			ctx := caseCtx(t)
			wantNoErr(t, "CreateMany of zero values", e.Store.CreateMany(ctx, []*Item{{CreatedAt: sqlT0}, ptr(newItem("b"))}))
			for _, field := range []string{"SKU", "Name"} {
				if n := e.count(t, ctx, "Count", ports.Where(field, ports.Eq, "")); n != 1 {
					t.Errorf("Count(%s = \"\") after CreateMany of an item with an empty %s = %d, want 1", field, field, n)
				}
			}
			if n := e.count(t, ctx, "Count", ports.Where("Qty", ports.Eq, 0).And("Active", ports.Eq, false)); n != 1 {
				t.Errorf("Count(Qty = 0 AND Active = false) after CreateMany of zero values = %d, want 1", n)
			}
			if e.Caps.UniqueIndexes {
				wantErr(t, "CreateMany with an empty SKU already stored", e.Store.CreateMany(ctx, []*Item{{CreatedAt: sqlT0}, ptr(newItem("c"))}), ports.ErrConflict)
			}
		}},
		{"GetNotFound", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			e.wantNoItem(t, ctx, "Get from an empty table", 1)
			a := e.create(t, ctx, newItem("a"))
			e.wantNoItem(t, ctx, "Get of an ID never created", a.ID+1000)
		}},
		{"Update", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			b := e.create(t, ctx, newItem("b"))
			created := a.CreatedAt
			a.Name, a.Qty, a.Price, a.Note, a.CreatedAt = "renamed", 42, 99.75, strPtr("changed"), sqlT0.Add(time.Minute)
			wantNoErr(t, "Update", e.Store.Update(ctx, &a))
			a.CreatedAt = created // the port's rule: Update never writes CreatedAt
			e.wantItem(t, ctx, "Get after Update", a)
			e.wantItem(t, ctx, "Get of another item after Update", b)
		}},
		{"UpdateZeroValues", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			a.Name, a.Qty, a.Price, a.Active, a.Note = "", 0, 0, false, nil
			wantNoErr(t, "Update to zero values", e.Store.Update(ctx, &a))
			e.wantItem(t, ctx, "Get after an Update to zero values and a nil pointer (Update must write every field)", a)
		}},
		{"UpdateUnchanged", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			wantNoErr(t, "Update with the values already stored (no row changes)", e.Store.Update(ctx, &a))
			e.wantItem(t, ctx, "Get after an unchanged Update", a)
		}},
		{"UpdateNotFound", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			ghost := newItem("ghost")
			ghost.ID = a.ID + 1000
			wantErr(t, "Update of an absent primary key", e.Store.Update(ctx, &ghost), ports.ErrNotFound)
			e.wantNoItem(t, ctx, "Get after Update of an absent key (Update must not insert)", ghost.ID)
			zero := newItem("zero")
			err := e.Store.Update(ctx, &zero)
			if !errors.Is(err, ports.ErrNotFound) && !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("Update of an item with a zero primary key: got err %v (%s), want ErrNotFound or ErrInvalid", err, sentinelName(err))
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after Update of absent keys = %d, want 1 (Update must not insert)", n)
			}
		}},
		{"UpdateConflict", func(t *testing.T, e *sqlEnv) {
			if !e.Caps.UniqueIndexes {
				t.Skip("needs SQLCaps.UniqueIndexes")
			}
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			b := e.create(t, ctx, newItem("b"))
			changed := b
			changed.SKU = a.SKU
			wantErr(t, "Update that gives an item the SKU (unique index) of another", e.Store.Update(ctx, &changed), ports.ErrConflict)
			e.wantItem(t, ctx, "Get after a conflicting Update", b)
		}},
		{"Delete", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			b := e.create(t, ctx, newItem("b"))
			wantNoErr(t, "Delete", e.Store.Delete(ctx, a.ID))
			e.wantNoItem(t, ctx, "Get after Delete", a.ID)
			e.wantItem(t, ctx, "Get of another item after Delete", b)
			wantErr(t, "second Delete of the same ID", e.Store.Delete(ctx, a.ID), ports.ErrNotFound)
		}},
		{"DeleteNotFound", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			wantErr(t, "Delete of an ID never created", e.Store.Delete(ctx, int64(777)), ports.ErrNotFound)
		}},
		sqlKit.findEmpty("an empty table", ports.Where("Name", ports.Eq, "nothing")),
		sqlQuery("FindAllPrimaryKeyOrder", ports.All(), "a", "b", "c", "d", "e"),
		sqlQuery("QueryEq", ports.Where("Qty", ports.Eq, 10), "b", "d"),
		sqlQuery("QueryEqString", ports.Where("Name", ports.Eq, "cherry"), "c"),
		sqlQuery("QueryEqFloat", ports.Where("Price", ports.Eq, 2.5), "d"),
		sqlQuery("QueryNe", ports.Where("Qty", ports.Ne, 10), "a", "c", "e"),
		sqlQuery("QueryLt", ports.Where("Qty", ports.Lt, 7), "a", "c"),
		sqlQuery("QueryLte", ports.Where("Qty", ports.Lte, 7), "a", "c", "e"),
		sqlQuery("QueryGt", ports.Where("Qty", ports.Gt, 5), "b", "d", "e"),
		sqlQuery("QueryGte", ports.Where("Qty", ports.Gte, 5), "a", "b", "d", "e"),
		sqlQuery("QueryLtFloat", ports.Where("Price", ports.Lt, 1.5), "b", "e"),
		sqlQuery("QueryGtString", ports.Where("Name", ports.Gt, "cherry"), "d", "e"),
		sqlQuery("QueryTime", ports.Where("CreatedAt", ports.Gte, sqlT0.Add(2*time.Hour)).And("CreatedAt", ports.Lt, sqlT0.Add(4*time.Hour)), "c", "d"),
		sqlQuery("QueryEqTime", ports.Where("CreatedAt", ports.Eq, sqlT0.Add(3*time.Hour)), "d"),
		sqlQuery("QueryIn", ports.Where("Qty", ports.In, []int{0, 7, 99}), "c", "e"),
		sqlQuery("QueryInString", ports.Where("Name", ports.In, []string{"date", "apple", "zebra"}), "a", "d"),
		sqlQuery("QueryInEmpty", ports.Where("Qty", ports.In, []int{})),
		sqlQuery("QueryNilEq", ports.Where("Note", ports.Eq, nil), "a", "d"),
		sqlQuery("QueryNilNe", ports.Where("Note", ports.Ne, nil), "b", "c", "e"),
		sqlQuery("QueryNilTypedPointer", ports.Where("Note", ports.Eq, (*string)(nil)), "a", "d"),
		sqlQuery("QueryPointerValue", ports.Where("Note", ports.Eq, "ripe"), "b"),
		sqlQuery("QueryBool", ports.Where("Active", ports.Eq, true), "a", "c", "e"),
		sqlQuery("QueryBoolNe", ports.Where("Active", ports.Ne, true), "b", "d"),
		sqlQuery("QueryAnd", ports.Where("Active", ports.Eq, true).And("Qty", ports.Gt, 0).And("Price", ports.Lte, 1.5), "a", "e"),
		sqlQuery("OrderAsc", ports.All().OrderBy("Price"), "b", "e", "a", "d", "c"),
		sqlQuery("OrderDesc", ports.All().OrderBy("-Price"), "c", "d", "a", "e", "b"),
		sqlQuery("OrderMultiKey", ports.All().OrderBy("-Qty", "+Name"), "b", "d", "e", "a", "c"),
		sqlQuery("OrderMultiKeyDesc", ports.All().OrderBy("-Qty").OrderBy("-Name"), "d", "b", "e", "a", "c"),
		sqlQuery("OrderTime", ports.Where("Active", ports.Eq, true).OrderBy("-CreatedAt"), "e", "c", "a"),
		sqlQuery("Limit", ports.All().OrderBy("Price").Limit(2), "b", "e"),
		sqlQuery("LimitOffset", ports.All().OrderBy("Price").Limit(2).Offset(1), "e", "a"),
		sqlQuery("OffsetOnly", ports.All().OrderBy("Price").Offset(3), "d", "c"),
		sqlQuery("OffsetPastEnd", ports.All().OrderBy("Price").Offset(10)),
		sqlQuery("LimitWithConditions", ports.Where("Active", ports.Eq, true).OrderBy("-Qty").Limit(2), "e", "a"),
		sqlKit.countIgnoresLimit(ports.Where("Qty", ports.Gte, 5).OrderBy("-Name").Limit(1).Offset(1), 4),
		sqlInvalid("InvalidUnknownField", ports.Where("Nope", ports.Eq, 1)),
		sqlInvalid("InvalidColumnName", ports.Where("created_at", ports.Lt, time.Now())),
		sqlInvalid("InvalidInjectedField", ports.Where("Qty = 1 OR 1", ports.Eq, 1)),
		sqlInvalid("InvalidOperator", ports.Where("Qty", ports.Op("LIKE"), 1)),
		sqlInvalid("InvalidWrongType", ports.Where("Qty", ports.Eq, "ten")),
		sqlInvalid("InvalidWrongTypeString", ports.Where("Name", ports.Gt, 3)),
		sqlInvalid("InvalidNilNonPointer", ports.Where("Qty", ports.Eq, nil)),
		sqlInvalid("InvalidNilOrdering", ports.Where("Note", ports.Lt, nil)),
		sqlInvalid("InvalidInNotSlice", ports.Where("Qty", ports.In, 5)),
		sqlInvalid("InvalidInWrongElement", ports.Where("Qty", ports.In, []string{"5"})),
		sqlInvalid("InvalidBoolOrdering", ports.Where("Active", ports.Gt, false)),
		sqlInvalid("InvalidSortField", ports.All().OrderBy("-Nope")),
		sqlInvalid("InvalidNegativeLimit", ports.All().Limit(-1)),
		sqlInvalid("InvalidNegativeOffset", ports.All().Offset(-1)),
		{"ConcurrentCreate", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			const per = 5
			ids := make([][]int64, 16)
			errs := parallel16(func(g int) error {
				for j := range per {
					it := newItem(fmt.Sprintf("g%02d-%d", g, j))
					it.Qty = g
					if err := e.Store.Create(ctx, &it); err != nil {
						return err
					}
					ids[g] = append(ids[g], it.ID)
				}
				return nil
			})
			wantNoErr(t, "16 goroutines calling Create", firstErr(errs))
			seen := map[int64]bool{}
			for g, gids := range ids {
				for j, id := range gids {
					if id == 0 || seen[id] {
						t.Fatalf("concurrent Create gave goroutine %d item %d the ID %d, already given or zero", g, j, id)
					}
					seen[id] = true
					got, err := e.Store.Get(ctx, id)
					if err != nil || got == nil || got.SKU != fmt.Sprintf("g%02d-%d", g, j) {
						t.Errorf("Get(%d) after concurrent Create = %+v, %v, want the item goroutine %d created", id, got, err, g)
					}
				}
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 16*per {
				t.Errorf("Count after 16 goroutines each created %d items = %d, want %d", per, n, 16*per)
			}
			if n := e.count(t, ctx, "Count", ports.Where("Qty", ports.Eq, 3)); n != per {
				t.Errorf("Count of one goroutine's items = %d, want %d", n, per)
			}
		}},
		{"TxCommit", func(t *testing.T, e *sqlEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			var a Item
			err := e.Tx.WithinTx(ctx, func(ctx context.Context) error {
				a = e.create(t, ctx, newItem("a"))
				e.wantItem(t, ctx, "Get inside the transaction of an item it created", a)
				if n := e.count(t, ctx, "Count inside the transaction", ports.All()); n != 1 {
					t.Errorf("Count inside the transaction that created an item = %d, want 1", n)
				}
				return nil
			})
			wantNoErr(t, "WithinTx with fn returning nil", err)
			e.wantItem(t, ctx, "Get after the transaction committed", a)
		}},
		{"TxIsolation", func(t *testing.T, e *sqlEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			err := e.Tx.WithinTx(ctx, func(txCtx context.Context) error {
				a := e.create(t, txCtx, newItem("a"))
				var got *Item
				var err error
				if prompt(t, "Get outside an open transaction", 10*time.Second, func() { got, err = e.Store.Get(ctx, a.ID) }) &&
					!errors.Is(err, ports.ErrNotFound) {
					t.Errorf("Get outside a transaction of an item it created before commit = %+v, err %v (%s), want ErrNotFound", got, err, sentinelName(err))
				}
				return nil
			})
			wantNoErr(t, "WithinTx", err)
		}},
		{"TxRollbackOnError", func(t *testing.T, e *sqlEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			keep := e.create(t, ctx, newItem("keep"))
			var a Item
			err := e.Tx.WithinTx(ctx, func(ctx context.Context) error {
				a = e.create(t, ctx, newItem("a"))
				changed := keep
				changed.Name = "changed in a rolled back tx"
				wantNoErr(t, "Update inside the transaction", e.Store.Update(ctx, &changed))
				wantNoErr(t, "Delete inside the transaction", e.Store.Delete(ctx, keep.ID))
				return fmt.Errorf("wrapped: %w", errRollback)
			})
			if !errors.Is(err, errRollback) {
				t.Errorf("WithinTx with fn returning an error: got %v, want that error", err)
			}
			e.wantNoItem(t, ctx, "Get after rollback of the transaction that created it", a.ID)
			e.wantItem(t, ctx, "Get after rollback of a transaction that updated and deleted it", keep)
		}},
		{"TxRollbackOnPanic", func(t *testing.T, e *sqlEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			var a Item
			type boom struct{ n int }
			recovered := func() (r any) {
				defer func() { r = recover() }()
				_ = e.Tx.WithinTx(ctx, func(ctx context.Context) error {
					a = e.create(t, ctx, newItem("a"))
					panic(boom{7})
				})
				return nil
			}()
			if recovered != (boom{7}) {
				t.Errorf("WithinTx with fn panicking with %v: recovered %v, want the same value re-panicked", boom{7}, recovered)
			}
			if a.ID != 0 {
				e.wantNoItem(t, ctx, "Get after a transaction whose fn panicked", a.ID)
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 0 {
				t.Errorf("Count after a transaction whose fn panicked = %d, want 0", n)
			}
		}},
		{"TxNestedRollback", func(t *testing.T, e *sqlEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			var outer, inner Item
			err := e.Tx.WithinTx(ctx, func(ctx context.Context) error {
				outer = e.create(t, ctx, newItem("outer"))
				err := e.Tx.WithinTx(ctx, func(ctx context.Context) error {
					inner = e.create(t, ctx, newItem("inner"))
					return errRollback
				})
				if !errors.Is(err, errRollback) {
					t.Errorf("nested WithinTx with fn returning an error: got %v, want that error", err)
				}
				e.wantNoItem(t, ctx, "Get in the outer transaction after the nested one rolled back", inner.ID)
				e.wantItem(t, ctx, "Get in the outer transaction of its own item after a nested rollback", outer)
				return nil
			})
			wantNoErr(t, "outer WithinTx", err)
			e.wantItem(t, ctx, "Get after commit of the outer transaction", outer)
			e.wantNoItem(t, ctx, "Get after commit of the outer transaction of the nested one's rolled back item", inner.ID)
		}},
		{"TxNestedCommitOuterRollback", func(t *testing.T, e *sqlEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			var inner Item
			err := e.Tx.WithinTx(ctx, func(ctx context.Context) error {
				wantNoErr(t, "nested WithinTx", e.Tx.WithinTx(ctx, func(ctx context.Context) error {
					inner = e.create(t, ctx, newItem("inner"))
					return nil
				}))
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Errorf("outer WithinTx with fn returning an error: got %v, want that error", err)
			}
			e.wantNoItem(t, ctx, "Get after the outer transaction rolled back of an item a committed nested one created", inner.ID)
		}},
		{"TxConcurrent", func(t *testing.T, e *sqlEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			errs := parallel16(func(g int) error {
				return e.Tx.WithinTx(ctx, func(ctx context.Context) error {
					for j := range 2 {
						it := newItem(fmt.Sprintf("tx%02d-%d", g, j))
						if err := e.Store.Create(ctx, &it); err != nil {
							return err
						}
					}
					if g%4 == 0 {
						return errRollback
					}
					return nil
				})
			})
			for g, err := range errs {
				if g%4 == 0 {
					if !errors.Is(err, errRollback) {
						t.Errorf("concurrent WithinTx %d returning an error: got %v, want that error", g, err)
					}
				} else {
					wantNoErr(t, fmt.Sprintf("concurrent WithinTx %d", g), err)
				}
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 24 {
				t.Errorf("Count after 16 concurrent transactions each creating 2 items, 4 of them rolled back = %d, want 24", n)
			}
		}},
		{"CancelledContext", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			wantCancelled(t, "Create", func(ctx context.Context) error { it := newItem("b"); return e.Store.Create(ctx, &it) })
			wantCancelled(t, "CreateMany", func(ctx context.Context) error { return e.Store.CreateMany(ctx, []*Item{ptr(newItem("c"))}) })
			wantCancelled(t, "Get", func(ctx context.Context) error { _, err := e.Store.Get(ctx, a.ID); return err })
			wantCancelled(t, "Find", func(ctx context.Context) error { _, err := e.Store.Find(ctx, ports.All()); return err })
			wantCancelled(t, "Count", func(ctx context.Context) error { _, err := e.Store.Count(ctx, ports.All()); return err })
			wantCancelled(t, "Update", func(ctx context.Context) error { b := a; b.Name = "x"; return e.Store.Update(ctx, &b) })
			wantCancelled(t, "Delete", func(ctx context.Context) error { return e.Store.Delete(ctx, a.ID) })
			if e.Tx != nil {
				called := false
				wantCancelled(t, "WithinTx", func(ctx context.Context) error {
					return e.Tx.WithinTx(ctx, func(context.Context) error { called = true; return nil })
				})
				if called {
					t.Errorf("WithinTx with a cancelled context called fn")
				}
			}
			e.wantItem(t, ctx, "Get after calls with a cancelled context", a)
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after Create and CreateMany with a cancelled context = %d, want 1", n)
			}
		}},
		{"AfterClose", func(t *testing.T, e *sqlEnv) {
			if e.Connector == nil {
				t.Skip("SQLSetup.Connector is nil")
			}
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			closeConn(t, e.Connector)
			b := newItem("b")
			wantErr(t, "Create after Close", e.Store.Create(ctx, &b), ports.ErrClosed)
			wantErr(t, "CreateMany after Close", e.Store.CreateMany(ctx, []*Item{&b}), ports.ErrClosed)
			_, err := e.Store.Get(ctx, a.ID)
			wantErr(t, "Get after Close", err, ports.ErrClosed)
			_, err = e.Store.Find(ctx, ports.All())
			wantErr(t, "Find after Close", err, ports.ErrClosed)
			_, err = e.Store.Count(ctx, ports.All())
			wantErr(t, "Count after Close", err, ports.ErrClosed)
			wantErr(t, "Update after Close", e.Store.Update(ctx, &a), ports.ErrClosed)
			wantErr(t, "Delete after Close", e.Store.Delete(ctx, a.ID), ports.ErrClosed)
			if e.Tx != nil {
				called := false
				err := e.Tx.WithinTx(ctx, func(context.Context) error { called = true; return nil })
				wantErr(t, "WithinTx after Close", err, ports.ErrClosed)
				if called {
					t.Errorf("WithinTx after Close called fn")
				}
			}
			wantErr(t, "Check after Close", e.Connector.Check(ctx), ports.ErrClosed)
			wantErr(t, "second Close", e.Connector.Close(ctx), ports.ErrClosed)
		}},
	}
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
