package mongostore

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/portkit/portkit/internal/docmodel"
	"github.com/portkit/portkit/ports"
)

// indexModel returns the driver's model of a resolved index.
func indexModel(ix docmodel.ResolvedIndex) mongo.IndexModel {
	keys := bson.D{}
	for _, k := range ix.Keys {
		dir := 1
		if k.Desc {
			dir = -1
		}
		keys = append(keys, bson.E{Key: k.Key, Value: dir})
	}
	o := options.Index()
	if ix.Name != "" {
		o.SetName(ix.Name)
	}
	if ix.Unique {
		o.SetUnique(true)
	}
	if ix.Sparse {
		o.SetSparse(true)
	}
	if ix.TTL != 0 {
		o.SetExpireAfterSeconds(int32(ix.TTL / time.Second))
	}
	return mongo.IndexModel{Keys: keys, Options: o}
}

// EnsureIndexes creates the indexes declared with WithIndexes. It is
// idempotent: an index that exists with the same keys and options is left
// alone. An index that exists under the same name or keys with other
// options is ErrConflict, as is a unique index over documents that already
// hold duplicates; an option the server does not implement (TTL on
// FerretDB) is ErrInvalid.
func (d *DocStore[T, PT]) EnsureIndexes(ctx context.Context) error {
	op := d.op("ensure indexes")
	if err := d.db.Enter(ctx, op); err != nil {
		return err
	}
	// One createIndexes command per index rather than one for all:
	// FerretDB v1.24 panics (and drops the connection) when a single
	// command re-declares two or more existing indexes, a bug in its
	// validateIndexesForCreation; MongoDB does not mind either way.
	for _, m := range d.indexes {
		if _, err := d.coll.Indexes().CreateOne(ctx, m); err != nil {
			var se mongo.ServerError
			if errors.As(err, &se) && (se.HasErrorCode(85) || se.HasErrorCode(86)) { // IndexOptionsConflict, IndexKeySpecsConflict
				return ports.NewError(backend, op, ports.ErrConflict, RedactErr(err))
			}
			return d.wrap(op, err)
		}
	}
	return nil
}
