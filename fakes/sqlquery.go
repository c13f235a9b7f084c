package fakes

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/portkit/portkit/internal/sqlrules"
	"github.com/portkit/portkit/ports"
)

// sqlQuery is a validated Query compiled against an sqlModel, evaluated on
// stored rows with the backend's rules: SQL NULL logic (plus the port's
// rule that Ne with a value on a pointer field also matches NULL), the
// column's collation for strings, numbers compared by value across integer
// and float kinds, NULL first ascending and last descending.
type sqlQuery struct {
	m      *sqlModel
	conds  []sqlCond
	orders []sqlOrder
	limit  int
	offset int
}

type sqlCond struct {
	c      *sqlCol
	op     ports.Op
	null   bool  // the value is nil: IS NULL / IS NOT NULL
	val    any   // the value, as the driver sends it
	set    []any // In's elements
	orNull bool  // Ne with a value on a pointer field: NULL matches too
}

type sqlOrder struct {
	c    *sqlCol
	desc bool
}

// compile turns q, already validated by the caller (Schema.Validate,
// ValidatePage or ValidateDeleteWhere), into an sqlQuery. A field without a
// readable column (gorm:"-", `->:false`) is an error, as on the adapter.
func (m *sqlModel) compile(q ports.Query) (*sqlQuery, error) {
	sq := &sqlQuery{m: m, limit: q.LimitN(), offset: q.OffsetN()}
	for _, c := range q.Conditions() {
		col, err := m.column(c.Field)
		if err != nil {
			return nil, err
		}
		f, _ := m.ps.Lookup(c.Field)
		if m.dialect == Postgres {
			if err := sqlrules.CheckQueryValue(m.dialect, c.Field, c.Value); err != nil {
				return nil, err
			}
		}
		sc := sqlCond{c: col, op: c.Op}
		switch {
		case c.Op == ports.In:
			v := reflect.ValueOf(c.Value)
			sc.set = make([]any, 0, v.Len())
			for i := range v.Len() {
				sc.set = append(sc.set, queryValue(v.Index(i), m.dialect))
			}
		default:
			sc.val = queryValue(reflect.ValueOf(c.Value), m.dialect)
			sc.null = sc.val == nil
			sc.orNull = c.Op == ports.Ne && !sc.null && f.Nullable
		}
		sq.conds = append(sq.conds, sc)
	}
	for _, o := range q.Orders() {
		col, err := m.column(o.Field)
		if err != nil {
			return nil, err
		}
		sq.orders = append(sq.orders, sqlOrder{c: col, desc: o.Desc})
	}
	return sq, nil
}

// column returns the readable column of a validated field path.
func (m *sqlModel) column(path string) (*sqlCol, error) {
	c, ok := m.byPath[path]
	if !ok {
		return nil, fmt.Errorf("%s field %q has no column", m.typ.Name(), path)
	}
	return c, nil
}

// queryValue turns a Query value into what the driver sends: pointers
// followed (nil for a nil one), numbers widened, times in UTC with the
// microseconds the drivers send.
func queryValue(v reflect.Value, d Dialect) any {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	}
	if t, ok := v.Interface().(time.Time); ok {
		return t.UTC().Truncate(time.Microsecond)
	}
	return v.Interface()
}

// match reports whether the stored row r satisfies every condition.
func (q *sqlQuery) match(r sqlRow) bool {
	for i := range q.conds {
		c := &q.conds[i]
		v := r[c.c.i]
		if c.null {
			if (c.op == ports.Eq) != (v == nil) {
				return false
			}
			continue
		}
		if v == nil {
			if c.orNull {
				continue
			}
			return false
		}
		if c.op == ports.In {
			found := false
			for _, e := range c.set {
				if r, ok := c.c.compare(v, e); ok && r == 0 {
					found = true
					break
				}
			}
			if !found {
				return false
			}
			continue
		}
		r, ok := c.c.compare(v, c.val)
		if !ok {
			return false
		}
		switch c.op {
		case ports.Eq:
			ok = r == 0
		case ports.Ne:
			ok = r != 0
		case ports.Lt:
			ok = r < 0
		case ports.Lte:
			ok = r <= 0
		case ports.Gt:
			ok = r > 0
		case ports.Gte:
			ok = r >= 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// compareRows orders two stored rows by the query's sort keys, then by
// primary key.
func (q *sqlQuery) compareRows(a, b sqlRow) int {
	for _, o := range q.orders {
		if r := o.compare(a[o.c.i], b[o.c.i]); r != 0 {
			return r
		}
	}
	r, _ := q.m.pk.compare(a[q.m.pk.i], b[q.m.pk.i])
	return r
}

// compare orders two values of o's column, NULL first ascending and last
// descending.
func (o sqlOrder) compare(a, b any) int {
	var r int
	switch {
	case a == nil && b == nil:
	case a == nil:
		r = -1
	case b == nil:
		r = 1
	default:
		r, _ = o.c.compare(a, b)
	}
	if o.desc {
		r = -r
	}
	return r
}

// sort orders hits by the query.
func (q *sqlQuery) sort(hits []sqlHit) {
	slices.SortFunc(hits, func(a, b sqlHit) int { return q.compareRows(a.row, b.row) })
}

// sqlHit is a stored row and its key.
type sqlHit struct {
	key any
	row sqlRow
}

// keyset compiles the keyset order of q (its sort keys, then the primary
// key) for FindPage.
func (q *sqlQuery) keyset(pq ports.Query) ([]sqlOrder, error) {
	var out []sqlOrder
	for _, o := range ports.KeysetOrder(pq, q.m.pkPath) {
		col, err := q.m.column(o.Field)
		if err != nil {
			return nil, err
		}
		out = append(out, sqlOrder{c: col, desc: o.Desc})
	}
	return out, nil
}

// after reports whether r comes after the cursor values vals in the keyset
// order keys (as ports.Keyset's disjunction evaluates).
func after(keys []sqlOrder, r sqlRow, vals []any, d Dialect) bool {
	for i, o := range keys {
		v := vals[i]
		if v != nil {
			v = queryValue(reflect.ValueOf(v), d)
		}
		if c := o.compare(r[o.c.i], v); c != 0 {
			return c > 0
		}
	}
	return false
}

// compare compares a stored value of the column with a stored or query
// value: numbers by value, strings by the column's collation, false before
// true, times as instants, bytes bytewise. ok is false for values that do
// not compare.
func (c *sqlCol) compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return c.coll.compare(x, y), true
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0, true
			case y:
				return -1, true
			}
			return 1, true
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), true
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y), true
		}
	case int64, uint64, float64:
		return compareNum(a, b)
	}
	return 0, false
}

// compareNum compares int64, uint64 and float64 values exactly.
func compareNum(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, y), true
		case uint64:
			if x < 0 {
				return -1, true
			}
			return cmp.Compare(uint64(x), y), true
		case float64:
			return cmpIntFloat(x, y), true
		}
	case uint64:
		switch y := b.(type) {
		case uint64:
			return cmp.Compare(x, y), true
		case int64:
			if y < 0 {
				return 1, true
			}
			return cmp.Compare(x, uint64(y)), true
		case float64:
			if x <= math.MaxInt64 {
				return cmpIntFloat(int64(x), y), true
			}
			return cmp.Compare(float64(x), y), true
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmp.Compare(x, y), true
		case int64, uint64:
			r, ok := compareNum(b, a)
			return -r, ok
		}
	}
	return 0, false
}

// cmpIntFloat compares an integer with a float without rounding the
// integer.
func cmpIntFloat(i int64, f float64) int {
	switch {
	case f >= 1<<63:
		return -1
	case f < -(1 << 63):
		return 1
	}
	t := math.Trunc(f)
	if ti := int64(t); i != ti {
		return cmp.Compare(i, ti)
	}
	switch {
	case f > t:
		return -1
	case f < t:
		return 1
	}
	return 0
}

// window returns the bounds of the results an offset and a limit (0: none)
// keep of n, without overflowing on huge values.
func window(n, offset, limit int) (lo, hi int) {
	lo = min(max(offset, 0), n)
	hi = n
	if limit > 0 && limit < n-lo {
		hi = lo + limit
	}
	return lo, hi
}
