package mongo

import (
	"context"
	"errors"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// txKey marks a context that is inside a WithinTx of a Store; its value
// is the *txState of that transaction.
type txKey struct{ s *Store }

// txState tells whether the transaction of a context is still running.
type txState struct{ ended atomic.Bool }

// WithinTx runs fn in a multi-document transaction: every DocStore call of
// this Store made with the context fn receives (or one derived from it)
// takes part in it. It commits when fn returns nil, aborts when fn returns
// an error (which WithinTx returns) or panics (WithinTx aborts, then
// re-panics). A WithinTx inside another joins the outer transaction:
// MongoDB has no savepoints, so an inner error aborts the whole
// transaction once the outer fn returns it.
//
// The commit is bounded by ctx. When ctx ends, or the connection is lost,
// while it is in flight, or the server answers with the
// UnknownTransactionCommitResult label, the outcome is unknown: WithinTx
// returns ErrUnavailable wrapping ports.ErrOutcomeUnknown.
//
// The server must be a replica set member or a mongos
// (SupportsTransactions); otherwise WithinTx returns an error wrapping
// ports.ErrInvalid and ErrNoTransactions without calling fn.
func (s *Store) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, sp := s.tx.Start(ctx, obs.OpWithinTx)
	defer sp.EndPanic() // fn panicked: WithinTx re-panics; a no-op once End has run
	err := s.doWithinTx(ctx, fn)
	sp.End(err)
	return err
}

func (s *Store) doWithinTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	const op = "transaction"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	if fn == nil {
		return invalidErr(op, errors.New("nil function"))
	}
	if s.InTx(ctx) {
		return fn(ctx)
	}
	if !s.transactions {
		return ports.NewError(backend, op, ports.ErrInvalid, ErrNoTransactions)
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return wrapErr("start session", err, s.isClosed())
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	if err := sess.StartTransaction(); err != nil {
		return wrapErr("start transaction", err, s.isClosed())
	}
	st := &txState{}
	defer st.ended.Store(true)
	txCtx := context.WithValue(mongo.NewSessionContext(ctx, sess), txKey{s}, st)

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
			s.log.WarnContext(ctx, "mongo: abort transaction failed", "error", redactErr(aerr))
		}
		return ferr
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		var le mongo.LabeledError
		unknown := ctx.Err() != nil || mongo.IsNetworkError(err) || mongo.IsTimeout(err) ||
			(errors.As(err, &le) && le.HasErrorLabel(driverUnknownCommitLabel))
		if unknown && !s.isClosed() {
			return classifier.OutcomeUnknown("commit transaction", redactErr(err))
		}
		_ = sess.AbortTransaction(context.WithoutCancel(ctx))
		return wrapErr("commit transaction", err, s.isClosed())
	}
	return nil
}

// driverUnknownCommitLabel is the label the server and the driver put on
// a commit whose result is unknown.
const driverUnknownCommitLabel = "UnknownTransactionCommitResult"

// InTx reports whether ctx carries a running transaction of s (one that
// DocStore calls made with ctx take part in).
func (s *Store) InTx(ctx context.Context) bool {
	if ctx == nil {
		return false
	}
	st, _ := ctx.Value(txKey{s}).(*txState)
	return st != nil && !st.ended.Load()
}
