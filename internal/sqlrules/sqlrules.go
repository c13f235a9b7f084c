// Package sqlrules holds the portable value rules of ports.SQLStore that
// need the model's gorm schema: the SQL fake and every SQL adapter call
// Check before a write is sent, so that what MySQL or PostgreSQL would
// reject (or silently change) is ErrInvalid on both sides.
//
// The rules per value of a column the write sends (see ports.SQLStore):
// strings valid UTF-8 and at most the column's size in characters (see
// Dialect.StringLimit); floats finite; times in years 1..9999; integers
// within the range of the column the dialect creates for the field (a
// `size:8` int is a TINYINT on MySQL); and, per row, at most
// MaxStatementBytes of strings and bytes in all.
//
// Measured on MariaDB 10.11 (max_allowed_packet 16 MiB, the default of
// MySQL 8 and MariaDB): a prepared INSERT of one longtext value of
// 16 MiB - 60 bytes succeeds and one of 16 MiB breaks the connection
// ("commands out of sync"), so the limit of a column without a size is a
// statement's budget, MaxUnsizedBytes; uint64 up to MaxUint64 is stored
// in `bigint unsigned`; -0.0 in a DOUBLE comes back as 0 (see
// Dialect.StoredFloat); a year 0 or 10000 is error 1292, NaN and ±Inf are
// refused by the driver or the server (1264).
package sqlrules

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
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

// MaxStatementBytes bounds the strings and bytes of one row in all (and
// the rows of one INSERT of CreateMany, which stores split into more
// statements): what a statement can carry under the default
// max_allowed_packet of 16 MiB, with room for the rest of it.
const MaxStatementBytes = MaxUnsizedBytes

// StoredFloat returns what a float column gives back for x: MySQL and
// MariaDB store -0.0 as 0; PostgreSQL keeps it.
func (d Dialect) StoredFloat(x float64) float64 {
	if d != Postgres && x == 0 {
		return 0
	}
	return x
}

// sizedType matches a `type:` tag with a length: varchar(50), char(8).
var sizedType = regexp.MustCompile(`(?i)^\s*(?:var)?char\s*\(\s*(\d+)\s*\)`)

// StringLimit returns the most characters (chars > 0) or bytes (bytes >
// 0) a string column of f holds, as the dialect creates it: gorm's
// `size:` (or a `type:varchar(N)`) in characters; on MySQL an unsized
// string that is a key, has an index or a default is varchar(191), a size
// of 65536 and more is a MEDIUMTEXT (16 MiB - 1 bytes), and no size at all
// is a LONGTEXT, bounded by MaxUnsizedBytes.
func (d Dialect) StringLimit(f *schema.Field) (chars, bytes int) {
	if f.DataType != schema.String {
		if m := sizedType.FindStringSubmatch(string(f.DataType)); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n, 0
		}
		return 0, MaxUnsizedBytes
	}
	size := f.Size
	if d == Postgres {
		if size > 0 {
			return size, 0
		}
		return 0, MaxUnsizedBytes
	}
	if size == 0 && (f.PrimaryKey || f.HasDefaultValue || f.TagSettings["INDEX"] != "" || f.TagSettings["UNIQUE"] != "") {
		size = 191
	}
	switch {
	case size >= 65536 && size <= 1<<24:
		return 0, min(1<<24-1, MaxUnsizedBytes)
	case size > 0 && size < 65536:
		return size, 0
	}
	return 0, MaxUnsizedBytes
}

// intRange returns the range of the integer column MySQL gets for f
// (gorm's `size:` picks TINYINT … BIGINT, UNSIGNED for Go's unsigned
// types), and false when f is not a plain integer column or the dialect
// is not MySQL (PostgreSQL's checks are the server's, and uint64's above).
func (d Dialect) intRange(f *schema.Field) (lo int64, hi uint64, ok bool) {
	if d != MySQL || (f.DataType != schema.Int && f.DataType != schema.Uint) {
		return 0, 0, false
	}
	bits := 64
	switch size := f.Size; {
	case size <= 8:
		bits = 8
	case size <= 16:
		bits = 16
	case size <= 24:
		bits = 24
	case size <= 32:
		bits = 32
	}
	if f.DataType == schema.Uint {
		return 0, math.MaxUint64 >> (64 - bits), true
	}
	return -1 << (bits - 1), uint64(1)<<(bits-1) - 1, true
}

// CheckValue applies the rules to one value v of field f (a Patch's Set
// or Inc value, say). The error names the field, never the value.
func CheckValue(f *schema.Field, v any, d Dialect) error {
	return checkValue(f, reflect.ValueOf(v), d)
}

// CheckDelta applies the rules to the delta v of a Patch's Inc of field
// f: a float must be finite, and on Postgres an unsigned delta must fit
// the bigint parameter. The delta is not a column value: its range is not
// the column's (an unsigned column takes a negative delta, a tinyint one
// a delta over 127), only the sum must be in the column's range, which
// the server checks (MySQL 1264/1690, PostgreSQL 22003) as the SQL fake
// does (found by the differential checker: U64 inc -1 was ErrInvalid).
// The error names the field, never the value.
func CheckDelta(f *schema.Field, v any, d Dialect) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return portable.CheckFloat(f.Name, rv.Float())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if d == Postgres && rv.Uint() > math.MaxInt64 {
			return fmt.Errorf("%s: unsigned value over %d, which PostgreSQL's bigint cannot hold", f.Name, int64(math.MaxInt64))
		}
	}
	return nil
}

// Check applies the rules to the columns of entity rv (a struct value of
// the schema's model) that write selects (nil: every column with a
// database name that gorm creates or updates). The error names the field
// and never quotes the value; callers wrap it as ErrInvalid.
func Check(s *schema.Schema, rv reflect.Value, d Dialect, write func(*schema.Field) bool) error {
	return NewChecker(s, d, write).Check(rv)
}

// fieldValue returns the value of f in rv, as reflect.ValueOf of gorm's
// f.ValueOf would: a field of rv itself (not of an embedded struct, not an
// interface, without a serializer, whose ValueOf wraps the value) is read
// in place, without boxing it (gorm's ValueOf allocates for most values:
// about a third of CreateMany's allocations for 1000 rows).
func fieldValue(f *schema.Field, rv reflect.Value) reflect.Value {
	if len(f.StructField.Index) == 1 && f.StructField.Index[0] >= 0 && f.Serializer == nil {
		if v := rv.Field(f.StructField.Index[0]); v.Kind() != reflect.Interface && v.CanInterface() {
			return v
		}
	}
	val, _ := f.ValueOf(context.Background(), rv)
	return reflect.ValueOf(val)
}

// byteLen returns the length of a string or []byte value (0 for others).
func byteLen(v reflect.Value) int {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.String || (v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8) {
		return v.Len()
	}
	return 0
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
		chars, bytes := d.StringLimit(f)
		return checkString(name, v.String(), d, chars, bytes)
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
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return newIntRanges(f, d).checkInt(name, v.Int(), d)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return newIntRanges(f, d).checkUint(name, v.Uint(), d)
	case reflect.Struct:
		if v.Type() != reflect.TypeFor[time.Time]() {
			return nil
		}
		if v.CanAddr() {
			return portable.CheckTime(name, *v.Addr().Interface().(*time.Time)) // not boxed
		}
		return portable.CheckTime(name, v.Interface().(time.Time))
	}
	return nil
}

// checkString applies the rules to string s of a column that holds at
// most chars characters or bytes bytes (see StringLimit): on Postgres no
// NUL character, then valid UTF-8, then the limit.
func checkString(name, s string, d Dialect, chars, bytes int) error {
	if d == Postgres && strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s: PostgreSQL text cannot hold a NUL character", name)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: string is not valid UTF-8", name)
	}
	switch {
	case chars > 0 && len(s) > chars:
		if n := utf8.RuneCountInString(s); n > chars {
			return fmt.Errorf("%s: %d characters, over the column's size of %d", name, n, chars)
		}
	case bytes > 0 && len(s) > bytes:
		return fmt.Errorf("%s: %d bytes, over the column's limit of %d", name, len(s), bytes)
	}
	return nil
}

// intRanges is the range of an integer column on each dialect (pg, my:
// the dialect checks it).
type intRanges struct {
	pgLo, pgHi int64
	pg         bool
	myLo       int64
	myHi       uint64
	my         bool
}

// newIntRanges returns the ranges of f's column on d.
func newIntRanges(f *schema.Field, d Dialect) intRanges {
	var r intRanges
	if d == Postgres {
		r.pgLo, r.pgHi, r.pg = pgIntRange(f)
	}
	r.myLo, r.myHi, r.my = d.intRange(f)
	return r
}

// checkInt applies the rules to a signed integer x: PostgreSQL's range,
// then MySQL's.
func (r intRanges) checkInt(name string, x int64, d Dialect) error {
	if r.pg && (x < r.pgLo || x > r.pgHi) {
		return fmt.Errorf("%s: integer out of the range of its column (%d..%d)", name, r.pgLo, r.pgHi)
	}
	if r.my && (x < r.myLo || (x > 0 && uint64(x) > r.myHi)) {
		return fmt.Errorf("%s: integer out of the range of its column (%d..%d)", name, r.myLo, r.myHi)
	}
	return nil
}

// checkUint applies the rules to an unsigned integer x.
func (r intRanges) checkUint(name string, x uint64, d Dialect) error {
	if r.pg && x > uint64(r.pgHi) {
		if r.pgHi == math.MaxInt64 {
			return fmt.Errorf("%s: unsigned value over %d, which PostgreSQL's bigint cannot hold", name, int64(math.MaxInt64))
		}
		return fmt.Errorf("%s: integer out of the range of its column (0..%d)", name, r.pgHi)
	}
	if r.my && x > r.myHi {
		return fmt.Errorf("%s: integer out of the range of its column (%d..%d)", name, r.myLo, r.myHi)
	}
	if d == Postgres && x > math.MaxInt64 {
		return fmt.Errorf("%s: unsigned value over %d, which PostgreSQL's bigint cannot hold", name, int64(math.MaxInt64))
	}
	return nil
}
