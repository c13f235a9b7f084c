package sqlrules

import (
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

type pgModel struct {
	ID    int64
	S     string
	P     *string
	B     []byte
	Small int64 `gorm:"size:16"`
	Mid   int64 `gorm:"size:32"`
	U8    uint8
	U16   uint16
	U32   uint32
	U64   uint64
}

// The Postgres dialect's own rules: a NUL in a string (not in bytes), an
// integer outside the column gorm's PostgreSQL dialect creates.
func TestPostgresRules(t *testing.T) {
	s, err := schema.Parse(&pgModel{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	nul := "a\x00b"
	for name, tc := range map[string]struct {
		v       pgModel
		field   string
		onMySQL bool // MySQL stores it
	}{
		"NUL in a string":      {pgModel{S: nul}, "S", true},
		"NUL in a *string":     {pgModel{P: &nul}, "P", true},
		"40000 in size:16":     {pgModel{Small: 40000}, "Small", false},
		"1<<31 in size:32":     {pgModel{Mid: 1 << 31}, "Mid", false},
		"uint64 over MaxInt64": {pgModel{U64: math.MaxInt64 + 1}, "U64", true},
	} {
		err := Check(s, reflect.ValueOf(tc.v), Postgres, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") || strings.Contains(err.Error(), "\x00") {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.field)
		}
		if err := Check(s, reflect.ValueOf(tc.v), MySQL, nil); tc.onMySQL && err != nil {
			t.Errorf("%s on MySQL: %v, want it stored", name, err)
		}
	}
	ok := pgModel{B: []byte{0}, Small: math.MaxInt16, Mid: math.MinInt32, U8: math.MaxUint8, U16: math.MaxUint16, U32: math.MaxUint32, U64: math.MaxInt64}
	if err := Check(s, reflect.ValueOf(ok), Postgres, nil); err != nil {
		t.Errorf("values PostgreSQL stores: %v", err)
	}
	f := s.LookUpField("S")
	if err := CheckValue(f, nul, Postgres); err == nil {
		t.Error("CheckValue of a NUL passed")
	}
}
