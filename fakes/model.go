package fakes

import (
	"reflect"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// maxDepth bounds the recursion of deepCopy and of struct walks, so that a
// cyclic value cannot overflow the stack.
const maxDepth = 32

// uniqueIndex is a unique index over one or more columns: cols are field
// index paths into *T rows, or fn (when set) computes the index value of a
// row of any form.
type uniqueIndex struct {
	name string
	cols [][]int
	fn   func(row any) (any, bool)
}

// compositeKey is the value of a unique index over several columns.
type compositeKey [8]any

// timeKey is a time as a comparable value (time.Time's == also compares
// locations).
type timeKey struct {
	sec  int64
	nsec int
}

// value returns the index value of row (a *T), or false when a column is
// NULL, which a unique index does not constrain.
func (u uniqueIndex) value(row any) (any, bool) {
	if u.fn != nil {
		return u.fn(row)
	}
	v := reflect.ValueOf(row).Elem()
	if len(u.cols) == 1 {
		return colValue(v, u.cols[0])
	}
	var k compositeKey
	for i, c := range u.cols {
		x, ok := colValue(v, c)
		if !ok {
			return nil, false
		}
		k[i] = x
	}
	return k, true
}

func colValue(v reflect.Value, index []int) (any, bool) {
	f, null := fieldValue(v, index)
	if null {
		return nil, false
	}
	if f.Type() == timeType {
		t := f.Interface().(time.Time)
		return timeKey{t.Unix(), t.Nanosecond()}, true
	}
	return f.Interface(), true
}

// fieldValue returns the field at index in struct value v, following
// pointers; null is true when a pointer on the way, or the field itself, is
// nil.
func fieldValue(v reflect.Value, index []int) (f reflect.Value, null bool) {
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

// clone returns a deep copy of *src.
func clone[T any](src *T) *T {
	dst := new(T)
	deepCopy(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem(), 0)
	return dst
}

// deepCopy sets dst (settable, of src's type) to a copy of src that shares
// no pointer, slice or map with it, through exported fields (unexported
// fields are copied shallowly). Past maxDepth it copies shallowly.
func deepCopy(dst, src reflect.Value, depth int) {
	if depth > maxDepth {
		dst.Set(src)
		return
	}
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopy(p.Elem(), src.Elem(), depth+1)
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if needsDeep(src.Type().Elem()) {
			for i := range src.Len() {
				deepCopy(s.Index(i), src.Index(i), depth+1)
			}
		} else {
			reflect.Copy(s, src)
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		it := src.MapRange()
		for it.Next() {
			v := reflect.New(src.Type().Elem()).Elem()
			deepCopy(v, it.Value(), depth+1)
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Struct:
		dst.Set(src)
		if src.Type() == timeType {
			return
		}
		for i := range src.NumField() {
			df := dst.Field(i)
			if df.CanSet() && needsDeep(df.Type()) {
				deepCopy(df, src.Field(i), depth+1)
			}
		}
	case reflect.Array:
		dst.Set(src)
		if needsDeep(src.Type().Elem()) {
			for i := range src.Len() {
				deepCopy(dst.Index(i), src.Index(i), depth+1)
			}
		}
	case reflect.Interface:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		v := reflect.New(src.Elem().Type()).Elem()
		deepCopy(v, src.Elem(), depth+1)
		dst.Set(v)
	default:
		dst.Set(src)
	}
}

// needsDeep reports whether values of type t may share memory when copied
// by assignment.
func needsDeep(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Struct, reflect.Array:
		return t != timeType
	}
	return false
}
