package difftest

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// Inner is a nested struct of Rec, queried by dotted paths.
type Inner struct {
	City string `bson:"city"`
	Zip  *int   `bson:"zip,omitempty"`
}

// Rec is a document model with the fields issue 12 names: omitempty,
// pointers, a nested struct and a pointer to one, a slice, a map, an any,
// a DocRef, a uint64, bson:"-" and a version.
type Rec struct {
	ports.Document `bson:",inline"`
	Title          string            `bson:"title"`
	Cnt            int               `bson:"cnt,omitempty"`
	Score          float64           `bson:"score"`
	Flag           *bool             `bson:"flag"`
	Note           *string           `bson:"note"`
	At             time.Time         `bson:"at"`
	Tags           []string          `bson:"tags,omitempty"`
	Meta           map[string]string `bson:"meta"`
	Any            any               `bson:"any"`
	Owner          ports.DocRef      `bson:"owner"`
	Big            uint64            `bson:"big"`
	In             Inner             `bson:"in"`
	PIn            *Inner            `bson:"pin"`
	Skip           string            `bson:"-"`
	Ver            ports.Version     `bson:"ver"`
}

// docAllow are the documented divergences of documents, by server.
func docAllow(server string) []portstest.Allowance {
	if !strings.HasPrefix(server, "FerretDB") {
		return nil
	}
	return []portstest.Allowance{{
		// Recorded by adapters/mongo TestSideBySideSetMapWithOtherKeys.
		Kind: `^(Get: entity differs|(Find|Stream|Snapshot|FindPage): values differ) \[Meta\]$`,
		Why:  "FerretDB v1.24 quirk: $set of an embedded document with equal values under other keys changes nothing (MongoDB writes it)",
	}}
}

func TestDiffDoc(t *testing.T) {
	uri := testenv.Env(t, "mongo", "MONGODB_URI")
	dbName := testenv.UniqueName("pk_pt")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: dbName, ConnectTimeout: 10 * time.Second})
	if err != nil {
		testenv.Missing(t, "mongo", err.Error())
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = st.Database().Drop(ctx)
		_ = st.Close(ctx)
	}()
	var tx ports.Transactor // FerretDB has no transactions: neither side gets one
	if st.SupportsTransactions() {
		tx = st
	}
	t.Run("Doc", func(t *testing.T) {
		o := options(docOps)
		o.Allow = docAllow(st.Server())
		portstest.DiffDocStore(t, fakeDoc[portstest.Doc], realDoc[portstest.Doc](st, tx, "docs"), o)
	})
	t.Run("Rec", func(t *testing.T) {
		o := options(docOps)
		o.Allow = docAllow(st.Server())
		portstest.DiffDocStore(t, fakeDoc[Rec], realDoc[Rec](st, tx, "recs"), o)
	})
}

func fakeDoc[T any, PT ports.DocModel[T]]() (portstest.DocSubject[T], error) {
	db := fakes.NewDB()
	s, err := fakes.NewDocStore[T, PT](db)
	if err != nil {
		_ = db.Close(context.Background())
		return portstest.DocSubject[T]{}, err
	}
	return portstest.DocSubject[T]{Store: s, Tx: db, Close: func() { _ = db.Close(context.Background()) }}, nil
}

// realDoc returns the constructor of a Mongo subject on a collection of
// its own, emptied between sequences. The fake's Tx is used only when the
// server has transactions (FerretDB has none): otherwise neither side
// gets one.
func realDoc[T any, PT ports.DocModel[T]](st *mongo.Store, tx ports.Transactor, prefix string) func() (portstest.DocSubject[T], error) {
	return func() (portstest.DocSubject[T], error) {
		s, err := mongo.NewDocStore[T, PT](st, testenv.UniqueName(prefix))
		if err != nil {
			return portstest.DocSubject[T]{}, err
		}
		return portstest.DocSubject[T]{
			Store: s, Tx: tx,
			Reset: func(ctx context.Context) error {
				_, err := s.Collection().DeleteMany(ctx, bson.D{})
				return err
			},
			Close: func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = s.Collection().Drop(ctx)
			},
		}, nil
	}
}
