package mysql

import (
	"fmt"
	"math"
	"reflect"

	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/ports"
)

// columns maps the queryable Go field paths of a model (ports.Schema) to
// the columns of its gorm schema. A path is mapped when gorm has a column
// at the same struct index, so embedded structs ("Base.ID" promoted as
// "ID") and gorm's embedded fields ("Address.City") both resolve. This map,
// built from the model type alone, is the only source of identifiers in
// the SQL the store writes.
type columns struct {
	ps    *ports.Schema
	byKey map[string]*columnInfo
}

type columnInfo struct {
	name     string // the column, from gorm's schema
	nullable bool
}

func newColumns(ps *ports.Schema, gs *schema.Schema) *columns {
	byIndex := make(map[string]*schema.Field, len(gs.Fields))
	for _, f := range gs.Fields {
		if f.DBName == "" || !f.Readable {
			continue
		}
		byIndex[indexKey(f.StructField.Index, true)] = f
	}
	c := &columns{ps: ps, byKey: map[string]*columnInfo{}}
	t := ps.Type()
	for path, f := range schemaPaths(ps, t) {
		if gf, ok := byIndex[indexKey(f.Index, false)]; ok {
			c.byKey[path] = &columnInfo{name: gf.DBName, nullable: f.Nullable}
		}
	}
	return c
}

// schemaPaths lists the fields of ps by path. ports.Schema has no iterator,
// so the paths are rebuilt from the struct and looked up.
func schemaPaths(ps *ports.Schema, t reflect.Type) map[string]*ports.Field {
	out := map[string]*ports.Field{}
	var walk func(t reflect.Type, prefix string, depth int)
	walk = func(t reflect.Type, prefix string, depth int) {
		if depth > 8 {
			return
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if sf.Anonymous {
					walk(ft, prefix, depth+1)
				} else {
					walk(ft, prefix+sf.Name+".", depth+1)
				}
			}
			if f, ok := ps.Lookup(prefix + sf.Name); ok {
				out[f.Path] = f
			}
		}
	}
	walk(t, "", 0)
	return out
}

// indexKey renders a struct index path; gorm marks a step through a
// pointer to an embedded struct as -i-1, which gorm=true undoes.
func indexKey(index []int, gorm bool) string {
	b := make([]byte, 0, 4*len(index))
	for _, i := range index {
		if gorm && i < 0 {
			i = -i - 1
		}
		b = fmt.Appendf(b, "%d.", i)
	}
	return string(b)
}

// column returns the column of a validated field path.
func (c *columns) column(path string) (*columnInfo, error) {
	ci, ok := c.byKey[path]
	if !ok {
		return nil, fmt.Errorf("%s field %q has no column", c.ps.Type().Name(), path)
	}
	return ci, nil
}

// where translates q's conditions to gorm clause expressions. q must have
// passed ports.Schema.Validate. Columns come from the schema, values go
// as parameters; nothing of q is written into SQL text.
func (c *columns) where(q ports.Query) ([]clause.Expression, error) {
	conds := q.Conditions()
	exprs := make([]clause.Expression, 0, len(conds))
	for _, cond := range conds {
		ci, err := c.column(cond.Field)
		if err != nil {
			return nil, err
		}
		col := clause.Column{Name: ci.name}
		v := cond.Value
		if cond.Op != ports.In && isNilPointer(v) {
			v = nil // a typed nil pointer compares as nil
		}
		var e clause.Expression
		switch cond.Op {
		case ports.Eq:
			e = clause.Eq{Column: col, Value: v} // nil: IS NULL
		case ports.Ne:
			e = clause.Neq{Column: col, Value: v} // nil: IS NOT NULL
			if v != nil && ci.nullable {
				// Go and the document stores count a NULL as different
				// from any value; SQL's <> does not.
				e = clause.Or(e, clause.Eq{Column: col, Value: nil})
			}
		case ports.Lt:
			e = clause.Lt{Column: col, Value: v}
		case ports.Lte:
			e = clause.Lte{Column: col, Value: v}
		case ports.Gt:
			e = clause.Gt{Column: col, Value: v}
		case ports.Gte:
			e = clause.Gte{Column: col, Value: v}
		case ports.In:
			rv := reflect.ValueOf(v)
			vals := make([]any, rv.Len())
			for i := range vals {
				vals[i] = rv.Index(i).Interface()
			}
			e = clause.IN{Column: col, Values: vals} // empty: IN (NULL), no match
		default:
			return nil, fmt.Errorf("unknown operator %q", string(cond.Op))
		}
		exprs = append(exprs, e)
	}
	return exprs, nil
}

// orderBy translates q's sort keys, then the primary key as the last key,
// so that results (and pages) come in a stable order.
func (c *columns) orderBy(q ports.Query, pk string) ([]clause.OrderByColumn, error) {
	orders := q.Orders()
	cols := make([]clause.OrderByColumn, 0, len(orders)+1)
	hasPK := false
	for _, o := range orders {
		ci, err := c.column(o.Field)
		if err != nil {
			return nil, err
		}
		hasPK = hasPK || ci.name == pk
		cols = append(cols, clause.OrderByColumn{Column: clause.Column{Name: ci.name}, Desc: o.Desc})
	}
	if !hasPK {
		cols = append(cols, clause.OrderByColumn{Column: clause.Column{Name: pk}})
	}
	return cols, nil
}

// limit translates q's limit and offset (MySQL has no OFFSET without
// LIMIT, so an offset alone comes with the largest limit).
func limit(q ports.Query) (clause.Limit, bool) {
	n, off := q.LimitN(), q.OffsetN()
	if n == 0 && off == 0 {
		return clause.Limit{}, false
	}
	l := clause.Limit{Offset: off}
	if n == 0 {
		n = math.MaxInt64
	}
	l.Limit = &n
	return l, true
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
