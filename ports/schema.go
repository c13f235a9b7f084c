package ports

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// Class is the comparison class of a queryable field or a value: values
// compare only within a class.
type Class int

// The comparison classes.
const (
	ClassInvalid Class = iota // not queryable
	ClassNumber               // signed and unsigned integers, floats
	ClassString               // strings
	ClassBool                 // booleans: Eq, Ne and In only
	ClassTime                 // time.Time
)

func (c Class) String() string {
	switch c {
	case ClassNumber:
		return "number"
	case ClassString:
		return "string"
	case ClassBool:
		return "bool"
	case ClassTime:
		return "time"
	}
	return "invalid"
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	versionType  = reflect.TypeFor[Version]()
	docRefType   = reflect.TypeFor[DocRef]()
	documentType = reflect.TypeFor[Document]()
)

// isObjectIDArray reports whether t is a 12-byte array with a Hex method,
// such as the MongoDB driver's primitive.ObjectID.
func isObjectIDArray(t reflect.Type) bool {
	if t.Kind() != reflect.Array || t.Len() != 12 || t.Elem().Kind() != reflect.Uint8 {
		return false
	}
	m, ok := t.MethodByName("Hex")
	return ok && m.Type.NumIn() == 1 && m.Type.NumOut() == 1 && m.Type.Out(0).Kind() == reflect.String
}

// ClassOf returns the comparison class of type t (pointers are followed).
func ClassOf(t reflect.Type) Class {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return ClassTime
	}
	if isObjectIDArray(t) {
		return ClassString
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return ClassNumber
	case reflect.String:
		return ClassString
	case reflect.Bool:
		return ClassBool
	}
	return ClassInvalid
}

// Field describes one queryable field of a model.
type Field struct {
	// Path is the dotted Go field path a Query uses ("Total", "Address.City").
	Path string
	// Index is the index sequence for reflect.Value.FieldByIndex; it runs
	// through embedded structs.
	Index []int
	// Chain holds the struct field of every step of Index, embedded steps
	// included, so that adapters can read tags (gorm column, bson key).
	Chain []reflect.StructField
	// Type is the field's Go type.
	Type reflect.Type
	// Class is the comparison class of the field.
	Class Class
	// Nullable is true for pointer fields, which compare with nil.
	Nullable bool
	// ObjectID is true for a field that holds a document ID: the ID of an
	// embedded [Document], a [DocRef], or a 12-byte array with a Hex method
	// (primitive.ObjectID). Query values of string kind must then be 24
	// lowercase hexadecimal digits.
	ObjectID bool
	// Version is true for the model's [Version] field.
	Version bool
}

// Schema lists the queryable fields of a model struct type and validates
// Queries against them. It is shared by the fakes and the adapters, so all
// of them agree on which queries are invalid. A Schema is immutable and
// safe for concurrent use.
type Schema struct {
	typ        reflect.Type
	fields     map[string]*Field
	paths      []string // sorted
	version    *Field
	versionErr error
}

// schemaCache memoises schemas per type. It is a cache of pure functions of
// the type, not configuration, so sharing it across stores is safe.
var schemaCache sync.Map // reflect.Type -> *Schema

// SchemaOf returns the Schema of struct type T.
func SchemaOf[T any]() (*Schema, error) {
	return SchemaFor(reflect.TypeFor[T]())
}

// SchemaFor returns the Schema of struct type t (or pointer to struct).
func SchemaFor(t reflect.Type) (*Schema, error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, NewError("schema", "inspect model", ErrInvalid, fmt.Errorf("model type %v is not a struct", t))
	}
	if s, ok := schemaCache.Load(t); ok {
		return s.(*Schema), nil
	}
	s := &Schema{typ: t, fields: make(map[string]*Field)}
	s.collect(t, "", nil, nil, 0)
	for p, f := range s.fields {
		s.paths = append(s.paths, p)
		if f.Version {
			if s.version != nil {
				s.versionErr = fmt.Errorf("model %v has two Version fields, %s and %s", t, s.version.Path, p)
			}
			if s.version == nil || p < s.version.Path {
				s.version = f
			}
		}
	}
	slices.Sort(s.paths)
	v, _ := schemaCache.LoadOrStore(t, s)
	return v.(*Schema), nil
}

// collect walks t's exported fields. Embedded structs promote their fields
// (shallower names win, as in Go); named struct fields other than
// time.Time nest under "Name.".
func (s *Schema) collect(t reflect.Type, prefix string, index []int, chain []reflect.StructField, depth int) {
	if depth > 8 {
		return
	}
	type entry struct {
		f     reflect.StructField
		index []int
		chain []reflect.StructField
	}
	var embedded []entry
	for i := range t.NumField() {
		f := t.Field(i)
		idx := append(append([]int(nil), index...), i)
		ch := append(append([]reflect.StructField(nil), chain...), f)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && ft.Kind() == reflect.Struct && ft != timeType {
			embedded = append(embedded, entry{f, idx, ch})
			continue
		}
		if !f.IsExported() {
			continue
		}
		path := prefix + f.Name
		if _, dup := s.fields[path]; dup {
			continue
		}
		if ft.Kind() == reflect.Struct && ft != timeType {
			s.collect(ft, path+".", idx, ch, depth+1)
			continue
		}
		c := ClassOf(f.Type)
		if c == ClassInvalid {
			continue
		}
		base := f.Type
		for base.Kind() == reflect.Pointer {
			base = base.Elem()
		}
		isDocID := f.Name == "ID" && len(ch) >= 2 && ch[len(ch)-2].Anonymous && derefType(ch[len(ch)-2].Type) == documentType
		s.fields[path] = &Field{
			Path: path, Index: idx, Chain: ch, Type: f.Type, Class: c,
			Nullable: f.Type.Kind() == reflect.Pointer,
			ObjectID: base == docRefType || isObjectIDArray(base) || isDocID,
			Version:  base == versionType && f.Type.Kind() != reflect.Pointer,
		}
	}
	// Embedded fields come after direct ones so that direct fields shadow
	// promoted ones, as in Go.
	for _, e := range embedded {
		ft := e.f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		s.collect(ft, prefix, e.index, e.chain, depth+1)
	}
}

// Type returns the model struct type.
func (s *Schema) Type() reflect.Type { return s.typ }

// Lookup returns the queryable field at the dotted Go path.
func (s *Schema) Lookup(path string) (*Field, bool) {
	f, ok := s.fields[path]
	return f, ok
}

// Fields returns the number of queryable fields.
func (s *Schema) Fields() int { return len(s.fields) }

// Paths returns the dotted paths of the queryable fields, sorted. The
// slice belongs to s: do not modify it.
func (s *Schema) Paths() []string { return s.paths }

// VersionField returns the model's [Version] field, nil when it has none,
// and an error wrapping ErrInvalid when it has more than one.
func (s *Schema) VersionField() (*Field, error) {
	if s.versionErr != nil {
		return nil, NewError("schema", "inspect model", ErrInvalid, s.versionErr)
	}
	return s.version, nil
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// MaxInValues is the most values an In condition may hold (a portable
// rule: MySQL allows 65,535 parameters per statement in all).
const MaxInValues = 10000

// Validate checks q against the schema and returns an error wrapping
// ErrInvalid that names the first problem: an unknown field, an unknown
// operator, an ordering operator on a bool field, a value of another class
// than its field, a nil value where the field is not a pointer or the
// operator is not Eq or Ne, an In value that is not a slice or holds more
// than MaxInValues values, a value the portable rules reject (invalid
// UTF-8, NaN or ±Inf, an ID field compared with a string that is not of ID
// form), an unknown sort field or one given twice, or a negative limit or
// offset.
func (s *Schema) Validate(q Query) error {
	for _, c := range q.conds {
		if err := s.validateCond(c); err != nil {
			return NewError("query", "validate", ErrInvalid, err)
		}
	}
	for i, o := range q.orders {
		if _, ok := s.fields[o.Field]; !ok {
			return NewError("query", "validate", ErrInvalid, fmt.Errorf("%s has no sortable field %q", s.typ.Name(), o.Field))
		}
		for _, prev := range q.orders[:i] {
			if prev.Field == o.Field {
				return NewError("query", "validate", ErrInvalid, fmt.Errorf("sort field %s given twice", o.Field))
			}
		}
	}
	if q.limit < 0 {
		return NewError("query", "validate", ErrInvalid, fmt.Errorf("negative limit %d", q.limit))
	}
	if q.offset < 0 {
		return NewError("query", "validate", ErrInvalid, fmt.Errorf("negative offset %d", q.offset))
	}
	return nil
}

func (s *Schema) validateCond(c Condition) error {
	f, ok := s.fields[c.Field]
	if !ok {
		return fmt.Errorf("%s has no queryable field %q", s.typ.Name(), c.Field)
	}
	if !c.Op.Valid() {
		return fmt.Errorf("unknown operator %q on field %s", string(c.Op), c.Field)
	}
	switch c.Op {
	case Lt, Lte, Gt, Gte:
		if f.Class == ClassBool {
			return fmt.Errorf("operator %s does not apply to bool field %s", c.Op, c.Field)
		}
	}
	if c.Op == In {
		if c.Value == nil {
			return fmt.Errorf("operator in on field %s needs a slice value, got nil", c.Field)
		}
		v := reflect.ValueOf(c.Value)
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return fmt.Errorf("operator in on field %s needs a slice value, got %T", c.Field, c.Value)
		}
		if v.Len() > MaxInValues {
			return fmt.Errorf("operator in on field %s has %d values, over the portable limit of %d", c.Field, v.Len(), MaxInValues)
		}
		for i := range v.Len() {
			e := v.Index(i)
			if e.Kind() == reflect.Interface {
				e = e.Elem()
			}
			if !e.IsValid() || ClassOf(e.Type()) != f.Class || (e.Kind() == reflect.Pointer && e.IsNil()) {
				return fmt.Errorf("operator in on %s field %s: element %d is %s", f.Class, c.Field, i, describe(e))
			}
			if err := checkQueryValue(f, c.Field, e); err != nil {
				return fmt.Errorf("operator in, element %d: %w", i, err)
			}
		}
		return nil
	}
	if c.Value == nil || isNilPointer(c.Value) {
		if !f.Nullable || (c.Op != Eq && c.Op != Ne) {
			return fmt.Errorf("nil compares only with = or != on a pointer field; %s is %v", c.Field, f.Type)
		}
		return nil
	}
	if vc := ClassOf(reflect.TypeOf(c.Value)); vc != f.Class {
		return fmt.Errorf("%s field %s compared with %T", f.Class, c.Field, c.Value)
	}
	return checkQueryValue(f, c.Field, reflect.ValueOf(c.Value))
}

// checkQueryValue applies the portable value rules to a query value of
// field f: valid UTF-8, no NaN or ±Inf, the ObjectID form on ID fields.
func checkQueryValue(f *Field, path string, v reflect.Value) error {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if !utf8.ValidString(s) {
			return fmt.Errorf("value for %s is not valid UTF-8", path)
		}
		if f.ObjectID && !IsObjectIDHex(s) && !(s == "" && f.Path != "ID" && f.Type.Kind() == reflect.String) {
			return fmt.Errorf("value for %s is not a document ID (24 lowercase hexadecimal digits)", path)
		}
	case reflect.Float32, reflect.Float64:
		if x := v.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("value for %s is %v, which no backend compares portably", path, x)
		}
	}
	return nil
}

// IsObjectIDHex reports whether s has the form of a document ID: 24
// lowercase hexadecimal digits.
func IsObjectIDHex(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func describe(v reflect.Value) string {
	if !v.IsValid() {
		return "nil"
	}
	return v.Type().String()
}
