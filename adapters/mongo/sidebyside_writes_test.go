package mongo_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// A failed Insert, Update or InsertMany leaves the caller's documents as
// they were: no time, ID or version set.
func TestSideBySideFailedWritesLeaveDocuments(t *testing.T) {
	eachSide[vdoc](t, opts{indexes: []mongo.Index{{Fields: []string{"Name"}, Unique: true}}}, func(t *testing.T, s side[vdoc]) {
		ctx := t.Context()
		a := &vdoc{Name: "a"}
		b := &vdoc{Name: "b"}
		mustInsert(t, s.store, a, b)

		dup := &vdoc{Name: "dup"}
		dup.ID = a.ID
		if err := s.store.Insert(ctx, dup); !errors.Is(err, ports.ErrConflict) {
			t.Fatalf("Insert of a taken ID: %v, want ErrConflict", err)
		}
		if !dup.CreatedAt.IsZero() || !dup.UpdatedAt.IsZero() || dup.V != 0 {
			t.Errorf("a failed Insert set times or the version: %+v", dup)
		}

		// An Update that breaks the unique index.
		c := *b
		c.Name = "a"
		if err := s.store.Update(ctx, &c); !errors.Is(err, ports.ErrConflict) {
			t.Fatalf("Update to a duplicate unique value: %v, want ErrConflict", err)
		}
		if c.UpdatedAt != b.UpdatedAt || c.V != b.V {
			t.Errorf("a failed Update changed the document: UpdatedAt %v -> %v, V %d -> %d", b.UpdatedAt, c.UpdatedAt, b.V, c.V)
		}
		// A stale Update.
		stale := *b
		fresh := *b
		fresh.N = 1
		if err := s.store.Update(ctx, &fresh); err != nil {
			t.Fatal(err)
		}
		stale.N = 2
		before := stale
		if err := s.store.Update(ctx, &stale); !errors.Is(err, ports.ErrConflict) {
			t.Fatalf("stale Update: %v, want ErrConflict", err)
		}
		if stale != before {
			t.Errorf("a stale Update changed the document: %+v -> %+v", before, stale)
		}
		got, err := s.store.Get(ctx, b.ID)
		if err != nil || got.N != 1 || got.V != 2 {
			t.Errorf("after the stale Update the stored document is %+v, %v; want N 1 at version 2", got, err)
		}
	})
}

// InsertMany is ordered: on a duplicate, the documents before it are
// stored and keep their IDs, it and those after are left as given.
func TestSideBySideInsertManyOrdered(t *testing.T) {
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		ctx := t.Context()
		first := &sdoc{Name: "first"}
		mustInsert(t, s.store, first)
		dup := &sdoc{Name: "dup"}
		dup.ID = first.ID
		batch := []*sdoc{{Name: "b0"}, {Name: "b1"}, dup, {Name: "b3"}}
		err := s.store.InsertMany(ctx, batch)
		if !errors.Is(err, ports.ErrConflict) {
			t.Fatalf("InsertMany with a duplicate at 2: %v, want ErrConflict", err)
		}
		for i, d := range batch[:2] {
			if d.ID == "" || d.CreatedAt.IsZero() {
				t.Errorf("document %d, stored before the duplicate, has no ID or time: %+v", i, d)
			} else if _, err := s.store.Get(ctx, d.ID); err != nil {
				t.Errorf("document %d is not stored: %v", i, err)
			}
		}
		if !dup.CreatedAt.IsZero() || batch[3].ID != "" || !batch[3].CreatedAt.IsZero() {
			t.Errorf("the failing document or the one after it was changed: %+v %+v", dup, batch[3])
		}
		if n, _ := s.store.Count(ctx, ports.All()); n != 3 {
			t.Errorf("Count = %d, want 3 (first, b0, b1)", n)
		}
		// A document the portable rules refuse stops the batch the same
		// way, after the ones before it.
		bad := []*sdoc{{Name: "c0"}, {Name: "c1", Num: math.NaN()}, {Name: "c2"}}
		if err := s.store.InsertMany(ctx, bad); !errors.Is(err, ports.ErrInvalid) {
			t.Fatalf("InsertMany with a NaN at 1: %v, want ErrInvalid", err)
		}
		if bad[0].ID == "" || bad[1].ID != "" || bad[2].ID != "" {
			t.Errorf("after a refused document at 1: IDs %q %q %q, want only the first set", bad[0].ID, bad[1].ID, bad[2].ID)
		}
		if n, _ := s.store.Count(ctx, ports.All()); n != 4 {
			t.Errorf("Count = %d, want 4", n)
		}
	})
}

// A unique index declared once (mongo.Index is fakes.Index) makes
// duplicates ErrConflict on both, through every write.
func TestSideBySideUniqueIndex(t *testing.T) {
	ix := mongo.Index{Fields: []string{"Name"}, Unique: true}
	var _ fakes.Index = ix // one type for both
	eachSide[sdoc](t, opts{indexes: []mongo.Index{ix}}, func(t *testing.T, s side[sdoc]) {
		ctx := t.Context()
		a, b := &sdoc{Name: "a"}, &sdoc{Name: "b"}
		mustInsert(t, s.store, a, b)
		if err := s.store.Insert(ctx, &sdoc{Name: "a"}); !errors.Is(err, ports.ErrConflict) {
			t.Errorf("Insert of a duplicate: %v, want ErrConflict", err)
		}
		if err := s.store.InsertMany(ctx, []*sdoc{{Name: "c"}, {Name: "c"}}); !errors.Is(err, ports.ErrConflict) {
			t.Errorf("InsertMany with a duplicate inside: %v, want ErrConflict", err)
		}
		if err := s.store.Patch(ctx, b.ID, ports.Set("Name", "a")); !errors.Is(err, ports.ErrConflict) {
			t.Errorf("Patch to a duplicate: %v, want ErrConflict", err)
		}
		up := &sdoc{Name: "a"}
		if err := s.store.Upsert(ctx, up); !errors.Is(err, ports.ErrConflict) {
			t.Errorf("Upsert of a new document with a duplicate: %v, want ErrConflict", err)
		}
		// Numbers that compare equal collide; case differs bytewise.
		if err := s.store.Insert(ctx, &sdoc{Name: "A"}); err != nil {
			t.Errorf("Insert of A beside a: %v (the index is bytewise)", err)
		}
		if n, _ := s.store.Count(ctx, ports.All()); n != 4 {
			t.Errorf("Count = %d, want 4 (a, b, c, A)", n)
		}
	})
}

// MongoDB indexes a missing field as null: two documents without the
// field collide in a unique index unless it is sparse. The fake follows
// MongoDB; FerretDB v1 does not (its quirk, recorded here).
func TestSideBySideUniqueIndexMissingField(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		ix := mongo.Index{Fields: []string{"Email"}, Unique: true, Sparse: sparse}
		eachSide[sdoc](t, opts{indexes: []mongo.Index{ix}}, func(t *testing.T, s side[sdoc]) {
			ctx := t.Context()
			mustInsert(t, s.store, &sdoc{Name: "no email"})
			err := s.store.Insert(ctx, &sdoc{Name: "no email either"})
			quirk := strings.HasPrefix(s.server, "FerretDB")
			switch {
			case sparse && err != nil:
				t.Errorf("sparse unique index, second document without the field: %v, want nil", err)
			case !sparse && quirk && err == nil:
				t.Logf("FerretDB quirk: a unique index does not index a missing field as null (MongoDB answers E11000)")
			case !sparse && !errors.Is(err, ports.ErrConflict):
				t.Errorf("unique index, second document without the field: %v, want ErrConflict (MongoDB indexes missing as null)", err)
			}
		})
	}
}

// The rules both sides apply at store creation and to queries.
func TestSideBySideModelAndQueryRules(t *testing.T) {
	type noInline struct {
		ports.Document
		Name string
	}
	db := fakes.NewDB()
	defer db.Close(t.Context())
	if _, err := fakes.NewDocStore[noInline](db); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("fake: a model embedding Document without inline: %v, want ErrInvalid", err)
	}
	if _, err := mongo.NewDocStore[noInline](&mongo.Store{}, "c"); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("mongo: a model embedding Document without inline: %v, want ErrInvalid", err)
	}
	if _, err := fakes.NewDocStore[sdoc](db, fakes.WithTimestampKeys("$c", "")); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("fake: a timestamp key with '$': %v, want ErrInvalid", err)
	}
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		for _, q := range []ports.Query{
			ports.All().OrderBy("Name", "-Name"),
			ports.All().OrderBy("Cnt", "Cnt"),
		} {
			if _, err := s.store.Find(t.Context(), q); !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("Find(%s): %v, want ErrInvalid", q, err)
			}
		}
	})
}

// wide and narrow are two versions of one model: wide is what another
// program (or a newer version of this one) writes, narrow what this one
// declares.
type wide struct {
	ports.Document `bson:",inline"`
	Name           string `bson:"name"`
	Extra          string `bson:"extra"`
	V              int    `bson:"__v"`
	Sub            struct {
		ID primitive.ObjectID `bson:"_id"`
		X  int                `bson:"x"`
		Z  string             `bson:"z"`
	} `bson:"sub"`
	Items []struct {
		N string `bson:"n"`
		Q int    `bson:"q"`
	} `bson:"items"`
}

type narrow struct {
	ports.Document `bson:",inline"`
	Name           string `bson:"name"`
	Sub            struct {
		X int `bson:"x"`
	} `bson:"sub"`
	Items []struct {
		N string `bson:"n"`
	} `bson:"items"`
}

// Update keeps the fields the model does not declare: at the top, in
// nested structs; array elements are replaced whole (issue 16).
func TestSideBySideUpdateKeepsUndeclaredFields(t *testing.T) {
	coll := "keep_" + primitive.NewObjectID().Hex()
	run := func(t *testing.T, writer ports.DocStore[wide], reader ports.DocStore[narrow]) {
		ctx := t.Context()
		w := &wide{Name: "w", Extra: "from the other service", V: 3}
		w.Sub.ID, w.Sub.X, w.Sub.Z = primitive.NewObjectID(), 1, "z"
		w.Items = append(w.Items, struct {
			N string `bson:"n"`
			Q int    `bson:"q"`
		}{"i", 9})
		mustInsert(t, writer, w)
		n, err := reader.Get(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		n.Name, n.Sub.X = "renamed", 2
		if err := reader.Update(ctx, n); err != nil {
			t.Fatalf("Update through the narrow model: %v", err)
		}
		got, err := writer.Get(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "renamed" || got.Sub.X != 2 {
			t.Errorf("declared fields not written: %+v", got)
		}
		if got.Extra != w.Extra || got.V != 3 || got.Sub.ID != w.Sub.ID || got.Sub.Z != "z" {
			t.Errorf("undeclared fields lost: extra %q __v %d sub._id %v sub.z %q", got.Extra, got.V, got.Sub.ID, got.Sub.Z)
		}
		if len(got.Items) != 1 || got.Items[0].N != "i" || got.Items[0].Q != 0 {
			t.Errorf("array = %+v, want it replaced whole (q lost: declare it to keep it)", got.Items)
		}
		if !got.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("CreatedAt %v, want %v kept", got.CreatedAt, w.CreatedAt)
		}
	}
	t.Run("fake", func(t *testing.T) {
		db := fakes.NewDB()
		defer db.Close(t.Context())
		wr, err := fakes.NewDocStore[wide](db, fakes.WithTable(coll))
		if err != nil {
			t.Fatal(err)
		}
		rd, err := fakes.NewDocStore[narrow](db, fakes.WithTable(coll))
		if err != nil {
			t.Fatal(err)
		}
		run(t, wr, rd)
	})
	t.Run("mongo", func(t *testing.T) {
		uri := backendURI(t)
		st := open(t, uri, testDB(t, uri))
		wr, err := mongo.NewDocStore[wide](st, coll)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := mongo.NewDocStore[narrow](st, coll)
		if err != nil {
			t.Fatal(err)
		}
		run(t, wr, rd)

		// A document written by another client, as mongoose writes it.
		ctx := t.Context()
		oid := primitive.NewObjectID()
		subID := primitive.NewObjectID()
		created := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
		_, err = st.Database().Collection(coll).InsertOne(ctx, bson.D{
			{Key: "_id", Value: oid}, {Key: "name", Value: "node"}, {Key: "__v", Value: int32(0)},
			{Key: "createdAt", Value: created}, {Key: "created_at", Value: created},
			{Key: "sub", Value: bson.D{{Key: "_id", Value: subID}, {Key: "x", Value: int32(1)}, {Key: "tag", Value: "t"}}},
			{Key: "other", Value: bson.D{{Key: "deep", Value: bson.A{int32(1), "two"}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := rd.Get(ctx, oid.Hex())
		if err != nil {
			t.Fatal(err)
		}
		n.Name, n.Sub.X = "go", 5
		if err := rd.Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		var raw bson.Raw
		if err := st.Database().Collection(coll).FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range [][]string{{"__v"}, {"createdAt"}, {"sub", "_id"}, {"sub", "tag"}, {"other", "deep"}} {
			if _, err := raw.LookupErr(k...); err != nil {
				t.Errorf("the other client's field %v was lost: %v", k, raw)
			}
		}
		if raw.Lookup("name").StringValue() != "go" || raw.Lookup("sub", "x").AsInt64() != 5 {
			t.Errorf("declared fields not written: %v", raw)
		}
	})
}

// mongoose's timestamp keys, named on both stores.
type mgDoc struct {
	ports.Document `bson:",inline"`
	Name           string `bson:"name"`
}

// other is a model of the same collection written by a program that
// spells the times its own way.
type other struct {
	ports.Document `bson:",inline"`
	Name           string    `bson:"name"`
	Made           time.Time `bson:"createdAt"`
}

func TestSideBySideTimestampKeys(t *testing.T) {
	coll := "ts_" + primitive.NewObjectID().Hex()
	made := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	eachSide[mgDoc](t, opts{collection: coll, created: "createdAt", updated: "updatedAt"}, func(t *testing.T, s side[mgDoc]) {
		ctx := t.Context()
		d := &mgDoc{Name: "a"}
		mustInsert(t, s.store, d)
		if got := mustFind(t, s.store, ports.Where("CreatedAt", ports.Eq, d.CreatedAt)); len(got) != 1 || !got[0].CreatedAt.Equal(d.CreatedAt) {
			t.Errorf("Find by CreatedAt = %+v, want the document", got)
		}
		// A document the other program wrote reads with its time.
		var o ports.DocStore[other]
		switch st := s.closer.(type) {
		case *fakes.DocStore[mgDoc, *mgDoc]:
			os, err := fakes.NewDocStore[other](st.DB(), fakes.WithTable(coll))
			if err != nil {
				t.Fatal(err)
			}
			o = os
		case *mongo.Store:
			os, err := mongo.NewDocStore[other](st, coll)
			if err != nil {
				t.Fatal(err)
			}
			o = os
		}
		od := &other{Name: "node", Made: made}
		mustInsert(t, o, od)
		got, err := s.store.Get(ctx, od.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(made) {
			t.Errorf("CreatedAt of a document with createdAt = %v, want %v (and not its created_at)", got.CreatedAt, made)
		}
		got.Name = "renamed"
		if err := s.store.Update(ctx, got); err != nil || !got.CreatedAt.Equal(made) {
			t.Errorf("Update = %v, CreatedAt %v; want %v kept", err, got.CreatedAt, made)
		}
		if s.raw != nil {
			var raw bson.Raw
			if err := s.raw.FindOne(ctx, bson.D{{Key: "_id", Value: mustOID(t, d.ID)}}).Decode(&raw); err != nil {
				t.Fatal(err)
			}
			_, e1 := raw.LookupErr("createdAt")
			_, e2 := raw.LookupErr("updatedAt")
			_, e3 := raw.LookupErr("created_at")
			if e1 != nil || e2 != nil || e3 == nil {
				t.Errorf("stored keys %v, want createdAt and updatedAt only", raw)
			}
		}
	})
}

func mustOID(t *testing.T, hex string) primitive.ObjectID {
	t.Helper()
	oid, err := primitive.ObjectIDFromHex(hex)
	if err != nil {
		t.Fatal(err)
	}
	return oid
}

type metaDoc struct {
	ports.Document `bson:",inline"`
	Meta           map[string]string `bson:"meta"`
}

// Update and Upsert set a map field whole, as MongoDB documents $set. A
// FerretDB v1.24 quirk, found by the differential checker: $set of an
// embedded document whose values equal the stored one's under other keys
// ({k: "cafe"} → {a: "cafe"}) changes nothing. The fake follows MongoDB;
// on FerretDB the test records the quirk (internal/difftest allows it
// there, by name).
func TestSideBySideSetMapWithOtherKeys(t *testing.T) {
	eachSide[metaDoc](t, opts{}, func(t *testing.T, s side[metaDoc]) {
		ctx := t.Context()
		d := &metaDoc{Meta: map[string]string{"k": "cafe"}}
		mustInsert(t, s.store, d)
		u := &metaDoc{Meta: map[string]string{"a": "cafe"}}
		u.ID = d.ID
		if err := s.store.Upsert(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := s.store.Get(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch _, ok := got.Meta["a"]; {
		case ok && len(got.Meta) == 1:
		case strings.HasPrefix(s.server, "FerretDB") && got.Meta["k"] == "cafe":
			t.Logf("FerretDB quirk: $set of {a: cafe} over {k: cafe} kept %v (MongoDB writes the new document)", got.Meta)
		default:
			t.Errorf("after Upsert of meta {a: cafe} over {k: cafe}: %v, want map[a:cafe]", got.Meta)
		}
	})
}
