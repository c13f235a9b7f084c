package gormstore

import (
	"context"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"gorm.io/gorm/schema"
)

type readerEmbedded struct {
	E int64
	F *string
}

type readerRow struct {
	ID   int64
	S    string
	B    bool
	I    int
	I8   int8
	I16  int16
	I32  int32
	U    uint
	U8   uint8
	U16  uint16
	U32  uint32
	U64  uint64
	F32  float32
	F64  float64
	T    time.Time
	Bs   []byte
	PS   *string
	PB   *bool
	PI   *int
	PI32 *int32
	PI64 *int64
	PF   *float64
	PT   *time.Time
	Code readerCode // a named type: gorm's ValueOf keeps its type
	readerEmbedded
}

type readerCode string

// The insert plan's readers give what gorm's Field.ValueOf gives: the
// same value, of the same dynamic type, and the same zero flag (-0 and
// an empty non-nil []byte included), for every field, on zero and
// non-zero rows.
func TestValueReadersMatchGorm(t *testing.T) {
	sch, err := schema.Parse(&readerRow{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	s, now := "s", time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	b, i, i32, i64, f := true, 1, int32(2), int64(3), 4.5
	rows := []readerRow{
		{},
		{ID: 1, S: "x", B: true, I: -1, I8: -8, I16: 300, I32: -32, U: 1, U8: 255, U16: 16, U32: 32, U64: math.MaxUint64,
			F32: float32(math.Copysign(0, -1)), F64: math.Copysign(0, -1), T: now, Bs: []byte{}, PS: &s, PB: &b, PI: &i,
			PI32: &i32, PI64: &i64, PF: &f, PT: &now, Code: "c", readerEmbedded: readerEmbedded{E: 7, F: &s}},
		{F32: float32(math.NaN()), F64: math.NaN(), T: time.Time{}.In(time.UTC), Bs: []byte{1}},
	}
	ctx := context.Background()
	fast := 0
	for ri := range rows {
		rv := reflect.ValueOf(&rows[ri]).Elem()
		for _, fld := range sch.Fields {
			if fld.DBName == "" {
				continue
			}
			r := newValueReader(sch.ModelType, fld)
			if ri == 0 && r.get != nil {
				fast++
			}
			got, gotZero := r.read(ctx, fld, rv, unsafe.Pointer(&rows[ri]))
			want, wantZero := fld.ValueOf(ctx, rv)
			if reflect.TypeOf(got) != reflect.TypeOf(want) || gotZero != wantZero || !sameValue(got, want) {
				t.Errorf("row %d field %s: read %#v (%T) zero %v; gorm %#v (%T) zero %v", ri, fld.Name, got, got, gotZero, want, want, wantZero)
			}
		}
	}
	if want := len(sch.DBNames) - 1; fast != want { // all but Code
		t.Errorf("%d fields read without reflection, want %d", fast, want)
	}
}

// sameValue is reflect.DeepEqual, with NaN equal to NaN.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		if y, ok := b.(float64); ok && math.IsNaN(x) && math.IsNaN(y) {
			return true
		}
	case float32:
		if y, ok := b.(float32); ok && x != x && y != y {
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}
