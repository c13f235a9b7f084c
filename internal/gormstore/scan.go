package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unsafe"

	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/sqlrules"
)

// ScanError is the error of a column value that does not fit its field
// (a string in an integer field, a number over the field's range): the
// row was written by another program, or the table differs from the
// model. It names the column and the field, never the value.
type ScanError struct {
	Column string // the column
	Field  string // the Go field
	Err    error  // why, without the value
}

func (e *ScanError) Error() string {
	return fmt.Sprintf("column %s into field %s: %v", e.Column, e.Field, e.Err)
}

// Unwrap returns the reason.
func (e *ScanError) Unwrap() error { return e.Err }

var (
	errSyntax   = errors.New("the value is not a number")
	errRange    = errors.New("the value is out of the field's range")
	errFraction = errors.New("the value has a fraction, the field is an integer")
	errNegative = errors.New("the value is negative, the field is unsigned")
	errBool     = errors.New("the value is not a boolean")
	errTime     = errors.New("the value is not a date and time")
)

// decodeFunc stores one column value src (a driver.Value: nil, int64,
// uint64, float32, float64, bool, []byte, string or time.Time) into the
// field at p. A []byte src belongs to the driver: decoders copy it.
type decodeFunc func(p unsafe.Pointer, src any) error

// colTarget is the scan target of one column: database/sql hands it the
// column's value (it implements sql.Scanner) and it stores the value at
// ptr, which the row scanner points at the current row's field.
type colTarget struct {
	ptr    unsafe.Pointer
	dec    decodeFunc
	field  string
	column string
}

// Scan implements sql.Scanner.
func (c *colTarget) Scan(src any) error {
	if err := c.dec(c.ptr, src); err != nil {
		return &ScanError{Column: c.column, Field: c.field, Err: err}
	}
	return nil
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	scannerType = reflect.TypeFor[sql.Scanner]()
)

// decoderFor returns the decoder of a field of type t without
// reflection, or nil when t needs gorm's setter (a sql.Scanner, a
// serializer, a struct, a slice other than []byte, a pointer to a
// pointer).
func decoderFor(t reflect.Type) decodeFunc {
	if reflect.PointerTo(t).Implements(scannerType) {
		return nil
	}
	if t.Kind() == reflect.Pointer {
		elem := t.Elem()
		if elem.Kind() == reflect.Pointer || reflect.PointerTo(elem).Implements(scannerType) || t.Implements(scannerType) {
			return nil
		}
		base := decoderFor(elem)
		if base == nil {
			return nil
		}
		return func(p unsafe.Pointer, src any) error {
			if src == nil {
				*(*unsafe.Pointer)(p) = nil
				return nil
			}
			np := reflect.New(elem).UnsafePointer()
			if err := base(np, src); err != nil {
				return err
			}
			*(*unsafe.Pointer)(p) = np
			return nil
		}
	}
	if t == timeType {
		return decTime
	}
	switch t.Kind() {
	case reflect.Bool:
		return decBool
	case reflect.Int:
		return decInt(strconv.IntSize)
	case reflect.Int8:
		return decInt(8)
	case reflect.Int16:
		return decInt(16)
	case reflect.Int32:
		return decInt(32)
	case reflect.Int64:
		return decInt(64)
	case reflect.Uint:
		return decUint(strconv.IntSize)
	case reflect.Uint8:
		return decUint(8)
	case reflect.Uint16:
		return decUint(16)
	case reflect.Uint32:
		return decUint(32)
	case reflect.Uint64:
		return decUint(64)
	case reflect.Float32:
		return decFloat32
	case reflect.Float64:
		return decFloat64
	case reflect.String:
		return decString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return decBytes
		}
	}
	return nil
}

// parseInt parses a decimal integer from b without allocating; a
// fraction of zeros ("12.00", as DECIMAL columns read) is accepted.
func parseInt(b []byte) (int64, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, err := parseUintBytes(b)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, errRange
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, errRange
	}
	return int64(u), nil
}

func parseUintBytes(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errSyntax
	}
	var u uint64
	for i, c := range b {
		if c == '.' {
			for _, d := range b[i+1:] {
				if d != '0' {
					if d < '0' || d > '9' {
						return 0, errSyntax
					}
					return 0, errFraction
				}
			}
			if i == 0 {
				return 0, errSyntax
			}
			return u, nil
		}
		if c < '0' || c > '9' {
			return 0, errSyntax
		}
		if u > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, errRange
		}
		u = u*10 + uint64(c-'0')
	}
	return u, nil
}

func parseFloat(b []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errRange
		}
		return 0, errSyntax
	}
	return f, nil
}

// toInt64 converts src to an int64.
func toInt64(src any) (int64, error) {
	switch x := src.(type) {
	case int64:
		return x, nil
	case nil:
		return 0, nil
	case []byte:
		return parseInt(x)
	case string:
		return parseInt([]byte(x))
	case uint64:
		if x > math.MaxInt64 {
			return 0, errRange
		}
		return int64(x), nil
	case float64:
		return floatToInt(x)
	case float32:
		return floatToInt(float64(x))
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("a %T value for an integer field", src)
}

func floatToInt(x float64) (int64, error) {
	if x != math.Trunc(x) {
		return 0, errFraction
	}
	if x < -1<<63 || x >= 1<<63 {
		return 0, errRange
	}
	return int64(x), nil
}

func decInt(bits int) decodeFunc {
	lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
	return func(p unsafe.Pointer, src any) error {
		v, err := toInt64(src)
		if err != nil {
			return err
		}
		if v < lo || v > hi {
			return errRange
		}
		switch bits {
		case 8:
			*(*int8)(p) = int8(v)
		case 16:
			*(*int16)(p) = int16(v)
		case 32:
			*(*int32)(p) = int32(v)
		default:
			*(*int64)(p) = v
		}
		return nil
	}
}

// toUint64 converts src to a uint64.
func toUint64(src any) (uint64, error) {
	switch x := src.(type) {
	case int64:
		if x < 0 {
			return 0, errNegative
		}
		return uint64(x), nil
	case uint64:
		return x, nil
	case nil:
		return 0, nil
	case []byte:
		if len(x) > 0 && x[0] == '-' {
			return 0, errNegative
		}
		return parseUintBytes(x)
	case string:
		if len(x) > 0 && x[0] == '-' {
			return 0, errNegative
		}
		return parseUintBytes([]byte(x))
	case float64, float32:
		f := reflect.ValueOf(x).Float()
		if f < 0 {
			return 0, errNegative
		}
		if f != math.Trunc(f) {
			return 0, errFraction
		}
		if f >= 1<<64 {
			return 0, errRange
		}
		return uint64(f), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("a %T value for an unsigned integer field", src)
}

func decUint(bits int) decodeFunc {
	hi := uint64(math.MaxUint64) >> (64 - bits)
	return func(p unsafe.Pointer, src any) error {
		v, err := toUint64(src)
		if err != nil {
			return err
		}
		if v > hi {
			return errRange
		}
		switch bits {
		case 8:
			*(*uint8)(p) = uint8(v)
		case 16:
			*(*uint16)(p) = uint16(v)
		case 32:
			*(*uint32)(p) = uint32(v)
		default:
			*(*uint64)(p) = v
		}
		return nil
	}
}

func toFloat64(src any) (float64, error) {
	switch x := src.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case nil:
		return 0, nil
	case []byte:
		return parseFloat(x)
	case string:
		return parseFloat([]byte(x))
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("a %T value for a float field", src)
}

func decFloat64(p unsafe.Pointer, src any) error {
	v, err := toFloat64(src)
	if err != nil {
		return err
	}
	*(*float64)(p) = v
	return nil
}

func decFloat32(p unsafe.Pointer, src any) error {
	v, err := toFloat64(src)
	if err != nil {
		return err
	}
	if math.Abs(v) > math.MaxFloat32 {
		return errRange
	}
	*(*float32)(p) = float32(v)
	return nil
}

func decBool(p unsafe.Pointer, src any) error {
	switch x := src.(type) {
	case int64:
		*(*bool)(p) = x != 0
	case bool:
		*(*bool)(p) = x
	case nil:
		*(*bool)(p) = false
	case []byte, string:
		var b []byte
		if s, ok := x.(string); ok {
			b = []byte(s)
		} else {
			b = x.([]byte)
		}
		if n, err := parseInt(b); err == nil {
			*(*bool)(p) = n != 0
			return nil
		}
		v, err := strconv.ParseBool(string(b))
		if err != nil {
			return errBool
		}
		*(*bool)(p) = v
	case uint64:
		*(*bool)(p) = x != 0
	case float64:
		*(*bool)(p) = x != 0
	default:
		return errBool
	}
	return nil
}

func decString(p unsafe.Pointer, src any) error {
	switch x := src.(type) {
	case []byte:
		*(*string)(p) = string(x)
	case string:
		*(*string)(p) = x
	case nil:
		*(*string)(p) = ""
	case int64:
		*(*string)(p) = strconv.FormatInt(x, 10)
	case uint64:
		*(*string)(p) = strconv.FormatUint(x, 10)
	case float64:
		*(*string)(p) = strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		*(*string)(p) = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case bool:
		*(*string)(p) = strconv.FormatBool(x)
	case time.Time:
		*(*string)(p) = x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Errorf("a %T value for a string field", src)
	}
	return nil
}

func decBytes(p unsafe.Pointer, src any) error {
	switch x := src.(type) {
	case []byte:
		*(*[]byte)(p) = append([]byte{}, x...)
	case string:
		*(*[]byte)(p) = []byte(x)
	case nil:
		*(*[]byte)(p) = nil
	default:
		return fmt.Errorf("a %T value for a []byte field", src)
	}
	return nil
}

// textTimeLayouts are the forms a DATETIME, TIMESTAMP or DATE column
// takes as text (a connection without parseTime).
var textTimeLayouts = []string{"2006-01-02 15:04:05.999999999", "2006-01-02"}

func decTime(p unsafe.Pointer, src any) error {
	switch x := src.(type) {
	case time.Time:
		*(*time.Time)(p) = x.UTC()
	case nil:
		*(*time.Time)(p) = time.Time{}
	case []byte, string:
		var s string
		if b, ok := x.([]byte); ok {
			s = string(b)
		} else {
			s = x.(string)
		}
		if s == "0000-00-00" || s == "0000-00-00 00:00:00" || (len(s) > 20 && s[:20] == "0000-00-00 00:00:00.") {
			*(*time.Time)(p) = time.Time{}
			return nil
		}
		for _, l := range textTimeLayouts {
			if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
				*(*time.Time)(p) = t
				return nil
			}
		}
		return errTime
	default:
		return errTime
	}
	return nil
}

// column is how one selected column reaches its field.
type column struct {
	field *schema.Field
	// offset of the field in the struct, when the path to it holds no
	// pointer (then fixed is set).
	offset uintptr
	fixed  bool
	// dec decodes without reflection; nil: the value goes through gorm's
	// setter (field.Set), as gorm's own scan does.
	dec decodeFunc
	// scanner: *T implements sql.Scanner, so the field's address is the
	// scan target, as in gorm.
	scanner bool
}

// rowPlan is how a row of the selected columns is stored in a T: built
// once per store from gorm's schema.
type rowPlan struct {
	model  reflect.Type
	names  []string
	cols   []column
	direct bool // every column is decoded at a fixed offset
}

func newRowPlan(model reflect.Type, fields []*schema.Field) *rowPlan {
	p := &rowPlan{model: model, direct: true}
	for _, f := range fields {
		c := column{field: f}
		t := f.StructField.Type
		off, fixed := sqlrules.FieldOffset(model, f)
		c.offset, c.fixed = off, fixed
		if f.Serializer == nil {
			c.dec = decoderFor(t)
			c.scanner = c.dec == nil && reflect.PointerTo(t).Implements(scannerType)
		}
		if c.dec == nil || !fixed {
			p.direct = false
		}
		p.cols = append(p.cols, c)
		p.names = append(p.names, f.DBName)
	}
	return p
}

// rowScanner scans rows of one plan; one per Find, Stream or Get call
// (it holds the targets of one row). It is not safe for concurrent use.
type rowScanner struct {
	plan    *rowPlan
	targets []any
	cts     []colTarget
	vals    []any // values of the columns that go through gorm's setter
	pooled  []any // serializer targets from the field's pool
}

func (p *rowPlan) newScanner() *rowScanner {
	s := &rowScanner{
		plan:    p,
		targets: make([]any, len(p.cols)),
		cts:     make([]colTarget, len(p.cols)),
	}
	if !p.direct {
		s.vals = make([]any, len(p.cols))
		s.pooled = make([]any, len(p.cols))
	}
	for i, c := range p.cols {
		s.cts[i] = colTarget{dec: c.dec, field: c.field.Name, column: c.field.DBName}
		if c.dec != nil {
			s.targets[i] = &s.cts[i]
		} else {
			s.targets[i] = &s.vals[i]
		}
	}
	return s
}

// scan stores the current row of rows into the struct at base (a *T as
// an unsafe.Pointer).
func (s *rowScanner) scan(ctx context.Context, rows *sql.Rows, base unsafe.Pointer) error {
	if s.plan.direct {
		for i := range s.cts {
			s.cts[i].ptr = unsafe.Add(base, s.plan.cols[i].offset)
		}
		return rows.Scan(s.targets...)
	}
	rv := reflect.NewAt(s.plan.model, base).Elem()
	for i, c := range s.plan.cols {
		switch {
		case c.dec != nil && c.fixed:
			s.cts[i].ptr = unsafe.Add(base, c.offset)
		case c.dec != nil:
			s.cts[i].ptr = c.field.ReflectValueOf(ctx, rv).Addr().UnsafePointer()
		case c.scanner:
			s.targets[i] = c.field.ReflectValueOf(ctx, rv).Addr().Interface()
		case c.field.Serializer != nil:
			s.pooled[i] = c.field.NewValuePool.Get()
			s.targets[i] = s.pooled[i]
		default:
			s.vals[i] = nil
			s.targets[i] = &s.vals[i]
		}
	}
	defer func() {
		for i, c := range s.plan.cols {
			if s.pooled[i] != nil {
				c.field.NewValuePool.Put(s.pooled[i])
				s.pooled[i] = nil
			}
			if c.scanner {
				s.targets[i] = nil
			}
		}
		clear(s.vals)
	}()
	if err := rows.Scan(s.targets...); err != nil {
		return err
	}
	for i, c := range s.plan.cols {
		var v any
		switch {
		case c.dec != nil || c.scanner:
			continue
		case c.field.Serializer != nil:
			v = s.pooled[i]
		default:
			v = s.vals[i]
		}
		if err := c.field.Set(ctx, rv, v); err != nil {
			return &ScanError{Column: c.field.DBName, Field: c.field.Name, Err: errors.New("gorm cannot set the value")}
		}
	}
	return nil
}

// reflectPointer returns e as the base pointer of a row scan.
func reflectPointer[T any](e *T) unsafe.Pointer { return unsafe.Pointer(e) }
