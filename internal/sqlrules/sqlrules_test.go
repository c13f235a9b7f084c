package sqlrules

import (
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gorm.io/gorm/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type row struct {
	ID    int64
	Name  string `gorm:"size:4"`
	Key   string `gorm:"index"`
	Typed string `gorm:"type:varchar(3)"`
	Text  string
	Blob  []byte
	Small int8
	Tiny  int `gorm:"size:8"`
	U32   uint32
	U64   uint64
	F     float64
	At    time.Time
	Skip  string `gorm:"-"`
}

func parse(t *testing.T) *schema.Schema {
	t.Helper()
	s, err := schema.Parse(&row{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheck(t *testing.T) {
	s := parse(t)
	ok := row{Name: "éééé", Key: strings.Repeat("k", 191), Typed: "abc", Small: -128, Tiny: 127, U32: math.MaxUint32, U64: math.MaxUint64,
		F: math.Copysign(0, -1), At: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), Skip: "\xff"}
	if err := Check(s, reflect.ValueOf(&ok), MySQL, nil); err != nil {
		t.Errorf("a row within every limit: %v", err)
	}
	for name, r := range map[string]row{
		"5 characters in size:4":     {Name: "ééééé"},
		"192 characters in an index": {Key: strings.Repeat("k", 192)},
		"4 characters in varchar(3)": {Typed: "abcd"},
		"invalid UTF-8":              {Text: "\xff"},
		"a longtext over the limit":  {Text: strings.Repeat("t", MaxUnsizedBytes+1)},
		"bytes over the limit":       {Blob: make([]byte, MaxUnsizedBytes+1)},
		"two halves over the row's":  {Text: strings.Repeat("t", MaxStatementBytes/2+1), Blob: make([]byte, MaxStatementBytes/2+1)},
		"128 in a size:8 int":        {Tiny: 128},
		"NaN":                        {F: math.NaN()},
		"-Inf":                       {F: math.Inf(-1)},
		"year 10000":                 {At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		err := Check(s, reflect.ValueOf(&r), MySQL, nil)
		if err == nil {
			t.Errorf("Check of %s: nil, want an error", name)
		} else if strings.Contains(err.Error(), "ééééé") || strings.Contains(err.Error(), "abcd") {
			t.Errorf("Check of %s quotes the value: %v", name, err)
		}
	}
	big := row{U64: math.MaxInt64 + 1}
	if err := Check(s, reflect.ValueOf(&big), Postgres, nil); err == nil {
		t.Error("uint64 over MaxInt64 on PostgreSQL: nil, want an error")
	}
	if err := Check(s, reflect.ValueOf(&big), MySQL, nil); err != nil {
		t.Errorf("uint64 over MaxInt64 on MySQL's bigint unsigned: %v", err)
	}
	if err := CheckValue(s.LookUpField("Name"), "ééééé", MySQL); err == nil {
		t.Error("CheckValue of 5 characters in size:4: nil")
	}
	if MySQL.StoredFloat(math.Copysign(0, -1)) != 0 || math.Signbit(MySQL.StoredFloat(math.Copysign(0, -1))) {
		t.Error("MySQL stores -0.0 as 0")
	}
	if !math.Signbit(Postgres.StoredFloat(math.Copysign(0, -1))) {
		t.Error("PostgreSQL keeps -0.0")
	}
}

// TestCheckReadsFieldsInPlace: Check reads an entity's own fields in
// place, without boxing them (gorm's Field.ValueOf allocates for strings,
// floats, times: a third of CreateMany's allocations), with the verdicts
// of the boxed values.
func TestCheckReadsFieldsInPlace(t *testing.T) {
	// row without its `type:varchar(3)` column (whose limit is parsed
	// from the type at every check).
	type plain struct {
		ID    int64
		Name  string `gorm:"size:4"`
		Key   string `gorm:"index"`
		Text  string
		Blob  []byte
		Small int8
		Tiny  int `gorm:"size:8"`
		U32   uint32
		U64   uint64
		F     float64
		At    time.Time
		AtP   *time.Time
		Note  *string
	}
	s, err := schema.Parse(&plain{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	at, note := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), "note"
	r := plain{ID: 123456, Name: "abcd", Key: "k", Text: "some text", Blob: []byte("b"),
		Small: 100, Tiny: 100, U32: 70000, U64: 1 << 40, F: 1.5, At: at, AtP: &at, Note: &note}
	for _, d := range []Dialect{MySQL, Postgres} {
		rv := reflect.ValueOf(&r).Elem()
		if err := Check(s, rv, d, nil); err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		if n := testing.AllocsPerRun(20, func() { _ = Check(s, rv, d, nil) }); n != 0 {
			t.Errorf("%v: Check allocates %v times per row, want 0", d, n)
		}
	}
	bad := r
	bad.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := Check(s, reflect.ValueOf(&bad).Elem(), MySQL, nil); err == nil {
		t.Error("a time past year 9999 passed")
	}
	bad = r
	past := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	bad.AtP = &past
	if err := Check(s, reflect.ValueOf(&bad).Elem(), MySQL, nil); err == nil {
		t.Error("a *time past year 9999 passed")
	}
	bad = r
	bad.F = math.Inf(1)
	if err := Check(s, reflect.ValueOf(&bad).Elem(), Postgres, nil); err == nil {
		t.Error("an infinite float passed")
	}
}
