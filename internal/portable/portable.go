// Package portable enforces the portable value rules of package ports
// (see its error table) on entities and documents before they are sent,
// by fakes and adapters alike, so that a value one backend would store
// and another would reject is refused everywhere with ErrInvalid.
//
// Store-specific limits that need the model's schema (an SQL column's
// size, a document's encoded size) are checked by the stores with that
// schema; this package holds the rules that follow from a Go value alone.
package portable

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// Rules selects which rules Check applies beyond the ones that always
// apply (strings are valid UTF-8, floats are finite).
type Rules struct {
	// DocKeys checks the keys of maps with string keys: not empty, not
	// starting with '$', no '.' (MongoDB's field-name rules).
	DocKeys bool
	// Years checks that every time.Time lies in years 1..9999 (UTC), the
	// range every SQL backend and BSON hold alike.
	Years bool
	// Uint64 rejects unsigned integers over math.MaxInt64, which BSON
	// cannot hold and MySQL's signed BIGINT cannot either.
	Uint64 bool
	// Skip, when set, is asked about each struct field: true leaves the
	// field (and what it holds) unchecked, for fields a store does not
	// write (gorm:"-", bson:"-", unexported fields are skipped anyway).
	Skip func(f reflect.StructField) bool
}

// maxDepth bounds the walk, so that a cyclic value cannot recurse forever.
const maxDepth = 32

var timeType = reflect.TypeFor[time.Time]()

// Check walks v (a value or pointer of any type) and returns an error
// naming the first value that breaks a rule, with its field path; the
// error never quotes a string value. The caller wraps it as ErrInvalid.
func Check(v any, r Rules) error {
	return r.check(reflect.ValueOf(v), "", 0)
}

func (r Rules) check(v reflect.Value, path string, depth int) error {
	if !v.IsValid() || depth > maxDepth {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return r.check(v.Elem(), path, depth+1)
	case reflect.String:
		return CheckString(path, v.String())
	case reflect.Float32, reflect.Float64:
		return CheckFloat(path, v.Float())
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if r.Uint64 && v.Uint() > math.MaxInt64 {
			return fmt.Errorf("%s: unsigned value over %d, which not every backend can store", name(path), int64(math.MaxInt64))
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if r.Years {
				return CheckTime(path, v.Interface().(time.Time))
			}
			return nil
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			if r.Skip != nil && r.Skip(f) {
				continue
			}
			p := f.Name
			if f.Anonymous {
				p = path
			} else if path != "" {
				p = path + "." + f.Name
			}
			if err := r.check(v.Field(i), p, depth+1); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // bytes: any content
		}
		for i := range v.Len() {
			if err := r.check(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := it.Key()
			kp := path + "[key]"
			if k.Kind() == reflect.String {
				if r.DocKeys {
					if err := CheckDocKey(path, k.String()); err != nil {
						return err
					}
				} else if err := CheckString(kp, k.String()); err != nil {
					return err
				}
			}
			if err := r.check(it.Value(), path+"[value]", depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func name(path string) string {
	if path == "" {
		return "value"
	}
	return path
}

// CheckString rejects a string that is not valid UTF-8.
func CheckString(path, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: string is not valid UTF-8", name(path))
	}
	return nil
}

// CheckFloat rejects NaN and ±Inf.
func CheckFloat(path string, x float64) error {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Errorf("%s: %v is not a finite number, which not every backend stores", name(path), x)
	}
	return nil
}

// CheckTime rejects a time outside years 1..9999 (in UTC).
func CheckTime(path string, t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%s: year %d is outside 1..9999", name(path), y)
	}
	return nil
}

// CheckDocKey rejects a document key that is empty, starts with '$',
// contains '.', or is not valid UTF-8.
func CheckDocKey(path, k string) error {
	switch {
	case k == "":
		return fmt.Errorf("%s: empty key", name(path))
	case !utf8.ValidString(k):
		return fmt.Errorf("%s: key is not valid UTF-8", name(path))
	case strings.HasPrefix(k, "$"):
		return fmt.Errorf("%s: key starts with '$'", name(path))
	case strings.Contains(k, "."):
		return fmt.Errorf("%s: key contains '.'", name(path))
	}
	return nil
}
