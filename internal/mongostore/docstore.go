package mongostore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strings"
	"time"

	"github.com/kamva/mgm/v3"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/portkit/portkit/internal/docmodel"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// DocStore is a [ports.DocStore] of model T in one collection of a DB.
// PT is *T, inferred. The adapter's mongo.DocStore wraps it; package open
// returns it as it is. Its rules are documented on mongo.DocStore.
type DocStore[T any, PT ports.DocModel[T]] struct {
	db      *DB
	name    string
	coll    *mgm.Collection
	m       *docmodel.Model
	indexes []mongo.IndexModel
	in      *obs.Instr // the store's spans and metrics
}

// DocOptions configures NewDocStore.
type DocOptions struct {
	// Model holds the indexes and timestamp keys of the collection.
	Model docmodel.Options
}

// NewDocStore returns the DocStore of model T in collection of db's
// database. T must embed ports.Document with the tag `bson:",inline"`, so
// that its ID is the document's "_id", and encode to BSON (no duplicate
// keys, no key starting with '$' or holding a '.'); it may have one
// ports.Version field. It returns an error wrapping ports.ErrInvalid for a
// bad collection name, model, timestamp key or index declaration. It does
// not contact the server: MongoDB creates the collection on first insert.
func NewDocStore[T any, PT ports.DocModel[T]](db *DB, collection string, o DocOptions) (*DocStore[T, PT], error) {
	const op = "new doc store"
	if db == nil {
		return nil, InvalidErr(op, errors.New("nil Store"))
	}
	if err := checkCollectionName(collection); err != nil {
		return nil, InvalidErr(op, err)
	}
	t := reflect.TypeFor[T]()
	if _, ok := any(PT(new(T))).(mgm.Model); !ok {
		return nil, InvalidErr(op, fmt.Errorf("%v does not embed ports.Document", t))
	}
	m, err := docmodel.New(t, o.Model)
	if err != nil {
		return nil, InvalidErr(op, err)
	}
	indexes := make([]mongo.IndexModel, 0, len(m.Indexes()))
	for _, ix := range m.Indexes() {
		indexes = append(indexes, indexModel(ix))
	}
	return &DocStore[T, PT]{
		db:      db,
		name:    collection,
		coll:    mgm.NewCollection(db.Database, collection, options.Collection().SetRegistry(m.Registry())),
		m:       m,
		indexes: indexes,
		in:      db.instr(collection),
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

// Collection returns the mgm collection (see mongo.DocStore.Collection).
func (d *DocStore[T, PT]) Collection() *mgm.Collection { return d.coll }

// op names an operation on the collection for errors: "insert audits".
func (d *DocStore[T, PT]) op(verb string) string { return verb + " " + d.name }

// wrap classifies err for op.
func (d *DocStore[T, PT]) wrap(op string, err error) error {
	return WrapErr(op, err, d.db.Closed())
}

// hookErr classifies an error of a model hook: a ports error keeps its
// kind, anything else is the model refusing the write (ErrInvalid).
func (d *DocStore[T, PT]) hookErr(op string, err error) error {
	if ports.KindOf(err) != nil {
		return Classifier.Wrap(op, err, false)
	}
	return InvalidErr(op, fmt.Errorf("model hook: %w", err))
}

// now is the store's clock: UTC at the millisecond precision of BSON
// dates.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// prepare returns the copy of doc to insert, with the hooks run and the
// ID, times and version set, and its encoding.
func (d *DocStore[T, PT]) prepare(ctx context.Context, op string, doc *T, at time.Time, i int) (*T, bson.Raw, error) {
	where := func() string {
		if i < 0 {
			return ""
		}
		return fmt.Sprintf("document %d: ", i)
	}
	if doc == nil {
		return nil, nil, InvalidErr(op, fmt.Errorf("%snil document", where()))
	}
	if err := checkID(PT(doc).Doc().ID); err != nil {
		return nil, nil, InvalidErr(op, fmt.Errorf("%s%w", where(), err))
	}
	given := PT(doc).Doc().CreatedAt
	cp := new(T)
	*cp = *doc
	if err := docmodel.BeforeCreate(ctx, any(cp)); err != nil {
		return nil, nil, d.hookErr(op, err)
	}
	dd := PT(cp).Doc()
	if dd.ID == "" {
		dd.ID = primitive.NewObjectID().Hex()
	} else if err := checkID(dd.ID); err != nil {
		return nil, nil, InvalidErr(op, fmt.Errorf("%s%w", where(), err))
	}
	if given.IsZero() {
		dd.CreatedAt = at
	} else {
		dd.CreatedAt = given.UTC().Truncate(time.Millisecond)
	}
	dd.UpdatedAt = at
	d.m.SetVersion(cp, 1)
	raw, err := d.m.Encode(cp)
	if err != nil {
		return nil, nil, InvalidErr(op, fmt.Errorf("%s%w", where(), err))
	}
	return cp, raw, nil
}

// checkID accepts an empty ID (the store assigns one) or an ObjectID's
// Hex form.
func checkID(id string) error {
	if id == "" || ports.IsObjectIDHex(id) {
		return nil
	}
	return errors.New("the ID is not an ObjectID: 24 lowercase hexadecimal digits")
}

// Insert stores doc, running mgm's creating hooks, assigning an ID when
// it has none and setting its created (unless given) and updated times
// (and version 1, for a model with a Version field). A given ID must be
// an ObjectID's Hex form (ErrInvalid otherwise); a taken ID or unique key
// is ErrConflict. A failed Insert leaves doc as it was.
func (d *DocStore[T, PT]) Insert(ctx context.Context, doc *T) error {
	ctx, sp := d.in.Start(ctx, obs.OpInsert)
	err := d.doInsert(ctx, doc)
	sp.End(err)
	return err
}

// doInsert is Insert without its span.
func (d *DocStore[T, PT]) doInsert(ctx context.Context, doc *T) error {
	op := d.op("insert")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	cp, raw, err := d.prepare(ctx, op, doc, now(), -1)
	if err != nil {
		return err
	}
	if _, err := d.coll.InsertOne(ctx, docmodel.Encoded(raw)); err != nil {
		return d.writeErr(op, err)
	}
	*doc = *cp
	if err := docmodel.AfterCreate(ctx, any(doc)); err != nil {
		return d.hookErr(op, err)
	}
	return nil
}

// InsertMany stores docs in order in one ordered insert (the driver
// splits it into batches of the server's maximum size), stopping at the
// first failure: the documents before it are stored and updated as Insert
// updates its document, the failing one and those after it are left as
// they were. A document the portable rules refuse fails there, as a
// duplicate does, after the documents before it have been stored.
func (d *DocStore[T, PT]) InsertMany(ctx context.Context, docs []*T) error {
	ctx, sp := d.in.Start(ctx, obs.OpInsertMany)
	err := d.doInsertMany(ctx, docs)
	sp.End(err)
	return err
}

// doInsertMany is InsertMany without its span.
func (d *DocStore[T, PT]) doInsertMany(ctx context.Context, docs []*T) error {
	op := d.op("insert many")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	if len(docs) == 0 {
		return nil
	}
	at := now()
	cps := make([]*T, 0, len(docs))
	batch := make([]any, 0, len(docs))
	var failure error
	for i, doc := range docs {
		cp, raw, err := d.prepare(ctx, op, doc, at, i)
		if err != nil {
			failure = err
			break
		}
		cps = append(cps, cp)
		batch = append(batch, docmodel.Encoded(raw))
	}
	stored := len(cps)
	if len(batch) > 0 {
		if _, err := d.coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(true)); err != nil {
			stored = 0
			var bwe mongo.BulkWriteException
			if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteConcernError == nil {
				stored = bwe.WriteErrors[0].Index
				for _, we := range bwe.WriteErrors {
					stored = min(stored, we.Index)
				}
			}
			failure = d.writeErr(op, err)
		}
	}
	for i := range stored {
		*docs[i] = *cps[i]
		if err := docmodel.AfterCreate(ctx, any(docs[i])); err != nil && failure == nil {
			failure = d.hookErr(op, err)
		}
	}
	return failure
}

// writeErr classifies the error of a write: a lost connection or an ended
// context after the request may have been sent makes the outcome unknown
// (ErrUnavailable wrapping ports.ErrOutcomeUnknown).
func (d *DocStore[T, PT]) writeErr(op string, err error) error {
	e := d.wrap(op, err)
	if !errors.Is(e, ports.ErrUnavailable) {
		return e
	}
	if IsNotSent(err) {
		return e
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || ports.IsContextError(err) {
		return Classifier.OutcomeUnknown(op, RedactErr(err))
	}
	return e
}

// Get returns the document with the given ID, or ErrNotFound (also for an
// ID that is not an ObjectID's Hex form).
func (d *DocStore[T, PT]) Get(ctx context.Context, id string) (*T, error) {
	ctx, sp := d.in.Start(ctx, obs.OpGet)
	v, err := d.doGet(ctx, id)
	sp.End(err)
	return v, err
}

// doGet is Get without its span.
func (d *DocStore[T, PT]) doGet(ctx context.Context, id string) (*T, error) {
	op := d.op("get")
	if err := d.db.Enter(ctx, op); err != nil {
		return nil, err
	}
	oid, ok := docmodel.ParseObjectID(id)
	if !ok {
		return nil, notFoundErr(op, errors.New("malformed ID"))
	}
	out := new(T)
	if err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(out); err != nil {
		return nil, d.wrap(op, err)
	}
	return out, nil
}

// query validates q and returns its filter and sort.
func (d *DocStore[T, PT]) query(op string, q ports.Query) (bson.D, []docmodel.SortKey, error) {
	if err := d.m.Schema().Validate(q); err != nil {
		return nil, nil, InvalidErr(op, err)
	}
	conds, err := d.m.Conditions(q.Conditions())
	if err != nil {
		return nil, nil, InvalidErr(op, err)
	}
	sort, err := d.m.Sort(q.Orders())
	if err != nil {
		return nil, nil, InvalidErr(op, err)
	}
	return docmodel.Filter(conds), sort, nil
}

// findOptions returns the options of q's sort, limit and offset.
func findOptions(q ports.Query, sort []docmodel.SortKey) *options.FindOptions {
	fo := options.Find().SetSort(docmodel.SortDoc(sort))
	if n := q.LimitN(); n > 0 {
		fo.SetLimit(int64(n))
	}
	if n := q.OffsetN(); n > 0 {
		fo.SetSkip(int64(n))
	}
	return fo
}

// Find returns the documents matching q, in q's order and then in ID
// order. It returns ErrInvalid for a field T does not have.
func (d *DocStore[T, PT]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	ctx, sp := d.in.Start(ctx, obs.OpFind)
	v, err := d.doFind(ctx, q)
	sp.SetRows(len(v))
	sp.End(err)
	return v, err
}

// doFind is Find without its span.
func (d *DocStore[T, PT]) doFind(ctx context.Context, q ports.Query) ([]T, error) {
	op := d.op("find")
	if err := d.db.Enter(ctx, op); err != nil {
		return nil, err
	}
	filter, sort, err := d.query(op, q)
	if err != nil {
		return nil, err
	}
	// Find holds the whole result anyway: ask for it in as few round trips
	// as the server allows (16 MiB per batch), not 101 documents first.
	cur, err := d.coll.Find(ctx, filter, findOptions(q, sort).SetBatchSize(findBatchSize))
	if err != nil {
		return nil, d.wrap(op, err)
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, d.wrap(op, err)
	}
	return out, nil
}

// findBatchSize is the batch size Find asks for.
const findBatchSize = 100_000

// StreamBatchSize is how many documents Stream asks the server for per
// round trip: memory stays bounded by one batch whatever the result size.
const StreamBatchSize = 1000

// Stream returns the documents matching q one at a time, in Find's order,
// from a server cursor read StreamBatchSize documents at a time. It checks
// ctx between documents; an error is yielded once as the last pair.
// Breaking out of the loop closes the cursor.
func (d *DocStore[T, PT]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return obs.Stream(ctx, d.in, func(ctx context.Context) iter.Seq2[T, error] { return d.doStream(ctx, q) })
}

// doStream is Stream without its span.
func (d *DocStore[T, PT]) doStream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		op := d.op("stream")
		if err := d.db.Enter(ctx, op); err != nil {
			yield(zero, err)
			return
		}
		filter, sort, err := d.query(op, q)
		if err != nil {
			yield(zero, err)
			return
		}
		cur, err := d.coll.Find(ctx, filter, findOptions(q, sort).SetBatchSize(StreamBatchSize))
		if err != nil {
			yield(zero, d.wrap(op, err))
			return
		}
		defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
		for cur.Next(ctx) {
			if ctx.Err() != nil {
				break
			}
			var v T
			if err := cur.Decode(&v); err != nil {
				yield(zero, d.wrap(op, err))
				return
			}
			if !yield(v, nil) {
				return
			}
		}
		if ctx.Err() != nil {
			yield(zero, Classifier.Wrap(op, ctx.Err(), false))
			return
		}
		if err := cur.Err(); err != nil {
			yield(zero, d.wrap(op, err))
		}
	}
}

// FindPage returns the keyset page of at most q.LimitN() documents after
// cursor (see ports.SQLStore.FindPage): q's conditions and the condition
// "after the cursor's row" in one filter, sorted by q's order then ID.
func (d *DocStore[T, PT]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	ctx, sp := d.in.Start(ctx, obs.OpFindPage)
	v, err := d.doFindPage(ctx, q, cursor)
	sp.SetRows(len(v.Items))
	sp.End(err)
	return v, err
}

// doFindPage is FindPage without its span.
func (d *DocStore[T, PT]) doFindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	op := d.op("find page")
	if err := d.db.Enter(ctx, op); err != nil {
		return ports.Page[T]{}, err
	}
	schema := d.m.Schema()
	if err := schema.ValidatePage(q); err != nil {
		return ports.Page[T]{}, InvalidErr(op, err)
	}
	conds, err := d.m.Conditions(q.Conditions())
	if err != nil {
		return ports.Page[T]{}, InvalidErr(op, err)
	}
	filter := docmodel.Filter(conds)
	if cursor != "" {
		terms, err := d.m.Keyset(q, cursor)
		if err != nil {
			return ports.Page[T]{}, InvalidErr(op, err)
		}
		filter = docmodel.FilterOr(conds, terms)
	}
	sort, err := d.m.Sort(ports.KeysetOrder(q, docmodel.PkPath))
	if err != nil {
		return ports.Page[T]{}, InvalidErr(op, err)
	}
	n := q.LimitN()
	cur, err := d.coll.Find(ctx, filter, options.Find().SetSort(docmodel.SortDoc(sort)).SetLimit(int64(n)+1))
	if err != nil {
		return ports.Page[T]{}, d.wrap(op, err)
	}
	items := make([]T, 0, n+1)
	if err := cur.All(ctx, &items); err != nil {
		return ports.Page[T]{}, d.wrap(op, err)
	}
	page := ports.Page[T]{Items: items}
	if len(items) > n {
		page.Items = items[:n:n]
		if page.Next, err = schema.EncodeCursor(q, docmodel.PkPath, &items[n-1]); err != nil {
			return ports.Page[T]{}, InvalidErr(op, err)
		}
	}
	return page, nil
}

// Count returns how many documents match q's conditions; q's order, limit
// and offset do not matter.
func (d *DocStore[T, PT]) Count(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := d.in.Start(ctx, obs.OpCount)
	v, err := d.doCount(ctx, q)
	sp.End(err)
	return v, err
}

// doCount is Count without its span.
func (d *DocStore[T, PT]) doCount(ctx context.Context, q ports.Query) (int64, error) {
	op := d.op("count")
	if err := d.db.Enter(ctx, op); err != nil {
		return 0, err
	}
	filter, _, err := d.query(op, q)
	if err != nil {
		return 0, err
	}
	n, err := d.coll.CountDocuments(ctx, filter)
	if err != nil {
		return 0, d.wrap(op, err)
	}
	return n, nil
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
func (d *DocStore[T, PT]) Update(ctx context.Context, doc *T) error {
	ctx, sp := d.in.Start(ctx, obs.OpUpdate)
	err := d.doUpdate(ctx, doc)
	sp.End(err)
	return err
}

// doUpdate is Update without its span.
func (d *DocStore[T, PT]) doUpdate(ctx context.Context, doc *T) error {
	op := d.op("update")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	if doc == nil {
		return InvalidErr(op, errors.New("nil document"))
	}
	id := PT(doc).Doc().ID
	oid, ok := docmodel.ParseObjectID(id)
	if !ok {
		return notFoundErr(op, errors.New("malformed ID"))
	}
	cp := new(T)
	*cp = *doc
	if err := docmodel.BeforeUpdate(ctx, any(cp)); err != nil {
		return d.hookErr(op, err)
	}
	dd := PT(cp).Doc()
	dd.ID, dd.UpdatedAt = id, now()
	filter := bson.D{{Key: "_id", Value: oid}}
	vk := d.m.VersionKey()
	if vk != "" {
		v := d.m.Version(cp)
		filter = append(filter, bson.E{Key: vk, Value: int64(v)})
		d.m.SetVersion(cp, v+1)
	}
	raw, err := d.m.Encode(cp)
	if err != nil {
		return InvalidErr(op, err)
	}
	var stored bson.Raw
	if d.m.HasInlineMaps() {
		if err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&stored); err != nil {
			return d.wrap(op, err)
		}
	}
	u, err := d.m.UpdateFields(raw, stored)
	if err != nil {
		return InvalidErr(op, err)
	}
	// Fast path: a document read from the store carries its created time;
	// matching on it too, one update tells all. Otherwise findAndModify
	// returns the stored created time.
	created := dd.CreatedAt.UTC().Truncate(time.Millisecond)
	matched := false
	if !created.IsZero() {
		fast := append(filter[:len(filter):len(filter)], bson.E{Key: d.m.CreatedKey(), Value: created})
		if matched, err = d.updateOne(ctx, oid, fast, u); err != nil {
			return d.writeErr(op, err)
		}
	}
	if !matched {
		out, err := d.findAndModify(ctx, oid, filter, u, false)
		if err != nil {
			return d.missing(ctx, op, oid, vk != "", err)
		}
		created = d.m.CreatedOf(out)
	}
	dd.CreatedAt = created
	*doc = *cp
	res := &mongo.UpdateResult{MatchedCount: 1, ModifiedCount: 1}
	if err := docmodel.AfterUpdate(ctx, res, any(doc)); err != nil {
		return d.hookErr(op, err)
	}
	return nil
}

// findAndModify applies u to the document filter matches and returns its
// created time and version (the projection of the result). A change that
// crosses a stored value that is not a document (PathNotViable) is
// rewritten to fit the stored document (docmodel.Viable) and retried.
func (d *DocStore[T, PT]) findAndModify(ctx context.Context, oid primitive.ObjectID, filter bson.D, u docmodel.Update, upsert bool) (bson.Raw, error) {
	fo := options.FindOneAndUpdate().SetReturnDocument(options.After).SetUpsert(upsert)
	if !d.db.Ferret { // FerretDB v1 does not implement findAndModify's fields
		proj := bson.D{{Key: d.m.CreatedKey(), Value: 1}}
		if vk := d.m.VersionKey(); vk != "" {
			proj = append(proj, bson.E{Key: vk, Value: 1})
		}
		fo.SetProjection(proj)
	}
	for attempt := 0; ; attempt++ {
		var out bson.Raw
		err := d.coll.FindOneAndUpdate(ctx, filter, u.Doc(), fo).Decode(&out)
		if err == nil || !isPathNotViable(err) || attempt == 2 {
			return out, err
		}
		if u, err = d.fit(ctx, oid, u); err != nil {
			return nil, err
		}
	}
}

// updateOne is findAndModify without a result: it reports whether a
// document matched.
func (d *DocStore[T, PT]) updateOne(ctx context.Context, oid primitive.ObjectID, filter bson.D, u docmodel.Update) (bool, error) {
	for attempt := 0; ; attempt++ {
		res, err := d.coll.UpdateOne(ctx, filter, u.Doc())
		if err == nil {
			return res.MatchedCount > 0, nil
		}
		if !isPathNotViable(err) || attempt == 2 {
			return false, err
		}
		if u, err = d.fit(ctx, oid, u); err != nil {
			return false, err
		}
	}
}

// fit rewrites u for the stored document with oid.
func (d *DocStore[T, PT]) fit(ctx context.Context, oid primitive.ObjectID, u docmodel.Update) (docmodel.Update, error) {
	var stored bson.Raw
	if err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&stored); err != nil {
		return u, err
	}
	return docmodel.Viable(stored, u), nil
}

// isPathNotViable reports MongoDB's refusal to create a field inside a
// value that is not a document (code 28, PathNotViable).
func isPathNotViable(err error) bool { return HasCode(err, 28) }

// missing returns the error of a conditional write that matched nothing:
// ErrConflict when versioned and the document exists (at another
// version), else ErrNotFound; err when it is not "no document".
func (d *DocStore[T, PT]) missing(ctx context.Context, op string, oid primitive.ObjectID, versioned bool, err error) error {
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return d.writeErr(op, err)
	}
	if versioned {
		n, cerr := d.coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: oid}}, options.Count().SetLimit(1))
		if cerr != nil {
			return d.wrap(op, cerr)
		}
		if n > 0 {
			return conflictErr(op, errors.New("stale version: the document has changed since it was read"))
		}
	}
	return notFoundErr(op, mongo.ErrNoDocuments)
}

// Patch applies p to the document with the given ID in one update that
// touches only the named fields (see ports.Patch), the updated time
// (unless p sets it) and the version. It returns ErrNotFound when no
// document has the ID (also for a malformed one), ErrConflict when p has
// IfVersion and the stored version differs, and ErrInvalid for a patch the
// schema refuses or a value the server cannot apply (Inc of a stored
// non-number).
func (d *DocStore[T, PT]) Patch(ctx context.Context, id string, p ports.Patch) error {
	ctx, sp := d.in.Start(ctx, obs.OpPatch)
	err := d.doPatch(ctx, id, p)
	sp.End(err)
	return err
}

// doPatch is Patch without its span.
func (d *DocStore[T, PT]) doPatch(ctx context.Context, id string, p ports.Patch) error {
	op := d.op("patch")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	u, err := d.m.PatchUpdate(p)
	if err != nil {
		return InvalidErr(op, err)
	}
	oid, ok := docmodel.ParseObjectID(id)
	if !ok {
		return notFoundErr(op, errors.New("malformed ID"))
	}
	filter := bson.D{{Key: "_id", Value: oid}}
	v, cond := p.Precondition()
	if cond {
		filter = append(filter, bson.E{Key: d.m.VersionKey(), Value: int64(v)})
	}
	u = d.stampPatch(u, now())
	matched, err := d.updateOne(ctx, oid, filter, u)
	if err != nil {
		return d.writeErr(op, err)
	}
	if !matched {
		return d.missing(ctx, op, oid, cond, nil)
	}
	return nil
}

// stampPatch adds the updated time (unless u writes it) and the version
// increment to a patch.
func (d *DocStore[T, PT]) stampPatch(u docmodel.Update, at time.Time) docmodel.Update {
	uk := d.m.UpdatedKey()
	written := false
	for _, e := range u.Set {
		written = written || e.Key == uk
	}
	for _, k := range u.Unset {
		written = written || k == uk
	}
	if !written {
		u.Set = append(u.Set, docmodel.Elem{Key: uk, Value: dateValue(at)})
	}
	if vk := d.m.VersionKey(); vk != "" {
		u.Inc = append(u.Inc, docmodel.Elem{Key: vk, Value: int64Value(1)})
	}
	return u
}

func dateValue(t time.Time) bson.RawValue {
	typ, b, _ := bson.MarshalValue(t)
	return bson.RawValue{Type: typ, Value: b}
}

func int64Value(n int64) bson.RawValue {
	typ, b, _ := bson.MarshalValue(n)
	return bson.RawValue{Type: typ, Value: b}
}

// Upsert inserts doc (assigning an ID when it has none) or, when a
// document has its ID, writes it as Update does, in one findAndModify
// with upsert; mgm's updating hooks run. With a zero Version (or none) it
// writes unconditionally and the version becomes the stored one plus one
// (1 for a new document); with a non-zero one the stored version must be
// doc's: ErrConflict otherwise, ErrNotFound when there is no document. A
// given ID must be an ObjectID's Hex form (ErrInvalid).
func (d *DocStore[T, PT]) Upsert(ctx context.Context, doc *T) error {
	ctx, sp := d.in.Start(ctx, obs.OpUpsert)
	err := d.doUpsert(ctx, doc)
	sp.End(err)
	return err
}

// doUpsert is Upsert without its span.
func (d *DocStore[T, PT]) doUpsert(ctx context.Context, doc *T) error {
	op := d.op("upsert")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	if doc == nil {
		return InvalidErr(op, errors.New("nil document"))
	}
	if err := checkID(PT(doc).Doc().ID); err != nil {
		return InvalidErr(op, err)
	}
	given := PT(doc).Doc().CreatedAt
	cp := new(T)
	*cp = *doc
	if err := docmodel.BeforeUpdate(ctx, any(cp)); err != nil {
		return d.hookErr(op, err)
	}
	dd := PT(cp).Doc()
	if dd.ID == "" {
		dd.ID = primitive.NewObjectID().Hex()
	}
	oid, ok := docmodel.ParseObjectID(dd.ID)
	if !ok {
		return InvalidErr(op, errors.New("the ID is not an ObjectID: 24 lowercase hexadecimal digits"))
	}
	at := now()
	dd.UpdatedAt = at
	created := at
	if !given.IsZero() {
		created = given.UTC().Truncate(time.Millisecond)
	}
	filter := bson.D{{Key: "_id", Value: oid}}
	vk := d.m.VersionKey()
	want := d.m.Version(cp)
	conditional := vk != "" && want != 0
	if conditional {
		filter = append(filter, bson.E{Key: vk, Value: int64(want)})
		d.m.SetVersion(cp, want+1)
	}
	raw, err := d.m.Encode(cp)
	if err != nil {
		return InvalidErr(op, err)
	}
	var stored bson.Raw
	if d.m.HasInlineMaps() {
		err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&stored)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return d.wrap(op, err)
		}
	}
	u, err := d.m.UpdateFields(raw, stored)
	if err != nil {
		return InvalidErr(op, err)
	}
	if vk != "" && !conditional {
		u = docmodel.WithoutKey(u, vk)
		u.Inc = append(u.Inc, docmodel.Elem{Key: vk, Value: int64Value(1)})
	}
	if !conditional {
		u.SetOnInsert = append(u.SetOnInsert, docmodel.Elem{Key: d.m.CreatedKey(), Value: dateValue(created)})
	}
	out, err := d.findAndModify(ctx, oid, filter, u, !conditional)
	if err != nil {
		return d.missing(ctx, op, oid, conditional, err)
	}
	dd.CreatedAt = d.m.CreatedOf(out)
	if vk != "" {
		if v, err := out.LookupErr(vk); err == nil {
			if n, ok := v.AsInt64OK(); ok {
				d.m.SetVersion(cp, ports.Version(n))
			}
		}
	}
	*doc = *cp
	res := &mongo.UpdateResult{MatchedCount: 1, ModifiedCount: 1}
	if err := docmodel.AfterUpdate(ctx, res, any(doc)); err != nil {
		return d.hookErr(op, err)
	}
	return nil
}

// Delete removes the document with the given ID, or returns ErrNotFound
// (also for an ID that is not an ObjectID's Hex form). mgm's deleting
// hooks do not run: there is no model to run them on.
func (d *DocStore[T, PT]) Delete(ctx context.Context, id string) error {
	ctx, sp := d.in.Start(ctx, obs.OpDelete)
	err := d.doDelete(ctx, id)
	sp.End(err)
	return err
}

// doDelete is Delete without its span.
func (d *DocStore[T, PT]) doDelete(ctx context.Context, id string) error {
	op := d.op("delete")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	oid, ok := docmodel.ParseObjectID(id)
	if !ok {
		return notFoundErr(op, errors.New("malformed ID"))
	}
	res, err := d.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: oid}})
	if err != nil {
		return d.writeErr(op, err)
	}
	if res.DeletedCount == 0 {
		return notFoundErr(op, mongo.ErrNoDocuments)
	}
	return nil
}

// DeleteIfVersion removes the document with the given ID if its stored
// version is v: ErrConflict when it is another, ErrNotFound when there is
// none, ErrInvalid when T has no Version field.
func (d *DocStore[T, PT]) DeleteIfVersion(ctx context.Context, id string, v ports.Version) error {
	ctx, sp := d.in.Start(ctx, obs.OpDeleteIfVersion)
	err := d.doDeleteIfVersion(ctx, id, v)
	sp.End(err)
	return err
}

// doDeleteIfVersion is DeleteIfVersion without its span.
func (d *DocStore[T, PT]) doDeleteIfVersion(ctx context.Context, id string, v ports.Version) error {
	op := d.op("delete if version")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	vk := d.m.VersionKey()
	if vk == "" {
		return InvalidErr(op, fmt.Errorf("%s has no Version field", d.m.Type().Name()))
	}
	oid, ok := docmodel.ParseObjectID(id)
	if !ok {
		return notFoundErr(op, errors.New("malformed ID"))
	}
	res, err := d.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: oid}, {Key: vk, Value: int64(v)}})
	if err != nil {
		return d.writeErr(op, err)
	}
	if res.DeletedCount == 0 {
		return d.missing(ctx, op, oid, true, nil)
	}
	return nil
}

// DeleteWhere removes every document matching q's conditions (at least
// one; no order, limit or offset) in one deleteMany and returns how many.
func (d *DocStore[T, PT]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := d.in.Start(ctx, obs.OpDeleteWhere)
	v, err := d.doDeleteWhere(ctx, q)
	sp.End(err)
	return v, err
}

// doDeleteWhere is DeleteWhere without its span.
func (d *DocStore[T, PT]) doDeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	op := d.op("delete where")
	if err := d.db.Enter(ctx, op); err != nil {
		return 0, err
	}
	if err := d.m.Schema().ValidateDeleteWhere(q); err != nil {
		return 0, InvalidErr(op, err)
	}
	conds, err := d.m.Conditions(q.Conditions())
	if err != nil {
		return 0, InvalidErr(op, err)
	}
	res, err := d.coll.DeleteMany(ctx, docmodel.Filter(conds))
	if err != nil {
		return 0, d.writeErr(op, err)
	}
	return res.DeletedCount, nil
}
