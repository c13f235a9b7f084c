package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

var (
	errNilFunc = errors.New("nil function")
	// errTxOwned is what gorm's Commit and Rollback get inside WithinTx:
	// the transaction ends when fn returns.
	errSavepointLost = errors.New("a nested transaction's work could not be rolled back to its savepoint; the transaction was rolled back")
	errTxOwned       = errors.New("the transaction belongs to WithinTx: return from fn to commit or roll back")
)

// txKey is the context key of the transaction of WithinTx.
type txKey struct{}

// txState is a running transaction: the connection it holds, and the
// gorm handle store calls made with its context use.
type txState struct {
	owner  *DB
	conn   *sql.Conn
	g      *gorm.DB
	depth  atomic.Int64 // savepoints taken, for their names
	done   atomic.Bool  // WithinTx has returned
	broken atomic.Bool  // a savepoint could not be rolled back to
}

// txOf returns the transaction of d in ctx, or nil. A transaction that
// has ended is returned too: a statement made with its context then fails
// (sql.ErrConnDone, ErrInvalid) instead of running outside any
// transaction.
func (d *DB) txOf(ctx context.Context) *txState {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.owner == d {
		return st
	}
	return nil
}

// InTx reports whether ctx carries a running transaction of d.
func (d *DB) InTx(ctx context.Context) bool {
	if ctx == nil {
		return false
	}
	st := d.txOf(ctx)
	return st != nil && !st.done.Load()
}

// txPool is the gorm connection pool of a transaction: its connection.
// It is a gorm.TxCommitter, so that gorm (and dbresolver) see a
// transaction, and a nested gorm Transaction takes a savepoint; its
// Commit and Rollback refuse, since WithinTx ends the transaction.
type txPool struct{ conn *sql.Conn }

var (
	_ gorm.ConnPool    = (*txPool)(nil)
	_ gorm.TxCommitter = (*txPool)(nil)
)

func (p *txPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.conn.PrepareContext(ctx, query)
}

func (p *txPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.conn.ExecContext(ctx, query, args...)
}

func (p *txPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.conn.QueryContext(ctx, query, args...)
}

func (p *txPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.conn.QueryRowContext(ctx, query, args...)
}

func (p *txPool) Commit() error   { return errTxOwned }
func (p *txPool) Rollback() error { return errTxOwned }

// WithinTx runs fn in a transaction on a connection of its own from the
// primary, and commits when fn returns nil (see ports.Transactor). fn's
// error is returned as it is; a panic rolls back and goes on. Nested, it
// takes a savepoint.
//
// BEGIN, COMMIT and ROLLBACK are statements on that connection, bounded by
// ctx: when ctx ends while one is in flight, the driver closes the
// connection (the server then rolls back whatever was not committed). A
// COMMIT that was sent and whose answer did not come (ctx ended, the
// connection broke) is ErrUnavailable wrapping ports.ErrOutcomeUnknown:
// the transaction may have committed. A ctx that ended before COMMIT was
// sent is ErrUnavailable wrapping ctx's error, and nothing was committed.
// After Close the transaction cannot commit: WithinTx rolls back and
// returns ErrClosed (Close waits for it until its own ctx ends).
func (d *DB) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, sp := d.tx.Start(ctx, obs.OpWithinTx)
	defer sp.EndPanic() // a no-op once End has run
	err := d.doWithinTx(ctx, fn)
	sp.End(err)
	return err
}

func (d *DB) doWithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	const op = "transaction"
	release, err := d.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if fn == nil {
		return d.Invalid(op, errNilFunc)
	}
	if st := d.txOf(ctx); st != nil {
		return d.savepoint(ctx, st, fn)
	}

	conn, err := d.primary.Conn(ctx)
	if err != nil {
		return d.Wrap(ctx, "begin", err)
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
		discard(conn)
		return d.Wrap(ctx, "begin", err)
	}
	st := &txState{owner: d, conn: conn}
	st.g = d.g.Session(&gorm.Session{NewDB: true, Context: ctx})
	st.g.Statement.ConnPool = &txPool{conn: conn}

	ended := false
	defer func() {
		st.done.Store(true)
		if !ended { // fn panicked
			d.rollback(ctx, st)
		}
	}()
	fnErr := fn(context.WithValue(ctx, txKey{}, st))
	ended = true
	st.done.Store(true)
	switch {
	case fnErr != nil:
		d.rollback(ctx, st)
		return fnErr
	case d.gate.Closed():
		d.rollback(ctx, st)
		return d.class.Closed("commit")
	case ctx.Err() != nil:
		// COMMIT was not sent: closing the connection rolls back.
		discard(conn)
		return d.Wrap(ctx, "commit", ctx.Err())
	case st.broken.Load():
		discard(conn)
		return ports.NewError(d.backend, "commit", ports.ErrUnavailable, errSavepointLost)
	}
	if cc, ok := d.dialect.(CommitChecker); ok {
		if err := cc.CheckCommit(st.conn); err != nil {
			d.rollback(ctx, st)
			return d.Wrap(ctx, "commit", err)
		}
	}
	return d.commit(ctx, st)
}

// commit sends COMMIT on st's connection within ctx.
func (d *DB) commit(ctx context.Context, st *txState) error {
	const op = "commit"
	_, err := st.conn.ExecContext(ctx, "COMMIT")
	if err == nil {
		_ = st.conn.Close() // back to the pool
		return nil
	}
	discard(st.conn)
	switch {
	case ctx.Err() != nil:
		// The driver closed the connection when ctx ended: COMMIT may
		// have reached the server, and its answer was lost.
		return d.class.OutcomeUnknown(op, errors.Join(ctx.Err(), err))
	case errors.Is(err, driver.ErrBadConn):
		// The driver reports ErrBadConn only when nothing was sent: the
		// server rolls back when the connection closes.
		return d.Wrap(ctx, op, err)
	case d.class.ServerReply != nil && d.class.ServerReply(err):
		// The server answered: it did not commit.
		return d.Wrap(ctx, op, err)
	}
	// The connection broke after COMMIT was sent.
	return d.class.OutcomeUnknown(op, err)
}

// rollback ends st without committing: ROLLBACK within ctx, or, when ctx
// has ended or ROLLBACK fails, closing the connection (the server rolls
// back a transaction whose connection closes).
func (d *DB) rollback(ctx context.Context, st *txState) {
	if ctx.Err() == nil {
		if _, err := st.conn.ExecContext(ctx, "ROLLBACK"); err == nil {
			_ = st.conn.Close()
			return
		}
	}
	discard(st.conn)
}

// discard closes conn's driver connection instead of returning it to the
// pool: its session may still hold a transaction.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// savepoint runs fn inside st at a new savepoint: fn's error (or panic)
// rolls back to it, success releases it.
func (d *DB) savepoint(ctx context.Context, st *txState, fn func(context.Context) error) error {
	name := fmt.Sprintf("portkit_sp%d", st.depth.Add(1))
	if _, err := st.conn.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return d.Wrap(ctx, "savepoint", err)
	}
	undo := func() {
		if ctx.Err() != nil {
			st.broken.Store(true)
			return
		}
		if _, err := st.conn.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			// The inner work could not be undone: the outer transaction
			// must not commit it.
			st.broken.Store(true)
		}
	}
	ended := false
	defer func() {
		if !ended { // fn panicked
			undo()
		}
	}()
	err := fn(ctx)
	ended = true
	if err != nil {
		undo()
		return err
	}
	if _, err := st.conn.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return d.Wrap(ctx, "release savepoint", err)
	}
	return nil
}
