package gormstore

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
// "ID") and gorm's embedded fields ("Address.City") both resolve. This
// map, built from the model type alone, is the only source of identifiers
// in the SQL a store writes.
type columns struct {
	ps     *ports.Schema
	byPath map[string]*columnInfo
}

type columnInfo struct {
	name     string        // the column, from gorm's schema
	field    *schema.Field // gorm's field
	nullable bool
	total    bool // unique and NOT NULL: a sort by it has no ties
}

func newColumns(ps *ports.Schema, gs *schema.Schema) *columns {
	byIndex := make(map[string]*schema.Field, len(gs.Fields))
	for _, f := range gs.Fields {
		if f.DBName == "" || !f.Readable {
			continue
		}
		byIndex[indexKey(f.StructField.Index, true)] = f
	}
	unique := map[string]bool{} // columns with a unique index of their own
	for _, idx := range gs.ParseIndexes() {
		if idx.Class == "UNIQUE" && len(idx.Fields) == 1 {
			unique[idx.Fields[0].DBName] = true
		}
	}
	c := &columns{ps: ps, byPath: map[string]*columnInfo{}}
	for _, path := range ps.Paths() {
		f, _ := ps.Lookup(path)
		if gf, ok := byIndex[indexKey(f.Index, false)]; ok {
			total := gf.PrimaryKey || (gf.NotNull && !f.Nullable && (gf.Unique || unique[gf.DBName]))
			c.byPath[path] = &columnInfo{name: gf.DBName, field: gf, nullable: f.Nullable, total: total}
		}
	}
	return c
}

// pathOf returns the Go path of gorm field f ("" when it has none).
func (c *columns) pathOf(f *schema.Field) string {
	for p, ci := range c.byPath {
		if ci.field == f {
			return p
		}
	}
	return ""
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
	ci, ok := c.byPath[path]
	if !ok {
		return nil, fmt.Errorf("%s field %q has no column", c.ps.Type().Name(), path)
	}
	return ci, nil
}

// where translates conditions to gorm clause expressions. They must have
// passed ports.Schema.Validate. Columns come from the schema, values go
// as parameters; nothing of a Query is written into SQL text.
func (c *columns) where(conds []ports.Condition) ([]clause.Expression, error) {
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

// keyset translates the terms of ports.Keyset (a disjunction of
// conjunctions) to one expression.
func (c *columns) keyset(terms [][]ports.Condition) (clause.Expression, error) {
	ors := make([]clause.Expression, 0, len(terms))
terms:
	for _, term := range terms {
		for _, cond := range term {
			if ci, ok := c.byPath[cond.Field]; ok && !ci.nullable && cond.Op == ports.Eq && cond.Value == nil {
				continue terms // "NOT NULL column IS NULL": the term never matches
			}
		}
		exprs, err := c.where(term)
		if err != nil {
			return nil, err
		}
		ors = append(ors, clause.And(exprs...))
	}
	if len(ors) == 0 {
		// Nothing comes after the cursor (a NULL last in a descending
		// order, with no key after it): no row matches.
		return clause.Expr{SQL: "1 = 0"}, nil
	}
	if len(ors) == 1 {
		// gorm reads a one-element OrConditions among a Where's
		// expressions as "OR" with the previous one (its db.Or): the
		// query's conditions would be OR-ed with the cursor's.
		return ors[0], nil
	}
	return clause.Or(ors...), nil
}

// orderBy translates the sort keys of ports.KeysetOrder(q, pkPath): q's,
// then the primary key unless q sorts by it already, so that results and
// pages come in a stable order. order renders one key in the dialect (for
// the port's NULL order: first ascending, last descending).
func (c *columns) orderBy(q ports.Query, pkPath string, order func(col string, desc, nullable bool) clause.OrderByColumn) ([]clause.OrderByColumn, error) {
	keys := ports.KeysetOrder(q, pkPath)
	cols := make([]clause.OrderByColumn, 0, len(keys))
	for _, o := range keys {
		ci, err := c.column(o.Field)
		if err != nil {
			return nil, err
		}
		cols = append(cols, order(ci.name, o.Desc, ci.nullable))
		if ci.total {
			// A unique NOT NULL key orders every row: the keys after it
			// change nothing, and MariaDB sorts by an index only when
			// the ORDER BY is the index's columns.
			break
		}
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
