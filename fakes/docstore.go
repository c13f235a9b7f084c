package fakes

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/portkit/portkit/ports"
)

// DocStore is an in-memory [ports.DocStore] of T over a collection of a
// [DB], and a [ports.Connector] (Name "fake-doc"). It is safe for
// concurrent use and shares the DB's transactions: one DB.WithinTx covers
// SQL and document stores alike.
//
// IDs have the hex form of a BSON ObjectID (24 lowercase hex digits: a
// 4-byte big-endian timestamp from the clock, 5 random bytes, a 3-byte
// counter). Insert assigns one when the document has none, and accepts a
// given one only in that form (upper-case hex is lowered); Get, Update and
// Delete of an ID not in that form are ErrNotFound, as on MongoDB. As the
// mongo adapter does, Insert sets CreatedAt (unless given) and UpdatedAt,
// and Update keeps the stored CreatedAt and sets UpdatedAt, from the clock
// in UTC truncated to milliseconds; every time.Time stored is kept in UTC
// at millisecond precision, as BSON dates are.
//
// Queries are checked with [ports.Schema] (dotted paths reach nested
// structs) and evaluated as [SQLStore]'s are, in ID order when unsorted.
// Documents are deep-copied in and out.
type DocStore[T any, PT ports.DocModel[T]] struct {
	Faults

	c coll[T]
}

var (
	_ ports.DocStore[ports.Document] = (*DocStore[ports.Document, *ports.Document])(nil)
	_ ports.Connector                = (*DocStore[ports.Document, *ports.Document])(nil)
)

// NewDocStore returns a store of T on db, in the collection named by
// [WithTable] (by default T's CollectionName() or its snake-case plural
// name). It panics if the collection already holds another type (a
// programming error).
func NewDocStore[T any, PT ports.DocModel[T]](db *DB, opts ...StoreOption) *DocStore[T, PT] {
	typ := reflect.TypeFor[T]()
	schema, err := ports.SchemaFor(typ)
	if err != nil {
		panic(err) // unreachable: DocModel makes T a struct embedding Document
	}
	cfg := storeConfig{table: tableName(typ, "CollectionName")}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	tb, err := db.register("doc:"+cfg.table, typ, func() (*table, error) {
		return newTable(cfg.table, typ, nil), nil
	})
	if err != nil {
		panic(ports.NewError("fake-doc", "new store", ports.ErrInvalid, err))
	}
	s := &DocStore[T, PT]{}
	s.c = coll[T]{db: db, tb: tb, schema: schema, backend: "fake-doc", faults: &s.Faults}
	s.c.keyOf = func(d *T) any { return PT(d).Doc().ID }
	return s
}

// Name returns "fake-doc".
func (s *DocStore[T, PT]) Name() string { return s.c.backend }

// Check returns nil unless the store or its DB is closed, ctx is done, or
// a fault is injected (on the store or the DB).
func (s *DocStore[T, PT]) Check(ctx context.Context) error { return s.c.check(ctx) }

// Close closes the store (not its DB): every later call returns an error
// wrapping ports.ErrClosed.
func (s *DocStore[T, PT]) Close(context.Context) error { return s.c.close() }

// DB returns the database the store lives in.
func (s *DocStore[T, PT]) DB() *DB { return s.c.db }

// Collection returns the collection name.
func (s *DocStore[T, PT]) Collection() string { return s.c.tb.name }

// now returns the clock in UTC at BSON date precision.
func (s *DocStore[T, PT]) now() time.Time { return bsonTime(s.c.db.clock.Now()) }

func bsonTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// newID returns a new ObjectID in hex.
func (db *DB) newID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(db.clock.Now().Unix()))
	copy(b[4:9], db.oidRand[:])
	n := db.oidCount.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
	return hex.EncodeToString(b[:])
}

// parseID returns id in canonical form, or false when it is not 24 hex
// digits.
func parseID(id string) (string, bool) {
	if len(id) != 24 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return strings.ToLower(id), true
}

// prepInsert returns the copy of d to store, with its ID and times set.
func (s *DocStore[T, PT]) prepInsert(op string, d *T, now time.Time) (*T, error) {
	cp := clone(d)
	doc := PT(cp).Doc()
	if doc.ID == "" {
		doc.ID = s.c.db.newID()
	} else if id, ok := parseID(doc.ID); ok {
		doc.ID = id
	} else {
		return nil, ports.NewError(s.c.backend, op, ports.ErrInvalid, fmt.Errorf("ID %q is not 24 hex digits", doc.ID))
	}
	if doc.CreatedAt.IsZero() {
		doc.CreatedAt = now
	}
	doc.UpdatedAt = now
	normalizeTimes(reflect.ValueOf(cp).Elem(), 0)
	return cp, nil
}

// copyBack sets on d the ID and times the store set on its copy.
func copyBack[T any, PT ports.DocModel[T]](d, cp *T) {
	dst, src := PT(d).Doc(), PT(cp).Doc()
	*dst = *src
}

// Insert stores a copy of d, setting d's ID (when empty), CreatedAt (when
// zero) and UpdatedAt. A duplicate ID is an error wrapping
// ports.ErrConflict; a given ID not of ObjectID form is ErrInvalid.
func (s *DocStore[T, PT]) Insert(ctx context.Context, d *T) error {
	op := s.c.op("insert")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	if d == nil {
		return ports.NewError(s.c.backend, op, ports.ErrInvalid, errors.New("nil document"))
	}
	cp, err := s.prepInsert(op, d, s.now())
	if err != nil {
		return err
	}
	if err := s.c.insert(ctx, t, op, []*T{cp}, nil); err != nil {
		return err
	}
	copyBack[T, PT](d, cp)
	return nil
}

// InsertMany stores copies of ds, all or none, setting their IDs and
// times. A duplicate ID, against a stored document or inside ds, is an
// error wrapping ports.ErrConflict; a nil element is ErrInvalid.
func (s *DocStore[T, PT]) InsertMany(ctx context.Context, ds []*T) error {
	op := s.c.op("insert many")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	now := s.now()
	cps := make([]*T, len(ds))
	for i, d := range ds {
		if d == nil {
			return ports.NewError(s.c.backend, op, ports.ErrInvalid, fmt.Errorf("nil document at index %d", i))
		}
		if cps[i], err = s.prepInsert(op, d, now); err != nil {
			return err
		}
	}
	if err := s.c.insert(ctx, t, op, cps, nil); err != nil {
		return err
	}
	for i := range ds {
		copyBack[T, PT](ds[i], cps[i])
	}
	return nil
}

// Get returns a copy of the document with the given ID, or an error
// wrapping ports.ErrNotFound (also for a malformed ID).
func (s *DocStore[T, PT]) Get(ctx context.Context, id string) (*T, error) {
	op := s.c.op("get")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	k, ok := parseID(id)
	if !ok {
		return nil, ports.NewError(s.c.backend, op, ports.ErrNotFound, errors.New("malformed ID"))
	}
	return s.c.get(t, op, k)
}

// Find returns copies of the documents matching q, in q's order, then ID
// order.
func (s *DocStore[T, PT]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	op := s.c.op("find")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	return s.c.find(t, op, q)
}

// Count returns how many documents match q's conditions.
func (s *DocStore[T, PT]) Count(ctx context.Context, q ports.Query) (int64, error) {
	op := s.c.op("count")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return 0, err
	}
	return s.c.count(t, op, q)
}

// Update replaces the document with d's ID by a copy of d, keeping the
// stored CreatedAt and setting UpdatedAt (on d too), or returns an error
// wrapping ports.ErrNotFound (also for a malformed ID).
func (s *DocStore[T, PT]) Update(ctx context.Context, d *T) error {
	op := s.c.op("update")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	if d == nil {
		return ports.NewError(s.c.backend, op, ports.ErrInvalid, errors.New("nil document"))
	}
	k, ok := parseID(PT(d).Doc().ID)
	if !ok {
		return ports.NewError(s.c.backend, op, ports.ErrNotFound, errors.New("malformed ID"))
	}
	cp := clone(d)
	doc := PT(cp).Doc()
	doc.ID, doc.UpdatedAt = k, s.now()
	normalizeTimes(reflect.ValueOf(cp).Elem(), 0)
	err = s.c.update(ctx, t, op, k, cp, func(old, row *T) {
		PT(row).Doc().CreatedAt = PT(old).Doc().CreatedAt
	})
	if err != nil {
		return err
	}
	copyBack[T, PT](d, cp)
	return nil
}

// Delete removes the document with the given ID, or returns an error
// wrapping ports.ErrNotFound (also for a malformed ID).
func (s *DocStore[T, PT]) Delete(ctx context.Context, id string) error {
	op := s.c.op("delete")
	t, err := s.c.enter(ctx, op)
	if err != nil {
		return err
	}
	k, ok := parseID(id)
	if !ok {
		return ports.NewError(s.c.backend, op, ports.ErrNotFound, errors.New("malformed ID"))
	}
	return s.c.remove(ctx, t, op, k)
}

// normalizeTimes sets every time.Time reachable through exported fields,
// pointers, slices and arrays of v (settable) to UTC at millisecond
// precision, as a round trip through BSON does.
func normalizeTimes(v reflect.Value, depth int) {
	if depth > maxDepth {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(bsonTime(v.Interface().(time.Time))))
			}
			return
		}
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				normalizeTimes(f, depth+1)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			normalizeTimes(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			normalizeTimes(v.Index(i), depth+1)
		}
	}
}
