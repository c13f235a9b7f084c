package fakes

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"sync/atomic"
	"time"

	"gorm.io/gorm/schema"

	igate "github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/portable"
	"github.com/portkit/portkit/internal/sqlrules"
	"github.com/portkit/portkit/ports"
)

// SQLStore is an in-memory [ports.SQLStore] of T over a table of a [DB],
// and a [ports.Connector] (Name: the DB's, "fake-sql" by default). It is
// safe for concurrent use; calls made with a context from DB.WithinTx run
// in that transaction.
//
// # The table
//
// T is parsed by gorm's own schema parser with gorm's default naming
// strategy, exactly as the SQL adapters parse it, so the store has the
// table they create: its name (T's TableName, else gorm's plural snake
// case: Person → "people", Category → "categories"), one column per field
// gorm maps (embedded structs flattened, `embeddedPrefix` applied; a named
// struct field without `embedded` or a Scanner/Valuer, or a []string
// without a serializer, is ErrInvalid as gorm rejects it), the primary key
// (`primaryKey`, else ID; an integer key is AUTO_INCREMENT unless
// `autoIncrement:false`), unique indexes (`unique`, `uniqueIndex`,
// `index:...,unique`; fields sharing a name form a composite index; NULL
// is never a duplicate) and each column's type (sizes, precision).
//
// Each row holds the columns' values as the backend stores them, written
// through gorm's field readers and serializers and read back through its
// field setters, so a round trip through the fake is a round trip through
// the columns: fields gorm does not map (`gorm:"-"`) come back zero,
// `serializer:json` fields come back decoded from their JSON, times come
// back in UTC at the column's precision, -0.0 comes back 0 (MySQL).
//
// # Writes follow gorm and the backend
//
// Create writes what gorm's INSERT writes: a zero field with a literal
// `default:` gets the default (set on the entity too, as gorm does: a
// `default:true` bool cannot be created false), a zero CreatedAt /
// UpdatedAt (or `autoCreateTime` / `autoUpdateTime`, also as Unix
// seconds, milli- or nanoseconds on integer fields) gets gorm's now (the
// clock, rounded to milliseconds on MySQL, as gorm's MySQL dialect rounds),
// a field gorm does not create (`->`, `<-:false`, `<-:update`) gets its
// column default or NULL, a zero field with a default gorm leaves to the
// database (`default:null`, `default:CURRENT_TIMESTAMP(3)`) gets it in the
// row but not on the entity. The key and these fields are set on the
// entity only when the write succeeds. Update writes every updatable
// column but the primary key and CreatedAt (the auto-create time keeps
// its stored value), with UpdatedAt set to now. A model with a
// [gorm.DeletedAt] field is soft-deleted: Delete sets it, and every read
// and write skips deleted rows (their keys and unique values stay taken).
// A model with a [ports.Version] field gets optimistic concurrency.
//
// Values the backend would reject are ErrInvalid before anything is
// stored: the portable rules (internal/sqlrules, shared with the adapters)
// plus the column's own limits (an integer column's range, a DECIMAL's
// digits, the varchar(191) gorm's MySQL dialect gives an unsized key or
// indexed string, a NOT NULL column left NULL, the auto-increment range).
//
// # Queries
//
// Queries are checked with [ports.Schema] (so they fail as on the adapter)
// and evaluated on the stored rows with the rules of ports.SQLStore and
// the DB's dialect ([WithDialect]): on MySQL strings compare, sort and
// collide (unique indexes, string primary keys) by utf8mb4_general_ci —
// 'abc' = 'ABC' = 'ábc', 'abc ' = 'abc', emoji all equal — with a weight
// table generated from MariaDB; on Postgres bytewise. NULL matches Eq nil;
// Ne with a value on a pointer field also matches NULL (a NULL in a
// non-pointer column matches no comparison, as in SQL); NULL sorts first
// ascending and last descending. Time values in a query are compared at
// the microseconds the driver sends.
//
// Closing an SQLStore closes only that store; closing the DB closes all.
type SQLStore[T any] struct {
	Faults

	db     *DB
	tb     *table
	m      *sqlModel
	closed atomic.Bool
	in     *obs.Instr

	opCreate, opCreateMany, opGet, opFind, opStream, opFindPage, opCount    string
	opUpdate, opPatch, opUpsert, opDelete, opDeleteIfVersion, opDeleteWhere string
}

var (
	_ ports.SQLStore[struct{ ID int }] = (*SQLStore[struct{ ID int }])(nil)
	_ ports.Connector                  = (*SQLStore[struct{ ID int }])(nil)
)

// NewSQLStore returns a store of T on db, in the table named by
// [WithTable] (by default the table gorm names after T). It returns an
// error wrapping ports.ErrInvalid when gorm cannot parse T, when T has no
// primary key or a composite one, two Version fields, or when the table
// holds another type.
func NewSQLStore[T any](db *DB, opts ...StoreOption) (*SQLStore[T], error) {
	if db == nil {
		return nil, ports.NewError("fake-sql", "new store", ports.ErrInvalid, errors.New("nil DB"))
	}
	typ := reflect.TypeFor[T]()
	fail := func(err error) (*SQLStore[T], error) {
		return nil, ports.NewError(db.name, "new store", ports.ErrInvalid, err)
	}
	m, err := db.sqlModel(typ)
	if err != nil {
		return fail(err)
	}
	cfg := storeConfig{table: m.gs.Table}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.table == "" {
		cfg.table = m.gs.Table
	}
	tb, err := db.register("sql:"+cfg.table, typ, func() (*table, error) {
		return newTable(cfg.table, typ, m.uniq), nil
	})
	if err != nil {
		return fail(err)
	}
	name := cfg.table
	s := &SQLStore[T]{
		db: db, tb: tb, m: m, in: db.instr(obs.PortSQL, name),
		opCreate: "create " + name, opCreateMany: "create many " + name, opGet: "get " + name,
		opFind: "find " + name, opStream: "stream " + name, opFindPage: "find page " + name,
		opCount: "count " + name, opUpdate: "update " + name, opPatch: "patch " + name,
		opUpsert: "upsert " + name, opDelete: "delete " + name,
		opDeleteIfVersion: "delete if version " + name, opDeleteWhere: "delete where " + name,
	}
	return s, nil
}

// Name returns the DB's name.
func (s *SQLStore[T]) Name() string { return s.db.name }

// Check returns nil unless the store or its DB is closed, ctx is nil or
// done, or a fault is injected (on the store or the DB).
func (s *SQLStore[T]) Check(ctx context.Context) error {
	ctx, sp := s.db.conn.Start(ctx, obs.OpCheck)
	_, err := s.enter(ctx, "check")
	sp.End(err)
	return err
}

// Close closes the store (not its DB): every later call returns an error
// wrapping ports.ErrClosed.
func (s *SQLStore[T]) Close(context.Context) error {
	if s.closed.Swap(true) {
		return igate.Closed(s.db.name, "close")
	}
	return nil
}

// DB returns the database the store lives in.
func (s *SQLStore[T]) DB() *DB { return s.db }

// Table returns the table name.
func (s *SQLStore[T]) Table() string { return s.tb.name }

// enter applies the entry rules (closed, nil or done ctx, faults) and
// returns the transaction ctx carries, if any.
func (s *SQLStore[T]) enter(ctx context.Context, op string) (*tx, error) {
	if s.closed.Load() || s.db.closed.Load() {
		return nil, igate.Closed(s.db.name, op)
	}
	if err := igate.CheckContext(ctx, s.db.name, op); err != nil {
		return nil, err
	}
	if err := s.db.Faults.inject(s.db.name, op); err != nil {
		return nil, err
	}
	if err := s.Faults.inject(s.db.name, op); err != nil {
		return nil, err
	}
	return s.db.txFrom(ctx, s.db.name, op)
}

func (s *SQLStore[T]) invalid(op string, err error) error {
	return ports.NewError(s.db.name, op, ports.ErrInvalid, err)
}

func (s *SQLStore[T]) conflict(op, format string, args ...any) error {
	return ports.NewError(s.db.name, op, ports.ErrConflict, fmt.Errorf(format, args...))
}

func (s *SQLStore[T]) notFound(op string) error {
	return ports.NewError(s.db.name, op, ports.ErrNotFound, nil)
}

// visible reports whether r is not soft-deleted.
func (s *SQLStore[T]) visible(r sqlRow) bool {
	return s.m.softDel == nil || r[s.m.softDel.i] == nil
}

// checkEntity applies the portable value rules of internal/sqlrules to
// the columns of e that c checks (m.createCheck, m.updateCheck).
func (s *SQLStore[T]) checkEntity(op string, e reflect.Value, c *sqlrules.Checker) error {
	if err := c.Check(e); err != nil {
		return s.invalid(op, err)
	}
	return nil
}

func creatable(f *schema.Field) bool { return f.Creatable }

// updatable reports whether Update writes f: every column but the primary
// key and CreatedAt (the port's rule, as internal/gormstore's updates).
func updatable(f *schema.Field) bool {
	return f.Updatable && !f.PrimaryKey && f.AutoCreateTime == 0
}

// notNull fails for a NOT NULL column r leaves NULL.
func (s *SQLStore[T]) notNull(op string, r sqlRow, skipKey bool) error {
	for _, c := range s.m.cols {
		if c.notNull && r[c.i] == nil && !(skipKey && c == s.m.pk) {
			return s.invalid(op, errColumn(c, "NULL in a NOT NULL column without a default"))
		}
	}
	return nil
}

// pending is an entity being created: its copy, the row gorm would
// insert, and the fields gorm set on the copy, to set on the entity when
// the insert succeeds.
type pending struct {
	cp   reflect.Value // addressable copy of the entity
	row  sqlRow
	sets []*schema.Field
}

// prepareInsert builds the row gorm's INSERT of e would write (see the
// type's documentation), on a copy of e.
func (s *SQLStore[T]) prepareInsert(ctx context.Context, op string, e *T, now time.Time) (*pending, error) {
	m := s.m
	p := &pending{cp: reflect.ValueOf(clone(e)).Elem(), row: make(sqlRow, len(m.cols))}
	for _, c := range m.cols {
		f := c.f
		switch {
		case c == m.version:
			if err := f.Set(ctx, p.cp, int64(1)); err != nil {
				return nil, s.invalid(op, errSet(c))
			}
			p.sets = append(p.sets, f)
		case !f.Creatable, f.HasDefaultValue && f.DefaultValueInterface == nil:
			// The column's default, below; a default gorm leaves to the
			// database (AUTO_INCREMENT included) is used only when the
			// field is zero.
		default:
			if _, zero := f.ValueOf(ctx, p.cp); zero {
				var err error
				switch {
				case f.DefaultValueInterface != nil:
					err = f.Set(ctx, p.cp, f.DefaultValueInterface)
					p.sets = append(p.sets, f)
				case f.AutoCreateTime > 0 || f.AutoUpdateTime > 0:
					err = f.Set(ctx, p.cp, now)
					p.sets = append(p.sets, f)
				}
				if err != nil {
					return nil, s.invalid(op, errSet(c))
				}
			}
		}
	}
	if err := s.checkEntity(op, p.cp, s.m.createCheck); err != nil {
		return nil, err
	}
	for _, c := range m.cols {
		f := c.f
		written := f.Creatable || c == m.version
		if written && f.HasDefaultValue && f.DefaultValueInterface == nil {
			_, zero := f.ValueOf(ctx, p.cp)
			written = !zero
		}
		if !written {
			if c.dbDefault != nil {
				p.row[c.i] = c.dbDefault(now)
			}
			continue
		}
		v, err := m.encodeCol(ctx, c, p.cp)
		if err != nil {
			return nil, s.invalid(op, err)
		}
		p.row[c.i] = v
	}
	if err := s.notNull(op, p.row, m.pk.f.AutoIncrement); err != nil {
		return nil, err
	}
	return p, nil
}

// done sets on e what the insert or update set on its copy.
func (p *pending) done(ctx context.Context, e any) {
	dst := reflect.ValueOf(e).Elem()
	for _, f := range p.sets {
		f.ReflectValueOf(ctx, dst).Set(f.ReflectValueOf(ctx, p.cp))
	}
}

// nextID hands out the table's next auto-increment value (write lock).
func (s *SQLStore[T]) nextID(op string) (any, error) {
	c := s.m.pk
	tb := s.tb
	if tb.autoI >= c.intMax && c.kind == kindInt || c.kind == kindUint && uint64(tb.autoI) >= c.uintMax {
		return nil, s.invalid(op, errColumn(c, "the auto-increment range of the column is used up"))
	}
	tb.autoI++
	if c.kind == kindUint {
		return uint64(tb.autoI), nil
	}
	return tb.autoI, nil
}

// bumpAutoIncrement moves the table's auto-increment counter past an
// explicit key that was stored (write lock), as InnoDB does; a key of an
// insert that failed leaves the counter alone, and a PostgreSQL sequence
// never moves for explicit keys.
func (s *SQLStore[T]) bumpAutoIncrement(key any) {
	if s.m.dialect == Postgres {
		return
	}
	switch v := key.(type) {
	case int64:
		s.tb.autoI = max(s.tb.autoI, v)
	case uint64:
		if v <= math.MaxInt64 {
			s.tb.autoI = max(s.tb.autoI, int64(v))
		}
	}
}

// defaultBatchRows is the most rows per INSERT of the adapters' CreateMany
// (gormstore.DefaultBatchSize). Their limit of parameters and bytes per
// statement, which splits batches of wide or large rows sooner, is not
// emulated.
const defaultBatchRows = 1000

// assignInnoDB assigns the keys of an insert of ps as InnoDB does in its
// consecutive lock mode (innodb_autoinc_lock_mode=1, measured on MariaDB)
// and moves the counter as a successful insert would (write lock); it
// returns, per row, the counter should the insert fail at that row.
//
// The rows go in the statements the adapters send (see the body); in
// each, the first row that needs a generated key reserves as many values
// as the statement has rows; a stored explicit key moves the counter past it, and
// a generated key past the reserved values reserves again as many as rows
// remain to be written. Reserved values stay consumed when the insert fails
// (at or after the row that reserved them); an explicit key moves the
// counter only if its row was written before the failing one.
func (s *SQLStore[T]) assignInnoDB(op string, ps []*pending) ([]int64, error) {
	c, tb := s.m.pk, s.tb
	limit := c.intMax
	if c.kind == kindUint {
		limit = int64(min(c.uintMax, math.MaxInt64))
	}
	// The adapters' statements: a row with a generated key after one with
	// its own key starts another INSERT (gorm hands the generated keys out
	// from the statement's last insert id), as do DefaultBatchRows rows.
	stmtEnd := make([]int, len(ps)) // per row, the end of its statement
	for start, i, explicit := 0, 0, false; i <= len(ps); i++ {
		if i == len(ps) || i > start && (i-start >= defaultBatchRows || explicit && ps[i].row[c.i] == nil && c.f.AutoIncrement) {
			for j := start; j < i; j++ {
				stmtEnd[j] = i
			}
			start, explicit = i, false
		}
		if i < len(ps) {
			explicit = explicit || ps[i].row[c.i] != nil
		}
	}
	counter := tb.autoI
	var next, end, remaining int64 // the reserved values next..end, rows left to write
	fail := make([]int64, len(ps))
	for i, p := range ps {
		if i == 0 || stmtEnd[i] != stmtEnd[i-1] {
			next, end, remaining = 0, 0, 0 // a statement of its own
		}
		fail[i] = counter
		if v := p.row[c.i]; v != nil {
			var k int64
			switch v := v.(type) {
			case int64:
				k = v
			case uint64:
				k = int64(min(v, math.MaxInt64))
			}
			counter = max(counter, k)
			if next != 0 && k >= next {
				next = k + 1
			}
			remaining = max(remaining-1, 0)
			continue
		}
		if !c.f.AutoIncrement {
			continue
		}
		if next == 0 || next > end {
			if next == 0 {
				start := i
				for start > 0 && stmtEnd[start-1] == stmtEnd[i] {
					start--
				}
				remaining = int64(stmtEnd[i] - start)
			}
			if counter >= limit {
				return nil, s.invalid(op, errColumn(c, "the auto-increment range of the column is used up"))
			}
			next = counter + 1
			end = next + min(remaining, limit-counter) - 1
			counter = end
		}
		fail[i] = counter
		if c.kind == kindUint {
			p.row[c.i] = uint64(next)
		} else {
			p.row[c.i] = next
		}
		next++
		remaining--
	}
	tb.autoI = counter
	return fail, nil
}

// insert stores the pending rows all or none, assigning auto-increment
// keys (generated ones are consumed even when the insert fails, as in
// InnoDB; explicit ones move the counter only once stored; on Postgres a
// failed insert consumes the keys of the rows up to the failing one, as a
// sequence's nextval runs row by row) and waiting for locks the running
// transaction holds.
func (s *SQLStore[T]) insert(ctx context.Context, t *tx, op string, ps []*pending) error {
	db, tb, pk := s.db, s.tb, s.m.pk
	assigned := false
	var undo, bumped int64 // the counter should the insert fail, and as assigned
	var before int64       // the counter before the keys were assigned
	var gen []int64        // per row, the counter once its key was generated (0: explicit)
	var fail []int64       // MySQL: per row, the counter should the insert fail at it
	for {
		if err := db.lock(t, db.name, op); err != nil {
			return err
		}
		if !assigned {
			if s.m.dialect != Postgres {
				var err error
				if fail, err = s.assignInnoDB(op, ps); err != nil {
					db.mu.Unlock()
					return err
				}
				bumped = tb.autoI
				assigned = true
			}
		}
		if !assigned {
			// A sequence never moves for an explicit key; if the insert
			// fails, the keys drawn up to the failing row stay consumed.
			generated := int64(0)
			before, gen = tb.autoI, make([]int64, len(ps))
			for i, p := range ps {
				if p.row[pk.i] != nil || !pk.f.AutoIncrement {
					continue
				}
				id, err := s.nextID(op)
				if err != nil {
					db.mu.Unlock()
					return err
				}
				p.row[pk.i], generated = id, tb.autoI
				gen[i] = tb.autoI
			}
			undo, bumped = max(before, generated), tb.autoI
			assigned = true
		}
		keys := make([]any, len(ps))
		rows := make([]any, len(ps))
		for i, p := range ps {
			keys[i], rows[i] = pk.key(p.row[pk.i]), p.row
		}
		if t == nil {
			if done := db.blocked(tb, keys, rows); done != nil {
				db.mu.Unlock()
				if err := db.waitLock(ctx, done, db.name, op); err != nil {
					return err
				}
				continue
			}
		}
		if at, err := s.checkInsert(t, op, keys, rows); err != nil {
			if tb.autoI == bumped {
				tb.autoI = undo
				if fail != nil {
					tb.autoI = fail[at]
				}
				if s.m.dialect == Postgres {
					// PostgreSQL evaluates nextval row by row and stops
					// at the failing row: the keys of the rows after it
					// were never drawn.
					tb.autoI = before
					for _, g := range gen[:at+1] {
						tb.autoI = max(tb.autoI, g)
					}
				}
			}
			db.mu.Unlock()
			return err
		}
		for i := range ps {
			db.put(t, tb, keys[i], rows[i], nil)
		}
		db.mu.Unlock()
		break
	}
	for _, p := range ps {
		if pk.f.AutoIncrement {
			if err := pk.f.Set(ctx, p.cp, p.row[pk.i]); err == nil {
				p.sets = append(p.sets, pk.f)
			}
		}
	}
	return nil
}

// checkInsert finds a duplicate key or unique value among rows and against
// the rows t sees (write lock); it returns the index of the first row that
// conflicts, in the order the rows are inserted.
func (s *SQLStore[T]) checkInsert(t *tx, op string, keys, rows []any) (int, error) {
	db, tb := s.db, s.tb
	seen := make(map[any]struct{}, len(keys))
	var batch []map[any]struct{}
	if len(rows) > 1 {
		batch = make([]map[any]struct{}, len(tb.uniq))
		for i := range batch {
			batch[i] = make(map[any]struct{})
		}
	}
	for i, k := range keys {
		if _, dup := seen[k]; dup {
			return i, s.conflict(op, "duplicate primary key in the batch")
		}
		seen[k] = struct{}{}
		if _, ok := db.lookup(t, tb, k); ok {
			return i, s.conflict(op, "duplicate entry for key PRIMARY")
		}
		if name := db.conflict(t, tb, k, rows[i]); name != "" {
			return i, s.conflict(op, "duplicate entry for unique index %s", name)
		}
		for j, u := range tb.uniq {
			if batch == nil {
				break
			}
			if v, ok := u.value(rows[i]); ok {
				if _, dup := batch[j][v]; dup {
					return i, s.conflict(op, "duplicate entry for unique index %s in the batch", u.name)
				}
				batch[j][v] = struct{}{}
			}
		}
	}
	return -1, nil
}

// modify replaces the visible row under k with what change makes of it
// (nil deletes it), under the DB's write lock, waiting for the running
// transaction when it holds the row or a unique value of the new row.
// change must not have side effects: it may run more than once.
func (s *SQLStore[T]) modify(ctx context.Context, t *tx, op string, k any, change func(old sqlRow) (sqlRow, error)) error {
	db, tb := s.db, s.tb
	for {
		if err := db.lock(t, db.name, op); err != nil {
			return err
		}
		oldAny, ok := db.lookup(t, tb, k)
		if !ok || !s.visible(oldAny.(sqlRow)) {
			db.mu.Unlock()
			return s.notFound(op)
		}
		old := oldAny.(sqlRow)
		nr, err := change(old)
		if err != nil {
			db.mu.Unlock()
			return err
		}
		var nrAny any
		if nr != nil {
			nrAny = nr
		}
		if t == nil {
			if done := db.blocked(tb, []any{k}, []any{old, nrAny}); done != nil {
				db.mu.Unlock()
				if err := db.waitLock(ctx, done, db.name, op); err != nil {
					return err
				}
				continue
			}
		}
		if nr != nil {
			if name := db.conflict(t, tb, k, nr); name != "" {
				db.mu.Unlock()
				return s.conflict(op, "duplicate entry for unique index %s", name)
			}
		}
		db.put(t, tb, k, nrAny, old)
		db.mu.Unlock()
		return nil
	}
}

// Create inserts e as gorm's INSERT would (see the type's documentation)
// and sets on e what the store set: the generated key, defaults, the auto
// times, the version. A duplicate key or unique value is ErrConflict; a
// value the backend rejects is ErrInvalid. A failed Create leaves e as it
// was.
func (s *SQLStore[T]) Create(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpCreate)
	err := s.doCreate(ctx, e)
	sp.End(err)
	return err
}

func (s *SQLStore[T]) doCreate(ctx context.Context, e *T) error {
	op := s.opCreate
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if e == nil {
		return s.invalid(op, errors.New("nil entity"))
	}
	p, err := s.prepareInsert(ctx, op, e, s.db.gormNow())
	if err != nil {
		return err
	}
	if err := s.insert(ctx, t, op, []*pending{p}); err != nil {
		return err
	}
	p.done(ctx, e)
	return nil
}

// CreateMany inserts es all or none (see Create), with one time for all.
// A duplicate key or unique value, against a stored row or inside es, is
// ErrConflict; a nil element is ErrInvalid. An empty slice is a no-op. On
// failure no entity is changed.
func (s *SQLStore[T]) CreateMany(ctx context.Context, es []*T) error {
	ctx, sp := s.in.Start(ctx, obs.OpCreateMany)
	err := s.doCreateMany(ctx, es)
	sp.End(err)
	return err
}

func (s *SQLStore[T]) doCreateMany(ctx context.Context, es []*T) error {
	op := s.opCreateMany
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return nil
	}
	now := s.db.gormNow()
	ps := make([]*pending, len(es))
	for i, e := range es {
		if e == nil {
			return s.invalid(op, fmt.Errorf("element %d: nil entity", i))
		}
		if ps[i], err = s.prepareInsert(ctx, op, e, now); err != nil {
			return err
		}
	}
	if err := s.insert(ctx, t, op, ps); err != nil {
		return err
	}
	for i, p := range ps {
		p.done(ctx, es[i])
	}
	return nil
}

// noKey is the key of an id that no row can have (a fraction for an
// integer key).
type noKey struct{}

// idKey turns an id given to Get, Patch or Delete into the stored key: an
// id of another comparison class than the key is ErrInvalid, as on the
// adapter.
func (s *SQLStore[T]) idKey(op string, id any) (any, error) {
	rv := reflect.ValueOf(id)
	if id == nil || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
		return nil, s.invalid(op, errors.New("nil id"))
	}
	pk := s.m.pk
	if kc := ports.ClassOf(pk.f.FieldType); kc != ports.ClassInvalid {
		if c := ports.ClassOf(rv.Type()); c != kc {
			return nil, s.invalid(op, fmt.Errorf("id of type %T for %s primary key %s", id, kc, pk.f.Name))
		}
	}
	v := queryValue(rv, s.m.dialect)
	switch x := v.(type) {
	case string:
		if err := portable.CheckString("id", x); err != nil {
			return nil, s.invalid(op, err)
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, s.invalid(op, errors.New("id is not a finite number"))
		}
		if pk.kind == kindInt || pk.kind == kindUint {
			if x != math.Trunc(x) {
				return noKey{}, nil
			}
			if x >= 1<<63 && x < 1<<64 {
				return pk.key(uint64(x)), nil
			}
		}
	case int64:
		if pk.kind == kindUint && x < 0 {
			return noKey{}, nil
		}
	case time.Time:
		v = storeTime(x, time.Nanosecond, s.m.dialect)
	}
	return pk.key(v), nil
}

// getRow returns the visible row under k as t sees it.
func (s *SQLStore[T]) getRow(t *tx, op string, k any) (sqlRow, error) {
	if err := s.db.rlock(t, s.db.name, op); err != nil {
		return nil, err
	}
	r, ok := s.db.lookup(t, s.tb, k)
	s.db.mu.RUnlock()
	if !ok || !s.visible(r.(sqlRow)) {
		return nil, s.notFound(op)
	}
	return r.(sqlRow), nil
}

// Get returns the entity with primary key id (compared by the key's
// collation: Get("ABC") finds "abc" on MySQL), or an error wrapping
// ports.ErrNotFound. An id of another class than the key is ErrInvalid.
func (s *SQLStore[T]) Get(ctx context.Context, id any) (*T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpGet)
	v, err := s.doGet(ctx, id)
	sp.End(err)
	return v, err
}

func (s *SQLStore[T]) doGet(ctx context.Context, id any) (*T, error) {
	op := s.opGet
	t, err := s.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	k, err := s.idKey(op, id)
	if err != nil {
		return nil, err
	}
	r, err := s.getRow(t, op, k)
	if err != nil {
		return nil, err
	}
	e, err := decodeEntity[T](ctx, s.m, r)
	if err != nil {
		return nil, s.invalid(op, err)
	}
	return &e, nil
}

// compile validates q with validate (a ports.Schema method) and compiles
// it against the table.
func (s *SQLStore[T]) compile(op string, q ports.Query, validate func(ports.Query) error) (*sqlQuery, error) {
	if err := validate(q); err != nil {
		return nil, s.invalid(op, err)
	}
	sq, err := s.m.compile(q)
	if err != nil {
		return nil, s.invalid(op, err)
	}
	return sq, nil
}

// selectRows returns the visible rows t sees that match q and keep, in
// q's order then primary key order. Stored rows are never modified, so
// the result may be read after the lock is released.
func (s *SQLStore[T]) selectRows(t *tx, op string, q *sqlQuery, keep func(sqlRow) bool) ([]sqlHit, error) {
	if err := s.db.rlock(t, s.db.name, op); err != nil {
		return nil, err
	}
	var hits []sqlHit
	s.db.scan(t, s.tb, func(k, r any) {
		rw := r.(sqlRow)
		if s.visible(rw) && q.match(rw) && (keep == nil || keep(rw)) {
			hits = append(hits, sqlHit{key: k, row: rw})
		}
	})
	s.db.mu.RUnlock()
	q.sort(hits)
	return hits, nil
}

// Find returns the entities matching q, in q's order, then primary key
// order.
func (s *SQLStore[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpFind)
	v, err := s.doFind(ctx, q)
	sp.SetRows(len(v))
	sp.End(err)
	return v, err
}

func (s *SQLStore[T]) doFind(ctx context.Context, q ports.Query) ([]T, error) {
	op := s.opFind
	t, err := s.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	sq, err := s.compile(op, q, s.m.ps.Validate)
	if err != nil {
		return nil, err
	}
	hits, err := s.selectRows(t, op, sq, nil)
	if err != nil {
		return nil, err
	}
	lo, hi := window(len(hits), sq.offset, sq.limit)
	out := make([]T, hi-lo)
	for i, h := range hits[lo:hi] {
		if err := s.m.decode(ctx, h.row, reflect.ValueOf(&out[i]).Elem()); err != nil {
			return nil, s.invalid(op, err)
		}
	}
	return out, nil
}

// Stream yields the entities Find would return, one at a time, from a
// snapshot of the matching rows taken when the loop starts (read
// committed, in the transaction of ctx if any). It checks ctx, the store
// and the transaction between rows; an error is yielded once, last.
func (s *SQLStore[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return obs.Stream(ctx, s.in, func(ctx context.Context) iter.Seq2[T, error] { return s.doStream(ctx, q) })
}

func (s *SQLStore[T]) doStream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		op := s.opStream
		t, err := s.enter(ctx, op)
		if err != nil {
			yield(zero, err)
			return
		}
		sq, err := s.compile(op, q, s.m.ps.Validate)
		if err != nil {
			yield(zero, err)
			return
		}
		hits, err := s.selectRows(t, op, sq, nil)
		if err != nil {
			yield(zero, err)
			return
		}
		lo, hi := window(len(hits), sq.offset, sq.limit)
		for _, h := range hits[lo:hi] {
			switch {
			case ctx.Err() != nil:
				yield(zero, igate.ContextError(ctx, s.db.name, op))
				return
			case s.closed.Load() || s.db.closed.Load():
				yield(zero, igate.Closed(s.db.name, op))
				return
			case t != nil && t.ended.Load():
				yield(zero, errTxEnded(s.db.name, op))
				return
			}
			e, err := decodeEntity[T](ctx, s.m, h.row)
			if err != nil {
				yield(zero, s.invalid(op, err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// FindPage returns the keyset page of q that follows cursor (see
// ports.SQLStore.FindPage): rows compared with the cursor's values in q's
// order then primary key order, with the column's collation and the NULL
// rules of Find.
func (s *SQLStore[T]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	ctx, sp := s.in.Start(ctx, obs.OpFindPage)
	v, err := s.doFindPage(ctx, q, cursor)
	sp.SetRows(len(v.Items))
	sp.End(err)
	return v, err
}

func (s *SQLStore[T]) doFindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	op := s.opFindPage
	var page ports.Page[T]
	t, err := s.enter(ctx, op)
	if err != nil {
		return page, err
	}
	sq, err := s.compile(op, q, s.m.ps.ValidatePage)
	if err != nil {
		return page, err
	}
	if s.m.pkPath == "" {
		return page, s.invalid(op, fmt.Errorf("the primary key of %v is not a queryable field, so it cannot page", s.m.typ))
	}
	keys, err := sq.keyset(q)
	if err != nil {
		return page, s.invalid(op, err)
	}
	var keep func(sqlRow) bool
	if cursor != "" {
		vals, err := s.m.ps.DecodeCursor(q, s.m.pkPath, cursor)
		if err != nil {
			return page, s.invalid(op, err)
		}
		keep = func(r sqlRow) bool { return after(keys, r, vals, s.m.dialect) }
	}
	hits, err := s.selectRows(t, op, sq, keep)
	if err != nil {
		return page, err
	}
	n := q.LimitN()
	page.Items = make([]T, min(n, len(hits)))
	for i := range page.Items {
		if err := s.m.decode(ctx, hits[i].row, reflect.ValueOf(&page.Items[i]).Elem()); err != nil {
			return ports.Page[T]{}, s.invalid(op, err)
		}
	}
	if len(hits) > n {
		next, err := s.m.ps.EncodeCursor(q, s.m.pkPath, &page.Items[n-1])
		if err != nil {
			return ports.Page[T]{}, s.invalid(op, err)
		}
		page.Next = next
	}
	return page, nil
}

// Count returns how many entities match q's conditions.
func (s *SQLStore[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpCount)
	v, err := s.doCount(ctx, q)
	sp.End(err)
	return v, err
}

func (s *SQLStore[T]) doCount(ctx context.Context, q ports.Query) (int64, error) {
	op := s.opCount
	t, err := s.enter(ctx, op)
	if err != nil {
		return 0, err
	}
	sq, err := s.compile(op, q, s.m.ps.Validate)
	if err != nil {
		return 0, err
	}
	sq.orders = nil
	hits, err := s.selectRows(t, op, sq, nil)
	return int64(len(hits)), err
}

// versionOf returns the Version an entity copy holds.
func (s *SQLStore[T]) versionOf(ctx context.Context, cp reflect.Value) int64 {
	v, _ := s.m.version.f.ValueOf(ctx, cp)
	return reflect.ValueOf(v).Int()
}

// checkVersion fails with ErrConflict when the stored row's version is
// not want.
func (s *SQLStore[T]) checkVersion(op string, old sqlRow, want int64) error {
	if got, _ := old[s.m.version.i].(int64); got != want {
		return s.conflict(op, "stale version: the row was changed since it was read")
	}
	return nil
}

// prepareUpdate sets gorm's UpdatedAt on a copy of e and returns it with
// the function that builds the updated row from the stored one: every
// updatable column from the copy but the primary key, the auto-create
// time (the stored CreatedAt is kept) and the version (stored+1), which
// come from the stored row.
func (s *SQLStore[T]) prepareUpdate(ctx context.Context, op string, e *T, now time.Time) (*pending, func(old sqlRow) (sqlRow, error), error) {
	m := s.m
	p := &pending{cp: reflect.ValueOf(clone(e)).Elem()}
	for _, c := range m.cols {
		if f := c.f; f.Updatable && f.AutoUpdateTime > 0 && c != m.pk {
			if err := f.Set(ctx, p.cp, now); err != nil {
				return nil, nil, s.invalid(op, errSet(c))
			}
			p.sets = append(p.sets, f)
		}
	}
	if err := s.checkEntity(op, p.cp, s.m.updateCheck); err != nil {
		return nil, nil, err
	}
	vals := make(sqlRow, len(m.cols))
	keep := make([]bool, len(m.cols)) // columns the update does not write
	for _, c := range m.cols {
		// The port's rule: Update writes every column but the primary key
		// and the auto-create time (CreatedAt), which keeps its stored value.
		keep[c.i] = !c.f.Updatable || c == m.pk || c.f.AutoCreateTime > 0
		if keep[c.i] || c == m.version {
			continue
		}
		v, err := m.encodeCol(ctx, c, p.cp)
		if err != nil {
			return nil, nil, s.invalid(op, err)
		}
		vals[c.i] = v
	}
	build := func(old sqlRow) (sqlRow, error) {
		nr := make(sqlRow, len(old))
		for _, c := range m.cols {
			switch {
			case keep[c.i]:
				nr[c.i] = old[c.i]
			case c == m.version:
				v, _ := old[c.i].(int64)
				nr[c.i] = v + 1
			default:
				nr[c.i] = vals[c.i]
			}
		}
		if err := s.notNull(op, nr, false); err != nil {
			return nil, err
		}
		return nr, nil
	}
	return p, build, nil
}

// setVersion sets the version of a copy after a successful write.
func (s *SQLStore[T]) setVersion(ctx context.Context, p *pending, v int64) {
	if f := s.m.version.f; f.Set(ctx, p.cp, v) == nil {
		p.sets = append(p.sets, f)
	}
}

// Update replaces the stored entity with e's primary key (see the type's
// documentation: the stored CreatedAt is kept, UpdatedAt set) and sets
// UpdatedAt (and the new version) on e. It returns ErrNotFound when no
// visible entity has that key, ErrConflict for a duplicate unique value or
// a stale Version. A failed Update leaves e as it was.
func (s *SQLStore[T]) Update(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpdate)
	err := s.doUpdate(ctx, e)
	sp.End(err)
	return err
}

func (s *SQLStore[T]) doUpdate(ctx context.Context, e *T) error {
	op := s.opUpdate
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if e == nil {
		return s.invalid(op, errors.New("nil entity"))
	}
	return s.update(ctx, t, op, e)
}

// update is Update of e, within t, for operation op (Update, or Upsert
// with a version).
func (s *SQLStore[T]) update(ctx context.Context, t *tx, op string, e *T) error {
	p, build, err := s.prepareUpdate(ctx, op, e, s.db.gormNow())
	if err != nil {
		return err
	}
	kv, err := s.m.encodeCol(ctx, s.m.pk, p.cp)
	if err != nil {
		return s.invalid(op, err)
	}
	var newVersion int64
	change := build
	if s.m.version != nil {
		want := s.versionOf(ctx, p.cp)
		change = func(old sqlRow) (sqlRow, error) {
			if err := s.checkVersion(op, old, want); err != nil {
				return nil, err
			}
			newVersion = want + 1
			return build(old)
		}
	}
	if err := s.modify(ctx, t, op, s.m.pk.key(kv), change); err != nil {
		return err
	}
	if s.m.version != nil {
		s.setVersion(ctx, p, newVersion)
	}
	p.done(ctx, e)
	return nil
}

// Upsert inserts e (as Create, e's primary key set), or replaces the
// visible entity with e's key (as Update, its CreatedAt kept); a
// soft-deleted row under the key is replaced by the insert. With a Version
// field and a non-zero version on e the stored version must equal it
// (ErrConflict otherwise, ErrNotFound when there is none). On success e
// gets what the insert or update set, and a replaced row's CreatedAt (the
// stored one, kept), as the adapters hand it back.
func (s *SQLStore[T]) Upsert(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpsert)
	err := s.doUpsert(ctx, e)
	sp.End(err)
	return err
}

func (s *SQLStore[T]) doUpsert(ctx context.Context, e *T) error {
	op := s.opUpsert
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if e == nil {
		return s.invalid(op, errors.New("nil entity"))
	}
	ev := reflect.ValueOf(e).Elem()
	if _, zero := s.m.pk.f.ValueOf(ctx, ev); zero && s.m.pk.f.AutoIncrement {
		return s.invalid(op, fmt.Errorf("Upsert needs the primary key %s set", s.m.pk.f.Name))
	}
	if s.m.version != nil && s.versionOf(ctx, ev) != 0 {
		// With a version, Upsert is Update, as in the adapters: an
		// absent row is ErrNotFound, and what only an insert writes
		// (CreatedAt) is neither written nor checked (found by the
		// differential checker: a CreatedAt in year 10000 was ErrInvalid).
		return s.update(ctx, t, op, e)
	}
	now := s.db.gormNow()
	ins, err := s.prepareInsert(ctx, op, e, now)
	if err != nil {
		return err
	}
	upd, build, err := s.prepareUpdate(ctx, op, e, now)
	if err != nil {
		return err
	}
	var want int64
	if s.m.version != nil {
		want = s.versionOf(ctx, upd.cp)
	}
	k := s.m.pk.key(ins.row[s.m.pk.i])
	for {
		if err := s.db.rlock(t, s.db.name, op); err != nil {
			return err
		}
		old, ok := s.db.lookup(t, s.tb, k)
		s.db.mu.RUnlock()
		present := ok && s.visible(old.(sqlRow))
		if !present {
			if want != 0 {
				return s.notFound(op)
			}
			err := s.insertOver(ctx, t, op, ins, k)
			if errors.Is(err, errRaced) {
				continue
			}
			if err != nil {
				return err
			}
			ins.done(ctx, e)
			return nil
		}
		var newVersion int64
		var kept sqlRow
		err := s.modify(ctx, t, op, k, func(old sqlRow) (sqlRow, error) {
			kept = old
			if s.m.version != nil {
				got, _ := old[s.m.version.i].(int64)
				if want != 0 && got != want {
					return nil, s.conflict(op, "stale version: the row was changed since it was read")
				}
				newVersion = got + 1
			}
			return build(old)
		})
		if errors.Is(err, ports.ErrNotFound) {
			continue // deleted meanwhile: insert
		}
		if err != nil {
			return err
		}
		if s.m.version != nil {
			s.setVersion(ctx, upd, newVersion)
		}
		// The replaced row kept its CreatedAt: hand it back, as the
		// adapters do (found by the differential checker).
		for _, c := range s.m.cols {
			if c.f.AutoCreateTime > 0 && c.f.Readable && c.f.Set(ctx, upd.cp, kept[c.i]) == nil {
				upd.sets = append(upd.sets, c.f)
			}
		}
		upd.done(ctx, e)
		return nil
	}
}

// errRaced reports that the row an upsert found absent was written
// meanwhile.
var errRaced = errors.New("raced")

// insertOver inserts p under k, where no visible row is (a soft-deleted
// one is replaced); errRaced when a visible one appeared meanwhile.
func (s *SQLStore[T]) insertOver(ctx context.Context, t *tx, op string, p *pending, k any) error {
	db, tb := s.db, s.tb
	for {
		if err := db.lock(t, db.name, op); err != nil {
			return err
		}
		old, ok := db.lookup(t, tb, k)
		if ok && s.visible(old.(sqlRow)) {
			db.mu.Unlock()
			return errRaced
		}
		if t == nil {
			if done := db.blocked(tb, []any{k}, []any{p.row, old}); done != nil {
				db.mu.Unlock()
				if err := db.waitLock(ctx, done, db.name, op); err != nil {
					return err
				}
				continue
			}
		}
		if name := db.conflict(t, tb, k, p.row); name != "" {
			db.mu.Unlock()
			return s.conflict(op, "duplicate entry for unique index %s", name)
		}
		s.bumpAutoIncrement(p.row[s.m.pk.i])
		db.put(t, tb, k, p.row, old)
		db.mu.Unlock()
		return nil
	}
}

// patchChange is one compiled change of a Patch.
type patchChange struct {
	c   *sqlCol
	inc bool
	val any // the stored value (Set) or the driver value of the delta (Inc)
}

// compilePatch checks p with ports.Schema.ValidatePatch and the columns.
func (s *SQLStore[T]) compilePatch(op string, p ports.Patch) ([]patchChange, error) {
	if err := s.m.ps.ValidatePatch(p, s.m.pkPath); err != nil {
		return nil, s.invalid(op, err)
	}
	out := make([]patchChange, 0, len(p.Changes()))
	for _, ch := range p.Changes() {
		c, err := s.m.column(ch.Field)
		if err != nil {
			return nil, s.invalid(op, err)
		}
		if !c.f.Updatable || c == s.m.pk {
			return nil, s.invalid(op, fmt.Errorf("%s field %s is not updatable", s.m.typ.Name(), ch.Field))
		}
		dv, err := driverValue(ch.Value)
		if err != nil {
			return nil, s.invalid(op, errColumn(c, "%v", err))
		}
		pc := patchChange{c: c, inc: ch.Op == ports.OpInc, val: dv}
		if !pc.inc {
			if pc.val, err = c.store(dv, s.m.dialect); err != nil {
				return nil, s.invalid(op, err)
			}
		}
		out = append(out, pc)
	}
	return out, nil
}

// increment returns stored + delta as the backend computes "col = col +
// ?": NULL stays NULL, an integer column rounds, a result out of the
// column's range is an error.
func increment(c *sqlCol, stored, delta any, d Dialect) (any, error) {
	if stored == nil {
		return nil, nil
	}
	var sum any
	switch x := stored.(type) {
	case int64:
		switch y := delta.(type) {
		case int64:
			if (y > 0 && x > math.MaxInt64-y) || (y < 0 && x < math.MinInt64-y) {
				return nil, errColumn(c, "the increment overflows the column")
			}
			sum = x + y
		case uint64:
			if y > math.MaxInt64 || x > math.MaxInt64-int64(y) {
				return nil, errColumn(c, "the increment overflows the column")
			}
			sum = x + int64(y)
		case float64:
			sum = float64(x) + y
		}
	case uint64:
		switch y := delta.(type) {
		case int64:
			if y >= 0 {
				if x > math.MaxUint64-uint64(y) {
					return nil, errColumn(c, "the increment overflows the column")
				}
				sum = x + uint64(y)
			} else {
				if x < uint64(-(y+1))+1 {
					return nil, errColumn(c, "the increment makes an unsigned column negative")
				}
				sum = x - (uint64(-(y + 1)) + 1)
			}
		case uint64:
			if x > math.MaxUint64-y {
				return nil, errColumn(c, "the increment overflows the column")
			}
			sum = x + y
		case float64:
			sum = float64(x) + y
		}
	case float64:
		f, err := toFloat64(delta)
		if err != nil {
			return nil, errColumn(c, "%v", err)
		}
		sum = x + f
	}
	if sum == nil {
		return nil, errColumn(c, "cannot increment a %T by a %T", stored, delta)
	}
	return c.store(sum, d)
}

// autoUpdateValue is the stored value gorm's map update writes to an
// autoUpdateTime column.
func autoUpdateValue(c *sqlCol, now time.Time, d Dialect) (any, error) {
	var v any = now
	switch c.f.AutoUpdateTime {
	case schema.UnixNanosecond:
		v = now.UnixNano()
	case schema.UnixMillisecond:
		v = now.UnixMilli()
	case schema.UnixSecond:
		v = now.Unix()
	}
	dv, err := driverValue(v)
	if err != nil {
		return nil, err
	}
	return c.store(dv, d)
}

// Patch applies p to the visible entity with primary key id in one atomic
// write: each Set stores its value (checked as the column checks it), each
// Inc adds to the stored value (NULL stays NULL, as in SQL), UpdatedAt is
// set to now and the version incremented; nothing else changes. It
// returns ErrNotFound when no visible entity has the key, ErrConflict
// when p has IfVersion and the stored version differs or a unique value
// collides, ErrInvalid for a patch the schema or a column rejects (a
// field without a column or not updatable included).
func (s *SQLStore[T]) Patch(ctx context.Context, id any, p ports.Patch) error {
	ctx, sp := s.in.Start(ctx, obs.OpPatch)
	err := s.doPatch(ctx, id, p)
	sp.End(err)
	return err
}

func (s *SQLStore[T]) doPatch(ctx context.Context, id any, p ports.Patch) error {
	op := s.opPatch
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	k, err := s.idKey(op, id)
	if err != nil {
		return err
	}
	changes, err := s.compilePatch(op, p)
	if err != nil {
		return err
	}
	now := s.db.gormNow()
	var stamps []patchChange
	for _, c := range s.m.cols {
		if c.f.Updatable && c.f.AutoUpdateTime > 0 && c != s.m.pk {
			v, err := autoUpdateValue(c, now, s.m.dialect)
			if err != nil {
				return s.invalid(op, errColumn(c, "%v", err))
			}
			stamps = append(stamps, patchChange{c: c, val: v})
		}
	}
	want, hasIf := p.Precondition()
	return s.modify(ctx, t, op, k, func(old sqlRow) (sqlRow, error) {
		if hasIf {
			if err := s.checkVersion(op, old, int64(want)); err != nil {
				return nil, err
			}
		}
		nr := append(sqlRow(nil), old...)
		for _, st := range stamps {
			nr[st.c.i] = st.val
		}
		for _, ch := range changes {
			if !ch.inc {
				nr[ch.c.i] = ch.val
				continue
			}
			v, err := increment(ch.c, old[ch.c.i], ch.val, s.m.dialect)
			if err != nil {
				return nil, s.invalid(op, err)
			}
			nr[ch.c.i] = v
		}
		if vc := s.m.version; vc != nil {
			v, _ := old[vc.i].(int64)
			nr[vc.i] = v + 1
		}
		if err := s.notNull(op, nr, false); err != nil {
			return nil, err
		}
		return nr, nil
	})
}

// deleted returns the row that deletes old: nil, or old with DeletedAt set
// for a soft-deleting model.
func (s *SQLStore[T]) deleted(old sqlRow, now time.Time) sqlRow {
	if s.m.softDel == nil {
		return nil
	}
	nr := append(sqlRow(nil), old...)
	nr[s.m.softDel.i] = storeTime(now, s.m.softDel.prec, s.m.dialect)
	return nr
}

// Delete removes the visible entity with primary key id (soft-deletes it
// when T has a gorm.DeletedAt field), or returns an error wrapping
// ports.ErrNotFound.
func (s *SQLStore[T]) Delete(ctx context.Context, id any) error {
	ctx, sp := s.in.Start(ctx, obs.OpDelete)
	err := s.doDelete(ctx, id)
	sp.End(err)
	return err
}

func (s *SQLStore[T]) doDelete(ctx context.Context, id any) error {
	op := s.opDelete
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	k, err := s.idKey(op, id)
	if err != nil {
		return err
	}
	now := s.db.gormNow()
	return s.modify(ctx, t, op, k, func(old sqlRow) (sqlRow, error) { return s.deleted(old, now), nil })
}

// DeleteIfVersion deletes the visible entity with primary key id if its
// stored version is v: ErrConflict when it is another, ErrNotFound when
// there is none, ErrInvalid when T has no Version field.
func (s *SQLStore[T]) DeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteIfVersion)
	err := s.doDeleteIfVersion(ctx, id, v)
	sp.End(err)
	return err
}

func (s *SQLStore[T]) doDeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	op := s.opDeleteIfVersion
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	if s.m.version == nil {
		return s.invalid(op, fmt.Errorf("%v has no Version field", s.m.typ))
	}
	k, err := s.idKey(op, id)
	if err != nil {
		return err
	}
	now := s.db.gormNow()
	return s.modify(ctx, t, op, k, func(old sqlRow) (sqlRow, error) {
		if err := s.checkVersion(op, old, int64(v)); err != nil {
			return nil, err
		}
		return s.deleted(old, now), nil
	})
}

// DeleteWhere removes every visible entity matching q's conditions (at
// least one; no order, limit or offset) in one atomic write, waiting for
// rows the running transaction holds, and returns how many it removed.
func (s *SQLStore[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteWhere)
	v, err := s.doDeleteWhere(ctx, q)
	sp.End(err)
	return v, err
}

func (s *SQLStore[T]) doDeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	op := s.opDeleteWhere
	t, err := s.enter(ctx, op)
	if err != nil {
		return 0, err
	}
	sq, err := s.compile(op, q, s.m.ps.ValidateDeleteWhere)
	if err != nil {
		return 0, err
	}
	db, tb := s.db, s.tb
	now := db.gormNow()
	for {
		if err := db.lock(t, db.name, op); err != nil {
			return 0, err
		}
		var keys, olds []any
		db.scan(t, tb, func(k, r any) {
			if rw := r.(sqlRow); s.visible(rw) && sq.match(rw) {
				keys, olds = append(keys, k), append(olds, r)
			}
		})
		if t == nil {
			if done := db.blocked(tb, keys, nil); done != nil {
				db.mu.Unlock()
				if err := db.waitLock(ctx, done, db.name, op); err != nil {
					return 0, err
				}
				continue
			}
		}
		for i, k := range keys {
			var nr any
			if d := s.deleted(olds[i].(sqlRow), now); d != nil {
				nr = d
			}
			db.put(t, tb, k, nr, olds[i])
		}
		db.mu.Unlock()
		return int64(len(keys)), nil
	}
}
