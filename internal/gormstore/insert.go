package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/sqlrules"
)

// insertPlan is CreateMany's multi-row INSERT for a model whose rows gorm
// would insert with nothing but their column values, taken from gorm
// itself: the columns are the ones of a dry run of the Create that
// CreateMany would otherwise run, and the plan is used only when the
// statement it builds for two and for three rows is, byte for byte, the
// one gorm builds (see newInsertPlan). A batch the plan cannot take (a
// row with its own generated key, replicas) goes through gorm.
//
// Why: gorm's Create copies every value into a [][]any, formats every
// placeholder and scans the returned keys through reflection; for a
// 1000-row batch that is some 14,000 allocations and a third of the time
// of the whole insert on a local PostgreSQL. The plan builds the
// statement text once per batch size and sends the field values as they
// are, with the same defaults and timestamps gorm gives them.
type insertPlan struct {
	cols      []*schema.Field // in gorm's order
	vals      []valueReader   // the value of each column, as gorm's ValueOf reads it
	head      string          // INSERT INTO "t" ("a","b") VALUES
	tail      string          // "" or RETURNING "id"
	dollar    bool            // $1 placeholders (else ?)
	returning bool            // the statement returns the generated key

	mu   sync.Mutex
	sqls map[int]string // statement text by row count (at most maxInsertSQLs)
}

// maxInsertSQLs is how many statement texts an insertPlan keeps, by row
// count: full batches and the last batch of a few recurring sizes.
const maxInsertSQLs = 8

// newInsertPlan returns CreateMany's plan for s, or nil when its batches
// must go through gorm's Create: create callbacks asked for, hooks,
// associations, create clauses, serializers, a value type whose
// parameters depend on the value (gorm expands slices and arrays into
// lists, calls GormValue, builds expressions), a database default other
// than the generated key, or a statement that is not gorm's.
func (s *Store[T]) newInsertPlan() *insertPlan {
	gs := s.gs
	if gs.BeforeSave || gs.BeforeCreate || gs.AfterCreate || gs.AfterSave ||
		len(gs.CreateClauses) > 0 || len(gs.Relationships.Relations) > 0 || len(gs.Relationships.EmbeddedRelations) > 0 {
		return nil
	}
	switch len(gs.FieldsWithDefaultDBValue) {
	case 0:
	case 1:
		pk := gs.FieldsWithDefaultDBValue[0]
		if pk != s.pk || !s.autoPK || !pk.Readable || pk.FieldType.Kind() < reflect.Int || pk.FieldType.Kind() > reflect.Uint64 ||
			pk.FieldType.Implements(scannerType) || reflect.PointerTo(pk.FieldType).Implements(scannerType) {
			return nil
		}
	default:
		return nil
	}
	dry := func(n int) *gorm.DB {
		rows := make([]*T, n)
		for i := range rows {
			rows[i] = new(T)
		}
		return s.db.g.Session(&gorm.Session{DryRun: true, NewDB: true, Logger: logger.Discard}).Table(s.table).Create(rows)
	}
	d2 := dry(2)
	if d2.Error != nil {
		return nil
	}
	vc, ok := d2.Statement.Clauses["VALUES"]
	if !ok {
		return nil
	}
	values, ok := vc.Expression.(clause.Values)
	if !ok || len(values.Columns) == 0 {
		return nil
	}
	p := &insertPlan{sqls: map[int]string{}}
	for _, c := range values.Columns {
		f := gs.FieldsByDBName[c.Name]
		if f == nil || !plainParam(f) {
			return nil
		}
		p.cols = append(p.cols, f)
		p.vals = append(p.vals, newValueReader(gs.ModelType, f))
	}
	got := d2.Statement.SQL.String()
	i := strings.Index(got, " VALUES (")
	if i < 0 || len(d2.Statement.Vars) != 2*len(p.cols) {
		return nil
	}
	p.head = got[:i+len(" VALUES ")]
	found := false
	for _, p.dollar = range []bool{true, false} {
		if rows := string(p.appendRows(nil, 2)); strings.HasPrefix(got[len(p.head):], rows) {
			p.tail, found = got[len(p.head)+len(rows):], true
			break
		}
	}
	if !found {
		return nil // neither placeholder style
	}
	if p.tail != "" {
		var q strings.Builder
		q.WriteString(" RETURNING ")
		s.db.g.Dialector.QuoteTo(&q, s.pk.DBName)
		if p.tail != q.String() || len(gs.FieldsWithDefaultDBValue) != 1 {
			return nil
		}
		p.returning = true
	} else if len(gs.FieldsWithDefaultDBValue) != 0 {
		return nil // the key would come back by LastInsertId: gorm's business
	}
	// head, two rows and tail are gorm's 2-row statement by construction;
	// three rows must come out as gorm's too.
	if d3 := dry(3); d3.Error != nil || p.build(3) != d3.Statement.SQL.String() || len(d3.Statement.Vars) != 3*len(p.cols) {
		return nil
	}
	return p
}

var (
	valuerType      = reflect.TypeFor[driver.Valuer]()
	gormValuerType  = reflect.TypeFor[gorm.Valuer]()
	expressionType  = reflect.TypeFor[clause.Expression]()
	namedArgType    = reflect.TypeFor[sql.NamedArg]()
	bytesType       = reflect.TypeFor[[]byte]()
	interfaceValues = reflect.TypeFor[[]any]()
)

// plainParam reports whether gorm's Statement.AddVar sends every value
// of f as one parameter, as it is (whatever the value): not a gorm.Valuer,
// an expression or a named argument, no serializer, and no slice or array
// (expanded into a list; an empty one into NULL) unless a driver.Valuer
// or exactly []byte.
func plainParam(f *schema.Field) bool {
	t := f.FieldType
	if f.Serializer != nil || t.Kind() == reflect.Interface || t == namedArgType || t == interfaceValues ||
		t.Implements(gormValuerType) || t.Implements(expressionType) {
		return false
	}
	if f.DefaultValueInterface != nil && !plainValue(f.DefaultValueInterface) {
		return false
	}
	if t.Implements(valuerType) || t == bytesType {
		return true
	}
	return t.Kind() != reflect.Slice && t.Kind() != reflect.Array
}

// plainValue is plainParam for a default value.
func plainValue(v any) bool {
	switch v.(type) {
	case string, bool, int64, uint64, float64, time.Time:
		return true
	}
	return false
}

// appendRows appends the placeholders of n rows: ($1,$2),($3,$4) or
// (?,?),(?,?).
func (p *insertPlan) appendRows(b []byte, n int) []byte {
	k := len(p.cols)
	for r := range n {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		for c := range k {
			if c > 0 {
				b = append(b, ',')
			}
			if p.dollar {
				b = append(b, '$')
				b = strconv.AppendInt(b, int64(r*k+c+1), 10)
			} else {
				b = append(b, '?')
			}
		}
		b = append(b, ')')
	}
	return b
}

// sql returns the statement text of n rows, kept for the next call of
// the same size (up to maxInsertSQLs sizes), and whether it is kept.
func (p *insertPlan) sql(n int) (string, bool) {
	p.mu.Lock()
	q, ok := p.sqls[n]
	p.mu.Unlock()
	if ok {
		return q, true
	}
	q = p.build(n)
	p.mu.Lock()
	if ok = len(p.sqls) < maxInsertSQLs; ok {
		p.sqls[n] = q
	}
	p.mu.Unlock()
	return q, ok
}

// build returns the statement text of n rows.
func (p *insertPlan) build(n int) string {
	b := make([]byte, 0, len(p.head)+len(p.tail)+n*len(p.cols)*7)
	b = append(b, p.head...)
	b = p.appendRows(b, n)
	b = append(b, p.tail...)
	return string(b)
}

// takes reports whether the plan can insert rows: with a returned key,
// only rows whose key the database assigns (gorm adds the key column
// otherwise).
func (s *Store[T]) takes(ctx context.Context, rows []*T) bool {
	if s.insert == nil || !s.insert.returning {
		return s.insert != nil
	}
	for _, e := range rows {
		if !s.pk.ReflectValueOf(ctx, reflect.ValueOf(e).Elem()).IsZero() {
			return false
		}
	}
	return true
}

// DriverQuerier is implemented by a Dialect that can run a statement on
// the driver's own connection (what sql.Conn.Raw hands over), without
// database/sql's copy and check of every parameter and its conversion
// of every returned value: CreateMany's insert plan sends its multi-row
// INSERT … RETURNING that way (7,000 parameters for 1,000 rows of 7
// columns).
type DriverQuerier interface {
	// QueryKeys runs q with args on the driver connection dc and calls
	// key with the first column of each returned row, as an int64, in
	// order. kept tells that q is one of the few statements the caller
	// sends again and again (a QueryKeys may keep those prepared on the
	// connection; the others, of a batch size seen once, belong in the
	// driver's bounded statement cache). It returns ok false, having
	// done nothing, when dc is not the driver's; and driver.ErrBadConn
	// when q was not sent and may run on another connection. Other
	// errors are the driver's, as database/sql would have returned them.
	QueryKeys(ctx context.Context, dc any, q string, kept bool, args []any, key func(int64) error) (ok bool, err error)
}

// errKeyCount is a RETURNING that did not hand back one key per row.
var errKeyCount = errors.New("the insert returned another number of keys than rows")

// insertDirect inserts rows with the plan on pool, giving each the
// values gorm's Create gives it (defaults for zero fields, the time of
// the call for zero CreatedAt and UpdatedAt fields) and the key the
// database assigned; it reports the statement to gorm's logger, as
// gorm's callbacks would. On error the rows may be half filled in: the
// caller puts them back.
func (s *Store[T]) insertDirect(ctx context.Context, pool gorm.ConnPool, rows []*T) error {
	p := s.insert
	now := s.db.now()
	args := make([]any, 0, len(rows)*len(p.cols))
	for _, e := range rows {
		rv := reflect.ValueOf(e).Elem()
		base := unsafe.Pointer(e)
		for i, f := range p.cols {
			v, zero := p.vals[i].read(ctx, f, rv, base)
			if zero {
				switch {
				case f.DefaultValueInterface != nil:
					v = f.DefaultValueInterface
					if err := f.Set(ctx, rv, v); err != nil {
						return err
					}
				case f.AutoCreateTime > 0 || f.AutoUpdateTime > 0:
					if err := f.Set(ctx, rv, now); err != nil {
						return err
					}
					v, _ = p.vals[i].read(ctx, f, rv, base)
				}
			}
			args = append(args, v)
		}
	}
	q, kept := p.sql(len(rows))
	begin := time.Now()
	var affected int64
	err := s.runInsert(ctx, pool, q, kept, args, rows, &affected)
	s.db.g.Logger.Trace(ctx, begin, func() (string, int64) {
		vars := args
		if f, ok := s.db.g.Logger.(gorm.ParamsFilter); ok {
			_, vars = f.ParamsFilter(ctx, q, args...)
		}
		return s.db.g.Dialector.Explain(q, vars...), affected
	}, err)
	return err
}

// runInsert sends the statement and, for a plan with RETURNING, sets
// each row's key from the returned ones, in order.
func (s *Store[T]) runInsert(ctx context.Context, pool gorm.ConnPool, q string, kept bool, args []any, rows []*T, affected *int64) error {
	if !s.insert.returning {
		res, err := pool.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		*affected, _ = res.RowsAffected()
		return nil
	}
	setKey := func(id int64) error {
		if int(*affected) >= len(rows) {
			return errKeyCount
		}
		k := s.pk.ReflectValueOf(ctx, reflect.ValueOf(rows[*affected]).Elem())
		if k.CanInt() {
			if k.OverflowInt(id) {
				return fmt.Errorf("generated key %d overflows %v", id, k.Type())
			}
			k.SetInt(id)
		} else {
			if id < 0 || k.OverflowUint(uint64(id)) {
				return fmt.Errorf("generated key %d overflows %v", id, k.Type())
			}
			k.SetUint(uint64(id))
		}
		*affected++
		return nil
	}
	if dq, ok := s.db.dialect.(DriverQuerier); ok {
		handled, err := s.db.onDriverConn(ctx, func(dc any) (bool, error) {
			*affected = 0
			return dq.QueryKeys(ctx, dc, q, kept, args, setKey)
		})
		if handled {
			if err == nil && int(*affected) != len(rows) {
				err = errKeyCount
			}
			return err
		}
	}
	rs, err := pool.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	var id int64
	for rs.Next() {
		if err := rs.Scan(&id); err != nil {
			return err
		}
		if err := setKey(id); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return err
	}
	if int(*affected) != len(rows) {
		return errKeyCount
	}
	return rs.Close()
}

// InsertPlanned reports whether CreateMany inserts through the store's
// insert plan (for tests: a model gorm must handle reports false).
func (s *Store[T]) InsertPlanned() bool { return s.insert != nil }

// onDriverConn runs f on the driver connection of ctx's transaction, or
// of a connection of the primary's pool taken for f and given back. A
// pooled connection on which f returns driver.ErrBadConn (the statement
// not sent) is discarded and f runs again on another, three times at
// most, as database/sql retries a statement. It returns false when f
// declined the connection (ok false) and did nothing.
func (d *DB) onDriverConn(ctx context.Context, f func(dc any) (ok bool, err error)) (bool, error) {
	handled := true
	run := func(c *sql.Conn) error {
		return c.Raw(func(dc any) error {
			ok, err := f(dc)
			handled = ok
			return err
		})
	}
	if st := d.txOf(ctx); st != nil {
		err := run(st.conn)
		return handled, err
	}
	for attempt := 1; ; attempt++ {
		c, err := d.primary.Conn(ctx)
		if err != nil {
			return true, err
		}
		err = run(c)
		_ = c.Close()
		if handled && errors.Is(err, driver.ErrBadConn) && attempt < 3 {
			continue
		}
		return handled, err
	}
}

// valueReader reads one column's value from an entity as gorm's
// Field.ValueOf does (the same value, of the same dynamic type, and
// whether it is zero by reflect.Value.IsZero), without reflection for a
// field of a predeclared type (or time.Time, or a pointer to one of
// them) at a fixed offset: reflect.Value.Interface copies every value to
// the heap, where the compiler's conversion keeps small integers and
// booleans static.
type valueReader struct {
	off uintptr
	get func(p unsafe.Pointer) (any, bool) // nil: gorm's ValueOf
}

// newValueReader returns the reader of f, a field of model.
func newValueReader(model reflect.Type, f *schema.Field) valueReader {
	off, fixed := sqlrules.FieldOffset(model, f)
	if !fixed || f.StructField.Type != f.FieldType {
		return valueReader{}
	}
	return valueReader{off: off, get: readerFor(f.FieldType)}
}

// read returns f's value in the entity rv (whose address is base) and
// whether it is zero.
func (r valueReader) read(ctx context.Context, f *schema.Field, rv reflect.Value, base unsafe.Pointer) (any, bool) {
	if r.get == nil {
		return f.ValueOf(ctx, rv)
	}
	return r.get(unsafe.Add(base, r.off))
}

// readerFor returns the reader of a field of type t, or nil for a type
// it does not know (t itself, not its kind: a named type's values keep
// their type through gorm's ValueOf).
func readerFor(t reflect.Type) func(p unsafe.Pointer) (any, bool) {
	switch t {
	case reflect.TypeFor[string]():
		return read[string]
	case reflect.TypeFor[bool]():
		return read[bool]
	case reflect.TypeFor[int]():
		return read[int]
	case reflect.TypeFor[int8]():
		return read[int8]
	case reflect.TypeFor[int16]():
		return read[int16]
	case reflect.TypeFor[int32]():
		return read[int32]
	case reflect.TypeFor[int64]():
		return read[int64]
	case reflect.TypeFor[uint]():
		return read[uint]
	case reflect.TypeFor[uint8]():
		return read[uint8]
	case reflect.TypeFor[uint16]():
		return read[uint16]
	case reflect.TypeFor[uint32]():
		return read[uint32]
	case reflect.TypeFor[uint64]():
		return read[uint64]
	case reflect.TypeFor[float32]():
		return read[float32] // -0 is zero, NaN is not, as to reflect
	case reflect.TypeFor[float64]():
		return read[float64]
	case timeType:
		return read[time.Time]
	case reflect.TypeFor[[]byte]():
		return func(p unsafe.Pointer) (any, bool) {
			v := *(*[]byte)(p)
			return v, v == nil
		}
	case reflect.TypeFor[*string]():
		return readPtr[string]
	case reflect.TypeFor[*bool]():
		return readPtr[bool]
	case reflect.TypeFor[*int]():
		return readPtr[int]
	case reflect.TypeFor[*int32]():
		return readPtr[int32]
	case reflect.TypeFor[*int64]():
		return readPtr[int64]
	case reflect.TypeFor[*float64]():
		return readPtr[float64]
	case reflect.TypeFor[*time.Time]():
		return readPtr[time.Time]
	}
	return nil
}

// read reads a comparable value whose zero is its type's zero value (for
// time.Time: all of wall, ext and loc, as reflect compares a struct).
func read[V comparable](p unsafe.Pointer) (any, bool) {
	v := *(*V)(p)
	var zero V
	return v, v == zero
}

// readPtr reads a pointer field: zero when nil.
func readPtr[V any](p unsafe.Pointer) (any, bool) {
	v := *(**V)(p)
	return v, v == nil
}
