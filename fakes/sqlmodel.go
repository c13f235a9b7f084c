package fakes

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/sqlrules"
	"github.com/portkit/portkit/ports"
)

// Dialect names the SQL backend whose semantics a [DB] follows (see
// [WithDialect]).
type Dialect = sqlrules.Dialect

// The dialects a DB can follow.
const (
	// MySQL follows MySQL and MariaDB as adapters/mysql creates its tables
	// (the default): utf8mb4_general_ci strings (case- and
	// accent-insensitive, trailing spaces ignored), datetime(3) times
	// (milliseconds, truncated), gorm's MySQL column types.
	MySQL Dialect = sqlrules.MySQL
	// Postgres follows PostgreSQL as adapters/postgres creates its tables:
	// strings in COLLATE "C" (bytewise, trailing spaces significant),
	// timestamps in microseconds, no unsigned integer over MaxInt64.
	Postgres Dialect = sqlrules.Postgres
)

// gormNamer is the naming strategy gorm.Open gives a DB by default, the one
// the SQL adapters use: table "people" for Person, column "created_at".
var gormNamer = schema.NamingStrategy{IdentifierMaxLength: 64}

var deletedAtType = reflect.TypeFor[gorm.DeletedAt]()

// sqlRow is one stored SQL row: the value of every column, in sqlModel.cols
// order, as the backend holds it: nil (NULL), int64, uint64, float64, bool,
// string, []byte or time.Time (UTC, at the column's precision). A stored
// row is never modified; a write stores a new one.
type sqlRow []any

// colKind is the storage class of a column.
type colKind uint8

const (
	kindOther colKind = iota
	kindInt
	kindUint
	kindFloat
	kindBool
	kindString
	kindBytes
	kindTime
)

// sqlCol is one column of T's table.
type sqlCol struct {
	i    int // position in a row
	f    *schema.Field
	kind colKind
	coll collation
	// size is the most characters (strings) or bytes (bytes) the column
	// holds; 0 for no limit beyond sqlrules.MaxUnsizedBytes.
	size int
	// prec is the precision times are stored at.
	prec time.Duration
	// intMin, intMax and uintMax bound integer columns.
	intMin, intMax int64
	uintMax        uint64
	// decimals > 0 (or decimal) makes a float column a DECIMAL(precision,
	// decimals) one, which rounds.
	decimal   bool
	precision int
	decimals  int
	notNull   bool
	// dbDefault is the column's DEFAULT, for an INSERT that leaves it out.
	dbDefault func(now time.Time) any
}

// sqlModel is T's table as the MySQL adapter creates it: parsed with gorm's
// own schema parser and naming strategy, so that names, columns, primary
// key, defaults, permissions, serializers, embedded structs, soft delete
// and auto times are gorm's.
type sqlModel struct {
	typ     reflect.Type
	gs      *schema.Schema
	ps      *ports.Schema
	dialect Dialect
	cols    []*sqlCol
	byPath  map[string]*sqlCol // readable columns by ports path
	pk      *sqlCol
	pkPath  string // the ports path of the primary key, "" if not queryable
	version *sqlCol
	softDel *sqlCol
	uniq    []uniqueIndex
	// the portable rules of what a Create and an Update write
	createCheck, updateCheck *sqlrules.Checker
}

// newSQLModel parses typ with gorm (schemas cached in cache).
func newSQLModel(typ reflect.Type, d Dialect, cache *sync.Map) (*sqlModel, error) {
	if typ.Kind() != reflect.Struct {
		return nil, fmt.Errorf("model type %v is not a struct", typ)
	}
	if d != MySQL && d != Postgres {
		return nil, fmt.Errorf("unknown SQL dialect %q", string(d))
	}
	gs, err := schema.Parse(reflect.New(typ).Interface(), cache, gormNamer)
	if err != nil {
		return nil, fmt.Errorf("model %v: %w", typ, err)
	}
	if len(gs.PrimaryFields) != 1 || gs.PrioritizedPrimaryField == nil {
		return nil, fmt.Errorf("model %v needs exactly one primary key field, has %d", typ, len(gs.PrimaryFields))
	}
	ps, err := ports.SchemaFor(typ)
	if err != nil {
		return nil, err
	}
	m := &sqlModel{typ: typ, gs: gs, ps: ps, dialect: d, byPath: map[string]*sqlCol{}}
	byIndex := map[string]*sqlCol{}
	for _, name := range gs.DBNames {
		f := gs.FieldsByDBName[name]
		c, err := m.newCol(len(m.cols), f)
		if err != nil {
			return nil, fmt.Errorf("model %v, field %s: %w", typ, f.Name, err)
		}
		m.cols = append(m.cols, c)
		if f == gs.PrioritizedPrimaryField {
			m.pk = c
		}
		if f.FieldType == deletedAtType {
			m.softDel = c
		}
		if f.Readable {
			byIndex[indexKey(f.StructField.Index, true)] = c
		}
	}
	if m.pk == nil {
		return nil, fmt.Errorf("model %v: the primary key %s has no column", typ, gs.PrioritizedPrimaryField.Name)
	}
	for _, p := range ps.Paths() {
		pf, _ := ps.Lookup(p)
		c, ok := byIndex[indexKey(pf.Index, false)]
		if !ok {
			continue
		}
		m.byPath[p] = c
		if c == m.pk {
			m.pkPath = p
		}
	}
	vf, err := ps.VersionField()
	if err != nil {
		return nil, err
	}
	if vf != nil {
		c, ok := m.byPath[vf.Path]
		if !ok || !c.f.Creatable || !c.f.Updatable {
			return nil, fmt.Errorf("model %v: the Version field %s must be a readable and writable column", typ, vf.Path)
		}
		m.version = c
	}
	if m.uniq, err = m.uniqueIndexes(); err != nil {
		return nil, fmt.Errorf("model %v: %w", typ, err)
	}
	m.createCheck = sqlrules.NewChecker(gs, d, creatable)
	m.updateCheck = sqlrules.NewChecker(gs, d, updatable)
	return m, nil
}

// indexKey renders a struct index path; gorm marks a step through a
// pointer to an embedded struct as -i-1, which gorm=true undoes.
func indexKey(index []int, gorm bool) string {
	b := make([]byte, 0, 4*len(index))
	for _, i := range index {
		if gorm && i < 0 {
			i = -i - 1
		}
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '.')
	}
	return string(b)
}

var typeSize = regexp.MustCompile(`(?i)^\s*(?:var)?(?:char|binary)\s*\(\s*(\d+)\s*\)`)

func (m *sqlModel) newCol(i int, f *schema.Field) (*sqlCol, error) {
	c := &sqlCol{i: i, f: f, notNull: f.NotNull || f.PrimaryKey}
	switch f.GORMDataType {
	case schema.Bool:
		c.kind = kindBool
	case schema.Int:
		c.kind = kindInt
	case schema.Uint:
		c.kind = kindUint
	case schema.Float:
		c.kind = kindFloat
	case schema.String:
		c.kind = kindString
	case schema.Bytes:
		c.kind = kindBytes
	case schema.Time:
		c.kind = kindTime
	}
	_, hasType := f.TagSettings["TYPE"]
	switch c.kind {
	case kindString, kindBytes:
		if m.dialect == MySQL {
			c.coll = collGeneralCI
		}
		if c.kind == kindBytes {
			c.coll = collBinary
		}
		c.size = max(f.Size, 0)
		if sub := typeSize.FindStringSubmatch(f.TagSettings["TYPE"]); sub != nil {
			c.size, _ = strconv.Atoi(sub[1])
		} else if c.size == 0 && m.dialect == MySQL && c.kind == kindString && !hasType {
			// gorm's MySQL dialect makes an unsized string that is a
			// key, indexed or has a default a varchar(191).
			if f.PrimaryKey || f.HasDefaultValue || f.TagSettings["INDEX"] != "" || f.TagSettings["UNIQUE"] != "" || f.TagSettings["UNIQUEINDEX"] != "" {
				c.size = 191
			}
		}
	case kindTime:
		// gorm's MySQL dialect writes datetime(precision) when the tag is
		// given (precision:0 included), datetime(3) otherwise; its
		// PostgreSQL dialect timestamptz(precision) for a positive one.
		c.prec = m.dialect.TimePrecision()
		_, tagged := f.TagSettings["PRECISION"]
		if (m.dialect == MySQL && tagged || f.Precision > 0) && f.Precision >= 0 && f.Precision <= 6 {
			c.prec = time.Duration(math.Pow10(9 - f.Precision))
		}
	case kindFloat:
		if f.Precision > 0 && !hasType {
			c.decimal, c.precision, c.decimals = true, f.Precision, max(f.Scale, 0)
		}
	case kindInt, kindUint:
		c.intMin, c.intMax, c.uintMax = intRange(f.Size, c.kind == kindUint, m.dialect)
	}
	def, err := m.dbDefault(c)
	if err != nil {
		return nil, err
	}
	c.dbDefault = def
	return c, nil
}

// intRange returns the range of an integer column of gorm size bits.
// PostgreSQL has signed columns only: gorm gives an unsigned field one bit
// more (a uint16 is an integer, a uint32 a bigint).
func intRange(bits int, unsigned bool, d Dialect) (lo, hi int64, uhi uint64) {
	switch {
	case d == Postgres: // smallint, integer, bigint: all signed
		if unsigned {
			bits++
		}
		switch {
		case bits <= 16:
			return math.MinInt16, math.MaxInt16, math.MaxInt16
		case bits <= 32:
			return math.MinInt32, math.MaxInt32, math.MaxInt32
		}
		return math.MinInt64, math.MaxInt64, math.MaxInt64
	case bits <= 8:
		bits = 8
	case bits <= 16:
		bits = 16
	case bits <= 24:
		bits = 24
	case bits <= 32:
		bits = 32
	default:
		return math.MinInt64, math.MaxInt64, math.MaxUint64
	}
	hi = 1<<(bits-1) - 1
	return -hi - 1, hi, 1<<bits - 1
}

var currentTimestamp = regexp.MustCompile(`(?i)^(current_timestamp|now|localtimestamp|localtime)\s*(\(\s*\d*\s*\))?$`)

// dbDefault returns what the column holds when an INSERT leaves it out:
// its DEFAULT (a literal gorm parsed, NULL, or the current time), or NULL.
// A NOT NULL column without a default makes such an INSERT fail.
func (m *sqlModel) dbDefault(c *sqlCol) (func(time.Time) any, error) {
	f := c.f
	if f.DefaultValueInterface != nil {
		v, err := c.store(driverValueOrNil(f.DefaultValueInterface), m.dialect)
		if err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
		return func(time.Time) any { return v }, nil
	}
	dv := strings.TrimSpace(f.DefaultValue)
	if strings.HasPrefix(dv, "(") && strings.HasSuffix(dv, ")") {
		dv = strings.TrimSpace(dv[1 : len(dv)-1])
	}
	if c.kind == kindTime && currentTimestamp.MatchString(dv) {
		return func(now time.Time) any { return storeTime(now, c.prec, m.dialect) }, nil
	}
	return nil, nil // NULL
}

func driverValueOrNil(v any) any {
	x, err := driverValue(v)
	if err != nil {
		return nil
	}
	return x
}

// driverValue turns a Go value (what gorm's Field.ValueOf returns) into the
// value database/sql would send: Valuers (serializers included) called,
// pointers followed, named kinds widened to int64, uint64, float64, bool,
// string, []byte or time.Time.
func driverValue(v any) (any, error) {
	for range 8 {
		if v == nil {
			return nil, nil
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil, nil
		}
		vr, ok := v.(driver.Valuer)
		if !ok {
			if rv.Kind() == reflect.Pointer {
				v = rv.Elem().Interface()
				continue
			}
			break
		}
		x, err := vr.Value()
		if err != nil {
			return nil, err
		}
		if reflect.TypeOf(x) == reflect.TypeOf(v) {
			v = x
			break
		}
		v = x
	}
	if v == nil {
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.IsNil() {
				return nil, nil
			}
			return bytes.Clone(rv.Bytes()), nil
		}
	case reflect.Struct:
		if t, ok := v.(time.Time); ok {
			return t, nil
		}
		if rv.Type().ConvertibleTo(timeType) {
			return rv.Convert(timeType).Interface(), nil
		}
	}
	return nil, fmt.Errorf("a value of type %T cannot be stored in a column (give the field a serializer, e.g. `gorm:\"serializer:json\"`)", v)
}

// errColumn is the cause of an ErrInvalid for a value a column rejects;
// it names the column and never quotes the value.
func errColumn(c *sqlCol, format string, args ...any) error {
	return fmt.Errorf("%s (column %s): %s", c.f.Name, c.f.DBName, fmt.Sprintf(format, args...))
}

// errSet is the error of a gorm field setter that failed; its message is
// not passed on, as it may quote the value.
func errSet(c *sqlCol) error {
	return errColumn(c, "gorm cannot set a value of the column on the %v field", c.f.FieldType)
}

// store converts a driver value to the form the column stores, or fails
// where the backend rejects the value.
func (c *sqlCol) store(v any, d Dialect) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.kind {
	case kindInt:
		n, err := toInt(v)
		if err != nil {
			return nil, errColumn(c, "%v", err)
		}
		if n < c.intMin || n > c.intMax {
			return nil, errColumn(c, "out of the column's range %d..%d", c.intMin, c.intMax)
		}
		return n, nil
	case kindUint:
		u, err := toUint(v)
		if err != nil {
			return nil, errColumn(c, "%v", err)
		}
		if u > c.uintMax {
			return nil, errColumn(c, "over the column's maximum %d", c.uintMax)
		}
		return u, nil
	case kindFloat:
		x, err := toFloat64(v)
		if err != nil {
			return nil, errColumn(c, "%v", err)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errColumn(c, "%v is not a finite number", x)
		}
		if c.decimal {
			p := math.Pow10(c.decimals)
			x = math.Round(x*p) / p
			if math.Abs(x) >= math.Pow10(c.precision-c.decimals) {
				return nil, errColumn(c, "out of the range of DECIMAL(%d,%d)", c.precision, c.decimals)
			}
		}
		if x == 0 && d == MySQL {
			x = 0 // MySQL stores -0 as 0
		}
		if c.f.Size <= 32 && c.f.Size > 0 && !c.decimal {
			x = float64(float32(x)) // FLOAT: single precision
			if math.IsInf(x, 0) {
				return nil, errColumn(c, "out of the range of a single-precision FLOAT")
			}
		}
		return x, nil
	case kindBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case int64:
			return b != 0, nil
		case uint64:
			return b != 0, nil
		}
	case kindTime:
		if t, ok := v.(time.Time); ok {
			if y := t.UTC().Year(); y < 1 || y > 9999 {
				return nil, errColumn(c, "year %d is outside 1..9999", y)
			}
			return storeTime(t, c.prec, d), nil
		}
	}
	switch s := v.(type) {
	case string:
		if !utf8.ValidString(s) {
			return nil, errColumn(c, "string is not valid UTF-8")
		}
		if d == Postgres && strings.IndexByte(s, 0) >= 0 {
			return nil, errColumn(c, "PostgreSQL text cannot hold a NUL character")
		}
		if c.size > 0 {
			if n := utf8.RuneCountInString(s); n > c.size {
				return nil, errColumn(c, "%d characters, over the column's size of %d", n, c.size)
			}
		} else if len(s) > sqlrules.MaxUnsizedBytes {
			return nil, errColumn(c, "%d bytes, over the limit of %d", len(s), sqlrules.MaxUnsizedBytes)
		}
		if c.kind == kindBytes {
			return []byte(s), nil
		}
		return s, nil
	case []byte:
		if c.size > 0 && len(s) > c.size {
			return nil, errColumn(c, "%d bytes, over the column's size of %d", len(s), c.size)
		}
		if len(s) > sqlrules.MaxUnsizedBytes {
			return nil, errColumn(c, "%d bytes, over the limit of %d", len(s), sqlrules.MaxUnsizedBytes)
		}
		if c.kind == kindString {
			if !utf8.Valid(s) {
				return nil, errColumn(c, "string is not valid UTF-8")
			}
			return string(s), nil
		}
		return bytes.Clone(s), nil
	case int64, uint64, float64, bool, time.Time:
		return s, nil
	}
	return nil, errColumn(c, "a %T does not fit the column", v)
}

// storeTime returns t in UTC at precision prec: MySQL truncates to the
// column's fraction; PostgreSQL gets microseconds from the driver
// (truncated) and rounds to a coarser column precision.
func storeTime(t time.Time, prec time.Duration, d Dialect) time.Time {
	t = t.UTC()
	if d == Postgres {
		t = t.Truncate(time.Microsecond)
		if prec > time.Microsecond {
			t = t.Round(prec)
		}
		return t
	}
	return t.Truncate(prec)
}

func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case uint64:
		if n > math.MaxInt64 {
			return 0, errors.New("out of the column's range")
		}
		return int64(n), nil
	case float64:
		r := math.Round(n)
		if r < math.MinInt64 || r >= math.MaxInt64 || math.IsNaN(r) {
			return 0, errors.New("out of the column's range")
		}
		return int64(r), nil
	case bool:
		if n {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("a %T does not fit an integer column", v)
}

func toUint(v any) (uint64, error) {
	switch n := v.(type) {
	case uint64:
		return n, nil
	case int64:
		if n < 0 {
			return 0, errors.New("negative value for an unsigned column")
		}
		return uint64(n), nil
	case float64:
		r := math.Round(n)
		if r < 0 || r >= math.MaxUint64 || math.IsNaN(r) {
			return 0, errors.New("out of the column's range")
		}
		return uint64(r), nil
	case bool:
		if n {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("a %T does not fit an unsigned column", v)
}

func toFloat64(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case int64:
		return float64(n), nil
	case uint64:
		return float64(n), nil
	}
	return 0, fmt.Errorf("a %T does not fit a float column", v)
}

// key returns the comparable form of a stored value under which rows and
// unique index entries are kept: the collation key of a string, a timeKey
// for a time, int64 for an unsigned value that fits.
func (c *sqlCol) key(v any) any {
	switch x := v.(type) {
	case string:
		return c.coll.key(x)
	case []byte:
		return string(x)
	case time.Time:
		return timeKey{x.Unix(), x.Nanosecond()}
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x)
		}
	}
	return v
}

// uniqueIndexes lists T's unique indexes as gorm declares them
// (uniqueIndex, index:...,unique, index:...,class:UNIQUE; unique), keyed by
// the columns' collation keys. A NULL column is never a duplicate.
func (m *sqlModel) uniqueIndexes() ([]uniqueIndex, error) {
	var out []uniqueIndex
	add := func(name string, cols []*sqlCol) error {
		if len(cols) > len(compositeKey{}) {
			return fmt.Errorf("unique index %s has over %d columns", name, len(compositeKey{}))
		}
		out = append(out, uniqueIndex{name: name, fn: func(r any) (any, bool) {
			rw := r.(sqlRow)
			if len(cols) == 1 {
				v := rw[cols[0].i]
				return cols[0].key(v), v != nil
			}
			var k compositeKey
			for i, c := range cols {
				v := rw[c.i]
				if v == nil {
					return nil, false
				}
				k[i] = c.key(v)
			}
			return k, true
		}})
		return nil
	}
	byName := map[string]*sqlCol{}
	for _, c := range m.cols {
		byName[c.f.DBName] = c
	}
	for _, idx := range m.gs.ParseIndexes() {
		if !strings.EqualFold(idx.Class, "UNIQUE") {
			continue
		}
		var cols []*sqlCol
		for _, o := range idx.Fields {
			if o.Field == nil {
				continue
			}
			if c, ok := byName[o.Field.DBName]; ok {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			continue
		}
		if err := add(idx.Name, cols); err != nil {
			return nil, err
		}
	}
	for _, c := range m.cols {
		if c.f.Unique && !c.f.PrimaryKey {
			if err := add("uni_"+m.gs.Table+"_"+c.f.DBName, []*sqlCol{c}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// encodeCol returns the stored value of column c from entity rv.
func (m *sqlModel) encodeCol(ctx context.Context, c *sqlCol, rv reflect.Value) (any, error) {
	v, _ := c.f.ValueOf(ctx, rv)
	dv, err := driverValue(v)
	if err != nil {
		return nil, errColumn(c, "%v", err)
	}
	return c.store(dv, m.dialect)
}

// decode sets the readable fields of dst (an addressable T) from r through
// gorm's field setters (and serializers), as a scan of the row would.
func (m *sqlModel) decode(ctx context.Context, r sqlRow, dst reflect.Value) error {
	for _, c := range m.cols {
		if !c.f.Readable {
			continue
		}
		v := r[c.i]
		if b, ok := v.([]byte); ok {
			v = bytes.Clone(b)
		}
		var err error
		if c.f.Serializer != nil {
			s := c.f.NewValuePool.Get()
			if sc, ok := s.(sql.Scanner); ok {
				err = sc.Scan(v)
			}
			if err == nil {
				err = c.f.Set(ctx, dst, s)
			}
			c.f.NewValuePool.Put(s)
		} else {
			err = c.f.Set(ctx, dst, v)
		}
		if err != nil {
			return errSet(c)
		}
	}
	return nil
}

// entity decodes r into a new T.
func decodeEntity[T any](ctx context.Context, m *sqlModel, r sqlRow) (T, error) {
	var e T
	err := m.decode(ctx, r, reflect.ValueOf(&e).Elem())
	return e, err
}
