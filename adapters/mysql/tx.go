package mysql

import (
	"context"

	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/gormstore"
)

// ReadFromPrimary returns a context whose reads go to the primary even
// when replicas are configured: for a read that must see the caller's own
// latest write. Reads inside WithinTx use the primary anyway.
func ReadFromPrimary(ctx context.Context) context.Context {
	return gormstore.ReadFromPrimary(ctx)
}

// Conn returns the *gorm.DB that store calls made with ctx use: the
// transaction of WithinTx when ctx carries one of d's, else d's pool. It
// lets code written against gorm directly take part in a transaction
// (gorm's own Commit and Rollback refuse inside it: WithinTx ends the
// transaction; a gorm Transaction inside it takes a savepoint).
func (d *DB) Conn(ctx context.Context) *gorm.DB { return d.core.Conn(ctx) }

// WithinTx runs fn in a transaction on the primary and commits when fn
// returns nil (see ports.Transactor). It rolls back when fn returns an
// error, which it returns as it is, or panics, which goes on after the
// rollback. Every store call made with the context handed to fn (or one
// derived from it) runs in the transaction. A WithinTx inside another
// uses a savepoint: its rollback undoes only its own work.
//
// The transaction holds one connection of its own, on which BEGIN,
// COMMIT and ROLLBACK are statements bounded by ctx: when ctx ends while
// one is in flight, the connection is closed (and the server rolls back
// what was not committed). When ctx ends, or the connection breaks, after
// COMMIT was sent and before its answer came, WithinTx returns
// ports.ErrUnavailable wrapping ports.ErrOutcomeUnknown and the context's
// error: the transaction may have committed. When ctx has ended before
// COMMIT (inside fn, say), nothing is committed and the error is
// ports.ErrUnavailable wrapping the context's error.
//
// After Close a running transaction cannot commit: WithinTx rolls it back
// and returns ports.ErrClosed (and every store call in it returns
// ports.ErrClosed); Close waits for it until Close's own ctx ends.
// Statements of a transaction are not prepared: their parameters are
// interpolated by the driver, with its escaping, in one round trip.
func (d *DB) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return d.core.WithinTx(ctx, fn)
}

// InTx reports whether ctx carries a running transaction of d.
func (d *DB) InTx(ctx context.Context) bool { return d.core.InTx(ctx) }
