package mongo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/portkit/portkit/ports"
)

// Index declares an index of a DocStore's collection; pass it to
// NewDocStore with [WithIndexes] and create it with EnsureIndexes.
//
//	mongo.Index{Fields: []string{"Email"}, Unique: true}              // unique
//	mongo.Index{Fields: []string{"Author.Name", "-Rank"}}             // compound
//	mongo.Index{Fields: []string{"CreatedAt"}, TTL: 30 * 24 * time.Hour} // expiry
type Index struct {
	// Fields are the model's Go field paths ("Title", "Author.Name"),
	// most significant first; a "-" prefix makes a key descending. Each is
	// mapped to its BSON key like a Query field.
	Fields []string
	// Name names the index; empty lets the server derive one from the
	// keys, e.g. "author.name_1_rank_-1".
	Name string
	// Unique rejects a second document with the same values: Insert,
	// InsertMany and Update then return ErrConflict.
	Unique bool
	// Sparse skips documents that lack the field.
	Sparse bool
	// TTL, when positive, makes the server delete each document TTL after
	// the time in its only field, which must be a time.Time (whole
	// seconds, at least one). The server's TTL monitor runs about once a
	// minute, so expiry is late by up to that much.
	TTL time.Duration
}

// String renders the index keys and options, e.g. "{title:1 rank:-1} unique".
func (ix Index) String() string {
	var b strings.Builder
	b.WriteString("{")
	for i, f := range ix.Fields {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(f)
	}
	b.WriteString("}")
	if ix.Unique {
		b.WriteString(" unique")
	}
	if ix.Sparse {
		b.WriteString(" sparse")
	}
	if ix.TTL > 0 {
		fmt.Fprintf(&b, " ttl=%v", ix.TTL)
	}
	return b.String()
}

// indexModel resolves ix against model type t.
func indexModel(t reflect.Type, ix Index) (mongo.IndexModel, error) {
	if len(ix.Fields) == 0 {
		return mongo.IndexModel{}, errors.New("index has no fields")
	}
	keys := bson.D{}
	var ttlField reflect.Type
	for _, f := range ix.Fields {
		dir := 1
		switch {
		case strings.HasPrefix(f, "-"):
			f, dir = f[1:], -1
		case strings.HasPrefix(f, "+"):
			f = f[1:]
		}
		chain, err := fieldChain(t, f)
		if err != nil {
			return mongo.IndexModel{}, fmt.Errorf("index %v: %s %w", ix, t.Name(), err)
		}
		k, err := bsonKey(chain)
		if err != nil {
			return mongo.IndexModel{}, fmt.Errorf("index %v: %s.%s: %w", ix, t.Name(), f, err)
		}
		keys = append(keys, bson.E{Key: k, Value: dir})
		ttlField = chain[len(chain)-1].Type
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
		for ttlField.Kind() == reflect.Pointer {
			ttlField = ttlField.Elem()
		}
		switch {
		case len(ix.Fields) != 1:
			return mongo.IndexModel{}, fmt.Errorf("index %v: a TTL index has exactly one field", ix)
		case ttlField != reflect.TypeFor[time.Time]():
			return mongo.IndexModel{}, fmt.Errorf("index %v: a TTL index needs a time.Time field, not %v", ix, ttlField)
		case ix.TTL < time.Second || ix.TTL%time.Second != 0:
			return mongo.IndexModel{}, fmt.Errorf("index %v: TTL must be whole seconds, at least 1s", ix)
		}
		o.SetExpireAfterSeconds(int32(ix.TTL / time.Second))
	}
	return mongo.IndexModel{Keys: keys, Options: o}, nil
}

// EnsureIndexes creates the indexes declared with WithIndexes. It is
// idempotent: an index that exists with the same keys and options is left
// alone. An index that exists under the same name or keys with other
// options is ErrConflict; an option the server does not implement (TTL on
// FerretDB) is ErrInvalid.
func (d *DocStore[T, PT]) EnsureIndexes(ctx context.Context) error {
	const op = "ensure indexes"
	if d.s.isClosed() {
		return closedErr(op)
	}
	if len(d.indexes) == 0 {
		return nil
	}
	// One createIndexes command per index rather than one for all:
	// FerretDB v1.24 panics (and drops the connection) when a single
	// command re-declares two or more existing indexes, a bug in its
	// validateIndexesForCreation; MongoDB does not mind either way.
	for _, m := range d.indexes {
		if _, err := d.coll.Indexes().CreateOne(ctx, m); err != nil {
			var se mongo.ServerError
			if errors.As(err, &se) && (se.HasErrorCode(85) || se.HasErrorCode(86)) { // IndexOptionsConflict, IndexKeySpecsConflict
				return ports.NewError(backend, op+" "+d.name, ports.ErrConflict, err)
			}
			return d.wrap(op, err)
		}
	}
	return nil
}
