package open

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/docmodel"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/mongostore"
	"github.com/portkit/portkit/ports"
)

// Index declares an index of a document store's collection, for
// [WithIndexes]: the type fakes.Index and mongo.Index are.
type Index = docmodel.Index

// StoreOption configures [NewSQLStore] and [NewDocStore].
type StoreOption func(*storeOptions)

type storeOptions struct {
	indexes             []Index
	createdKey, updated string
	batchSize           int
}

// WithIndexes declares indexes of a document store's collection, as
// fakes.WithIndexes and mongo.WithIndexes do: the fake enforces them at
// once, MongoDB once [Migrate] (EnsureIndexes) has run. SQL stores ignore
// it (their indexes are the model's gorm tags).
func WithIndexes(ix ...Index) StoreOption {
	return func(o *storeOptions) { o.indexes = append(o.indexes, ix...) }
}

// WithTimestampKeys names the BSON keys of a document store's created and
// updated times, as mongo.WithTimestampKeys does. SQL stores ignore it.
func WithTimestampKeys(created, updated string) StoreOption {
	return func(o *storeOptions) { o.createdKey, o.updated = created, updated }
}

// WithBatchSize sets the most rows per INSERT of an SQL store's
// CreateMany on a gorm adapter (the adapters' default otherwise). The
// fakes and document stores ignore it.
func WithBatchSize(n int) StoreOption {
	return func(o *storeOptions) { o.batchSize = n }
}

func storeOpts(opts []StoreOption) storeOptions {
	var o storeOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// NewSQLStore returns the store of entity type T in table of the database
// h is (table "" for the table gorm names after T), whichever scheme
// opened it: the adapter's own store (a mysql:// or postgres:// handle
// gives the store the adapter's NewStore gives, with its Migrate), or the
// fake's for mem://. The rules of T are the adapter's (a gorm model with
// one primary key). It returns an error wrapping ports.ErrInvalid for a
// model or table the backend refuses, and for a handle whose backend
// package open does not know (a third-party adapter: use its own
// constructor).
func NewSQLStore[T any](h SQL, table string, opts ...StoreOption) (ports.SQLStore[T], error) {
	o := storeOpts(opts)
	switch db := h.Stores.(type) {
	case *gormstore.DB:
		s, err := gormstore.NewStore[T](db, gormstore.Options{Table: table, BatchSize: o.batchSize})
		if err != nil {
			return nil, err
		}
		return s, nil
	case *fakes.DB:
		s, err := fakes.NewSQLStore[T](db, fakes.WithTable(table))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, unknownStores("new sql store", h.Scheme, h.Stores)
}

// NewDocStore returns the store of model T (which embeds ports.Document;
// PT is *T, inferred) in collection of the database h is, whichever scheme
// opened it: the mongo adapter's store for mongodb:// (the one
// mongo.NewDocStore gives, with its EnsureIndexes), the fake's for mem://.
// It returns an error wrapping ports.ErrInvalid for a model, collection or
// index the backend refuses, and for a handle whose backend package open
// does not know.
func NewDocStore[T any, PT ports.DocModel[T]](h Doc, collection string, opts ...StoreOption) (ports.DocStore[T], error) {
	o := storeOpts(opts)
	switch db := h.Stores.(type) {
	case *mongostore.DB:
		s, err := mongostore.NewDocStore[T, PT](db, collection, mongostore.DocOptions{Model: docmodel.Options{
			Indexes: o.indexes, CreatedKey: o.createdKey, UpdatedKey: o.updated,
		}})
		if err != nil {
			return nil, err
		}
		return s, nil
	case *fakes.DB:
		fo := []fakes.StoreOption{fakes.WithTable(collection), fakes.WithIndexes(o.indexes...)}
		if o.createdKey != "" || o.updated != "" {
			fo = append(fo, fakes.WithTimestampKeys(o.createdKey, o.updated))
		}
		s, err := fakes.NewDocStore[T, PT](db, fo...)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, unknownStores("new doc store", h.Scheme, h.Stores)
}

func unknownStores(op, scheme string, stores any) error {
	if stores == nil {
		return ports.NewError(Backend, op, ports.ErrInvalid,
			fmt.Errorf("the %s:// handle has no store machinery package open knows: use its adapter's own constructor", scheme))
	}
	return ports.NewError(Backend, op, ports.ErrInvalid,
		fmt.Errorf("the %s:// handle's stores (%v) are not a kind package open knows: use its adapter's own constructor", scheme, reflect.TypeOf(stores)))
}

// Migrate prepares each store for use on its backend, in order: it
// creates or completes the table of an SQL store of a gorm adapter (its
// Migrate), and creates the declared indexes of a MongoDB document store
// (its EnsureIndexes). Stores that need nothing, the fakes', are skipped,
// so that wiring calls Migrate whatever the scheme. The first failure is
// returned, naming the store's position.
func Migrate(ctx context.Context, stores ...any) error {
	for i, s := range stores {
		var err error
		switch m := s.(type) {
		case interface{ Migrate(context.Context) error }:
			err = m.Migrate(ctx)
		case interface{ EnsureIndexes(context.Context) error }:
			err = m.EnsureIndexes(ctx)
		case nil:
			err = ports.NewError(Backend, "migrate", ports.ErrInvalid, errors.New("nil store"))
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("open: migrate store %d (%T): %w", i, s, err)
		}
	}
	return nil
}
