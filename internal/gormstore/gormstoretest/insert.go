package gormstoretest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// PlanRow has a column of every sort CreateMany's insert plan sends as
// it is: gorm defaults of each basic type, a pointer, bytes, a named
// type, integer and time stamps, an embedded struct, an ignored field, a
// version.
type PlanRow struct {
	ID        int64
	Name      string   `gorm:"size:32"`
	Qty       int      `gorm:"default:7"`
	Ratio     float64  `gorm:"default:0.5"`
	Flag      bool     `gorm:"default:true"`
	Label     string   `gorm:"size:16;default:none"`
	Note      *string  `gorm:"size:32"`
	Blob      []byte   `gorm:"size:64"`
	Code      PlanCode `gorm:"size:8"`
	Stamp     int64    `gorm:"autoCreateTime:milli"`
	Touched   int64    `gorm:"autoUpdateTime"`
	At        *time.Time
	Extra     PlanExtra `gorm:"embedded;embeddedPrefix:x_"`
	Skip      string    `gorm:"-"`
	Version   ports.Version
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PlanCode is a named string type.
type PlanCode string

// PlanExtra is embedded in PlanRow.
type PlanExtra struct {
	A int
	B string `gorm:"size:8"`
}

// HookedRow has a BeforeCreate hook: gorm must insert it.
type HookedRow struct {
	ID   int64
	Name string `gorm:"size:16"`
}

// BeforeCreate upper-cases nothing; it is there to be called.
func (r *HookedRow) BeforeCreate(*gorm.DB) error {
	r.Name += "!"
	return nil
}

// SerializedRow has a serializer: gorm must insert it.
type SerializedRow struct {
	ID   int64
	Tags []string `gorm:"serializer:json"`
}

// InsertPlan: CreateMany through the store's insert plan (where the
// dialect has one, e.InsertPlan) leaves the entities and the table as
// gorm's Create leaves them, batch by batch, inside a transaction too;
// models gorm must handle (hooks, serializers) go through gorm.
func InsertPlan(t *testing.T, e Env) {
	ctx := context.Background()
	db := e.Open(t)
	core := e.Core(db)
	newStore := func(t *testing.T, createCallbacks bool) *gormstore.Store[PlanRow] {
		return planStore[PlanRow](t, e, db, gormstore.Options{BatchSize: 3, CreateCallbacks: createCallbacks})
	}
	planned, viaGorm := newStore(t, false), newStore(t, true)
	if planned.InsertPlanned() != e.InsertPlan {
		t.Fatalf("insert planned: %v, want %v", planned.InsertPlanned(), e.InsertPlan)
	}
	if viaGorm.InsertPlanned() {
		t.Fatal("CreateCallbacks: the plan is used")
	}
	note := "a note"
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rows := func() []*PlanRow {
		return []*PlanRow{
			{},
			{Name: "all set", Qty: 3, Ratio: 2.25, Flag: false, Label: "lbl", Note: &note, Blob: []byte{0, 1, 2},
				Code: "c", Stamp: 42, Touched: 43, At: &at, Extra: PlanExtra{A: 9, B: "b"}, Skip: "kept in memory",
				CreatedAt: at, UpdatedAt: at},
			{Name: "empty blob", Blob: []byte{}},
			{Qty: -1, Ratio: -0.5, Label: "x"},
			{Name: "five"},
			{Name: "six", Extra: PlanExtra{A: 1}},
			{Name: "seven"}, // a last batch of one
		}
	}
	before := time.Now().Add(-time.Minute)
	a, b := rows(), rows()
	if err := planned.CreateMany(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := viaGorm.CreateMany(ctx, b); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Minute)
	samePlanRows(t, "entities", a, b, before, after)
	ga, err := planned.Find(ctx, ports.All().OrderBy("ID"))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := viaGorm.Find(ctx, ports.All().OrderBy("ID"))
	if err != nil {
		t.Fatal(err)
	}
	samePlanRows(t, "stored rows", ptrs(ga), ptrs(gb), before, after)
	for i := range ga {
		ga[i].Skip = a[i].Skip // not stored
		if ga[i].ID != a[i].ID {
			t.Errorf("row %d: stored with key %d, handed back %d", i, ga[i].ID, a[i].ID)
		}
	}

	// Inside a transaction, rolled back: nothing stays, the keys were
	// handed back.
	errRollback := errors.New("roll back")
	in := rows()
	err = core.WithinTx(ctx, func(ctx context.Context) error {
		if err := planned.CreateMany(ctx, in); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("WithinTx: %v", err)
	}
	if in[0].ID == 0 || in[len(in)-1].ID == 0 {
		t.Error("no keys handed back inside the transaction")
	}
	if n, err := planned.Count(ctx, ports.All()); err != nil || n != int64(len(a)) {
		t.Errorf("after the rollback: %d rows, %v; want %d", n, err, len(a))
	}

	// A failing batch (the second one: a duplicate key given) leaves
	// every entity as it was and the table unchanged.
	bad := rows()
	bad[4].ID = a[0].ID
	orig := make([]PlanRow, len(bad))
	for i, r := range bad {
		orig[i] = *r
	}
	if err := planned.CreateMany(ctx, bad); ports.KindOf(err) != ports.ErrConflict {
		t.Fatalf("a duplicate key: %v, want ErrConflict", err)
	}
	for i, r := range bad {
		if !reflect.DeepEqual(*r, orig[i]) {
			t.Errorf("row %d changed by a failed CreateMany: %+v, was %+v", i, *r, orig[i])
		}
	}
	if n, err := planned.Count(ctx, ports.All()); err != nil || n != int64(len(a)) {
		t.Errorf("after the failed CreateMany: %d rows, %v; want %d", n, err, len(a))
	}

	t.Run("hooks go through gorm", func(t *testing.T) {
		s := planStore[HookedRow](t, e, db, gormstore.Options{})
		if s.InsertPlanned() {
			t.Fatal("a model with a BeforeCreate hook is planned")
		}
		r := []*HookedRow{{Name: "a"}, {Name: "b"}}
		if err := s.CreateMany(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r[0].Name != "a!" || r[1].ID == 0 {
			t.Errorf("hook not run or no key: %+v %+v", *r[0], *r[1])
		}
	})
	t.Run("serializers go through gorm", func(t *testing.T) {
		s := planStore[SerializedRow](t, e, db, gormstore.Options{})
		if s.InsertPlanned() {
			t.Fatal("a model with a serializer is planned")
		}
		r := []*SerializedRow{{Tags: []string{"x"}}, {}}
		if err := s.CreateMany(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, r[0].ID)
		if err != nil || !reflect.DeepEqual(got.Tags, []string{"x"}) {
			t.Errorf("Get: %+v, %v", got, err)
		}
	})
}

// planStore returns a migrated store of T with options o on a fresh
// table of db, dropped at cleanup.
func planStore[T any](t *testing.T, e Env, db DB, o gormstore.Options) *gormstore.Store[T] {
	t.Helper()
	o.Table = testenv.UniqueName("pk_plan")
	s, err := gormstore.NewStore[T](e.Core(db), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.DB().Exec("DROP TABLE IF EXISTS " + e.QuoteIdent(o.Table)).Error })
	return s
}

func ptrs[T any](v []T) []*T {
	out := make([]*T, len(v))
	for i := range v {
		out[i] = &v[i]
	}
	return out
}

// samePlanRows fails unless a and b are equal but for the time stamps
// given by the call (each within [before, after] on both sides).
func samePlanRows(t *testing.T, what string, a, b []*PlanRow, before, after time.Time) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d and %d", what, len(a), len(b))
	}
	within := func(ms int64) bool { return ms >= before.UnixMilli() && ms <= after.UnixMilli() }
	for i := range a {
		x, y := *a[i], *b[i]
		for _, p := range [][2]*time.Time{{&x.CreatedAt, &y.CreatedAt}, {&x.UpdatedAt, &y.UpdatedAt}} {
			if !p[0].Equal(*p[1]) && within(p[0].UnixMilli()) && within(p[1].UnixMilli()) {
				*p[0] = *p[1]
			}
		}
		if x.Stamp != y.Stamp && within(x.Stamp) && within(y.Stamp) {
			x.Stamp = y.Stamp
		}
		if x.Touched != y.Touched && within(x.Touched*1000) && within(y.Touched*1000) {
			x.Touched = y.Touched
		}
		if !x.CreatedAt.Equal(y.CreatedAt) || !x.UpdatedAt.Equal(y.UpdatedAt) {
			t.Errorf("%s %d: times %v/%v and %v/%v", what, i, x.CreatedAt, x.UpdatedAt, y.CreatedAt, y.UpdatedAt)
		}
		x.CreatedAt, x.UpdatedAt = y.CreatedAt, y.UpdatedAt
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s %d:\nplanned  %+v\nvia gorm %+v", what, i, x, y)
		}
	}
}
