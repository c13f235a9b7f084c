package fakes

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/portkit/portkit/internal/docmodel"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// DocStore is an in-memory [ports.DocStore] of T over a collection of a
// [DB], and a [ports.Connector] (Name "fake-doc"). It is safe for
// concurrent use and shares the DB's transactions: one DB.WithinTx covers
// SQL and document stores alike.
//
// It follows the mongo adapter, not a model of it: documents are stored
// as the BSON the adapter would send, encoded by the same codec
// (internal/docmodel: the driver's default registry, the ID and every
// ports.DocRef as ObjectIDs, the timestamp keys of [WithTimestampKeys]),
// checked by the same portable rules, and decoded by the same codec on
// every read; queries, sorts, updates and unique indexes follow MongoDB's
// rules on those BSON values (see ports.DocStore). So what a round trip
// through MongoDB keeps or loses (omitempty zero values, bson:"-" and
// unexported fields, nanoseconds, time zones, the type of an `any` field),
// the fake keeps or loses too. mgm's model hooks run as the adapter runs
// them.
//
// IDs have the hex form of a BSON ObjectID (24 lowercase hex digits: a
// 4-byte big-endian timestamp from the clock, 5 random bytes, a 3-byte
// counter); a given ID in another form (upper-case hex included) is
// ErrInvalid on Insert and ErrNotFound on Get, Update, Patch and Delete,
// as on MongoDB. Times are stamped from the DB's clock, in UTC at
// millisecond precision.
//
// Different model types may share a collection, as in MongoDB: rows are
// BSON, and each store decodes them into its own type.
type DocStore[T any, PT ports.DocModel[T]] struct {
	Faults

	db      *DB
	tb      *table
	meta    *docMeta
	m       *docmodel.Model
	backend string
	closed  atomic.Bool
	in      *obs.Instr // the store's operations
	conn    *obs.Instr // Check
}

var (
	_ ports.DocStore[ports.Document] = (*DocStore[ports.Document, *ports.Document])(nil)
	_ ports.Connector                = (*DocStore[ports.Document, *ports.Document])(nil)
)

// NewDocStore returns a store of T on db, in the collection named by
// [WithTable] (by default T's CollectionName() or its snake-case plural
// name), with the indexes of [WithIndexes] and the timestamp keys of
// [WithTimestampKeys]. It returns an error wrapping ports.ErrInvalid for a
// model the mongo adapter refuses too (T not embedding ports.Document with
// `bson:",inline"`, a tag that does not encode, two Version fields), a bad
// collection name or index declaration, and ports.ErrConflict for an index
// that conflicts with the collection's.
func NewDocStore[T any, PT ports.DocModel[T]](db *DB, opts ...StoreOption) (*DocStore[T, PT], error) {
	const backend, op = "fake-doc", "new doc store"
	if db == nil {
		return nil, ports.NewError(backend, op, ports.ErrInvalid, errors.New("nil DB"))
	}
	typ := reflect.TypeFor[T]()
	cfg := storeConfig{table: collectionName(typ)}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := checkCollection(cfg.table); err != nil {
		return nil, ports.NewError(backend, op, ports.ErrInvalid, err)
	}
	m, err := docmodel.New(typ, cfg.doc.model)
	if err != nil {
		return nil, ports.NewError(backend, op, ports.ErrInvalid, err)
	}
	tb, err := db.register("doc:"+cfg.table, rawType, func() (*table, error) {
		return newTable(cfg.table, rawType, nil), nil
	})
	if err != nil {
		return nil, ports.NewError(backend, op, ports.ErrInvalid, err)
	}
	meta, err := collectionMeta(db, cfg.table)
	if err != nil {
		return nil, ports.NewError(backend, op, ports.ErrInvalid, err)
	}
	s := &DocStore[T, PT]{db: db, tb: tb, meta: meta, m: m, backend: backend,
		in:   obs.New(obs.Backend{Port: obs.PortDoc, Name: backend, Collection: cfg.table}, db.tel),
		conn: obs.New(obs.Backend{Port: obs.PortConnector, Name: backend}, db.tel)}
	if err := db.lock(nil, backend, op); err != nil {
		return nil, err
	}
	err = s.addIndexes()
	db.mu.Unlock()
	if err != nil {
		return nil, ports.NewError(backend, op+" "+cfg.table, ports.ErrConflict, err)
	}
	return s, nil
}

// checkCollection rejects the collection names MongoDB refuses.
func checkCollection(name string) error {
	switch {
	case name == "":
		return errors.New("empty collection name")
	case strings.ContainsAny(name, "$\x00"):
		return fmt.Errorf("collection name %q holds '$' or NUL", name)
	case strings.HasPrefix(name, "system."):
		return fmt.Errorf("collection name %q is reserved", name)
	}
	return nil
}

// Name returns "fake-doc".
func (s *DocStore[T, PT]) Name() string { return s.backend }

// Check returns nil unless the store or its DB is closed, ctx is nil or
// done, or a fault is injected (on the store or the DB).
func (s *DocStore[T, PT]) Check(ctx context.Context) error {
	ctx, sp := s.conn.Start(ctx, obs.OpCheck)
	_, err := s.enter(ctx, "check")
	sp.End(err)
	return err
}

// Close closes the store (not its DB): every later call returns an error
// wrapping ports.ErrClosed.
func (s *DocStore[T, PT]) Close(context.Context) error {
	if s.closed.Swap(true) {
		return ports.NewError(s.backend, "close", ports.ErrClosed, nil)
	}
	return nil
}

// DB returns the database the store lives in.
func (s *DocStore[T, PT]) DB() *DB { return s.db }

// Collection returns the collection name.
func (s *DocStore[T, PT]) Collection() string { return s.tb.name }

// EnsureIndexes is there for the mongo adapter's sake: the fake applies
// the declared indexes in NewDocStore, so it only checks the store.
func (s *DocStore[T, PT]) EnsureIndexes(ctx context.Context) error {
	_, err := s.enter(ctx, s.op("ensure indexes"))
	return err
}

func (s *DocStore[T, PT]) op(verb string) string { return verb + " " + s.tb.name }

// enter applies the entry checks (closed, then a nil or done ctx, then the
// DB's and the store's faults) and returns the transaction ctx carries.
func (s *DocStore[T, PT]) enter(ctx context.Context, op string) (*tx, error) {
	if s.db.closed.Load() {
		return nil, ports.NewError(s.backend, op, ports.ErrClosed, nil)
	}
	if err := gate(ctx, &s.closed, &s.db.Faults, s.backend, op); err != nil {
		return nil, err
	}
	if err := s.Faults.inject(s.backend, op); err != nil {
		return nil, err
	}
	return s.db.txFrom(ctx, s.backend, op)
}

func (s *DocStore[T, PT]) invalid(op string, err error) error {
	return ports.NewError(s.backend, op, ports.ErrInvalid, err)
}

func (s *DocStore[T, PT]) notFound(op string, err error) error {
	return ports.NewError(s.backend, op, ports.ErrNotFound, err)
}

// hookErr classifies an error of a model hook as the adapter does.
func (s *DocStore[T, PT]) hookErr(op string, err error) error {
	if k := ports.KindOf(err); k != nil {
		return ports.NewError(s.backend, op, k, err)
	}
	return s.invalid(op, fmt.Errorf("model hook: %w", err))
}

// now returns the clock in UTC at BSON date precision.
func (s *DocStore[T, PT]) now() time.Time {
	return s.db.clock.Now().UTC().Truncate(time.Millisecond)
}

// newID returns a new ObjectID in hex.
func (db *DB) newID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(db.clock.Now().Unix()))
	copy(b[4:9], db.oidRand[:])
	n := db.oidCount.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
	return hex.EncodeToString(b[:])
}

// decode decodes a stored document into a new T.
func (s *DocStore[T, PT]) decode(op string, raw bson.Raw) (*T, error) {
	out := new(T)
	if err := s.m.Decode(raw, out); err != nil {
		return nil, s.invalid(op, fmt.Errorf("cannot decode the stored document into %v: %w", s.m.Type(), err))
	}
	return out, nil
}

// prepare returns the copy of d to insert, with the hooks run and the ID,
// times and version set, and its encoding (as the adapter's prepare).
func (s *DocStore[T, PT]) prepare(ctx context.Context, op string, d *T, at time.Time, i int) (*T, bson.Raw, error) {
	where := func() string {
		if i < 0 {
			return ""
		}
		return fmt.Sprintf("document %d: ", i)
	}
	if d == nil {
		return nil, nil, s.invalid(op, fmt.Errorf("%snil document", where()))
	}
	errID := func() error {
		return fmt.Errorf("%sthe ID is not an ObjectID: 24 lowercase hexadecimal digits", where())
	}
	if id := PT(d).Doc().ID; id != "" && !ports.IsObjectIDHex(id) {
		return nil, nil, s.invalid(op, errID())
	}
	given := PT(d).Doc().CreatedAt
	cp := new(T)
	*cp = *d
	if err := docmodel.BeforeCreate(ctx, any(cp)); err != nil {
		return nil, nil, s.hookErr(op, err)
	}
	doc := PT(cp).Doc()
	if doc.ID == "" {
		doc.ID = s.db.newID()
	} else if !ports.IsObjectIDHex(doc.ID) {
		return nil, nil, s.invalid(op, errID())
	}
	if given.IsZero() {
		doc.CreatedAt = at
	} else {
		doc.CreatedAt = given.UTC().Truncate(time.Millisecond)
	}
	doc.UpdatedAt = at
	s.m.SetVersion(cp, 1)
	raw, err := s.m.Encode(cp)
	if err != nil {
		return nil, nil, s.invalid(op, fmt.Errorf("%s%w", where(), err))
	}
	return cp, raw, nil
}

// write runs fn under the DB's write lock once no transaction blocks the
// keys it names: fn returns the keys and rows to put (nil row: delete).
func (s *DocStore[T, PT]) write(ctx context.Context, t *tx, op string, keys []any, fn func() ([]any, []bson.Raw, error)) error {
	for {
		if err := s.db.lock(t, s.backend, op); err != nil {
			return err
		}
		if done := s.waitFor(t, keys); done != nil {
			s.db.mu.Unlock()
			if err := s.db.waitLock(ctx, done, s.backend, op); err != nil {
				return err
			}
			continue
		}
		ks, rows, err := fn()
		if err == nil {
			for i, k := range ks {
				old, _ := s.db.lookup(t, s.tb, k)
				if rows[i] == nil {
					s.db.put(t, s.tb, k, nil, old)
				} else {
					s.db.put(t, s.tb, k, rows[i], old)
				}
			}
		}
		s.db.mu.Unlock()
		return err
	}
}

// insertRaw checks and puts one new document (write lock held).
func (s *DocStore[T, PT]) insertRaw(t *tx, op, key string, raw bson.Raw) error {
	if _, ok := s.db.lookup(t, s.tb, key); ok {
		return ports.NewError(s.backend, op, ports.ErrConflict, errors.New("duplicate key on the unique index _id_"))
	}
	if err := s.uniqueConflict(t, op, key, raw); err != nil {
		return err
	}
	s.db.put(t, s.tb, key, raw, nil)
	return nil
}

// Insert stores d as the adapter does (see mongo.DocStore.Insert): hooks,
// ID, created (unless given) and updated times, version 1. A taken ID or
// unique value is ErrConflict; a failed Insert leaves d as it was.
func (s *DocStore[T, PT]) Insert(ctx context.Context, d *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpInsert)
	err := s.doInsert(ctx, d)
	sp.End(err)
	return err
}

func (s *DocStore[T, PT]) doInsert(ctx context.Context, d *T) error {
	op := s.op("insert")
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	cp, raw, err := s.prepare(ctx, op, d, s.now(), -1)
	if err != nil {
		return err
	}
	key := PT(cp).Doc().ID
	err = s.write(ctx, t, op, []any{key}, func() ([]any, []bson.Raw, error) {
		return nil, nil, s.insertRaw(t, op, key, raw)
	})
	if err != nil {
		return err
	}
	*d = *cp
	if err := docmodel.AfterCreate(ctx, any(d)); err != nil {
		return s.hookErr(op, err)
	}
	return nil
}

// InsertMany stores ds in order, stopping at the first failure: the
// documents before it are stored and updated as Insert updates its
// document; the failing one and those after it are left as they were (the
// port's ordered rule, as MongoDB's ordered insert).
func (s *DocStore[T, PT]) InsertMany(ctx context.Context, ds []*T) error {
	ctx, sp := s.in.Start(ctx, obs.OpInsertMany)
	err := s.doInsertMany(ctx, ds)
	sp.End(err)
	return err
}

func (s *DocStore[T, PT]) doInsertMany(ctx context.Context, ds []*T) error {
	op := s.op("insert many")
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	at := s.now()
	var failure error
	stored := 0
	for i, d := range ds {
		cp, raw, err := s.prepare(ctx, op, d, at, i)
		if err != nil {
			failure = err
			break
		}
		key := PT(cp).Doc().ID
		err = s.write(ctx, t, op, []any{key}, func() ([]any, []bson.Raw, error) {
			return nil, nil, s.insertRaw(t, op, key, raw)
		})
		if err != nil {
			failure = err
			break
		}
		*d = *cp
		stored++
	}
	for _, d := range ds[:stored] {
		if err := docmodel.AfterCreate(ctx, any(d)); err != nil && failure == nil {
			failure = s.hookErr(op, err)
		}
	}
	return failure
}

// Get returns the document with the given ID, or ErrNotFound (also for a
// malformed ID).
func (s *DocStore[T, PT]) Get(ctx context.Context, id string) (*T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpGet)
	v, err := s.doGet(ctx, id)
	sp.End(err)
	return v, err
}

func (s *DocStore[T, PT]) doGet(ctx context.Context, id string) (*T, error) {
	op := s.op("get")
	t, err := s.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	if !ports.IsObjectIDHex(id) {
		return nil, s.notFound(op, errors.New("malformed ID"))
	}
	if err := s.db.rlock(t, s.backend, op); err != nil {
		return nil, err
	}
	row, ok := s.db.lookup(t, s.tb, id)
	s.db.mu.RUnlock()
	if !ok {
		return nil, s.notFound(op, mongo.ErrNoDocuments)
	}
	return s.decode(op, row.(bson.Raw))
}

// compile validates q and returns its filter and sort.
func (s *DocStore[T, PT]) compile(op string, q ports.Query) (docFilter, []docmodel.SortKey, error) {
	if err := s.m.Schema().Validate(q); err != nil {
		return docFilter{}, nil, s.invalid(op, err)
	}
	conds, err := s.m.Conditions(q.Conditions())
	if err != nil {
		return docFilter{}, nil, s.invalid(op, err)
	}
	sort, err := s.m.Sort(q.Orders())
	if err != nil {
		return docFilter{}, nil, s.invalid(op, err)
	}
	return docFilter{conds: conds}, sort, nil
}

// hits returns the documents t sees that match f, sorted.
func (s *DocStore[T, PT]) hits(t *tx, op string, f docFilter, sort []docmodel.SortKey) ([]docHit, error) {
	if err := s.db.rlock(t, s.backend, op); err != nil {
		return nil, err
	}
	var hits []docHit
	s.db.scan(t, s.tb, func(k, row any) {
		raw := row.(bson.Raw)
		if f.match(bsoncore.Document(raw)) {
			hits = append(hits, docHit{key: k.(string), raw: raw})
		}
	})
	s.db.mu.RUnlock()
	// Stored rows are never modified, so sorting and decoding need no lock.
	if sort != nil {
		sortHits(hits, sort)
	}
	return hits, nil
}

// Find returns the documents matching q, in q's order, then ID order.
func (s *DocStore[T, PT]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpFind)
	v, err := s.doFind(ctx, q)
	sp.SetRows(len(v))
	sp.End(err)
	return v, err
}

func (s *DocStore[T, PT]) doFind(ctx context.Context, q ports.Query) ([]T, error) {
	op := s.op("find")
	t, err := s.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	f, sort, err := s.compile(op, q)
	if err != nil {
		return nil, err
	}
	hits, err := s.hits(t, op, f, sort)
	if err != nil {
		return nil, err
	}
	lo, hi := window(len(hits), q.OffsetN(), q.LimitN())
	out := make([]T, 0, hi-lo)
	for _, h := range hits[lo:hi] {
		d, err := s.decode(op, h.raw)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, nil
}

// Stream returns the documents matching q one at a time, in Find's order,
// decoding each only when it is reached and checking ctx between them.
// The documents are those that matched when the iteration began (inside a
// transaction: as the transaction saw them).
func (s *DocStore[T, PT]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return obs.Stream(ctx, s.in, func(ctx context.Context) iter.Seq2[T, error] { return s.doStream(ctx, q) })
}

func (s *DocStore[T, PT]) doStream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		op := s.op("stream")
		t, err := s.enter(ctx, op)
		if err != nil {
			yield(zero, err)
			return
		}
		f, sort, err := s.compile(op, q)
		if err != nil {
			yield(zero, err)
			return
		}
		hits, err := s.hits(t, op, f, sort)
		if err != nil {
			yield(zero, err)
			return
		}
		lo, hi := window(len(hits), q.OffsetN(), q.LimitN())
		for _, h := range hits[lo:hi] {
			if ctx.Err() != nil {
				yield(zero, ports.NewError(s.backend, op, ports.ErrUnavailable, ctx.Err()))
				return
			}
			d, err := s.decode(op, h.raw)
			if err != nil {
				yield(zero, err)
				return
			}
			if !yield(*d, nil) {
				return
			}
		}
	}
}

// FindPage returns the keyset page of at most q.LimitN() documents after
// cursor, as the adapter does.
func (s *DocStore[T, PT]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	ctx, sp := s.in.Start(ctx, obs.OpFindPage)
	v, err := s.doFindPage(ctx, q, cursor)
	sp.SetRows(len(v.Items))
	sp.End(err)
	return v, err
}

func (s *DocStore[T, PT]) doFindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	op := s.op("find page")
	t, err := s.enter(ctx, op)
	if err != nil {
		return ports.Page[T]{}, err
	}
	schema := s.m.Schema()
	if err := schema.ValidatePage(q); err != nil {
		return ports.Page[T]{}, s.invalid(op, err)
	}
	conds, err := s.m.Conditions(q.Conditions())
	if err != nil {
		return ports.Page[T]{}, s.invalid(op, err)
	}
	f := docFilter{conds: conds}
	if cursor != "" {
		if f.terms, err = s.m.Keyset(q, cursor); err != nil {
			return ports.Page[T]{}, s.invalid(op, err)
		}
		f.any = true
	}
	sort, err := s.m.Sort(ports.KeysetOrder(q, docmodel.PkPath))
	if err != nil {
		return ports.Page[T]{}, s.invalid(op, err)
	}
	hits, err := s.hits(t, op, f, sort)
	if err != nil {
		return ports.Page[T]{}, err
	}
	n := q.LimitN()
	var page ports.Page[T]
	for _, h := range hits[:min(n, len(hits))] {
		d, err := s.decode(op, h.raw)
		if err != nil {
			return ports.Page[T]{}, err
		}
		page.Items = append(page.Items, *d)
	}
	if len(hits) > n {
		if page.Next, err = schema.EncodeCursor(q, docmodel.PkPath, &page.Items[n-1]); err != nil {
			return ports.Page[T]{}, s.invalid(op, err)
		}
	}
	return page, nil
}

// Count returns how many documents match q's conditions.
func (s *DocStore[T, PT]) Count(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpCount)
	v, err := s.doCount(ctx, q)
	sp.End(err)
	return v, err
}

func (s *DocStore[T, PT]) doCount(ctx context.Context, q ports.Query) (int64, error) {
	op := s.op("count")
	t, err := s.enter(ctx, op)
	if err != nil {
		return 0, err
	}
	f, _, err := s.compile(op, q)
	if err != nil {
		return 0, err
	}
	hits, err := s.hits(t, op, f, nil)
	return int64(len(hits)), err
}

// storedVersion reports whether the stored document holds version v
// (MongoDB's {version: v} filter: a missing field holds none).
func (s *DocStore[T, PT]) storedVersion(raw bson.Raw, v ports.Version) bool {
	x, err := raw.LookupErr(s.m.VersionKey())
	if err != nil {
		return false
	}
	tb, b, _ := bson.MarshalValue(int64(v))
	return docmodel.Equal(x, bson.RawValue{Type: tb, Value: b})
}

// modify applies the update that build returns for the stored document
// with key (write lock held), as MongoDB's update would: the result must
// pass the portable rules and the unique indexes. It returns the new
// document.
func (s *DocStore[T, PT]) modify(t *tx, op, key string, stored bson.Raw, u docmodel.Update, insert bool) (bson.Raw, error) {
	if !insert {
		u = docmodel.Viable(stored, u)
	}
	raw, err := applyUpdate(stored, u, insert)
	if err != nil {
		return nil, s.invalid(op, err)
	}
	if err := docmodel.Check(raw); err != nil {
		return nil, s.invalid(op, err)
	}
	if err := s.uniqueConflict(t, op, key, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// Update writes the fields T declares from d into the stored document with
// d's ID and keeps the others, as the adapter does (see
// mongo.DocStore.Update and ports.DocStore's rules). It returns
// ErrNotFound for no such document (also for a malformed ID), ErrConflict
// for a stale Version or a duplicate unique value; a failed Update leaves
// d as it was.
func (s *DocStore[T, PT]) Update(ctx context.Context, d *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpdate)
	err := s.doUpdate(ctx, d)
	sp.End(err)
	return err
}

func (s *DocStore[T, PT]) doUpdate(ctx context.Context, d *T) error {
	op := s.op("update")
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if d == nil {
		return s.invalid(op, errors.New("nil document"))
	}
	id := PT(d).Doc().ID
	if !ports.IsObjectIDHex(id) {
		return s.notFound(op, errors.New("malformed ID"))
	}
	cp := new(T)
	*cp = *d
	if err := docmodel.BeforeUpdate(ctx, any(cp)); err != nil {
		return s.hookErr(op, err)
	}
	doc := PT(cp).Doc()
	doc.ID, doc.UpdatedAt = id, s.now()
	versioned := s.m.VersionKey() != ""
	want := s.m.Version(cp)
	if versioned {
		s.m.SetVersion(cp, want+1)
	}
	raw, err := s.m.Encode(cp)
	if err != nil {
		return s.invalid(op, err)
	}
	var created time.Time
	err = s.write(ctx, t, op, []any{id}, func() ([]any, []bson.Raw, error) {
		row, ok := s.db.lookup(t, s.tb, id)
		if !ok {
			return nil, nil, s.notFound(op, mongo.ErrNoDocuments)
		}
		stored := row.(bson.Raw)
		if versioned && !s.storedVersion(stored, want) {
			return nil, nil, ports.NewError(s.backend, op, ports.ErrConflict, errors.New("stale version: the document has changed since it was read"))
		}
		u, err := s.m.UpdateFields(raw, stored)
		if err != nil {
			return nil, nil, s.invalid(op, err)
		}
		nr, err := s.modify(t, op, id, stored, u, false)
		if err != nil {
			return nil, nil, err
		}
		created = s.m.CreatedOf(nr)
		return []any{id}, []bson.Raw{nr}, nil
	})
	if err != nil {
		return err
	}
	doc.CreatedAt = created
	*d = *cp
	if err := docmodel.AfterUpdate(ctx, &mongo.UpdateResult{MatchedCount: 1, ModifiedCount: 1}, any(d)); err != nil {
		return s.hookErr(op, err)
	}
	return nil
}

// Patch applies p to the document with the given ID atomically, touching
// only the named fields, the updated time (unless p sets it) and the
// version, as the adapter does.
func (s *DocStore[T, PT]) Patch(ctx context.Context, id string, p ports.Patch) error {
	ctx, sp := s.in.Start(ctx, obs.OpPatch)
	err := s.doPatch(ctx, id, p)
	sp.End(err)
	return err
}

func (s *DocStore[T, PT]) doPatch(ctx context.Context, id string, p ports.Patch) error {
	op := s.op("patch")
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	u, err := s.m.PatchUpdate(p)
	if err != nil {
		return s.invalid(op, err)
	}
	if !ports.IsObjectIDHex(id) {
		return s.notFound(op, errors.New("malformed ID"))
	}
	u = stampPatch(s.m, u, s.now())
	v, cond := p.Precondition()
	return s.write(ctx, t, op, []any{id}, func() ([]any, []bson.Raw, error) {
		row, ok := s.db.lookup(t, s.tb, id)
		if !ok {
			return nil, nil, s.notFound(op, mongo.ErrNoDocuments)
		}
		stored := row.(bson.Raw)
		if cond && !s.storedVersion(stored, v) {
			return nil, nil, ports.NewError(s.backend, op, ports.ErrConflict, errors.New("stale version: the document has changed since it was read"))
		}
		nr, err := s.modify(t, op, id, stored, u, false)
		if err != nil {
			return nil, nil, err
		}
		return []any{id}, []bson.Raw{nr}, nil
	})
}

// stampPatch adds the updated time (unless u writes it) and the version
// increment to a patch, as the adapter's does.
func stampPatch(m *docmodel.Model, u docmodel.Update, at time.Time) docmodel.Update {
	uk := m.UpdatedKey()
	written := false
	for _, e := range u.Set {
		written = written || e.Key == uk
	}
	for _, k := range u.Unset {
		written = written || k == uk
	}
	if !written {
		tb, b, _ := bson.MarshalValue(at)
		u.Set = append(u.Set, docmodel.Elem{Key: uk, Value: bson.RawValue{Type: tb, Value: b}})
	}
	if vk := m.VersionKey(); vk != "" {
		tb, b, _ := bson.MarshalValue(int64(1))
		u.Inc = append(u.Inc, docmodel.Elem{Key: vk, Value: bson.RawValue{Type: tb, Value: b}})
	}
	return u
}

// Upsert inserts d or writes it over the document with its ID as Update
// does, as the adapter does (see mongo.DocStore.Upsert).
func (s *DocStore[T, PT]) Upsert(ctx context.Context, d *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpsert)
	err := s.doUpsert(ctx, d)
	sp.End(err)
	return err
}

func (s *DocStore[T, PT]) doUpsert(ctx context.Context, d *T) error {
	op := s.op("upsert")
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if d == nil {
		return s.invalid(op, errors.New("nil document"))
	}
	errID := errors.New("the ID is not an ObjectID: 24 lowercase hexadecimal digits")
	if id := PT(d).Doc().ID; id != "" && !ports.IsObjectIDHex(id) {
		return s.invalid(op, errID)
	}
	given := PT(d).Doc().CreatedAt
	cp := new(T)
	*cp = *d
	if err := docmodel.BeforeUpdate(ctx, any(cp)); err != nil {
		return s.hookErr(op, err)
	}
	doc := PT(cp).Doc()
	if doc.ID == "" {
		doc.ID = s.db.newID()
	} else if !ports.IsObjectIDHex(doc.ID) {
		return s.invalid(op, errID)
	}
	id := doc.ID
	at := s.now()
	doc.UpdatedAt = at
	created := at
	if !given.IsZero() {
		created = given.UTC().Truncate(time.Millisecond)
	}
	vk := s.m.VersionKey()
	want := s.m.Version(cp)
	conditional := vk != "" && want != 0
	if conditional {
		s.m.SetVersion(cp, want+1)
	}
	raw, err := s.m.Encode(cp)
	if err != nil {
		return s.invalid(op, err)
	}
	var result bson.Raw
	err = s.write(ctx, t, op, []any{id}, func() ([]any, []bson.Raw, error) {
		row, exists := s.db.lookup(t, s.tb, id)
		var stored bson.Raw
		if exists {
			stored = row.(bson.Raw)
		}
		switch {
		case conditional && !exists:
			return nil, nil, s.notFound(op, mongo.ErrNoDocuments)
		case conditional && !s.storedVersion(stored, want):
			return nil, nil, ports.NewError(s.backend, op, ports.ErrConflict, errors.New("stale version: the document has changed since it was read"))
		}
		u, err := s.m.UpdateFields(raw, stored)
		if err != nil {
			return nil, nil, s.invalid(op, err)
		}
		if vk != "" && !conditional {
			u = docmodel.WithoutKey(u, vk)
			tb, b, _ := bson.MarshalValue(int64(1))
			u.Inc = append(u.Inc, docmodel.Elem{Key: vk, Value: bson.RawValue{Type: tb, Value: b}})
		}
		if !conditional {
			tb, b, _ := bson.MarshalValue(created)
			u.SetOnInsert = append(u.SetOnInsert, docmodel.Elem{Key: s.m.CreatedKey(), Value: bson.RawValue{Type: tb, Value: b}})
		}
		if !exists {
			// MongoDB's upsert starts from the filter's equality: {_id}.
			oid, _ := docmodel.ParseObjectID(id)
			base, _ := bson.Marshal(bson.D{{Key: "_id", Value: oid}})
			stored = base
		}
		nr, err := s.modify(t, op, id, stored, u, !exists)
		if err != nil {
			return nil, nil, err
		}
		result = nr
		return []any{id}, []bson.Raw{nr}, nil
	})
	if err != nil {
		return err
	}
	doc.CreatedAt = s.m.CreatedOf(result)
	if vk != "" {
		if v, err := result.LookupErr(vk); err == nil {
			if n, ok := v.AsInt64OK(); ok {
				s.m.SetVersion(cp, ports.Version(n))
			}
		}
	}
	*d = *cp
	if err := docmodel.AfterUpdate(ctx, &mongo.UpdateResult{MatchedCount: 1, ModifiedCount: 1}, any(d)); err != nil {
		return s.hookErr(op, err)
	}
	return nil
}

// Delete removes the document with the given ID, or returns an error
// wrapping ports.ErrNotFound (also for a malformed ID).
func (s *DocStore[T, PT]) Delete(ctx context.Context, id string) error {
	ctx, sp := s.in.Start(ctx, obs.OpDelete)
	err := s.doDelete(ctx, id)
	sp.End(err)
	return err
}

func (s *DocStore[T, PT]) doDelete(ctx context.Context, id string) error {
	op := s.op("delete")
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if !ports.IsObjectIDHex(id) {
		return s.notFound(op, errors.New("malformed ID"))
	}
	return s.write(ctx, t, op, []any{id}, func() ([]any, []bson.Raw, error) {
		if _, ok := s.db.lookup(t, s.tb, id); !ok {
			return nil, nil, s.notFound(op, mongo.ErrNoDocuments)
		}
		return []any{id}, []bson.Raw{nil}, nil
	})
}

// DeleteIfVersion removes the document with the given ID if its stored
// version is v: ErrConflict when it is another, ErrNotFound when there is
// none, ErrInvalid when T has no Version field.
func (s *DocStore[T, PT]) DeleteIfVersion(ctx context.Context, id string, v ports.Version) error {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteIfVersion)
	err := s.doDeleteIfVersion(ctx, id, v)
	sp.End(err)
	return err
}

func (s *DocStore[T, PT]) doDeleteIfVersion(ctx context.Context, id string, v ports.Version) error {
	op := s.op("delete if version")
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if s.m.VersionKey() == "" {
		return s.invalid(op, fmt.Errorf("%s: %w", s.m.Type().Name(), errNoVersion))
	}
	if !ports.IsObjectIDHex(id) {
		return s.notFound(op, errors.New("malformed ID"))
	}
	return s.write(ctx, t, op, []any{id}, func() ([]any, []bson.Raw, error) {
		row, ok := s.db.lookup(t, s.tb, id)
		if !ok {
			return nil, nil, s.notFound(op, mongo.ErrNoDocuments)
		}
		if !s.storedVersion(row.(bson.Raw), v) {
			return nil, nil, ports.NewError(s.backend, op, ports.ErrConflict, errors.New("stale version: the document has changed since it was read"))
		}
		return []any{id}, []bson.Raw{nil}, nil
	})
}

// DeleteWhere removes every document matching q's conditions (at least
// one; no order, limit or offset) and returns how many.
func (s *DocStore[T, PT]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteWhere)
	v, err := s.doDeleteWhere(ctx, q)
	sp.End(err)
	return v, err
}

func (s *DocStore[T, PT]) doDeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	op := s.op("delete where")
	t, err := s.enter(ctx, op)
	if err != nil {
		return 0, err
	}
	if err := s.m.Schema().ValidateDeleteWhere(q); err != nil {
		return 0, s.invalid(op, err)
	}
	conds, err := s.m.Conditions(q.Conditions())
	if err != nil {
		return 0, s.invalid(op, err)
	}
	f := docFilter{conds: conds}
	var n int64
	for {
		if err := s.db.lock(t, s.backend, op); err != nil {
			return 0, err
		}
		var keys []any
		s.db.scan(t, s.tb, func(k, row any) {
			if f.match(bsoncore.Document(row.(bson.Raw))) {
				keys = append(keys, k)
			}
		})
		if done := s.waitFor(t, keys); done != nil {
			s.db.mu.Unlock()
			if err := s.db.waitLock(ctx, done, s.backend, op); err != nil {
				return 0, err
			}
			continue
		}
		for _, k := range keys {
			old, _ := s.db.lookup(t, s.tb, k)
			s.db.put(t, s.tb, k, nil, old)
		}
		n = int64(len(keys))
		s.db.mu.Unlock()
		return n, nil
	}
}
