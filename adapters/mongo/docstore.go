package mongo

import (
	"context"
	"errors"
	"iter"

	"github.com/kamva/mgm/v3"

	"github.com/portkit/portkit/internal/docmodel"
	"github.com/portkit/portkit/internal/mongostore"
	"github.com/portkit/portkit/ports"
)

// DocStore is a [ports.DocStore] of model T in one collection of a Store's
// database. PT is *T, inferred: NewDocStore[Audit](store, "audits").
//
// Documents are encoded once, by the model's codec (internal/docmodel,
// which the document fake shares): the driver's default registry with the
// ID and every [ports.DocRef] stored as ObjectIDs, checked against the
// portable rules of [ports.DocStore] before anything is sent, and sent as
// raw BSON. mgm's model hooks run as mgm would run them (Creating, Saving,
// Created, Saved on Insert; Updating, Saving, Updated, Saved on Update and
// Upsert), on a copy of the caller's document that replaces it only when
// the write succeeds; the store stamps the created and updated times after
// the Before hooks have run. Calls made with a context from
// Store.WithinTx take part in the transaction.
type DocStore[T any, PT ports.DocModel[T]] struct {
	d *mongostore.DocStore[T, PT]
}

// DocOption configures NewDocStore.
type DocOption func(*mongostore.DocOptions)

// Index declares an index of a DocStore's collection; pass it to
// NewDocStore with [WithIndexes] and create it with EnsureIndexes. It is
// the same type as fakes.Index, so one declaration serves both.
type Index = docmodel.Index

// WithIndexes declares indexes of the collection; EnsureIndexes creates
// them. NewDocStore checks their fields against the model.
func WithIndexes(ix ...Index) DocOption {
	return func(o *mongostore.DocOptions) { o.Model.Indexes = append(o.Model.Indexes, ix...) }
}

// WithTimestampKeys names the BSON keys of the created and updated times
// of ports.Document (created_at and updated_at by default), for documents
// that other programs write under other names: WithTimestampKeys("createdAt",
// "updatedAt") for mongoose's and typegoose's timestamps. Queries on
// CreatedAt and UpdatedAt use them too. An empty name keeps the default.
func WithTimestampKeys(created, updated string) DocOption {
	return func(o *mongostore.DocOptions) { o.Model.CreatedKey, o.Model.UpdatedKey = created, updated }
}

// NewDocStore returns the DocStore of model T in collection of s's
// database. T must embed ports.Document with the tag `bson:",inline"`, so
// that its ID is the document's "_id", and encode to BSON (no duplicate
// keys, no key starting with '$' or holding a '.'); it may have one
// ports.Version field. It returns an error wrapping ports.ErrInvalid for a
// bad collection name, model, timestamp key or index declaration. It does
// not contact the server: MongoDB creates the collection on first insert.
func NewDocStore[T any, PT ports.DocModel[T]](s *Store, collection string, opts ...DocOption) (*DocStore[T, PT], error) {
	if s == nil {
		return nil, invalidErr("new doc store", errors.New("nil Store"))
	}
	var o mongostore.DocOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	d, err := mongostore.NewDocStore[T, PT](s.core, collection, o)
	if err != nil {
		return nil, err
	}
	return &DocStore[T, PT]{d: d}, nil
}

// Compile-time check.
var _ ports.DocStore[struct{ ports.Document }] = (*DocStore[struct{ ports.Document }, *struct{ ports.Document }])(nil)

// Collection returns the mgm collection (which embeds the driver's
// *mongo.Collection). Its registry is the model's: T's string ID and its
// DocRefs are encoded as ObjectIDs, its timestamps under their keys.
func (d *DocStore[T, PT]) Collection() *mgm.Collection { return d.d.Collection() }

// Insert stores doc, running mgm's creating hooks, assigning an ID when
// it has none and setting its created (unless given) and updated times
// (and version 1, for a model with a Version field). A given ID must be
// an ObjectID's Hex form (ErrInvalid otherwise); a taken ID or unique key
// is ErrConflict. A failed Insert leaves doc as it was.
func (d *DocStore[T, PT]) Insert(ctx context.Context, doc *T) error { return d.d.Insert(ctx, doc) }

// InsertMany stores docs in order in one ordered insert (the driver
// splits it into batches of the server's maximum size), stopping at the
// first failure: the documents before it are stored and updated as Insert
// updates its document, the failing one and those after it are left as
// they were. A document the portable rules refuse fails there, as a
// duplicate does, after the documents before it have been stored.
func (d *DocStore[T, PT]) InsertMany(ctx context.Context, docs []*T) error {
	return d.d.InsertMany(ctx, docs)
}

// Get returns the document with the given ID, or ErrNotFound (also for an
// ID that is not an ObjectID's Hex form).
func (d *DocStore[T, PT]) Get(ctx context.Context, id string) (*T, error) { return d.d.Get(ctx, id) }

// Find returns the documents matching q, in q's order and then in ID
// order. It returns ErrInvalid for a field T does not have.
func (d *DocStore[T, PT]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	return d.d.Find(ctx, q)
}

// Stream returns the documents matching q one at a time, in Find's order,
// from a server cursor read StreamBatchSize documents at a time. It checks
// ctx between documents; an error is yielded once as the last pair.
// Breaking out of the loop closes the cursor.
func (d *DocStore[T, PT]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return d.d.Stream(ctx, q)
}

// FindPage returns the keyset page of at most q.LimitN() documents after
// cursor (see ports.SQLStore.FindPage): q's conditions and the condition
// "after the cursor's row" in one filter, sorted by q's order then ID.
func (d *DocStore[T, PT]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	return d.d.FindPage(ctx, q, cursor)
}

// Count returns how many documents match q's conditions; q's order, limit
// and offset do not matter.
func (d *DocStore[T, PT]) Count(ctx context.Context, q ports.Query) (int64, error) {
	return d.d.Count(ctx, q)
}

// Update writes the fields T declares from doc into the stored document
// with doc's ID and keeps the others (see ports.DocStore's rules): one
// findAndModify that sets each declared field (nested structs key by key,
// arrays whole), unsets the omitempty ones that doc leaves empty, keeps the
// stored created time (copied into doc) and sets the updated time, after
// running mgm's updating hooks. It returns ErrNotFound when no document has
// the ID, ErrConflict when T has a Version field and the stored version is
// not doc's (then nothing changes) or when doc would break a unique index.
// A failed Update leaves doc as it was.
func (d *DocStore[T, PT]) Update(ctx context.Context, doc *T) error { return d.d.Update(ctx, doc) }

// Patch applies p to the document with the given ID in one update that
// touches only the named fields (see ports.Patch), the updated time
// (unless p sets it) and the version. It returns ErrNotFound when no
// document has the ID (also for a malformed one), ErrConflict when p has
// IfVersion and the stored version differs, and ErrInvalid for a patch the
// schema refuses or a value the server cannot apply (Inc of a stored
// non-number).
func (d *DocStore[T, PT]) Patch(ctx context.Context, id string, p ports.Patch) error {
	return d.d.Patch(ctx, id, p)
}

// Upsert inserts doc (assigning an ID when it has none) or, when a
// document has its ID, writes it as Update does, in one findAndModify
// with upsert; mgm's updating hooks run. With a zero Version (or none) it
// writes unconditionally and the version becomes the stored one plus one
// (1 for a new document); with a non-zero one the stored version must be
// doc's: ErrConflict otherwise, ErrNotFound when there is no document. A
// given ID must be an ObjectID's Hex form (ErrInvalid).
func (d *DocStore[T, PT]) Upsert(ctx context.Context, doc *T) error { return d.d.Upsert(ctx, doc) }

// Delete removes the document with the given ID, or returns ErrNotFound
// (also for an ID that is not an ObjectID's Hex form). mgm's deleting
// hooks do not run: there is no model to run them on.
func (d *DocStore[T, PT]) Delete(ctx context.Context, id string) error { return d.d.Delete(ctx, id) }

// DeleteIfVersion removes the document with the given ID if its stored
// version is v: ErrConflict when it is another, ErrNotFound when there is
// none, ErrInvalid when T has no Version field.
func (d *DocStore[T, PT]) DeleteIfVersion(ctx context.Context, id string, v ports.Version) error {
	return d.d.DeleteIfVersion(ctx, id, v)
}

// DeleteWhere removes every document matching q's conditions (at least
// one; no order, limit or offset) in one deleteMany and returns how many.
func (d *DocStore[T, PT]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	return d.d.DeleteWhere(ctx, q)
}

// EnsureIndexes creates the indexes declared with WithIndexes. It is
// idempotent: an index that exists with the same keys and options is left
// alone. An index that exists under the same name or keys with other
// options is ErrConflict, as is a unique index over documents that already
// hold duplicates; an option the server does not implement (TTL on
// FerretDB) is ErrInvalid.
func (d *DocStore[T, PT]) EnsureIndexes(ctx context.Context) error { return d.d.EnsureIndexes(ctx) }
