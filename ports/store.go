package ports

import "context"

// SQLStore is a repository of one entity type T over a relational table.
//
// T is a struct. Its primary key is the field tagged `gorm:"primaryKey"`,
// or else the field named ID; an integer key left zero is assigned by the
// store on Create. Queries name T's Go field names.
//
// Calls made with a context returned inside Transactor.WithinTx run in that
// transaction.
type SQLStore[T any] interface {
	// Create inserts e and fills in a generated primary key. It returns
	// ErrConflict when the key or a unique index already holds the value.
	Create(ctx context.Context, e *T) error

	// CreateMany inserts all of es in batches: one round trip per batch,
	// not per row. It returns ErrConflict on a duplicate key. An empty
	// slice is a no-op.
	CreateMany(ctx context.Context, es []*T) error

	// Get returns the entity with the given primary key, or ErrNotFound.
	Get(ctx context.Context, id any) (*T, error)

	// Find returns the entities matching q, in q's order (primary key order
	// when q has none). It returns ErrInvalid when q names a field T does
	// not have or compares a field with a value of the wrong type.
	Find(ctx context.Context, q Query) ([]T, error)

	// Count returns how many entities match q's conditions; q's order,
	// limit and offset are ignored.
	Count(ctx context.Context, q Query) (int64, error)

	// Update replaces the stored entity that has e's primary key with e.
	// It returns ErrNotFound when no entity has that key.
	Update(ctx context.Context, e *T) error

	// Delete removes the entity with the given primary key, or returns
	// ErrNotFound.
	Delete(ctx context.Context, id any) error
}

// Transactor runs a function inside a transaction. The transaction travels
// in the context handed to fn: every store call made with that context (or
// one derived from it) takes part in it.
type Transactor interface {
	// WithinTx begins a transaction, calls fn, and commits when fn returns
	// nil. It rolls back when fn returns an error (which WithinTx returns)
	// or panics (WithinTx rolls back, then re-panics). A WithinTx inside
	// another uses a savepoint: its rollback undoes only its own work.
	WithinTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// DocStore is a repository of one document type T in a collection.
//
// T embeds [Document] (with the tag `bson:",inline"`) so that *T
// implements [DocumentModel]; the type parameter constraint of every
// constructor ([DocModel]) checks this at compile time. IDs are strings at
// the port; Insert assigns one when the document has none. Queries name T's
// Go field names, with dots for nested struct fields ("Address.City").
type DocStore[T any] interface {
	// Insert stores d, assigning an ID when d has none and setting its
	// created and updated times. It returns ErrConflict when the ID or a
	// unique index already holds the value.
	Insert(ctx context.Context, d *T) error

	// InsertMany stores all of ds in one call (one round trip per batch).
	// It returns ErrConflict on a duplicate. An empty slice is a no-op.
	InsertMany(ctx context.Context, ds []*T) error

	// Get returns the document with the given ID, or ErrNotFound (also for
	// an ID that is malformed for the backend).
	Get(ctx context.Context, id string) (*T, error)

	// Find returns the documents matching q, in q's order (ID order when q
	// has none). It returns ErrInvalid for a field T does not have.
	Find(ctx context.Context, q Query) ([]T, error)

	// Count returns how many documents match q's conditions.
	Count(ctx context.Context, q Query) (int64, error)

	// Update replaces the document that has d's ID with d, keeping its
	// created time and setting its updated time, or returns ErrNotFound.
	Update(ctx context.Context, d *T) error

	// Delete removes the document with the given ID, or returns ErrNotFound.
	Delete(ctx context.Context, id string) error
}
