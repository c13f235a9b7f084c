package fakes_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// newSQL returns a store of T on a fresh DB with a manual clock.
func newSQL[T any](t *testing.T, opts ...fakes.Option) (*fakes.SQLStore[T], *fakes.DB, *fakes.ManualClock) {
	t.Helper()
	clock := fakes.NewManualClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	db := fakes.NewDB(append([]fakes.Option{fakes.WithClock(clock)}, opts...)...)
	t.Cleanup(func() { _ = db.Close(t.Context()) })
	s, err := fakes.NewSQLStore[T](db)
	if err != nil {
		t.Fatalf("NewSQLStore[%v]: %v", reflect.TypeFor[T](), err)
	}
	return s, db, clock
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) || ports.KindOf(err) != kind {
		t.Errorf("%s: %v, want exactly %v", what, err, ports.KindName(kind))
	}
}

type Person struct {
	ID   int64
	Name string `gorm:"size:100"`
}

type Category struct {
	ID   int64
	Name string
}

type OrderLine struct{ ID int64 }

// Table names come from gorm's naming strategy (the fake used to say
// "persons" and "categorys").
func TestSQLTableNamesFollowGorm(t *testing.T) {
	for _, c := range []struct {
		table string
		new   func(db *fakes.DB) (string, error)
	}{
		{"people", func(db *fakes.DB) (string, error) { s, err := fakes.NewSQLStore[Person](db); return table(s), err }},
		{"categories", func(db *fakes.DB) (string, error) { s, err := fakes.NewSQLStore[Category](db); return table(s), err }},
		{"order_lines", func(db *fakes.DB) (string, error) { s, err := fakes.NewSQLStore[OrderLine](db); return table(s), err }},
	} {
		db := fakes.NewDB()
		got, err := c.new(db)
		if err != nil || got != c.table {
			t.Errorf("table = %q, %v; want %q (gorm's NamingStrategy)", got, err, c.table)
		}
		_ = db.Close(t.Context())
	}
}

func table[T any](s *fakes.SQLStore[T]) string {
	if s == nil {
		return ""
	}
	return s.Table()
}

type Address struct {
	City string `gorm:"size:50"`
	Zip  string `gorm:"size:10"`
}

// Tagged has one field for each gorm tag rule the fake follows; the
// expected values were measured on MariaDB 10.11 through adapters/mysql
// (see TestSQLSideBySideTags).
type Tagged struct {
	ID         int64
	N5         int      `gorm:"default:5"`
	BT         bool     `gorm:"default:true"`
	SNone      string   `gorm:"default:none"`
	RO         string   `gorm:"->;size:20"`
	CreateOnly string   `gorm:"<-:create;size:20"`
	NoWrite    string   `gorm:"<-:false;size:20"`
	Ignored    string   `gorm:"-"`
	Tags       []string `gorm:"serializer:json"`
	A          Address  `gorm:"embedded;embeddedPrefix:addr_"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
	PInt       *int
}

func TestSQLGormTags(t *testing.T) {
	ctx := t.Context()
	s, _, clock := newSQL[Tagged](t)
	e := Tagged{RO: "ro", CreateOnly: "co", NoWrite: "nw", Ignored: "ig", Tags: []string{"a", "b"}, A: Address{City: "Oslo"}}
	must(t, "Create", s.Create(ctx, &e))
	// What gorm sets on the entity after its INSERT: defaults and times.
	now := clock.Now()
	if e.ID != 1 || e.N5 != 5 || !e.BT || e.SNone != "none" || !e.CreatedAt.Equal(now) || !e.UpdatedAt.Equal(now) {
		t.Errorf("entity after Create = %+v, want ID 1, the defaults 5/true/none and both times %v", e, now)
	}
	if e.RO != "ro" || e.NoWrite != "nw" || e.Ignored != "ig" {
		t.Errorf("Create changed fields it does not write: %+v", e)
	}
	got, err := s.Get(ctx, e.ID)
	must(t, "Get", err)
	want := Tagged{ID: 1, N5: 5, BT: true, SNone: "none", CreateOnly: "co", Tags: []string{"a", "b"},
		A: Address{City: "Oslo"}, CreatedAt: now, UpdatedAt: now}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Get = %+v\nwant  %+v\n(-> and <-:false are not written, gorm:\"-\" is not stored)", *got, want)
	}
	// Update writes updatable columns only; a zero default is written.
	clock.Advance(time.Second)
	u := *got
	u.N5, u.CreateOnly, u.NoWrite, u.RO, u.Tags = 0, "co2", "nw2", "ro2", nil
	must(t, "Update", s.Update(ctx, &u))
	got, err = s.Get(ctx, e.ID)
	must(t, "Get after Update", err)
	if got.N5 != 0 || got.CreateOnly != "co" || got.NoWrite != "" || got.RO != "" || got.Tags != nil || !got.UpdatedAt.Equal(clock.Now()) {
		t.Errorf("after Update: %+v", *got)
	}
	// Queries name Go fields; a field without a column is ErrInvalid, an
	// embedded one has its prefixed column.
	found, err := s.Find(ctx, ports.Where("A.City", ports.Eq, "oslo"))
	if err != nil || len(found) != 1 {
		t.Errorf("Find A.City = oslo: %d rows, %v; want 1", len(found), err)
	}
	_, err = s.Find(ctx, ports.Where("Ignored", ports.Eq, "x"))
	wantKind(t, "Find on a gorm:\"-\" field", err, ports.ErrInvalid)
}

type plainSlice struct {
	ID   int64
	Tags []string
}

type namedStruct struct {
	ID int64
	A  Address
}

type twoVersions struct {
	ID int64
	V1 ports.Version
	V2 ports.Version
}

type compositeKey struct {
	A int64 `gorm:"primaryKey"`
	B int64 `gorm:"primaryKey"`
}

// Models gorm cannot parse are ErrInvalid at NewSQLStore, as at the
// adapter's NewStore (measured: "unsupported data type: &[]" for a
// []string without a serializer, "invalid field found for struct ...
// field A" for a named struct without `embedded`).
func TestSQLRejectsModelsGormRejects(t *testing.T) {
	db := fakes.NewDB()
	defer db.Close(t.Context())
	_, err := fakes.NewSQLStore[plainSlice](db)
	wantKind(t, "[]string without a serializer", err, ports.ErrInvalid)
	_, err = fakes.NewSQLStore[namedStruct](db)
	wantKind(t, "named struct field without embedded", err, ports.ErrInvalid)
	_, err = fakes.NewSQLStore[twoVersions](db)
	wantKind(t, "two Version fields", err, ports.ErrInvalid)
	_, err = fakes.NewSQLStore[compositeKey](db)
	wantKind(t, "composite primary key", err, ports.ErrInvalid)
	if _, err := fakes.NewSQLStore[Person](fakes.NewDB(fakes.WithDialect("oracle"))); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("unknown dialect: %v, want ErrInvalid", err)
	}
}

type softRow struct {
	ID        int64
	Name      string `gorm:"size:20;uniqueIndex"`
	DeletedAt gorm.DeletedAt
}

// gorm.DeletedAt soft-deletes: Delete sets it, reads and writes skip the
// row, its key and unique values stay taken (measured on MariaDB).
func TestSQLSoftDelete(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[softRow](t)
	a, b := softRow{Name: "a"}, softRow{Name: "b"}
	must(t, "Create a", s.Create(ctx, &a))
	must(t, "Create b", s.Create(ctx, &b))
	must(t, "Delete a", s.Delete(ctx, a.ID))
	_, err := s.Get(ctx, a.ID)
	wantKind(t, "Get of a soft-deleted row", err, ports.ErrNotFound)
	if n, err := s.Count(ctx, ports.All()); n != 1 || err != nil {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}
	wantKind(t, "Delete again", s.Delete(ctx, a.ID), ports.ErrNotFound)
	wantKind(t, "Update of a soft-deleted row", s.Update(ctx, &a), ports.ErrNotFound)
	wantKind(t, "Patch of a soft-deleted row", s.Patch(ctx, a.ID, ports.Set("Name", "x")), ports.ErrNotFound)
	wantKind(t, "Create with the key of a soft-deleted row", s.Create(ctx, &softRow{ID: a.ID, Name: "z"}), ports.ErrConflict)
	wantKind(t, "Create with the unique value of a soft-deleted row", s.Create(ctx, &softRow{Name: "A"}), ports.ErrConflict)
	if n, err := s.DeleteWhere(ctx, ports.Where("Name", ports.Ne, "")); n != 1 || err != nil {
		t.Errorf("DeleteWhere = %d, %v; want 1 (the soft-deleted row is not counted)", n, err)
	}
	if all, _ := s.Find(ctx, ports.All()); len(all) != 0 {
		t.Errorf("Find after deleting both = %+v", all)
	}
}

type dbDefaults struct {
	ID    int64
	PN    *string   `gorm:"default:null;size:10"`
	TS    time.Time `gorm:"default:CURRENT_TIMESTAMP(3)"`
	PS    *string   `gorm:"default:abc;size:10"`
	Auto  int64     `gorm:"autoCreateTime"`
	AutoM int64     `gorm:"autoUpdateTime:milli"`
}

// Defaults gorm leaves to the database are in the row but not on the
// entity; literal defaults and auto times are on both (measured on
// MariaDB: TS stays zero on the entity after Create, Get returns it).
func TestSQLDatabaseDefaults(t *testing.T) {
	ctx := t.Context()
	s, _, clock := newSQL[dbDefaults](t)
	clock.Set(time.Date(2025, 3, 1, 12, 0, 0, 123_456_789, time.UTC))
	var e dbDefaults
	must(t, "Create", s.Create(ctx, &e))
	if e.PN != nil || !e.TS.IsZero() || e.PS == nil || *e.PS != "abc" {
		t.Errorf("entity after Create = %+v", e)
	}
	now := clock.Now().Round(time.Millisecond) // gorm's MySQL NowFunc
	if e.Auto != now.Unix() || e.AutoM != now.UnixMilli() {
		t.Errorf("auto times = %d, %d; want %d, %d", e.Auto, e.AutoM, now.Unix(), now.UnixMilli())
	}
	got, err := s.Get(ctx, e.ID)
	must(t, "Get", err)
	if got.PN != nil || !got.TS.Equal(clock.Now().Truncate(time.Millisecond)) || got.PS == nil || *got.PS != "abc" {
		t.Errorf("Get = %+v, want TS %v from the column default", *got, clock.Now().Truncate(time.Millisecond))
	}
}

// The entity is deep-copied in and out (JSON columns included).
func TestSQLRowsShareNothing(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[Tagged](t)
	pi := 7
	e := Tagged{Tags: []string{"x"}, PInt: &pi}
	must(t, "Create", s.Create(ctx, &e))
	e.Tags[0], pi = "changed", 8
	got, _ := s.Get(ctx, e.ID)
	got.Tags[0], *got.PInt = "changed", 9
	got, _ = s.Get(ctx, e.ID)
	if got.Tags[0] != "x" || *got.PInt != 7 {
		t.Errorf("the stored row changed through the caller's memory: %v %d", got.Tags, *got.PInt)
	}
}

// Stores of one model made at once on one DB share its parsed schema
// safely (run with -race).
func TestSQLConcurrentNewStore(t *testing.T) {
	db := fakes.NewDB()
	defer db.Close(t.Context())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := fakes.NewSQLStore[word](db); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
