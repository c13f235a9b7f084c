package docmodel

import (
	"fmt"
	"reflect"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/portkit/portkit/ports"
)

// Cond is one Query condition translated to BSON: the field's key, the
// operator, and the value encoded as the driver encodes it (a time
// truncated to milliseconds, an ID or a DocRef as an ObjectID, nil as
// null). In holds the values of In.
type Cond struct {
	Key   string
	Op    ports.Op
	Value bson.RawValue
	In    []bson.RawValue
}

// Conditions translates conditions that the Schema has validated. Keys
// come from the model's tags, never from the Query text. Errors name the
// field and never quote a value; the caller wraps them as ErrInvalid.
func (m *Model) Conditions(conds []ports.Condition) ([]Cond, error) {
	out := make([]Cond, 0, len(conds))
	for _, c := range conds {
		k, f, err := m.Key(c.Field)
		if err != nil {
			return nil, err
		}
		cd := Cond{Key: k, Op: c.Op}
		switch c.Op {
		case ports.In:
			rv := reflect.ValueOf(c.Value)
			if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
				return nil, fmt.Errorf("operator in on field %s needs a slice value", c.Field)
			}
			cd.In = make([]bson.RawValue, rv.Len())
			for i := range cd.In {
				if cd.In[i], err = m.QueryValue(f, rv.Index(i).Interface()); err != nil {
					return nil, err
				}
			}
		case ports.Eq, ports.Ne, ports.Lt, ports.Lte, ports.Gt, ports.Gte:
			if cd.Value, err = m.QueryValue(f, c.Value); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown operator %q on field %s", string(c.Op), c.Field)
		}
		out = append(out, cd)
	}
	return out, nil
}

// QueryValue encodes a condition value of field f as the driver would
// send it: nil and nil pointers as null, a string on an ObjectID field (the
// ID, a DocRef, an ObjectID) as the ObjectID it spells (the empty DocRef
// as null, as it is stored), anything else with
// the model's registry.
func (m *Model) QueryValue(f *ports.Field, v any) (bson.RawValue, error) {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) {
		if rv.IsNil() {
			return NullValue, nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return NullValue, nil
	}
	if f.ObjectID && rv.Kind() == reflect.String {
		if rv.String() == "" && f.Path != "ID" {
			return NullValue, nil // the empty DocRef is stored as null
		}
		oid, ok := ParseObjectID(rv.String())
		if !ok {
			return bson.RawValue{}, fmt.Errorf("value for %s: %w", f.Path, errNotObjectID)
		}
		return ObjectIDValue(oid), nil
	}
	v2, err := marshalValue(m.reg, rv.Interface())
	if err != nil {
		return bson.RawValue{}, describeValueError(f.Path, rv.Interface(), err)
	}
	return v2, nil
}

// mongoOps maps the port's operators to MongoDB's.
var mongoOps = map[ports.Op]string{
	ports.Eq: "$eq", ports.Ne: "$ne", ports.Lt: "$lt", ports.Lte: "$lte",
	ports.Gt: "$gt", ports.Gte: "$gte", ports.In: "$in",
}

// term is the filter of one condition: {key: {$op: value}}.
func (c Cond) term() bson.D {
	var v any = c.Value
	if c.Op == ports.In {
		a := bson.A{}
		for _, x := range c.In {
			a = append(a, x)
		}
		v = a
	}
	return bson.D{{Key: c.Key, Value: bson.D{{Key: mongoOps[c.Op], Value: v}}}}
}

// Filter returns the MongoDB filter of a conjunction: {} for none, one
// condition's term, or {$and: [terms]}.
func Filter(conds []Cond) bson.D {
	switch len(conds) {
	case 0:
		return bson.D{}
	case 1:
		return conds[0].term()
	}
	terms := make([]bson.D, len(conds))
	for i, c := range conds {
		terms[i] = c.term()
	}
	return bson.D{{Key: "$and", Value: terms}}
}

// FilterOr returns the filter of conds AND (any one of terms).
func FilterOr(conds []Cond, terms [][]Cond) bson.D {
	or := make([]bson.D, len(terms))
	for i, t := range terms {
		or[i] = Filter(t)
	}
	if len(or) == 0 {
		// "After the last row" with nothing after it: match nothing.
		or = []bson.D{{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}}
	}
	all := make([]bson.D, 0, len(conds)+1)
	for _, c := range conds {
		all = append(all, c.term())
	}
	all = append(all, bson.D{{Key: "$or", Value: or}})
	return bson.D{{Key: "$and", Value: all}}
}

// SortKey is one key of a sort.
type SortKey struct {
	Key  string
	Desc bool
}

// Sort returns the sort of orders, with "_id" ascending as the last key
// (so that ties come in ID order) unless an order names it; keys after
// "_id" are dropped, since they cannot matter.
func (m *Model) Sort(orders []ports.Order) ([]SortKey, error) {
	out := make([]SortKey, 0, len(orders)+1)
	for _, o := range orders {
		k, _, err := m.Key(o.Field)
		if err != nil {
			return nil, err
		}
		out = append(out, SortKey{Key: k, Desc: o.Desc})
		if k == "_id" {
			return out, nil
		}
	}
	return append(out, SortKey{Key: "_id"}), nil
}

// SortDoc returns the MongoDB sort document of keys.
func SortDoc(keys []SortKey) bson.D {
	d := make(bson.D, len(keys))
	for i, k := range keys {
		dir := 1
		if k.Desc {
			dir = -1
		}
		d[i] = bson.E{Key: k.Key, Value: dir}
	}
	return d
}

// PkPath is the Go path of a document's ID.
const PkPath = "ID"

// Keyset returns the terms of "after the cursor" for FindPage (see
// ports.Keyset), translated. A sort value the row held as the zero value
// of a non-pointer omitempty field is taken as null, since such a field
// is stored as absent and sorts with the nulls.
func (m *Model) Keyset(q ports.Query, cursor string) ([][]Cond, error) {
	vals, err := m.schema.DecodeCursor(q, PkPath, cursor)
	if err != nil {
		return nil, err
	}
	for i, o := range ports.KeysetOrder(q, PkPath) {
		if vals[i] != nil && m.OmitEmpty(o.Field) && reflect.ValueOf(vals[i]).IsZero() {
			vals[i] = nil
		}
	}
	terms := ports.Keyset(q, PkPath, vals)
	out := make([][]Cond, len(terms))
	for i, t := range terms {
		if out[i], err = m.Conditions(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// IsNull reports whether v is BSON null (or undefined).
func IsNull(v bson.RawValue) bool {
	return v.Type == bson.TypeNull || v.Type == bson.TypeUndefined
}
