// Package gormstoretest is the test kit shared by the own tests of the
// SQL adapters over internal/gormstore (adapters/mysql and
// adapters/postgres): the test bodies both ran word for word, written
// once here and parameterised by an Env that says what differs (how to
// open the adapter's DB and its stores, how the dialect quotes a table
// name).
//
// Each exported test function is called by a thin TestX wrapper of the
// same name in each adapter, so that `go test -run TestX` selects it as
// before. Tests of one dialect's behaviour stay in its adapter. The
// package imports "testing" and is meant for tests only: no non-test code
// may import it.
package gormstoretest

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// DB is what the kit uses of an adapter's DB.
type DB interface {
	ports.Transactor
	// DB returns the underlying gorm handle, for statements run around
	// the store (a concurrent change of a column, say).
	DB() *gorm.DB
	// Conn returns the gorm handle of ctx's transaction, or of the pool.
	Conn(ctx context.Context) *gorm.DB
	// Check reports whether the server answers.
	Check(ctx context.Context) error
	// Close closes the DB.
	Close(ctx context.Context) error
}

// Store is what the kit uses of an adapter's Store.
type Store[T any] interface {
	ports.SQLStore[T]
	// Migrate creates the store's table when it is missing.
	Migrate(ctx context.Context) error
	// Table returns the store's table name.
	Table() string
}

// Order is a model with a ports.Version field, CreatedAt and UpdatedAt.
type Order struct {
	ID        int64
	Status    string `gorm:"size:16"`
	Attempts  int
	Total     float64
	Note      *string `gorm:"size:32"`
	Version   ports.Version
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Env is what differs between the adapters the kit tests.
type Env struct {
	// Open opens the adapter's test database on a pool of its own,
	// closed at cleanup (a missing server is a skip, as the adapter's
	// tests decide).
	Open func(t testing.TB) DB
	// Orders returns a migrated store of Order on a fresh table of db,
	// dropped at cleanup.
	Orders func(t testing.TB, db DB) Store[Order]
	// Items returns a migrated store of portstest.Item on a fresh table
	// of db, dropped at cleanup.
	Items func(t testing.TB, db DB) Store[portstest.Item]
	// StampedRows, DefaultRows and CounterRows return a migrated store
	// of their model on a fresh table of db, dropped at cleanup.
	StampedRows func(t testing.TB, db DB) Store[StampedRow]
	DefaultRows func(t testing.TB, db DB) Store[DefaultRow]
	CounterRows func(t testing.TB, db DB) Store[CounterRow]
	// ItemsOn returns a store of portstest.Item on db's existing table
	// (another pool's view of a store's table).
	ItemsOn func(t testing.TB, db DB, table string) Store[portstest.Item]
	// ViaProxy opens the test database through a fault proxy of its own,
	// and a store on a fresh table; direct is a store of the same table
	// reached without the proxy, to see what the server holds.
	ViaProxy func(t *testing.T) (db DB, s, direct Store[portstest.Item], p *faults.Proxy)
	// IsDeadlock reports whether the server's deadlock error is reachable
	// in err (errors.As), and DeadlockCause names it in failures.
	IsDeadlock    func(err error) bool
	DeadlockCause string
	// Closed reports whether Close has begun on db (the adapter's
	// internal gate).
	Closed func(db DB) bool
	// Wrap is the adapter's error wrapping of err, from operation op on
	// db (its internal gate), as every method applies it.
	Wrap func(ctx context.Context, db DB, op string, err error) error
	// SleepSQL is a statement that sleeps 5 seconds on the server.
	SleepSQL string
	// QuoteIdent quotes a table or column name for the dialect.
	QuoteIdent func(name string) string
	// Core returns the shared store machinery under db.
	Core func(db DB) *gormstore.DB
	// InsertPlan is whether CreateMany of a plain model goes through the
	// store's insert plan on this dialect (one with RETURNING).
	InsertPlan bool
}
