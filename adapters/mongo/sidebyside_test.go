package mongo_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"
	drv "go.mongodb.org/mongo-driver/mongo"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// The side-by-side tests run one scenario on the document fake and on the
// adapter against the server (FerretDB in CI) and assert the same
// outcome, the one ports.DocStore's rules define, on both (issue 12).
// Where FerretDB deviates from MongoDB's documented behaviour, the fake
// follows MongoDB and a quirk test records FerretDB's answer.

// side is one implementation under test.
type side[T any] struct {
	name  string
	store ports.DocStore[T]
	// raw is the server's collection (nil on the fake), for documents
	// written by another program and for reading what was stored.
	raw *drv.Collection
	// closer closes the store (the fake's DocStore, the adapter's Store).
	closer ports.Connector
	// server names the server ("fake" on the fake).
	server string
	// ensure creates the declared indexes (the adapter's EnsureIndexes).
	ensure func(ctx context.Context) error
}

// opts are the options of both stores of a side-by-side test.
type opts struct {
	collection string
	indexes    []mongo.Index
	created    string
	updated    string
}

// eachSide runs fn as the subtests "fake" and "mongo", on a new
// collection of each; the mongo subtest is skipped without a server (it
// fails when backends are required).
func eachSide[T any, PT ports.DocModel[T]](t *testing.T, o opts, fn func(t *testing.T, s side[T])) {
	t.Helper()
	coll := o.collection
	if coll == "" {
		coll = testenv.UniqueName("side")
	}
	t.Run("fake", func(t *testing.T) {
		db := fakes.NewDB()
		t.Cleanup(func() { _ = db.Close(context.Background()) })
		fo := []fakes.StoreOption{fakes.WithTable(coll)}
		if len(o.indexes) > 0 {
			fo = append(fo, fakes.WithIndexes(o.indexes...))
		}
		if o.created != "" || o.updated != "" {
			fo = append(fo, fakes.WithTimestampKeys(o.created, o.updated))
		}
		s, err := fakes.NewDocStore[T, PT](db, fo...)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, side[T]{name: "fake", store: s, closer: s, server: "fake", ensure: s.EnsureIndexes})
	})
	t.Run("mongo", func(t *testing.T) {
		uri := backendURI(t)
		st := open(t, uri, testDB(t, uri))
		var mo []mongo.DocOption
		if len(o.indexes) > 0 {
			mo = append(mo, mongo.WithIndexes(o.indexes...))
		}
		if o.created != "" || o.updated != "" {
			mo = append(mo, mongo.WithTimestampKeys(o.created, o.updated))
		}
		s, err := mongo.NewDocStore[T, PT](st, coll, mo...)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureIndexes(t.Context()); err != nil {
			t.Fatalf("EnsureIndexes: %v", err)
		}
		fn(t, side[T]{name: "mongo", store: s, raw: s.Collection().Collection, closer: st, server: st.Server(), ensure: s.EnsureIndexes})
	})
}

// sdoc is the model of most side-by-side tests: every kind of field the
// issue lists.
type sdoc struct {
	ports.Document `bson:",inline"`
	Name           string               `bson:"name"`
	Cnt            int                  `bson:"cnt,omitempty"`
	Num            float64              `bson:"num"`
	Tags           []string             `bson:"tags,omitempty"`
	Attrs          map[string]string    `bson:"attrs,omitempty"`
	When           map[string]time.Time `bson:"when,omitempty"`
	Any            any                  `bson:"any,omitempty"`
	At             time.Time            `bson:"at"`
	P              *int                 `bson:"p"`
	Sub            *ssub                `bson:"sub"`
	Ref            ports.DocRef         `bson:"ref"`
	Peer           primitive.ObjectID   `bson:"peer"`
	U              uint64               `bson:"u"`
	Blob           string               `bson:"blob,omitempty"`
	Email          string               `bson:"email,omitempty"`
	Skip           string               `bson:"-"`
	hidden         string
}

type ssub struct {
	X int    `bson:"x"`
	Y string `bson:"y"`
}

// vdoc is a model with optimistic concurrency.
type vdoc struct {
	ports.Document `bson:",inline"`
	Name           string        `bson:"name"`
	N              int           `bson:"n"`
	V              ports.Version `bson:"v"`
}

func intp(n int) *int { return &n }

// names returns the Name of each document.
func names(ds []sdoc) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

func mustInsert[T any](t *testing.T, s ports.DocStore[T], ds ...*T) {
	t.Helper()
	for _, d := range ds {
		if err := s.Insert(t.Context(), d); err != nil {
			t.Fatalf("Insert: %v", err)
		}
	}
}

func mustFind[T any](t *testing.T, s ports.DocStore[T], q ports.Query) []T {
	t.Helper()
	got, err := s.Find(t.Context(), q)
	if err != nil {
		t.Fatalf("Find(%s): %v", q, err)
	}
	return got
}
