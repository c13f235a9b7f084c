package mongo

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/portkit/portkit/ports"
)

// translator turns Queries on one model type into MongoDB filters and
// sorts. Keys come from the model's bson tags, never from the Query text.
type translator struct {
	schema *ports.Schema
}

// bsonKey returns the dotted BSON path of a struct field reached through
// chain (one StructField per step, embedded steps included), named as the
// driver names it: the bson tag's name, or the lowercased Go name; an
// inline step adds nothing. A step the driver skips (tag "-", unexported),
// or a key starting with "$" or holding a "." is an error.
func bsonKey(chain []reflect.StructField) (string, error) {
	parts := make([]string, 0, len(chain))
	for _, sf := range chain {
		if sf.PkgPath != "" {
			return "", fmt.Errorf("field %s is unexported: the driver does not store it", sf.Name)
		}
		name, skip, inline := bsonTag(sf)
		if skip {
			return "", fmt.Errorf("field %s is not stored (bson:\"-\")", sf.Name)
		}
		if inline {
			continue
		}
		if name == "" || strings.HasPrefix(name, "$") || strings.Contains(name, ".") || strings.ContainsRune(name, 0) {
			return "", fmt.Errorf("field %s has BSON key %q, which cannot be queried", sf.Name, name)
		}
		parts = append(parts, name)
	}
	if len(parts) == 0 {
		return "", errors.New("field has no BSON key")
	}
	return strings.Join(parts, "."), nil
}

// bsonTag reads sf's bson tag as the driver's default struct tag parser
// does (bsoncodec.DefaultStructTagParser, deprecated in v1.17 but still
// what the default registry uses): the key is the tag's name or else the
// lowercased field name; a tag without "bson:" and without any ':' is
// taken whole; "-" skips the field.
func bsonTag(sf reflect.StructField) (name string, skip, inline bool) {
	name = strings.ToLower(sf.Name)
	tag, ok := sf.Tag.Lookup("bson")
	if !ok && !strings.Contains(string(sf.Tag), ":") && len(sf.Tag) > 0 {
		tag = string(sf.Tag)
	}
	if tag == "-" {
		return "", true, false
	}
	for i, part := range strings.Split(tag, ",") {
		if i == 0 && part != "" {
			name = part
		}
		if part == "inline" {
			inline = true
		}
	}
	return name, false, inline
}

// fieldChain returns the StructField of every step of the dotted Go path
// in t, following embedded structs as Go promotes their fields. Unlike
// ports.Schema it also reaches fields that cannot be queried (slices,
// maps), for indexes.
func fieldChain(t reflect.Type, path string) ([]reflect.StructField, error) {
	var chain []reflect.StructField
	for _, seg := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seg == "" {
			return nil, fmt.Errorf("no field %q", path)
		}
		sf, ok := t.FieldByName(seg)
		if !ok || !sf.IsExported() {
			return nil, fmt.Errorf("no field %q", path)
		}
		// Record every step of the index, embedded structs included.
		st := t
		for _, i := range sf.Index {
			for st.Kind() == reflect.Pointer {
				st = st.Elem()
			}
			f := st.Field(i)
			chain = append(chain, f)
			st = f.Type
		}
		t = sf.Type
	}
	return chain, nil
}

// key returns the BSON path of the Query field path, which the schema
// knows (the Query has been validated).
func (tr translator) key(path string) (string, *ports.Field, error) {
	f, ok := tr.schema.Lookup(path)
	if !ok {
		return "", nil, fmt.Errorf("%s has no queryable field %q", tr.schema.Type().Name(), path)
	}
	k, err := bsonKey(f.Chain)
	if err != nil {
		return "", nil, fmt.Errorf("%s.%s: %w", tr.schema.Type().Name(), path, err)
	}
	return k, f, nil
}

// filter returns the MongoDB filter of q's conditions: one condition is
// {key: {$op: value}}, several are joined with $and. Errors wrap
// ports.ErrInvalid.
func (tr translator) filter(op string, q ports.Query) (bson.D, error) {
	conds := q.Conditions()
	if len(conds) == 0 {
		return bson.D{}, nil
	}
	terms := make([]bson.D, 0, len(conds))
	for _, c := range conds {
		k, _, err := tr.key(c.Field)
		if err != nil {
			return nil, invalidErr(op, err)
		}
		v := c.Value
		if k == "_id" {
			v = idValue(c.Op, v)
		}
		var term bson.D
		switch c.Op {
		case ports.Eq:
			term = bson.D{{Key: k, Value: bson.D{{Key: "$eq", Value: v}}}}
		case ports.Ne:
			term = bson.D{{Key: k, Value: bson.D{{Key: "$ne", Value: v}}}}
		case ports.Lt:
			term = bson.D{{Key: k, Value: bson.D{{Key: "$lt", Value: v}}}}
		case ports.Lte:
			term = bson.D{{Key: k, Value: bson.D{{Key: "$lte", Value: v}}}}
		case ports.Gt:
			term = bson.D{{Key: k, Value: bson.D{{Key: "$gt", Value: v}}}}
		case ports.Gte:
			term = bson.D{{Key: k, Value: bson.D{{Key: "$gte", Value: v}}}}
		case ports.In:
			term = bson.D{{Key: k, Value: bson.D{{Key: "$in", Value: inValues(v)}}}}
		default:
			return nil, invalidErr(op, fmt.Errorf("unknown operator %q", string(c.Op)))
		}
		terms = append(terms, term)
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return bson.D{{Key: "$and", Value: terms}}, nil
}

// idValue converts the string ID values of a condition on "_id" to
// ObjectIDs. A string that is no ObjectID's Hex form stays a string: it
// matches no ObjectID, only documents others stored with string IDs.
func idValue(op ports.Op, v any) any {
	if op == ports.In {
		rv := reflect.ValueOf(v)
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = idValue(ports.Eq, rv.Index(i).Interface())
		}
		return out
	}
	s, ok := v.(string)
	if !ok {
		if p, isPtr := v.(*string); isPtr && p != nil {
			s, ok = *p, true
		}
	}
	if !ok {
		return v
	}
	if oid, ok := parseObjectID(s); ok {
		return oid
	}
	return s
}

// inValues returns the elements of the slice or array v as a []any, so
// that a Go array or a []byte is sent as a BSON array.
func inValues(v any) []any {
	if a, ok := v.([]any); ok {
		return a
	}
	rv := reflect.ValueOf(v)
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}

// findOptions returns q's sort (with "_id" as the last key, so that ties
// come in ID order), limit and offset.
func (tr translator) findOptions(op string, q ports.Query) (*options.FindOptions, error) {
	fo := options.Find()
	sort := bson.D{}
	hasID := false
	for _, o := range q.Orders() {
		k, _, err := tr.key(o.Field)
		if err != nil {
			return nil, invalidErr(op, err)
		}
		dir := 1
		if o.Desc {
			dir = -1
		}
		sort = append(sort, bson.E{Key: k, Value: dir})
		if k == "_id" {
			hasID = true
			break // later keys cannot matter after the unique _id
		}
	}
	if !hasID {
		sort = append(sort, bson.E{Key: "_id", Value: 1})
	}
	fo.SetSort(sort)
	if n := q.LimitN(); n > 0 {
		fo.SetLimit(int64(n))
	}
	if n := q.OffsetN(); n > 0 {
		fo.SetSkip(int64(n))
	}
	return fo, nil
}
