package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portkit/portkit/ports"
)

// Processed is the row [DedupeTx] writes for each handled message, in the
// handler's own transaction. Create its table with the adapter's store
// Migrate (mysql.NewStore[messaging.Processed](db) makes a table
// "processed_messages"; pass the adapter's table option to name it
// otherwise), and prune it with [PruneProcessed].
type Processed struct {
	// Key is the consumer and the message's stable key:
	// Consumer + "/" + MessageKey(m).
	Key string `gorm:"primaryKey;size:255"`
	// CreatedAt is when the message was handled (set by the store).
	CreatedAt time.Time `gorm:"index"`
}

// TableName is the default table of Processed rows.
func (Processed) TableName() string { return "processed_messages" }

// DedupeTxConfig configures [DedupeTx].
type DedupeTxConfig struct {
	// Tx runs the transaction (required).
	Tx ports.Transactor
	// Store holds the Processed rows, in the database of Tx (required).
	Store ports.SQLStore[Processed]
	// Consumer names the consumer (required, at most 200 bytes).
	Consumer string
}

// errSeen marks, inside DedupeTx's transaction, a Processed row that
// already exists.
var errSeen = errors.New("messaging: message already handled")

// DedupeTx makes a handler's database effects exactly once: it runs the
// handler inside cfg.Tx.WithinTx, after inserting the message's Processed
// row (keyed by cfg.Consumer and [MessageKey]) in the same transaction.
// The handler must make its writes with the context it is given, so that
// they join that transaction. Then:
//
//   - a first delivery inserts the row, runs the handler and commits both:
//     the effects and the record land together, or neither does (a failing
//     handler rolls both back and the message is nacked);
//   - a duplicate (a redelivery, a second publication of the same message)
//     finds the row, rolls back without running the handler, and acks;
//   - two deliveries at once: the database's unique key makes the second
//     wait for the first, then see its row (or, if it rolled back, take
//     its place);
//   - a commit whose outcome is unknown (a connection cut during COMMIT)
//     nacks: the redelivery then finds the row if the commit happened.
//
// A duplicate key error is double-checked with a read outside the
// transaction, so that a deadlock (also ErrConflict) is never taken for a
// duplicate. A message without any key is handled in the transaction
// without a record.
func DedupeTx(cfg DedupeTxConfig) (Middleware, error) {
	switch {
	case cfg.Tx == nil:
		return nil, configError("dedupe tx", "Tx is required")
	case cfg.Store == nil:
		return nil, configError("dedupe tx", "Store is required")
	case cfg.Consumer == "" || len(cfg.Consumer) > 200:
		return nil, configError("dedupe tx", "Consumer must have 1 to 200 bytes, it has %d", len(cfg.Consumer))
	}
	return func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error {
			id := MessageKey(m)
			if id == "" {
				return cfg.Tx.WithinTx(ctx, func(ctx context.Context) error { return next(ctx, m) })
			}
			key := cfg.Consumer + "/" + id
			err := cfg.Tx.WithinTx(ctx, func(ctx context.Context) error {
				if err := cfg.Store.Create(ctx, &Processed{Key: key}); err != nil {
					if errors.Is(err, ports.ErrConflict) {
						return fmt.Errorf("%w: %w", errSeen, err)
					}
					return fmt.Errorf("messaging: dedupe tx: record: %w", err)
				}
				return next(ctx, m)
			})
			if errors.Is(err, errSeen) {
				if _, gerr := cfg.Store.Get(ctx, key); gerr == nil {
					return nil // a duplicate: handled already
				}
				return fmt.Errorf("messaging: dedupe tx: the record conflicted but is not there (a deadlock?): %w", err)
			}
			return err
		}
	}, nil
}

// PruneProcessed deletes the Processed rows older than olderThan (which
// must be longer than the longest redelivery horizon) and returns how many
// it deleted.
func PruneProcessed(ctx context.Context, store ports.SQLStore[Processed], olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, configError("prune processed", "olderThan %v must be positive", olderThan)
	}
	return store.DeleteWhere(ctx, ports.Where("CreatedAt", ports.Lt, time.Now().Add(-olderThan)))
}
