package gormstore

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/portkit/portkit/ports"
)

// fuzzRow is the model of FuzzQuerySQL: every comparison class, a
// nullable field and a gorm embedded struct.
type fuzzRow struct {
	ID     int64
	Name   string
	Qty    int
	Price  float64
	Active bool
	Note   *string
	At     time.Time
	Addr   fuzzAddr `gorm:"embedded;embeddedPrefix:addr_"`
}

type fuzzAddr struct {
	City string
	Zip  int
}

// fuzzTable is the table of fuzzRow; fuzzColumns are its columns, the only
// identifiers its SQL may hold besides the table.
const fuzzTable = "fuzz_rows"

var fuzzColumns = map[string]bool{
	"id": true, "name": true, "qty": true, "price": true, "active": true,
	"note": true, "at": true, "addr_city": true, "addr_zip": true,
}

// sqlKeywords are the words a translated SELECT may hold outside
// identifiers and placeholders.
var sqlKeywords = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true,
	"ORDER": true, "BY": true, "DESC": true, "ASC": true, "LIMIT": true,
	"OFFSET": true, "IN": true, "IS": true, "NOT": true, "NULL": true, "count": true,
}

var (
	sqlIdent = regexp.MustCompile("`((?:[^`]|``)*)`")
	sqlWord  = regexp.MustCompile(`[A-Za-z_]+`)
	// sqlRest is what may remain once identifiers are removed: keywords,
	// placeholders, numbers (LIMIT, OFFSET), operators and punctuation.
	// No quote, comment or statement separator.
	sqlRest = regexp.MustCompile(`^[A-Za-z_0-9 ,.()*=<>!?]*$`)
)

// fuzzDryStore returns a Store of fuzzRow over dryDB: a gorm that builds
// statements without sending them (DryRun).
func fuzzDryStore(tb testing.TB) *Store[fuzzRow] {
	tb.Helper()
	s, err := NewStore[fuzzRow](dryDB(tb), Options{Table: fuzzTable})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fuzzValue turns fuzzed input into a condition value of the kind k
// selects, wrong types and shapes included.
func fuzzValue(k uint8, s string, n int64) any {
	switch k % 11 {
	case 0:
		return s
	case 1:
		return n
	case 2:
		return float64(n) / 3
	case 3:
		return n%2 == 0
	case 4:
		return time.Unix(n%1e10, 0).UTC()
	case 5:
		return nil
	case 6:
		return []string{s, s + "'"}
	case 7:
		return []any{n, s}
	case 8:
		return map[string]any{s: n, "$ne": s}
	case 9:
		return &s
	default:
		return []int64{n, n + 1}
	}
}

// FuzzQuerySQL builds a Query from fuzzed field names, operators, values
// and sort keys, as an API taking them from user input would, and
// translates it to the SQL that Find and Count send (a gorm dry run, no
// server). Either the store rejects the query with ErrInvalid, or the SQL
// holds no identifier outside the model's columns and the table, nothing
// of the input outside placeholders, and no quote, comment or separator.
func FuzzQuerySQL(f *testing.F) {
	s := fuzzDryStore(f)
	f.Add("Name", "=", "x", int64(1), uint8(0), "-Qty", 10, 0)
	f.Add("Name) OR 1=1 --", "=", "x", int64(1), uint8(0), "", 0, 0)
	f.Add("Name", "= '' OR '1'='1", "x", int64(0), uint8(0), "", 0, 0)
	f.Add("Name", "=", "' OR '1'='1' -- ", int64(0), uint8(0), "Name; DROP TABLE fuzz_rows", 0, 0)
	f.Add("$where", "=", "sleep(1000)", int64(0), uint8(0), "", 0, 0)
	f.Add("a.$gt", "$gt", "", int64(0), uint8(8), "", 0, 0)
	f.Add("`x`", "=", "`x`", int64(0), uint8(0), "`id`", 0, 0)
	f.Add("Addr.City", "in", "Paris", int64(3), uint8(6), "+Addr.Zip", 5, 7)
	f.Add("Note", "!=", "", int64(0), uint8(5), "-Note", 0, 3)
	f.Add("At", ">=", "", int64(1700000000), uint8(4), "-At", -1, 0)
	f.Add("Qty", "in", "", int64(-5), uint8(10), "Price", 0, -2)
	f.Add("Active", "<", "", int64(2), uint8(3), "", 0, 0)
	f.Add("addr_city", "=", "x", int64(0), uint8(0), "name", 0, 0)
	f.Fuzz(func(t *testing.T, field, op, sval string, n int64, kind uint8, sortKey string, lim, offset int) {
		q := ports.Where(field, ports.Op(op), fuzzValue(kind, sval, n)).
			And("Qty", ports.Gte, 0).
			OrderBy(sortKey).
			Limit(lim % 1000).
			Offset(offset % 1000)
		if err := s.validate("find", q); err != nil {
			if !errors.Is(err, ports.ErrInvalid) {
				t.Fatalf("Query %s rejected with %v, want ErrInvalid", q, err)
			}
			return
		}
		ctx := context.Background()
		var lp *clause.Limit
		if l, ok := limit(q); ok {
			lp = &l
		}
		tx, err := s.selectTx(ctx, q, nil, lp)
		if err != nil {
			t.Fatalf("valid Query %s does not translate: %v", q, err)
		}
		var rows []fuzzRow
		checkFuzzSQL(t, q, tx.Find(&rows))
		ctx2, err := s.countTx(ctx, q)
		if err != nil {
			t.Fatalf("valid Query %s does not translate for Count: %v", q, err)
		}
		var count int64
		checkFuzzSQL(t, q, ctx2.Count(&count))
		// The same conditions as a keyset page after a row of q's order.
		if len(q.Orders()) > 0 && q.OffsetN() == 0 {
			vals := make([]any, len(ports.KeysetOrder(q, "ID")))
			after, err := s.cols.keyset(ports.Keyset(q, "ID", vals))
			if err != nil {
				t.Fatalf("keyset of %s: %v", q, err)
			}
			ptx, err := s.selectTx(ctx, q, after, lp)
			if err != nil {
				t.Fatalf("valid Query %s does not translate as a page: %v", q, err)
			}
			checkFuzzSQL(t, q, ptx.Find(&rows))
		}
	})
}

// checkFuzzSQL checks the dry run's statement.
func checkFuzzSQL(t *testing.T, q ports.Query, res *gorm.DB) {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("Query %s: dry run failed: %v", q, res.Error)
	}
	sqlText := res.Statement.SQL.String()
	for _, m := range sqlIdent.FindAllStringSubmatch(sqlText, -1) {
		if id := m[1]; id != fuzzTable && !fuzzColumns[id] {
			t.Fatalf("Query %s: SQL holds identifier %q, not a column of the model:\n%s", q, id, sqlText)
		}
	}
	rest := sqlIdent.ReplaceAllString(sqlText, "")
	if !sqlRest.MatchString(rest) {
		t.Fatalf("Query %s: SQL holds text outside identifiers and placeholders:\n%s", q, sqlText)
	}
	for _, w := range sqlWord.FindAllString(rest, -1) {
		if !sqlKeywords[w] {
			t.Fatalf("Query %s: SQL holds the word %q outside identifiers:\n%s", q, w, sqlText)
		}
	}
	if n := strings.Count(rest, "?"); n != len(res.Statement.Vars) {
		t.Fatalf("Query %s: %d placeholders for %d parameters:\n%s", q, n, len(res.Statement.Vars), sqlText)
	}
}
