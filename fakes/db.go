package fakes

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// DB is an in-memory database: the rows of every [SQLStore] and the
// documents of every [DocStore] made on it, and the [ports.Transactor] that
// covers them all. It is also a [ports.Connector] (Name "fake-sql");
// closing it closes its stores.
//
// # Isolation
//
// Transactions are serialized: one runs at a time, the others wait for it
// (honouring their context, for at most the lock wait, see [WithLockWait]).
// A transaction's writes are private until it commits, and commit applies
// them atomically. Calls made outside a transaction never see uncommitted
// writes (read committed): reads never block, and a write that touches a
// row, or a unique value, that the running transaction has written waits
// until that transaction ends, as with row locks in InnoDB. Inside a
// transaction, reads see committed data plus the transaction's own writes.
//
// A rolled-back transaction leaves no trace but consumed auto-increment
// values, as in MySQL.
type DB struct {
	Faults

	name     string
	clock    Clock
	lockWait time.Duration
	dialect  Dialect
	closed   atomic.Bool
	sem      chan struct{} // the transaction slot

	// schemas caches gorm's parsed model schemas for this DB's SQL
	// stores, and models the models made of them (under modelsMu: gorm's
	// ParseIndexes writes to the schema).
	schemas  sync.Map
	modelsMu sync.Mutex
	models   map[reflect.Type]*sqlModel

	mu     sync.RWMutex
	tables map[string]*table
	active *tx // the running transaction, nil when none

	oidRand  [5]byte
	oidCount atomic.Uint32

	tel  obs.Settings // for the stores' instrumentation
	tx   *obs.Instr   // WithinTx
	conn *obs.Instr   // Check and Close, of the DB and its stores
}

var (
	_ ports.Transactor = (*DB)(nil)
	_ ports.Connector  = (*DB)(nil)
)

// NewDB returns an empty in-memory database. It honours [WithClock],
// [WithName], [WithLockWait] and [WithDialect] (MySQL by default).
func NewDB(opts ...Option) *DB {
	cfg := newConfig("fake-sql", opts)
	db := &DB{
		name:     cfg.name,
		clock:    cfg.clock,
		lockWait: cfg.lockWait,
		dialect:  cfg.dialect,
		sem:      make(chan struct{}, 1),
		tables:   make(map[string]*table),
		tel:      cfg.tel,
		tx:       cfg.instr(obs.PortTx, ""),
		conn:     cfg.instr(obs.PortConnector, ""),
	}
	_, _ = rand.Read(db.oidRand[:])
	var c [4]byte
	_, _ = rand.Read(c[:])
	db.oidCount.Store(uint32(c[0])<<16 | uint32(c[1])<<8 | uint32(c[2]))
	return db
}

// Name returns "fake-sql" (or the name given with WithName).
func (db *DB) Name() string { return db.name }

// Check returns nil unless the DB is closed, ctx is done, or a fault is
// injected.
func (db *DB) Check(ctx context.Context) error {
	ctx, sp := db.conn.Start(ctx, obs.OpCheck)
	err := db.enter(ctx, "check")
	sp.End(err)
	return err
}

// Dialect returns the SQL backend the DB follows (see [WithDialect]).
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the DB and its stores: every later call returns an error
// wrapping ports.ErrClosed. A transaction running at that moment cannot
// commit any more: its store calls fail with ErrClosed, and its WithinTx
// rolls back and returns ErrClosed (or fn's error, when fn fails). Close waits,
// until ctx ends, for that transaction to end (ErrUnavailable wrapping
// ctx's error when ctx ends first).
func (db *DB) Close(ctx context.Context) error {
	ctx, sp := db.conn.Start(ctx, obs.OpClose)
	err := db.close(ctx)
	sp.End(err)
	return err
}

func (db *DB) close(ctx context.Context) error {
	db.mu.Lock()
	if db.closed.Swap(true) {
		db.mu.Unlock()
		return ports.NewError(db.name, "close", ports.ErrClosed, nil)
	}
	t := db.active
	db.mu.Unlock()
	if t == nil {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ports.NewError(db.name, "close", ports.ErrUnavailable, fmt.Errorf("a transaction is still running: %w", ctx.Err()))
	}
}

// InTx reports whether ctx carries a running transaction of db (one that
// store calls made with ctx take part in).
func (db *DB) InTx(ctx context.Context) bool {
	if ctx == nil {
		return false
	}
	t, _ := ctx.Value(txKey{}).(*tx)
	return t != nil && t.db == db && !t.ended.Load()
}

// gormNow is the time the adapters stamp CreatedAt, UpdatedAt and
// DeletedAt with (their gorm NowFunc): the clock's time in UTC, truncated
// to the column's precision — milliseconds on MySQL (datetime(3)),
// microseconds on PostgreSQL (timestamptz).
func (db *DB) gormNow() time.Time {
	now := db.clock.Now().UTC()
	if db.dialect == MySQL {
		return now.Truncate(time.Millisecond)
	}
	return now.Truncate(time.Microsecond)
}

func (db *DB) enter(ctx context.Context, op string) error {
	return gate(ctx, &db.closed, &db.Faults, db.name, op)
}

// txKey is the context key under which a transaction travels.
type txKey struct{}

// tx is a running transaction: its private writes, the undo log of those
// writes for savepoints, and the locks it holds.
type tx struct {
	db     *DB
	writes map[*table]map[any]any // row key -> new row, nil for a deletion
	undo   []undoEntry
	keys   map[*table]map[any]struct{} // locked row keys
	vals   map[*table]map[any]struct{} // locked unique values (tagged by index)
	done   chan struct{}               // closed when the transaction ends
	ended  atomic.Bool
}

type undoEntry struct {
	t    *table
	key  any
	prev any
	had  bool
}

// uniqueVal tags a unique value with its index so that one lock set holds
// the values of all indexes of a table.
type uniqueVal struct {
	index int
	value any
}

// txFrom returns the transaction of db that ctx carries, or nil. A
// transaction that has ended is an error.
func (db *DB) txFrom(ctx context.Context, backend, op string) (*tx, error) {
	t, _ := ctx.Value(txKey{}).(*tx)
	if t == nil || t.db != db {
		return nil, nil
	}
	if t.ended.Load() {
		return nil, errTxEnded(backend, op)
	}
	return t, nil
}

func errTxEnded(backend, op string) error {
	return ports.NewError(backend, op, ports.ErrInvalid, errors.New("the transaction of this context has ended"))
}

// lock takes db.mu for writing and checks that t (nil: no transaction) is
// still running and the DB open.
func (db *DB) lock(t *tx, backend, op string) error {
	db.mu.Lock()
	if db.closed.Load() {
		db.mu.Unlock()
		return ports.NewError(backend, op, ports.ErrClosed, nil)
	}
	if t != nil && t.ended.Load() {
		db.mu.Unlock()
		return errTxEnded(backend, op)
	}
	return nil
}

// rlock is lock for reading.
func (db *DB) rlock(t *tx, backend, op string) error {
	db.mu.RLock()
	if db.closed.Load() {
		db.mu.RUnlock()
		return ports.NewError(backend, op, ports.ErrClosed, nil)
	}
	if t != nil && t.ended.Load() {
		db.mu.RUnlock()
		return errTxEnded(backend, op)
	}
	return nil
}

// WithinTx runs fn in a transaction that travels in the context fn gets:
// store calls made with it (on any store of db, SQL or document) take part
// in it. It commits when fn returns nil; it rolls back every store's changes
// when fn returns an error (returned as is) or panics (rolled back, then
// re-panicked). Inside another WithinTx of db it is a savepoint: its
// failure undoes only its own work. Commit fails, rolling back, when ctx is
// done by then or the DB was closed.
func (db *DB) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, sp := db.tx.Start(ctx, obs.OpWithinTx)
	defer sp.EndPanic() // a no-op once End has run
	err := db.doWithinTx(ctx, fn)
	sp.End(err)
	return err
}

func (db *DB) doWithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := db.enter(ctx, "begin"); err != nil {
		return err
	}
	if fn == nil {
		return ports.NewError(db.name, "begin", ports.ErrInvalid, errors.New("nil function"))
	}
	outer, err := db.txFrom(ctx, db.name, "savepoint")
	if err != nil {
		return err
	}
	if outer != nil {
		return db.savepoint(ctx, outer, fn)
	}
	if err := db.acquire(ctx); err != nil {
		return err
	}
	t := &tx{
		db:     db,
		writes: make(map[*table]map[any]any),
		keys:   make(map[*table]map[any]struct{}),
		vals:   make(map[*table]map[any]struct{}),
		done:   make(chan struct{}),
	}
	db.mu.Lock()
	if db.closed.Load() { // closed while this call waited for the slot
		db.mu.Unlock()
		<-db.sem
		return ports.NewError(db.name, "begin", ports.ErrClosed, nil)
	}
	db.active = t // under mu: Close either sees t or WithinTx sees closed
	db.mu.Unlock()
	finished := false
	defer func() {
		if !finished { // fn panicked
			db.finish(ctx, t, false)
		}
	}()
	err = fn(context.WithValue(ctx, txKey{}, t))
	finished = true
	if err != nil {
		db.finish(ctx, t, false)
		return err
	}
	return db.finish(ctx, t, true)
}

// acquire takes the transaction slot, waiting while another transaction
// runs.
func (db *DB) acquire(ctx context.Context) error {
	select {
	case db.sem <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(db.lockWait)
	defer timer.Stop()
	select {
	case db.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ports.NewError(db.name, "begin", ports.ErrUnavailable, ctx.Err())
	case <-timer.C:
		return ports.NewError(db.name, "begin", ports.ErrUnavailable, fmt.Errorf("another transaction held the DB for over %v", db.lockWait))
	}
}

// finish commits or rolls back t and frees the transaction slot.
func (db *DB) finish(ctx context.Context, t *tx, commit bool) error {
	var err error
	db.mu.Lock()
	switch {
	case !commit:
	case db.closed.Load():
		err = ports.NewError(db.name, "commit", ports.ErrClosed, nil)
	case ctx.Err() != nil:
		err = ports.NewError(db.name, "commit", ports.ErrUnavailable, ctx.Err())
	default:
		for tb, ws := range t.writes {
			tb.commit(ws)
		}
	}
	t.ended.Store(true)
	t.writes, t.undo, t.keys, t.vals = nil, nil, nil, nil
	db.active = nil
	close(t.done)
	db.mu.Unlock()
	<-db.sem
	return err
}

// savepoint runs fn inside t and undoes fn's writes when it fails.
func (db *DB) savepoint(ctx context.Context, t *tx, fn func(ctx context.Context) error) error {
	db.mu.Lock()
	mark := len(t.undo)
	db.mu.Unlock()
	finished := false
	defer func() {
		if !finished {
			db.rollbackTo(t, mark)
		}
	}()
	err := fn(ctx)
	finished = true
	if err != nil {
		db.rollbackTo(t, mark)
	}
	return err
}

// rollbackTo undoes t's writes back to the undo log length mark.
func (db *DB) rollbackTo(t *tx, mark int) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if t.ended.Load() {
		return
	}
	for i := len(t.undo) - 1; i >= mark; i-- {
		u := t.undo[i]
		if u.had {
			t.writes[u.t][u.key] = u.prev
		} else {
			delete(t.writes[u.t], u.key)
		}
	}
	t.undo = t.undo[:mark]
}

// waitLock waits for the transaction that holds a lock to end.
func (db *DB) waitLock(ctx context.Context, done <-chan struct{}, backend, op string) error {
	timer := time.NewTimer(db.lockWait)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ports.NewError(backend, op, ports.ErrUnavailable, ctx.Err())
	case <-timer.C:
		return ports.NewError(backend, op, ports.ErrUnavailable, fmt.Errorf("lock wait timeout exceeded (%v)", db.lockWait))
	}
}

// sqlModel returns the model of SQL rows of type typ, parsing it once.
func (db *DB) sqlModel(typ reflect.Type) (*sqlModel, error) {
	db.modelsMu.Lock()
	defer db.modelsMu.Unlock()
	if m, ok := db.models[typ]; ok {
		return m, nil
	}
	m, err := newSQLModel(typ, db.dialect, &db.schemas)
	if err != nil {
		return nil, err
	}
	if db.models == nil {
		db.models = make(map[reflect.Type]*sqlModel)
	}
	db.models[typ] = m
	return m, nil
}

// register returns the table named name, creating it with mk. A table of
// another row type under the name is an error.
func (db *DB) register(name string, typ reflect.Type, mk func() (*table, error)) (*table, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if t, ok := db.tables[name]; ok {
		if t.typ != typ {
			return nil, fmt.Errorf("%s holds %v rows, not %v", name, t.typ, typ)
		}
		return t, nil
	}
	t, err := mk()
	if err != nil {
		return nil, err
	}
	db.tables[name] = t
	return t, nil
}

// table holds the committed rows of one store type. Rows are pointers to
// private copies that are never modified once stored (an update stores a
// new copy), so they may be read and copied under the read lock.
type table struct {
	name  string
	typ   reflect.Type // the row struct type
	rows  map[any]any  // key -> *T
	uniq  []uniqueIndex
	idx   []map[any]any // per unique index: value -> key
	autoI int64         // the last auto-increment value handed out
}

func newTable(name string, typ reflect.Type, uniq []uniqueIndex) *table {
	t := &table{name: name, typ: typ, rows: make(map[any]any), uniq: uniq}
	for range uniq {
		t.idx = append(t.idx, make(map[any]any))
	}
	return t
}

// commit applies a transaction's writes: first it removes the unique index
// entries of every row written, then it stores the new rows, so that rows
// that swapped unique values do not clobber each other.
func (t *table) commit(ws map[any]any) {
	for k := range ws {
		t.unindex(k)
		delete(t.rows, k)
	}
	for k, row := range ws {
		if row != nil {
			t.rows[k] = row
			t.index(k, row)
		}
	}
}

// apply writes one row (nil: deletes it) outside a transaction.
func (t *table) apply(k, row any) {
	t.unindex(k)
	if row == nil {
		delete(t.rows, k)
		return
	}
	t.rows[k] = row
	t.index(k, row)
}

func (t *table) unindex(k any) {
	old, ok := t.rows[k]
	if !ok {
		return
	}
	for i, u := range t.uniq {
		if v, ok := u.value(old); ok && t.idx[i][v] == k {
			delete(t.idx[i], v)
		}
	}
}

func (t *table) index(k, row any) {
	for i, u := range t.uniq {
		if v, ok := u.value(row); ok {
			t.idx[i][v] = k
		}
	}
}

// The methods below are called with db.mu held (read or write as noted).

// lookup returns the row under k as tx sees it (read lock).
func (db *DB) lookup(t *tx, tb *table, k any) (any, bool) {
	if t != nil {
		if row, ok := t.writes[tb][k]; ok {
			return row, row != nil
		}
	}
	row, ok := tb.rows[k]
	return row, ok
}

// scan calls fn for every row tx sees (read lock).
func (db *DB) scan(t *tx, tb *table, fn func(k, row any)) {
	var ws map[any]any
	if t != nil {
		ws = t.writes[tb]
	}
	for k, row := range tb.rows {
		if _, ok := ws[k]; !ok {
			fn(k, row)
		}
	}
	for k, row := range ws {
		if row != nil {
			fn(k, row)
		}
	}
}

// conflict returns the name of a unique index on which row, stored under
// k, would collide with another row tx sees, or "" (read lock).
func (db *DB) conflict(t *tx, tb *table, k, row any) string {
	var ws map[any]any
	if t != nil {
		ws = t.writes[tb]
	}
	for i, u := range tb.uniq {
		v, ok := u.value(row)
		if !ok {
			continue
		}
		if k2, ok := tb.idx[i][v]; ok && k2 != k {
			if _, shadowed := ws[k2]; !shadowed {
				return u.name
			}
		}
		for k2, r2 := range ws {
			if r2 == nil || k2 == k {
				continue
			}
			if v2, ok := u.value(r2); ok && v2 == v {
				return u.name
			}
		}
	}
	return ""
}

// blocked returns the done channel of the running transaction when a write
// outside it touches a row key or a unique value the transaction has
// written (read lock).
func (db *DB) blocked(tb *table, keys []any, rows []any) <-chan struct{} {
	a := db.active
	if a == nil {
		return nil
	}
	lk, lv := a.keys[tb], a.vals[tb]
	if len(lk) == 0 && len(lv) == 0 {
		return nil
	}
	for _, k := range keys {
		if _, ok := lk[k]; ok {
			return a.done
		}
	}
	for _, row := range rows {
		if row == nil {
			continue
		}
		for i, u := range tb.uniq {
			if v, ok := u.value(row); ok {
				if _, ok := lv[uniqueVal{i, v}]; ok {
					return a.done
				}
			}
		}
	}
	return nil
}

// put writes row (nil: deletes) under k, in tx or directly (write lock).
// old is the row tx saw under k before, if any, whose unique values the
// transaction locks too.
func (db *DB) put(t *tx, tb *table, k, row, old any) {
	if t == nil {
		tb.apply(k, row)
		return
	}
	ws := t.writes[tb]
	if ws == nil {
		ws = make(map[any]any)
		t.writes[tb] = ws
	}
	prev, had := ws[k]
	t.undo = append(t.undo, undoEntry{t: tb, key: k, prev: prev, had: had})
	ws[k] = row
	lk := t.keys[tb]
	if lk == nil {
		lk = make(map[any]struct{})
		t.keys[tb] = lk
	}
	lk[k] = struct{}{}
	for _, r := range [2]any{row, old} {
		if r == nil {
			continue
		}
		for i, u := range tb.uniq {
			if v, ok := u.value(r); ok {
				lv := t.vals[tb]
				if lv == nil {
					lv = make(map[any]struct{})
					t.vals[tb] = lv
				}
				lv[uniqueVal{i, v}] = struct{}{}
			}
		}
	}
}

// instr returns the instrumentation of a store of db on collection.
func (db *DB) instr(port obs.Port, collection string) *obs.Instr {
	return obs.New(obs.Backend{Port: port, Name: db.name, Collection: collection}, db.tel)
}
