package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/kamva/mgm/v3"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// The same document three ways: as a portkit model (string ID, no mgm or
// bson import needed), as an mgm model, and as a raw driver struct.

type mongoAuthor struct {
	Name    string `bson:"name"`
	Country string `bson:"country"`
}

type mongoPortDoc struct {
	ports.Document `bson:",inline"`
	Title          string      `bson:"title"`
	Rank           int         `bson:"rank"`
	Score          float64     `bson:"score"`
	Tags           []string    `bson:"tags"`
	Author         mongoAuthor `bson:"author"`
}

type mongoMgmDoc struct {
	mgm.DefaultModel `bson:",inline"`
	Title            string      `bson:"title"`
	Rank             int         `bson:"rank"`
	Score            float64     `bson:"score"`
	Tags             []string    `bson:"tags"`
	Author           mongoAuthor `bson:"author"`
}

type mongoDriverDoc struct {
	ID        primitive.ObjectID `bson:"_id"`
	CreatedAt time.Time          `bson:"created_at"`
	UpdatedAt time.Time          `bson:"updated_at"`
	Title     string             `bson:"title"`
	Rank      int                `bson:"rank"`
	Score     float64            `bson:"score"`
	Tags      []string           `bson:"tags"`
	Author    mongoAuthor        `bson:"author"`
}

// mongoBench opens a Store on a database of its own (dropped at the end)
// from MONGODB_URI, or skips.
func mongoBench(b *testing.B) *mongo.Store {
	b.Helper()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		b.Skip("MONGODB_URI is not set")
	}
	ctx := context.Background()
	s, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: testenv.UniqueName("portkit_bench")},
		mongo.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Skipf("mongo: %v", err)
	}
	b.Cleanup(func() {
		_ = s.Database().Drop(ctx)
		_ = s.Close(ctx)
	})
	return s
}

// mongoCPU starts measuring the CPU time this process spends (user +
// system, all goroutines); the returned func reports it per op as
// "client-cpu-ns/op". The server runs in its own process, so this is the
// client-side cost, which a busy machine disturbs much less than ns/op.
func mongoCPU(b *testing.B) func() {
	start := mongoRusage()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(mongoRusage()-start)/float64(b.N), "client-cpu-ns/op")
		}
	}
}

func mongoRusage() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMongoGet reads one document by ID: through the port, through
// mgm's FindByID (hex string to ObjectID by the model's PrepareID), and
// with the driver's FindOne; all on the same connection pool and document.
func BenchmarkMongoGet(b *testing.B) {
	s := mongoBench(b)
	ctx := context.Background()
	const coll = "get"
	docs, err := mongo.NewDocStore[mongoPortDoc](s, coll)
	if err != nil {
		b.Fatal(err)
	}
	d := &mongoPortDoc{Title: "a title", Rank: 3, Score: 1.5, Tags: []string{"x", "y"}, Author: mongoAuthor{"ann", "fr"}}
	if err := docs.Insert(ctx, d); err != nil {
		b.Fatal(err)
	}
	oid, err := primitive.ObjectIDFromHex(d.ID)
	if err != nil {
		b.Fatal(err)
	}
	// Warm the connection pool and the server's caches, so that the first
	// variant does not pay for it.
	for range 200 {
		if err := s.Database().Collection(coll).FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Err(); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("port", func(b *testing.B) {
		var repo ports.DocStore[mongoPortDoc] = docs
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			got, err := repo.Get(ctx, d.ID)
			if err != nil || got.Title != d.Title {
				b.Fatal(got, err)
			}
		}
	})
	b.Run("mgm", func(b *testing.B) {
		c := mgm.NewCollection(s.Database(), coll)
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			var got mongoMgmDoc
			if err := c.FindByIDWithCtx(ctx, d.ID, &got); err != nil || got.Title != d.Title {
				b.Fatal(got, err)
			}
		}
	})
	b.Run("driver", func(b *testing.B) {
		c := s.Database().Collection(coll)
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			var got mongoDriverDoc
			if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&got); err != nil || got.Title != d.Title {
				b.Fatal(got, err)
			}
		}
	})
}

// BenchmarkMongoInsert1000 inserts 1000 new documents per op: through the
// port's InsertMany (hooks, ObjectIDs and timestamps set by the adapter)
// and with the driver's InsertMany of structs prepared alike.
func BenchmarkMongoInsert1000(b *testing.B) {
	const n = 1000
	s := mongoBench(b)
	ctx := context.Background()
	// Create both collections up front: creating one is a server-side
	// table creation that neither variant should pay for.
	for _, c := range []string{"insert_port", "insert_driver"} {
		if err := s.Database().CreateCollection(ctx, c); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("port", func(b *testing.B) {
		docs, err := mongo.NewDocStore[mongoPortDoc](s, "insert_port")
		if err != nil {
			b.Fatal(err)
		}
		var repo ports.DocStore[mongoPortDoc] = docs
		batch := make([]*mongoPortDoc, n)
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			for i := range batch {
				batch[i] = &mongoPortDoc{Title: fmt.Sprint("doc ", i), Rank: i, Score: 0.5, Tags: []string{"x"}, Author: mongoAuthor{"ann", "fr"}}
			}
			if err := repo.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("driver-insertmany", func(b *testing.B) {
		c := s.Database().Collection("insert_driver")
		batch := make([]any, n)
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			now := time.Now().UTC().Truncate(time.Millisecond)
			for i := range batch {
				batch[i] = &mongoDriverDoc{ID: primitive.NewObjectID(), CreatedAt: now, UpdatedAt: now,
					Title: fmt.Sprint("doc ", i), Rank: i, Score: 0.5, Tags: []string{"x"}, Author: mongoAuthor{"ann", "fr"}}
			}
			if _, err := c.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
