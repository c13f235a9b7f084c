package docmodel

import (
	"math"
	"reflect"
	"slices"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
)

// Two encodings the model's registry makes canonical, so that what a store
// holds does not depend on chance or on the server (the fake and every
// server store the same bytes):
//
//   - a map with string keys is written with its keys sorted (Go's map
//     order is random: decoded into an `any` field, as bson.D, the keys
//     would otherwise come back in a different order on every write);
//   - a float -0 is written as 0 (a portable rule: MySQL and FerretDB
//     store 0; MongoDB would keep the sign).

// registerCanonical adds the canonical encoders to reg.
func registerCanonical(reg *bsoncodec.Registry) {
	def := bson.NewRegistry()
	mapEnc, _ := def.LookupEncoder(reflect.TypeFor[map[string]any]())
	reg.RegisterKindEncoder(reflect.Map, sortedMapEncoder{fallback: mapEnc})
	reg.RegisterKindEncoder(reflect.Float64, bsoncodec.ValueEncoderFunc(encodeFloat))
	reg.RegisterKindEncoder(reflect.Float32, bsoncodec.ValueEncoderFunc(encodeFloat))
}

func encodeFloat(_ bsoncodec.EncodeContext, vw bsonrw.ValueWriter, val reflect.Value) error {
	if val.Kind() != reflect.Float64 && val.Kind() != reflect.Float32 {
		return bsoncodec.ValueEncoderError{Name: "FloatEncodeValue", Kinds: []reflect.Kind{reflect.Float32, reflect.Float64}, Received: val}
	}
	f := val.Float()
	if f == 0 && math.Signbit(f) {
		f = 0
	}
	return vw.WriteDouble(f)
}

// sortedMapEncoder writes a map with string keys in key order; other maps
// go to the driver's map codec.
type sortedMapEncoder struct{ fallback bsoncodec.ValueEncoder }

func (e sortedMapEncoder) EncodeValue(ec bsoncodec.EncodeContext, vw bsonrw.ValueWriter, val reflect.Value) error {
	if val.Kind() != reflect.Map || val.Type().Key().Kind() != reflect.String {
		return e.fallback.EncodeValue(ec, vw, val)
	}
	if val.IsNil() {
		if err := vw.WriteNull(); err == nil {
			return nil
		}
	}
	dw, err := vw.WriteDocument()
	if err != nil {
		return err
	}
	keys := val.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int {
		switch as, bs := a.String(), b.String(); {
		case as < bs:
			return -1
		case as > bs:
			return 1
		}
		return 0
	})
	for _, k := range keys {
		v := val.MapIndex(k)
		ew, err := dw.WriteDocumentElement(k.String())
		if err != nil {
			return err
		}
		for v.Kind() == reflect.Interface && !v.IsNil() {
			v = v.Elem()
		}
		if (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && v.IsNil() {
			if err := ew.WriteNull(); err != nil {
				return err
			}
			continue
		}
		enc, err := ec.LookupEncoder(v.Type())
		if err != nil {
			return err
		}
		if err := enc.EncodeValue(ec, ew, v); err != nil {
			return err
		}
	}
	return dw.WriteDocumentEnd()
}
