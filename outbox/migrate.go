package outbox

import (
	"context"
	"fmt"
)

// Migrator is a store that creates its own table: the stores of the MySQL
// and PostgreSQL adapters are (Store.Migrate); the fakes' need no table.
type Migrator interface {
	Migrate(ctx context.Context) error
}

// Migrate sets up an outbox: it creates the tables of cfg.Rows, cfg.Leases
// and, when set, cfg.Sent, through each store's own Migrate (when the store
// is a [Migrator]), then seeds the coordination table with cfg.Partitions
// partition leases ([Seed]). It is idempotent: run it at every start-up,
// or once from a migration step. The tables' names are the stores':
// "outbox", "outbox_leases" and "outbox_sent" unless the adapter's table
// option says otherwise.
//
//	rows, _ := mysql.NewStore[outbox.Row](db)
//	leases, _ := mysql.NewStore[outbox.Lease](db)
//	err := outbox.Migrate(ctx, outbox.RelayConfig{Config: outbox.Config{Tx: db, Rows: rows}, Leases: leases})
func Migrate(ctx context.Context, cfg RelayConfig) error {
	cfg.Config = cfg.Config.withDefaults()
	switch {
	case cfg.Rows == nil:
		return invalid("migrate", "Rows is required")
	case cfg.Leases == nil:
		return invalid("migrate", "Leases is required")
	case cfg.Partitions < 1 || cfg.Partitions > MaxPartitions:
		return invalid("migrate", "Partitions %d is outside 1..%d", cfg.Partitions, MaxPartitions)
	}
	stores := []any{cfg.Rows, cfg.Leases}
	if cfg.Sent != nil {
		stores = append(stores, cfg.Sent)
	}
	for _, s := range stores {
		if m, ok := s.(Migrator); ok {
			if err := m.Migrate(ctx); err != nil {
				return fmt.Errorf("outbox: migrate: %w", err)
			}
		}
	}
	return Seed(ctx, cfg.Leases, cfg.Partitions)
}
