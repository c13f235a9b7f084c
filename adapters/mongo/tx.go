package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/portkit/portkit/ports"
)

// txKey marks a context that is inside a WithinTx of a Store.
type txKey struct{ s *Store }

// WithinTx runs fn in a multi-document transaction: every DocStore call of
// this Store made with the context fn receives (or one derived from it)
// takes part in it. It commits when fn returns nil, aborts when fn returns
// an error (which WithinTx returns) or panics (WithinTx aborts, then
// re-panics). A WithinTx inside another joins the outer transaction:
// MongoDB has no savepoints, so an inner error aborts the whole
// transaction once the outer fn returns it.
//
// The server must be a replica set member or a mongos
// (SupportsTransactions); otherwise WithinTx returns an error wrapping
// ports.ErrInvalid and ErrNoTransactions without calling fn.
func (s *Store) WithinTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	const op = "transaction"
	if s.isClosed() {
		return closedErr(op)
	}
	if ctx.Value(txKey{s}) != nil {
		return fn(ctx)
	}
	if !s.transactions {
		return ports.NewError(backend, op, ports.ErrInvalid, ErrNoTransactions)
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return wrapErr("start session", err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	if err := sess.StartTransaction(); err != nil {
		return wrapErr("start transaction", err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	txCtx := context.WithValue(sctx, txKey{s}, true)

	done := false
	defer func() {
		if !done {
			// fn panicked: abort, then let the panic go on.
			_ = sess.AbortTransaction(context.WithoutCancel(ctx))
		}
	}()
	ferr := fn(txCtx)
	done = true
	if ferr != nil {
		if aerr := sess.AbortTransaction(context.WithoutCancel(ctx)); aerr != nil {
			s.log.WarnContext(ctx, "mongo: abort transaction failed", "error", aerr)
		}
		return ferr
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		_ = sess.AbortTransaction(context.WithoutCancel(ctx))
		return wrapErr("commit transaction", err)
	}
	return nil
}
