package ports

import (
	"context"
	"iter"
)

// SQLStore is a repository of one entity type T over a relational table.
//
// T is a struct with gorm tags. Its primary key is the field tagged
// `gorm:"primaryKey"`, or else the field named ID; an integer key left zero
// is assigned by the store on Create. Queries and patches name T's Go
// field names, never columns. Calls made with a context returned inside
// Transactor.WithinTx run in that transaction.
//
// # Rules every SQLStore follows
//
//   - Strings compare, sort and collide in unique indexes by the
//     collation of their column. Adapters create tables with a fixed,
//     documented collation (MySQL: utf8mb4_general_ci, case- and
//     accent-insensitive, trailing spaces ignored; PostgreSQL: "C",
//     bytewise) and the fake can be told which one to follow.
//   - NULL (a nil pointer) matches Eq nil; Ne nil matches every non-NULL
//     value; Ne with a value also matches NULL (as in Go and MongoDB); Lt,
//     Lte, Gt, Gte and In never match NULL. In sort order NULL comes first
//     ascending and last descending, on every backend. Only a nil pointer
//     is NULL: the zero value of any other field (0, "", false) is stored
//     as that value, which Eq matches and a unique index holds.
//   - Results come in the Query's order, then primary key order.
//   - Times are stored in UTC at the column's precision (MySQL
//     datetime(3): milliseconds, truncated; PostgreSQL: microseconds) and
//     read back in UTC.
//   - Values are checked before they are sent, with ErrInvalid, by the
//     portable rules (see the package's error table): invalid UTF-8, NaN or
//     ±Inf, a string longer than its column's size (gorm's `size:` in
//     characters), a time outside years 1..9999, an unsigned integer over
//     the column's range.
//   - A write that fails leaves the entity it was given as it was; a
//     write that succeeds fills in what the store set (generated key,
//     CreatedAt and UpdatedAt, defaults, the version).
//   - A model may opt in to optimistic concurrency with one field of type
//     [Version] (see its documentation).
type SQLStore[T any] interface {
	// Create inserts e and fills in a generated primary key. It returns
	// ErrConflict when the key or a unique index already holds the value.
	Create(ctx context.Context, e *T) error

	// CreateMany inserts all of es or none of them, in batches: one round
	// trip per batch, not per row. It returns ErrConflict on a duplicate
	// key. An empty slice is a no-op.
	CreateMany(ctx context.Context, es []*T) error

	// Get returns the entity with the given primary key, or ErrNotFound.
	Get(ctx context.Context, id any) (*T, error)

	// Find returns the entities matching q, in q's order (primary key order
	// when q has none). It returns ErrInvalid when q names a field T does
	// not have or compares a field with a value of the wrong type.
	Find(ctx context.Context, q Query) ([]T, error)

	// Stream returns the entities matching q one at a time, in Find's
	// order, reading from the backend's cursor so that memory stays
	// constant whatever the size of the result. It checks ctx between
	// rows; an error (ErrInvalid for a bad q, a lost connection, a done
	// ctx) is yielded once as the last pair. Inside WithinTx it reads in
	// the transaction. Stop early by breaking out of the loop.
	Stream(ctx context.Context, q Query) iter.Seq2[T, error]

	// FindPage returns the page of at most q.LimitN() entities (which must
	// be positive; q's offset must be 0) that follows cursor in q's order
	// ("" for the first page), and the cursor of the next page in
	// Page.Next ("" after the last). Pages are keyset pages: the cursor
	// holds the sort values and primary key of the last entity, so a page
	// costs the same wherever it is and rows written meanwhile shift
	// nothing. A cursor that was not made by FindPage with the same q's
	// conditions and order is ErrInvalid.
	FindPage(ctx context.Context, q Query, cursor string) (Page[T], error)

	// Count returns how many entities match q's conditions; q's order,
	// limit and offset are ignored.
	Count(ctx context.Context, q Query) (int64, error)

	// Update replaces the stored entity that has e's primary key with e
	// (every column but the primary key and CreatedAt). It returns
	// ErrNotFound when no entity has that key, and ErrConflict when T has
	// a Version field and the stored version is not e's.
	Update(ctx context.Context, e *T) error

	// Patch applies p to the entity with the given primary key, in one
	// atomic statement, and changes nothing else (UpdatedAt and the
	// version excepted). It returns ErrNotFound when no entity has that key,
	// ErrConflict when p has IfVersion and the stored version differs, and
	// ErrInvalid for a field T does not have, the primary key, the version
	// field, or a value of the wrong type.
	Patch(ctx context.Context, id any, p Patch) error

	// Upsert inserts e, or replaces the stored entity with e's primary key
	// (as Update does, CreatedAt kept). With a zero Version (or none) it
	// writes unconditionally; with a non-zero one the stored version must
	// be e's (ErrConflict otherwise, ErrNotFound when absent). e's primary
	// key must be set.
	Upsert(ctx context.Context, e *T) error

	// Delete removes the entity with the given primary key, or returns
	// ErrNotFound.
	Delete(ctx context.Context, id any) error

	// DeleteIfVersion removes the entity with the given primary key if its
	// stored version is v: ErrConflict when it is another, ErrNotFound when
	// there is none; ErrInvalid when T has no Version field.
	DeleteIfVersion(ctx context.Context, id any, v Version) error

	// DeleteWhere removes every entity matching q's conditions (at least
	// one; q's order, limit and offset must be unset) and returns how
	// many it removed.
	DeleteWhere(ctx context.Context, q Query) (int64, error)
}

// Page is one page of a keyset-paged query (SQLStore.FindPage,
// DocStore.FindPage).
type Page[T any] struct {
	// Items holds the page's entities, in the query's order.
	Items []T
	// Next is the cursor of the next page, or "" when this page is the
	// last.
	Next string
}

// Version is the type of a model's version field, the opt-in to
// optimistic concurrency. A model with one field of type Version (any name,
// any column or bson key) gets:
//
//   - Create / Insert store version 1 (whatever the field held) and set
//     it on the entity;
//   - Update succeeds only when the stored version equals the entity's,
//     stores version+1 and sets it on the entity; a stale version is
//     ErrConflict and changes nothing;
//   - Patch increments the version; Patch with [Patch.IfVersion] is
//     ErrConflict when the stored version differs;
//   - DeleteIfVersion deletes only the given version; Delete deletes
//     whatever version is stored.
//
// A model with two Version fields is ErrInvalid at store creation.
type Version int64

// Transactor runs a function inside a transaction. The transaction travels
// in the context handed to fn: every store call made with that context (or
// one derived from it) takes part in it.
type Transactor interface {
	// WithinTx begins a transaction, calls fn, and commits when fn returns
	// nil. It rolls back when fn returns an error (which WithinTx returns
	// as it is) or panics (WithinTx rolls back, then re-panics). A
	// WithinTx inside another uses a savepoint: its rollback undoes only
	// its own work.
	//
	// COMMIT and ROLLBACK are bounded by ctx. When ctx ends, or the
	// connection is lost, while COMMIT is in flight, the outcome is
	// unknown: WithinTx returns ErrUnavailable wrapping ErrOutcomeUnknown
	// (and the context's error), and the transaction may have committed.
	// Any other failure to commit returns an error of the table's kind and
	// nothing was committed.
	//
	// A statement that fails inside fn may leave the transaction unusable
	// (PostgreSQL aborts it; MySQL and the fake go on): code that goes on
	// after a failed call should return its error, or run the call in a
	// nested WithinTx (a savepoint), whose failure leaves the outer
	// transaction usable everywhere. WithinTx never reports a commit that
	// did not happen: when the backend rolled back instead, it returns
	// ErrInvalid.
	WithinTx(ctx context.Context, fn func(ctx context.Context) error) error

	// InTx reports whether ctx carries a running transaction of this
	// Transactor (one that store calls made with ctx take part in).
	InTx(ctx context.Context) bool
}

// DocStore is a repository of one document type T in a collection.
//
// T embeds [Document] (with the tag `bson:",inline"`) so that *T
// implements [DocumentModel]; the type parameter constraint of every
// constructor ([DocModel]) checks this at compile time. IDs are strings at
// the port, in the form of a MongoDB ObjectID: 24 lowercase hexadecimal
// digits. Insert assigns one when the document has none. Queries and
// patches name T's Go field names, with dots for nested struct fields
// ("Address.City").
//
// # Rules every DocStore follows
//
// Documents are encoded with the MongoDB driver's BSON codec, by fake and
// adapter alike, so what a round trip keeps is what BSON keeps: fields
// tagged `bson:"-"` and unexported fields are not stored; `omitempty`
// fields holding their zero value are stored as absent (so Eq with the
// zero value does not match them, and they sort first); empty slices and
// maps of omitempty fields come back nil; times come back in UTC truncated
// to milliseconds, at any depth; an `any` field comes back as the driver
// decodes it (bson.D for a document, bson.A for an array, int32 or int64,
// ...). Two portable rules make the stored bytes the same everywhere: a
// map is stored with its keys in sorted order, and a float -0 is stored as
// 0. Comparisons follow MongoDB: numbers compare by value across int,
// uint and float types; strings compare bytewise; a missing field or null
// matches Eq nil; Ne with a value matches missing and null (Lt, Lte, Gt,
// Gte and In never do); in sort order missing and null come first
// ascending.
//
// Before sending, the portable rules apply (ErrInvalid): invalid UTF-8,
// NaN or ±Inf, keys that are empty, start with '$' or contain '.', a
// uint64 over MaxInt64, an encoded document over 16 MiB, an ID not of
// ObjectID form (Insert), a Query value for an ID or [DocRef] field that is
// not, and a sort naming one field twice. Get, Update, Patch and Delete of
// a malformed ID are ErrNotFound, as on MongoDB.
//
// InsertMany is ordered: it stops at the first failing document; the
// documents before it are stored and keep their IDs, the failing one and
// those after it are not stored and are left as they were given. A failed
// Insert or Update leaves its document as it was.
//
// Update replaces the fields T declares and keeps those it does not
// (written by another program, or by a newer version of this one): fields
// of nested structs are set one by one, so their undeclared fields stay
// too; an array is replaced as a whole, so undeclared fields of array
// elements are lost (declare them to keep them).
type DocStore[T any] interface {
	// Insert stores d, assigning an ID when d has none and setting its
	// created and updated times. It returns ErrConflict when the ID or a
	// unique index already holds the value.
	Insert(ctx context.Context, d *T) error

	// InsertMany stores ds in order, in one round trip per batch, stopping
	// at the first failure (see the type's rules). It returns ErrConflict
	// on a duplicate. An empty slice is a no-op.
	InsertMany(ctx context.Context, ds []*T) error

	// Get returns the document with the given ID, or ErrNotFound (also for
	// an ID that is malformed).
	Get(ctx context.Context, id string) (*T, error)

	// Find returns the documents matching q, in q's order (ID order when q
	// has none). It returns ErrInvalid for a field T does not have.
	Find(ctx context.Context, q Query) ([]T, error)

	// Stream returns the documents matching q one at a time, in Find's
	// order, from the server's cursor (see SQLStore.Stream).
	Stream(ctx context.Context, q Query) iter.Seq2[T, error]

	// FindPage returns a keyset page (see SQLStore.FindPage).
	FindPage(ctx context.Context, q Query, cursor string) (Page[T], error)

	// Count returns how many documents match q's conditions.
	Count(ctx context.Context, q Query) (int64, error)

	// Update replaces the declared fields of the document that has d's ID
	// (see the type's rules), keeping its created time and setting its
	// updated time, or returns ErrNotFound; ErrConflict for a stale
	// Version.
	Update(ctx context.Context, d *T) error

	// Patch applies p to the document with the given ID atomically,
	// touching only the named fields (UpdatedAt and the version
	// excepted). Errors as SQLStore.Patch.
	Patch(ctx context.Context, id string, p Patch) error

	// Upsert inserts d (assigning an ID when it has none) or replaces the
	// document with d's ID as Update does. Versions as SQLStore.Upsert.
	Upsert(ctx context.Context, d *T) error

	// Delete removes the document with the given ID, or returns ErrNotFound.
	Delete(ctx context.Context, id string) error

	// DeleteIfVersion removes the document if its stored version is v
	// (see SQLStore.DeleteIfVersion).
	DeleteIfVersion(ctx context.Context, id string, v Version) error

	// DeleteWhere removes every document matching q's conditions (see
	// SQLStore.DeleteWhere) and returns how many.
	DeleteWhere(ctx context.Context, q Query) (int64, error)
}
