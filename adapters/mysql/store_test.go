package mysql

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// fidelityRow has the field types Get's fast path failed on: a non-nil
// *bool, *float64 on a DECIMAL column, *uint64 above MaxInt64.
type fidelityRow struct {
	ID    int64
	PBool *bool
	PNum  *float64 `gorm:"type:decimal(10,2)"`
	PU64  *uint64
	Flag  bool
	Num   float64 `gorm:"type:decimal(10,2)"`
	U64   uint64
	Name  string `gorm:"size:32"`
	At    time.Time
	PAt   *time.Time
}

// rawFidelityTable creates the table of fidelityRow the way another
// client would, and fills it by raw SQL.
func rawFidelityTable(t *testing.T, db *DB) string {
	t.Helper()
	table := testenv.UniqueName("pk_my_fidelity")
	ddl := "CREATE TABLE `" + table + "` (`id` bigint PRIMARY KEY, `p_bool` tinyint(1), `p_num` decimal(10,2), `pu64` bigint unsigned, " +
		"`flag` tinyint(1), `num` decimal(10,2), `u64` bigint unsigned, `name` varchar(32), `at` datetime(3), `p_at` datetime(3))"
	if err := db.DB().Exec(ddl).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	for _, ins := range []string{
		"INSERT INTO `" + table + "` VALUES (1, 1, 1.50, 18446744073709551615, 1, 2.25, 18446744073709551614, 'a', '2024-01-02 03:04:05.678', '2024-01-02 03:04:05.678')",
		"INSERT INTO `" + table + "` VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
		"INSERT INTO `" + table + "` VALUES (3, 0, -0.25, 0, 0, 0, 9223372036854775808, '', '1999-12-31 23:59:59.999', NULL)",
	} {
		if err := db.DB().Exec(ins).Error; err != nil {
			t.Fatal(err)
		}
	}
	return table
}

func wantFidelity(t *testing.T, how string, got []fidelityRow) {
	t.Helper()
	at := time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)
	if len(got) != 3 {
		t.Fatalf("%s: %d rows, want 3", how, len(got))
	}
	r := got[0]
	if r.PBool == nil || !*r.PBool || r.PNum == nil || *r.PNum != 1.5 || r.PU64 == nil || *r.PU64 != math.MaxUint64 ||
		!r.Flag || r.Num != 2.25 || r.U64 != math.MaxUint64-1 || r.Name != "a" || !r.At.Equal(at) || r.At.Location() != time.UTC ||
		r.PAt == nil || !r.PAt.Equal(at) {
		t.Errorf("%s: row 1 = %+v", how, r)
	}
	if r := got[1]; r.PBool != nil || r.PNum != nil || r.PU64 != nil || r.Flag || r.Num != 0 || r.U64 != 0 || r.Name != "" || !r.At.IsZero() || r.PAt != nil {
		t.Errorf("%s: row 2 (NULLs) = %+v, want zero values", how, r)
	}
	if r := got[2]; r.PBool == nil || *r.PBool || r.PNum == nil || *r.PNum != -0.25 || r.PU64 == nil || *r.PU64 != 0 || r.U64 != 1<<63 {
		t.Errorf("%s: row 3 = %+v", how, r)
	}
}

// Bug (a): Get's fast path failed with "failed to set value 1 to field
// PBool" for a non-nil *bool, *float64 on DECIMAL and *uint64 above
// MaxInt64, on tables written by other clients. Every read path, with
// prepared statements and without, in a transaction and outside, reads
// them as gorm does.
func TestReadsConvertLikeGorm(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{{}, {DisablePreparedStmt: true}} {
		db := openTest(t, cfg)
		table := rawFidelityTable(t, db)
		for _, opts := range [][]StoreOption{{WithTable(table)}, {WithTable(table), WithQueryCallbacks()}} {
			s, err := NewStore[fidelityRow](db, opts...)
			if err != nil {
				t.Fatal(err)
			}
			check := func(ctx context.Context, how string) {
				var got []fidelityRow
				for _, id := range []int64{1, 2, 3} {
					r, err := s.Get(ctx, id)
					if err != nil {
						t.Fatalf("%s: Get(%d): %v", how, id, err)
					}
					got = append(got, *r)
				}
				wantFidelity(t, how+" Get", got)
				found, err := s.Find(ctx, ports.All())
				if err != nil {
					t.Fatalf("%s: Find: %v", how, err)
				}
				wantFidelity(t, how+" Find", found)
				var streamed []fidelityRow
				for r, err := range s.Stream(ctx, ports.All()) {
					if err != nil {
						t.Fatalf("%s: Stream: %v", how, err)
					}
					streamed = append(streamed, r)
				}
				wantFidelity(t, how+" Stream", streamed)
				page, err := s.FindPage(ctx, ports.All().Limit(10), "")
				if err != nil {
					t.Fatalf("%s: FindPage: %v", how, err)
				}
				wantFidelity(t, how+" FindPage", page.Items)
			}
			name := "prepared"
			if cfg.DisablePreparedStmt {
				name = "unprepared"
			}
			if len(opts) > 1 {
				name += ", callbacks"
			}
			check(ctx, name)
			if err := db.WithinTx(ctx, func(ctx context.Context) error { check(ctx, name+", in a transaction"); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A value that does not fit its field is ErrInvalid naming the column,
// never the value.
func TestReadOfAnUnfitValueIsInvalid(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	table := testenv.UniqueName("pk_my_unfit")
	if err := db.DB().Exec("CREATE TABLE `" + table + "` (`id` bigint PRIMARY KEY, `qty` varchar(20))").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	if err := db.DB().Exec("INSERT INTO `" + table + "` VALUES (1, 'secret-abc')").Error; err != nil {
		t.Fatal(err)
	}
	type unfit struct {
		ID  int64
		Qty int
	}
	for _, opts := range [][]StoreOption{{WithTable(table)}, {WithTable(table), WithQueryCallbacks()}} {
		s, err := NewStore[unfit](db, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Get(ctx, int64(1))
		if ports.KindOf(err) != ports.ErrInvalid || strings.Contains(err.Error(), "secret") {
			t.Errorf("Get of a text in an int field: %v, want ErrInvalid without the value", err)
		}
		_, err = s.Find(ctx, ports.All())
		if ports.KindOf(err) != ports.ErrInvalid || !strings.Contains(err.Error(), "qty") || strings.Contains(err.Error(), "secret") {
			t.Errorf("Find of a text in an int field: %v, want ErrInvalid naming the column, not the value", err)
		}
	}
}

// Bug (b): CreateMany([{}, {ID:100}, {}, {}]) handed back ids 1, 100, 2,
// 3 while MySQL stored 1, 100, 101, 102.
func TestCreateManyExplicitKeyHandsBackStoredKeys(t *testing.T) {
	ctx := context.Background()
	s := newItemStore(t, openTest(t, Config{}))
	items := []*portstest.Item{{SKU: "a"}, {ID: 100, SKU: "b"}, {SKU: "c"}, {SKU: "d"}, {ID: 50, SKU: "e"}, {SKU: "f"}}
	if err := s.CreateMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		got, err := s.Get(ctx, it.ID)
		if err != nil || got.SKU != it.SKU {
			t.Errorf("item %s handed back id %d, which holds %+v (%v)", it.SKU, it.ID, got, err)
		}
	}
	// (After a statement mixing explicit and generated keys InnoDB may
	// skip values, so f's key is whatever the server gave: Get checks it.)
	if items[0].ID != 1 || items[1].ID != 100 || items[2].ID != 101 || items[3].ID != 102 || items[4].ID != 50 || items[5].ID <= 102 {
		t.Errorf("ids %d %d %d %d %d %d, want 1 100 101 102 50 and more", items[0].ID, items[1].ID, items[2].ID, items[3].ID, items[4].ID, items[5].ID)
	}
}

// A failed Create or CreateMany leaves the caller's entities as given (MySQL
// had set CreatedAt, UpdatedAt, defaults, and ids of rolled-back rows).
func TestFailedCreateLeavesEntities(t *testing.T) {
	ctx := context.Background()
	type withDefaults struct {
		ID        int64
		SKU       string `gorm:"size:16;uniqueIndex"`
		Status    string `gorm:"size:16;default:new"`
		Version   ports.Version
		CreatedAt time.Time
		UpdatedAt time.Time
	}
	db := openTest(t, Config{})
	s, err := NewStore[withDefaults](db, WithTable(testenv.UniqueName("pk_my_defaults")), WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s.Table()) })
	first := withDefaults{SKU: "dup"}
	if err := s.Create(ctx, &first); err != nil {
		t.Fatal(err)
	}
	if first.Status != "new" || first.Version != 1 || first.CreatedAt.IsZero() || first.ID == 0 {
		t.Errorf("a successful Create fills in what the store set: %+v", first)
	}
	dup := withDefaults{SKU: "dup"}
	if err := s.Create(ctx, &dup); ports.KindOf(err) != ports.ErrConflict {
		t.Fatalf("Create of a duplicate: %v, want ErrConflict", err)
	}
	if dup != (withDefaults{SKU: "dup"}) {
		t.Errorf("a failed Create changed the entity: %+v", dup)
	}
	many := []*withDefaults{{SKU: "m1"}, {SKU: "m2"}, {SKU: "m3"}, {SKU: "m4"}, {SKU: "dup"}}
	if err := s.CreateMany(ctx, many); ports.KindOf(err) != ports.ErrConflict {
		t.Fatalf("CreateMany ending in a duplicate: %v, want ErrConflict", err)
	}
	for _, e := range many {
		if *e != (withDefaults{SKU: e.SKU}) {
			t.Errorf("a failed CreateMany changed an entity: %+v", *e)
		}
	}
	if n, err := s.Count(ctx, ports.All()); err != nil || n != 1 {
		t.Errorf("rows after a failed CreateMany: %d, %v, want 1", n, err)
	}
}

// The portable rules apply before anything is sent, on writes, patches
// and queries: ErrInvalid naming the field, no row written.
func TestPortableRulesBeforeSending(t *testing.T) {
	ctx := context.Background()
	type ranges struct {
		ID    int64
		Name  string `gorm:"size:8"`
		Key   string `gorm:"index"` // unsized with an index: varchar(191)
		Text  string // longtext
		Small int    `gorm:"size:8"` // tinyint
		U32   uint32
		U64   uint64
		F     float64
		At    time.Time
		PAt   *time.Time
	}
	db := openTest(t, Config{})
	s, err := NewStore[ranges](db, WithTable(testenv.UniqueName("pk_my_ranges")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s.Table()) })
	y10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, e := range map[string]ranges{
		"9 characters in size:8":     {Name: "123456789"},
		"invalid UTF-8":              {Name: "\xff\xfe"},
		"192 characters in an index": {Key: strings.Repeat("k", 192)},
		"17 MiB in a longtext":       {Text: strings.Repeat("t", 17<<20)},
		"128 in a tinyint":           {Small: 128},
		"NaN":                        {F: math.NaN()},
		"+Inf":                       {F: math.Inf(1)},
		"year 10000":                 {At: y10000},
		"year 0":                     {PAt: ptrTo(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC))},
		"two 9 MiB strings in a row": {Text: strings.Repeat("t", 9<<20), Key: "", Name: ""},
	} {
		if name == "two 9 MiB strings in a row" {
			continue // below, with two columns
		}
		e := e
		if err := s.Create(ctx, &e); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("Create with %s: %v, want ErrInvalid", name, err)
		}
	}
	ok := ranges{Small: -128, U32: math.MaxUint32, U64: math.MaxUint64, F: math.Copysign(0, -1), At: time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)}
	ok.Name = "éééééééé" // 8 characters, 16 bytes
	if err := s.Create(ctx, &ok); err != nil {
		t.Fatalf("Create within every limit: %v", err)
	}
	got, err := s.Get(ctx, ok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.U64 != math.MaxUint64 || got.U32 != math.MaxUint32 || got.Small != -128 || got.Name != ok.Name || math.Signbit(got.F) || !got.At.Equal(ok.At) {
		t.Errorf("stored %+v, read back %+v (-0.0 comes back 0)", ok, got)
	}
	if n, _ := s.Count(ctx, ports.All()); n != 1 {
		t.Errorf("%d rows, want only the valid one", n)
	}
	for name, p := range map[string]ports.Patch{
		"9 characters":   ports.Set("Name", "123456789"),
		"invalid UTF-8":  ports.Set("Name", "\xff"),
		"NaN":            ports.Set("F", math.NaN()),
		"year 10000":     ports.Set("At", y10000),
		"128 in tinyint": ports.Set("Small", 128),
	} {
		if err := s.Patch(ctx, ok.ID, p); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("Patch with %s: %v, want ErrInvalid", name, err)
		}
	}
	for name, q := range map[string]ports.Query{
		"invalid UTF-8":    ports.Where("Name", ports.Eq, "\xff"),
		"NaN":              ports.Where("F", ports.Lt, math.NaN()),
		"70 000 In values": ports.Where("Small", ports.In, make([]int, 70000)),
	} {
		if _, err := s.Find(ctx, q); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("Find with %s: %v, want ErrInvalid", name, err)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// Tables are created with utf8mb4_general_ci and datetime(3).
func TestMigrateCollationAndPrecision(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	var collation string
	if err := db.DB().Raw("SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", s.Table()).Scan(&collation).Error; err != nil {
		t.Fatal(err)
	}
	if collation != Collation {
		t.Errorf("table collation %q, want %q", collation, Collation)
	}
	var colType string
	if err := db.DB().Raw("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'created_at'", s.Table()).Scan(&colType).Error; err != nil {
		t.Fatal(err)
	}
	if colType != "datetime(3)" {
		t.Errorf("created_at is %q, want datetime(3)", colType)
	}
	// The collation at work: case-insensitive unique index and equality.
	if err := s.Create(ctx, &portstest.Item{SKU: "abc"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, &portstest.Item{SKU: "ABC"}); ports.KindOf(err) != ports.ErrConflict {
		t.Errorf("Create of ABC after abc: %v, want ErrConflict under %s", err, Collation)
	}
	if got, err := s.Find(ctx, ports.Where("SKU", ports.Eq, "ABC ")); err != nil || len(got) != 1 {
		t.Errorf("Find SKU = 'ABC ': %+v, %v, want abc", got, err)
	}
}

// Update writes every column but the key and CreatedAt (it wrote a zero
// CreatedAt), and sets UpdatedAt.
func TestUpdateKeepsCreatedAt(t *testing.T) {
	ctx := context.Background()
	type stamped struct {
		ID        int64
		Name      string `gorm:"size:16"`
		CreatedAt time.Time
		UpdatedAt time.Time
	}
	db := openTest(t, Config{})
	s, err := NewStore[stamped](db, WithTable(testenv.UniqueName("pk_my_stamped")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s.Table()) })
	e := stamped{Name: "a"}
	if err := s.Create(ctx, &e); err != nil {
		t.Fatal(err)
	}
	created := e.CreatedAt
	if created.IsZero() || created.Location() != time.UTC || created.Nanosecond()%1e6 != 0 {
		t.Errorf("CreatedAt %v, want now in UTC at ms", created)
	}
	for _, c := range []time.Time{{}, created.Add(time.Hour)} {
		u := stamped{ID: e.ID, Name: "b", CreatedAt: c}
		if err := s.Update(ctx, &u); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(created) || got.Name != "b" || got.UpdatedAt.IsZero() {
			t.Errorf("after Update with CreatedAt %v: %+v, want CreatedAt %v kept", c, got, created)
		}
	}
}
