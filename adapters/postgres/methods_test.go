package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// order is the kit's model with a ports.Version field.
type order = gormstoretest.Order

func newOrderStore(t testing.TB, db *DB) *Store[order] {
	t.Helper()
	s, err := NewStore[order](db, WithTable(testenv.UniqueName("pk_pg_orders")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s.Table()) })
	return s
}

func TestOptimisticConcurrency(t *testing.T) { gormstoretest.OptimisticConcurrency(t, kitEnv()) }

func TestOptimisticUpdateRace(t *testing.T) { gormstoretest.OptimisticUpdateRace(t, kitEnv()) }

func TestPatch(t *testing.T) { gormstoretest.Patch(t, kitEnv()) }

func TestPatchKeepsOtherColumns(t *testing.T) { gormstoretest.PatchKeepsOtherColumns(t, kitEnv()) }

func TestUpsert(t *testing.T) { gormstoretest.Upsert(t, kitEnv()) }

func TestDeleteWhere(t *testing.T) { gormstoretest.DeleteWhere(t, kitEnv()) }

func TestStream(t *testing.T) { gormstoretest.Stream(t, kitEnv()) }

func TestFindPage(t *testing.T) { gormstoretest.FindPage(t, kitEnv()) }

func TestInsertPlan(t *testing.T) { gormstoretest.InsertPlan(t, kitEnv()) }

// An Upsert that inserts leaves the entity's CreatedAt as Create does:
// the value given, or the one stamped, not the column's rounding of it;
// one that replaces hands back the kept CreatedAt in UTC, as Get does
// (found by the differential checker: the RETURNING's timestamptz came
// back rounded to the column and in time.Local).
func TestUpsertCreatedAtAsCreate(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	type stamped struct {
		ID        int64
		Name      string    `gorm:"size:20"`
		CreatedAt time.Time `gorm:"precision:3"`
		UpdatedAt time.Time
	}
	s := newTestStore[stamped](t, db, "pk_dpg_upsert_at")
	// Stamped: microseconds in UTC, not the column's milliseconds.
	a := stamped{ID: 7, Name: "x"}
	if err := s.Upsert(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if a.CreatedAt.IsZero() || a.CreatedAt.Location() != time.UTC || a.UpdatedAt.Location() != time.UTC {
		t.Errorf("inserted: CreatedAt %v (%v), UpdatedAt %v (%v); want both in UTC", a.CreatedAt, a.CreatedAt.Location(), a.UpdatedAt, a.UpdatedAt.Location())
	}
	c := stamped{ID: 9, Name: "c"}
	if err := s.Create(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if a.CreatedAt.Nanosecond()%int(time.Millisecond) == 0 && c.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("inserted: CreatedAt %v is rounded to the column's milliseconds; Create leaves %v", a.CreatedAt, c.CreatedAt)
	}
	// Given: kept as given, location included.
	at := time.Date(2024, 1, 2, 6, 4, 5, 123456000, time.FixedZone("UTC+2", 7200))
	b := stamped{ID: 8, Name: "y", CreatedAt: at}
	if err := s.Upsert(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if b.CreatedAt != at {
		t.Errorf("inserted with CreatedAt %v: the entity holds %v, want it as given", at, b.CreatedAt)
	}
	// Replaced: the stored CreatedAt, in UTC.
	r := stamped{ID: 8, Name: "z"}
	if err := s.Upsert(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if want := at.Round(time.Millisecond).UTC(); r.CreatedAt != want {
		t.Errorf("replaced: CreatedAt %v (%v), want the stored %v in UTC", r.CreatedAt, r.CreatedAt.Location(), want)
	}
}

// Update stamps UpdatedAt: the value the entity held is never sent, so
// it is not checked (found by the differential checker: an UpdatedAt in
// year 10000 made Update ErrInvalid, where the fake stamps over it).
func TestUpdateStampsOverAnyUpdatedAt(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	type stamped struct {
		ID        int64
		Name      string `gorm:"size:20"`
		UpdatedAt time.Time
	}
	s := newTestStore[stamped](t, db, "pk_dpg_update_at")
	e := stamped{Name: "a"}
	if err := s.Create(ctx, &e); err != nil {
		t.Fatal(err)
	}
	e.Name, e.UpdatedAt = "b", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Update(ctx, &e); err != nil {
		t.Fatalf("Update with an UpdatedAt in year 10000: %v, want nil (UpdatedAt is stamped)", err)
	}
	if got, err := s.Get(ctx, e.ID); err != nil || got.Name != "b" || got.UpdatedAt.Year() == 10000 || got.UpdatedAt.IsZero() {
		t.Errorf("after Update: %+v, %v; want Name b and UpdatedAt stamped", got, err)
	}
}

// An unsigned column refuses an Inc below zero (ErrInvalid, SQLSTATE
// 23514), as MySQL's unsigned column and the fake do: PostgreSQL has no
// unsigned integers, and the row would hold a value no read can scan
// (found by the differential checker). Migrate again accepts the table.
func TestUnsignedIncBelowZero(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	type counts struct {
		ID  int64
		U64 uint64
		U16 uint16
	}
	s := newTestStore[counts](t, db, "pk_dpg_unsigned")
	e := counts{U64: 1, U16: 1}
	if err := s.Create(ctx, &e); err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"U64", "U16"} {
		wantServerError(t, "Inc of "+col+" below zero", s.Patch(ctx, e.ID, ports.Inc(col, -2)), ports.ErrInvalid, "23514")
		if err := s.Patch(ctx, e.ID, ports.Inc(col, -1)); err != nil {
			t.Errorf("Inc of %s to zero: %v", col, err)
		}
	}
	if got, err := s.Get(ctx, e.ID); err != nil || got.U64 != 0 || got.U16 != 0 {
		t.Errorf("Get = %+v, %v; want both counts at 0", got, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Errorf("Migrate of the existing table: %v", err)
	}
}

func TestUpsertReplaceStampsUpdatedAt(t *testing.T) {
	gormstoretest.UpsertReplaceStampsUpdatedAt(t, kitEnv())
}

func TestUpsertReplaceWritesZerosNotDefaults(t *testing.T) {
	gormstoretest.UpsertReplaceWritesZerosNotDefaults(t, kitEnv())
}

func TestPatchIncDeltaOutsideTheColumnRange(t *testing.T) {
	gormstoretest.PatchIncDeltaOutsideTheColumnRange(t, kitEnv())
}

// CreateMany of a plain model runs the store's insert plan and skips
// gorm's create callbacks; WithCreateCallbacks sends it through them, for
// a plugin registered on DB().Callback().Create().
func TestWithCreateCallbacks(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	var calls atomic.Int64
	if err := db.DB().Callback().Create().After("gorm:create").Register("pk_test:count", func(g *gorm.DB) {
		if !g.DryRun { // NewStore's dry runs build the plan
			calls.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	planned := newTestStore[portstest.Item](t, db, "pk_cb")
	viaGorm := newTestStore[portstest.Item](t, db, "pk_cb", WithCreateCallbacks())
	if !planned.s.InsertPlanned() || viaGorm.s.InsertPlanned() {
		t.Fatalf("planned: %v and %v, want true and false", planned.s.InsertPlanned(), viaGorm.s.InsertPlanned())
	}
	for _, s := range []*Store[portstest.Item]{planned, viaGorm} {
		items := []*portstest.Item{{SKU: "a"}, {SKU: "b"}}
		if err := s.CreateMany(ctx, items); err != nil || items[1].ID == 0 {
			t.Fatalf("CreateMany: %v, key %d", err, items[1].ID)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the create callback ran %d times, want once (the store with WithCreateCallbacks)", n)
	}
}
