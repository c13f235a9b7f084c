package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kamva/mgm/v3"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
	"gocloud.dev/docstore"
	"gocloud.dev/docstore/mongodocstore"

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

// mongoBench opens a Store on a database of its own (dropped at the end;
// its name starts with MONGODB_DATABASE when set, else "portkit_bench")
// from MONGODB_URI, or skips.
func mongoBench(b *testing.B) *mongo.Store {
	b.Helper()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		b.Skip("MONGODB_URI is not set")
	}
	prefix := "portkit_bench"
	if v := os.Getenv("MONGODB_DATABASE"); v != "" {
		prefix = v
	}
	ctx := context.Background()
	s, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: testenv.UniqueName(prefix)},
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
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "client-cpu-ns/op")
		}
	}
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
// and with the driver's InsertMany of structs prepared alike, each alone
// and paired (both in every iteration). Goal (issue 16): port within
// 1.10x of the driver.
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

	docs, err := mongo.NewDocStore[mongoPortDoc](s, "insert_port")
	if err != nil {
		b.Fatal(err)
	}
	var repo ports.DocStore[mongoPortDoc] = docs
	portBatch := make([]*mongoPortDoc, n)
	portInsert := func(b *testing.B) {
		for i := range portBatch {
			portBatch[i] = &mongoPortDoc{Title: fmt.Sprint("doc ", i), Rank: i, Score: 0.5, Tags: []string{"x"}, Author: mongoAuthor{"ann", "fr"}}
		}
		if err := repo.InsertMany(ctx, portBatch); err != nil {
			b.Fatal(err)
		}
	}
	c := s.Database().Collection("insert_driver")
	driverBatch := make([]any, n)
	driverInsert := func(b *testing.B) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		for i := range driverBatch {
			driverBatch[i] = &mongoDriverDoc{ID: primitive.NewObjectID(), CreatedAt: now, UpdatedAt: now,
				Title: fmt.Sprint("doc ", i), Rank: i, Score: 0.5, Tags: []string{"x"}, Author: mongoAuthor{"ann", "fr"}}
		}
		if _, err := c.InsertMany(ctx, driverBatch); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("port", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			portInsert(b)
		}
	})
	b.Run("driver-insertmany", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			driverInsert(b)
		}
	})
	// Both in every iteration, in turns: the ratios of the medians
	// (port/driver, goal ≤ 1.10).
	b.Run("paired", func(b *testing.B) { paired(b, "port", "driver", portInsert, driverInsert) })
}

// mongoSeed inserts n port documents into coll (through the driver, in
// batches) unless it holds them already, and returns the port's store.
func mongoSeed(b *testing.B, s *mongo.Store, coll string, n int) *mongo.DocStore[mongoPortDoc, *mongoPortDoc] {
	b.Helper()
	ctx := context.Background()
	docs, err := mongo.NewDocStore[mongoPortDoc](s, coll)
	if err != nil {
		b.Fatal(err)
	}
	have, err := docs.Count(ctx, ports.All())
	if err != nil {
		b.Fatal(err)
	}
	for i := int(have); i < n; i += 5000 {
		batch := make([]*mongoPortDoc, 0, 5000)
		for j := i; j < min(i+5000, n); j++ {
			batch = append(batch, &mongoPortDoc{Title: fmt.Sprint("document ", j), Rank: j, Score: float64(j) / 3,
				Tags: []string{"x", "y"}, Author: mongoAuthor{"ann", "fr"}})
		}
		if err := docs.InsertMany(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	return docs
}

// BenchmarkMongoFind1000 reads the same 1000 documents into a []T per op:
// the port's Find (validation, filter and sort built from the Query, the
// model's registry) and the driver's Find + Cursor.All into the same type
// with the same sort. Goal (issue 16): port within 1.10x of the driver.
func BenchmarkMongoFind1000(b *testing.B) {
	s := mongoBench(b)
	ctx := context.Background()
	docs := mongoSeed(b, s, "find1000", 1000)
	q := ports.Where("Rank", ports.Gte, 0)
	b.Run("port", func(b *testing.B) {
		var repo ports.DocStore[mongoPortDoc] = docs
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			got, err := repo.Find(ctx, q)
			if err != nil || len(got) != 1000 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("driver-all", func(b *testing.B) {
		c := s.Database().Collection("find1000")
		filter := bson.D{{Key: "rank", Value: bson.D{{Key: "$gte", Value: 0}}}}
		fo := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			cur, err := c.Find(ctx, filter, fo)
			if err != nil {
				b.Fatal(err)
			}
			var got []mongoPortDoc
			if err := cur.All(ctx, &got); err != nil || len(got) != 1000 {
				b.Fatal(len(got), err)
			}
		}
	})
}

// heapPeak samples the live heap (runtime/metrics, no stop-the-world)
// every 200µs until stop is called, which returns the peak in MiB.
func heapPeak() (stop func() float64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		return float64(peak.Load()) / (1 << 20)
	}
}

// BenchmarkMongoStream200k reads 200 000 documents per op: the port's
// Stream (a server cursor read StreamBatchSize documents at a time, one
// document decoded at a time), the port's Find (the whole result in one
// slice), and the driver's raw cursor loop (Next + Decode, default batch
// sizes). It reports the peak live heap of each ("peak-heap-MiB") and
// documents per second; and Stream and the cursor loop paired (both in
// every iteration). Goals (issue 16): Stream's peak heap ≤ 32 MiB while
// Find's grows with the result; Stream's throughput ≥ 0.9x the raw cursor
// loop's.
func BenchmarkMongoStream200k(b *testing.B) {
	const n = 200_000
	s := mongoBench(b)
	ctx := context.Background()
	docs := mongoSeed(b, s, "stream200k", n)
	report := func(b *testing.B, peak float64) {
		b.ReportMetric(peak, "peak-heap-MiB")
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	}
	var repo ports.DocStore[mongoPortDoc] = docs
	portStream := func(b *testing.B) {
		count := 0
		for d, err := range repo.Stream(ctx, ports.All()) {
			if err != nil {
				b.Fatal(err)
			}
			if d.Rank < 0 { // read a field, as a consumer would
				b.Fatal(d.Rank)
			}
			count++
		}
		if count != n {
			b.Fatal(count)
		}
	}
	c := s.Database().Collection("stream200k")
	fo := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	driverCursor := func(b *testing.B) {
		cur, err := c.Find(ctx, bson.D{}, fo)
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for cur.Next(ctx) {
			var d mongoPortDoc
			if err := cur.Decode(&d); err != nil {
				b.Fatal(err)
			}
			count++
		}
		if err := cur.Err(); err != nil || count != n {
			b.Fatal(count, err)
		}
		_ = cur.Close(ctx)
	}
	b.Run("port-stream", func(b *testing.B) {
		stop := heapPeak()
		defer mongoCPU(b)()
		for b.Loop() {
			portStream(b)
		}
		report(b, stop())
	})
	b.Run("port-find", func(b *testing.B) {
		stop := heapPeak()
		defer mongoCPU(b)()
		for b.Loop() {
			got, err := repo.Find(ctx, ports.All())
			if err != nil || len(got) != n {
				b.Fatal(len(got), err)
			}
		}
		report(b, stop())
	})
	b.Run("driver-cursor", func(b *testing.B) {
		stop := heapPeak()
		defer mongoCPU(b)()
		for b.Loop() {
			driverCursor(b)
		}
		report(b, stop())
	})
	// Both in every iteration, in turns: the ratios of the medians of the
	// times (port/driver; the throughput ratio is its inverse, goal ≥ 0.9,
	// so port/driver ≤ 1.11).
	b.Run("paired", func(b *testing.B) { paired(b, "port", "driver", portStream, driverCursor) })
}

// cdkDoc is mongoPortDoc as Go CDK's docstore encodes it.
type cdkDoc struct {
	ID        string    `docstore:"_id"`
	CreatedAt time.Time `docstore:"created_at"`
	UpdatedAt time.Time `docstore:"updated_at"`
	Title     string    `docstore:"title"`
	Rank      int       `docstore:"rank"`
	Score     float64   `docstore:"score"`
	Tags      []string  `docstore:"tags"`
	Author    cdkAuthor `docstore:"author"`
}

type cdkAuthor struct {
	Name    string `docstore:"name"`
	Country string `docstore:"country"`
}

// BenchmarkMongoCDK compares the port with Go CDK's docstore
// (gocloud.dev/docstore/mongodocstore, the peer users pick instead) over
// the same server and pool: Get by ID, a 1000-document query iteration,
// and a whole-document update (CDK's Replace beside the port's Update;
// CDK's Update with Mods beside the port's Patch). Goal (issue 16): the
// port at least as fast on each.
func BenchmarkMongoCDK(b *testing.B) {
	s := mongoBench(b)
	ctx := context.Background()
	docs := mongoSeed(b, s, "cdk_port", 1000)
	coll, err := mongodocstore.OpenCollection(s.Database().Collection("cdk_cdk"), "_id", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer coll.Close()
	for i := range 1000 {
		d := &cdkDoc{ID: fmt.Sprintf("doc-%04d", i), Title: fmt.Sprint("document ", i), Rank: i, Score: float64(i) / 3,
			Tags: []string{"x", "y"}, Author: cdkAuthor{"ann", "fr"}, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
		if err := coll.Put(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	some, err := docs.Find(ctx, ports.All().Limit(1))
	if err != nil || len(some) != 1 {
		b.Fatal(err)
	}
	id := some[0].ID
	var repo ports.DocStore[mongoPortDoc] = docs

	b.Run("get/port", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			if _, err := repo.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get/cdk", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			d := &cdkDoc{ID: "doc-0000"}
			if err := coll.Get(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("query1000/port-stream", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			n := 0
			for _, err := range repo.Stream(ctx, ports.Where("Rank", ports.Gte, 0)) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				b.Fatal(n)
			}
		}
	})
	b.Run("query1000/port-find", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			got, err := repo.Find(ctx, ports.Where("Rank", ports.Gte, 0))
			if err != nil || len(got) != 1000 {
				b.Fatal(len(got), err)
			}
		}
	})
	cdkQuery := func(b *testing.B, sorted bool) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		for b.Loop() {
			q := coll.Query().Where("rank", ">=", 0)
			if sorted { // the port's Find and Stream return ID order; CDK sorts only by a field it filters on
				q = q.Where("_id", ">", "").OrderBy("_id", docstore.Ascending)
			}
			it := q.Get(ctx)
			n := 0
			for {
				var d cdkDoc
				err := it.Next(ctx, &d)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			it.Stop()
			if n != 1000 {
				b.Fatal(n)
			}
		}
	}
	b.Run("query1000/cdk", func(b *testing.B) { cdkQuery(b, false) })
	b.Run("query1000/cdk-sorted", func(b *testing.B) { cdkQuery(b, true) })
	b.Run("update/port", func(b *testing.B) {
		d, err := repo.Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer mongoCPU(b)()
		i := 0
		for b.Loop() {
			i++
			d.Score = float64(i)
			if err := repo.Update(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update/cdk-replace", func(b *testing.B) {
		d := &cdkDoc{ID: "doc-0000"}
		if err := coll.Get(ctx, d); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer mongoCPU(b)()
		i := 0
		for b.Loop() {
			i++
			d.Score, d.UpdatedAt = float64(i), time.Now().UTC()
			if err := coll.Replace(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("patch/port", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		i := 0
		for b.Loop() {
			i++
			if err := repo.Patch(ctx, id, ports.Set("Score", float64(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("patch/cdk-update", func(b *testing.B) {
		b.ReportAllocs()
		defer mongoCPU(b)()
		i := 0
		for b.Loop() {
			i++
			if err := coll.Update(ctx, &cdkDoc{ID: "doc-0000"}, docstore.Mods{"score": float64(i), "updated_at": time.Now().UTC()}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
