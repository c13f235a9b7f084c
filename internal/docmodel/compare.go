package docmodel

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"math/big"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// This file holds MongoDB's comparison rules on BSON values, for the
// document fake: the order of types, numbers compared by value across
// int32, int64, double and decimal128, strings bytewise (the "simple"
// collation), documents and arrays element by element. A zero RawValue
// (Type 0) stands for a missing field, which sorts as null.

// typeRank returns the position of t's canonical type in MongoDB's
// comparison order.
func typeRank(t bsontype.Type) int {
	switch t {
	case bson.TypeMinKey:
		return 1
	case 0, bson.TypeNull, bson.TypeUndefined:
		return 2
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return 3
	case bson.TypeString, bson.TypeSymbol:
		return 4
	case bson.TypeEmbeddedDocument:
		return 5
	case bson.TypeArray:
		return 6
	case bson.TypeBinary:
		return 7
	case bson.TypeObjectID:
		return 8
	case bson.TypeBoolean:
		return 9
	case bson.TypeDateTime:
		return 10
	case bson.TypeTimestamp:
		return 11
	case bson.TypeRegex:
		return 12
	case bson.TypeDBPointer:
		return 13
	case bson.TypeJavaScript:
		return 14
	case bson.TypeCodeWithScope:
		return 15
	case bson.TypeMaxKey:
		return 16
	}
	return 17
}

// SameType reports whether a and b have the same canonical type, which
// MongoDB's $lt, $lte, $gt and $gte require to compare at all ("type
// bracketing").
func SameType(a, b bson.RawValue) bool { return typeRank(a.Type) == typeRank(b.Type) }

// Equal reports whether MongoDB's $eq holds between a and b: the same
// canonical type and equal values (1, 1.0 and NumberLong(1) are equal).
func Equal(a, b bson.RawValue) bool { return SameType(a, b) && Compare(a, b) == 0 }

// Compare orders a and b as MongoDB sorts them.
func Compare(a, b bson.RawValue) int {
	ra, rb := typeRank(a.Type), typeRank(b.Type)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	av := bsoncore.Value{Type: a.Type, Data: a.Value}
	bv := bsoncore.Value{Type: b.Type, Data: b.Value}
	return compareCore(av, bv)
}

func compareCore(a, b bsoncore.Value) int {
	ra, rb := typeRank(a.Type), typeRank(b.Type)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch ra {
	case 1, 2, 16:
		return 0
	case 3:
		return compareNumbers(a, b)
	case 4:
		return bytes.Compare(stringBytes(a), stringBytes(b))
	case 5:
		return compareDocs(a.Document(), b.Document(), true)
	case 6:
		return compareDocs(bsoncore.Document(a.Array()), bsoncore.Document(b.Array()), false)
	case 7:
		as, ab := a.Binary()
		bs, bb := b.Binary()
		if c := cmp.Compare(len(ab), len(bb)); c != 0 {
			return c
		}
		if c := cmp.Compare(as, bs); c != 0 {
			return c
		}
		return bytes.Compare(ab, bb)
	case 8:
		ao, bo := a.ObjectID(), b.ObjectID()
		return bytes.Compare(ao[:], bo[:])
	case 9:
		ab, bb := a.Boolean(), b.Boolean()
		switch {
		case ab == bb:
			return 0
		case !ab:
			return -1
		}
		return 1
	case 10:
		return cmp.Compare(a.DateTime(), b.DateTime())
	case 11:
		at, ai := a.Timestamp()
		bt, bi := b.Timestamp()
		if c := cmp.Compare(at, bt); c != 0 {
			return c
		}
		return cmp.Compare(ai, bi)
	case 12:
		ap, ao := a.Regex()
		bp, bo := b.Regex()
		if c := cmp.Compare(ap, bp); c != 0 {
			return c
		}
		return cmp.Compare(ao, bo)
	}
	return bytes.Compare(a.Data, b.Data)
}

func stringBytes(v bsoncore.Value) []byte {
	if v.Type == bson.TypeSymbol {
		s, _ := v.SymbolOK()
		return []byte(s)
	}
	s, _ := v.StringValueOK()
	return []byte(s)
}

// compareDocs compares element by element: the type, then (for
// documents) the key, then the value; a prefix sorts first.
func compareDocs(a, b bsoncore.Document, keys bool) int {
	ae, _ := a.Elements()
	be, _ := b.Elements()
	for i := 0; i < len(ae) && i < len(be); i++ {
		av, bv := ae[i].Value(), be[i].Value()
		if c := cmp.Compare(typeRank(av.Type), typeRank(bv.Type)); c != 0 {
			return c
		}
		if keys {
			if c := cmp.Compare(ae[i].Key(), be[i].Key()); c != 0 {
				return c
			}
		}
		if c := compareCore(av, bv); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ae), len(be))
}

// number is a BSON number: an integer, a double, or (for decimal128) a
// big.Float; nan marks a NaN, which MongoDB sorts before every number and
// treats as equal to itself.
type number struct {
	isInt bool
	i     int64
	f     float64
	big   *big.Float
	nan   bool
}

func toNumber(v bsoncore.Value) number {
	switch v.Type {
	case bson.TypeInt32:
		return number{isInt: true, i: int64(v.Int32())}
	case bson.TypeInt64:
		return number{isInt: true, i: v.Int64()}
	case bson.TypeDouble:
		f := v.Double()
		if math.IsNaN(f) {
			return number{nan: true}
		}
		return number{f: f}
	case bson.TypeDecimal128:
		d := v.Decimal128()
		bi, exp, err := d.BigInt()
		if err != nil {
			s := d.String()
			switch s {
			case "Infinity":
				return number{f: math.Inf(1)}
			case "-Infinity":
				return number{f: math.Inf(-1)}
			}
			return number{nan: true}
		}
		f := new(big.Float).SetPrec(256).SetInt(bi)
		if exp != 0 {
			ten := new(big.Float).SetPrec(256).SetInt64(10)
			p := new(big.Float).SetPrec(256).SetInt64(1)
			e := exp
			if e < 0 {
				e = -e
			}
			for range e {
				p.Mul(p, ten)
			}
			if exp > 0 {
				f.Mul(f, p)
			} else {
				f.Quo(f, p)
			}
		}
		return number{big: f}
	}
	return number{nan: true}
}

func (n number) bigFloat() *big.Float {
	switch {
	case n.big != nil:
		return n.big
	case n.isInt:
		return new(big.Float).SetPrec(256).SetInt64(n.i)
	}
	return new(big.Float).SetPrec(256).SetFloat64(n.f)
}

func compareNumbers(a, b bsoncore.Value) int {
	x, y := toNumber(a), toNumber(b)
	switch {
	case x.nan && y.nan:
		return 0
	case x.nan:
		return -1
	case y.nan:
		return 1
	case x.isInt && y.isInt:
		return cmp.Compare(x.i, y.i)
	case x.big == nil && y.big == nil && !x.isInt && !y.isInt:
		return cmp.Compare(x.f, y.f)
	case x.big == nil && y.big == nil && math.IsInf(x.f, 0):
		if x.f > 0 {
			return 1
		}
		return -1
	case x.big == nil && y.big == nil && math.IsInf(y.f, 0):
		if y.f > 0 {
			return -1
		}
		return 1
	}
	return x.bigFloat().Cmp(y.bigFloat())
}

// UniqueKey returns a comparable form of v under which values MongoDB's
// unique indexes take as equal coincide: numbers by value, a missing
// field as null.
func UniqueKey(v bson.RawValue) string {
	switch typeRank(v.Type) {
	case 2:
		return "\x02"
	case 3:
		n := toNumber(bsoncore.Value{Type: v.Type, Data: v.Value})
		switch {
		case n.nan:
			return "\x03nan"
		case n.isInt:
			return intKey(n.i)
		case n.big == nil && n.f == math.Trunc(n.f) && n.f >= -(1<<63) && n.f < 1<<63:
			return intKey(int64(n.f))
		case n.big == nil:
			return "\x03f" + string(binary.BigEndian.AppendUint64(nil, math.Float64bits(n.f)))
		}
		return "\x03d" + n.big.Text('g', 80)
	case 4:
		return "\x04" + string(stringBytes(bsoncore.Value{Type: v.Type, Data: v.Value}))
	}
	return string([]byte{byte(typeRank(v.Type))}) + string(v.Value)
}

func intKey(i int64) string {
	return "\x03i" + string(binary.BigEndian.AppendUint64(nil, uint64(i)))
}
