package mysql

import (
	"context"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports/portstest"
)

// order is the kit's model with a ports.Version field.
type order = gormstoretest.Order

func newOrderStore(t testing.TB, db *DB) *Store[order] {
	t.Helper()
	s, err := NewStore[order](db, WithTable(testenv.UniqueName("pk_my_orders")))
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

// An Upsert that inserts hands back the CreatedAt it was given, as Create
// does and as adapters/postgres does, not the stored one (UTC, truncated
// to milliseconds); a replaced row's kept CreatedAt still comes back
// (found by the differential checker, seeds 20261201 and 20261205).
func TestUpsertInsertKeepsTheGivenCreatedAt(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	items := newItemStore(t, db)
	at := time.Date(2024, 1, 2, 6, 4, 5, 1_500_000, time.FixedZone("UTC+2", 7200))
	it := portstest.Item{ID: 9, CreatedAt: at}
	if err := items.Upsert(ctx, &it); err != nil {
		t.Fatal(err)
	}
	if it.CreatedAt != at {
		t.Errorf("Upsert insert handed back CreatedAt %v, want the given %v", it.CreatedAt, at)
	}
	later := at.Add(time.Hour)
	r := portstest.Item{ID: 9, SKU: "r", CreatedAt: later}
	if err := items.Upsert(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if want := at.UTC().Truncate(time.Millisecond); r.CreatedAt != want {
		t.Errorf("Upsert replace handed back CreatedAt %v, want the kept %v", r.CreatedAt, want)
	}
	s := newOrderStore(t, db)
	o := order{ID: 5, CreatedAt: at}
	if err := s.Upsert(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if o.CreatedAt != at {
		t.Errorf("versioned Upsert insert handed back CreatedAt %v, want the given %v", o.CreatedAt, at)
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
