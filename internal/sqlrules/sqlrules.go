// Package sqlrules holds the portable value rules of ports.SQLStore that
// need the model's gorm schema: the SQL fake and every SQL adapter call
// Check before a write is sent, so that what MySQL or PostgreSQL would
// reject (or silently change) is ErrInvalid on both sides.
//
// The rules per value of a column the write sends (see ports.SQLStore):
// strings valid UTF-8 and at most the column's size in characters (gorm's
// `size:`; MaxUnsizedBytes without one); floats finite; times in years
// 1..9999; unsigned integers within the dialect's column range.
package sqlrules

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"time"
	"unicode/utf8"

	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/portable"
)

// Dialect names the SQL semantics a store follows.
type Dialect string

// The dialects.
const (
	// MySQL: MySQL 8 / MariaDB 10.6+ as adapters/mysql creates tables:
	// utf8mb4_general_ci, datetime(3), bigint unsigned for uint64.
	MySQL Dialect = "mysql"
	// Postgres: PostgreSQL as adapters/postgres creates tables: COLLATE
	// "C", timestamptz (microseconds), bigint (signed) for uint64.
	Postgres Dialect = "postgres"
)

// TimePrecision returns the precision times are stored at.
func (d Dialect) TimePrecision() time.Duration {
	if d == Postgres {
		return time.Microsecond
	}
	return time.Millisecond
}

// MaxUnsizedBytes bounds a string or []byte of a column without a size
// (MariaDB's default max_allowed_packet is 16 MiB for the whole
// statement).
const MaxUnsizedBytes = 16<<20 - 1<<16

// Check applies the rules to the columns of entity rv (a struct value of
// the schema's model) that write selects (nil: every column with a
// database name that gorm creates or updates). The error names the field
// and never quotes the value; callers wrap it as ErrInvalid.
func Check(s *schema.Schema, rv reflect.Value, d Dialect, write func(*schema.Field) bool) error {
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	for _, f := range s.Fields {
		if f.DBName == "" {
			continue
		}
		if write != nil && !write(f) {
			continue
		}
		if write == nil && !f.Creatable && !f.Updatable {
			continue
		}
		val, _ := f.ValueOf(context.Background(), rv)
		if err := checkValue(f, reflect.ValueOf(val), d); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(f *schema.Field, v reflect.Value, d Dialect) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if f.Serializer != nil {
		return nil // the serializer's output is the value; checked by the server
	}
	name := f.Name
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if !utf8.ValidString(s) {
			return fmt.Errorf("%s: string is not valid UTF-8", name)
		}
		if f.Size > 0 {
			if n := utf8.RuneCountInString(s); n > f.Size {
				return fmt.Errorf("%s: %d characters, over the column's size of %d", name, n, f.Size)
			}
		} else if len(s) > MaxUnsizedBytes {
			return fmt.Errorf("%s: %d bytes, over the limit of %d for a column without a size", name, len(s), MaxUnsizedBytes)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if f.Size > 0 && v.Len() > f.Size {
				return fmt.Errorf("%s: %d bytes, over the column's size of %d", name, v.Len(), f.Size)
			}
			if v.Len() > MaxUnsizedBytes {
				return fmt.Errorf("%s: %d bytes, over the limit of %d", name, v.Len(), MaxUnsizedBytes)
			}
		}
	case reflect.Float32, reflect.Float64:
		return portable.CheckFloat(name, v.Float())
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if d == Postgres && v.Uint() > math.MaxInt64 {
			return fmt.Errorf("%s: unsigned value over %d, which PostgreSQL's bigint cannot hold", name, int64(math.MaxInt64))
		}
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			return portable.CheckTime(name, t)
		}
	}
	return nil
}
