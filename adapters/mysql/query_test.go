package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// dryDB returns a DB whose gorm builds statements without sending them
// (DryRun): enough to test translation with no server. Its pool points at
// a closed port and is never used.
func dryDB(t testing.TB) *DB {
	t.Helper()
	dc := mysqldrv.NewConfig()
	dc.Net, dc.Addr = "tcp", "127.0.0.1:1"
	conn, err := mysqldrv.NewConnector(dc)
	if err != nil {
		t.Fatal(err)
	}
	pool := sql.OpenDB(conn)
	t.Cleanup(func() { _ = pool.Close() })
	g, err := gorm.Open(dialector(pool, "10.11.0-MariaDB"), &gorm.Config{
		DryRun: true, DisableAutomaticPing: true, SkipDefaultTransaction: true,
		Logger: newSlogLogger(quietLog, 0, false),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &DB{gorm: g, primary: pool, log: quietLog, check: time.Second}
}

// findSQL returns the SQL and parameters Find(q) sends.
func findSQL[T any](t *testing.T, s *Store[T], q ports.Query) (string, []any) {
	t.Helper()
	tx, err := s.query(s.conn(context.Background()), q, true)
	if err != nil {
		t.Fatalf("query(%s): %v", q, err)
	}
	var out []T
	res := tx.Find(&out)
	if res.Error != nil {
		t.Fatalf("Find(%s): %v", q, res.Error)
	}
	return res.Statement.SQL.String(), res.Statement.Vars
}

func TestQueryTranslation(t *testing.T) {
	s, err := NewStore[portstest.Item](dryDB(t), WithTable("items"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		q    ports.Query
		sql  string // the statement after "SELECT * FROM `items` "
		vars []any
	}{
		{ports.All(), "ORDER BY `id`", nil},
		{ports.Where("Qty", ports.Eq, 10), "WHERE `qty` = ? ORDER BY `id`", []any{10}},
		{ports.Where("Note", ports.Eq, nil), "WHERE `note` IS NULL ORDER BY `id`", nil},
		{ports.Where("Note", ports.Eq, (*string)(nil)), "WHERE `note` IS NULL ORDER BY `id`", nil},
		{ports.Where("Note", ports.Ne, nil), "WHERE `note` IS NOT NULL ORDER BY `id`", nil},
		{ports.Where("Note", ports.Ne, "x"), "WHERE (`note` <> ? OR `note` IS NULL) ORDER BY `id`", []any{"x"}},
		{ports.Where("Qty", ports.Ne, 1), "WHERE `qty` <> ? ORDER BY `id`", []any{1}},
		{ports.Where("Price", ports.Lt, 1.5).And("Price", ports.Gte, 0.5), "WHERE `price` < ? AND `price` >= ? ORDER BY `id`", []any{1.5, 0.5}},
		{ports.Where("Qty", ports.Lte, 3).And("Qty", ports.Gt, 1), "WHERE `qty` <= ? AND `qty` > ? ORDER BY `id`", []any{3, 1}},
		{ports.Where("CreatedAt", ports.Gte, t0), "WHERE `created_at` >= ? ORDER BY `id`", []any{t0}},
		{ports.Where("Qty", ports.In, []int{1, 2}), "WHERE `qty` IN (?,?) ORDER BY `id`", []any{1, 2}},
		{ports.Where("Qty", ports.In, []int{}), "WHERE `qty` IN (NULL) ORDER BY `id`", nil},
		{ports.Where("Active", ports.Eq, true).And("Note", ports.Ne, "n"), "WHERE `active` = ? AND (`note` <> ? OR `note` IS NULL) ORDER BY `id`", []any{true, "n"}},
		{ports.All().OrderBy("-Price", "Name"), "ORDER BY `price` DESC,`name`,`id`", nil},
		{ports.All().OrderBy("-ID"), "ORDER BY `id` DESC", nil},
		{ports.All().Limit(5).Offset(10), "ORDER BY `id` LIMIT ? OFFSET ?", []any{5, 10}},
		{ports.All().Offset(3), "ORDER BY `id` LIMIT ? OFFSET ?", []any{int(^uint(0) >> 1), 3}},
		// A value is a parameter, whatever it holds.
		{ports.Where("Name", ports.Eq, "x' OR '1'='1"), "WHERE `name` = ? ORDER BY `id`", []any{"x' OR '1'='1"}},
	} {
		sql, vars := findSQL(t, s, tc.q)
		want := "SELECT * FROM `items` " + tc.sql
		if sql != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.q, sql, want)
		}
		if len(vars) != len(tc.vars) {
			t.Errorf("%s: parameters %v, want %v", tc.q, vars, tc.vars)
			continue
		}
		for i := range vars {
			if vt, ok := vars[i].(time.Time); ok {
				if !vt.Equal(tc.vars[i].(time.Time)) {
					t.Errorf("%s: parameter %d = %v, want %v", tc.q, i, vars[i], tc.vars[i])
				}
			} else if vars[i] != tc.vars[i] {
				t.Errorf("%s: parameter %d = %v, want %v", tc.q, i, vars[i], tc.vars[i])
			}
		}
	}
}

// Model shapes the column mapping must follow.
type (
	CustBase struct {
		ID        int64 `gorm:"primaryKey"`
		CreatedAt time.Time
	}
	custAddr struct {
		City string
		Zip  string
	}
	customer struct {
		CustBase
		Name   string
		Nick   string   `gorm:"column:nick_name"`
		Home   custAddr `gorm:"embedded;embeddedPrefix:home_"`
		Ignore string   `gorm:"-"`
	}
)

func TestQueryColumnMapping(t *testing.T) {
	s, err := NewStore[customer](dryDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Table() != "customers" {
		t.Errorf("table %q, want gorm's name customers", s.Table())
	}
	sql, _ := findSQL(t, s, ports.Where("ID", ports.Gt, 1).
		And("CreatedAt", ports.Lt, time.Now()).
		And("Nick", ports.Eq, "n").
		And("Home.City", ports.Eq, "Oslo").
		OrderBy("-Home.Zip"))
	want := "SELECT * FROM `customers` WHERE `id` > ? AND `created_at` < ? AND `nick_name` = ? AND `home_city` = ? ORDER BY `home_zip` DESC,`id`"
	if sql != want {
		t.Errorf("got  %s\nwant %s", sql, want)
	}
	// Ignore is a Go field the ports schema knows but gorm stores nowhere.
	_, err = s.Find(context.Background(), ports.Where("Ignore", ports.Eq, "x"))
	if !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Find on a field without a column: %v, want ErrInvalid", err)
	}
}

func TestQueryInvalidBeforeSending(t *testing.T) {
	s, err := NewStore[portstest.Item](dryDB(t), WithTable("items"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range []ports.Query{
		ports.Where("Qty = 1 OR 1", ports.Eq, 1),
		ports.Where("qty", ports.Eq, 1),
		ports.Where("Qty", ports.Op("; DROP TABLE items; --"), 1),
		ports.All().OrderBy("Qty; DROP TABLE items"),
		ports.Where("Qty", ports.Eq, "1"),
	} {
		if _, err := s.Find(ctx, q); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Find(%s): %v, want ErrInvalid", q, err)
		} else if !strings.HasPrefix(err.Error(), "mysql: find items: invalid argument: ") {
			t.Errorf("Find(%s): error %q does not name backend and operation", q, err)
		}
		if _, err := s.Count(ctx, q); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Count(%s): %v, want ErrInvalid", q, err)
		}
	}
	if _, err := s.Get(ctx, "1"); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Get with a string id for an integer key: %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, nil); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Get(nil): %v, want ErrInvalid", err)
	}
	if err := s.Delete(ctx, 1.5i); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Delete with a complex id: %v, want ErrInvalid", err)
	}
}

type (
	twoKeys struct {
		A int64 `gorm:"primaryKey"`
		B int64 `gorm:"primaryKey"`
	}
	softItem struct {
		ID      int64
		Name    string
		Deleted gorm.DeletedAt
	}
	hookItem struct {
		ID   int64
		Name string
	}
)

// AfterFind is a gorm hook; Get must run it.
func (h *hookItem) AfterFind(*gorm.DB) error { h.Name = "hooked " + h.Name; return nil }

func TestNewStoreRejects(t *testing.T) {
	db := dryDB(t)
	for name, f := range map[string]func() error{
		"nil DB":           func() error { _, err := NewStore[portstest.Item](nil); return err },
		"not a struct":     func() error { _, err := NewStore[int](db); return err },
		"composite key":    func() error { _, err := NewStore[twoKeys](db); return err },
		"table expression": func() error { _, err := NewStore[portstest.Item](db, WithTable("items; DROP TABLE x")); return err },
		"quoted table":     func() error { _, err := NewStore[portstest.Item](db, WithTable("it`ems")); return err },
		"zero batch":       func() error { _, err := NewStore[portstest.Item](db, WithBatchSize(0)); return err },
	} {
		if err := f(); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("NewStore with %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewStore[portstest.Item](db, WithTable("test.items_1")); err != nil {
		t.Errorf("NewStore with a qualified table: %v", err)
	}
}

func TestGetPlan(t *testing.T) {
	db := dryDB(t)
	s, err := NewStore[portstest.Item](db, WithTable("items"))
	if err != nil {
		t.Fatal(err)
	}
	if s.get == nil || s.get.sql != "SELECT `id`,`sku`,`name`,`qty`,`price`,`active`,`note`,`created_at` FROM `items` WHERE `id` = ? LIMIT ?" || len(s.get.vars) != 2 || s.get.idIdx != 0 {
		t.Errorf("Get plan of Item = %+v", s.get)
	}
	soft, err := NewStore[softItem](db)
	if err != nil {
		t.Fatal(err)
	}
	if soft.get == nil || !strings.Contains(soft.get.sql, "`deleted` IS NULL") {
		t.Errorf("Get plan of a soft-delete model = %+v, want the deleted condition", soft.get)
	}
	hook, err := NewStore[hookItem](db)
	if err != nil {
		t.Fatal(err)
	}
	if hook.get != nil {
		t.Errorf("a model with AfterFind got a Get plan; gorm's callbacks must run its hook")
	}
	cb, err := NewStore[portstest.Item](db, WithQueryCallbacks())
	if err != nil {
		t.Fatal(err)
	}
	if cb.get != nil {
		t.Errorf("WithQueryCallbacks: the store got a Get plan")
	}
}
