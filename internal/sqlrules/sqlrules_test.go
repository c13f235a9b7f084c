package sqlrules

import (
	"fmt"
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

// TestCheckReadsFieldsInPlace: a Checker reads an entity's own fields in
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
		c := NewChecker(s, d, nil)
		if n := testing.AllocsPerRun(20, func() { _ = c.Check(rv) }); n != 0 {
			t.Errorf("%v: Checker.Check allocates %v times per row, want 0", d, n)
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

// A Checker reads the fields of an addressable entity in place and those
// of an entity it cannot address through reflection: both give the same
// verdict, error text included, on every dialect, for rows within and
// past every limit (pointer fields, embedded structs, named types).
func TestCheckerInPlaceMatchesReflection(t *testing.T) {
	type code string
	type inner struct {
		Level int16
		Tag   code `gorm:"size:3"`
	}
	type wide struct {
		ID    int64
		Name  string `gorm:"size:4"`
		Key   string `gorm:"index"`
		Typed string `gorm:"type:varchar(3)"`
		Text  string
		Blob  []byte `gorm:"size:2"`
		Small int8
		Tiny  int `gorm:"size:8"`
		U16   uint16
		U32   uint32
		U64   uint64
		F32   float32
		F     float64
		At    time.Time
		AtP   *time.Time
		Note  *string `gorm:"size:2"`
		Code  code    `gorm:"size:2"`
		Inner inner   `gorm:"embedded"`
	}
	s, err := schema.Parse(&wide{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	long, nul := "long", "a\x00"
	past := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []wide{
		{},
		{Name: "éééé", Key: strings.Repeat("k", 191), Typed: "abc", Small: -128, Tiny: 127, U16: math.MaxUint16,
			U32: math.MaxUint32, U64: math.MaxUint64, F32: -1, F: math.Copysign(0, -1), At: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
			Code: "ab", Inner: inner{Level: math.MinInt16, Tag: "abc"}},
		{Name: "ééééé"}, {Key: strings.Repeat("k", 192)}, {Typed: "abcd"}, {Text: "\xff"}, {Text: nul},
		{Blob: []byte("abc")}, {Tiny: 128}, {Tiny: -129}, {U16: math.MaxInt16 + 1}, {U32: math.MaxInt32 + 1},
		{U64: math.MaxInt64 + 1}, {F32: float32(math.Inf(1))}, {F: math.NaN()}, {At: past}, {AtP: &past},
		{Note: &long}, {Note: &nul}, {Code: "abc"}, {Inner: inner{Tag: "abcd"}}, {Inner: inner{Tag: "\xff"}},
		{Text: strings.Repeat("t", MaxStatementBytes/2+1), Name: "ab", Key: strings.Repeat("k", MaxStatementBytes/2)},
	}
	for _, d := range []Dialect{MySQL, Postgres} {
		for _, write := range []func(*schema.Field) bool{nil, func(f *schema.Field) bool { return f.Name != "Name" }} {
			c := NewChecker(s, d, write)
			failed := 0
			for i := range rows {
				inPlace := c.Check(reflect.ValueOf(&rows[i]))
				viaReflection := c.Check(reflect.ValueOf(rows[i])) // not addressable
				if fmt.Sprint(inPlace) != fmt.Sprint(viaReflection) {
					t.Errorf("%v row %d: in place %v, through reflection %v", d, i, inPlace, viaReflection)
				}
				if inPlace != nil {
					failed++
				}
			}
			if failed < 14 { // the rows past a limit of both dialects
				t.Errorf("%v: %d rows failed, want at least 14", d, failed)
			}
		}
	}
}
