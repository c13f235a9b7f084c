package docmodel

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.uber.org/goleak"

	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Base struct {
	Tenant string // default key: "tenant"
}

type Meta struct {
	Source string `bson:"src"`
	Note   string
}

// model is a model as services declare them.
type model struct {
	ports.Document `bson:",inline"`
	Base           `bson:",inline"`
	Title          string `bson:"title,omitempty"`
	Count          int
	Meta           Meta       `bson:"meta"`
	Flat           Meta       `bson:",inline"` // Source and Note at the top: "src", "note"
	Skipped        string     `bson:"-"`
	When           *time.Time `bson:"when,omitempty"`
	Tags           []string   `bson:"tags"`
	Ref            ports.DocRef
	Peer           primitive.ObjectID `bson:"peer,omitempty"`
	Any            any                `bson:"any,omitempty"`
}

// unsafeModel has keys no filter may name.
type unsafeModel struct {
	ports.Document `bson:",inline"`
	Dollar         string `bson:"$where"`
	Dotted         string `bson:"a.b"`
}

type embeddedNoInline struct {
	ports.Document `bson:",inline"`
	Meta           // no tag: stored under "meta" (the lowercased type name)
}

func keyOf(t *testing.T, typ reflect.Type, path string) (string, error) {
	t.Helper()
	chain, err := FieldChain(typ, path)
	if err != nil {
		return "", err
	}
	return BSONKey(chain)
}

func newModel(t *testing.T, o Options) *Model {
	t.Helper()
	m, err := New(reflect.TypeFor[model](), o)
	if err != nil {
		t.Fatal(err)
	}
	return m
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
		"Ref":         "ref",
	} {
		got, err := keyOf(t, typ, path)
		if err != nil || got != want {
			t.Errorf("key of %s = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"Skipped", "Nope", "Meta.Nope", "Meta..Source", "title"} {
		if got, err := keyOf(t, typ, path); err == nil {
			t.Errorf("key of %s = %q, want an error", path, got)
		}
	}
	for _, path := range []string{"Dollar", "Dotted"} {
		if got, err := keyOf(t, reflect.TypeFor[unsafeModel](), path); err == nil {
			t.Errorf("key of %s = %q, want an error", path, got)
		}
	}
	// A promoted field of an embedded struct without inline lives under the
	// struct's lowercased name, as the driver stores it.
	if got, err := keyOf(t, reflect.TypeFor[embeddedNoInline](), "Source"); err != nil || got != "meta.src" {
		t.Errorf("key of a field promoted from a non-inline embedded struct = %q, %v; want meta.src", got, err)
	}
}

// The keys BSONKey derives are those the driver writes.
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

// One rule for both stores: the models the driver would store in a way
// the port cannot use are refused when the store is made (issue 12).
func TestNewRefusesModels(t *testing.T) {
	t.Parallel()
	type noInline struct {
		ports.Document
		Title string
	}
	type twoVersions struct {
		ports.Document `bson:",inline"`
		V1             ports.Version
		V2             ports.Version
	}
	type dupKeys struct {
		ports.Document `bson:",inline"`
		A              string `bson:"x"`
		B              string `bson:"x"`
	}
	type shadowed struct {
		ports.Document `bson:",inline"`
		CreatedAt      time.Time `bson:"made"`
	}
	type nestedDollar struct {
		ports.Document `bson:",inline"`
		Meta           struct {
			X string `bson:"$x"`
		} `bson:"meta"`
	}
	type withChan struct {
		ports.Document `bson:",inline"`
		C              chan int
	}
	for _, c := range []struct {
		name string
		typ  reflect.Type
		want string
	}{
		{"Document without inline", reflect.TypeFor[noInline](), "inline"},
		{"two Version fields", reflect.TypeFor[twoVersions](), "Version"},
		{"duplicate keys", reflect.TypeFor[dupKeys](), "duplicate"},
		{"CreatedAt shadowed", reflect.TypeFor[shadowed](), "CreatedAt"},
		{"unsafe key", reflect.TypeFor[unsafeModel](), "cannot be stored"},
		{"unsafe nested key", reflect.TypeFor[nestedDollar](), "cannot be stored"},
		{"unencodable field", reflect.TypeFor[withChan](), "encode"},
		{"not a struct", reflect.TypeFor[int](), "not a struct"},
	} {
		_, err := New(c.typ, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
	for _, o := range []Options{
		{CreatedKey: "$c"}, {CreatedKey: "a.b"}, {CreatedKey: "_id"}, {CreatedKey: "x", UpdatedKey: "x"},
		{CreatedKey: "title"}, {CreatedKey: "updated_at"},
	} {
		if _, err := New(reflect.TypeFor[model](), o); err == nil {
			t.Errorf("timestamp keys %+v accepted", o)
		}
	}
}
