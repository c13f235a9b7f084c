package sqlrules

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"gorm.io/gorm/schema"
)

// The rules of the Postgres dialect, on top of the shared ones: what
// PostgreSQL rejects that MySQL stores, checked before sending so that
// the fake (fakes.WithDialect(fakes.Postgres)) and adapters/postgres
// agree on ErrInvalid.
//
//   - A string holding a NUL character ("\x00"): text and varchar cannot
//     store it (the server's SQLSTATE 22021, "invalid byte sequence for
//     encoding UTF8: 0x00"). []byte (bytea) can.
//   - An integer outside the column gorm's PostgreSQL dialect creates for
//     the field: `size:` up to 16 is a smallint, up to 32 an integer,
//     more a bigint, an unsigned type counting one bit more (a uint16 is
//     an integer, a uint32 a bigint, a uint64 a bigint, which holds no
//     value over MaxInt64); the server's SQLSTATE 22003.

// pgIntRange returns the range of the integer column PostgreSQL gets for
// f, and false when f is not a plain integer column.
func pgIntRange(f *schema.Field) (lo, hi int64, ok bool) {
	if f.DataType != schema.Int && f.DataType != schema.Uint {
		return 0, 0, false
	}
	size := f.Size
	if f.DataType == schema.Uint {
		size++
	}
	switch {
	case size <= 16:
		return math.MinInt16, math.MaxInt16, true
	case size <= 32:
		return math.MinInt32, math.MaxInt32, true
	}
	return math.MinInt64, math.MaxInt64, true
}

// CheckQueryValue applies the dialect's rules to a Query condition's value
// (an In condition's slice included): on Postgres a string holding a NUL
// character is refused, as the server refuses it (SQLSTATE 22021). The
// shared value rules are ports.Schema.Validate's.
func CheckQueryValue(d Dialect, field string, v any) error {
	if d != Postgres {
		return nil
	}
	rv := reflect.ValueOf(v)
	for rv.IsValid() && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.String:
		if strings.IndexByte(rv.String(), 0) >= 0 {
			return fmt.Errorf("value for %s: PostgreSQL text cannot hold a NUL character", field)
		}
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := range rv.Len() {
			if err := CheckQueryValue(d, field, rv.Index(i).Interface()); err != nil {
				return err
			}
		}
	}
	return nil
}
