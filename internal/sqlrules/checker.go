package sqlrules

import (
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/portable"
)

// Checker is Check for one model, dialect and choice of columns, with
// what Check works out per column (which columns, their limits) worked
// out once, and the fields of a basic kind (string, bool, integer,
// float, time.Time, or a pointer to one) at a fixed offset read without
// reflection. Check(s, rv, d, write) is NewChecker(s, d, write).Check(rv).
// A Checker is safe for concurrent use.
type Checker struct {
	s      *schema.Schema
	d      Dialect
	fields []fieldCheck
}

// fieldCheck is how a Checker checks one column.
type fieldCheck struct {
	f    *schema.Field
	off  uintptr      // the field's offset, when fast
	kind reflect.Kind // of the value (a pointer's element), when fast
	ptr  bool         // the field is a pointer to the value
	fast bool         // read at off without reflection
	time bool         // the value is a time.Time

	chars, bytes int // a string's limit (StringLimit)
	ints         intRanges
}

// NewChecker returns the Checker of the columns of s's model that write
// selects on dialect d (see Check).
func NewChecker(s *schema.Schema, d Dialect, write func(*schema.Field) bool) *Checker {
	c := &Checker{s: s, d: d}
	for _, f := range s.Fields {
		if f.DBName == "" || (write != nil && !write(f)) || (write == nil && !f.Creatable && !f.Updatable) {
			continue
		}
		fc := fieldCheck{f: f, ints: newIntRanges(f, d)}
		fc.chars, fc.bytes = d.StringLimit(f)
		fc.off, fc.kind, fc.ptr, fc.time, fc.fast = fastField(s.ModelType, f)
		c.fields = append(c.fields, fc)
	}
	return c
}

// fastField reports where and how a Checker reads f without reflection:
// a field at a fixed offset (no pointer on the way), without a
// serializer, of a basic kind or time.Time, or a pointer to one.
func fastField(model reflect.Type, f *schema.Field) (off uintptr, kind reflect.Kind, ptr, isTime, ok bool) {
	if f.Serializer != nil {
		return 0, 0, false, false, false
	}
	off, fixed := FieldOffset(model, f)
	if !fixed {
		return 0, 0, false, false, false
	}
	st := f.StructField.Type
	if st.Kind() == reflect.Pointer {
		st, ptr = st.Elem(), true
	}
	switch k := st.Kind(); k {
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return off, k, ptr, false, true
	case reflect.Struct:
		if st == reflect.TypeFor[time.Time]() {
			return off, k, ptr, true, true
		}
	}
	return 0, 0, false, false, false
}

// FieldOffset returns the offset of f's field in a value of model, and
// false when the path to it goes through a pointer (an embedded *struct)
// or model is not the struct the path was parsed from.
func FieldOffset(model reflect.Type, f *schema.Field) (uintptr, bool) {
	var off uintptr
	st := model
	for _, i := range f.StructField.Index {
		if i < 0 || st.Kind() != reflect.Struct || i >= st.NumField() {
			return 0, false
		}
		sf := st.Field(i)
		off += sf.Offset
		st = sf.Type
	}
	return off, st == f.StructField.Type
}

// Check applies the rules to entity rv (a struct value of the model, or
// a pointer to one), as Check does.
func (c *Checker) Check(rv reflect.Value) error {
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	var base unsafe.Pointer
	if rv.CanAddr() {
		base = rv.Addr().UnsafePointer()
	}
	total := 0
	for i := range c.fields {
		fc := &c.fields[i]
		if !fc.fast || base == nil {
			v := fieldValue(fc.f, rv)
			if err := checkValue(fc.f, v, c.d); err != nil {
				return err
			}
			total += byteLen(v)
			continue
		}
		p := unsafe.Add(base, fc.off)
		if fc.ptr {
			if p = *(*unsafe.Pointer)(p); p == nil {
				continue
			}
		}
		n, err := fc.check(p, c.d)
		if err != nil {
			return err
		}
		total += n
	}
	if total > MaxStatementBytes {
		return fmt.Errorf("%s: %d bytes of strings and bytes in one row, over the limit of %d", c.s.Name, total, MaxStatementBytes)
	}
	return nil
}

// check applies the rules to the value at p, as checkValue does, and
// returns its length in bytes (a string's; 0 for others).
func (fc *fieldCheck) check(p unsafe.Pointer, d Dialect) (int, error) {
	name := fc.f.Name
	switch fc.kind {
	case reflect.String:
		s := *(*string)(p)
		return len(s), checkString(name, s, d, fc.chars, fc.bytes)
	case reflect.Float32:
		return 0, portable.CheckFloat(name, float64(*(*float32)(p)))
	case reflect.Float64:
		return 0, portable.CheckFloat(name, *(*float64)(p))
	case reflect.Int:
		return 0, fc.ints.checkInt(name, int64(*(*int)(p)), d)
	case reflect.Int8:
		return 0, fc.ints.checkInt(name, int64(*(*int8)(p)), d)
	case reflect.Int16:
		return 0, fc.ints.checkInt(name, int64(*(*int16)(p)), d)
	case reflect.Int32:
		return 0, fc.ints.checkInt(name, int64(*(*int32)(p)), d)
	case reflect.Int64:
		return 0, fc.ints.checkInt(name, *(*int64)(p), d)
	case reflect.Uint:
		return 0, fc.ints.checkUint(name, uint64(*(*uint)(p)), d)
	case reflect.Uint8:
		return 0, fc.ints.checkUint(name, uint64(*(*uint8)(p)), d)
	case reflect.Uint16:
		return 0, fc.ints.checkUint(name, uint64(*(*uint16)(p)), d)
	case reflect.Uint32:
		return 0, fc.ints.checkUint(name, uint64(*(*uint32)(p)), d)
	case reflect.Uint64:
		return 0, fc.ints.checkUint(name, *(*uint64)(p), d)
	case reflect.Struct:
		if fc.time {
			return 0, portable.CheckTime(name, *(*time.Time)(p))
		}
	}
	return 0, nil
}
