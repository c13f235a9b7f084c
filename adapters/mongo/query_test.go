package mongo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/portkit/portkit/ports"
)

type Base struct {
	Tenant string // default key: "tenant"
}

type Meta struct {
	Source string `bson:"src"`
	Note   string
}

type model struct {
	ports.Document `bson:",inline"`
	Base           `bson:",inline"`
	Title          string `bson:"title,omitempty"`
	Count          int
	Meta           Meta       `bson:"meta"`
	Flat           Meta       `bson:",inline"` // Source and Note at the top: "src", "note"
	Skipped        string     `bson:"-"`
	Dollar         string     `bson:"$where"`
	Dotted         string     `bson:"a.b"`
	When           *time.Time `bson:"when,omitempty"`
	Tags           []string   `bson:"tags"`
}

type embeddedNoInline struct {
	ports.Document `bson:",inline"`
	Meta           // no tag: stored under "meta" (the lowercased type name)
}

func keyOf(t *testing.T, typ reflect.Type, path string) (string, error) {
	t.Helper()
	chain, err := fieldChain(typ, path)
	if err != nil {
		return "", err
	}
	return bsonKey(chain)
}

func TestBSONKey(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[model]()
	for path, want := range map[string]string{
		"ID":          "_id",
		"CreatedAt":   "created_at",
		"UpdatedAt":   "updated_at",
		"Tenant":      "tenant",
		"Title":       "title",
		"Count":       "count",
		"Meta.Source": "meta.src",
		"Meta.Note":   "meta.note",
		"Flat.Source": "src",
		"When":        "when",
		"Tags":        "tags",
	} {
		got, err := keyOf(t, typ, path)
		if err != nil || got != want {
			t.Errorf("key of %s = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"Skipped", "Dollar", "Dotted", "Nope", "Meta.Nope", "Meta..Source", "title"} {
		if got, err := keyOf(t, typ, path); err == nil {
			t.Errorf("key of %s = %q, want an error", path, got)
		}
	}
	// A promoted field of an embedded struct without inline lives under the
	// struct's lowercased name, as the driver stores it.
	if got, err := keyOf(t, reflect.TypeFor[embeddedNoInline](), "Source"); err != nil || got != "meta.src" {
		t.Errorf("key of a field promoted from a non-inline embedded struct = %q, %v; want meta.src", got, err)
	}
}

func newTranslator(t *testing.T) translator {
	t.Helper()
	s, err := ports.SchemaOf[model]()
	if err != nil {
		t.Fatal(err)
	}
	return translator{schema: s}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	tr := newTranslator(t)
	oid := primitive.NewObjectID()
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		q    ports.Query
		want bson.D
	}{
		{ports.All(), bson.D{}},
		{ports.Where("Title", ports.Eq, "x"), bson.D{{Key: "title", Value: bson.D{{Key: "$eq", Value: "x"}}}}},
		{ports.Where("Count", ports.Gte, 3), bson.D{{Key: "count", Value: bson.D{{Key: "$gte", Value: 3}}}}},
		{ports.Where("Meta.Source", ports.Ne, "web"), bson.D{{Key: "meta.src", Value: bson.D{{Key: "$ne", Value: "web"}}}}},
		{ports.Where("When", ports.Eq, nil), bson.D{{Key: "when", Value: bson.D{{Key: "$eq", Value: nil}}}}},
		{ports.Where("When", ports.Lt, t0), bson.D{{Key: "when", Value: bson.D{{Key: "$lt", Value: t0}}}}},
		{ports.Where("ID", ports.Eq, oid.Hex()), bson.D{{Key: "_id", Value: bson.D{{Key: "$eq", Value: oid}}}}},
		{ports.Where("ID", ports.Eq, "not-hex"), bson.D{{Key: "_id", Value: bson.D{{Key: "$eq", Value: "not-hex"}}}}},
		{ports.Where("ID", ports.In, []string{oid.Hex(), "x"}), bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: []any{oid, "x"}}}}}},
		{ports.Where("Count", ports.In, []int{1, 2}), bson.D{{Key: "count", Value: bson.D{{Key: "$in", Value: []any{1, 2}}}}}},
		{ports.Where("Count", ports.In, []int{}), bson.D{{Key: "count", Value: bson.D{{Key: "$in", Value: []any{}}}}}},
		{ports.Where("Count", ports.Gt, 1).And("Count", ports.Lt, 5), bson.D{{Key: "$and", Value: []bson.D{
			{{Key: "count", Value: bson.D{{Key: "$gt", Value: 1}}}},
			{{Key: "count", Value: bson.D{{Key: "$lt", Value: 5}}}},
		}}}},
	} {
		got, err := tr.filter("find", c.q)
		if err != nil {
			t.Errorf("filter(%s): %v", c.q, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("filter(%s) = %v, want %v", c.q, got, c.want)
		}
	}
}

// Fields that the schema accepts but whose BSON key could inject an
// operator or a path are refused.
func TestFilterRefusesUnsafeKeys(t *testing.T) {
	t.Parallel()
	tr := newTranslator(t)
	for _, f := range []string{"Dollar", "Dotted", "Skipped"} {
		_, err := tr.filter("find", ports.Where(f, ports.Eq, "x"))
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("filter on %s: %v, want ErrInvalid", f, err)
		}
		_, err = tr.findOptions("find", ports.All().OrderBy(f))
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("sort on %s: %v, want ErrInvalid", f, err)
		}
	}
}

func TestFindOptions(t *testing.T) {
	t.Parallel()
	tr := newTranslator(t)
	fo, err := tr.findOptions("find", ports.All().OrderBy("-Count", "Meta.Source").Limit(10).Offset(20))
	if err != nil {
		t.Fatal(err)
	}
	want := bson.D{{Key: "count", Value: -1}, {Key: "meta.src", Value: 1}, {Key: "_id", Value: 1}}
	if !reflect.DeepEqual(fo.Sort, want) || *fo.Limit != 10 || *fo.Skip != 20 {
		t.Errorf("sort %v limit %v skip %v, want %v 10 20", fo.Sort, *fo.Limit, *fo.Skip, want)
	}
	fo, err = tr.findOptions("find", ports.All().OrderBy("-ID", "Count"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (bson.D{{Key: "_id", Value: -1}}); !reflect.DeepEqual(fo.Sort, want) {
		t.Errorf("sort by -ID = %v, want %v", fo.Sort, want)
	}
	if fo.Limit != nil || fo.Skip != nil {
		t.Errorf("no limit or offset set limit %v skip %v", fo.Limit, fo.Skip)
	}
}

func TestIndexModel(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[model]()
	m, err := indexModel(typ, Index{Fields: []string{"Tenant", "-Meta.Source", "+Tags"}, Unique: true, Name: "ix"})
	if err != nil {
		t.Fatal(err)
	}
	want := bson.D{{Key: "tenant", Value: 1}, {Key: "meta.src", Value: -1}, {Key: "tags", Value: 1}}
	if !reflect.DeepEqual(m.Keys, want) || !*m.Options.Unique || *m.Options.Name != "ix" {
		t.Errorf("index model = %v %+v, want keys %v unique named ix", m.Keys, m.Options, want)
	}
	m, err = indexModel(typ, Index{Fields: []string{"When"}, TTL: 90 * time.Second})
	if err != nil || *m.Options.ExpireAfterSeconds != 90 {
		t.Errorf("TTL index on a *time.Time: %v, %v", m.Options, err)
	}
	for _, ix := range []Index{
		{},
		{Fields: []string{"Dollar"}},
		{Fields: []string{"Title"}, TTL: time.Minute},
		{Fields: []string{"When", "Title"}, TTL: time.Minute},
		{Fields: []string{"When"}, TTL: time.Millisecond},
	} {
		if _, err := indexModel(typ, ix); err == nil {
			t.Errorf("index %v: no error", ix)
		}
	}
	if s := (Index{Fields: []string{"A", "-B"}, Unique: true, Sparse: true, TTL: time.Minute}).String(); !strings.Contains(s, "{A -B} unique sparse ttl=1m0s") {
		t.Errorf("Index.String() = %q", s)
	}
}

// The keys bsonKey derives are those the driver writes.
func TestBSONKeyMatchesDriver(t *testing.T) {
	t.Parallel()
	when := time.Now()
	m := model{Title: "t", Count: 1, When: &when, Tags: []string{"x"}}
	m.ID = primitive.NewObjectID().Hex()
	m.CreatedAt, m.UpdatedAt, m.Tenant = when, when, "acme"
	m.Meta = Meta{Source: "s", Note: "n"}
	m.Flat = Meta{Source: "fs", Note: "fn"}
	raw, err := bson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[model]()
	for _, path := range []string{"ID", "CreatedAt", "UpdatedAt", "Tenant", "Title", "Count", "Meta.Source", "Meta.Note", "Flat.Source", "Flat.Note", "When", "Tags"} {
		k, err := keyOf(t, typ, path)
		if err != nil {
			t.Errorf("key of %s: %v", path, err)
			continue
		}
		if _, err := bson.Raw(raw).LookupErr(strings.Split(k, ".")...); err != nil {
			t.Errorf("key of %s is %q, which the driver did not write: %v", path, k, bson.Raw(raw))
		}
	}
	e := embeddedNoInline{Meta: Meta{Source: "x"}}
	raw, err = bson.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bson.Raw(raw).LookupErr("meta", "src"); err != nil {
		t.Errorf("the driver stores a non-inline embedded struct elsewhere than meta.src: %v", bson.Raw(raw))
	}
}
