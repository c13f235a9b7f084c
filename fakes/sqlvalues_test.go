package fakes_test

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

type valueRow struct {
	ID        int64
	S         string `gorm:"size:100"`
	Big       string
	Key       string `gorm:"index"` // unsized and indexed: varchar(191) on MySQL
	F         float64
	At        time.Time
	Small     int64   `gorm:"size:8"`              // tinyint
	Cost      float64 `gorm:"precision:6;scale:2"` // decimal(6,2)
	N5        int     `gorm:"default:5"`
	CreatedAt time.Time
}

// Values MySQL rejects (measured on MariaDB 10.11 in strict mode) are
// ErrInvalid before anything is stored, and the entity is left as given.
func TestSQLRejectsWhatMySQLRejects(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[valueRow](t)
	for _, c := range []struct {
		name string
		e    valueRow
	}{
		{"101 characters in size:100", valueRow{S: strings.Repeat("é", 101)}},
		{"invalid UTF-8", valueRow{S: "\xff\xfe"}},
		{"year 0", valueRow{At: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"year -5", valueRow{At: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"year 10000", valueRow{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"NaN", valueRow{F: math.NaN()}},
		{"+Inf", valueRow{F: math.Inf(1)}},
		{"-Inf", valueRow{F: math.Inf(-1)}},
		{"17 MiB string", valueRow{Big: strings.Repeat("x", 17<<20)}},
		{"192 characters in an unsized indexed string", valueRow{Key: strings.Repeat("k", 192)}},
		{"300 in a tinyint", valueRow{Small: 300}},
		{"10000 in a decimal(6,2)", valueRow{Cost: 10000}},
	} {
		e := c.e
		before := e
		wantKind(t, "Create with "+c.name, s.Create(ctx, &e), ports.ErrInvalid)
		if !sameRow(e, before) {
			t.Errorf("a failed Create (%s) changed the entity: %+v", c.name, e)
		}
		e = c.e
		es := []*valueRow{{S: "fine"}, &e}
		wantKind(t, "CreateMany with "+c.name, s.CreateMany(ctx, es), ports.ErrInvalid)
		if es[0].ID != 0 || es[0].N5 != 0 || !es[0].CreatedAt.IsZero() {
			t.Errorf("a failed CreateMany (%s) changed its first entity: %+v", c.name, *es[0])
		}
	}
	if n, _ := s.Count(ctx, ports.All()); n != 0 {
		t.Errorf("%d rows stored by failed writes", n)
	}
	// Update and Patch check the same way.
	ok := valueRow{S: "ok"}
	must(t, "Create", s.Create(ctx, &ok))
	bad := ok
	bad.S = strings.Repeat("x", 101)
	wantKind(t, "Update with 101 characters", s.Update(ctx, &bad), ports.ErrInvalid)
	wantKind(t, "Patch with 101 characters", s.Patch(ctx, ok.ID, ports.Set("S", strings.Repeat("x", 101))), ports.ErrInvalid)
	wantKind(t, "Patch with year 10000", s.Patch(ctx, ok.ID, ports.Set("At", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))), ports.ErrInvalid)
	wantKind(t, "Patch overflowing a tinyint", s.Patch(ctx, ok.ID, ports.Inc("Small", 200)), ports.ErrInvalid)
	// A query with 70 000 In values (MySQL: too many placeholders).
	_, err := s.Find(ctx, ports.Where("ID", ports.In, make([]int64, 70000)))
	wantKind(t, "Find with 70 000 In values", err, ports.ErrInvalid)
	got, _ := s.Get(ctx, ok.ID)
	if got.S != "ok" || got.Small != 0 {
		t.Errorf("failed writes changed the row: %+v", *got)
	}
}

func sameRow(a, b valueRow) bool {
	return a.ID == b.ID && a.S == b.S && a.N5 == b.N5 && a.CreatedAt.Equal(b.CreatedAt) && a.Small == b.Small
}

// -0.0 comes back 0 on MySQL, decimals round to their scale, a successful
// Create sets what MySQL and gorm set.
func TestSQLStoredValues(t *testing.T) {
	ctx := t.Context()
	s, _, clock := newSQL[valueRow](t)
	clock.Set(time.Date(2025, 3, 1, 12, 0, 0, 999_600_000, time.UTC))
	e := valueRow{F: math.Copysign(0, -1), Cost: 12.345}
	must(t, "Create", s.Create(ctx, &e))
	if e.ID != 1 || e.N5 != 5 || e.CreatedAt != time.Date(2025, 3, 1, 12, 0, 0, 999_000_000, time.UTC) {
		t.Errorf("entity after Create = %+v, want ID 1, N5 5 and CreatedAt in UTC truncated to ms as adapters/mysql's NowFunc stamps it", e)
	}
	got, err := s.Get(ctx, e.ID)
	must(t, "Get", err)
	if math.Signbit(got.F) || got.Cost != 12.35 {
		t.Errorf("Get: F %v (signbit %v), Cost %v; want 0 and 12.35", got.F, math.Signbit(got.F), got.Cost)
	}
	// On PostgreSQL -0 stays -0.
	p, _, _ := newSQL[valueRow](t, fakes.WithDialect(fakes.Postgres))
	e = valueRow{F: math.Copysign(0, -1)}
	must(t, "Create on Postgres", p.Create(ctx, &e))
	got, _ = p.Get(ctx, e.ID)
	if !math.Signbit(got.F) {
		t.Errorf("Postgres: -0 came back %v", got.F)
	}
}

type nullable struct {
	ID   int64
	PInt *int
	Name string `gorm:"->"` // never written: NULL in a non-pointer column
}

func ids(rows []nullable) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func intp(i int) *int { return &i }

// Ne with a value on a pointer field also matches NULL (the port's rule;
// MySQL through the adapter gives [1 2 4 5 6] for PInt != 2 here, the
// fake used to give [1 4 6]); NULL sorts first ascending, last descending.
func TestSQLNullRules(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[nullable](t)
	for _, p := range []*int{intp(1), nil, intp(2), intp(4), nil, intp(6)} {
		must(t, "Create", s.Create(ctx, &nullable{PInt: p}))
	}
	for _, c := range []struct {
		q    ports.Query
		want []int64
	}{
		{ports.Where("PInt", ports.Ne, 2), []int64{1, 2, 4, 5, 6}},
		{ports.Where("PInt", ports.Ne, intp(2)), []int64{1, 2, 4, 5, 6}},
		{ports.Where("PInt", ports.Eq, nil), []int64{2, 5}},
		{ports.Where("PInt", ports.Ne, nil), []int64{1, 3, 4, 6}},
		{ports.Where("PInt", ports.Lt, 5), []int64{1, 3, 4}},
		{ports.Where("PInt", ports.In, []int{1, 6}), []int64{1, 6}},
		{ports.All().OrderBy("PInt"), []int64{2, 5, 1, 3, 4, 6}},
		{ports.All().OrderBy("-PInt"), []int64{6, 4, 3, 1, 2, 5}},
		// A NULL in a non-pointer column matches no comparison, as in SQL.
		{ports.Where("Name", ports.Ne, "x"), []int64{}},
		{ports.Where("Name", ports.Eq, ""), []int64{}},
	} {
		got, err := s.Find(ctx, c.q)
		must(t, c.q.String(), err)
		if g := ids(got); !slices.Equal(g, c.want) {
			t.Errorf("%v = %v, want %v", c.q, g, c.want)
		}
	}
}

// Find with a huge limit used to panic (makeslice: lo+limit overflowed).
func TestSQLHugeLimit(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[nullable](t)
	for range 3 {
		must(t, "Create", s.Create(ctx, &nullable{}))
	}
	got, err := s.Find(ctx, ports.All().Offset(1).Limit(math.MaxInt64))
	if err != nil || !slices.Equal(ids(got), []int64{2, 3}) {
		t.Errorf("Find(Offset(1).Limit(MaxInt64)) = %v, %v", ids(got), err)
	}
	got, err = s.Find(ctx, ports.All().Offset(math.MaxInt64).Limit(math.MaxInt64))
	if err != nil || len(got) != 0 {
		t.Errorf("Find(Offset(MaxInt64)) = %v, %v", ids(got), err)
	}
}

type timeRow struct {
	ID        int64
	At        time.Time
	Micro     time.Time `gorm:"precision:6"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Times are stored in UTC at the column's precision: datetime(3) keeps
// milliseconds, truncated (measured on MariaDB: .123999999 +01:00 comes
// back .123 UTC); PostgreSQL keeps microseconds.
func TestSQLTimes(t *testing.T) {
	ctx := t.Context()
	at := time.Date(2024, 1, 2, 3, 4, 5, 123_999_999, time.FixedZone("X", 3600))
	for _, c := range []struct {
		d            fakes.Dialect
		want, wantUs time.Time
	}{
		{fakes.MySQL, time.Date(2024, 1, 2, 2, 4, 5, 123_000_000, time.UTC), time.Date(2024, 1, 2, 2, 4, 5, 123_999_000, time.UTC)},
		{fakes.Postgres, time.Date(2024, 1, 2, 2, 4, 5, 123_999_000, time.UTC), time.Date(2024, 1, 2, 2, 4, 5, 123_999_000, time.UTC)},
	} {
		s, _, clock := newSQL[timeRow](t, fakes.WithDialect(c.d))
		e := timeRow{At: at, Micro: at}
		must(t, "Create", s.Create(ctx, &e))
		got, err := s.Get(ctx, e.ID)
		must(t, "Get", err)
		if !reflect.DeepEqual(got.At, c.want) || !reflect.DeepEqual(got.Micro, c.wantUs) {
			t.Errorf("%s: At %v, Micro %v; want %v and %v (UTC)", c.d, got.At, got.Micro, c.want, c.wantUs)
		}
		// A query compares the value the driver sends (µs) with the
		// stored one: the inserted ns value does not find its row on
		// MySQL, the stored one does.
		n, _ := s.Count(ctx, ports.Where("At", ports.Eq, at))
		m, _ := s.Count(ctx, ports.Where("At", ports.Eq, got.At))
		if wantN := map[fakes.Dialect]int64{fakes.MySQL: 0, fakes.Postgres: 1}[c.d]; n != wantN || m != 1 {
			t.Errorf("%s: At = inserted value: %d rows (want %d), = stored value: %d (want 1)", c.d, n, wantN, m)
		}
		// An Update with a zero CreatedAt keeps the stored one.
		created := got.CreatedAt
		clock.Advance(time.Hour)
		u := *got
		u.CreatedAt = time.Time{}
		must(t, "Update", s.Update(ctx, &u))
		got, _ = s.Get(ctx, e.ID)
		if !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(clock.Now()) || !u.UpdatedAt.Equal(clock.Now()) {
			t.Errorf("%s: after Update CreatedAt %v UpdatedAt %v (entity %v); want %v and %v", c.d, got.CreatedAt, got.UpdatedAt, u.UpdatedAt, created, clock.Now())
		}
	}
}

type pgRow struct {
	ID int64
	U  uint64
	S  string
}

// PostgreSQL has no unsigned bigint and no NUL in text.
func TestSQLPostgresRejects(t *testing.T) {
	ctx := t.Context()
	p, _, _ := newSQL[pgRow](t, fakes.WithDialect(fakes.Postgres))
	wantKind(t, "uint64 over MaxInt64", p.Create(ctx, &pgRow{U: math.MaxInt64 + 1}), ports.ErrInvalid)
	wantKind(t, "NUL in a string", p.Create(ctx, &pgRow{S: "a\x00b"}), ports.ErrInvalid)
	m, _, _ := newSQL[pgRow](t)
	must(t, "MySQL: uint64 over MaxInt64", m.Create(ctx, &pgRow{U: math.MaxUint64, S: "a\x00b"}))
	got, err := m.Get(ctx, int64(1))
	if err != nil || got.U != math.MaxUint64 || got.S != "a\x00b" {
		t.Errorf("MySQL round trip = %+v, %v", got, err)
	}
}

type uniqueRow struct {
	ID        int64
	Code      string `gorm:"size:20;uniqueIndex"`
	N5        int    `gorm:"default:5"`
	CreatedAt time.Time
}

// Keys follow MySQL's AUTO_INCREMENT: an explicit key moves the counter
// past it, a failed insert consumes its value; the entities get the keys
// the rows are stored under. A write that fails leaves its entities as
// given (MySQL and gorm had set times, defaults and ids of rolled-back
// rows on them).
func TestSQLKeysAndFailedWrites(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[uniqueRow](t)
	es := []*uniqueRow{{Code: "a"}, {ID: 100, Code: "b"}, {Code: "c"}, {Code: "d"}}
	must(t, "CreateMany", s.CreateMany(ctx, es))
	var got []int64
	for _, e := range es {
		got = append(got, e.ID)
	}
	stored, _ := s.Find(ctx, ports.All())
	var want []int64
	for _, e := range stored {
		want = append(want, e.ID)
	}
	if !slices.Equal(got, []int64{1, 100, 101, 102}) || !slices.Equal(got, want) {
		t.Errorf("CreateMany handed back ids %v, stored %v; want 1 100 101 102 both", got, want)
	}
	dup := uniqueRow{Code: "A"}
	wantKind(t, "Create of a duplicate", s.Create(ctx, &dup), ports.ErrConflict)
	if dup != (uniqueRow{Code: "A"}) {
		t.Errorf("a failed Create changed its entity: %+v", dup)
	}
	batch := []*uniqueRow{{Code: "x"}, {Code: "y"}, {Code: "X"}}
	wantKind(t, "CreateMany with a duplicate inside", s.CreateMany(ctx, batch), ports.ErrConflict)
	for _, e := range batch {
		if e.ID != 0 || e.N5 != 0 || !e.CreatedAt.IsZero() {
			t.Errorf("a failed CreateMany changed an entity: %+v", *e)
		}
	}
	if n, _ := s.Count(ctx, ports.All()); n != 4 {
		t.Errorf("Count after the failed writes = %d, want 4", n)
	}
	next := uniqueRow{Code: "e"}
	must(t, "Create after the failures", s.Create(ctx, &next))
	if next.ID != 107 {
		t.Errorf("next id = %d, want 107 (the failed inserts consumed 103..106)", next.ID)
	}
}

type pgSeqRow struct {
	ID   int64
	Name string `gorm:"size:20"`
	U16  uint16
}

// The Postgres dialect follows PostgreSQL as adapters/postgres measured it
// (TestPostgresKeysAndValues there): an explicit key does not move the
// sequence, so a later generated key can collide; gorm makes a uint16 an
// integer column; a NUL in a query value is refused as the server refuses
// it (SQLSTATE 22021).
func TestSQLPostgresSequencesAndRanges(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[pgSeqRow](t, fakes.WithDialect(fakes.Postgres))
	es := []*pgSeqRow{{}, {ID: 100}, {}, {U16: 40000}}
	must(t, "CreateMany", s.CreateMany(ctx, es))
	var ids []int64
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if want := []int64{1, 100, 2, 3}; !slices.Equal(ids, want) {
		t.Errorf("CreateMany {} {100} {} {}: ids %v, want %v (the sequence does not move)", ids, want)
	}
	must(t, "Create {ID: 4}", s.Create(ctx, &pgSeqRow{ID: 4}))
	wantKind(t, "a generated key an explicit one took", s.Create(ctx, &pgSeqRow{Name: "next"}), ports.ErrConflict)
	if got, err := s.Get(ctx, int64(3)); err != nil || got.U16 != 40000 {
		t.Errorf("Get of a uint16 40000 = %+v, %v", got, err)
	}
	_, err := s.Find(ctx, ports.Where("Name", ports.Eq, "a\x00b"))
	wantKind(t, "Find of a NUL", err, ports.ErrInvalid)
	m, _, _ := newSQL[pgSeqRow](t)
	must(t, "MySQL CreateMany", m.CreateMany(ctx, []*pgSeqRow{{ID: 100}, {}}))
	if got, err := m.Find(ctx, ports.Where("Name", ports.Eq, "a\x00b")); err != nil || len(got) != 0 {
		t.Errorf("MySQL Find of a NUL = %v, %v; want none, nil", got, err)
	}
}

// On Postgres a failed insert consumes the sequence's values of the rows
// up to the failing one, not after it: PostgreSQL draws nextval row by
// row and stops at the row that conflicts (found by the differential
// checker against adapters/postgres; the fake consumed the whole batch's).
func TestSQLPostgresFailedInsertConsumesUpToTheFailingRow(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[uniqueRow](t, fakes.WithDialect(fakes.Postgres))
	next := func(what string) int64 {
		t.Helper()
		e := uniqueRow{Code: what}
		must(t, "Create "+what, s.Create(ctx, &e))
		return e.ID
	}
	// {} draws 1, {ID: 1} fails: the third row's value is never drawn.
	wantKind(t, "CreateMany {} {ID:1} {}", s.CreateMany(ctx, []*uniqueRow{{Code: "a"}, {ID: 1, Code: "b"}, {Code: "c"}}), ports.ErrConflict)
	if id := next("n1"); id != 2 {
		t.Errorf("after a batch failing at its 2nd row: next id %d, want 2", id)
	}
	// p draws 3, the second p draws 4 and fails; q's is never drawn.
	wantKind(t, "CreateMany p p q", s.CreateMany(ctx, []*uniqueRow{{Code: "p"}, {Code: "p"}, {Code: "q"}}), ports.ErrConflict)
	if id := next("n2"); id != 5 {
		t.Errorf("after a batch failing at its generated 2nd row: next id %d, want 5", id)
	}
	// An explicit first row that fails draws nothing.
	wantKind(t, "CreateMany {ID:2} {}", s.CreateMany(ctx, []*uniqueRow{{ID: 2, Code: "z"}, {Code: "y"}}), ports.ErrConflict)
	if id := next("n3"); id != 6 {
		t.Errorf("after a batch failing at its explicit 1st row: next id %d, want 6", id)
	}
}

type versionedRow struct {
	ID        int64
	Name      string `gorm:"size:20"`
	Ver       ports.Version
	CreatedAt time.Time
	UpdatedAt time.Time
}

// With a version, Upsert is Update, as in the adapters: an absent row is
// ErrNotFound and a CreatedAt only an insert would write is not checked
// (found by the differential checker: a CreatedAt in year 10000 made it
// ErrInvalid).
func TestSQLUpsertWithVersionIsUpdate(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[versionedRow](t)
	y10k := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	wantKind(t, "Upsert of an absent row with a version", s.Upsert(ctx, &versionedRow{ID: 9, Ver: 2, CreatedAt: y10k}), ports.ErrNotFound)
	e := versionedRow{ID: 1, Name: "a"}
	must(t, "Create", s.Create(ctx, &e))
	created := e.CreatedAt
	u := versionedRow{ID: 1, Name: "b", Ver: e.Ver, CreatedAt: y10k}
	must(t, "Upsert of the row with its version and a CreatedAt in year 10000", s.Upsert(ctx, &u))
	got, err := s.Get(ctx, int64(1))
	if err != nil || got.Name != "b" || !got.CreatedAt.Equal(created) || got.Ver != 2 {
		t.Errorf("after the Upsert: %+v, %v; want Name b, the CreatedAt kept (%v), version 2", got, err, created)
	}
}

// An Upsert that replaces a row hands back the CreatedAt the row kept, as
// the adapters do (found by the differential checker on MySQL and
// PostgreSQL: the fake left the entity's zero CreatedAt).
func TestSQLUpsertReplacedHandsBackCreatedAt(t *testing.T) {
	for _, d := range []fakes.Dialect{fakes.MySQL, fakes.Postgres} {
		ctx := t.Context()
		s, _, clock := newSQL[versionedRow](t, fakes.WithDialect(d))
		e := versionedRow{ID: 1, Name: "a"}
		must(t, "Create", s.Create(ctx, &e))
		stored, err := s.Get(ctx, int64(1))
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		u := versionedRow{ID: 1, Name: "b"}
		must(t, "Upsert over the row", s.Upsert(ctx, &u))
		if u.CreatedAt != stored.CreatedAt {
			t.Errorf("%s: Upsert replacing a row left CreatedAt %v, want the stored %v", d, u.CreatedAt, stored.CreatedAt)
		}
	}
}

// MySQL's keys follow InnoDB's consecutive lock mode as measured on
// MariaDB 10.11 (innodb_autoinc_lock_mode=1), in the statements the
// adapters send (a generated key after an explicit one starts another
// INSERT): the first row of a statement needing a generated key reserves
// as many values as the statement has rows, a stored explicit key moves
// the counter and a generated key past the reserved values reserves as
// many as rows remain; a failed insert keeps what it reserved and the
// explicit keys of the rows it wrote before failing (found by the
// differential checker: the fake consumed one value per generated key and
// counted explicit keys of failing batches). TestSQLSideBySideAutoIncrement
// runs the same cases on adapters/mysql.
func TestSQLInnoDBAutoIncrementReservation(t *testing.T) {
	ctx := t.Context()
	for _, c := range autoIncrementCases {
		t.Run(c.Name, func(t *testing.T) {
			s, _, _ := newSQL[uniqueRow](t)
			next, err := c.Run(ctx, s)
			if c.Fails {
				wantKind(t, "CreateMany", err, ports.ErrConflict)
			} else {
				must(t, "CreateMany", err)
			}
			if next != c.Next {
				t.Errorf("next id = %d, want %d", next, c.Next)
			}
		})
	}
}

// autoIncrementCase is a CreateMany after a row {1 "a"}, and the key of a
// Create after it.
type autoIncrementCase struct {
	Name  string
	Batch [][2]any // ID, Code
	Fails bool
	Next  int64
}

// Run runs the case on s: the CreateMany's error and the next key.
func (c autoIncrementCase) Run(ctx context.Context, s ports.SQLStore[uniqueRow]) (int64, error) {
	if err := s.Create(ctx, &uniqueRow{ID: 1, Code: "a"}); err != nil {
		return 0, err
	}
	es := make([]*uniqueRow, len(c.Batch))
	for i, r := range c.Batch {
		es[i] = &uniqueRow{ID: int64(r[0].(int)), Code: r[1].(string)}
	}
	err := s.CreateMany(ctx, es)
	next := uniqueRow{Code: "zz_next"}
	if e := s.Create(ctx, &next); e != nil {
		return 0, e
	}
	return next.ID, err
}

var autoIncrementCases = []autoIncrementCase{
	{"{} {100} {} {}", [][2]any{{0, "b"}, {100, "c"}, {0, "d"}, {0, "e"}}, false, 103},
	{"{} {100} {}x5", [][2]any{{0, "b"}, {100, "c"}, {0, "d"}, {0, "e"}, {0, "f"}, {0, "g"}, {0, "h"}}, false, 106},
	{"{5} {} {}", [][2]any{{5, "b"}, {0, "c"}, {0, "d"}}, false, 8},
	{"{3} {} {} {}", [][2]any{{3, "b"}, {0, "c"}, {0, "d"}, {0, "e"}}, false, 7},
	{"{100 dup} {}", [][2]any{{100, "a"}, {0, ""}}, true, 2},
	{"{100} {dup}", [][2]any{{100, "b"}, {0, "a"}}, true, 102},
	{"{100} {} {dup}", [][2]any{{100, "b"}, {0, "c"}, {0, "a"}}, true, 103},
	{"{} {dup} {}", [][2]any{{0, "b"}, {0, "a"}, {0, "c"}}, true, 5},
	{"{} {} {100 dup}", [][2]any{{0, "b"}, {0, "c"}, {100, "a"}}, true, 5},
	{"{} {} {100 dup} {}", [][2]any{{0, "b"}, {0, "c"}, {100, "a"}, {0, "d"}}, true, 5},
	{"{} {100} {dup} {}", [][2]any{{0, "b"}, {100, "c"}, {0, "a"}, {0, "d"}}, true, 103},
	{"{} {2 dup}", [][2]any{{0, "b"}, {2, "c"}}, true, 4},
	{"{5} {} {dup}", [][2]any{{5, "b"}, {0, "c"}, {0, "a"}}, true, 8},
	{"{1 dup} {}", [][2]any{{2, "x"}, {0, "y"}}, false, 4},
}
