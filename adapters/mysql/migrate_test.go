package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// drizzleTable creates a table as drizzle-kit would for a MySQL schema
// (varchar(255) NOT NULL, decimal(10,2), defaults, a UNIQUE constraint).
func drizzleTable(t *testing.T, db *DB) string {
	t.Helper()
	table := testenv.UniqueName("pk_my_products")
	ddl := "CREATE TABLE `" + table + "` (" +
		"`id` bigint unsigned AUTO_INCREMENT NOT NULL, " +
		"`name` varchar(255) NOT NULL, " +
		"`price` decimal(10,2) NOT NULL DEFAULT '0.00', " +
		"`stock` int NOT NULL DEFAULT 0, " +
		"`sku` varchar(64) NOT NULL, " +
		"`note` varchar(100), " +
		"`created_at` timestamp NOT NULL DEFAULT current_timestamp(), " +
		"CONSTRAINT `products_id` PRIMARY KEY(`id`), " +
		"CONSTRAINT `products_sku_unique` UNIQUE(`sku`))"
	if err := db.DB().Exec(ddl).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	if err := db.DB().Exec("INSERT INTO `" + table + "` (name, price, stock, sku) VALUES ('kept', 9.99, 3, 'k-1')").Error; err != nil {
		t.Fatal(err)
	}
	return table
}

func showCreate(t *testing.T, db *DB, table string) string {
	t.Helper()
	var name, ddl string
	if err := db.DB().Raw("SHOW CREATE TABLE `"+table+"`").Row().Scan(&name, &ddl); err != nil {
		t.Fatal(err)
	}
	return ddl
}

// Migrate never changes an existing column or index: a model that
// differs is ErrConflict naming each difference, and the table stays as
// it was (AutoMigrate turned varchar(255) NOT NULL into longtext NULL,
// decimal(10,2) into double, and dropped the defaults, NOT NULL and the
// UNIQUE index).
func TestMigrateNeverDestroys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	table := drizzleTable(t, db)
	before := showCreate(t, db, table)

	type naive struct { // what gorm would make of the table: every type differs
		ID        uint64
		Name      string
		Price     float64
		Stock     int
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
	for _, col := range []string{"`name`", "`price`", "`stock`", "`sku`", "`note`", "`created_at`"} {
		if !strings.Contains(err.Error(), "column "+col) {
			t.Errorf("the conflict does not name column %s: %v", col, err)
		}
	}
	if !strings.Contains(err.Error(), "varchar(255)") || !strings.Contains(err.Error(), "longtext") || !strings.Contains(err.Error(), "NOT NULL") {
		t.Errorf("the conflict does not say what differs: %v", err)
	}
	if after := showCreate(t, db, table); after != before {
		t.Errorf("Migrate changed the table:\nbefore %s\nafter  %s", before, after)
	}

	type matching struct { // the table as it is, plus two new fields
		ID        uint64    `gorm:"primaryKey"`
		Name      string    `gorm:"size:255;not null"`
		Price     float64   `gorm:"type:decimal(10,2);not null;default:0.00"`
		Stock     int32     `gorm:"not null;default:0"`
		SKU       string    `gorm:"size:64;not null;uniqueIndex"`
		Note      *string   `gorm:"size:100"`
		CreatedAt time.Time `gorm:"type:timestamp;not null;default:current_timestamp()"`
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
	after := showCreate(t, db, table)
	for _, line := range strings.Split(before, "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ",")
		if strings.HasPrefix(line, "`") || strings.Contains(line, "KEY") {
			if !strings.Contains(after, line) {
				t.Errorf("Migrate changed %q:\n%s", line, after)
			}
		}
	}
	for _, want := range []string{"`color` varchar(16)", "`weight` bigint", "KEY `idx_" + table + "_weight` (`weight`)"} {
		if !strings.Contains(after, want) {
			t.Errorf("Migrate did not add %s:\n%s", want, after)
		}
	}
	if strings.Count(after, "UNIQUE KEY") != 1 {
		t.Errorf("the unique index on sku exists under another name, yet Migrate added one:\n%s", after)
	}
	got, err := m.Find(ctx, ports.All())
	if err != nil || len(got) != 1 || got[0].Name != "kept" || got[0].Price != 9.99 || got[0].Stock != 3 {
		t.Errorf("the row after Migrate: %+v, %v", got, err)
	}
	// Migrate again: nothing to do.
	if err := m.Migrate(ctx); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
	// An index of the same name on other columns is a conflict.
	type otherIndex struct {
		ID     uint64 `gorm:"primaryKey"`
		Name   string `gorm:"size:255;not null;index:idx_weight_name"`
		Weight int    `gorm:"index:idx_weight_name"`
	}
	if err := db.DB().Exec("CREATE INDEX idx_weight_name ON `" + table + "` (weight)").Error; err != nil {
		t.Fatal(err)
	}
	o, err := NewStore[otherIndex](db, WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Migrate(ctx); ports.KindOf(err) != ports.ErrConflict || !strings.Contains(err.Error(), "index `idx_weight_name`") {
		t.Errorf("Migrate with an index that differs: %v, want ErrConflict naming it", err)
	}
}

// Migrate of the table it created itself finds no difference, whatever
// the field types: an application calls it at every start.
func TestMigrateTwice(t *testing.T) {
	type addr struct {
		City string `gorm:"size:32"`
		Zip  *int
	}
	type rich struct {
		ID        uint64 `gorm:"primaryKey"`
		Code      string `gorm:"size:8;not null;uniqueIndex"`
		Key       string `gorm:"index"`
		Status    string `gorm:"size:16;default:new"`
		Flag      bool   `gorm:"default:true"`
		PFlag     *bool
		Small     int8
		U32       uint32 `gorm:"not null;default:7"`
		U64       uint64
		F32       float32
		Dec       float64 `gorm:"type:decimal(12,3);default:1.5"`
		Text      string
		Blob      []byte
		At        time.Time
		PAt       *time.Time `gorm:"precision:6"`
		Home      addr       `gorm:"embedded;embeddedPrefix:home_"`
		Tags      []string   `gorm:"serializer:json"`
		Version   ports.Version
		CreatedAt time.Time
		UpdatedAt time.Time
		Deleted   gorm.DeletedAt `gorm:"index"`
	}
	ctx := context.Background()
	db := openTest(t, Config{})
	s, err := NewStore[rich](db, WithTable(testenv.UniqueName("pk_my_rich")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s.Table()) })
	before := showCreate(t, db, s.Table())
	if err := s.Migrate(ctx); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
	if after := showCreate(t, db, s.Table()); after != before {
		t.Errorf("second Migrate changed the table:\n%s\n%s", before, after)
	}
}
