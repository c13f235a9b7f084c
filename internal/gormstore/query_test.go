package gormstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// findSQL returns the SQL and parameters Find(q) (or FindPage with
// cursor) sends.
func findSQL[T any](t *testing.T, s *Store[T], q ports.Query, after clause.Expression) (string, []any) {
	t.Helper()
	var lp *clause.Limit
	if l, ok := limit(q); ok {
		lp = &l
	}
	tx, err := s.selectTx(context.Background(), q, after, lp)
	if err != nil {
		t.Fatalf("selectTx(%s): %v", q, err)
	}
	var out []T
	res := tx.Find(&out)
	if res.Error != nil {
		t.Fatalf("Find(%s): %v", q, res.Error)
	}
	return res.Statement.SQL.String(), res.Statement.Vars
}

const itemSelect = "SELECT `id`,`sku`,`name`,`qty`,`price`,`active`,`note`,`created_at` FROM `items` "

func TestQueryTranslation(t *testing.T) {
	s, err := NewStore[portstest.Item](dryDB(t), Options{Table: "items"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		q    ports.Query
		sql  string // the statement after itemSelect
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
		sql, vars := findSQL(t, s, tc.q, nil)
		checkSQL(t, tc.q.String(), sql, vars, itemSelect+tc.sql, tc.vars)
	}
}

func checkSQL(t *testing.T, name, sql string, vars []any, wantSQL string, wantVars []any) {
	t.Helper()
	if sql != wantSQL {
		t.Errorf("%s:\n got %s\nwant %s", name, sql, wantSQL)
	}
	if len(vars) != len(wantVars) {
		t.Errorf("%s: parameters %v, want %v", name, vars, wantVars)
		return
	}
	for i := range vars {
		if vt, ok := vars[i].(time.Time); ok {
			if !vt.Equal(wantVars[i].(time.Time)) {
				t.Errorf("%s: parameter %d = %v, want %v", name, i, vars[i], wantVars[i])
			}
		} else if vars[i] != wantVars[i] {
			t.Errorf("%s: parameter %d = %v (%T), want %v (%T)", name, i, vars[i], vars[i], wantVars[i], wantVars[i])
		}
	}
}

// The keyset condition of FindPage: "after the cursor's row" in the
// query's order, NULLs first ascending and last descending.
func TestKeysetTranslation(t *testing.T) {
	s, err := NewStore[portstest.Item](dryDB(t), Options{Table: "items"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    ports.Query
		vals []any
		sql  string
		vars []any
	}{
		{ports.All().Limit(2), []any{int64(7)}, "WHERE `id` > ? ORDER BY `id` LIMIT ?", []any{int64(7), 2}},
		{ports.All().OrderBy("-Qty").Limit(2), []any{int64(3), int64(7)},
			"WHERE (`qty` < ? OR (`qty` = ? AND `id` > ?)) ORDER BY `qty` DESC,`id` LIMIT ?", []any{int64(3), int64(3), int64(7), 2}},
		{ports.Where("Active", ports.Eq, true).OrderBy("Note").Limit(2), []any{nil, int64(7)},
			"WHERE `active` = ? AND (`note` IS NOT NULL OR (`note` IS NULL AND `id` > ?)) ORDER BY `note`,`id` LIMIT ?", []any{true, int64(7), 2}},
		{ports.All().OrderBy("-Note").Limit(2), []any{"n", int64(7)},
			"WHERE (`note` < ? OR `note` IS NULL OR (`note` = ? AND `id` > ?)) ORDER BY `note` DESC,`id` LIMIT ?", []any{"n", "n", int64(7), 2}},
	} {
		after, err := s.cols.keyset(ports.Keyset(tc.q, s.pkPath, tc.vals))
		if err != nil {
			t.Fatal(err)
		}
		sql, vars := findSQL(t, s, tc.q, after)
		checkSQL(t, tc.q.String(), sql, vars, itemSelect+tc.sql, tc.vars)
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
	s, err := NewStore[customer](dryDB(t), Options{})
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
		OrderBy("-Home.Zip"), nil)
	want := "SELECT `id`,`created_at`,`name`,`nick_name`,`home_city`,`home_zip` FROM `customers` WHERE `id` > ? AND `created_at` < ? AND `nick_name` = ? AND `home_city` = ? ORDER BY `home_zip` DESC,`id`"
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
	s, err := NewStore[portstest.Item](dryDB(t), Options{Table: "items"})
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
		ports.Where("Name", ports.Eq, "\xff"),
	} {
		if _, err := s.Find(ctx, q); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Find(%s): %v, want ErrInvalid", q, err)
		} else if !strings.HasPrefix(err.Error(), "test: find items: invalid argument: ") {
			t.Errorf("Find(%s): error %q does not name backend and operation once", q, err)
		}
		if _, err := s.Count(ctx, q); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Count(%s): %v, want ErrInvalid", q, err)
		}
		for range s.Stream(ctx, q) {
		}
		var got error
		for _, err := range s.Stream(ctx, q) {
			got = err
		}
		if !errors.Is(got, ports.ErrInvalid) {
			t.Errorf("Stream(%s): %v, want ErrInvalid", q, got)
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
	for name, call := range map[string]func() error{
		"FindPage without a limit":  func() error { _, err := s.FindPage(ctx, ports.All(), ""); return err },
		"FindPage with an offset":   func() error { _, err := s.FindPage(ctx, ports.All().Limit(2).Offset(1), ""); return err },
		"FindPage forged cursor":    func() error { _, err := s.FindPage(ctx, ports.All().Limit(2), "eyJ2IjoxfQ"); return err },
		"DeleteWhere, no condition": func() error { _, err := s.DeleteWhere(ctx, ports.All()); return err },
		"DeleteWhere with a limit": func() error {
			_, err := s.DeleteWhere(ctx, ports.Where("Qty", ports.Eq, 1).Limit(1))
			return err
		},
		"Patch of the key":        func() error { return s.Patch(ctx, int64(1), ports.Set("ID", int64(2))) },
		"Patch, unknown field":    func() error { return s.Patch(ctx, int64(1), ports.Set("Nope", 1)) },
		"Patch, empty":            func() error { return s.Patch(ctx, int64(1), ports.Patch{}) },
		"Patch, too long":         func() error { return s.Patch(ctx, int64(1), ports.Set("SKU", strings.Repeat("x", 65))) },
		"Patch, IfVersion":        func() error { return s.Patch(ctx, int64(1), ports.Set("Qty", 1).IfVersion(1)) },
		"DeleteIfVersion":         func() error { return s.DeleteIfVersion(ctx, int64(1), 1) },
		"Upsert without a key":    func() error { return s.Upsert(ctx, &portstest.Item{}) },
		"Create, too long":        func() error { return s.Create(ctx, &portstest.Item{SKU: strings.Repeat("é", 65)}) },
		"Update, invalid UTF-8":   func() error { return s.Update(ctx, &portstest.Item{ID: 1, Name: "\xff"}) },
		"CreateMany, nil element": func() error { return s.CreateMany(ctx, []*portstest.Item{{}, nil}) },
		"WithinTx, nil fn":        func() error { return s.db.WithinTx(ctx, nil) },
	} {
		if err := call(); !errors.Is(err, ports.ErrInvalid) || ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

type (
	twoKeys struct {
		A int64 `gorm:"primaryKey"`
		B int64 `gorm:"primaryKey"`
	}
	twoVersions struct {
		ID int64
		V1 ports.Version
		V2 ports.Version
	}
	softItem struct {
		ID      int64
		Name    string
		Deleted gorm.DeletedAt
	}
)

func TestNewStoreRejects(t *testing.T) {
	db := dryDB(t)
	for name, f := range map[string]func() error{
		"nil DB":        func() error { _, err := NewStore[portstest.Item](nil, Options{}); return err },
		"not a struct":  func() error { _, err := NewStore[int](db, Options{}); return err },
		"composite key": func() error { _, err := NewStore[twoKeys](db, Options{}); return err },
		"two versions":  func() error { _, err := NewStore[twoVersions](db, Options{}); return err },
		"table expression": func() error {
			_, err := NewStore[portstest.Item](db, Options{Table: "items; DROP TABLE x"})
			return err
		},
		"quoted table":   func() error { _, err := NewStore[portstest.Item](db, Options{Table: "it`ems"}); return err },
		"negative batch": func() error { _, err := NewStore[portstest.Item](db, Options{BatchSize: -1}); return err },
	} {
		if err := f(); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("NewStore with %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewStore[portstest.Item](db, Options{Table: "test.items_1"}); err != nil {
		t.Errorf("NewStore with a qualified table: %v", err)
	}
}

func TestGetPlan(t *testing.T) {
	db := dryDB(t)
	s, err := NewStore[portstest.Item](db, Options{Table: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if s.get == nil || s.get.sql != itemSelect+"WHERE `id` = ? LIMIT ?" || len(s.get.vars) != 2 || s.get.idIdx != 0 {
		t.Errorf("Get plan of Item = %+v", s.get)
	}
	if !s.read.direct {
		t.Errorf("Item's columns are not all decoded directly")
	}
	soft, err := NewStore[softItem](db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if soft.get == nil || !strings.Contains(soft.get.sql, "`deleted` IS NULL") {
		t.Errorf("Get plan of a soft-delete model = %+v, want the deleted condition", soft.get)
	}
	cb, err := NewStore[portstest.Item](db, Options{QueryCallbacks: true})
	if err != nil {
		t.Fatal(err)
	}
	if cb.get != nil {
		t.Errorf("QueryCallbacks: the store got a Get plan")
	}
}

// A unique NOT NULL sort key orders every row: the primary key is not
// appended to the ORDER BY (MariaDB then sorts by the key's index).
func TestOrderByStopsAtATotalKey(t *testing.T) {
	type coded struct {
		ID   int64
		Code string `gorm:"size:8;not null;uniqueIndex"`
		Name string `gorm:"size:8;uniqueIndex"` // nullable: NULLs tie
	}
	s, err := NewStore[coded](dryDB(t), Options{Table: "coded"})
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"Code":  "ORDER BY `code`",
		"-Code": "ORDER BY `code` DESC",
		"Name":  "ORDER BY `name`,`id`",
	} {
		sql, _ := findSQL(t, s, ports.All().OrderBy(q), nil)
		if !strings.HasSuffix(sql, want) {
			t.Errorf("OrderBy(%s): %s, want it to end with %s", q, sql, want)
		}
	}
}
