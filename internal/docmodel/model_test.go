package docmodel

import (
	"bytes"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/portkit/portkit/ports"
)

func rv(t *testing.T, v any) bson.RawValue {
	t.Helper()
	if v == nil {
		return NullValue
	}
	typ, b, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: b}
}

// The registry stores the ID and DocRefs as ObjectIDs, names the
// timestamps as told, and reads both back.
func TestCodec(t *testing.T) {
	t.Parallel()
	oid, ref := primitive.NewObjectID(), primitive.NewObjectID()
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	in := model{Title: "t", Count: 3, Ref: ports.DocRef(ref.Hex())}
	in.ID, in.CreatedAt, in.UpdatedAt = oid.Hex(), at, at
	for _, o := range []Options{{}, {CreatedKey: "createdAt", UpdatedKey: "updatedAt"}} {
		m := newModel(t, o)
		raw, err := m.Encode(&in)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := raw.Lookup("_id").ObjectIDOK(); !ok || got != oid {
			t.Errorf("%+v: _id = %v, want ObjectID", o, raw.Lookup("_id"))
		}
		if got, ok := raw.Lookup("ref").ObjectIDOK(); !ok || got != ref {
			t.Errorf("%+v: ref = %v, want ObjectID", o, raw.Lookup("ref"))
		}
		if _, err := raw.LookupErr(m.CreatedKey()); err != nil {
			t.Errorf("%+v: no %s in %v", o, m.CreatedKey(), raw)
		}
		if o.CreatedKey != "" {
			if _, err := raw.LookupErr("created_at"); err == nil {
				t.Errorf("renamed times still written as created_at: %v", raw)
			}
		}
		var out model
		if err := m.Decode(raw, &out); err != nil {
			t.Fatal(err)
		}
		if out.ID != in.ID || out.Ref != in.Ref || !out.CreatedAt.Equal(at) || !out.UpdatedAt.Equal(at) || out.Title != "t" {
			t.Errorf("%+v: decoded %+v, want %+v", o, out, in)
		}
		if k, _, _ := m.Key("CreatedAt"); k != m.CreatedKey() {
			t.Errorf("%+v: key of CreatedAt = %q", o, k)
		}
	}
	m := newModel(t, Options{})
	empty, err := m.Encode(&model{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.LookupErr("_id"); err == nil {
		t.Errorf("an empty ID was encoded: %v", empty)
	}
	if empty.Lookup("ref").Type != bson.TypeNull {
		t.Errorf("an empty DocRef is %v, want null", empty.Lookup("ref"))
	}
	for _, id := range []string{"not-an-id-q1", "0123456789ABCDEF01234567", strings.Repeat("a", 25)} {
		bad := model{}
		bad.ID = id
		if _, err := m.Encode(&bad); err == nil || strings.Contains(err.Error(), id) {
			t.Errorf("ID %q: %v, want an error that does not quote it", id, err)
		}
	}
}

// Only the top-level "_id" becomes an ObjectID.
func TestCodecNestedID(t *testing.T) {
	t.Parallel()
	type inner struct {
		ID string `bson:"_id"`
	}
	type outer struct {
		ports.Document `bson:",inline"`
		Inner          inner `bson:"inner"`
	}
	m, err := New(reflect.TypeFor[outer](), Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := outer{Inner: inner{ID: "nested"}}
	o.ID = primitive.NewObjectID().Hex()
	raw, err := m.Encode(&o)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := raw.Lookup("inner", "_id").StringValueOK(); !ok || got != "nested" {
		t.Errorf("inner._id = %v, want the string", raw.Lookup("inner", "_id"))
	}
}

func TestParseObjectID(t *testing.T) {
	t.Parallel()
	oid := primitive.NewObjectID()
	if got, ok := ParseObjectID(oid.Hex()); !ok || got != oid {
		t.Errorf("ParseObjectID(%s) = %v, %v", oid.Hex(), got, ok)
	}
	for _, s := range []string{"", "nope", strings.ToUpper(oid.Hex()), oid.Hex() + "0", oid.Hex()[:23] + "g"} {
		if _, ok := ParseObjectID(s); ok {
			t.Errorf("ParseObjectID(%q) accepted", s)
		}
	}
}

// FuzzParseObjectID checks that ParseObjectID accepts exactly the Hex
// form of ObjectIDs, which reads back unchanged.
func FuzzParseObjectID(f *testing.F) {
	f.Add(primitive.NewObjectID().Hex())
	f.Add("0123456789ABCDEF01234567")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		oid, ok := ParseObjectID(s)
		if want := ports.IsObjectIDHex(s); ok != want {
			t.Fatalf("ParseObjectID(%q) ok = %v, want %v", s, ok, want)
		}
		if ok && oid.Hex() != s {
			t.Fatalf("ParseObjectID(%q).Hex() = %q", s, oid.Hex())
		}
	})
}

// The portable document rules on the encoded bytes.
func TestCheck(t *testing.T) {
	t.Parallel()
	ok := func(d bson.D) bson.Raw {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deep := bson.D{{Key: "x", Value: 1}}
	for range MaxDepth {
		deep = bson.D{{Key: "d", Value: deep}}
	}
	for name, d := range map[string]bson.D{
		"dot":          {{Key: "a", Value: bson.D{{Key: "b.c", Value: 1}}}},
		"dollar":       {{Key: "$x", Value: 1}},
		"empty":        {{Key: "", Value: 1}},
		"NaN in array": {{Key: "a", Value: bson.A{1.0, math.NaN()}}},
		"bad UTF-8":    {{Key: "a", Value: "\xff"}},
		"bad key":      {{Key: "\xff", Value: 1}},
		"too deep":     deep,
	} {
		if err := Check(ok(d)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := Check(ok(bson.D{{Key: "a", Value: bson.A{"$x", "a.b"}}, {Key: "n", Value: math.MaxFloat64}})); err != nil {
		t.Errorf("values with '$' and '.' are fine, only keys are not: %v", err)
	}
	big := make(bson.Raw, MaxDocumentBytes+1)
	if err := Check(big); err == nil || !strings.Contains(err.Error(), "16 MiB") {
		t.Errorf("over 16 MiB: %v", err)
	}
	m := newModel(t, Options{})
	type wideU struct {
		ports.Document `bson:",inline"`
		U              any
	}
	mu, err := New(reflect.TypeFor[wideU](), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = mu.Encode(&wideU{U: uint64(math.MaxUint64)})
	if err == nil || strings.Contains(err.Error(), "18446744073709551615") {
		t.Errorf("uint64 in an any field: %v, want an error without the value", err)
	}
	_, err = m.Encode(&model{Any: map[string]any{"k": map[string]int{"a.b": 1}}})
	if err == nil {
		t.Error("a nested map key with a dot was accepted")
	}
}

// Numbers compare by value across types, exactly; types in MongoDB's
// order.
func TestCompare(t *testing.T) {
	t.Parallel()
	eq := [][2]any{
		{int32(1), int64(1)}, {int64(1), 1.0}, {int32(-3), -3.0}, {0.0, math.Copysign(0, -1)},
		{"a", "a"}, {true, true}, {nil, nil},
	}
	for _, c := range eq {
		if !Equal(rv(t, c[0]), rv(t, c[1])) || UniqueKey(rv(t, c[0])) != UniqueKey(rv(t, c[1])) {
			t.Errorf("%v (%T) and %v (%T) are not equal", c[0], c[0], c[1], c[1])
		}
	}
	less := [][2]any{
		{int64(1 << 53), float64(1<<53) + 2}, {float64(1 << 53), int64(1<<53 + 1)},
		{int64(math.MaxInt64 - 1), int64(math.MaxInt64)}, {math.Inf(-1), int64(math.MinInt64)},
		{int64(math.MaxInt64), math.Inf(1)}, {1.5, int32(2)},
		{"B", "a"}, {"a", "é"}, {false, true},
		{nil, int32(0)}, {int64(5), "0"}, {"z", bson.D{}}, {bson.D{}, bson.A{}}, {bson.A{}, primitive.NewObjectID()},
		{primitive.NewObjectID(), false}, {true, time.Unix(0, 0)},
	}
	for _, c := range less {
		a, b := rv(t, c[0]), rv(t, c[1])
		if Compare(a, b) >= 0 || Compare(b, a) <= 0 {
			t.Errorf("%v (%T) does not sort before %v (%T)", c[0], c[0], c[1], c[1])
		}
		if Equal(a, b) {
			t.Errorf("%v and %v are equal", c[0], c[1])
		}
	}
	if Compare(bson.RawValue{}, rv(t, nil)) != 0 || !Equal(bson.RawValue{}, rv(t, nil)) {
		t.Error("a missing field does not compare as null")
	}
	if SameType(rv(t, 1), rv(t, "1")) || !SameType(rv(t, int32(1)), rv(t, 2.5)) {
		t.Error("type brackets are wrong")
	}
}

// Update writes declared fields key by key and keeps the undeclared.
func TestUpdateFields(t *testing.T) {
	t.Parallel()
	m := newModel(t, Options{})
	d := model{Count: 2, Meta: Meta{Source: "s"}}
	d.ID = primitive.NewObjectID().Hex()
	raw, err := m.Encode(&d)
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.UpdateFields(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, e := range u.Set {
		set[e.Key] = true
	}
	for _, k := range []string{"count", "meta.src", "meta.note", "tags", "tenant", "updated_at", "ref", "src", "note"} {
		if !set[k] {
			t.Errorf("$set lacks %s: %v", k, u.Set)
		}
	}
	for _, k := range []string{"_id", "created_at", "meta"} {
		if set[k] {
			t.Errorf("$set writes %s", k)
		}
	}
	for _, k := range []string{"title", "when", "peer", "any"} { // omitempty, empty
		found := false
		for _, x := range u.Unset {
			found = found || x == k
		}
		if !found {
			t.Errorf("$unset lacks the empty omitempty field %s: %v", k, u.Unset)
		}
	}
	// Over a stored null or scalar, Viable sets the parent whole.
	stored, _ := bson.Marshal(bson.D{{Key: "meta", Value: nil}, {Key: "count", Value: 1}})
	v := Viable(stored, u)
	for _, e := range v.Set {
		if strings.HasPrefix(e.Key, "meta.") {
			t.Errorf("Viable kept %s under a stored null", e.Key)
		}
		if e.Key == "meta" {
			var got Meta
			if err := bson.Unmarshal(e.Value.Value, &got); err != nil || got.Source != "s" {
				t.Errorf("Viable's meta = %v, %v", e.Value, err)
			}
		}
	}
}

// A Patch converts its values to the field's type without loss.
func TestPatchUpdate(t *testing.T) {
	t.Parallel()
	m := newModel(t, Options{})
	u, err := m.PatchUpdate(ports.Set("Count", int64(7)).Set("Title", "").Inc("Count2", 1))
	if err == nil {
		t.Fatalf("a patch of an unknown field: %+v", u)
	}
	u, err = m.PatchUpdate(ports.Set("Count", 7.0).Set("Title", "").Set("Ref", primitive.NewObjectID().Hex()).Set("When", nil))
	if err != nil {
		t.Fatal(err)
	}
	// Title "" and a nil When are omitempty: stored absent, as Insert
	// would store them.
	if len(u.Set) != 2 || u.Set[0].Key != "count" || u.Set[0].Value.Type != bson.TypeInt32 ||
		u.Set[1].Value.Type != bson.TypeObjectID ||
		len(u.Unset) != 2 || u.Unset[0] != "title" || u.Unset[1] != "when" {
		t.Errorf("patch update = %+v", u)
	}
	for _, p := range []ports.Patch{
		ports.Set("Count", 1.5), ports.Set("Count", uint64(math.MaxUint64)), ports.Inc("Count", 0.5),
		ports.Set("Ref", "nope"), ports.Set("ID", primitive.NewObjectID().Hex()),
	} {
		if _, err := m.PatchUpdate(p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}

type canonicalDoc struct {
	ports.Document `bson:",inline"`
	Score          float64        `bson:"score"`
	Small          float32        `bson:"small"`
	Any            any            `bson:"any"`
	Tags           map[string]int `bson:"tags"`
}

// Maps are written in key order and -0 as 0, so that the fake and every
// server hold the same bytes (the differential checker found both: Go's
// random map order, FerretDB's -0).
func TestCanonicalEncoding(t *testing.T) {
	m, err := New(reflect.TypeFor[canonicalDoc](), Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"q", "b", "z", "a", "m", "c", "x", "d"}
	anyMap, tags := map[string]any{}, map[string]int{}
	for i, k := range keys {
		anyMap[k], tags[k] = i, i
	}
	for range 20 { // Go's map order changes from one range to the next
		raw, err := m.Encode(&canonicalDoc{Score: math.Copysign(0, -1), Small: float32(math.Copysign(0, -1)), Any: anyMap, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"score", "small"} {
			if f := raw.Lookup(k).Double(); math.Signbit(f) {
				t.Fatalf("%s encoded as -0, want 0", k)
			}
		}
		for _, k := range []string{"any", "tags"} {
			elems, err := raw.Lookup(k).Document().Elements()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range elems {
				got = append(got, e.Key())
			}
			if !slices.IsSorted(got) || len(got) != len(keys) {
				t.Fatalf("%s keys encoded in the order %v, want sorted", k, got)
			}
		}
	}
}

// An Encoded document encodes, with the model's registry, to exactly its
// own bytes: into BSON (the driver's way, one copy), into Extended JSON
// (element by element) as the same document would, and on its own or as a
// value in a document. Malformed bytes are refused.
func TestEncoded(t *testing.T) {
	t.Parallel()
	m := newModel(t, Options{})
	in := model{Title: "t", Count: 3, Tags: []string{"a", "b"}, Ref: ports.DocRef(primitive.NewObjectID().Hex())}
	in.ID, in.CreatedAt = primitive.NewObjectID().Hex(), time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	in.Meta.Source = "src"
	full, err := m.Encode(&in)
	if err != nil {
		t.Fatal(err)
	}
	oneKey, err := bson.Marshal(bson.D{{Key: "k", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := bson.Marshal(bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []bson.Raw{full, oneKey, empty} {
		got, err := marshal(m.Registry(), Encoded(raw))
		if err != nil || !slices.Equal(got, raw) {
			t.Errorf("BSON of Encoded(%v) = %v, %v; want its bytes", raw, bson.Raw(got), err)
		}
		nested, err := marshal(m.Registry(), bson.D{{Key: "doc", Value: Encoded(raw)}, {Key: "after", Value: true}})
		if err != nil || !slices.Equal(bson.Raw(nested).Lookup("doc").Value, raw) || !bson.Raw(nested).Lookup("after").Boolean() {
			t.Errorf("BSON of a document holding Encoded(%v) = %v, %v", raw, bson.Raw(nested), err)
		}
		var gotJSON bytes.Buffer
		jw, err := bsonrw.NewExtJSONValueWriter(&gotJSON, true, false)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := bson.NewEncoder(jw)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.SetRegistry(m.Registry()); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(Encoded(raw)); err != nil {
			t.Fatal(err)
		}
		wantJSON, err := bson.MarshalExtJSON(raw, true, false)
		if err != nil || strings.TrimSpace(gotJSON.String()) != string(wantJSON) { // the writer ends a top-level document with a newline
			t.Errorf("Extended JSON of Encoded(%v) = %s, want %s (%v)", raw, gotJSON.String(), wantJSON, err)
		}
	}
	for _, bad := range [][]byte{nil, {1, 2}, full[:len(full)-1], append(slices.Clone(full[:len(full)-1]), 1)} {
		if _, err := marshal(m.Registry(), Encoded(bad)); err == nil {
			t.Errorf("Encoded(%v) encoded, want an error", bad)
		}
	}
}

// Encode reuses its encoders: one document after another, also after a
// failed one (left mid-document) and from goroutines at once, each
// encodes as a fresh encoder encodes it.
func TestEncodeReuse(t *testing.T) {
	t.Parallel()
	m := newModel(t, Options{})
	doc := func(i int) *model {
		d := &model{Title: strings.Repeat("t", i%7), Count: i, Tags: make([]string, i%3)}
		d.ID = primitive.NewObjectID().Hex()
		return d
	}
	check := func(d *model) {
		got, err := m.Encode(d)
		if err != nil {
			t.Error(err)
			return
		}
		want, err := marshal(m.Registry(), d)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Encode(%+v) = %v, want %v (%v)", d, got, bson.Raw(want), err)
		}
	}
	for i := range 20 {
		check(doc(i))
		bad := doc(i)
		bad.Ref = "not a ref"
		if _, err := m.Encode(bad); err == nil {
			t.Fatal("a bad DocRef encoded")
		}
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 50 {
				check(doc(g*50 + i))
			}
		}()
	}
	for range 4 {
		<-done
	}
}
