package gormstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/sqlrules"
	"github.com/portkit/portkit/ports"
)

// DefaultBatchSize is the number of rows CreateMany sends per INSERT
// (fewer when the parameters or the bytes of a statement would exceed
// their limits).
const DefaultBatchSize = 1000

var (
	errNilEntity = errors.New("nil entity")
	errNilID     = errors.New("nil id")
	errStale     = errors.New("the stored version is not the entity's: re-read it, then retry")
	// tableName is what Options.Table accepts: a plain identifier,
	// optionally qualified by a database; gorm quotes it.
	tableName = regexp.MustCompile(`^([A-Za-z0-9_$]{1,64}\.)?[A-Za-z0-9_$]{1,64}$`)
)

// Options configures NewStore.
type Options struct {
	// Table is the table of the entities ("": the one gorm names after T).
	Table string
	// BatchSize is the most rows per INSERT of CreateMany (0:
	// DefaultBatchSize).
	BatchSize int
	// QueryCallbacks sends Get through gorm's query callbacks instead of
	// the store's prepared plan.
	QueryCallbacks bool
	// CreateCallbacks sends every batch of CreateMany through gorm's
	// create callbacks instead of the store's insert plan (see
	// insertPlan).
	CreateCallbacks bool
}

// Store is the ports.SQLStore of entity type T over one table, for any
// dialect. It is safe for concurrent use.
type Store[T any] struct {
	db      *DB
	table   string
	gs      *schema.Schema
	ps      *ports.Schema
	cols    *columns
	pk      *schema.Field
	pkPath  string
	pkClass ports.Class
	autoPK  bool // the database assigns a zero integer key

	version    *schema.Field // the ports.Version field, or nil
	createdAt  []*schema.Field
	updatedAt  []*schema.Field
	insertCols int      // columns an INSERT sends
	updateCols []string // columns Update writes
	upsert     clause.OnConflict
	returning  *clause.Returning // the upsert's RETURNING (UpsertReturner), or nil
	byteFields []*schema.Field   // string and []byte columns, for batch sizes

	read   *rowPlan
	get    *getPlan    // nil: Get goes through gorm
	insert *insertPlan // nil: CreateMany goes through gorm

	createCheck, updateCheck *sqlrules.Checker // the portable rules of what Create and Update send
	afterFind                bool
	batch                    int

	op ops
	in *obs.Instr // the store's spans and metrics
}

// ops holds the operation names of errors, built once.
type ops struct {
	create, createMany, get, find, stream, page, count, update, patch,
	upsert, delete, deleteIf, deleteWhere, migrate string
}

var _ ports.SQLStore[struct{ ID int64 }] = (*Store[struct{ ID int64 }])(nil)

// NewStore returns the store of T in db. It returns an error wrapping
// ports.ErrInvalid when gorm cannot parse T, when T has no primary key
// or a composite one, two Version fields, or for a bad option.
func NewStore[T any](db *DB, o Options) (*Store[T], error) {
	if db == nil {
		return nil, ports.NewError("sql", "new store", ports.ErrInvalid, errors.New("nil DB"))
	}
	const op = "new store"
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchSize < 0 {
		return nil, db.Invalid(op, errors.New("the batch size must be positive"))
	}
	ps, err := ports.SchemaOf[T]()
	if err != nil {
		return nil, db.Invalid(op, err)
	}
	vf, err := ps.VersionField()
	if err != nil {
		return nil, db.Invalid(op, err)
	}
	stmt := &gorm.Statement{DB: db.g}
	if err := stmt.Parse(new(T)); err != nil {
		return nil, db.Invalid(op, fmt.Errorf("model %v: %w", ps.Type(), err))
	}
	gs := stmt.Schema
	if len(gs.PrimaryFields) != 1 || gs.PrioritizedPrimaryField == nil {
		return nil, db.Invalid(op, fmt.Errorf("model %v needs exactly one primary key field, has %d", ps.Type(), len(gs.PrimaryFields)))
	}
	table := gs.Table
	if o.Table != "" {
		table = o.Table
		if !tableName.MatchString(table) {
			return nil, db.Invalid(op, fmt.Errorf("table name %q is not an identifier", table))
		}
		// Parsed for its table, so that index names are the ones
		// Migrate gives them (gorm names indexes after the table).
		stmt = &gorm.Statement{DB: db.g}
		if err := stmt.ParseWithSpecialTableName(new(T), table); err != nil {
			return nil, db.Invalid(op, fmt.Errorf("model %v: %w", ps.Type(), err))
		}
		gs = stmt.Schema
	}
	if !tableName.MatchString(table) {
		return nil, db.Invalid(op, fmt.Errorf("table name %q is not an identifier", table))
	}
	pk := gs.PrioritizedPrimaryField
	s := &Store[T]{
		db: db, table: table, gs: gs, ps: ps, cols: newColumns(ps, gs), in: db.Instr(obs.PortSQL, table),
		pk: pk, pkClass: ports.ClassOf(pk.FieldType),
		autoPK:    pk.AutoIncrement || (pk.HasDefaultValue && pk.DefaultValueInterface == nil && (pk.DataType == schema.Int || pk.DataType == schema.Uint)),
		batch:     o.BatchSize,
		afterFind: gs.AfterFind,
	}
	s.pkPath = s.cols.pathOf(pk)
	if s.pkPath == "" {
		return nil, db.Invalid(op, fmt.Errorf("model %v: primary key %s is not a queryable field", ps.Type(), pk.Name))
	}
	if vf != nil {
		ci, ok := s.cols.byPath[vf.Path]
		if !ok || !ci.field.Creatable || !ci.field.Updatable {
			return nil, db.Invalid(op, fmt.Errorf("model %v: version field %s has no writable column", ps.Type(), vf.Path))
		}
		s.version = ci.field
	}
	var readable []*schema.Field
	var replaced []string // the columns an upsert replaces
	for _, f := range gs.Fields {
		if f.DBName == "" {
			continue
		}
		if f.Readable {
			readable = append(readable, f)
		}
		if f.Creatable {
			s.insertCols++
		}
		if f.AutoCreateTime > 0 {
			s.createdAt = append(s.createdAt, f)
		}
		if f.AutoUpdateTime > 0 {
			s.updatedAt = append(s.updatedAt, f)
		}
		if k := f.IndirectFieldType.Kind(); k == reflect.String || (k == reflect.Slice && f.IndirectFieldType.Elem().Kind() == reflect.Uint8) {
			s.byteFields = append(s.byteFields, f)
		}
		if s.updates(f) {
			s.updateCols = append(s.updateCols, f.DBName)
			if f != s.version {
				replaced = append(replaced, f.DBName)
			}
		}
	}
	versionCol := ""
	if s.version != nil {
		versionCol = s.version.DBName
	}
	s.upsert = db.dialect.Upsert(pk.DBName, replaced, versionCol)
	if r, ok := db.dialect.(UpsertReturner); ok && r.UpsertReturning() {
		s.returning = s.upsertReturning()
	}
	if len(readable) == 0 {
		return nil, db.Invalid(op, fmt.Errorf("model %v has no readable column", ps.Type()))
	}
	s.read = newRowPlan(gs.ModelType, readable)
	if !o.QueryCallbacks {
		s.get = s.newGetPlan()
	}
	if !o.CreateCallbacks {
		s.insert = s.newInsertPlan()
	}
	s.createCheck = sqlrules.NewChecker(gs, db.dialect.Rules(), func(f *schema.Field) bool { return f.DBName != "" && f.Creatable })
	// An update stamps the autoUpdateTime fields (gorm's Updates): what
	// e holds there is never sent, so it is not checked (the fake does
	// not check it either; found by the differential checker).
	s.updateCheck = sqlrules.NewChecker(gs, db.dialect.Rules(), func(f *schema.Field) bool { return s.updates(f) && f.AutoUpdateTime == 0 })
	s.op = ops{
		create: "create " + table, createMany: "create many " + table, get: "get " + table,
		find: "find " + table, stream: "stream " + table, page: "find page " + table,
		count: "count " + table, update: "update " + table, patch: "patch " + table,
		upsert: "upsert " + table, delete: "delete " + table, deleteIf: "delete if version " + table,
		deleteWhere: "delete where " + table, migrate: "migrate " + table,
	}
	return s, nil
}

// updates reports whether Update writes f: every column but the primary
// key and CreatedAt (gorm's autoCreateTime fields).
func (s *Store[T]) updates(f *schema.Field) bool {
	return f.DBName != "" && f.Updatable && !f.PrimaryKey && f.AutoCreateTime == 0
}

// Table returns the table of the store.
func (s *Store[T]) Table() string { return s.table }

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
// primary key, and applies the portable rules to it.
func (s *Store[T]) checkID(op string, id any) error {
	if id == nil || isNilPointer(id) {
		return s.db.Invalid(op, errNilID)
	}
	switch id.(type) {
	case int64, int, int32, uint64, uint, uint32:
		if s.pkClass == ports.ClassNumber {
			return nil // the common case, without reflection
		}
	}
	if s.pkClass != ports.ClassInvalid {
		if c := ports.ClassOf(reflect.TypeOf(id)); c != s.pkClass {
			return s.db.Invalid(op, fmt.Errorf("id of type %T for %s primary key %s", id, s.pkClass, s.pk.Name))
		}
		// The portable rules on the value (UTF-8, NaN).
		if err := s.ps.Validate(ports.Where(s.pkPath, ports.Eq, id)); err != nil {
			return s.db.Invalid(op, err)
		}
	}
	return nil
}

// checkEntity applies the portable value rules to the columns of e that
// a create (or an update) writes.
func (s *Store[T]) checkEntity(op string, e *T, create bool) error {
	c := s.updateCheck
	if create {
		c = s.createCheck
	}
	if err := c.Check(reflect.ValueOf(e).Elem()); err != nil {
		return s.db.Invalid(op, err)
	}
	return nil
}

// versionOf returns e's version (0 without a Version field).
func (s *Store[T]) versionOf(ctx context.Context, e *T) int64 {
	if s.version == nil {
		return 0
	}
	return s.version.ReflectValueOf(ctx, reflect.ValueOf(e).Elem()).Int()
}

// setVersion sets e's version.
func (s *Store[T]) setVersion(ctx context.Context, e *T, v int64) {
	if s.version != nil {
		s.version.ReflectValueOf(ctx, reflect.ValueOf(e).Elem()).SetInt(v)
	}
}

// validate checks q with the shared ports.Schema, so that the store
// rejects exactly what the fakes reject.
func (s *Store[T]) validate(op string, q ports.Query) error {
	if err := s.ps.Validate(q); err != nil {
		return s.db.Invalid(op, err)
	}
	return nil
}

// Create inserts e and fills in its generated primary key, CreatedAt,
// UpdatedAt, defaults and version (1). A failure leaves e as it was.
func (s *Store[T]) Create(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpCreate)
	err := s.doCreate(ctx, e)
	sp.End(err)
	return err
}

func (s *Store[T]) doCreate(ctx context.Context, e *T) error {
	op := s.op.create
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if e == nil {
		return s.db.Invalid(op, errNilEntity)
	}
	if err := s.checkEntity(op, e, true); err != nil {
		return err
	}
	old := *e
	s.setVersion(ctx, e, 1)
	if err := s.conn(ctx).Create(e).Error; err != nil {
		*e = old
		return s.db.Wrap(ctx, op, err)
	}
	return nil
}

// CreateMany inserts es, one multi-row INSERT per batch, all or none: more
// than one statement runs in a transaction (a savepoint inside WithinTx).
// A new statement begins after a row with an explicit key when a row
// without one follows (so that the keys the database assigns are the keys
// handed back), and whenever the batch size, the parameter limit or the
// byte budget of a statement (sqlrules.MaxStatementBytes) would be
// exceeded. A failure leaves every entity as it was.
func (s *Store[T]) CreateMany(ctx context.Context, es []*T) error {
	ctx, sp := s.in.Start(ctx, obs.OpCreateMany)
	err := s.doCreateMany(ctx, es)
	sp.End(err)
	return err
}

func (s *Store[T]) doCreateMany(ctx context.Context, es []*T) error {
	op := s.op.createMany
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if len(es) == 0 {
		return nil
	}
	for i, e := range es {
		if e == nil {
			return s.db.Invalid(op, fmt.Errorf("element %d: %w", i, errNilEntity))
		}
		if err := s.checkEntity(op, e, true); err != nil {
			return s.db.Invalid(op, fmt.Errorf("element %d: %w", i, unwrapOp(err)))
		}
	}
	olds := make([]T, len(es))
	for i, e := range es {
		olds[i] = *e
		s.setVersion(ctx, e, 1)
	}
	batches := s.batches(ctx, es)
	insert := func(ctx context.Context) error {
		conn := s.conn(ctx)
		for _, b := range batches {
			if pool := s.db.pool(ctx); pool != nil && s.takes(ctx, b) {
				if err := s.insertDirect(ctx, pool, b); err != nil {
					return s.db.Wrap(ctx, op, err)
				}
				continue
			}
			if err := conn.Create(b).Error; err != nil {
				return s.db.Wrap(ctx, op, err)
			}
		}
		return nil
	}
	if len(batches) > 1 {
		err = s.db.WithinTx(ctx, insert)
	} else {
		err = insert(ctx)
	}
	if err != nil {
		for i, e := range es {
			*e = olds[i]
		}
		return s.db.Wrap(ctx, op, err)
	}
	return nil
}

// batches splits es into the rows of each INSERT.
func (s *Store[T]) batches(ctx context.Context, es []*T) [][]*T {
	rows := s.batch
	if mp := s.db.dialect.MaxParams(); s.insertCols > 0 && mp/s.insertCols < rows {
		rows = max(1, mp/s.insertCols)
	}
	var (
		out      [][]*T
		start    int
		size     int
		explicit bool // the current batch has a row with its own key
	)
	for i, e := range es {
		rv := reflect.ValueOf(e).Elem()
		zeroKey := s.pk.ReflectValueOf(ctx, rv).IsZero() // as ValueOf's flag, unboxed
		n := 16 * s.insertCols
		for _, f := range s.byteFields {
			if v := f.ReflectValueOf(ctx, rv); v.Kind() != reflect.Pointer || !v.IsNil() {
				n += reflect.Indirect(v).Len()
			}
		}
		if i > start && (i-start >= rows || size+n > sqlrules.MaxStatementBytes || (s.autoPK && zeroKey && explicit)) {
			out = append(out, es[start:i])
			start, size, explicit = i, 0, false
		}
		size += n
		explicit = explicit || !zeroKey
	}
	return append(out, es[start:])
}

// Get returns the entity with primary key id, or ErrNotFound. An id of
// another type class than the key is ErrInvalid.
func (s *Store[T]) Get(ctx context.Context, id any) (*T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpGet)
	v, err := s.doGet(ctx, id)
	sp.End(err)
	return v, err
}

func (s *Store[T]) doGet(ctx context.Context, id any) (*T, error) {
	op := s.op.get
	if err := s.db.Acquire(ctx, op); err != nil {
		return nil, err
	}
	defer s.db.Release()
	if err := s.checkID(op, id); err != nil {
		return nil, err
	}
	e := new(T)
	var err error
	if pool := s.db.pool(ctx); pool != nil && s.get != nil {
		err = s.getDirect(ctx, pool, id, e)
	} else {
		err = s.conn(ctx).Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(id)}}).Take(e).Error
	}
	if err != nil {
		return nil, s.db.Wrap(ctx, op, err)
	}
	return e, nil
}

// Count returns how many entities match q's conditions; q's order, limit
// and offset are ignored (but checked).
func (s *Store[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpCount)
	v, err := s.doCount(ctx, q)
	sp.End(err)
	return v, err
}

func (s *Store[T]) doCount(ctx context.Context, q ports.Query) (int64, error) {
	op := s.op.count
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return 0, err
	}
	defer release()
	if err := s.validate(op, q); err != nil {
		return 0, err
	}
	tx, err := s.countTx(ctx, q)
	if err != nil {
		return 0, s.db.Invalid(op, err)
	}
	var n int64
	if err := tx.Count(&n).Error; err != nil {
		return 0, s.db.Wrap(ctx, op, err)
	}
	return n, nil
}

// countTx returns the gorm chain of Count(q).
func (s *Store[T]) countTx(ctx context.Context, q ports.Query) (*gorm.DB, error) {
	where, err := s.cols.where(q.Conditions())
	if err != nil {
		return nil, err
	}
	tx := s.conn(ctx).Model(new(T))
	if len(where) > 0 {
		tx = tx.Clauses(clause.Where{Exprs: where})
	}
	return tx, nil
}

// Update writes every column of e but the primary key and CreatedAt to
// the row with e's primary key, and sets UpdatedAt (and the version, +1).
// It returns ErrNotFound when no row has that key, ErrConflict when a
// unique index already holds a new value or, for a model with a Version
// field, when the stored version is not e's. A failure leaves e as it
// was.
func (s *Store[T]) Update(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpdate)
	err := s.doUpdate(ctx, e)
	sp.End(err)
	return err
}

func (s *Store[T]) doUpdate(ctx context.Context, e *T) error {
	op := s.op.update
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if e == nil {
		return s.db.Invalid(op, errNilEntity)
	}
	return s.update(ctx, op, e)
}

func (s *Store[T]) update(ctx context.Context, op string, e *T) error {
	if err := s.checkEntity(op, e, false); err != nil {
		return err
	}
	old := *e
	id, zero := s.pk.ValueOf(ctx, reflect.ValueOf(e).Elem())
	tx := s.conn(ctx).Model(e).Select(s.updateCols)
	if zero {
		// gorm puts a non-zero key in the WHERE itself and none for a
		// zero one; the zero key must still match only its own row.
		tx = tx.Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(id)}})
	}
	if s.version != nil {
		v := s.versionOf(ctx, e)
		tx = tx.Clauses(clause.Where{Exprs: []clause.Expression{clause.Eq{Column: clause.Column{Name: s.version.DBName}, Value: v}}})
		s.setVersion(ctx, e, v+1)
	}
	res := tx.Updates(e)
	if res.Error != nil {
		*e = old
		return s.db.Wrap(ctx, op, res.Error)
	}
	if res.RowsAffected == 0 {
		*e = old
		if s.version != nil {
			return s.absentOrStale(ctx, op, id)
		}
		return s.db.class.NotFound(op, nil)
	}
	return nil
}

// absentOrStale tells, after a versioned write that matched no row,
// whether the row is absent (ErrNotFound) or holds another version
// (ErrConflict).
func (s *Store[T]) absentOrStale(ctx context.Context, op string, id any) error {
	var n int64
	err := s.conn(ctx).Model(new(T)).Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(id)}}).Count(&n).Error
	switch {
	case err != nil:
		return s.db.Wrap(ctx, op, err)
	case n == 0:
		return s.db.class.NotFound(op, nil)
	}
	return s.db.class.Conflict(op, errStale)
}

// Delete removes the entity with primary key id, or returns ErrNotFound.
// A model with gorm.DeletedAt is soft-deleted, as gorm does.
func (s *Store[T]) Delete(ctx context.Context, id any) error {
	ctx, sp := s.in.Start(ctx, obs.OpDelete)
	err := s.doDelete(ctx, id)
	sp.End(err)
	return err
}

func (s *Store[T]) doDelete(ctx context.Context, id any) error {
	op := s.op.delete
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if err := s.checkID(op, id); err != nil {
		return err
	}
	res := s.conn(ctx).Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(id)}}).Delete(new(T))
	if res.Error != nil {
		return s.db.Wrap(ctx, op, res.Error)
	}
	if res.RowsAffected == 0 {
		return s.db.class.NotFound(op, nil)
	}
	return nil
}
