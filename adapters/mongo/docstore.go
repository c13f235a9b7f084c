package mongo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/kamva/mgm/v3"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/portkit/portkit/ports"
)

// DocStore is a [ports.DocStore] of model T in one collection of a Store's
// database. PT is *T, inferred: NewDocStore[Audit](store, "audits").
//
// Insert goes through mgm (Collection.CreateWithCtx, with its creating and
// saving hooks); InsertMany, Get, Find, Count, Update and Delete call the
// driver directly on the same mgm.Collection, running the same hooks
// where mgm would. Calls made with a context from Store.WithinTx take part
// in the transaction.
type DocStore[T any, PT ports.DocModel[T]] struct {
	s          *Store
	name       string
	coll       *mgm.Collection
	tr         translator
	createdKey string
	indexes    []mongo.IndexModel
}

// DocOption configures NewDocStore.
type DocOption func(*docOptions)

type docOptions struct {
	indexes []Index
}

// WithIndexes declares indexes of the collection; EnsureIndexes creates
// them. NewDocStore checks their fields against the model.
func WithIndexes(ix ...Index) DocOption {
	return func(o *docOptions) { o.indexes = append(o.indexes, ix...) }
}

// NewDocStore returns the DocStore of model T in collection of s's
// database. T must embed ports.Document with the tag `bson:",inline"`, so
// that its ID is the document's "_id". It returns an error wrapping
// ports.ErrInvalid for a bad collection name, model or index declaration.
// It does not contact the server: MongoDB creates the collection on first
// insert.
func NewDocStore[T any, PT ports.DocModel[T]](s *Store, collection string, opts ...DocOption) (*DocStore[T, PT], error) {
	const op = "new doc store"
	if s == nil {
		return nil, invalidErr(op, errors.New("nil Store"))
	}
	if err := checkCollectionName(collection); err != nil {
		return nil, invalidErr(op, err)
	}
	var o docOptions
	for _, opt := range opts {
		opt(&o)
	}
	t := reflect.TypeFor[T]()
	if _, ok := any(PT(new(T))).(mgm.Model); !ok {
		return nil, invalidErr(op, fmt.Errorf("%v does not embed ports.Document", t))
	}
	schema, err := ports.SchemaOf[T]()
	if err != nil {
		return nil, invalidErr(op, err)
	}
	keyOf := func(path string) (string, error) {
		chain, err := fieldChain(t, path)
		if err != nil {
			return "", err
		}
		return bsonKey(chain)
	}
	if k, err := keyOf("ID"); err != nil || k != "_id" {
		return nil, invalidErr(op, fmt.Errorf(`%v must embed ports.Document with the tag bson:",inline", so that ID is "_id"`, t))
	}
	createdKey, err := keyOf("CreatedAt")
	if err != nil {
		return nil, invalidErr(op, fmt.Errorf("%v: CreatedAt: %w", t, err))
	}
	indexes := make([]mongo.IndexModel, 0, len(o.indexes))
	for _, ix := range o.indexes {
		m, err := indexModel(t, ix)
		if err != nil {
			return nil, invalidErr(op, err)
		}
		indexes = append(indexes, m)
	}
	return &DocStore[T, PT]{
		s:          s,
		name:       collection,
		coll:       mgm.NewCollection(s.db, collection, options.Collection().SetRegistry(newRegistry(t))),
		tr:         translator{schema: schema},
		createdKey: createdKey,
		indexes:    indexes,
	}, nil
}

// checkCollectionName rejects names MongoDB refuses or reserves.
func checkCollectionName(name string) error {
	switch {
	case name == "":
		return errors.New("empty collection name")
	case strings.ContainsAny(name, "$\x00"):
		return fmt.Errorf("collection name %q holds '$' or NUL", name)
	case strings.HasPrefix(name, "system."):
		return fmt.Errorf("collection name %q is reserved", name)
	}
	return nil
}

// Compile-time check.
var _ ports.DocStore[struct{ ports.Document }] = (*DocStore[struct{ ports.Document }, *struct{ ports.Document }])(nil)

// Collection returns the mgm collection (which embeds the driver's
// *mongo.Collection). Its registry encodes T's string ID as an ObjectID.
func (d *DocStore[T, PT]) Collection() *mgm.Collection { return d.coll }

// wrap maps err for op on this collection.
func (d *DocStore[T, PT]) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if d.s.isClosed() && errors.Is(err, mongo.ErrClientDisconnected) {
		return ports.NewError(backend, op+" "+d.name, ports.ErrClosed, err)
	}
	return wrapErr(op+" "+d.name, err)
}

// Insert stores doc through mgm, running its creating and saving hooks
// (which set the created and updated times), and sets doc's ID when it
// had none. A given ID must be an ObjectID's Hex form (ErrInvalid
// otherwise); a taken ID or unique key is ErrConflict.
func (d *DocStore[T, PT]) Insert(ctx context.Context, doc *T) error {
	const op = "insert"
	if d.s.isClosed() {
		return closedErr(op)
	}
	if doc == nil {
		return invalidErr(op+" "+d.name, errors.New("nil document"))
	}
	if err := checkID(PT(doc).Doc().ID); err != nil {
		return invalidErr(op+" "+d.name, err)
	}
	return d.wrap(op, d.coll.CreateWithCtx(ctx, any(doc).(mgm.Model)))
}

// checkID accepts an empty ID (the server assigns one) or an ObjectID's
// Hex form.
func checkID(id string) error {
	if id == "" {
		return nil
	}
	if _, ok := parseObjectID(id); !ok {
		return fmt.Errorf("ID %q is not an ObjectID: 24 lowercase hexadecimal digits", id)
	}
	return nil
}

// InsertMany stores docs in one ordered insert (the driver splits it into
// batches of the server's maximum size), after running each one's
// creating and saving hooks. Documents without an ID get a new ObjectID
// before anything is sent, and keep it when the insert fails. On a
// duplicate the documents before it are stored and the rest are not
// (MongoDB has no all-or-nothing insert outside a transaction).
func (d *DocStore[T, PT]) InsertMany(ctx context.Context, docs []*T) error {
	const op = "insert many"
	if d.s.isClosed() {
		return closedErr(op)
	}
	if len(docs) == 0 {
		return nil
	}
	for i, doc := range docs {
		if doc == nil {
			return invalidErr(op+" "+d.name, fmt.Errorf("document %d is nil", i))
		}
		if err := checkID(PT(doc).Doc().ID); err != nil {
			return invalidErr(op+" "+d.name, fmt.Errorf("document %d: %w", i, err))
		}
	}
	batch := make([]any, len(docs))
	for i, doc := range docs {
		m := any(doc).(mgm.Model)
		if err := beforeCreate(ctx, m); err != nil {
			return d.wrap(op, err)
		}
		if dd := PT(doc).Doc(); dd.ID == "" {
			dd.ID = primitive.NewObjectID().Hex()
		}
		batch[i] = doc
	}
	if _, err := d.coll.InsertMany(ctx, batch); err != nil {
		return d.wrap(op, err)
	}
	for _, doc := range docs {
		if err := afterCreate(ctx, any(doc).(mgm.Model)); err != nil {
			return d.wrap(op, err)
		}
	}
	return nil
}

// Get returns the document with the given ID, or ErrNotFound (also for an
// ID that is not an ObjectID's Hex form).
func (d *DocStore[T, PT]) Get(ctx context.Context, id string) (*T, error) {
	const op = "get"
	if d.s.isClosed() {
		return nil, closedErr(op)
	}
	oid, ok := parseObjectID(id)
	if !ok {
		return nil, notFoundErr(op+" "+d.name, fmt.Errorf("malformed ID %q", id))
	}
	out := new(T)
	if err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(out); err != nil {
		return nil, d.wrap(op, err)
	}
	return out, nil
}

// Find returns the documents matching q, in q's order and then in ID
// order. It returns ErrInvalid for a field T does not have.
func (d *DocStore[T, PT]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	const op = "find"
	if d.s.isClosed() {
		return nil, closedErr(op)
	}
	if err := d.tr.schema.Validate(q); err != nil {
		return nil, invalidErr(op+" "+d.name, err)
	}
	filter, err := d.tr.filter(op+" "+d.name, q)
	if err != nil {
		return nil, err
	}
	fo, err := d.tr.findOptions(op+" "+d.name, q)
	if err != nil {
		return nil, err
	}
	cur, err := d.coll.Find(ctx, filter, fo)
	if err != nil {
		return nil, d.wrap(op, err)
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, d.wrap(op, err)
	}
	return out, nil
}

// Count returns how many documents match q's conditions; q's order, limit
// and offset do not matter.
func (d *DocStore[T, PT]) Count(ctx context.Context, q ports.Query) (int64, error) {
	const op = "count"
	if d.s.isClosed() {
		return 0, closedErr(op)
	}
	if err := d.tr.schema.Validate(q); err != nil {
		return 0, invalidErr(op+" "+d.name, err)
	}
	filter, err := d.tr.filter(op+" "+d.name, q)
	if err != nil {
		return 0, err
	}
	n, err := d.coll.CountDocuments(ctx, filter)
	if err != nil {
		return 0, d.wrap(op, err)
	}
	return n, nil
}

// Update replaces the document that has doc's ID with doc, after running
// its updating and saving hooks (which set the updated time). The stored
// created time is kept and copied into doc. It returns ErrNotFound when no
// document has the ID, and ErrConflict when doc would break a unique index.
//
// When doc carries the stored created time (a document read with Get or
// Find), this is one round trip; otherwise the created time is read first.
func (d *DocStore[T, PT]) Update(ctx context.Context, doc *T) error {
	const op = "update"
	if d.s.isClosed() {
		return closedErr(op)
	}
	if doc == nil {
		return invalidErr(op+" "+d.name, errors.New("nil document"))
	}
	dd := PT(doc).Doc()
	oid, ok := parseObjectID(dd.ID)
	if !ok {
		return notFoundErr(op+" "+d.name, fmt.Errorf("malformed ID %q", dd.ID))
	}
	m := any(doc).(mgm.Model)
	if err := beforeUpdate(ctx, m); err != nil {
		return d.wrap(op, err)
	}
	if !dd.CreatedAt.IsZero() {
		res, err := d.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: oid}, {Key: d.createdKey, Value: dd.CreatedAt}}, doc)
		if err != nil {
			return d.wrap(op, err)
		}
		if res.MatchedCount == 1 {
			return d.wrap(op, afterUpdate(ctx, res, m))
		}
	}
	var stored bson.Raw
	err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}},
		options.FindOne().SetProjection(bson.D{{Key: d.createdKey, Value: 1}})).Decode(&stored)
	if err != nil {
		return d.wrap(op, err)
	}
	created, err := lookupTime(stored, d.createdKey)
	if err != nil {
		return d.wrap(op, err)
	}
	dd.CreatedAt = created
	res, err := d.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: oid}}, doc)
	if err != nil {
		return d.wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return notFoundErr(op+" "+d.name, mongo.ErrNoDocuments)
	}
	return d.wrap(op, afterUpdate(ctx, res, m))
}

// lookupTime returns the time at the dotted key of doc; zero when absent.
func lookupTime(doc bson.Raw, key string) (time.Time, error) {
	v, err := doc.LookupErr(strings.Split(key, ".")...)
	if err != nil {
		return time.Time{}, nil
	}
	if dt, ok := v.DateTimeOK(); ok {
		return time.UnixMilli(dt).UTC(), nil
	}
	return time.Time{}, nil
}

// Delete removes the document with the given ID, or returns ErrNotFound
// (also for an ID that is not an ObjectID's Hex form). mgm's deleting
// hooks do not run: there is no model to run them on.
func (d *DocStore[T, PT]) Delete(ctx context.Context, id string) error {
	const op = "delete"
	if d.s.isClosed() {
		return closedErr(op)
	}
	oid, ok := parseObjectID(id)
	if !ok {
		return notFoundErr(op+" "+d.name, fmt.Errorf("malformed ID %q", id))
	}
	res, err := d.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: oid}})
	if err != nil {
		return d.wrap(op, err)
	}
	if res.DeletedCount == 0 {
		return notFoundErr(op+" "+d.name, mongo.ErrNoDocuments)
	}
	return nil
}

// The hooks below run mgm's model hooks in mgm's order, for the operations
// that bypass mgm's own Create and Update (mgm's Update would $set the
// fields, leaving removed ones in place, and match the string ID). The
// interfaces are mgm's hook interfaces, spelled out structurally because
// mgm marks the context-free ones deprecated while ports.Document
// implements those.

type (
	creatingCtx interface{ Creating(context.Context) error }
	creating    interface{ Creating() error }
	createdCtx  interface{ Created(context.Context) error }
	created     interface{ Created() error }
	updatingCtx interface{ Updating(context.Context) error }
	updating    interface{ Updating() error }
	updatedCtx  interface {
		Updated(context.Context, *mongo.UpdateResult) error
	}
	updated interface {
		Updated(*mongo.UpdateResult) error
	}
	savingCtx interface{ Saving(context.Context) error }
	savingH   interface{ Saving() error }
	savedCtx  interface{ Saved(context.Context) error }
	savedH    interface{ Saved() error }
)

func beforeCreate(ctx context.Context, m mgm.Model) error {
	if h, ok := m.(creatingCtx); ok {
		if err := h.Creating(ctx); err != nil {
			return err
		}
	} else if h, ok := m.(creating); ok {
		if err := h.Creating(); err != nil {
			return err
		}
	}
	return saving(ctx, m)
}

func afterCreate(ctx context.Context, m mgm.Model) error {
	if h, ok := m.(createdCtx); ok {
		if err := h.Created(ctx); err != nil {
			return err
		}
	} else if h, ok := m.(created); ok {
		if err := h.Created(); err != nil {
			return err
		}
	}
	return saved(ctx, m)
}

func beforeUpdate(ctx context.Context, m mgm.Model) error {
	if h, ok := m.(updatingCtx); ok {
		if err := h.Updating(ctx); err != nil {
			return err
		}
	} else if h, ok := m.(updating); ok {
		if err := h.Updating(); err != nil {
			return err
		}
	}
	return saving(ctx, m)
}

func afterUpdate(ctx context.Context, res *mongo.UpdateResult, m mgm.Model) error {
	if h, ok := m.(updatedCtx); ok {
		if err := h.Updated(ctx, res); err != nil {
			return err
		}
	} else if h, ok := m.(updated); ok {
		if err := h.Updated(res); err != nil {
			return err
		}
	}
	return saved(ctx, m)
}

func saving(ctx context.Context, m mgm.Model) error {
	if h, ok := m.(savingCtx); ok {
		return h.Saving(ctx)
	} else if h, ok := m.(savingH); ok {
		return h.Saving()
	}
	return nil
}

func saved(ctx context.Context, m mgm.Model) error {
	if h, ok := m.(savedCtx); ok {
		return h.Saved(ctx)
	} else if h, ok := m.(savedH); ok {
		return h.Saved()
	}
	return nil
}
