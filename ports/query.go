package ports

import (
	"fmt"
	"slices"
	"strings"
)

// Op is a comparison operator of a [Query] condition.
type Op string

// The operators a Query supports. Every store implements all of them.
const (
	Eq  Op = "="  // equal; with a nil value on a pointer field: IS NULL
	Ne  Op = "!=" // not equal; with a nil value on a pointer field: IS NOT NULL
	Lt  Op = "<"  // less than (numbers, strings, times)
	Lte Op = "<=" // less than or equal
	Gt  Op = ">"  // greater than
	Gte Op = ">=" // greater than or equal
	In  Op = "in" // equal to one of the elements of a slice value; an empty slice matches nothing
)

// Valid reports whether o is one of the operators above.
func (o Op) Valid() bool {
	switch o {
	case Eq, Ne, Lt, Lte, Gt, Gte, In:
		return true
	}
	return false
}

// Condition is one "Field Op Value" term of a Query. Field is a Go struct
// field name, or a dotted path through nested structs.
type Condition struct {
	Field string
	Op    Op
	Value any
}

// Order is one sort key of a Query.
type Order struct {
	Field string
	Desc  bool
}

// Query is the portable query language shared by SQLStore and DocStore: a
// conjunction of conditions, sort keys, a limit and an offset. Its zero
// value matches everything. Query is an immutable value: every method
// returns a new Query and leaves the receiver as it was, so a base query can
// be shared and extended.
//
//	q := ports.Where("Status", ports.Eq, "open").
//		And("Total", ports.Gte, 100).
//		OrderBy("-CreatedAt").
//		Limit(20)
//
// A Query is checked against the model's [Schema] before it runs: a field
// the model does not have, an unknown operator, a value of the wrong type or
// a negative limit or offset makes the store return ErrInvalid. Field names
// and operators are never spliced into SQL or a Mongo filter: adapters map
// them through the model's schema.
type Query struct {
	conds  []Condition
	orders []Order
	limit  int
	offset int
}

// All returns the empty Query, which matches everything.
func All() Query { return Query{} }

// Where returns a Query with the single condition "field op value".
func Where(field string, op Op, value any) Query {
	return Query{}.And(field, op, value)
}

// And returns q with the condition "field op value" added.
func (q Query) And(field string, op Op, value any) Query {
	q.conds = append(slices.Clip(q.conds), Condition{Field: field, Op: op, Value: value})
	return q
}

// OrderBy returns q with sort keys added, most significant first. A field
// prefixed with "-" sorts descending; one with no prefix or "+" ascending.
func (q Query) OrderBy(fields ...string) Query {
	orders := slices.Clip(q.orders)
	for _, f := range fields {
		o := Order{Field: f}
		switch {
		case strings.HasPrefix(f, "-"):
			o = Order{Field: f[1:], Desc: true}
		case strings.HasPrefix(f, "+"):
			o = Order{Field: f[1:]}
		}
		orders = append(orders, o)
	}
	q.orders = orders
	return q
}

// Limit returns q returning at most n results. 0 means no limit; a
// negative n makes the query invalid.
func (q Query) Limit(n int) Query {
	q.limit = n
	return q
}

// Offset returns q skipping its first n results. A negative n makes the
// query invalid.
func (q Query) Offset(n int) Query {
	q.offset = n
	return q
}

// Conditions returns q's conditions. The slice belongs to q: do not modify
// it.
func (q Query) Conditions() []Condition { return q.conds }

// Orders returns q's sort keys. The slice belongs to q: do not modify it.
func (q Query) Orders() []Order { return q.orders }

// LimitN returns q's limit (0 for none).
func (q Query) LimitN() int { return q.limit }

// OffsetN returns q's offset.
func (q Query) OffsetN() int { return q.offset }

// String renders q for logs and error messages, values elided.
func (q Query) String() string {
	var b strings.Builder
	b.WriteString("Query{")
	for i, c := range q.conds {
		if i > 0 {
			b.WriteString(" AND ")
		}
		fmt.Fprintf(&b, "%s %s ?", c.Field, c.Op)
	}
	if len(q.orders) > 0 {
		b.WriteString(" ORDER BY ")
		for i, o := range q.orders {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(o.Field)
			if o.Desc {
				b.WriteString(" DESC")
			}
		}
	}
	if q.limit != 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.limit)
	}
	if q.offset != 0 {
		fmt.Fprintf(&b, " OFFSET %d", q.offset)
	}
	b.WriteString("}")
	return b.String()
}
