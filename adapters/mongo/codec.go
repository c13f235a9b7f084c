package mongo

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// IDs are strings at the port and ObjectIDs in MongoDB.
//
// On the way out, each DocStore's collection has a registry of its own in
// which the model type T is encoded by idEncoder: T is marshalled as the
// driver would, then its top-level "_id" string is replaced by the
// ObjectID it spells. mgm's Create, InsertOne, InsertMany and ReplaceOne
// all see ObjectIDs, and nothing changes for other types.
//
// On the way in, nothing is needed: the driver's string codec decodes an
// ObjectID into a string field as its Hex form.

var rawType = reflect.TypeFor[bson.Raw]()

// newRegistry returns the default registry with idEncoder for t.
func newRegistry(t reflect.Type) *bsoncodec.Registry {
	reg := bson.NewRegistry()
	reg.RegisterTypeEncoder(t, idEncoder{})
	return reg
}

// idEncoder encodes a model struct with its "_id" as an ObjectID.
type idEncoder struct{}

// EncodeValue implements bsoncodec.ValueEncoder.
func (idEncoder) EncodeValue(ec bsoncodec.EncodeContext, vw bsonrw.ValueWriter, val reflect.Value) error {
	var v any
	if val.CanAddr() {
		v = val.Addr().Interface()
	} else {
		v = val.Interface()
	}
	doc, err := bson.Marshal(v)
	if err != nil {
		return err
	}
	doc, err = objectIDField(doc)
	if err != nil {
		return err
	}
	enc, err := ec.LookupEncoder(rawType)
	if err != nil {
		return err
	}
	return enc.EncodeValue(ec, vw, reflect.ValueOf(bson.Raw(doc)))
}

// objectIDField returns doc with a top-level "_id" string replaced by its
// ObjectID, or doc unchanged when it has no "_id" or a non-string one.
func objectIDField(doc []byte) ([]byte, error) {
	start, end, val, ok := findElement(doc, "_id")
	if !ok {
		return doc, nil
	}
	s, isString := val.StringValueOK()
	if !isString {
		return doc, nil
	}
	oid, ok := parseObjectID(s)
	if !ok {
		return nil, fmt.Errorf("_id %q is not an ObjectID: 24 lowercase hexadecimal digits", s)
	}
	out := make([]byte, 0, len(doc)-(end-start)+4+12)
	out = append(out, doc[:start]...)
	out = bsoncore.AppendObjectIDElement(out, "_id", oid)
	out = append(out, doc[end:]...)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out, nil
}

// findElement returns the byte range and value of the top-level element
// key of the BSON document doc.
func findElement(doc []byte, key string) (start, end int, val bsoncore.Value, ok bool) {
	if len(doc) < 5 {
		return 0, 0, val, false
	}
	pos := 4
	rem := doc[4 : len(doc)-1]
	for len(rem) > 0 {
		elem, rest, ok := bsoncore.ReadElement(rem)
		if !ok {
			return 0, 0, val, false
		}
		if string(elem.KeyBytes()) == key {
			return pos, pos + len(elem), elem.Value(), true
		}
		pos += len(elem)
		rem = rest
	}
	return 0, 0, val, false
}

// parseObjectID parses the Hex form of an ObjectID: exactly 24 lowercase
// hexadecimal digits, so that an ID reads back exactly as it was given.
func parseObjectID(s string) (primitive.ObjectID, bool) {
	var oid primitive.ObjectID
	if len(s) != 24 {
		return oid, false
	}
	for i := range 12 {
		hi, ok1 := hexDigit(s[2*i])
		lo, ok2 := hexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return oid, false
		}
		oid[i] = hi<<4 | lo
	}
	return oid, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
