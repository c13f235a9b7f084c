package mongo

import (
	"bytes"
	"encoding/binary"
	"reflect"
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

// FuzzObjectIDField checks that rewriting "_id" keeps any document valid.
func FuzzObjectIDField(f *testing.F) {
	seed, _ := bson.Marshal(bson.D{{Key: "a", Value: 1}, {Key: "_id", Value: primitive.NewObjectID().Hex()}, {Key: "z", Value: "x"}})
	f.Add(seed)
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, doc []byte) {
		// Only whole documents, as bson.Marshal makes (and bson.Raw.Validate
		// itself panics on a length field of 0).
		if len(doc) < 5 || int(binary.LittleEndian.Uint32(doc)) != len(doc) || bson.Raw(doc).Validate() != nil {
			return
		}
		out, err := objectIDField(doc)
		if err != nil {
			return
		}
		if err := bson.Raw(out).Validate(); err != nil {
			t.Fatalf("objectIDField(%x) = %x, invalid: %v", doc, out, err)
		}
	})
}
