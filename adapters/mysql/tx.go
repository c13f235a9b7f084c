package mysql

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"
)

// txKey is the context key of the transaction of WithinTx.
type txKey struct{}

// txState is what WithinTx puts in the context: the DB it belongs to, so
// that a context carrying one DB's transaction does not leak into another.
type txState struct {
	owner *DB
	tx    *gorm.DB
}

// primaryKey is the context key of ReadFromPrimary.
type primaryKey struct{}

// ReadFromPrimary returns a context whose reads go to the primary even
// when replicas are configured: for a read that must see the caller's own
// latest write. Reads inside WithinTx use the primary anyway.
func ReadFromPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey{}, true)
}

// Conn returns the *gorm.DB that store calls made with ctx use: the
// transaction of WithinTx when ctx carries one of d's, else d's pool. It
// lets code written against gorm directly take part in a transaction.
func (d *DB) Conn(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.owner == d {
		return st.tx.WithContext(ctx)
	}
	g := d.gorm.WithContext(ctx)
	if len(d.replicas) > 0 && ctx.Value(primaryKey{}) != nil {
		g = g.Clauses(dbresolver.Write)
	}
	return g
}

// WithinTx runs fn in a transaction on the primary and commits when fn
// returns nil. It rolls back when fn returns an error, which it returns as
// it is, or panics, which it re-raises after the rollback. Every store call
// made with the context handed to fn (or one derived from it) runs in the
// transaction. A WithinTx inside another uses a savepoint: its rollback
// undoes only its own work, and the outer transaction goes on.
//
// Errors of the transaction itself (begin, savepoint, commit) wrap the port
// sentinels like every other error of the package; ports.ErrClosed after
// Close.
func (d *DB) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if d.closed.Load() {
		return errClosed("transaction")
	}
	if fn == nil {
		return errInvalid("transaction", errNilFunc)
	}
	var fnErr error
	called := false
	err := d.Conn(ctx).Transaction(func(tx *gorm.DB) error {
		called = true
		fnErr = fn(context.WithValue(ctx, txKey{}, &txState{owner: d, tx: tx}))
		return fnErr
	})
	if err == nil || (called && err == fnErr) {
		return err
	}
	if !called {
		return wrap("begin", err)
	}
	return wrap("commit", err)
}
