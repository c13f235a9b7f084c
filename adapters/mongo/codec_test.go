package mongo

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

func encodeWithRegistry(t *testing.T, v any) (bson.Raw, error) {
	t.Helper()
	var buf bytes.Buffer
	vw, err := bsonrw.NewBSONValueWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := bson.NewEncoder(vw)
	if err != nil {
		t.Fatal(err)
	}
	enc.SetRegistry(newRegistry(reflect.TypeFor[model]()))
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bson.Raw(buf.Bytes()), nil
}

func TestCodecObjectIDRoundTrip(t *testing.T) {
	t.Parallel()
	oid := primitive.NewObjectID()
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	in := model{Title: "t", Count: 3, When: &when, Tags: []string{"a"}}
	in.ID = oid.Hex()
	in.Meta.Source = "web"
	for _, v := range []any{in, &in} {
		raw, err := encodeWithRegistry(t, v)
		if err != nil {
			t.Fatalf("encode %T: %v", v, err)
		}
		if err := raw.Validate(); err != nil {
			t.Fatalf("encoded document is not valid BSON: %v", err)
		}
		got, ok := raw.Lookup("_id").ObjectIDOK()
		if !ok || got != oid {
			t.Errorf("encoded _id = %v, want ObjectID %v", raw.Lookup("_id"), oid)
		}
		if raw.Lookup("meta", "src").StringValue() != "web" || raw.Lookup("count").AsInt64() != 3 {
			t.Errorf("other fields changed: %v", raw)
		}
		// Decoding needs no help: the driver decodes an ObjectID into a
		// string as its hex form.
		var out model
		if err := bson.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		if out.ID != in.ID || out.Title != "t" || !out.When.Equal(when) {
			t.Errorf("decoded %+v, want %+v", out, in)
		}
	}
}

func TestCodecNoID(t *testing.T) {
	t.Parallel()
	raw, err := encodeWithRegistry(t, model{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.LookupErr("_id"); err == nil {
		t.Errorf("an empty ID was encoded: %v (omitempty must leave it to the server)", raw)
	}
}

func TestCodecRefusesMalformedID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"x", "0123456789ABCDEF01234567", strings.Repeat("a", 25)} {
		m := model{}
		m.ID = id
		if _, err := encodeWithRegistry(t, m); err == nil {
			t.Errorf("ID %q encoded without error", id)
		}
	}
}

func TestParseObjectID(t *testing.T) {
	t.Parallel()
	oid := primitive.NewObjectID()
	if got, ok := parseObjectID(oid.Hex()); !ok || got != oid {
		t.Errorf("parseObjectID(%s) = %v, %v", oid.Hex(), got, ok)
	}
	for _, s := range []string{"", "nope", strings.ToUpper(oid.Hex()), oid.Hex() + "0", oid.Hex()[:23] + "g"} {
		if _, ok := parseObjectID(s); ok {
			t.Errorf("parseObjectID(%q) accepted", s)
		}
	}
}

// FuzzParseObjectID checks that parseObjectID accepts exactly the Hex form
// of ObjectIDs, and that they read back unchanged.
func FuzzParseObjectID(f *testing.F) {
	f.Add(primitive.NewObjectID().Hex())
	f.Add("0123456789ABCDEF01234567")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		oid, ok := parseObjectID(s)
		if want := hexForm.MatchString(s); ok != want {
			t.Fatalf("parseObjectID(%q) ok = %v, want %v", s, ok, want)
		}
		if ok && oid.Hex() != s {
			t.Fatalf("parseObjectID(%q).Hex() = %q", s, oid.Hex())
		}
	})
}

var hexForm = regexp.MustCompile(`^[0-9a-f]{24}$`)

// Only the top-level "_id" becomes an ObjectID; a nested "_id" stays a
// string.
func TestCodecNestedID(t *testing.T) {
	t.Parallel()
	type inner struct {
		ID string `bson:"_id"`
	}
	type outer struct {
		ID    string `bson:"_id"`
		Inner inner  `bson:"inner"`
	}
	oid := primitive.NewObjectID()
	var buf bytes.Buffer
	vw, err := bsonrw.NewBSONValueWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := bson.NewEncoder(vw)
	if err != nil {
		t.Fatal(err)
	}
	enc.SetRegistry(newRegistry(reflect.TypeFor[outer]()))
	if err := enc.Encode(outer{ID: oid.Hex(), Inner: inner{ID: "nested"}}); err != nil {
		t.Fatal(err)
	}
	raw := bson.Raw(buf.Bytes())
	if got, ok := raw.Lookup("_id").ObjectIDOK(); !ok || got != oid {
		t.Errorf("_id = %v, want ObjectID %v", raw.Lookup("_id"), oid)
	}
	if got, ok := raw.Lookup("inner", "_id").StringValueOK(); !ok || got != "nested" {
		t.Errorf("inner._id = %v, want the string nested", raw.Lookup("inner", "_id"))
	}
}
