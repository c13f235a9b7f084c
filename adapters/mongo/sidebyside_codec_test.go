package mongo_test

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/portkit/portkit/ports"
)

// omitempty zero values are stored as absent: Eq 0 finds nothing, they
// sort first, and empty slices and maps come back nil.
func TestSideBySideOmitEmpty(t *testing.T) {
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		ctx := t.Context()
		mustInsert(t, s.store,
			&sdoc{Name: "zero", Cnt: 0, Tags: []string{}, Attrs: map[string]string{}},
			&sdoc{Name: "two", Cnt: 2},
			&sdoc{Name: "minus", Cnt: -1})
		if got := mustFind(t, s.store, ports.Where("Cnt", ports.Eq, 0)); len(got) != 0 {
			t.Errorf("Cnt = 0 found %v; an omitempty zero is stored as absent", names(got))
		}
		if n, err := s.store.Count(ctx, ports.Where("Cnt", ports.Ne, 0)); err != nil || n != 3 {
			t.Errorf("Count(Cnt != 0) = %d, %v; want 3 (absent is not 0)", n, err)
		}
		got := mustFind(t, s.store, ports.All().OrderBy("Cnt"))
		if want := []string{"zero", "minus", "two"}; !slices.Equal(names(got), want) {
			t.Errorf("OrderBy(Cnt) = %v, want %v (absent sorts first)", names(got), want)
		}
		if got[0].Tags != nil || got[0].Attrs != nil {
			t.Errorf("empty omitempty slice and map came back %#v %#v, want nil", got[0].Tags, got[0].Attrs)
		}
	})
}

// bson:"-" and unexported fields are not stored, and cannot be queried.
func TestSideBySideLostFields(t *testing.T) {
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		d := &sdoc{Name: "a", Skip: "s", hidden: "h"}
		mustInsert(t, s.store, d)
		got, err := s.store.Get(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Skip != "" || got.hidden != "" {
			t.Errorf(`bson:"-" and unexported fields came back %q %q, want them lost`, got.Skip, got.hidden)
		}
		if _, err := s.store.Find(t.Context(), ports.Where("Skip", ports.Eq, "s")); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf(`Find on a bson:"-" field: %v, want ErrInvalid`, err)
		}
	})
}

// An any field comes back as the driver decodes it; times in maps and any
// fields come back in UTC at milliseconds.
func TestSideBySideAnyAndTimes(t *testing.T) {
	zone := time.FixedZone("X", 5*3600)
	at := time.Date(2025, 6, 7, 8, 9, 10, 123_456_789, zone)
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		d := &sdoc{Name: "a", At: at, When: map[string]time.Time{"k": at},
			Any: map[string]any{"n": 1, "t": at, "l": []any{"x", int64(2)}}}
		mustInsert(t, s.store, d)
		got, err := s.store.Get(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := at.UTC().Truncate(time.Millisecond)
		if !got.At.Equal(want) || got.At.Location() != time.UTC || got.At != want {
			t.Errorf("At = %v, want %v (UTC, ms)", got.At, want)
		}
		if w := got.When["k"]; w != want {
			t.Errorf("time in a map = %v (%v), want %v in UTC at ms", w, w.Location(), want)
		}
		wantAny := bson.D{
			{Key: "l", Value: bson.A{"x", int64(2)}},
			{Key: "n", Value: int32(1)},
			{Key: "t", Value: primitive.NewDateTimeFromTime(want)},
		}
		gotAny, ok := got.Any.(bson.D)
		if ok {
			slices.SortFunc(gotAny, func(a, b bson.E) int { return strings.Compare(a.Key, b.Key) })
		}
		if !ok || !reflect.DeepEqual(gotAny, wantAny) {
			t.Errorf("any field = %#v, want the driver's decoding %#v", got.Any, wantAny)
		}
	})
}

// Values the portable rules refuse are ErrInvalid on both, before
// anything is stored, and the error quotes no value.
func TestSideBySideValueRules(t *testing.T) {
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		ctx := t.Context()
		for _, c := range []struct {
			name string
			d    sdoc
		}{
			{"uint64 over MaxInt64", sdoc{Name: "u", U: 1<<63 + 12345}},
			{"document over 16 MiB", sdoc{Name: "big", Blob: strings.Repeat("x", 16<<20)}},
			{"NaN", sdoc{Name: "nan", Num: math.NaN()}},
			{"+Inf", sdoc{Name: "inf", Num: math.Inf(1)}},
			{"invalid UTF-8", sdoc{Name: "bad\xff"}},
			{"invalid UTF-8 in a map", sdoc{Name: "m", Attrs: map[string]string{"k": "\xfe"}}},
			{"key with a dot", sdoc{Name: "dot", Attrs: map[string]string{"a.b": "x"}}},
			{"key with a dollar", sdoc{Name: "dollar", Attrs: map[string]string{"$where": "x"}}},
			{"empty key", sdoc{Name: "empty", Attrs: map[string]string{"": "x"}}},
			{"DocRef not of ID form", sdoc{Name: "ref", Ref: "nope"}},
		} {
			d := c.d
			err := s.store.Insert(ctx, &d)
			if !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("%s: Insert = %v, want ErrInvalid", c.name, err)
				continue
			}
			if strings.Contains(err.Error(), "12345") || strings.Contains(err.Error(), "xxxxxxxx") {
				t.Errorf("%s: the error quotes the value: %.200s", c.name, err)
			}
			if d.ID != "" || !d.CreatedAt.IsZero() {
				t.Errorf("%s: the failed Insert changed the document: ID %q, CreatedAt %v", c.name, d.ID, d.CreatedAt)
			}
		}
		// A document just under the limit is stored (the limit is on the
		// encoded size, 16 MiB, not less).
		ok := sdoc{Name: "under", Blob: strings.Repeat("y", 16<<20-1024)}
		if err := s.store.Insert(ctx, &ok); err != nil {
			t.Errorf("a document of 16 MiB - 1 KiB: %v", err)
		}
		if n, err := s.store.Count(ctx, ports.All()); err != nil || n != 1 {
			t.Errorf("Count = %d, %v; want only the document under the limit", n, err)
		}
		if _, err := s.store.Find(ctx, ports.Where("U", ports.Eq, uint64(1<<63))); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Find with a uint64 over MaxInt64: %v, want ErrInvalid", err)
		}
	})
}

// Comparisons follow MongoDB: numbers by value across types, strings
// bytewise.
func TestSideBySideComparisons(t *testing.T) {
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		for _, c := range []struct {
			name string
			num  float64
			cnt  int
		}{{"b", 1.5, 1}, {"B", 2, 2}, {"a", 3, 3}, {"é", 2.5, 4}, {"e", -1, 5}, {"Z", 1e15, 6}} {
			mustInsert(t, s.store, &sdoc{Name: c.name, Num: c.num, Cnt: c.cnt})
		}
		check := func(q ports.Query, want ...string) {
			t.Helper()
			got := names(mustFind(t, s.store, q.OrderBy("Name")))
			if !slices.Equal(got, want) {
				t.Errorf("%s = %v, want %v", q, got, want)
			}
		}
		check(ports.Where("Num", ports.Eq, 2), "B")
		check(ports.Where("Num", ports.Eq, int64(2)), "B")
		check(ports.Where("Num", ports.Lt, int8(3)), "B", "b", "e", "é")
		check(ports.Where("Cnt", ports.Gte, 4.5), "Z", "e")
		check(ports.Where("Cnt", ports.In, []float64{1, 2.5, 3}), "a", "b")
		check(ports.Where("Num", ports.Gt, uint32(1_000_000)), "Z")
		check(ports.Where("Name", ports.Gt, "a"), "b", "e", "é")
		check(ports.Where("Name", ports.Lt, "a"), "B", "Z")
		// Bytewise order: upper case, then lower case, then é (0xC3 0xA9).
		if got := names(mustFind(t, s.store, ports.All().OrderBy("Name"))); !slices.Equal(got, []string{"B", "Z", "a", "b", "e", "é"}) {
			t.Errorf("OrderBy(Name) = %v, want bytewise order", got)
		}
	})
}

// Ne with a value matches missing and null, a nil pointer and a nil
// parent struct included (the port's rule, as MongoDB's $ne).
func TestSideBySideNeMatchesNull(t *testing.T) {
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		mustInsert(t, s.store,
			&sdoc{Name: "nil"},
			&sdoc{Name: "two", P: intp(2), Sub: &ssub{X: 1}},
			&sdoc{Name: "three", P: intp(3), Sub: &ssub{X: 2}})
		check := func(q ports.Query, want ...string) {
			t.Helper()
			got := names(mustFind(t, s.store, q.OrderBy("Name")))
			if !slices.Equal(got, want) {
				t.Errorf("%s = %v, want %v", q, got, want)
			}
		}
		check(ports.Where("P", ports.Ne, 2), "nil", "three")
		check(ports.Where("Sub.X", ports.Ne, 1), "nil", "three")
		check(ports.Where("P", ports.Eq, nil), "nil")
		check(ports.Where("P", ports.Ne, nil), "three", "two")
		check(ports.Where("P", ports.Lt, 10), "three", "two")
		check(ports.Where("P", ports.In, []int{2, 3}), "three", "two")
		check(ports.Where("Sub.X", ports.Lte, 2), "three", "two")
	})
}

// Query time values are truncated to milliseconds, as the driver sends
// them.
func TestSideBySideQueryTimeTruncated(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 678_901_234, time.UTC)
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		mustInsert(t, s.store, &sdoc{Name: "a", At: at})
		check := func(q ports.Query, want int) {
			t.Helper()
			if got := mustFind(t, s.store, q); len(got) != want {
				t.Errorf("%s found %d, want %d", q, len(got), want)
			}
		}
		check(ports.Where("At", ports.Eq, at), 1)
		check(ports.Where("At", ports.Gt, at.Add(50*time.Microsecond)), 0)
		check(ports.Where("At", ports.Gte, at.Add(50*time.Microsecond)), 1)
		check(ports.Where("At", ports.Eq, at.In(time.FixedZone("Y", -7200))), 1)
	})
}

// IDs: upper-case hex is not an ObjectID's form; a non-ID string on an ID
// or DocRef field is ErrInvalid.
func TestSideBySideIDs(t *testing.T) {
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		ctx := t.Context()
		up := &sdoc{Name: "up"}
		up.ID = "ABCDEF0123456789ABCDEF01"
		if err := s.store.Insert(ctx, up); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Insert with an upper-case ID: %v, want ErrInvalid", err)
		}
		if err := s.store.InsertMany(ctx, []*sdoc{up}); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("InsertMany with an upper-case ID: %v, want ErrInvalid", err)
		}
		low := &sdoc{Name: "low"}
		low.ID = strings.ToLower(up.ID)
		mustInsert(t, s.store, low)
		for _, f := range []func() error{
			func() error { _, err := s.store.Get(ctx, up.ID); return err },
			func() error { return s.store.Delete(ctx, up.ID) },
			func() error { return s.store.Patch(ctx, up.ID, ports.Set("Name", "x")) },
			func() error { return s.store.Update(ctx, up) },
		} {
			if err := f(); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("a call with the upper-case form of a stored ID: %v, want ErrNotFound", err)
			}
		}
		for _, q := range []ports.Query{
			ports.Where("ID", ports.Gt, "abc"),
			ports.Where("ID", ports.Eq, up.ID),
			ports.Where("ID", ports.In, []string{low.ID, "x"}),
			ports.Where("Ref", ports.Eq, "nope"),
		} {
			if _, err := s.store.Find(ctx, q); !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("Find(%s): %v, want ErrInvalid", q, err)
			}
		}
		if got := mustFind(t, s.store, ports.Where("ID", ports.Gt, "000000000000000000000000")); len(got) != 1 {
			t.Errorf("ID > the zero ObjectID found %d, want 1", len(got))
		}
	})
}

// DocRef and ObjectID fields are stored as ObjectIDs and queryable.
func TestSideBySideObjectIDFields(t *testing.T) {
	ref := primitive.NewObjectID()
	peer := primitive.NewObjectID()
	eachSide[sdoc](t, opts{}, func(t *testing.T, s side[sdoc]) {
		ctx := t.Context()
		mustInsert(t, s.store, &sdoc{Name: "a", Ref: ports.DocRef(ref.Hex()), Peer: peer}, &sdoc{Name: "none"})
		for _, q := range []ports.Query{
			ports.Where("Ref", ports.Eq, ports.DocRef(ref.Hex())),
			ports.Where("Ref", ports.Eq, ref.Hex()),
			ports.Where("Ref", ports.In, []string{ref.Hex()}),
			ports.Where("Peer", ports.Eq, peer),
			ports.Where("Peer", ports.Eq, peer.Hex()),
		} {
			if got := mustFind(t, s.store, q); len(got) != 1 || got[0].Name != "a" || got[0].Ref != ports.DocRef(ref.Hex()) || got[0].Peer != peer {
				t.Errorf("Find(%s) = %+v, want document a", q, got)
			}
		}
		if got := mustFind(t, s.store, ports.Where("Ref", ports.Ne, ref.Hex())); len(got) != 1 || got[0].Ref != "" {
			t.Errorf("Ref != ref found %+v, want the document with no reference", got)
		}
		if s.raw == nil {
			return
		}
		var raw bson.Raw
		if err := s.raw.FindOne(ctx, bson.D{{Key: "name", Value: "a"}}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if v, ok := raw.Lookup("ref").ObjectIDOK(); !ok || v != ref {
			t.Errorf("stored ref = %v, want the ObjectID", raw.Lookup("ref"))
		}
		if err := s.raw.FindOne(ctx, bson.D{{Key: "name", Value: "none"}}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if raw.Lookup("ref").Type != bson.TypeNull {
			t.Errorf("an empty DocRef is stored as %v, want null", raw.Lookup("ref"))
		}
	})
}
