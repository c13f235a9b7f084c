package docmodel

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/portkit/portkit/ports"
)

// Elem is one key and value of an update operator.
type Elem struct {
	Key   string // dotted path
	Value bson.RawValue
}

// Update is a MongoDB update made of $set, $unset and $inc on dotted
// keys, and $setOnInsert for an upsert. No key is the prefix of another.
type Update struct {
	Set         []Elem
	Unset       []string
	Inc         []Elem
	SetOnInsert []Elem
}

// Doc returns the update document.
func (u Update) Doc() bson.D {
	d := bson.D{}
	add := func(op string, es []Elem) {
		if len(es) == 0 {
			return
		}
		x := make(bson.D, len(es))
		for i, e := range es {
			x[i] = bson.E{Key: e.Key, Value: e.Value}
		}
		d = append(d, bson.E{Key: op, Value: x})
	}
	add("$set", u.Set)
	if len(u.Unset) > 0 {
		x := make(bson.D, len(u.Unset))
		for i, k := range u.Unset {
			x[i] = bson.E{Key: k, Value: ""}
		}
		d = append(d, bson.E{Key: "$unset", Value: x})
	}
	add("$inc", u.Inc)
	add("$setOnInsert", u.SetOnInsert)
	return d
}

// UpdateFields returns the update that writes the fields the model
// declares from newDoc (the encoded new version of the document) and
// keeps the fields it does not declare: a key of a declared struct whose
// new value is a document is written key by key, recursively; any other
// declared key is set whole (arrays included) or, when newDoc lacks it
// (an omitempty zero value), unset. "_id" and the created key are left
// alone. stored, when not nil, is the stored document: at a level with an
// inline map its undeclared keys that newDoc lacks are unset too. The
// update may still cross a stored value that is not a document; see
// Viable.
func (m *Model) UpdateFields(newDoc, stored bson.Raw) (Update, error) {
	var u Update
	var st bsoncore.Document
	if stored != nil {
		st = bsoncore.Document(stored)
	}
	if err := m.fields(&u, m.root, bsoncore.Document(newDoc), st, stored != nil, "", true); err != nil {
		return Update{}, err
	}
	return u, nil
}

func (m *Model) fields(u *Update, n *node, nd, st bsoncore.Document, known bool, prefix string, top bool) error {
	elems, err := nd.Elements()
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(elems))
	for _, e := range elems {
		k := e.Key()
		seen[k] = true
		if top && (k == "_id" || k == m.createdKey) {
			continue
		}
		v := e.Value()
		sub, declared := n.declared(k)
		if declared && sub != nil && v.Type == bson.TypeEmbeddedDocument {
			var sst bsoncore.Document
			if st != nil {
				if sv, err := st.LookupErr(k); err == nil && sv.Type == bson.TypeEmbeddedDocument {
					sst = sv.Document()
				}
			}
			if err := m.fields(u, sub, v.Document(), sst, known && sst != nil, prefix+k+".", false); err != nil {
				return err
			}
			continue
		}
		u.Set = append(u.Set, Elem{Key: prefix + k, Value: bson.RawValue{Type: v.Type, Value: v.Data}})
	}
	for k := range n.sub {
		if !seen[k] && !(top && (k == "_id" || k == m.createdKey)) {
			u.Unset = append(u.Unset, prefix+k)
		}
	}
	if n.inlineMap && known && st != nil {
		selems, _ := st.Elements()
		for _, e := range selems {
			k := e.Key()
			if _, declared := n.sub[k]; !declared && !seen[k] && !(top && k == "_id") {
				u.Unset = append(u.Unset, prefix+k)
			}
		}
	}
	slices.Sort(u.Unset)
	return nil
}

// WithoutKey returns u without its Set, Unset and Inc of key.
func WithoutKey(u Update, key string) Update {
	out := Update{SetOnInsert: u.SetOnInsert}
	for _, e := range u.Set {
		if e.Key != key {
			out.Set = append(out.Set, e)
		}
	}
	for _, k := range u.Unset {
		if k != key {
			out.Unset = append(out.Unset, k)
		}
	}
	for _, e := range u.Inc {
		if e.Key != key {
			out.Inc = append(out.Inc, e)
		}
	}
	return out
}

// Viable rewrites u so that it applies to stored: a change whose path
// crosses a stored value that is not a document (null, a scalar, an
// array), which MongoDB refuses (PathNotViable), is replaced by setting
// that value to a document made of the changes below it (an Inc there
// sets its delta); an Unset below such a value is dropped.
func Viable(stored bson.Raw, u Update) Update {
	st := bsoncore.Document(stored)
	// blocker returns the prefix of key at which stored holds a
	// non-document, or "".
	blocker := func(key string) string {
		parts := pathKey(key)
		cur := st
		for i := 0; i < len(parts)-1; i++ {
			v, err := cur.LookupErr(parts[i])
			if err != nil {
				return "" // missing: MongoDB creates the documents
			}
			if v.Type != bson.TypeEmbeddedDocument {
				return strings.Join(parts[:i+1], ".")
			}
			cur = v.Document()
		}
		return ""
	}
	type built struct {
		prefix string
		elems  []Elem // relative keys
	}
	var out Update
	var groups []*built
	group := func(p string) *built {
		for _, g := range groups {
			if g.prefix == p {
				return g
			}
		}
		g := &built{prefix: p}
		groups = append(groups, g)
		return g
	}
	for _, e := range u.Set {
		if p := blocker(e.Key); p != "" {
			g := group(p)
			g.elems = append(g.elems, Elem{Key: e.Key[len(p)+1:], Value: e.Value})
			continue
		}
		out.Set = append(out.Set, e)
	}
	for _, e := range u.Inc {
		if p := blocker(e.Key); p != "" {
			g := group(p)
			g.elems = append(g.elems, Elem{Key: e.Key[len(p)+1:], Value: e.Value})
			continue
		}
		out.Inc = append(out.Inc, e)
	}
	for _, k := range u.Unset {
		if blocker(k) == "" {
			out.Unset = append(out.Unset, k)
		}
	}
	for _, g := range groups {
		out.Set = append(out.Set, Elem{Key: g.prefix, Value: buildDoc(g.elems)})
	}
	out.SetOnInsert = u.SetOnInsert
	return out
}

// buildDoc returns the document that holds elems at their dotted keys.
func buildDoc(elems []Elem) bson.RawValue {
	d := bson.D{}
	for _, e := range elems {
		setPath(&d, pathKey(e.Key), e.Value)
	}
	b, _ := bson.Marshal(d)
	return bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: b}
}

func setPath(d *bson.D, parts []string, v bson.RawValue) {
	for i := range *d {
		if (*d)[i].Key == parts[0] {
			if len(parts) == 1 {
				(*d)[i].Value = v
				return
			}
			sub, ok := (*d)[i].Value.(*bson.D)
			if !ok {
				sub = &bson.D{}
				(*d)[i].Value = sub
			}
			setPath(sub, parts[1:], v)
			return
		}
	}
	if len(parts) == 1 {
		*d = append(*d, bson.E{Key: parts[0], Value: v})
		return
	}
	sub := &bson.D{}
	*d = append(*d, bson.E{Key: parts[0], Value: sub})
	setPath(sub, parts[1:], v)
}

// PatchUpdate translates p (checked with Schema.ValidatePatch) into an
// update: a Set writes the value as the field would be encoded (converted
// to the field's type without loss, or ErrInvalid; an omitempty field's
// zero value is unset, as Insert would store it absent), an Inc adds the
// delta converted to the field's type.
func (m *Model) PatchUpdate(p ports.Patch) (Update, error) {
	if err := m.schema.ValidatePatch(p, PkPath); err != nil {
		return Update{}, err
	}
	var u Update
	for _, c := range p.Changes() {
		k, f, err := m.Key(c.Field)
		if err != nil {
			return Update{}, err
		}
		if k == "_id" {
			return Update{}, fmt.Errorf("the ID %s cannot be patched", c.Field)
		}
		switch c.Op {
		case ports.OpSet:
			v, present, err := m.fieldValue(f, k, c.Value)
			if err != nil {
				return Update{}, err
			}
			if present {
				u.Set = append(u.Set, Elem{Key: k, Value: v})
			} else {
				u.Unset = append(u.Unset, k)
			}
		case ports.OpInc:
			base := f.Type
			for base.Kind() == reflect.Pointer {
				base = base.Elem()
			}
			cv, err := convert(reflect.ValueOf(c.Value), base)
			if err != nil {
				return Update{}, fmt.Errorf("increment of %s: %w", c.Field, err)
			}
			delta, err := marshalValue(m.reg, cv.Interface())
			if err != nil {
				return Update{}, describeValueError(c.Field, c.Value, err)
			}
			u.Inc = append(u.Inc, Elem{Key: k, Value: delta})
		}
	}
	return u, nil
}

// fieldValue returns the value field f (at key k) holds once set to v, as
// the model's encoding stores it, and whether it is stored at all.
func (m *Model) fieldValue(f *ports.Field, k string, v any) (bson.RawValue, bool, error) {
	doc := reflect.New(m.typ)
	dst := doc.Elem()
	for i, x := range f.Index {
		if i > 0 {
			for dst.Kind() == reflect.Pointer {
				if dst.IsNil() {
					dst.Set(reflect.New(dst.Type().Elem()))
				}
				dst = dst.Elem()
			}
		}
		dst = dst.Field(x)
	}
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv = reflect.Value{}
			break
		}
		rv = rv.Elem()
	}
	if rv.IsValid() {
		target := dst
		for target.Kind() == reflect.Pointer {
			target.Set(reflect.New(target.Type().Elem()))
			target = target.Elem()
		}
		cv, err := convert(rv, target.Type())
		if err != nil {
			return bson.RawValue{}, false, fmt.Errorf("value for %s: %w", f.Path, err)
		}
		target.Set(cv)
	}
	raw, err := marshal(m.reg, doc.Interface())
	if err != nil {
		return bson.RawValue{}, false, describeValueError(f.Path, v, err)
	}
	val, err := bson.Raw(raw).LookupErr(pathKey(k)...)
	if err != nil {
		return bson.RawValue{}, false, nil
	}
	if err := checkValue(k, val); err != nil {
		return bson.RawValue{}, false, err
	}
	return val, true, nil
}

// convert converts v to type t without loss: numbers within range and
// exactly (an integer field takes an integral float), a string into a
// string kind or an ObjectID, others of an assignable or convertible type
// of the same kind.
func convert(v reflect.Value, t reflect.Type) (reflect.Value, error) {
	if v.Type() == t {
		return v, nil
	}
	if isObjectIDType(t) && v.Kind() == reflect.String {
		oid, ok := ParseObjectID(v.String())
		if !ok {
			return reflect.Value{}, errNotObjectID
		}
		return reflect.ValueOf(oid).Convert(t), nil
	}
	switch {
	case isInt(t.Kind()):
		var i int64
		switch {
		case isInt(v.Kind()):
			i = v.Int()
		case isUint(v.Kind()):
			if v.Uint() > math.MaxInt64 {
				return reflect.Value{}, fmt.Errorf("out of range of %v", t)
			}
			i = int64(v.Uint())
		case isFloat(v.Kind()):
			x := v.Float()
			if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
				return reflect.Value{}, fmt.Errorf("a float that is not an integer within range of %v", t)
			}
			i = int64(x)
		default:
			return reflect.Value{}, fmt.Errorf("a %v for a %v field", v.Type(), t)
		}
		out := reflect.New(t).Elem()
		if out.OverflowInt(i) {
			return reflect.Value{}, fmt.Errorf("out of range of %v", t)
		}
		out.SetInt(i)
		return out, nil
	case isUint(t.Kind()):
		var u uint64
		switch {
		case isInt(v.Kind()):
			if v.Int() < 0 {
				return reflect.Value{}, fmt.Errorf("negative value for %v", t)
			}
			u = uint64(v.Int())
		case isUint(v.Kind()):
			u = v.Uint()
		case isFloat(v.Kind()):
			x := v.Float()
			if x != math.Trunc(x) || x < 0 || x >= 1<<64 {
				return reflect.Value{}, fmt.Errorf("a float that is not an integer within range of %v", t)
			}
			u = uint64(x)
		default:
			return reflect.Value{}, fmt.Errorf("a %v for a %v field", v.Type(), t)
		}
		out := reflect.New(t).Elem()
		if out.OverflowUint(u) {
			return reflect.Value{}, fmt.Errorf("out of range of %v", t)
		}
		out.SetUint(u)
		return out, nil
	case isFloat(t.Kind()):
		var x float64
		switch {
		case isInt(v.Kind()):
			x = float64(v.Int())
			if int64(x) != v.Int() || x >= 1<<63 {
				return reflect.Value{}, fmt.Errorf("%v cannot hold the integer exactly", t)
			}
		case isUint(v.Kind()):
			x = float64(v.Uint())
			if x >= 1<<64 || uint64(x) != v.Uint() {
				return reflect.Value{}, fmt.Errorf("%v cannot hold the integer exactly", t)
			}
		case isFloat(v.Kind()):
			x = v.Float()
		default:
			return reflect.Value{}, fmt.Errorf("a %v for a %v field", v.Type(), t)
		}
		out := reflect.New(t).Elem()
		if t.Kind() == reflect.Float32 && float64(float32(x)) != x {
			return reflect.Value{}, fmt.Errorf("%v cannot hold the value exactly", t)
		}
		out.SetFloat(x)
		return out, nil
	}
	if v.Type().ConvertibleTo(t) && v.Kind() == t.Kind() {
		return v.Convert(t), nil
	}
	return reflect.Value{}, fmt.Errorf("a %v for a %v field", v.Type(), t)
}

func isObjectIDType(t reflect.Type) bool {
	return t == reflect.TypeFor[primitive.ObjectID]() ||
		(t.Kind() == reflect.Array && t.Len() == 12 && t.Elem().Kind() == reflect.Uint8 && reflect.TypeFor[primitive.ObjectID]().ConvertibleTo(t))
}

func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

func isUint(k reflect.Kind) bool {
	switch k {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

func isFloat(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }
