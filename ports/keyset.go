package ports

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// The helpers below are what every store shares for FindPage, Patch and
// DeleteWhere, so that fakes and adapters (portkit's and third parties')
// accept and reject the same calls and read the same cursors.

// ValidatePage checks q for FindPage: Validate's rules, a positive limit
// (the page size) and no offset.
func (s *Schema) ValidatePage(q Query) error {
	if err := s.Validate(q); err != nil {
		return err
	}
	if q.limit <= 0 {
		return NewError("query", "validate", ErrInvalid, fmt.Errorf("FindPage needs a positive Limit (the page size), got %d", q.limit))
	}
	if q.offset != 0 {
		return NewError("query", "validate", ErrInvalid, fmt.Errorf("FindPage pages by cursor, not by Offset (got %d)", q.offset))
	}
	return nil
}

// ValidateDeleteWhere checks q for DeleteWhere: Validate's rules, at least
// one condition, and no order, limit or offset.
func (s *Schema) ValidateDeleteWhere(q Query) error {
	if err := s.Validate(q); err != nil {
		return err
	}
	switch {
	case len(q.conds) == 0:
		return NewError("query", "validate", ErrInvalid, fmt.Errorf("DeleteWhere needs at least one condition"))
	case len(q.orders) > 0 || q.limit != 0 || q.offset != 0:
		return NewError("query", "validate", ErrInvalid, fmt.Errorf("DeleteWhere takes conditions only, not an order, limit or offset"))
	}
	return nil
}

// ValidatePatch checks p against the schema: at least one change, each
// naming a field the model has at most once, neither the primary key
// (pkPath) nor the Version field, with a value of the field's class (nil
// only on a pointer field, with OpSet), a number under OpInc on a numeric
// field, and values the portable rules accept. p's IfVersion needs a
// Version field.
func (s *Schema) ValidatePatch(p Patch, pkPath string) error {
	fail := func(format string, args ...any) error {
		return NewError("patch", "validate", ErrInvalid, fmt.Errorf(format, args...))
	}
	if len(p.changes) == 0 {
		return fail("empty patch")
	}
	vf, err := s.VersionField()
	if err != nil {
		return err
	}
	if p.hasIf && vf == nil {
		return fail("IfVersion on %s, which has no Version field", s.typ.Name())
	}
	for i, c := range p.changes {
		f, ok := s.fields[c.Field]
		if !ok {
			return fail("%s has no field %q", s.typ.Name(), c.Field)
		}
		for _, prev := range p.changes[:i] {
			if prev.Field == c.Field {
				return fail("field %s changed twice", c.Field)
			}
		}
		switch {
		case c.Field == pkPath:
			return fail("the primary key %s cannot be patched", c.Field)
		case f.Version:
			return fail("the version field %s is set by the store", c.Field)
		}
		switch c.Op {
		case OpSet:
			if c.Value == nil || isNilPointer(c.Value) {
				if !f.Nullable {
					return fail("nil for %s, which is not a pointer field", c.Field)
				}
				continue
			}
		case OpInc:
			if f.Class != ClassNumber {
				return fail("Inc of %s field %s", f.Class, c.Field)
			}
			if f.Nullable {
				return fail("Inc of pointer field %s: NULL has no portable increment (Set it instead)", c.Field)
			}
			if c.Value == nil || isNilPointer(c.Value) {
				return fail("Inc of %s by nil", c.Field)
			}
			if isIntegerKind(f.Type) && !isIntegral(reflect.ValueOf(c.Value)) {
				return fail("Inc of integer field %s by %v: the delta is not a whole number (MySQL rounds it, MongoDB stores a double)", c.Field, c.Value)
			}
		default:
			return fail("unknown change operator %q on %s", string(c.Op), c.Field)
		}
		if vc := ClassOf(reflect.TypeOf(c.Value)); vc != f.Class {
			return fail("%s field %s set to %T", f.Class, c.Field, c.Value)
		}
		if err := checkQueryValue(f, c.Field, reflect.ValueOf(c.Value)); err != nil {
			return fail("%v", err)
		}
	}
	return nil
}

// KeysetOrder returns the sort keys of a keyset page of q: q's own, then
// the primary key at pkPath ascending unless q sorts by it already.
func KeysetOrder(q Query, pkPath string) []Order {
	out := append([]Order(nil), q.orders...)
	for _, o := range out {
		if o.Field == pkPath {
			return out
		}
	}
	return append(out, Order{Field: pkPath})
}

// cursorVersion tags the cursor format.
const cursorVersion = 1

// EncodeCursor returns the FindPage cursor that follows row (a value or
// pointer of the model type) in q's keyset order (see KeysetOrder). The
// cursor is opaque: URL-safe base64 of the row's sort values, sealed with a
// checksum over them and over q's conditions and order, so that a cursor
// altered, or used with another query, is refused by DecodeCursor.
func (s *Schema) EncodeCursor(q Query, pkPath string, row any) (string, error) {
	v := reflect.ValueOf(row)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "", NewError("cursor", "encode", ErrInvalid, fmt.Errorf("nil row"))
		}
		v = v.Elem()
	}
	if v.Type() != s.typ {
		return "", NewError("cursor", "encode", ErrInvalid, fmt.Errorf("row of type %v for a %v cursor", v.Type(), s.typ))
	}
	order := KeysetOrder(q, pkPath)
	vals := make([]cursorValue, len(order))
	for i, o := range order {
		f, ok := s.fields[o.Field]
		if !ok {
			return "", NewError("cursor", "encode", ErrInvalid, fmt.Errorf("%s has no field %q", s.typ.Name(), o.Field))
		}
		fv, null := fieldByIndex(v, f.Index)
		if null || (f.ObjectID && fv.Kind() == reflect.String && fv.String() == "" && canBeNull(f)) {
			vals[i] = cursorValue{T: "n"}
			continue
		}
		cv, err := encodeCursorValue(fv)
		if err != nil {
			return "", NewError("cursor", "encode", ErrInvalid, fmt.Errorf("%s: %w", o.Field, err))
		}
		vals[i] = cv
	}
	payload, err := json.Marshal(cursorPayload{V: cursorVersion, K: vals})
	if err != nil {
		return "", NewError("cursor", "encode", ErrInvalid, err)
	}
	sum := s.cursorSum(q, pkPath, payload)
	return base64.RawURLEncoding.EncodeToString(append(payload, sum...)), nil
}

// DecodeCursor returns the sort values cursor holds, one per key of
// KeysetOrder(q, pkPath): nil for NULL, else int64, uint64, float64,
// string, bool or time.Time (UTC), typed by the field's class. A cursor
// that does not decode, whose checksum does not match q, or whose values do
// not fit the fields, is ErrInvalid.
func (s *Schema) DecodeCursor(q Query, pkPath, cursor string) ([]any, error) {
	fail := func(why string) ([]any, error) {
		return nil, NewError("cursor", "decode", ErrInvalid, fmt.Errorf("malformed or foreign page cursor: %s", why))
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= cursorSumLen {
		return fail("not a cursor")
	}
	payload, sum := raw[:len(raw)-cursorSumLen], raw[len(raw)-cursorSumLen:]
	if !bytes.Equal(sum, s.cursorSum(q, pkPath, payload)) {
		return fail("checksum does not match this query")
	}
	var p cursorPayload
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.V != cursorVersion {
		return fail("unknown format")
	}
	order := KeysetOrder(q, pkPath)
	if len(p.K) != len(order) {
		return fail("wrong number of values")
	}
	out := make([]any, len(order))
	for i, o := range order {
		f, ok := s.fields[o.Field]
		if !ok {
			return fail("unknown field")
		}
		x, err := decodeCursorValue(p.K[i], f)
		if err != nil {
			return fail(o.Field + ": " + err.Error())
		}
		out[i] = x
	}
	return out, nil
}

// Keyset returns the condition "after the row whose sort values are vals"
// in the order KeysetOrder(q, pkPath), as a disjunction of conjunctions
// (match a row when every condition of any one term holds), built only of
// the port's operators with its NULL rules: NULL first ascending, last
// descending. vals comes from DecodeCursor. A term may compare any sort
// field with nil, a non-pointer one too (a document may lack the field, a
// struct on its path may be nil; where the store holds no NULL there the
// term matches nothing): the terms are for the store's own translation,
// not for Schema.Validate.
func Keyset(q Query, pkPath string, vals []any) [][]Condition {
	order := KeysetOrder(q, pkPath)
	var terms [][]Condition
	var prefix []Condition // "equal on the keys before i"
	for i, o := range order {
		v := vals[i]
		eq := Condition{Field: o.Field, Op: Eq, Value: v} // nil: IS NULL
		var afters []Condition
		switch {
		case !o.Desc && v == nil:
			afters = []Condition{{Field: o.Field, Op: Ne, Value: nil}} // NULLs come first
		case !o.Desc:
			afters = []Condition{{Field: o.Field, Op: Gt, Value: v}}
		case v == nil: // descending: NULLs come last, nothing is after NULL
		default:
			afters = []Condition{{Field: o.Field, Op: Lt, Value: v}, {Field: o.Field, Op: Eq, Value: nil}}
		}
		for _, a := range afters {
			term := append(append([]Condition(nil), prefix...), a)
			terms = append(terms, term)
		}
		prefix = append(prefix, eq)
	}
	return terms
}

// KeysetQuery returns q's conditions with term added: the query of one
// term of Keyset, for a store that runs the terms as separate queries.
func KeysetQuery(q Query, term []Condition) Query {
	out := Query{conds: append(append([]Condition(nil), q.conds...), term...)}
	return out
}

const cursorSumLen = 12

func (s *Schema) cursorSum(q Query, pkPath string, payload []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "portkit-cursor/%d\x00%s\x00%s\x00", cursorVersion, s.typ.PkgPath()+"."+s.typ.Name(), pkPath)
	for _, c := range q.conds {
		fmt.Fprintf(h, "%s\x00%s\x00", c.Field, c.Op)
		writeCanonical(h, reflect.ValueOf(c.Value))
	}
	for _, o := range q.orders {
		fmt.Fprintf(h, "o\x00%s\x00%t\x00", o.Field, o.Desc)
	}
	h.Write(payload)
	return h.Sum(nil)[:cursorSumLen]
}

// writeCanonical writes a canonical rendering of a query value.
func writeCanonical(w interface{ Write([]byte) (int, error) }, v reflect.Value) {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			v = reflect.Value{}
			break
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		fmt.Fprint(w, "nil\x00")
		return
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		if !isObjectIDArray(v.Type()) {
			fmt.Fprintf(w, "[%d\x00", v.Len())
			for i := range v.Len() {
				writeCanonical(w, v.Index(i))
			}
			fmt.Fprint(w, "]\x00")
			return
		}
	}
	cv, err := encodeCursorValue(v)
	if err != nil {
		fmt.Fprintf(w, "?%v\x00", v.Type())
		return
	}
	fmt.Fprintf(w, "%s:%s\x00", cv.T, cv.S)
}

type cursorPayload struct {
	V int           `json:"v"`
	K []cursorValue `json:"k"`
}

// cursorValue is one typed sort value: T is n (NULL), i (int64), u
// (uint64), f (float64, exact bits), s (string), b (bool), t (time,
// RFC 3339 with nanoseconds, UTC).
type cursorValue struct {
	T string `json:"t"`
	S string `json:"s,omitempty"`
}

func encodeCursorValue(v reflect.Value) (cursorValue, error) {
	if v.Type() == timeType {
		return cursorValue{T: "t", S: v.Interface().(time.Time).UTC().Format(time.RFC3339Nano)}, nil
	}
	if isObjectIDArray(v.Type()) {
		return cursorValue{T: "s", S: v.MethodByName("Hex").Call(nil)[0].String()}, nil
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cursorValue{T: "i", S: strconv.FormatInt(v.Int(), 10)}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return cursorValue{T: "u", S: strconv.FormatUint(v.Uint(), 10)}, nil
	case reflect.Float32, reflect.Float64:
		return cursorValue{T: "f", S: strconv.FormatUint(math.Float64bits(v.Float()), 16)}, nil
	case reflect.String:
		return cursorValue{T: "s", S: v.String()}, nil
	case reflect.Bool:
		return cursorValue{T: "b", S: strconv.FormatBool(v.Bool())}, nil
	}
	return cursorValue{}, fmt.Errorf("cannot page by a value of type %v", v.Type())
}

func decodeCursorValue(cv cursorValue, f *Field) (any, error) {
	if cv.T == "n" {
		if !canBeNull(f) {
			return nil, fmt.Errorf("NULL for a field that cannot be NULL")
		}
		return nil, nil
	}
	wrongClass := fmt.Errorf("value of kind %q for a %s field", cv.T, f.Class)
	switch cv.T {
	case "i":
		if f.Class != ClassNumber {
			return nil, wrongClass
		}
		return strconv.ParseInt(cv.S, 10, 64)
	case "u":
		if f.Class != ClassNumber {
			return nil, wrongClass
		}
		return strconv.ParseUint(cv.S, 10, 64)
	case "f":
		if f.Class != ClassNumber {
			return nil, wrongClass
		}
		bits, err := strconv.ParseUint(cv.S, 16, 64)
		if err != nil {
			return nil, err
		}
		x := math.Float64frombits(bits)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("not a finite number")
		}
		return x, nil
	case "s":
		if f.Class != ClassString {
			return nil, wrongClass
		}
		if !utf8.ValidString(cv.S) || (f.ObjectID && !IsObjectIDHex(cv.S)) {
			return nil, fmt.Errorf("malformed string")
		}
		return cv.S, nil
	case "b":
		if f.Class != ClassBool {
			return nil, wrongClass
		}
		return strconv.ParseBool(cv.S)
	case "t":
		if f.Class != ClassTime {
			return nil, wrongClass
		}
		t, err := time.Parse(time.RFC3339Nano, cv.S)
		if err != nil {
			return nil, err
		}
		return t.UTC(), nil
	}
	return nil, fmt.Errorf("unknown value kind %q", cv.T)
}

// canBeNull reports whether a row can hold no value for f: f is a pointer,
// a struct on its path is reached through a pointer, or f holds a document
// reference (the empty DocRef is stored as null).
func canBeNull(f *Field) bool {
	if f.Nullable || (f.ObjectID && f.Type.Kind() == reflect.String && f.Path != "ID") {
		return true
	}
	for _, sf := range f.Chain[:max(len(f.Chain)-1, 0)] {
		if sf.Type.Kind() == reflect.Pointer {
			return true
		}
	}
	return false
}

// fieldByIndex returns the field at index in struct value v, following
// pointers; null is true when a pointer on the way, or the field itself,
// is nil.
func fieldByIndex(v reflect.Value, index []int) (f reflect.Value, null bool) {
	for _, i := range index {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, true
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}, true
		}
		v = v.Elem()
	}
	return v, false
}

// isIntegerKind reports whether t (or what it points to) is an integer type.
func isIntegerKind(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// isIntegral reports whether the numeric value v is a whole number.
func isIntegral(v reflect.Value) bool {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		return f == math.Trunc(f) && !math.IsInf(f, 0)
	}
	return true
}
