package postgres

import (
	"context"
	"errors"
	"iter"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/ports"
)

// DefaultBatchSize is the most rows CreateMany sends per INSERT.
const DefaultBatchSize = gormstore.DefaultBatchSize

// Store is the ports.SQLStore of entity type T over one table. Create it
// with NewStore; it is safe for concurrent use. Its rules are the port's
// (see ports.SQLStore); what follows is how PostgreSQL keeps them.
//
// T is a gorm model with a single primary key (the field tagged
// `gorm:"primaryKey"`, or else the field named ID). Queries and patches
// name T's Go fields; each is mapped to its column through gorm's schema
// of T, and a field without a column is ErrInvalid.
//
// Update, Patch and Delete report ErrNotFound from the row count of the
// statement (PostgreSQL counts the rows matched, changed or not). A
// model with a ports.Version field has
// its version checked in the UPDATE's WHERE; a write that matched no row
// then reads whether the row exists, to tell ErrConflict from
// ErrNotFound.
//
// Reads (Get, Find, Stream, FindPage) scan rows straight into T's fields
// with the store's own decoders (built once from gorm's schema, with
// gorm's conversions: NULL into a non-pointer field is its zero value, a
// numeric into a float); fields with a serializer or a type of their own go through
// gorm's setter or their Scan method. Get runs a statement gorm built
// once and skips gorm's query callbacks (see WithQueryCallbacks); Find,
// Stream and FindPage go through gorm's row callbacks.
//
// CreateMany of a plain model (no hooks, associations or serializers,
// no database default but the generated key, fields whose values gorm
// sends as they are) builds its INSERT … RETURNING once per batch size,
// checked at NewStore to be the statement gorm's Create builds, gives
// each row the defaults and time stamps gorm gives it, and runs on pgx's
// own connection (prepared there once for each of its first 8 batch
// sizes, the parameters encoded by pgx into a buffer kept between calls;
// other sizes, and an exec mode other than pgx's default, through pgx's
// Conn.Query and its statement cache), skipping gorm's create callbacks (see
// WithCreateCallbacks; NewStore's two dry runs of gorm's Create, with
// DryRun set, do reach them). Other models go through gorm's Create.
type Store[T any] struct {
	s *gormstore.Store[T]
}

var _ ports.SQLStore[struct{ ID int64 }] = (*Store[struct{ ID int64 }])(nil)

// StoreOption configures NewStore.
type StoreOption func(*gormstore.Options)

// WithTable stores the entities in table name instead of the table gorm
// names after T (plural snake case, or T's TableName method). name is an
// identifier, optionally "database.table".
func WithTable(name string) StoreOption {
	return func(o *gormstore.Options) { o.Table = name }
}

// WithBatchSize sets the most rows per INSERT of CreateMany (default
// DefaultBatchSize). CreateMany sends fewer when a statement would carry
// more than 65,535 parameters (PostgreSQL's limit) or more than
// sqlrules.MaxStatementBytes of strings and bytes.
func WithBatchSize(n int) StoreOption {
	return func(o *gormstore.Options) {
		o.BatchSize = n
		if n == 0 {
			o.BatchSize = -1 // 0 is not a batch size; NewStore says so
		}
	}
}

// WithQueryCallbacks sends Get through gorm's query callbacks, like
// Find, for plugins registered on DB().Callback().Query() (tracing, say).
// By default Get runs a statement gorm built once and skips the
// callbacks, which saves some µs per call.
func WithQueryCallbacks() StoreOption {
	return func(o *gormstore.Options) { o.QueryCallbacks = true }
}

// WithCreateCallbacks sends every batch of CreateMany through gorm's
// create callbacks, for plugins registered on DB().Callback().Create().
// By default CreateMany of a plain model runs a statement built once per
// batch size on pgx's own connection (see Store), which takes about a
// third off the client's time of a 1000-row insert.
func WithCreateCallbacks() StoreOption {
	return func(o *gormstore.Options) { o.CreateCallbacks = true }
}

// NewStore returns the store of T in db. It returns an error wrapping
// ports.ErrInvalid when gorm cannot parse T, when T has no primary key or
// a composite one, two ports.Version fields, or for a bad option.
func NewStore[T any](db *DB, opts ...StoreOption) (*Store[T], error) {
	if db == nil {
		return nil, errInvalid("new store", errors.New("nil DB"))
	}
	var o gormstore.Options
	for _, opt := range opts {
		opt(&o)
	}
	s, err := gormstore.NewStore[T](db.core, o)
	if err != nil {
		return nil, err
	}
	return &Store[T]{s: s}, nil
}

// Table returns the table of the store.
func (s *Store[T]) Table() string { return s.s.Table() }

// Migrate creates the table of T, with gorm's PostgreSQL column types
// (timestamptz, microseconds, for times; bigserial for an integer key)
// and COLLATE "C" on every text column (Collation), or, when the table
// exists, only adds its missing columns and indexes: it never changes an
// existing column or index, and returns ErrConflict naming each one that
// differs from the model (type, size, precision, nullability, default,
// uniqueness), changing nothing. The collation of an existing column is
// not compared: a table created by another tool keeps its own. It runs
// outside any transaction of ctx.
func (s *Store[T]) Migrate(ctx context.Context) error { return s.s.Migrate(ctx) }

// Create inserts e and fills in its generated primary key, CreatedAt,
// UpdatedAt, gorm defaults and version (1). It returns ErrConflict when
// the key or a unique index already holds the value. A failed Create
// leaves e as it was.
func (s *Store[T]) Create(ctx context.Context, e *T) error { return s.s.Create(ctx, e) }

// CreateMany inserts es with multi-row INSERTs … RETURNING the generated
// keys, all or none (more than one statement runs in a transaction, a
// savepoint inside WithinTx). An explicit key does not move the key's
// sequence (PostgreSQL's rule): a later generated key may collide with
// it, as ErrConflict. An empty slice is a no-op; a nil element is
// ErrInvalid. A failure leaves every entity as it was.
func (s *Store[T]) CreateMany(ctx context.Context, es []*T) error { return s.s.CreateMany(ctx, es) }

// Get returns the entity with primary key id, or ErrNotFound. An id of
// another type class than the key (a string for an integer key, say) is
// ErrInvalid.
func (s *Store[T]) Get(ctx context.Context, id any) (*T, error) { return s.s.Get(ctx, id) }

// Find returns the entities matching q, in q's order and then primary key
// order. It returns ErrInvalid when q names a field T does not have (or
// that has no column), or compares a field with a value of another type.
func (s *Store[T]) Find(ctx context.Context, q ports.Query) ([]T, error) { return s.s.Find(ctx, q) }

// Stream returns the entities matching q one at a time, in Find's order,
// reading from the driver's row cursor: memory stays constant whatever
// the size of the result. It checks ctx between rows and yields an error
// once, last. Inside WithinTx it reads in the transaction and holds its
// connection until the loop ends, so finish (or break out of) the loop
// before the transaction's next statement. Close waits for a running
// stream. Breaking out of the loop early aborts the query (outside a
// transaction, its connection is closed rather than read to the end).
func (s *Store[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return s.s.Stream(ctx, q)
}

// FindPage returns the keyset page of at most q.LimitN() entities after
// cursor ("" for the first page) and the next page's cursor ("" after the
// last): one SELECT of "after the cursor's row" in q's order, then
// primary key order, so that page 1000 costs what page 1 does (with an
// index on the sort keys). A cursor not made by FindPage with the same
// q's conditions and order is ErrInvalid.
func (s *Store[T]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	return s.s.FindPage(ctx, q, cursor)
}

// Count returns how many entities match q's conditions; q's order, limit
// and offset are ignored (but checked).
func (s *Store[T]) Count(ctx context.Context, q ports.Query) (int64, error) { return s.s.Count(ctx, q) }

// Update writes every column of e but the primary key and CreatedAt to the
// row with e's primary key, and sets UpdatedAt (and, for a versioned
// model, the version + 1: "WHERE id = ? AND version = ?"). It returns
// ErrNotFound when no row has that key, ErrConflict when a unique index
// already holds a new value or the stored version is not e's. A failure
// leaves e as it was.
func (s *Store[T]) Update(ctx context.Context, e *T) error { return s.s.Update(ctx, e) }

// Patch applies p to the row with primary key id in one UPDATE (Set
// assigns, Inc adds in the server, a NULL counting as 0), sets UpdatedAt
// and increments the version. It returns ErrNotFound when no row has that
// key, and ErrConflict when p has IfVersion and the stored version
// differs.
func (s *Store[T]) Patch(ctx context.Context, id any, p ports.Patch) error {
	return s.s.Patch(ctx, id, p)
}

// Upsert inserts e or replaces the row with e's primary key (CreatedAt
// kept) in one INSERT … ON CONFLICT (key) DO UPDATE … RETURNING, which
// hands back the stored version and CreatedAt; a unique value of another
// row is ErrConflict and changes nothing. With a non-zero version it is
// Update. e's primary key must be set.
func (s *Store[T]) Upsert(ctx context.Context, e *T) error { return s.s.Upsert(ctx, e) }

// Delete removes the entity with primary key id, or returns ErrNotFound.
// A model with gorm.DeletedAt is soft-deleted, as gorm does.
func (s *Store[T]) Delete(ctx context.Context, id any) error { return s.s.Delete(ctx, id) }

// DeleteIfVersion removes the entity with primary key id if its stored
// version is v: ErrConflict when it is another, ErrNotFound when there is
// none, ErrInvalid when T has no ports.Version field.
func (s *Store[T]) DeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	return s.s.DeleteIfVersion(ctx, id, v)
}

// DeleteWhere removes every entity matching q's conditions (at least one;
// no order, limit or offset) in one DELETE and returns how many it
// removed.
func (s *Store[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	return s.s.DeleteWhere(ctx, q)
}
