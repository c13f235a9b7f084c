package mysql

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/ports"
)

// DefaultBatchSize is the number of rows CreateMany sends per INSERT.
const DefaultBatchSize = 1000

var (
	errNilEntity = errors.New("nil entity")
	errNilID     = errors.New("nil id")
	errNilFunc   = errors.New("nil function")
	// tableName is what WithTable accepts: a plain identifier, optionally
	// qualified by a database; gorm quotes it.
	tableName = regexp.MustCompile(`^([A-Za-z0-9_$]{1,64}\.)?[A-Za-z0-9_$]{1,64}$`)
)

// Store is the ports.SQLStore of entity type T over one table. Create it
// with NewStore; it is safe for concurrent use.
//
// T is a gorm model with a single primary key (the field tagged
// `gorm:"primaryKey"`, or else the field named ID). Queries name T's Go
// fields; each is mapped to its column through gorm's schema of T, and a
// field without a column is ErrInvalid.
//
// Update and Delete report ErrNotFound from the affected-row count. The
// connection sets clientFoundRows, so that an Update which leaves the row
// as it was still counts the matched row.
//
// Get skips gorm's query callbacks (see WithQueryCallbacks); every other
// call goes through gorm as usual.
type Store[T any] struct {
	db      *DB
	table   string
	schema  *schema.Schema
	pk      *schema.Field
	pkClass ports.Class
	ps      *ports.Schema
	cols    *columns
	batch   int
	get     *getPlan // nil: Get goes through gorm's callbacks

	opCreate, opCreateMany, opGet, opFind, opCount, opUpdate, opDelete, opMigrate string
}

var _ ports.SQLStore[struct{ ID int64 }] = (*Store[struct{ ID int64 }])(nil)

// StoreOption configures NewStore.
type StoreOption func(*storeOptions)

type storeOptions struct {
	table     string
	batch     int
	callbacks bool
}

// WithTable stores the entities in table name instead of the table gorm
// names after T (plural snake case, or T's TableName method). name is an
// identifier, optionally "database.table".
func WithTable(name string) StoreOption {
	return func(o *storeOptions) { o.table = name }
}

// WithBatchSize sets the rows per INSERT of CreateMany (default
// DefaultBatchSize). Keep rows × columns under 65535, MySQL's limit of
// parameters per statement.
func WithBatchSize(n int) StoreOption {
	return func(o *storeOptions) { o.batch = n }
}

// WithQueryCallbacks sends Get through gorm's query callbacks, like every
// other call, for plugins registered on DB().Callback() (tracing, say).
// By default Get runs a statement gorm built once and skips the
// callbacks, which saves about 15µs per call; a model with an AfterFind
// hook, or a DB with replicas, always goes through them.
func WithQueryCallbacks() StoreOption {
	return func(o *storeOptions) { o.callbacks = true }
}

// NewStore returns the store of T in db. It returns an error wrapping
// ports.ErrInvalid when gorm cannot parse T, when T has no primary key or a
// composite one, or for a bad option.
func NewStore[T any](db *DB, opts ...StoreOption) (*Store[T], error) {
	const op = "new store"
	if db == nil {
		return nil, errInvalid(op, errors.New("nil DB"))
	}
	o := storeOptions{batch: DefaultBatchSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.batch <= 0 {
		return nil, errInvalid(op, fmt.Errorf("batch size %d", o.batch))
	}
	ps, err := ports.SchemaOf[T]()
	if err != nil {
		return nil, errInvalid(op, err)
	}
	stmt := &gorm.Statement{DB: db.gorm}
	if err := stmt.Parse(new(T)); err != nil {
		return nil, errInvalid(op, fmt.Errorf("model %v: %w", ps.Type(), err))
	}
	gs := stmt.Schema
	if len(gs.PrimaryFields) != 1 || gs.PrioritizedPrimaryField == nil {
		return nil, errInvalid(op, fmt.Errorf("model %v needs exactly one primary key field, has %d", ps.Type(), len(gs.PrimaryFields)))
	}
	table := gs.Table
	if o.table != "" {
		table = o.table
	}
	if !tableName.MatchString(table) {
		return nil, errInvalid(op, fmt.Errorf("table name %q is not an identifier", table))
	}
	pk := gs.PrioritizedPrimaryField
	s := &Store[T]{
		db:      db,
		table:   table,
		schema:  gs,
		pk:      pk,
		pkClass: ports.ClassOf(pk.FieldType),
		ps:      ps,
		cols:    newColumns(ps, gs),
		batch:   o.batch,

		opCreate:     "create " + table,
		opCreateMany: "create many " + table,
		opGet:        "get " + table,
		opFind:       "find " + table,
		opCount:      "count " + table,
		opUpdate:     "update " + table,
		opDelete:     "delete " + table,
		opMigrate:    "migrate " + table,
	}
	if !o.callbacks {
		s.get = s.newGetPlan(gs)
	}
	return s, nil
}

// Table returns the table of the store.
func (s *Store[T]) Table() string { return s.table }

// Migrate creates the table of T, or adds its missing columns and indexes
// (gorm's AutoMigrate), on the primary. It does not take part in a
// transaction of ctx: MySQL commits a transaction at any DDL statement.
func (s *Store[T]) Migrate(ctx context.Context) error {
	if s.db.closed.Load() {
		return errClosed(s.opMigrate)
	}
	return wrap(s.opMigrate, s.db.ddl.WithContext(ctx).Table(s.table).AutoMigrate(new(T)))
}

// conn returns the gorm handle of ctx (the transaction of WithinTx, if
// any) on the store's table.
func (s *Store[T]) conn(ctx context.Context) *gorm.DB {
	return s.db.Conn(ctx).Table(s.table)
}

// pkEq is the condition "primary key = id".
func (s *Store[T]) pkEq(id any) clause.Expression {
	return clause.Eq{Column: clause.Column{Name: s.pk.DBName}, Value: id}
}

// checkID rejects a nil id or one of another comparison class than the
// primary key.
func (s *Store[T]) checkID(op string, id any) error {
	if id == nil || isNilPointer(id) {
		return errInvalid(op, errNilID)
	}
	if s.pkClass != ports.ClassInvalid {
		if c := ports.ClassOf(reflect.TypeOf(id)); c != s.pkClass {
			return errInvalid(op, fmt.Errorf("id of type %T for %s primary key %s", id, s.pkClass, s.pk.Name))
		}
	}
	return nil
}

// Create inserts e and fills in its generated primary key. It returns
// ErrConflict when the key or a unique index already holds the value.
func (s *Store[T]) Create(ctx context.Context, e *T) error {
	if s.db.closed.Load() {
		return errClosed(s.opCreate)
	}
	if e == nil {
		return errInvalid(s.opCreate, errNilEntity)
	}
	return wrap(s.opCreate, s.conn(ctx).Create(e).Error)
}

// CreateMany inserts es with one multi-row INSERT per batch of
// WithBatchSize rows (gorm's CreateInBatches) and fills in the generated
// keys. More than one batch runs in a transaction (a savepoint inside
// WithinTx), so a conflict leaves none of es stored. An empty slice is a
// no-op; a nil element is ErrInvalid.
func (s *Store[T]) CreateMany(ctx context.Context, es []*T) error {
	if s.db.closed.Load() {
		return errClosed(s.opCreateMany)
	}
	if len(es) == 0 {
		return nil
	}
	for i, e := range es {
		if e == nil {
			return errInvalid(s.opCreateMany, fmt.Errorf("element %d: %w", i, errNilEntity))
		}
	}
	conn := s.db.Conn(ctx)
	insert := func(tx *gorm.DB) error {
		return tx.Table(s.table).CreateInBatches(es, s.batch).Error
	}
	var err error
	if len(es) > s.batch {
		err = conn.Transaction(insert)
	} else {
		err = insert(conn)
	}
	return wrap(s.opCreateMany, err)
}

// Get returns the entity with primary key id, or ErrNotFound. An id of
// another type class than the key (a string for an integer key, say) is
// ErrInvalid.
func (s *Store[T]) Get(ctx context.Context, id any) (*T, error) {
	if s.db.closed.Load() {
		return nil, errClosed(s.opGet)
	}
	if err := s.checkID(s.opGet, id); err != nil {
		return nil, err
	}
	e := new(T)
	var err error
	if pool := s.getPool(ctx); pool != nil {
		err = s.getDirect(ctx, pool, id, e)
	} else {
		err = s.conn(ctx).Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(id)}}).Take(e).Error
	}
	if err != nil {
		return nil, wrap(s.opGet, err)
	}
	return e, nil
}

// getPlan is Get's statement, built once by gorm itself (a dry run of the
// Take that Get would otherwise run, with T's columns listed) so that it
// is the SQL gorm would send, soft-delete condition included, and shares
// gorm's cache of prepared statements.
//
// Why: a point select through gorm's callback chain costs about 15µs of
// CPU over a prepared database/sql statement (Session clone, clause
// building, callbacks, and scanning through reflection into pooled **T
// values), some 15% of a round trip to a local server. The plan skips
// the building; a row is scanned into plain values, which database/sql
// copies without reflection, and set into T with gorm's own field setters
// (field.Set), so conversions, NULLs and sql.Scanner fields behave as in
// gorm.
type getPlan struct {
	sql     string
	vars    []any // the statement's parameters; vars[idIdx] is the id
	idIdx   int
	fields  []*schema.Field // the selected columns, in order
	scratch sync.Pool       // *getScratch
}

// getScratch holds one call's parameters and scan targets.
type getScratch struct {
	args    []any
	targets []any // *any, or the field's pooled value for serializer fields
	vals    []any // what targets[i] points to
}

// getProbe marks the id's place among the dry run's parameters.
type getProbe struct{}

// newGetPlan returns the plan of Get, or nil when Get must go through
// gorm: for a model with an AfterFind hook, which gorm's callbacks call.
func (s *Store[T]) newGetPlan(gs *schema.Schema) *getPlan {
	if gs.AfterFind {
		return nil
	}
	var (
		fields []*schema.Field
		cols   []string
	)
	for _, f := range gs.Fields {
		if f.DBName != "" && f.Readable {
			fields = append(fields, f)
			cols = append(cols, f.DBName)
		}
	}
	probe := &getProbe{}
	dry := s.db.gorm.Session(&gorm.Session{DryRun: true, NewDB: true, Logger: logger.Discard}).
		Table(s.table).
		Select(cols).
		Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(probe)}}).
		Take(new(T))
	if dry.Error != nil {
		return nil
	}
	p := &getPlan{sql: dry.Statement.SQL.String(), vars: dry.Statement.Vars, idIdx: -1, fields: fields}
	for i, v := range p.vars {
		if v == any(probe) {
			p.idIdx = i
		}
	}
	if p.idIdx < 0 || p.sql == "" || len(fields) == 0 {
		return nil
	}
	p.scratch.New = func() any {
		sc := &getScratch{
			args:    make([]any, len(p.vars)),
			targets: make([]any, len(fields)),
			vals:    make([]any, len(fields)),
		}
		for i := range sc.targets {
			sc.targets[i] = &sc.vals[i]
		}
		return sc
	}
	return p
}

// getPool returns the connection pool Get's plan runs on: the
// transaction of ctx, else the primary's (prepared-statement) pool; nil
// when Get must go through gorm (no plan, or replicas to route to).
func (s *Store[T]) getPool(ctx context.Context) gorm.ConnPool {
	if s.get == nil {
		return nil
	}
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.owner == s.db {
		return st.tx.Statement.ConnPool
	}
	if len(s.db.replicas) > 0 {
		return nil
	}
	return s.db.gorm.Statement.ConnPool
}

// getDirect runs Get's plan on pool and sets the row into e. It returns
// gorm.ErrRecordNotFound for no row and reports the statement to gorm's
// logger (slow statements, failures), as gorm's callbacks would.
func (s *Store[T]) getDirect(ctx context.Context, pool gorm.ConnPool, id any, e *T) (err error) {
	p := s.get
	sc := p.scratch.Get().(*getScratch)
	copy(sc.args, p.vars)
	sc.args[p.idIdx] = id
	begin := time.Now()
	var found int64
	defer func() {
		s.db.gorm.Logger.Trace(ctx, begin, func() (string, int64) {
			vars := sc.args
			if f, ok := s.db.gorm.Logger.(gorm.ParamsFilter); ok {
				_, vars = f.ParamsFilter(ctx, p.sql, sc.args...)
			}
			return s.db.gorm.Dialector.Explain(p.sql, vars...), found
		}, err)
		clear(sc.args)
		clear(sc.vals)
		p.scratch.Put(sc)
	}()
	for i, f := range p.fields {
		if f.Serializer != nil {
			sc.targets[i] = f.NewValuePool.Get()
		}
	}
	defer func() {
		for i, f := range p.fields {
			if f.Serializer != nil {
				f.NewValuePool.Put(sc.targets[i])
				sc.targets[i] = &sc.vals[i]
			}
		}
	}()
	rows, err := pool.QueryContext(ctx, p.sql, sc.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return gorm.ErrRecordNotFound
	}
	if err := rows.Scan(sc.targets...); err != nil {
		return err
	}
	rv := reflect.ValueOf(e).Elem()
	for i, f := range p.fields {
		v := sc.vals[i]
		if f.Serializer != nil {
			v = sc.targets[i]
		}
		if err := f.Set(ctx, rv, v); err != nil {
			return err
		}
	}
	found = 1
	return rows.Close()
}

// validate checks q with the shared ports.Schema, so that the store
// rejects exactly what the fakes reject.
func (s *Store[T]) validate(op string, q ports.Query) error {
	if err := s.ps.Validate(q); err != nil {
		var oe *ports.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return errInvalid(op, err)
	}
	return nil
}

// query adds q's conditions to tx and, when paged is set, its order
// (then the primary key), limit and offset. q has passed validate.
func (s *Store[T]) query(tx *gorm.DB, q ports.Query, paged bool) (*gorm.DB, error) {
	where, err := s.cols.where(q)
	if err != nil {
		return nil, err
	}
	if len(where) > 0 {
		tx = tx.Clauses(clause.Where{Exprs: where})
	}
	if !paged {
		return tx, nil
	}
	order, err := s.cols.orderBy(q, s.pk.DBName)
	if err != nil {
		return nil, err
	}
	tx = tx.Clauses(clause.OrderBy{Columns: order})
	if l, ok := limit(q); ok {
		tx = tx.Clauses(l)
	}
	return tx, nil
}

// Find returns the entities matching q, in q's order and then primary key
// order. It returns ErrInvalid when q names a field T does not have (or
// that has no column), or compares a field with a value of another type.
func (s *Store[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	if s.db.closed.Load() {
		return nil, errClosed(s.opFind)
	}
	if err := s.validate(s.opFind, q); err != nil {
		return nil, err
	}
	tx, err := s.query(s.conn(ctx), q, true)
	if err != nil {
		return nil, errInvalid(s.opFind, err)
	}
	out := make([]T, 0)
	if err := tx.Find(&out).Error; err != nil {
		return nil, wrap(s.opFind, err)
	}
	return out, nil
}

// Count returns how many entities match q's conditions; q's order, limit
// and offset are ignored (but checked).
func (s *Store[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	if s.db.closed.Load() {
		return 0, errClosed(s.opCount)
	}
	if err := s.validate(s.opCount, q); err != nil {
		return 0, err
	}
	tx, err := s.query(s.conn(ctx).Model(new(T)), q, false)
	if err != nil {
		return 0, errInvalid(s.opCount, err)
	}
	var n int64
	if err := tx.Count(&n).Error; err != nil {
		return 0, wrap(s.opCount, err)
	}
	return n, nil
}

// Update writes every column of e to the row with e's primary key. It
// returns ErrNotFound when no row has that key (clientFoundRows makes an
// unchanged row count as found) and ErrConflict when a unique index
// already holds a new value.
func (s *Store[T]) Update(ctx context.Context, e *T) error {
	if s.db.closed.Load() {
		return errClosed(s.opUpdate)
	}
	if e == nil {
		return errInvalid(s.opUpdate, errNilEntity)
	}
	tx := s.conn(ctx).Model(e).Select("*")
	if v, zero := s.pk.ValueOf(ctx, reflect.ValueOf(e).Elem()); zero {
		// gorm puts a non-zero key in the WHERE itself and none for a
		// zero one; the zero key must still match only its own row.
		tx = tx.Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(v)}})
	}
	res := tx.Updates(e)
	if res.Error != nil {
		return wrap(s.opUpdate, res.Error)
	}
	if res.RowsAffected == 0 {
		return ports.NewError(backend, s.opUpdate, ports.ErrNotFound, nil)
	}
	return nil
}

// Delete removes the entity with primary key id, or returns ErrNotFound.
// A model with gorm.DeletedAt is soft-deleted, as gorm does.
func (s *Store[T]) Delete(ctx context.Context, id any) error {
	if s.db.closed.Load() {
		return errClosed(s.opDelete)
	}
	if err := s.checkID(s.opDelete, id); err != nil {
		return err
	}
	res := s.conn(ctx).Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(id)}}).Delete(new(T))
	if res.Error != nil {
		return wrap(s.opDelete, res.Error)
	}
	if res.RowsAffected == 0 {
		return ports.NewError(backend, s.opDelete, ports.ErrNotFound, nil)
	}
	return nil
}
