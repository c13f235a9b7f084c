package fakes

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/portkit/portkit/ports"
)

// SQLStore is an in-memory [ports.SQLStore] of T over a table of a [DB],
// and a [ports.Connector] (Name: the DB's, "fake-sql" by default). It is
// safe for concurrent use; calls made with a context from DB.WithinTx run
// in that transaction.
//
// T's primary key is the field tagged `gorm:"primaryKey"` (or
// primary_key), else the field named ID; an integer key left zero on Create
// gets the table's next auto-increment value. Unique indexes declared with
// gorm tags (`unique`, `uniqueIndex[:name]`, `index:name,unique`; fields
// sharing a name form a composite index) reject duplicates with
// ErrConflict; NULL (a nil pointer) is never a duplicate. As with gorm, a
// time.Time field named CreatedAt (or tagged autoCreateTime) left zero by
// Create, and one named UpdatedAt (or tagged autoUpdateTime), are set from
// the clock.
//
// Queries are checked with [ports.Schema] and evaluated in memory with SQL
// semantics: numbers compare across integer and float kinds, times as
// instants, a NULL field matches only Eq nil and Ne nil. Strings compare
// bytewise (MySQL's default collation is case-insensitive; do not rely on
// either). Entities are deep-copied in and out.
//
// Closing an SQLStore closes only that store; closing the DB closes all.
type SQLStore[T any] struct {
	Faults

	c       coll[T]
	pk      []int
	pkType  reflect.Type
	autoInc bool
	created [][]int // fields set on Create when zero
	updated [][]int // fields set on Create when zero and on every Update
}

var (
	_ ports.SQLStore[struct{ ID int }] = (*SQLStore[struct{ ID int }])(nil)
	_ ports.Connector                  = (*SQLStore[struct{ ID int }])(nil)
)

// NewSQLStore returns a store of T on db, in the table named by
// [WithTable] (by default T's TableName() or its snake-case plural name). It
// returns an error wrapping ports.ErrInvalid when T is not a struct or has
// no primary key, or the table holds another type.
func NewSQLStore[T any](db *DB, opts ...StoreOption) (*SQLStore[T], error) {
	typ := reflect.TypeFor[T]()
	fail := func(err error) (*SQLStore[T], error) {
		return nil, ports.NewError(db.name, "new store", ports.ErrInvalid, err)
	}
	if typ.Kind() != reflect.Struct {
		return fail(fmt.Errorf("model type %v is not a struct", typ))
	}
	schema, err := ports.SchemaFor(typ)
	if err != nil {
		return fail(err)
	}
	pk, err := primaryKey(typ)
	if err != nil {
		return fail(err)
	}
	if !pk.Type.Comparable() || pk.Type.Kind() == reflect.Pointer || pk.Type.Kind() == reflect.Interface {
		return fail(fmt.Errorf("primary key %s of %v has the unsupported type %v", pk.Name, typ, pk.Type))
	}
	cfg := storeConfig{table: tableName(typ, "TableName")}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	uniq, err := uniqueIndexes(typ)
	if err != nil {
		return fail(err)
	}
	tb, err := db.register("sql:"+cfg.table, typ, func() (*table, error) {
		return newTable(cfg.table, typ, uniq), nil
	})
	if err != nil {
		return fail(err)
	}
	s := &SQLStore[T]{pk: pk.index, pkType: pk.Type, autoInc: isIntKind(pk.Type.Kind())}
	s.c = coll[T]{db: db, tb: tb, schema: schema, backend: db.name, faults: &s.Faults}
	s.c.keyOf = func(e *T) any { return normKey(reflect.ValueOf(e).Elem().FieldByIndex(s.pk)) }
	for _, f := range walkFields(typ) {
		if f.Type != timeType {
			continue
		}
		set := gormSettings(f.Tag.Get("gorm"))
		ac, hasAC := set["AUTOCREATETIME"]
		au, hasAU := set["AUTOUPDATETIME"]
		if (f.Name == "CreatedAt" && ac != "false") || (hasAC && ac != "false") {
			s.created = append(s.created, f.index)
		}
		if (f.Name == "UpdatedAt" && au != "false") || (hasAU && au != "false") {
			s.updated = append(s.updated, f.index)
		}
	}
	return s, nil
}

// tableName returns what T's method named method (TableName or
// CollectionName) returns, else T's snake-case plural name.
func tableName(typ reflect.Type, method string) string {
	for _, v := range []reflect.Value{reflect.New(typ).Elem(), reflect.New(typ)} {
		if m := v.MethodByName(method); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 && m.Type().Out(0).Kind() == reflect.String {
			if name := m.Call(nil)[0].String(); name != "" {
				return name
			}
		}
	}
	return snakePlural(typ.Name())
}

// Name returns the DB's name.
func (s *SQLStore[T]) Name() string { return s.c.backend }

// Check returns nil unless the store or its DB is closed, ctx is done, or
// a fault is injected (on the store or the DB).
func (s *SQLStore[T]) Check(ctx context.Context) error { return s.c.check(ctx) }

// Close closes the store (not its DB): every later call returns an error
// wrapping ports.ErrClosed.
func (s *SQLStore[T]) Close(context.Context) error { return s.c.close() }

// DB returns the database the store lives in.
func (s *SQLStore[T]) DB() *DB { return s.c.db }

// Table returns the table name.
func (s *SQLStore[T]) Table() string { return s.c.tb.name }

func (s *SQLStore[T]) invalid(op, detail string) error {
	return ports.NewError(s.c.backend, op, ports.ErrInvalid, errors.New(detail))
}

// prepCreate returns a copy of e with zero time fields stamped.
func (s *SQLStore[T]) prepCreate(e *T, now time.Time) *T {
	cp := clone(e)
	v := reflect.ValueOf(cp).Elem()
	for _, idx := range append(s.created[:len(s.created):len(s.created)], s.updated...) {
		if f := v.FieldByIndex(idx); f.IsZero() {
			f.Set(reflect.ValueOf(now))
		}
	}
	return cp
}

// assignKey gives a zero integer key the next auto-increment value and
// keeps the counter past explicit keys. It runs under the DB's write lock.
func (s *SQLStore[T]) assignKey(e *T) {
	if !s.autoInc {
		return
	}
	f := reflect.ValueOf(e).Elem().FieldByIndex(s.pk)
	tb := s.c.tb
	if f.IsZero() {
		tb.autoI++
		if isUintKind(f.Kind()) {
			f.SetUint(uint64(tb.autoI))
		} else {
			f.SetInt(tb.autoI)
		}
		return
	}
	if k, ok := normKey(f).(int64); ok && k > tb.autoI {
		tb.autoI = k
	}
}

// copyBack sets on e the fields the store filled in on its copy.
func (s *SQLStore[T]) copyBack(e, cp *T) {
	dst, src := reflect.ValueOf(e).Elem(), reflect.ValueOf(cp).Elem()
	dst.FieldByIndex(s.pk).Set(src.FieldByIndex(s.pk))
	for _, idx := range append(s.created[:len(s.created):len(s.created)], s.updated...) {
		dst.FieldByIndex(idx).Set(src.FieldByIndex(idx))
	}
}

// Create inserts a copy of e, filling in e's generated primary key (and
// zero CreatedAt/UpdatedAt). A duplicate key or unique value is an error
// wrapping ports.ErrConflict.
func (s *SQLStore[T]) Create(ctx context.Context, e *T) error {
	op := s.c.op("create")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	if e == nil {
		return s.invalid(op, "nil entity")
	}
	cp := s.prepCreate(e, s.c.db.clock.Now())
	if err := s.c.insert(ctx, t, op, []*T{cp}, s.assignKey); err != nil {
		return err
	}
	s.copyBack(e, cp)
	return nil
}

// CreateMany inserts copies of es, all or none, filling in their keys. A
// duplicate key or unique value, against a stored row or inside es, is an
// error wrapping ports.ErrConflict; a nil element is ErrInvalid.
func (s *SQLStore[T]) CreateMany(ctx context.Context, es []*T) error {
	op := s.c.op("create many")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return nil
	}
	now := s.c.db.clock.Now()
	cps := make([]*T, len(es))
	for i, e := range es {
		if e == nil {
			return s.invalid(op, fmt.Sprintf("nil entity at index %d", i))
		}
		cps[i] = s.prepCreate(e, now)
	}
	if err := s.c.insert(ctx, t, op, cps, s.assignKey); err != nil {
		return err
	}
	for i := range es {
		s.copyBack(es[i], cps[i])
	}
	return nil
}

// key normalizes an id given to Get or Delete to the stored key form.
func (s *SQLStore[T]) key(op string, id any) (any, error) {
	v := reflect.ValueOf(id)
	for v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() || v.Kind() == reflect.Pointer {
		return nil, s.invalid(op, "nil id")
	}
	switch {
	case isIntKind(s.pkType.Kind()) && isIntKind(v.Kind()):
		return normKey(v), nil
	case s.pkType.Kind() == reflect.String && v.Kind() == reflect.String:
		return v.String(), nil
	case v.Type() == s.pkType:
		return normKey(v), nil
	}
	return nil, s.invalid(op, fmt.Sprintf("id of type %T for a primary key of type %v", id, s.pkType))
}

// Get returns a copy of the entity with primary key id, or an error
// wrapping ports.ErrNotFound. An id of a type the key cannot hold is
// ErrInvalid.
func (s *SQLStore[T]) Get(ctx context.Context, id any) (*T, error) {
	op := s.c.op("get")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	k, err := s.key(op, id)
	if err != nil {
		return nil, err
	}
	return s.c.get(t, op, k)
}

// Find returns copies of the entities matching q, in q's order, then
// primary key order.
func (s *SQLStore[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	op := s.c.op("find")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	return s.c.find(t, op, q)
}

// Count returns how many entities match q's conditions.
func (s *SQLStore[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	op := s.c.op("count")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return 0, err
	}
	return s.c.count(t, op, q)
}

// Update replaces the stored entity with e's primary key by a copy of e
// (every field; a zero CreatedAt keeps the stored one, UpdatedAt is set
// from the clock), or returns an error wrapping ports.ErrNotFound.
func (s *SQLStore[T]) Update(ctx context.Context, e *T) error {
	op := s.c.op("update")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	if e == nil {
		return s.invalid(op, "nil entity")
	}
	cp := clone(e)
	now := s.c.db.clock.Now()
	v := reflect.ValueOf(cp).Elem()
	for _, idx := range s.updated {
		v.FieldByIndex(idx).Set(reflect.ValueOf(now))
	}
	err = s.c.update(ctx, t, op, s.c.keyOf(cp), cp, func(old, row *T) {
		ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(row).Elem()
		for _, idx := range s.created {
			if f := nv.FieldByIndex(idx); f.IsZero() {
				f.Set(ov.FieldByIndex(idx))
			}
		}
	})
	if err != nil {
		return err
	}
	s.copyBack(e, cp)
	return nil
}

// Delete removes the entity with primary key id, or returns an error
// wrapping ports.ErrNotFound.
func (s *SQLStore[T]) Delete(ctx context.Context, id any) error {
	op := s.c.op("delete")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	k, err := s.key(op, id)
	if err != nil {
		return err
	}
	return s.c.remove(ctx, t, op, k)
}
