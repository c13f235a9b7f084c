package outbox_test

// TEMPORARY: memDB is a minimal in-memory ports.SQLStore and
// ports.Transactor with what the outbox uses (Create, CreateMany, Get,
// Find, Count, Patch with versions, Delete, DeleteIfVersion, DeleteWhere;
// conditions Eq, In, Lt, Lte, Gt, Gte; one sort key), so that the relay's
// tests run before the fakes implement the new port methods. The same
// tests run on the fakes (see env.go's backends) once fakes/todo_stubs.go
// is gone; then memDB can go.

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/portkit/portkit/ports"
)

type memDB struct {
	txMu   sync.Mutex // one writer at a time: a transaction, or one statement
	mu     sync.RWMutex
	tables map[string]map[any]any // committed: table -> key -> row value
	seq    int64
	down   bool
}

type memTxKey struct{}

type memTx struct {
	db     *memDB
	tables map[string]map[any]any // the transaction's private copy
	ended  bool
}

func newMemDB() *memDB { return &memDB{tables: map[string]map[any]any{}} }

func (db *memDB) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if t, ok := ctx.Value(memTxKey{}).(*memTx); ok && t.db == db && !t.ended {
		return fn(ctx) // no savepoints: the outbox needs none
	}
	if err := db.fault(ctx); err != nil {
		return err
	}
	db.txMu.Lock()
	defer db.txMu.Unlock()
	t := &memTx{db: db, tables: db.snapshot()}
	err := fn(context.WithValue(ctx, memTxKey{}, t))
	t.ended = true
	if err != nil {
		return err
	}
	if err := db.fault(ctx); err != nil {
		return err
	}
	db.mu.Lock()
	db.tables = t.tables
	db.mu.Unlock()
	return nil
}

func (db *memDB) InTx(ctx context.Context) bool {
	t, ok := ctx.Value(memTxKey{}).(*memTx)
	return ok && t.db == db && !t.ended
}

func (db *memDB) fault(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return ports.NewError("mem", "call", ports.ErrUnavailable, err)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.down {
		return ports.NewError("mem", "call", ports.ErrUnavailable, errors.New("injected"))
	}
	return nil
}

func (db *memDB) setDown(v bool) { db.mu.Lock(); db.down = v; db.mu.Unlock() }

func (db *memDB) snapshot() map[string]map[any]any {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make(map[string]map[any]any, len(db.tables))
	for k, t := range db.tables {
		out[k] = maps.Clone(t)
	}
	return out
}

type memStore[T any] struct {
	db    *memDB
	name  string
	typ   reflect.Type
	pk    int  // field index of the primary key
	ver   int  // field index of the Version field, -1 when none
	ctime int  // field index of CreatedAt, -1 when none
	auto  bool // integer key assigned on Create
}

func newMemStore[T any](db *memDB, name string) *memStore[T] {
	typ := reflect.TypeFor[T]()
	s := &memStore[T]{db: db, name: name, typ: typ, ver: -1, ctime: -1}
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch {
		case f.Name == "ID" || f.Name == "Name" && f.Type.Kind() == reflect.String && typ.Name() == "Lease" || f.Name == "Key":
			s.pk = i
			s.auto = f.Type.Kind() == reflect.Int64
		case f.Type == reflect.TypeFor[ports.Version]():
			s.ver = i
		case f.Name == "CreatedAt":
			s.ctime = i
		}
	}
	if typ.Name() == "SentRow" {
		s.auto = false
	}
	db.mu.Lock()
	db.tables[name] = map[any]any{}
	db.mu.Unlock()
	return s
}

// write runs fn on the table the call sees: the transaction's copy, or a
// copy of the committed one that replaces it when fn succeeds.
func (s *memStore[T]) write(ctx context.Context, fn func(tb map[any]any) error) error {
	if err := s.db.fault(ctx); err != nil {
		return err
	}
	if t, ok := ctx.Value(memTxKey{}).(*memTx); ok && t.db == s.db {
		if t.ended {
			return ports.NewError("mem", "write", ports.ErrInvalid, errors.New("transaction ended"))
		}
		return fn(t.tables[s.name])
	}
	s.db.txMu.Lock()
	defer s.db.txMu.Unlock()
	s.db.mu.RLock()
	tb := maps.Clone(s.db.tables[s.name])
	s.db.mu.RUnlock()
	if err := fn(tb); err != nil {
		return err
	}
	s.db.mu.Lock()
	s.db.tables[s.name] = tb
	s.db.mu.Unlock()
	return nil
}

func (s *memStore[T]) read(ctx context.Context) (map[any]any, error) {
	if err := s.db.fault(ctx); err != nil {
		return nil, err
	}
	if t, ok := ctx.Value(memTxKey{}).(*memTx); ok && t.db == s.db && !t.ended {
		return t.tables[s.name], nil
	}
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	return maps.Clone(s.db.tables[s.name]), nil
}

func (s *memStore[T]) insert(tb map[any]any, e *T) error {
	v := reflect.ValueOf(e).Elem()
	if s.auto && v.Field(s.pk).Int() == 0 {
		s.db.mu.Lock()
		s.db.seq++
		v.Field(s.pk).SetInt(s.db.seq)
		s.db.mu.Unlock()
	}
	k := v.Field(s.pk).Interface()
	if _, ok := tb[k]; ok {
		return ports.NewError("mem", "create", ports.ErrConflict, errors.New("duplicate key"))
	}
	if s.ver >= 0 {
		v.Field(s.ver).SetInt(1)
	}
	if s.ctime >= 0 && v.Field(s.ctime).Interface().(time.Time).IsZero() {
		v.Field(s.ctime).Set(reflect.ValueOf(time.Now().UTC()))
	}
	tb[k] = *e
	return nil
}

func (s *memStore[T]) Create(ctx context.Context, e *T) error {
	return s.write(ctx, func(tb map[any]any) error { return s.insert(tb, e) })
}

func (s *memStore[T]) CreateMany(ctx context.Context, es []*T) error {
	return s.write(ctx, func(tb map[any]any) error {
		for _, e := range es {
			if err := s.insert(tb, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *memStore[T]) Get(ctx context.Context, id any) (*T, error) {
	tb, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := tb[id]
	if !ok {
		return nil, ports.NewError("mem", "get", ports.ErrNotFound, nil)
	}
	v := r.(T)
	return &v, nil
}

func (s *memStore[T]) match(row T, q ports.Query) bool {
	v := reflect.ValueOf(row)
	for _, c := range q.Conditions() {
		f := v.FieldByName(c.Field).Interface()
		switch c.Op {
		case ports.In:
			in := reflect.ValueOf(c.Value)
			found := false
			for i := range in.Len() {
				if compare(f, in.Index(i).Interface()) == 0 {
					found = true
				}
			}
			if !found {
				return false
			}
		case ports.Eq:
			if compare(f, c.Value) != 0 {
				return false
			}
		case ports.Lt:
			if compare(f, c.Value) >= 0 {
				return false
			}
		case ports.Lte:
			if compare(f, c.Value) > 0 {
				return false
			}
		case ports.Gt:
			if compare(f, c.Value) <= 0 {
				return false
			}
		case ports.Gte:
			if compare(f, c.Value) < 0 {
				return false
			}
		default:
			panic("memStore: unsupported op " + string(c.Op))
		}
	}
	return true
}

func compare(a, b any) int {
	switch x := a.(type) {
	case time.Time:
		return x.Compare(b.(time.Time))
	case string:
		return cmp.Compare(x, b.(string))
	default:
		return cmp.Compare(reflect.ValueOf(a).Int(), reflect.ValueOf(b).Int())
	}
}

func (s *memStore[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	tb, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, r := range tb {
		if s.match(r.(T), q) {
			out = append(out, r.(T))
		}
	}
	key := s.typ.Field(s.pk).Name
	if o := q.Orders(); len(o) > 0 {
		key = o[0].Field
	}
	slices.SortFunc(out, func(a, b T) int {
		return compare(reflect.ValueOf(a).FieldByName(key).Interface(), reflect.ValueOf(b).FieldByName(key).Interface())
	})
	if n := q.LimitN(); n > 0 && len(out) > n {
		out = out[:n]
	}
	return out, nil
}

func (s *memStore[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	r, err := s.Find(ctx, q)
	return int64(len(r)), err
}

func (s *memStore[T]) Patch(ctx context.Context, id any, p ports.Patch) error {
	return s.write(ctx, func(tb map[any]any) error {
		r, ok := tb[id]
		if !ok {
			return ports.NewError("mem", "patch", ports.ErrNotFound, nil)
		}
		row := r.(T)
		v := reflect.ValueOf(&row).Elem()
		if want, has := p.Precondition(); has && ports.Version(v.Field(s.ver).Int()) != want {
			return ports.NewError("mem", "patch", ports.ErrConflict, errors.New("stale version"))
		}
		for _, c := range p.Changes() {
			v.FieldByName(c.Field).Set(reflect.ValueOf(c.Value))
		}
		if s.ver >= 0 {
			v.Field(s.ver).SetInt(v.Field(s.ver).Int() + 1)
		}
		tb[id] = row
		return nil
	})
}

func (s *memStore[T]) Delete(ctx context.Context, id any) error {
	return s.write(ctx, func(tb map[any]any) error {
		if _, ok := tb[id]; !ok {
			return ports.NewError("mem", "delete", ports.ErrNotFound, nil)
		}
		delete(tb, id)
		return nil
	})
}

func (s *memStore[T]) DeleteIfVersion(ctx context.Context, id any, ver ports.Version) error {
	return s.write(ctx, func(tb map[any]any) error {
		r, ok := tb[id]
		if !ok {
			return ports.NewError("mem", "delete", ports.ErrNotFound, nil)
		}
		if ports.Version(reflect.ValueOf(r).Field(s.ver).Int()) != ver {
			return ports.NewError("mem", "delete", ports.ErrConflict, nil)
		}
		delete(tb, id)
		return nil
	})
}

func (s *memStore[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	var n int64
	err := s.write(ctx, func(tb map[any]any) error {
		for k, r := range tb {
			if s.match(r.(T), q) {
				delete(tb, k)
				n++
			}
		}
		return nil
	})
	return n, err
}

func (s *memStore[T]) Stream(context.Context, ports.Query) iter.Seq2[T, error] { panic("unused") }
func (s *memStore[T]) FindPage(context.Context, ports.Query, string) (ports.Page[T], error) {
	panic("unused")
}
func (s *memStore[T]) Update(context.Context, *T) error { panic("unused") }
func (s *memStore[T]) Upsert(context.Context, *T) error { panic("unused") }
