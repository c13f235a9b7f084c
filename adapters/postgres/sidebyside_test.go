package postgres

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// The side-by-side tests run the same calls on the SQL fake told to
// follow PostgreSQL (fakes.WithDialect(fakes.Postgres)) and on this
// adapter, and compare results and error kinds: the port's rules where
// PostgreSQL and MySQL differ (collation "C", NULL order, microseconds,
// -0.0, sequences, what PostgreSQL rejects).

// pair is a fake store and a PostgreSQL store of T on a fresh table.
type pair[T any] struct {
	fake *fakes.SQLStore[T]
	real *Store[T]
}

func newPair[T any](t *testing.T) *pair[T] {
	t.Helper()
	db := openTest(t, Config{})
	real := newTestStore[T](t, db, "pk_pg_sbs")
	fdb := fakes.NewDB(fakes.WithDialect(fakes.Postgres))
	t.Cleanup(func() { _ = fdb.Close(context.Background()) })
	fake, err := fakes.NewSQLStore[T](fdb, fakes.WithTable(real.Table()))
	if err != nil {
		t.Fatalf("fakes.NewSQLStore: %v", err)
	}
	return &pair[T]{fake: fake, real: real}
}

// same runs call on both stores and reports a divergence in its result or
// error kind.
func same[T any](t *testing.T, p *pair[T], what string, call func(s ports.SQLStore[T]) (any, error)) {
	t.Helper()
	fv, ferr := call(p.fake)
	rv, rerr := call(p.real)
	switch {
	case (ferr == nil) != (rerr == nil) || ports.KindOf(ferr) != ports.KindOf(rerr):
		t.Errorf("%s: fake %s (%v), PostgreSQL %s (%v)", what, ports.KindName(ferr), ferr, ports.KindName(rerr), rerr)
	case ferr == nil && !reflect.DeepEqual(fv, rv):
		t.Errorf("%s:\n fake       %+v\n PostgreSQL %+v", what, fv, rv)
	}
}

type pgWord struct {
	ID   int64
	Name string `gorm:"size:40"`
	Code string `gorm:"size:40;uniqueIndex"`
	Note *string
}

func TestSideBySideCollationAndNulls(t *testing.T) {
	p := newPair[pgWord](t)
	ctx := t.Context()
	note := func(s string) *string { return &s }
	words := []pgWord{
		{Name: "b", Code: "1"}, {Name: "A", Code: "2", Note: note("x")}, {Name: "a", Code: "3"},
		{Name: "B", Code: "4", Note: note("y")}, {Name: "é", Code: "5"}, {Name: "e ", Code: "6", Note: note("x")},
		{Name: "e", Code: "7"}, {Name: "Z", Code: "8", Note: note("")}, {Name: "😀", Code: "9"}, {Name: "abc", Code: "abc"},
	}
	for _, w := range words {
		same(t, p, "Create "+w.Name, func(s ports.SQLStore[pgWord]) (any, error) { w := w; return w, s.Create(ctx, &w) })
	}
	for _, q := range []ports.Query{
		ports.All().OrderBy("Name"),
		ports.All().OrderBy("-Name"),
		ports.All().OrderBy("Note", "Name"),
		ports.All().OrderBy("-Note", "Name"),
		ports.Where("Name", ports.Eq, "A"),
		ports.Where("Name", ports.Eq, "e"),
		ports.Where("Name", ports.Gt, "a"),
		ports.Where("Name", ports.Lt, "a").OrderBy("Name"),
		ports.Where("Name", ports.In, []string{"e", "é", "E"}),
		ports.Where("Note", ports.Ne, "x"),
		ports.Where("Note", ports.Eq, nil),
		ports.Where("Note", ports.Ne, nil),
		ports.Where("Note", ports.Lt, "y"),
		ports.All().OrderBy("Note").Offset(2).Limit(3),
	} {
		same(t, p, fmt.Sprint("Find ", q.Conditions(), q.Orders()), func(s ports.SQLStore[pgWord]) (any, error) { return s.Find(ctx, q) })
		same(t, p, fmt.Sprint("Count ", q.Conditions()), func(s ports.SQLStore[pgWord]) (any, error) { return s.Count(ctx, q) })
	}
	// Unique values compare bytewise: ABC is not abc, 'abc ' is not abc.
	for _, code := range []string{"ABC", "abc ", "abc"} {
		w := pgWord{Name: "dup", Code: code}
		same(t, p, "Create code "+code, func(s ports.SQLStore[pgWord]) (any, error) { w := w; return nil, s.Create(ctx, &w) })
	}
	// Keyset pages over a nullable sort key, through NULLs.
	for _, q := range []ports.Query{ports.All().OrderBy("Note").Limit(3), ports.All().OrderBy("-Note", "-Name").Limit(4)} {
		same(t, p, fmt.Sprint("pages ", q.Orders()), func(s ports.SQLStore[pgWord]) (any, error) {
			var all [][]pgWord
			cursor := ""
			for range 10 {
				pg, err := s.FindPage(ctx, q, cursor)
				if err != nil {
					return nil, err
				}
				all = append(all, pg.Items)
				if cursor = pg.Next; cursor == "" {
					break
				}
			}
			return all, nil
		})
	}
}

type pgKeyed struct {
	Code string `gorm:"primaryKey;size:20"`
	N    int
}

func TestSideBySideStringKeys(t *testing.T) {
	k := newPair[pgKeyed](t)
	ctx := t.Context()
	same(t, k, "Create abc", func(s ports.SQLStore[pgKeyed]) (any, error) { return nil, s.Create(ctx, &pgKeyed{Code: "abc", N: 1}) })
	same(t, k, "Create ABC", func(s ports.SQLStore[pgKeyed]) (any, error) { return nil, s.Create(ctx, &pgKeyed{Code: "ABC"}) })
	same(t, k, "Create 'abc '", func(s ports.SQLStore[pgKeyed]) (any, error) { return nil, s.Create(ctx, &pgKeyed{Code: "abc "}) })
	same(t, k, "Create abc again", func(s ports.SQLStore[pgKeyed]) (any, error) { return nil, s.Create(ctx, &pgKeyed{Code: "abc"}) })
	same(t, k, "Get Abc", func(s ports.SQLStore[pgKeyed]) (any, error) { return s.Get(ctx, "Abc") })
	same(t, k, "Get abc", func(s ports.SQLStore[pgKeyed]) (any, error) { return s.Get(ctx, "abc") })
	same(t, k, "Delete ABC", func(s ports.SQLStore[pgKeyed]) (any, error) { return nil, s.Delete(ctx, "ABC") })
	same(t, k, "Upsert abc", func(s ports.SQLStore[pgKeyed]) (any, error) {
		e := pgKeyed{Code: "abc", N: 5}
		return e, s.Upsert(ctx, &e)
	})
	same(t, k, "Find", func(s ports.SQLStore[pgKeyed]) (any, error) { return s.Find(ctx, ports.All()) })
}

type pgValues struct {
	ID    int64
	At    time.Time
	Opt   *time.Time
	F     float64
	F32   float32
	U16   uint16
	Small int64 `gorm:"size:16"`
	S     string
	B     []byte
	N     *int
}

func TestSideBySideValues(t *testing.T) {
	p := newPair[pgValues](t)
	ctx := t.Context()
	at := time.Date(2024, 1, 2, 3, 4, 5, 123_456_789, time.FixedZone("X", 3600))
	create := func(what string, v pgValues) {
		same(t, p, what, func(s ports.SQLStore[pgValues]) (any, error) { v := v; err := s.Create(ctx, &v); return v.ID, err })
	}
	create("Create at ns", pgValues{At: at, Opt: &at, F: 1.5, F32: 0.1, S: "s", B: []byte{0, 1}})
	create("Create -0.0", pgValues{F: math.Copysign(0, -1), At: at})
	create("Create 40000 in a size:16 int", pgValues{Small: 40000, At: at})
	create("Create a NUL", pgValues{S: "a\x00b", At: at})
	create("Create MaxFloat64", pgValues{F: math.MaxFloat64, At: at})
	create("Create 1e-300", pgValues{F: 1e-300, F32: math.MaxFloat32, At: at})
	create("Create year 1", pgValues{At: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)})
	for id := int64(1); id <= 7; id++ {
		same(t, p, fmt.Sprint("Get ", id), func(s ports.SQLStore[pgValues]) (any, error) { return s.Get(ctx, id) })
	}
	for _, q := range []ports.Query{
		ports.Where("At", ports.Eq, at),
		ports.Where("At", ports.Eq, at.Truncate(time.Microsecond)),
		ports.Where("At", ports.Gt, at.Truncate(time.Microsecond)),
		ports.Where("Opt", ports.Eq, at),
		ports.Where("F", ports.Eq, 0.0),
		ports.Where("F32", ports.Eq, float32(0.1)),
		ports.Where("N", ports.Ne, 3),
		ports.All().OrderBy("-F"),
	} {
		same(t, p, fmt.Sprint("Find ", q.Conditions(), q.Orders()), func(s ports.SQLStore[pgValues]) (any, error) { return s.Find(ctx, q) })
	}
	same(t, p, "Patch Inc Small past smallint", func(s ports.SQLStore[pgValues]) (any, error) {
		return nil, s.Patch(ctx, int64(1), ports.Inc("Small", 40000))
	})
}

// Where PostgreSQL and the fake's Postgres dialect still differ (see the
// package documentation), what PostgreSQL does, pinned: an explicit key
// does not move the key's sequence; a uint16 is an integer column (the
// fake takes it for a smallint); a NUL in a query value is the server's
// 22021; Inc of a NULL counts it as 0 (the fake leaves NULL).
type pgSeq struct {
	ID   int64
	Name string
	U16  uint16
	N    *int
}

func TestPostgresKeysAndValues(t *testing.T) {
	db := openTest(t, Config{})
	s := newTestStore[pgSeq](t, db, "pk_pg_seq")
	ctx := t.Context()
	es := []*pgSeq{{Name: "a"}, {ID: 100, Name: "b"}, {Name: "c"}, {Name: "d", U16: 40000}}
	if err := s.CreateMany(ctx, es); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if !reflect.DeepEqual(ids, []int64{1, 100, 2, 3}) {
		t.Errorf("CreateMany {} {100} {} {}: ids %v, want [1 100 2 3] (the sequence does not move)", ids)
	}
	if err := s.Create(ctx, &pgSeq{ID: 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, &pgSeq{Name: "next"}); ports.KindOf(err) != ports.ErrConflict {
		t.Errorf("a generated key that an explicit one took: %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, int64(3))
	if err != nil || got.U16 != 40000 {
		t.Errorf("Get of a uint16 40000: %+v, %v", got, err)
	}
	if _, err := s.Find(ctx, ports.Where("Name", ports.Eq, "a\x00b")); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Find of a NUL: %v, want ErrInvalid", err)
	}
	// The port's rule: Inc of a pointer field is ErrInvalid (a NULL has no
	// portable increment).
	if err := s.Patch(ctx, int64(1), ports.Inc("N", 2)); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Inc of a pointer field: %v, want ErrInvalid", err)
	}
}
