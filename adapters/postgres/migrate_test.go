package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// drizzleTable creates a table as drizzle-kit would for a PostgreSQL
// schema (varchar(255) NOT NULL, numeric(10,2), defaults, a UNIQUE
// constraint), with one row.
func drizzleTable(t *testing.T, db *DB) string {
	t.Helper()
	table := testenv.UniqueName("pk_pg_products")
	q := quoteIdent(table)
	ddl := "CREATE TABLE " + q + " (" +
		`"id" bigserial PRIMARY KEY, ` +
		`"name" varchar(255) NOT NULL, ` +
		`"price" numeric(10,2) NOT NULL DEFAULT 0.00, ` +
		`"stock" integer NOT NULL DEFAULT 0, ` +
		`"sku" varchar(64) NOT NULL CONSTRAINT ` + quoteIdent(table+"_sku_unique") + ` UNIQUE, ` +
		`"note" varchar(100), ` +
		`"created_at" timestamptz NOT NULL DEFAULT now())`
	if err := db.DB().Exec(ddl).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	if err := db.DB().Exec("INSERT INTO " + q + " (name, price, stock, sku) VALUES ('kept', 9.99, 3, 'k-1')").Error; err != nil {
		t.Fatal(err)
	}
	return table
}

// describe renders the columns and indexes of table, from the catalog.
func describe(t *testing.T, db *DB, table string) string {
	t.Helper()
	type col struct {
		ColumnName, DataType, IsNullable string
		CharacterMaximumLength           *int
		NumericPrecision, NumericScale   *int
		ColumnDefault, CollationName     *string
	}
	var cols []col
	if err := db.DB().Raw(`SELECT column_name, data_type, is_nullable, character_maximum_length, numeric_precision, numeric_scale, column_default, collation_name
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table).Scan(&cols).Error; err != nil {
		t.Fatal(err)
	}
	var idx []string
	if err := db.DB().Raw(`SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ? ORDER BY indexname`, table).Scan(&idx).Error; err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range cols {
		fmt.Fprintf(&b, "%s %s null=%s len=%v num=%v,%v default=%v collation=%v\n", c.ColumnName, c.DataType, c.IsNullable,
			deref(c.CharacterMaximumLength), deref(c.NumericPrecision), deref(c.NumericScale), deref(c.ColumnDefault), deref(c.CollationName))
	}
	for _, i := range idx {
		b.WriteString(i + "\n")
	}
	return b.String()
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// Migrate never changes an existing column or index: a model that
// differs is ErrConflict naming each difference, and the table stays as
// it was; a model that only adds gets its columns and indexes added.
func TestMigrateNeverDestroys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	table := drizzleTable(t, db)
	before := describe(t, db, table)

	type naive struct { // what gorm would make of the table: types differ
		ID        int64
		Name      string
		Price     float64
		Stock     int64
		SKU       string
		Note      string `gorm:"size:100;not null"`
		CreatedAt time.Time
	}
	s, err := NewStore[naive](db, WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(ctx)
	if ports.KindOf(err) != ports.ErrConflict {
		t.Fatalf("Migrate of a differing model: %v, want ErrConflict", err)
	}
	var sc *gormstore.SchemaConflict
	if !errors.As(err, &sc) {
		t.Fatalf("Migrate's error %v does not carry the differences", err)
	}
	for _, col := range []string{"`name`", "`price`", "`stock`", "`sku`", "`note`"} {
		if !strings.Contains(err.Error(), "column "+col) {
			t.Errorf("the conflict does not name column %s: %v", col, err)
		}
	}
	if after := describe(t, db, table); after != before {
		t.Errorf("Migrate changed the table:\nbefore %s\nafter  %s", before, after)
	}

	type matching struct { // the table as it is, plus two new fields
		ID        int64     `gorm:"primaryKey"`
		Name      string    `gorm:"size:255;not null"`
		Price     float64   `gorm:"type:numeric(10,2);not null;default:0.00"`
		Stock     int32     `gorm:"not null;default:0"`
		SKU       string    `gorm:"size:64;not null;uniqueIndex"`
		Note      *string   `gorm:"size:100"`
		CreatedAt time.Time `gorm:"not null;default:now()"`
		Color     *string   `gorm:"size:16"`
		Weight    int       `gorm:"index"`
	}
	m, err := NewStore[matching](db, WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(ctx); err != nil {
		t.Fatalf("Migrate of a model that only adds: %v", err)
	}
	after := describe(t, db, table)
	for _, line := range strings.Split(strings.TrimSpace(before), "\n") {
		if !strings.Contains(after, line) {
			t.Errorf("Migrate changed %q:\n%s", line, after)
		}
	}
	for _, want := range []string{"color character varying null=YES len=16", "(weight)"} {
		if !strings.Contains(after, want) {
			t.Errorf("Migrate did not add %q:\n%s", want, after)
		}
	}
	got, err := m.Find(ctx, ports.All())
	if err != nil || len(got) != 1 || got[0].Name != "kept" || got[0].Price != 9.99 || got[0].Stock != 3 {
		t.Errorf("the row after Migrate: %+v, %v", got, err)
	}
	// A second Migrate finds nothing to do (and reads the changed table
	// afresh).
	if err := m.Migrate(ctx); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
}

// Tables Migrate creates: text columns in COLLATE "C", times in
// timestamptz (microseconds), floats as binary floats.
func TestMigrateCollationAndTypes(t *testing.T) {
	db := openTest(t, Config{})
	type typed struct {
		ID    int64
		Code  string `gorm:"size:20;uniqueIndex"`
		Text  string
		Note  *string
		F     float64
		F32   float32
		Money float64 `gorm:"type:numeric(10,2)"`
		At    time.Time
	}
	s := newTestStore[typed](t, db, "pk_pg_typed")
	d := describe(t, db, s.Table())
	for _, want := range []string{
		"code character varying null=YES len=20 num=<nil>,<nil> default=<nil> collation=C",
		"text text null=YES len=<nil> num=<nil>,<nil> default=<nil> collation=C",
		"note text null=YES len=<nil> num=<nil>,<nil> default=<nil> collation=C",
		"f double precision", "f32 real", "money numeric null=YES len=<nil> num=10,2",
		"at timestamp with time zone",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("the table lacks %q:\n%s", want, d)
		}
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Errorf("Migrate of the table it created: %v", err)
	}
}
