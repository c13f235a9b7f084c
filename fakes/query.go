package fakes

import (
	"cmp"
	"reflect"
	"strings"
	"time"

	"github.com/portkit/portkit/ports"
)

// matcher is a validated Query compiled against a schema.
type matcher struct {
	conds  []mcond
	orders []morder
	limit  int
	offset int
}

type mcond struct {
	index []int
	class ports.Class
	op    ports.Op
	null  bool            // the value is nil: IS NULL / IS NOT NULL
	val   reflect.Value   // the value, pointers followed
	set   []reflect.Value // In's elements
}

type morder struct {
	index []int
	class ports.Class
	desc  bool
}

// compile validates q with the schema (the rules every adapter shares) and
// compiles it.
func compile(s *ports.Schema, q ports.Query, backend, op string) (*matcher, error) {
	if err := s.Validate(q); err != nil {
		return nil, ports.NewError(backend, op, ports.ErrInvalid, err)
	}
	m := &matcher{limit: q.LimitN(), offset: q.OffsetN()}
	for _, c := range q.Conditions() {
		f, _ := s.Lookup(c.Field)
		mc := mcond{index: f.Index, class: f.Class, op: c.Op}
		switch {
		case c.Op == ports.In:
			v := reflect.ValueOf(c.Value)
			for i := range v.Len() {
				mc.set = append(mc.set, deref(v.Index(i)))
			}
		case c.Value == nil:
			mc.null = true
		default:
			v := deref(reflect.ValueOf(c.Value))
			mc.null = !v.IsValid()
			mc.val = v
		}
		m.conds = append(m.conds, mc)
	}
	for _, o := range q.Orders() {
		f, _ := s.Lookup(o.Field)
		m.orders = append(m.orders, morder{index: f.Index, class: f.Class, desc: o.Desc})
	}
	return m, nil
}

// deref follows interfaces and pointers; a nil pointer gives the invalid
// Value.
func deref(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// match reports whether the struct value row satisfies every condition,
// with SQL's NULL semantics: a NULL field matches only "= nil" and
// "!= nil"-negated tests, never a comparison with a value.
func (m *matcher) match(row reflect.Value) bool {
	for i := range m.conds {
		c := &m.conds[i]
		f, null := fieldValue(row, c.index)
		if c.null {
			if (c.op == ports.Eq) != null {
				return false
			}
			continue
		}
		if null {
			return false
		}
		if c.op == ports.In {
			found := false
			for _, e := range c.set {
				if compareValues(f, e, c.class) == 0 {
					found = true
					break
				}
			}
			if !found {
				return false
			}
			continue
		}
		r := compareValues(f, c.val, c.class)
		var ok bool
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

// less orders two struct values by the query's sort keys (NULL first
// ascending, last descending, as in MySQL and MongoDB); 0 when they tie.
func (m *matcher) compareRows(a, b reflect.Value) int {
	for _, o := range m.orders {
		fa, na := fieldValue(a, o.index)
		fb, nb := fieldValue(b, o.index)
		var r int
		switch {
		case na && nb:
		case na:
			r = -1
		case nb:
			r = 1
		default:
			r = compareValues(fa, fb, o.class)
		}
		if o.desc {
			r = -r
		}
		if r != 0 {
			return r
		}
	}
	return 0
}

// window applies offset and limit to n results and returns the bounds
// (see the function window).
func (m *matcher) window(n int) (lo, hi int) { return window(n, m.offset, m.limit) }

// compareValues compares two non-NULL values of one class: numbers
// numerically across integer, unsigned and float kinds, strings bytewise,
// false before true, times as instants.
func compareValues(a, b reflect.Value, class ports.Class) int {
	switch class {
	case ports.ClassNumber:
		return compareNumbers(a, b)
	case ports.ClassString:
		return strings.Compare(a.String(), b.String())
	case ports.ClassBool:
		switch {
		case a.Bool() == b.Bool():
			return 0
		case b.Bool():
			return -1
		}
		return 1
	case ports.ClassTime:
		return a.Interface().(time.Time).Compare(b.Interface().(time.Time))
	}
	return 0
}

func compareNumbers(a, b reflect.Value) int {
	ak, bk := numKind(a.Kind()), numKind(b.Kind())
	switch {
	case ak == 'f' || bk == 'f':
		return cmp.Compare(toFloat(a, ak), toFloat(b, bk))
	case ak == 'i' && bk == 'i':
		return cmp.Compare(a.Int(), b.Int())
	case ak == 'u' && bk == 'u':
		return cmp.Compare(a.Uint(), b.Uint())
	case ak == 'i': // b unsigned
		if a.Int() < 0 {
			return -1
		}
		return cmp.Compare(uint64(a.Int()), b.Uint())
	default: // a unsigned, b signed
		if b.Int() < 0 {
			return 1
		}
		return cmp.Compare(a.Uint(), uint64(b.Int()))
	}
}

func numKind(k reflect.Kind) byte {
	switch {
	case k == reflect.Float32 || k == reflect.Float64:
		return 'f'
	case isUintKind(k):
		return 'u'
	}
	return 'i'
}

func toFloat(v reflect.Value, k byte) float64 {
	switch k {
	case 'f':
		return v.Float()
	case 'u':
		return float64(v.Uint())
	}
	return float64(v.Int())
}
