// Package mongostore is the document store machinery of the mongo
// adapter: the generic DocStore over one database, its error classifier
// and its index creation. The adapter (adapters/mongo) wraps it with its
// Store, configuration and documentation; package open builds typed
// stores on it from a mongodb:// handle without importing the adapter, as
// it does with internal/gormstore for the SQL adapters.
package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
)

// DB is one database of a connected client, with the closed-state gate
// its stores share: the mongo adapter's Store holds one.
type DB struct {
	// Database is the driver's database handle.
	Database *mongo.Database
	// Ferret is true on FerretDB, whose findAndModify takes no projection.
	Ferret bool
	// Instr, when set, returns the instrumentation of the DocStore of a
	// collection (the adapter's tracer and meter providers); nil: the
	// global providers, as the adapter names its backend.
	Instr func(collection string) *obs.Instr

	gate gate.Gate
}

// instr returns the instrumentation of the DocStore of collection.
func (db *DB) instr(collection string) *obs.Instr {
	if db.Instr != nil {
		return db.Instr(collection)
	}
	return obs.New(obs.Backend{Port: obs.PortDoc, Name: "mongo", Collection: collection}, obs.Settings{})
}

// NewDB returns the DB of database, on FerretDB when ferret is true.
func NewDB(database *mongo.Database, ferret bool) *DB {
	return &DB{Database: database, Ferret: ferret}
}

// Enter applies the entry checks of a call of op (ErrClosed, then a nil
// ctx, then a done ctx).
func (d *DB) Enter(ctx context.Context, op string) error {
	return d.gate.Check(ctx, backend, op)
}

// Closed reports whether Close has been called.
func (d *DB) Closed() bool { return d.gate.Closed() }

// Close marks the DB closed; it returns false when it already was.
func (d *DB) Close() bool { return d.gate.Close() }
