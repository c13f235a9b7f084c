package postgres

import (
	"context"

	"gorm.io/gorm"
)

// Conn returns the *gorm.DB that store calls made with ctx use: the
// transaction of WithinTx when ctx carries one of d's, else d's pool. It
// lets code written against gorm directly take part in a transaction
// (gorm's own Commit and Rollback refuse inside it: WithinTx ends the
// transaction; a gorm Transaction inside it takes a savepoint).
func (d *DB) Conn(ctx context.Context) *gorm.DB { return d.core.Conn(ctx) }

// WithinTx runs fn in a transaction and commits when fn returns nil (see
// ports.Transactor). It rolls back when fn returns an error, which it
// returns as it is, or panics, which goes on after the rollback. Every
// store call made with the context handed to fn (or one derived from it)
// runs in the transaction. A WithinTx inside another uses a savepoint:
// its rollback undoes only its own work.
//
// The transaction holds one connection of its own, on which BEGIN,
// COMMIT and ROLLBACK are statements bounded by ctx: when ctx ends while
// one is in flight, pgx closes the connection (and the server rolls back
// what was not committed). When ctx ends, or the connection breaks, after
// COMMIT was sent and before its answer came, WithinTx returns
// ports.ErrUnavailable wrapping ports.ErrOutcomeUnknown and the context's
// error: the transaction may have committed. When ctx has ended before
// COMMIT (inside fn, say), nothing is committed and the error is
// ports.ErrUnavailable wrapping the context's error.
//
// PostgreSQL aborts a transaction at its first failed statement: every
// later statement of it fails (SQLSTATE 25P02, ErrInvalid) until it ends,
// and a COMMIT would only roll it back. So when fn returns nil from an
// aborted transaction, WithinTx rolls back and returns ports.ErrInvalid
// (nothing was committed) rather than report a commit that did not
// happen. To go on after a statement that may fail, run it in a nested
// WithinTx: the failure then rolls back its savepoint only.
//
// After Close a running transaction cannot commit: WithinTx rolls it back
// and returns ports.ErrClosed (and every store call in it returns
// ports.ErrClosed); Close waits for it until Close's own ctx ends.
func (d *DB) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return d.core.WithinTx(ctx, fn)
}

// InTx reports whether ctx carries a running transaction of d.
func (d *DB) InTx(ctx context.Context) bool { return d.core.InTx(ctx) }
