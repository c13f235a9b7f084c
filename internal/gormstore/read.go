package gormstore

import (
	"context"
	"database/sql"
	"iter"
	"sync"
	"time"
	"unsafe"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// afterFinder is gorm's AfterFind hook, which reads call on every entity
// they return, as gorm's callbacks do.
type afterFinder interface{ AfterFind(*gorm.DB) error }

// selectTx returns the gorm chain of the SELECT of q's conditions (and
// after, when not nil) in q's keyset order with limit l, listing the
// store's readable columns.
func (s *Store[T]) selectTx(ctx context.Context, q ports.Query, after clause.Expression, l *clause.Limit) (*gorm.DB, error) {
	where, err := s.cols.where(q.Conditions())
	if err != nil {
		return nil, err
	}
	if after != nil {
		where = append(where, after)
	}
	order, err := s.cols.orderBy(q, s.pkPath, s.db.dialect.Order)
	if err != nil {
		return nil, err
	}
	tx := s.conn(ctx).Model(new(T)).Select(s.read.names)
	if len(where) > 0 {
		tx = tx.Clauses(clause.Where{Exprs: where})
	}
	tx = tx.Clauses(clause.OrderBy{Columns: order})
	if l != nil {
		tx = tx.Clauses(*l)
	}
	return tx, nil
}

// hook runs e's AfterFind, when T has one.
func (s *Store[T]) hook(ctx context.Context, e *T) error {
	if !s.afterFind {
		return nil
	}
	if h, ok := any(e).(afterFinder); ok {
		return h.AfterFind(s.conn(ctx))
	}
	return nil
}

// collect scans every row of rows into a slice, closing rows.
func (s *Store[T]) collect(ctx context.Context, rows *sql.Rows) ([]T, error) {
	defer rows.Close()
	out := make([]T, 0)
	sc := s.read.newScanner()
	var zero T
	for rows.Next() {
		out = append(out, zero)
		e := &out[len(out)-1]
		if err := sc.scan(ctx, rows, unsafe.Pointer(e)); err != nil {
			return nil, err
		}
		if err := s.hook(ctx, e); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// Find returns the entities matching q, in q's order and then primary key
// order. It returns ErrInvalid when q names a field T does not have (or
// that has no column), or compares a field with a value of another type.
func (s *Store[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpFind)
	v, err := s.doFind(ctx, q)
	sp.SetRows(len(v))
	sp.End(err)
	return v, err
}

func (s *Store[T]) doFind(ctx context.Context, q ports.Query) ([]T, error) {
	op := s.op.find
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.validate(op, q); err != nil {
		return nil, err
	}
	var lp *clause.Limit
	if l, ok := limit(q); ok {
		lp = &l
	}
	tx, err := s.selectTx(ctx, q, nil, lp)
	if err != nil {
		return nil, s.db.Invalid(op, err)
	}
	rows, err := tx.Rows()
	if err != nil {
		return nil, s.db.Wrap(ctx, op, err)
	}
	out, err := s.collect(ctx, rows)
	if err != nil {
		return nil, s.db.Wrap(ctx, op, err)
	}
	return out, nil
}

// Stream yields the entities matching q one at a time, in Find's order,
// from the driver's row cursor: memory stays constant whatever the size
// of the result. ctx is checked between rows; an error is yielded once,
// last. Inside WithinTx it reads in the transaction (and holds the
// transaction's connection until the loop ends: finish or break out of
// it before the next statement of the transaction; breaking out reads
// the rest of the result). Outside a transaction, breaking out of the
// loop aborts the query and closes its connection. Close waits for a
// running stream.
func (s *Store[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return obs.Stream(ctx, s.in, func(ctx context.Context) iter.Seq2[T, error] { return s.doStream(ctx, q) })
}

func (s *Store[T]) doStream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		op := s.op.stream
		release, err := s.db.Enter(ctx, op)
		if err != nil {
			yield(zero, err)
			return
		}
		defer release()
		if err := s.validate(op, q); err != nil {
			yield(zero, err)
			return
		}
		var lp *clause.Limit
		if l, ok := limit(q); ok {
			lp = &l
		}
		// Outside a transaction, a loop left early aborts the query (the
		// driver closes the connection) instead of reading the rest of
		// the result to the end, which MySQL's protocol would need.
		qctx, abort := ctx, context.CancelFunc(func() {})
		if !s.db.InTx(ctx) {
			qctx, abort = context.WithCancel(ctx)
		}
		defer abort()
		tx, err := s.selectTx(qctx, q, nil, lp)
		if err != nil {
			yield(zero, s.db.Invalid(op, err))
			return
		}
		rows, err := tx.Rows()
		if err != nil {
			yield(zero, s.db.Wrap(ctx, op, err))
			return
		}
		finished := false
		defer func() {
			if !finished {
				abort()
			}
			_ = rows.Close()
		}()
		sc := s.read.newScanner()
		var e T
		for rows.Next() {
			if ctx.Err() != nil {
				yield(zero, s.db.Wrap(ctx, op, ctx.Err()))
				return
			}
			e = zero
			if err := sc.scan(ctx, rows, unsafe.Pointer(&e)); err != nil {
				yield(zero, s.db.Wrap(ctx, op, err))
				return
			}
			if err := s.hook(ctx, &e); err != nil {
				yield(zero, s.db.Wrap(ctx, op, err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		finished = true
		err = rows.Err()
		if err == nil {
			err = rows.Close()
		}
		if err != nil {
			yield(zero, s.db.Wrap(ctx, op, err))
		}
	}
}

// FindPage returns the keyset page of at most q.LimitN() entities after
// cursor (see ports.SQLStore.FindPage): one SELECT of q's conditions and
// "after the cursor's row" (ports.Keyset) in q's order then primary key
// order, with LIMIT n+1 to tell whether a next page exists.
func (s *Store[T]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	ctx, sp := s.in.Start(ctx, obs.OpFindPage)
	v, err := s.doFindPage(ctx, q, cursor)
	sp.SetRows(len(v.Items))
	sp.End(err)
	return v, err
}

func (s *Store[T]) doFindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	op := s.op.page
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return ports.Page[T]{}, err
	}
	defer release()
	if err := s.ps.ValidatePage(q); err != nil {
		return ports.Page[T]{}, s.db.Invalid(op, err)
	}
	var after clause.Expression
	if cursor != "" {
		vals, err := s.ps.DecodeCursor(q, s.pkPath, cursor)
		if err != nil {
			return ports.Page[T]{}, s.db.Invalid(op, err)
		}
		if after, err = s.cols.keyset(ports.Keyset(q, s.pkPath, vals)); err != nil {
			return ports.Page[T]{}, s.db.Invalid(op, err)
		}
	}
	n := q.LimitN()
	l := clause.Limit{Limit: new(int)}
	*l.Limit = n + 1
	tx, err := s.selectTx(ctx, q, after, &l)
	if err != nil {
		return ports.Page[T]{}, s.db.Invalid(op, err)
	}
	rows, err := tx.Rows()
	if err != nil {
		return ports.Page[T]{}, s.db.Wrap(ctx, op, err)
	}
	items, err := s.collect(ctx, rows)
	if err != nil {
		return ports.Page[T]{}, s.db.Wrap(ctx, op, err)
	}
	page := ports.Page[T]{Items: items}
	if len(items) > n {
		page.Items = items[:n:n]
		if page.Next, err = s.ps.EncodeCursor(q, s.pkPath, &page.Items[n-1]); err != nil {
			return ports.Page[T]{}, s.db.Invalid(op, err)
		}
	}
	return page, nil
}

// getPlan is Get's statement, built once by gorm itself (a dry run of the
// Take that Get would otherwise run, with T's columns listed) so that it
// is the SQL gorm would send, soft-delete condition included, and shares
// gorm's cache of prepared statements.
//
// Why: a point select through gorm's callback chain costs about 15µs of
// CPU over a prepared database/sql statement (Session clone, clause
// building, callbacks, scanning through reflection), some 15% of a round
// trip to a local server. The plan skips the building, and the row is
// scanned by the store's row plan, straight into the entity's fields.
type getPlan struct {
	sql      string
	vars     []any // the statement's parameters; vars[idIdx] is the id
	idIdx    int
	scratch  sync.Pool // *getScratch
	readPlan *rowPlan
}

// getScratch holds one call's parameters and scan targets, and the
// logger's callback over them, so that a Get allocates none of them.
type getScratch struct {
	plan  *getPlan
	args  []any
	sc    *rowScanner
	found int64
	ctx   context.Context
	trace func() (string, int64)
}

// explain renders the statement for gorm's logger (which asks only when
// it writes a line).
func (sc *getScratch) explain(g *gorm.DB) (string, int64) {
	vars := sc.args
	if f, ok := g.Logger.(gorm.ParamsFilter); ok {
		_, vars = f.ParamsFilter(sc.ctx, sc.plan.sql, sc.args...)
	}
	return g.Dialector.Explain(sc.plan.sql, vars...), sc.found
}

// getProbe marks the id's place among the dry run's parameters.
type getProbe struct{}

// newGetPlan returns the plan of Get, or nil when Get must go through
// gorm.
func (s *Store[T]) newGetPlan() *getPlan {
	probe := &getProbe{}
	dry := s.db.g.Session(&gorm.Session{DryRun: true, NewDB: true, Logger: logger.Discard}).
		Table(s.table).
		Select(s.read.names).
		Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(probe)}}).
		Take(new(T))
	if dry.Error != nil {
		return nil
	}
	p := &getPlan{sql: dry.Statement.SQL.String(), vars: dry.Statement.Vars, idIdx: -1, readPlan: s.read}
	for i, v := range p.vars {
		if v == any(probe) {
			p.idIdx = i
		}
	}
	if p.idIdx < 0 || p.sql == "" {
		return nil
	}
	g := s.db.g
	p.scratch.New = func() any {
		sc := &getScratch{plan: p, args: make([]any, len(p.vars)), sc: p.readPlan.newScanner()}
		sc.trace = func() (string, int64) { return sc.explain(g) }
		return sc
	}
	return p
}

// getDirect runs Get's plan on pool and scans the row into e. It returns
// gorm.ErrRecordNotFound for no row and reports the statement to gorm's
// logger (slow statements, failures), as gorm's callbacks would.
func (s *Store[T]) getDirect(ctx context.Context, pool gorm.ConnPool, id any, e *T) (err error) {
	p := s.get
	sc := p.scratch.Get().(*getScratch)
	copy(sc.args, p.vars)
	sc.args[p.idIdx] = id
	sc.ctx, sc.found = ctx, 0
	begin := time.Now()
	err = s.queryOne(ctx, pool, sc, e)
	s.db.g.Logger.Trace(ctx, begin, sc.trace, err)
	clear(sc.args)
	sc.ctx = nil
	p.scratch.Put(sc)
	if err != nil {
		return err
	}
	return s.hook(ctx, e)
}

// queryOne runs Get's plan with sc's parameters and scans the row into e.
func (s *Store[T]) queryOne(ctx context.Context, pool gorm.ConnPool, sc *getScratch, e *T) error {
	rows, err := pool.QueryContext(ctx, sc.plan.sql, sc.args...)
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
	if err := sc.sc.scan(ctx, rows, unsafe.Pointer(e)); err != nil {
		return err
	}
	sc.found = 1
	return rows.Close()
}
