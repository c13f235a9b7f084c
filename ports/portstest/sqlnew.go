package portstest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// VItem is the SQLStore model of the optimistic-concurrency cases: Item's
// shape with a Version field and an UpdatedAt.
type VItem struct {
	ID        int64         `gorm:"primaryKey;autoIncrement"`
	Name      string        `gorm:"size:64"`
	Qty       int           `gorm:"not null;default:0"`
	Note      *string       `gorm:"size:64"`
	Version   ports.Version `gorm:"not null;default:0"`
	CreatedAt time.Time     `gorm:"precision:3"`
	UpdatedAt time.Time     `gorm:"precision:3"`
}

// sqlAPI is the kit of the Stream, FindPage and DeleteWhere cases on the
// seed items (Qty ties: b and d hold 10; Note is NULL on a and d).
var sqlAPI = apiKit[Item, *sqlEnv]{
	store: func(e *sqlEnv) lister[Item] { return e.Store },
	seed:  func(t *testing.T, ctx context.Context, e *sqlEnv) { e.seed(t, ctx) },
	name:  func(it Item) string { return strings.TrimPrefix(it.SKU, "sku-") },
	first: func(t *testing.T, ctx context.Context, e *sqlEnv) {
		it := newItem("first")
		it.Qty = -100
		e.create(t, ctx, it)
	},
	number: "Qty", str: "Name", nullable: "Note",
	tx: func(e *sqlEnv) ports.Transactor {
		if !e.Caps.Transactions {
			return nil
		}
		return e.Tx
	},
	create: func(t *testing.T, ctx context.Context, e *sqlEnv, name string) {
		e.create(t, ctx, newItem(name))
	},
}

// versioned returns the case's store of VItems or skips.
func (e *sqlEnv) versioned(t *testing.T) ports.SQLStore[VItem] {
	t.Helper()
	if e.Versioned == nil {
		t.Skip("SQLSetup.Versioned is nil")
	}
	return e.Versioned(t)
}

func getV(t *testing.T, ctx context.Context, s ports.SQLStore[VItem], id int64) VItem {
	t.Helper()
	got, err := s.Get(ctx, id)
	wantNoErr(t, fmt.Sprintf("Get(%d)", id), err)
	return *got
}

func sqlNewCases() []testCase[*sqlEnv] {
	cs := sqlAPI.cases("SQL")
	return append(cs, []testCase[*sqlEnv]{
		sqlQuery("QueryNeValueMatchesNull", ports.Where("Note", ports.Ne, "ripe"), "a", "c", "d", "e"),
		sqlQuery("OrderNullFirst", ports.All().OrderBy("Note"), "a", "d", "c", "b", "e"),
		sqlQuery("OrderNullLastDesc", ports.All().OrderBy("-Note"), "e", "b", "c", "a", "d"),
		{"VersionCreateStoresOne", func(t *testing.T, e *sqlEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VItem{Name: "a", Version: 7}
			wantNoErr(t, "Create", s.Create(ctx, &v))
			if v.Version != 1 {
				t.Errorf("Create set Version %d on the entity, want 1", v.Version)
			}
			if got := getV(t, ctx, s, v.ID); got.Version != 1 {
				t.Errorf("Create stored Version %d, want 1", got.Version)
			}
			many := []*VItem{{Name: "b"}, {Name: "c", Version: 3}}
			wantNoErr(t, "CreateMany", s.CreateMany(ctx, many))
			for _, m := range many {
				if m.Version != 1 || getV(t, ctx, s, m.ID).Version != 1 {
					t.Errorf("CreateMany of %s: Version %d, want 1 on the entity and stored", m.Name, m.Version)
				}
			}
		}},
		{"VersionStaleUpdate", func(t *testing.T, e *sqlEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VItem{Name: "a", Qty: 1}
			wantNoErr(t, "Create", s.Create(ctx, &v))
			stale := v
			v.Qty = 2
			wantNoErr(t, "Update at the current version", s.Update(ctx, &v))
			if v.Version != 2 {
				t.Errorf("Update set Version %d on the entity, want 2", v.Version)
			}
			stale.Qty = 99
			wantOnly(t, "Update at a stale version", s.Update(ctx, &stale), ports.ErrConflict)
			if stale.Version != 1 {
				t.Errorf("a failed Update changed the entity's Version to %d", stale.Version)
			}
			if got := getV(t, ctx, s, v.ID); got.Qty != 2 || got.Version != 2 {
				t.Errorf("after a stale Update the stored entity has Qty %d Version %d, want 2 and 2", got.Qty, got.Version)
			}
			ghost := VItem{ID: v.ID + 1000, Version: 1}
			wantOnly(t, "Update of an absent key", s.Update(ctx, &ghost), ports.ErrNotFound)
		}},
		{"VersionDeleteIfVersion", func(t *testing.T, e *sqlEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VItem{Name: "a"}
			wantNoErr(t, "Create", s.Create(ctx, &v))
			wantOnly(t, "DeleteIfVersion of a stale version", s.DeleteIfVersion(ctx, v.ID, 5), ports.ErrConflict)
			getV(t, ctx, s, v.ID)
			wantNoErr(t, "DeleteIfVersion of the current version", s.DeleteIfVersion(ctx, v.ID, v.Version))
			wantOnly(t, "DeleteIfVersion of a deleted entity", s.DeleteIfVersion(ctx, v.ID, v.Version), ports.ErrNotFound)
			it := e.create(t, ctx, newItem("a"))
			wantOnly(t, "DeleteIfVersion on a model without a Version field", e.Store.DeleteIfVersion(ctx, it.ID, 1), ports.ErrInvalid)
			e.wantItem(t, ctx, "Get after a refused DeleteIfVersion", it)
			w := VItem{Name: "w"}
			wantNoErr(t, "Create", s.Create(ctx, &w))
			wantNoErr(t, "Delete deletes whatever version is stored", s.Delete(ctx, w.ID))
		}},
		{"VersionPatch", func(t *testing.T, e *sqlEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VItem{Name: "a", Qty: 1}
			wantNoErr(t, "Create", s.Create(ctx, &v))
			wantNoErr(t, "Patch", s.Patch(ctx, v.ID, ports.Set("Qty", 2)))
			if got := getV(t, ctx, s, v.ID); got.Version != 2 {
				t.Errorf("Patch left Version %d, want 2 (Patch increments it)", got.Version)
			}
			wantOnly(t, "Patch IfVersion of a stale version", s.Patch(ctx, v.ID, ports.Set("Qty", 3).IfVersion(1)), ports.ErrConflict)
			if got := getV(t, ctx, s, v.ID); got.Qty != 2 || got.Version != 2 {
				t.Errorf("a refused Patch changed the entity: Qty %d Version %d, want 2 and 2", got.Qty, got.Version)
			}
			wantNoErr(t, "Patch IfVersion of the current version", s.Patch(ctx, v.ID, ports.Set("Qty", 3).IfVersion(2)))
			if got := getV(t, ctx, s, v.ID); got.Qty != 3 || got.Version != 3 {
				t.Errorf("after Patch IfVersion: Qty %d Version %d, want 3 and 3", got.Qty, got.Version)
			}
			wantOnly(t, "Patch of the Version field", s.Patch(ctx, v.ID, ports.Set("Version", ports.Version(9))), ports.ErrInvalid)
			wantOnly(t, "Patch IfVersion on a model without a Version field", e.Store.Patch(ctx, int64(1), ports.Set("Name", "x").IfVersion(1)), ports.ErrInvalid)
		}},
		{"VersionUpsert", func(t *testing.T, e *sqlEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VItem{ID: 4242, Name: "a"}
			wantNoErr(t, "Upsert of a new key with no version", s.Upsert(ctx, &v))
			if got := getV(t, ctx, s, 4242); got.Name != "a" || got.Version != 1 {
				t.Errorf("Upsert inserted Name %q Version %d, want a and 1", got.Name, got.Version)
			}
			w := VItem{ID: 4242, Name: "b"}
			wantNoErr(t, "Upsert with a zero version (unconditional)", s.Upsert(ctx, &w))
			got := getV(t, ctx, s, 4242)
			if got.Name != "b" || got.Version != 2 {
				t.Errorf("Upsert replaced with Name %q Version %d, want b and 2", got.Name, got.Version)
			}
			stale := VItem{ID: 4242, Name: "c", Version: 1}
			wantOnly(t, "Upsert at a stale version", s.Upsert(ctx, &stale), ports.ErrConflict)
			absent := VItem{ID: 4343, Name: "d", Version: 3}
			wantOnly(t, "Upsert with a version of an absent key", s.Upsert(ctx, &absent), ports.ErrNotFound)
			cur := VItem{ID: 4242, Name: "e", Version: 2}
			wantNoErr(t, "Upsert at the current version", s.Upsert(ctx, &cur))
			if g := getV(t, ctx, s, 4242); g.Name != "e" || g.Version != 3 {
				t.Errorf("Upsert at the current version stored Name %q Version %d, want e and 3", g.Name, g.Version)
			}
		}},
		{"Patch", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			b := e.create(t, ctx, newItem("b"))
			wantNoErr(t, "Patch", e.Store.Patch(ctx, a.ID, ports.Set("Name", "patched").Set("Note", nil).Inc("Qty", 4).Inc("Price", 0.5)))
			want := a
			want.Name, want.Note, want.Qty, want.Price = "patched", nil, a.Qty+4, a.Price+0.5
			e.wantItem(t, ctx, "Get after Patch (Set, Set nil, Inc)", want)
			e.wantItem(t, ctx, "Get of another item after Patch", b)
			wantOnly(t, "Patch of an absent key", e.Store.Patch(ctx, a.ID+1000, ports.Set("Name", "x")), ports.ErrNotFound)
			if n := e.count(t, ctx, "Count", ports.All()); n != 2 {
				t.Errorf("Count after Patch of an absent key = %d, want 2 (Patch must not insert)", n)
			}
		}},
		{"PatchInvalid", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			for what, p := range map[string]ports.Patch{
				"no change":                  {},
				"an unknown field":           ports.Set("Nope", 1),
				"a column name":              ports.Set("created_at", sqlT0),
				"the primary key":            ports.Set("ID", int64(9)),
				"a value of another class":   ports.Set("Qty", "ten"),
				"nil on a non-pointer field": ports.Set("Qty", nil),
				"Inc of a string field":      ports.Inc("Name", 1),
				"Inc by a string":            ports.Inc("Qty", "1"),
				"a field named twice":        ports.Set("Name", "x").Set("Name", "y"),
				"invalid UTF-8":              ports.Set("Name", "\xff"),
				"NaN":                        ports.Set("Price", math.NaN()),
			} {
				wantOnly(t, "Patch with "+what, e.Store.Patch(ctx, a.ID, p), ports.ErrInvalid)
			}
			e.wantItem(t, ctx, "Get after refused Patches", a)
		}},
		{"PatchConcurrentInc", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			it := newItem("a")
			it.Qty = 0
			a := e.create(t, ctx, it)
			var failed atomic.Int64
			errs := parallel16(func(int) error {
				for range 10 {
					if err := e.Store.Patch(ctx, a.ID, ports.Inc("Qty", 1)); err != nil {
						failed.Add(1)
						return err
					}
				}
				return nil
			})
			wantNoErr(t, "16 goroutines each patching Qty += 1 ten times", firstErr(errs))
			got, err := e.Store.Get(ctx, a.ID)
			wantNoErr(t, "Get", err)
			if got.Qty != 160 {
				t.Errorf("after 160 concurrent Inc(Qty, 1) Qty = %d, want 160 (increments must add up)", got.Qty)
			}
		}},
		{"Upsert", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			it := newItem("a")
			it.ID = 5151
			wantNoErr(t, "Upsert of a new key", e.Store.Upsert(ctx, &it))
			e.wantItem(t, ctx, "Get after an inserting Upsert", it)
			repl := newItem("a2")
			repl.ID, repl.Qty, repl.Note = 5151, 77, nil
			repl.CreatedAt = sqlT0.Add(24 * time.Hour)
			wantNoErr(t, "Upsert of an existing key", e.Store.Upsert(ctx, &repl))
			want := repl
			want.CreatedAt = it.CreatedAt // kept, as Update keeps it
			e.wantItem(t, ctx, "Get after a replacing Upsert (CreatedAt kept)", want)
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after two Upserts of one key = %d, want 1", n)
			}
			zero := newItem("z")
			wantOnly(t, "Upsert with a zero primary key", e.Store.Upsert(ctx, &zero), ports.ErrInvalid)
		}},
		{"FailedWriteLeavesEntity", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			a := e.create(t, ctx, newItem("a"))
			dup := Item{ID: a.ID, SKU: "dup"}
			before := dup
			wantOnly(t, "Create with a duplicate key", e.Store.Create(ctx, &dup), ports.ErrConflict)
			if dup != before {
				t.Errorf("a failed Create changed its entity: %+v, was %+v", dup, before)
			}
			many := []*Item{{SKU: "m1"}, {ID: a.ID, SKU: "m2"}}
			copies := []Item{*many[0], *many[1]}
			wantOnly(t, "CreateMany with a duplicate key", e.Store.CreateMany(ctx, many), ports.ErrConflict)
			for i := range many {
				if *many[i] != copies[i] {
					t.Errorf("a failed CreateMany changed entity %d: %+v, was %+v", i, *many[i], copies[i])
				}
			}
			if e.Caps.UniqueIndexes {
				b := e.create(t, ctx, newItem("b"))
				up := b
				up.SKU, up.CreatedAt = a.SKU, time.Time{}
				keep := up
				wantOnly(t, "Update to a duplicate unique value", e.Store.Update(ctx, &up), ports.ErrConflict)
				if up != keep {
					t.Errorf("a failed Update changed its entity: %+v, was %+v", up, keep)
				}
			}
		}},
		{"PortableValues", func(t *testing.T, e *sqlEnv) {
			ctx := caseCtx(t)
			for what, mut := range map[string]func(*Item){
				"invalid UTF-8":     func(it *Item) { it.Name = "\xff" },
				"NaN":               func(it *Item) { it.Price = math.NaN() },
				"a string too long": func(it *Item) { it.SKU = strings.Repeat("s", 65) },
				"year 10000":        func(it *Item) { it.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
			} {
				it := newItem("p")
				mut(&it)
				wantOnly(t, "Create with "+what, e.Store.Create(ctx, &it), ports.ErrInvalid)
			}
			ok := e.create(t, ctx, newItem("ok"))
			fits := ok
			fits.SKU = strings.Repeat("é", 64) // 64 characters, 128 bytes: fits size:64
			wantNoErr(t, "Update to a string of exactly its size in characters", e.Store.Update(ctx, &fits))
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after refused Creates = %d, want 1", n)
			}
		}},
		{"NilContext", func(t *testing.T, e *sqlEnv) {
			for _, c := range sqlCalls(e.Store, e.Tx, false) {
				err := noPanic(t, c.name, func() error { return c.fn(nil) })
				wantOnly(t, c.name+" with a nil context", err, ports.ErrInvalid)
			}
		}},
		{"ClosedBeforeArguments", func(t *testing.T, e *sqlEnv) {
			if e.Connector == nil {
				t.Skip("SQLSetup.Connector is nil")
			}
			closeConn(t, e.Connector)
			ctx := caseCtx(t)
			for _, c := range slices.Concat(sqlCalls(e.Store, e.Tx, true), sqlCalls(e.Store, e.Tx, false)) {
				wantOnly(t, c.name+" after Close", noPanic(t, c.name, func() error { return c.fn(ctx) }), ports.ErrClosed)
			}
		}},
	}...)
}
