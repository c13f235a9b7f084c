package fakes_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

type word struct {
	ID   int64
	Name string `gorm:"size:20"`
	Code string `gorm:"size:20;uniqueIndex"`
}

type keyed struct {
	Code string `gorm:"primaryKey;size:20"`
	N    int
}

func names(ws []word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name
	}
	return out
}

// collationOrder is the order MariaDB 10.11 gives these strings with
// ORDER BY name, id in a utf8mb4_general_ci column when they are inserted
// in this order (measured).
var collationOrder = []string{"A", "a", "ä", "b", "B", "é", "e", "É", "f", "Z", "z"}

// On MySQL (the default dialect) strings follow utf8mb4_general_ci, as
// adapters/mysql creates its tables.
func TestSQLCollationMySQL(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[word](t)
	for i, n := range collationOrder {
		must(t, "Create "+n, s.Create(ctx, &word{Name: n, Code: strconv.Itoa(i)}))
	}
	// Insert the rest in another order than their keys would sort.
	for _, n := range []string{"cafe", "abc", "café ", "ABC ", "a\t"} {
		must(t, "Create "+n, s.Create(ctx, &word{Name: n, Code: n + "#"}))
	}
	all, err := s.Find(ctx, ports.Where("ID", ports.Lte, int64(len(collationOrder))).OrderBy("Name"))
	must(t, "Find ordered", err)
	if got := names(all); !slices.Equal(got, collationOrder) {
		t.Errorf("ORDER BY Name = %q, want %q", got, collationOrder)
	}
	for _, c := range []struct {
		q    ports.Query
		want []string
	}{
		{ports.Where("Name", ports.Eq, "CAFÉ"), []string{"cafe", "café "}}, // case, accent, PAD SPACE
		{ports.Where("Name", ports.Eq, "abc"), []string{"abc", "ABC "}},    // trailing spaces ignored
		{ports.Where("Name", ports.In, []string{"E", "z"}), []string{"é", "e", "É", "Z", "z"}},
		{ports.Where("Name", ports.Lt, "a"), []string{"a\t"}},                  // 'a\t' < 'a' under PAD SPACE
		{ports.Where("Name", ports.Gt, "Z").And("Name", ports.Lte, "zz"), nil}, // z = Z, nothing between
		{ports.Where("Name", ports.Gte, "CAFE").And("Name", ports.Lt, "CAFF"), []string{"cafe", "café "}},
	} {
		got, err := s.Find(ctx, c.q)
		must(t, c.q.String(), err)
		if !slices.Equal(names(got), c.want) && !(len(got) == 0 && c.want == nil) {
			t.Errorf("%v (values %v) = %q, want %q", c.q, c.q.Conditions(), names(got), c.want)
		}
	}
	// Unique indexes collide by the collation.
	wantKind(t, "unique value differing only in case", s.Create(ctx, &word{Name: "x", Code: "ABC#"}), ports.ErrConflict)
	wantKind(t, "unique value differing in trailing spaces", s.Create(ctx, &word{Name: "x", Code: "abc# "}), ports.ErrConflict)
	wantKind(t, "unique value differing in accents", s.Create(ctx, &word{Name: "x", Code: "CAFÉ#"}), ports.ErrConflict)

	// So do string primary keys, and Get compares by the collation.
	k, db, _ := newSQL[keyed](t)
	_ = db
	must(t, "Create abc", k.Create(ctx, &keyed{Code: "abc", N: 1}))
	wantKind(t, "Create ABC after abc", k.Create(ctx, &keyed{Code: "ABC"}), ports.ErrConflict)
	wantKind(t, "Create 'abc ' after abc", k.Create(ctx, &keyed{Code: "abc "}), ports.ErrConflict)
	got, err := k.Get(ctx, "ÁBC")
	if err != nil || got.Code != "abc" || got.N != 1 {
		t.Errorf("Get(ÁBC) = %+v, %v; want the row abc", got, err)
	}
	must(t, "Patch through another spelling of the key", k.Patch(ctx, "ABC  ", ports.Inc("N", 1)))
	must(t, "Delete through another spelling of the key", k.Delete(ctx, "Abc"))
	if n, _ := k.Count(ctx, ports.All()); n != 0 {
		t.Errorf("Count after Delete(Abc) = %d", n)
	}
}

// On Postgres strings compare bytewise, trailing spaces included, as
// adapters/postgres creates its tables (COLLATE "C").
func TestSQLCollationPostgres(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[word](t, fakes.WithDialect(fakes.Postgres))
	for _, n := range collationOrder {
		must(t, "Create "+n, s.Create(ctx, &word{Name: n, Code: n}))
	}
	all, err := s.Find(ctx, ports.All().OrderBy("Name"))
	must(t, "Find", err)
	want := slices.Clone(collationOrder)
	slices.Sort(want) // Go compares strings bytewise, as "C" does
	if got := names(all); !slices.Equal(got, want) {
		t.Errorf("ORDER BY Name = %q, want bytewise %q", got, want)
	}
	must(t, "Create of a unique value differing in case", s.Create(ctx, &word{Name: "x", Code: "A "}))
	got, err := s.Find(ctx, ports.Where("Code", ports.Eq, "A"))
	if err != nil || len(got) != 1 || got[0].Code != "A" {
		t.Errorf("Code = 'A' = %+v, %v; want only A ('A ' differs under NO PAD)", got, err)
	}
	k, _, _ := newSQL[keyed](t, fakes.WithDialect(fakes.Postgres))
	must(t, "Create abc", k.Create(ctx, &keyed{Code: "abc"}))
	must(t, "Create ABC", k.Create(ctx, &keyed{Code: "ABC"}))
	_, err = k.Get(ctx, "Abc")
	wantKind(t, "Get(Abc)", err, ports.ErrNotFound)
}
