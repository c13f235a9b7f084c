package ports_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

type address struct {
	City string
	Zip  int
	Geo  struct{ Lat, Lng float64 }
}

type base struct {
	Name  string // shadowed by audit.Name
	Level int    // promoted
}

// audit exercises every rule of Schema: a promoted Document, a second
// embedded struct with a shadowed field, nested and pointer-to-struct
// fields, pointer leaves, and fields that are not queryable.
type audit struct {
	ports.Document `bson:",inline"`
	base
	Name    string
	Count   int
	Small   uint8
	Ratio   float32
	OK      bool
	At      time.Time
	Wait    time.Duration
	Due     *time.Time
	Note    *string
	Address address
	Billing *address
	Tags    []string
	Meta    map[string]string
	Any     any
	secret  string //lint:ignore U1000 unexported fields must not be queryable; this one is only looked up
}

func schema(t *testing.T) *ports.Schema {
	t.Helper()
	s, err := ports.SchemaOf[audit]()
	if err != nil {
		t.Fatalf("SchemaOf[audit]: %v", err)
	}
	return s
}

func TestSchemaLookup(t *testing.T) {
	s := schema(t)
	auditT := reflect.TypeFor[audit]()
	tests := []struct {
		path     string
		class    ports.Class
		nullable bool
		chain    []string // names of the struct fields from the model down
	}{
		{"ID", ports.ClassString, false, []string{"Document", "ID"}},
		{"CreatedAt", ports.ClassTime, false, []string{"Document", "CreatedAt"}},
		{"UpdatedAt", ports.ClassTime, false, []string{"Document", "UpdatedAt"}},
		{"Name", ports.ClassString, false, []string{"Name"}},
		{"Level", ports.ClassNumber, false, []string{"base", "Level"}},
		{"Count", ports.ClassNumber, false, []string{"Count"}},
		{"Small", ports.ClassNumber, false, []string{"Small"}},
		{"Ratio", ports.ClassNumber, false, []string{"Ratio"}},
		{"OK", ports.ClassBool, false, []string{"OK"}},
		{"At", ports.ClassTime, false, []string{"At"}},
		{"Wait", ports.ClassNumber, false, []string{"Wait"}},
		{"Due", ports.ClassTime, true, []string{"Due"}},
		{"Note", ports.ClassString, true, []string{"Note"}},
		{"Address.City", ports.ClassString, false, []string{"Address", "City"}},
		{"Address.Zip", ports.ClassNumber, false, []string{"Address", "Zip"}},
		{"Address.Geo.Lat", ports.ClassNumber, false, []string{"Address", "Geo", "Lat"}},
		{"Address.Geo.Lng", ports.ClassNumber, false, []string{"Address", "Geo", "Lng"}},
		{"Billing.City", ports.ClassString, false, []string{"Billing", "City"}},
		{"Billing.Zip", ports.ClassNumber, false, []string{"Billing", "Zip"}},
		{"Billing.Geo.Lat", ports.ClassNumber, false, []string{"Billing", "Geo", "Lat"}},
		{"Billing.Geo.Lng", ports.ClassNumber, false, []string{"Billing", "Geo", "Lng"}},
	}
	for _, tc := range tests {
		f, ok := s.Lookup(tc.path)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", tc.path)
			continue
		}
		if f.Path != tc.path || f.Class != tc.class || f.Nullable != tc.nullable {
			t.Errorf("Lookup(%q) = path %q class %v nullable %v, want %q %v %v", tc.path, f.Path, f.Class, f.Nullable, tc.path, tc.class, tc.nullable)
		}
		var chain []string
		for _, sf := range f.Chain {
			chain = append(chain, sf.Name)
		}
		if !reflect.DeepEqual(chain, tc.chain) {
			t.Errorf("Lookup(%q).Chain = %v, want %v", tc.path, chain, tc.chain)
		}
		if len(f.Index) != len(f.Chain) {
			t.Errorf("Lookup(%q): Index %v and Chain %v differ in length", tc.path, f.Index, chain)
		}
		// Index must reach the field through embedded, nested and
		// pointer-to-struct fields.
		if sf := auditT.FieldByIndex(f.Index); sf.Name != tc.chain[len(tc.chain)-1] || sf.Type != f.Type {
			t.Errorf("Lookup(%q).Index %v reaches field %s %v, want %s %v", tc.path, f.Index, sf.Name, sf.Type, tc.chain[len(tc.chain)-1], f.Type)
		}
	}
	for _, path := range []string{"", "Address", "Billing", "Document", "base", "Tags", "Meta", "Any", "secret",
		"Address.Nope", "Address.Geo", "name", "id", "_id", "created_at", "address.city", "Address.", ".City", "Address..City"} {
		if f, ok := s.Lookup(path); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", path, f)
		}
	}
	if got, want := s.Fields(), len(tests); got != want {
		t.Errorf("Fields() = %d, want %d (exactly the queryable leaves)", got, want)
	}
	if s.Type() != auditT {
		t.Errorf("Type() = %v, want %v", s.Type(), auditT)
	}
}

func TestSchemaShadowing(t *testing.T) {
	f, ok := schema(t).Lookup("Name")
	if !ok || len(f.Index) != 1 {
		t.Fatalf("Lookup(Name) = %+v, %v: want the direct field, which shadows the embedded one as in Go", f, ok)
	}
	want, _ := reflect.TypeFor[audit]().FieldByName("Name")
	if !reflect.DeepEqual(f.Index, want.Index) {
		t.Errorf("Lookup(Name).Index = %v, want %v (Go's own resolution)", f.Index, want.Index)
	}
}

func TestSchemaForCachesAndDereferences(t *testing.T) {
	a, err := ports.SchemaOf[audit]()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ports.SchemaFor(reflect.TypeFor[**audit]())
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("SchemaOf[audit] and SchemaFor(**audit) returned different schemas; want one per struct type")
	}
	for _, typ := range []reflect.Type{nil, reflect.TypeFor[int](), reflect.TypeFor[*string](), reflect.TypeFor[[]audit](), reflect.TypeFor[map[string]any]()} {
		s, err := ports.SchemaFor(typ)
		if s != nil || !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("SchemaFor(%v) = %v, %v; want nil and ErrInvalid", typ, s, err)
		}
	}
}

func TestClassOf(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want ports.Class
	}{
		{reflect.TypeFor[int](), ports.ClassNumber},
		{reflect.TypeFor[int8](), ports.ClassNumber},
		{reflect.TypeFor[int64](), ports.ClassNumber},
		{reflect.TypeFor[uint](), ports.ClassNumber},
		{reflect.TypeFor[uint64](), ports.ClassNumber},
		{reflect.TypeFor[float32](), ports.ClassNumber},
		{reflect.TypeFor[float64](), ports.ClassNumber},
		{reflect.TypeFor[time.Duration](), ports.ClassNumber},
		{reflect.TypeFor[*int](), ports.ClassNumber},
		{reflect.TypeFor[string](), ports.ClassString},
		{reflect.TypeFor[**string](), ports.ClassString},
		{reflect.TypeFor[bool](), ports.ClassBool},
		{reflect.TypeFor[time.Time](), ports.ClassTime},
		{reflect.TypeFor[*time.Time](), ports.ClassTime},
		{reflect.TypeFor[[]byte](), ports.ClassInvalid},
		{reflect.TypeFor[[]int](), ports.ClassInvalid},
		{reflect.TypeFor[map[string]int](), ports.ClassInvalid},
		{reflect.TypeFor[struct{}](), ports.ClassInvalid},
		{reflect.TypeFor[any](), ports.ClassInvalid},
		{reflect.TypeFor[complex128](), ports.ClassInvalid},
		{reflect.TypeFor[chan int](), ports.ClassInvalid},
	}
	for _, tc := range tests {
		if got := ports.ClassOf(tc.typ); got != tc.want {
			t.Errorf("ClassOf(%v) = %v, want %v", tc.typ, got, tc.want)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[ports.Class]string{
		ports.ClassInvalid: "invalid", ports.ClassNumber: "number", ports.ClassString: "string",
		ports.ClassBool: "bool", ports.ClassTime: "time", ports.Class(99): "invalid",
	} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	s := schema(t)
	n := 3
	note := "n"
	now := time.Now()
	tests := []struct {
		name string
		q    ports.Query
	}{
		{"all", ports.All()},
		{"int", ports.Where("Count", ports.Eq, 1)},
		{"int64 on int", ports.Where("Count", ports.Ne, int64(1))},
		{"float on int", ports.Where("Count", ports.Lt, 1.5)},
		{"uint8 on float32", ports.Where("Ratio", ports.Gte, uint8(2))},
		{"duration on duration", ports.Where("Wait", ports.Gt, time.Second)},
		{"pointer value", ports.Where("Count", ports.Eq, &n)},
		{"string ordering", ports.Where("Name", ports.Lt, "m")},
		{"time", ports.Where("At", ports.Gte, now)},
		{"bool eq", ports.Where("OK", ports.Eq, true)},
		{"bool ne", ports.Where("OK", ports.Ne, false)},
		{"bool in", ports.Where("OK", ports.In, []bool{true})},
		{"nil eq on pointer", ports.Where("Due", ports.Eq, nil)},
		{"nil ne on pointer", ports.Where("Note", ports.Ne, nil)},
		{"typed nil on pointer", ports.Where("Due", ports.Eq, (*time.Time)(nil))},
		{"value on pointer field", ports.Where("Due", ports.Lt, now)},
		{"pointer value on pointer field", ports.Where("Note", ports.Eq, &note)},
		{"in", ports.Where("Count", ports.In, []int{1, 2})},
		{"in empty", ports.Where("Count", ports.In, []int{})},
		{"in mixed numbers", ports.Where("Count", ports.In, []any{1, 2.5, uint(3)})},
		{"in array", ports.Where("Name", ports.In, [2]string{"a", "b"})},
		{"in pointers", ports.Where("Count", ports.In, []*int{&n})},
		{"promoted Document field", ports.Where("ID", ports.Eq, "0123456789abcdef01234567").And("CreatedAt", ports.Lt, now)},
		{"promoted embedded field", ports.Where("Level", ports.Gt, 1)},
		{"nested", ports.Where("Address.City", ports.Eq, "Paris").And("Address.Geo.Lat", ports.Gt, 1.0)},
		{"through pointer struct", ports.Where("Billing.Zip", ports.In, []int{75001})},
		{"sort keys", ports.All().OrderBy("-CreatedAt", "Address.City", "+Name")},
		{"limit and offset", ports.All().Limit(10).Offset(20)},
		{"zero limit", ports.All().Limit(0).Offset(0)},
	}
	for _, tc := range tests {
		if err := s.Validate(tc.q); err != nil {
			t.Errorf("%s: Validate(%s) = %v, want nil", tc.name, tc.q, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	s := schema(t)
	n := 3
	tests := []struct {
		name    string
		q       ports.Query
		mention string // the error must mention this
	}{
		{"unknown field", ports.Where("Nope", ports.Eq, 1), `"Nope"`},
		{"column name", ports.Where("created_at", ports.Eq, time.Now()), `"created_at"`},
		{"bson key", ports.Where("_id", ports.Eq, "x"), `"_id"`},
		{"wrong case", ports.Where("address.city", ports.Eq, "x"), `"address.city"`},
		{"struct field", ports.Where("Address", ports.Eq, "x"), `"Address"`},
		{"slice field", ports.Where("Tags", ports.Eq, "x"), `"Tags"`},
		{"map field", ports.Where("Meta", ports.Eq, "x"), `"Meta"`},
		{"unexported field", ports.Where("secret", ports.Eq, "x"), `"secret"`},
		{"unknown nested", ports.Where("Address.Nope", ports.Eq, "x"), `"Address.Nope"`},
		{"injection", ports.Where("Count = 1 OR 1", ports.Eq, 1), "Count = 1 OR 1"},
		{"unknown operator", ports.Where("Count", ports.Op("LIKE"), 1), "LIKE"},
		{"empty operator", ports.Where("Count", ports.Op(""), 1), "operator"},
		{"ordering a bool", ports.Where("OK", ports.Lt, true), "bool"},
		{"ordering a bool gte", ports.Where("OK", ports.Gte, false), "bool"},
		{"string on number", ports.Where("Count", ports.Eq, "1"), "Count"},
		{"number on string", ports.Where("Name", ports.Eq, 1), "Name"},
		{"string on time", ports.Where("At", ports.Gt, "2024-01-01"), "At"},
		{"number on bool", ports.Where("OK", ports.Eq, 1), "OK"},
		{"slice with Eq", ports.Where("Count", ports.Eq, []int{1}), "Count"},
		{"map value", ports.Where("Name", ports.Eq, map[string]any{"$ne": ""}), "Name"},
		{"nil on non-pointer", ports.Where("Count", ports.Eq, nil), "Count"},
		{"typed nil on non-pointer", ports.Where("Count", ports.Eq, (*int)(nil)), "Count"},
		{"nil ordering", ports.Where("Due", ports.Lt, nil), "Due"},
		{"in nil", ports.Where("Count", ports.In, nil), "Count"},
		{"in not a slice", ports.Where("Count", ports.In, 5), "Count"},
		{"in string", ports.Where("Name", ports.In, "ab"), "Name"},
		{"in wrong elements", ports.Where("Count", ports.In, []string{"1"}), "element 0"},
		{"in mixed elements", ports.Where("Count", ports.In, []any{1, "2"}), "element 1"},
		{"in nil element", ports.Where("Count", ports.In, []any{nil}), "element 0"},
		{"in nil pointer element", ports.Where("Count", ports.In, []*int{&n, nil}), "element 1"},
		{"unknown sort field", ports.All().OrderBy("-Nope"), `"Nope"`},
		{"sort by slice", ports.All().OrderBy("Tags"), `"Tags"`},
		{"empty sort field", ports.All().OrderBy(""), `""`},
		{"negative limit", ports.All().Limit(-1), "limit -1"},
		{"negative offset", ports.All().Offset(-2), "offset -2"},
		{"second condition", ports.Where("Count", ports.Eq, 1).And("Nope", ports.Eq, 1), `"Nope"`},
	}
	for _, tc := range tests {
		err := s.Validate(tc.q)
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%s: Validate(%s) = %v, want ErrInvalid", tc.name, tc.q, err)
			continue
		}
		var oe *ports.OpError
		if !errors.As(err, &oe) || oe.Backend != "query" || oe.Op != "validate" {
			t.Errorf("%s: Validate error %v is not an *OpError from query/validate", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: Validate error %q does not mention %q", tc.name, err, tc.mention)
		}
	}
}

func TestValidateNeverShowsValues(t *testing.T) {
	err := schema(t).Validate(ports.Where("Count", ports.Eq, "hunter2"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Validate error %v shows the rejected value; it may be a secret", err)
	}
}

// hexID is an ObjectID-like value for SetID.
type hexID struct{}

func (hexID) Hex() string { return "0123456789abcdef01234567" }

func TestDocumentHooks(t *testing.T) {
	var d ports.Document
	d.SetID("abc")
	if d.GetID() != "abc" {
		t.Errorf("SetID(string) then GetID() = %v, want abc", d.GetID())
	}
	d.SetID(hexID{})
	if d.ID != "0123456789abcdef01234567" {
		t.Errorf("SetID(hex value) set ID %q, want the Hex() form", d.ID)
	}
	d.SetID(42)
	if d.ID != "0123456789abcdef01234567" {
		t.Errorf("SetID(int) changed ID to %q, want it ignored", d.ID)
	}
	if id, err := d.PrepareID("x"); id != "x" || err != nil {
		t.Errorf("PrepareID(x) = %v, %v, want x, nil", id, err)
	}

	if err := d.Creating(); err != nil {
		t.Fatal(err)
	}
	if d.CreatedAt.IsZero() || !d.CreatedAt.Equal(d.UpdatedAt) || d.CreatedAt.Location() != time.UTC ||
		!d.CreatedAt.Equal(d.CreatedAt.Truncate(time.Millisecond)) {
		t.Errorf("Creating set CreatedAt %v, UpdatedAt %v; want equal UTC times truncated to ms", d.CreatedAt, d.UpdatedAt)
	}
	given := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	d2 := ports.Document{CreatedAt: given}
	_ = d2.Creating()
	if !d2.CreatedAt.Equal(given) || d2.UpdatedAt.IsZero() {
		t.Errorf("Creating on a set CreatedAt gave CreatedAt %v, UpdatedAt %v; want CreatedAt kept, UpdatedAt set", d2.CreatedAt, d2.UpdatedAt)
	}
	_ = d2.Saving()
	if !d2.CreatedAt.Equal(given) || d2.UpdatedAt.Before(given) {
		t.Errorf("Saving gave CreatedAt %v, UpdatedAt %v; want CreatedAt kept, UpdatedAt now", d2.CreatedAt, d2.UpdatedAt)
	}
	var m ports.DocumentModel = &d
	if m.Doc() != &d {
		t.Errorf("Doc() does not return the Document itself")
	}
}
