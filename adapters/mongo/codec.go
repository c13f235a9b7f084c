package mongo

import (
	"fmt"
	"reflect"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// IDs are strings at the port and ObjectIDs in MongoDB.
//
// On the way out, each DocStore's collection has a registry of its own in
// which the model type T is encoded by idEncoder: the driver's default
// struct codec writes T, through a value writer that turns the string
// written under the top-level "_id" key into the ObjectID it spells. So
// mgm's Create and the driver's InsertOne, InsertMany and ReplaceOne all
// send ObjectIDs, with no second marshalling or copying, and nothing
// changes for other types.
//
// On the way in, nothing is needed: the driver's string codec decodes an
// ObjectID into a string field as its Hex form.

// newRegistry returns the default registry with an idEncoder for t.
func newRegistry(t reflect.Type) *bsoncodec.Registry {
	base, _ := bson.NewRegistry().LookupEncoder(t) // the default struct codec
	reg := bson.NewRegistry()
	reg.RegisterTypeEncoder(t, idEncoder{structEnc: base})
	return reg
}

// idEncoder encodes a model struct with its "_id" as an ObjectID.
type idEncoder struct {
	structEnc bsoncodec.ValueEncoder
}

// EncodeValue implements bsoncodec.ValueEncoder.
func (e idEncoder) EncodeValue(ec bsoncodec.EncodeContext, vw bsonrw.ValueWriter, val reflect.Value) error {
	if e.structEnc == nil {
		return fmt.Errorf("mongo: no struct encoder for %v", val.Type())
	}
	return e.structEnc.EncodeValue(ec, idWriter{vw}, val)
}

// idWriter is the value writer of a model document.
type idWriter struct{ bsonrw.ValueWriter }

// WriteDocument returns the model document's writer.
func (w idWriter) WriteDocument() (bsonrw.DocumentWriter, error) {
	dw, err := w.ValueWriter.WriteDocument()
	if err != nil {
		return nil, err
	}
	return idDocWriter{dw}, nil
}

// idDocWriter hands out oidWriter for the "_id" element.
type idDocWriter struct{ bsonrw.DocumentWriter }

// WriteDocumentElement implements bsonrw.DocumentWriter.
func (d idDocWriter) WriteDocumentElement(key string) (bsonrw.ValueWriter, error) {
	vw, err := d.DocumentWriter.WriteDocumentElement(key)
	if err != nil || key != "_id" {
		return vw, err
	}
	return oidWriter{vw}, nil
}

// oidWriter writes a string as the ObjectID it spells.
type oidWriter struct{ bsonrw.ValueWriter }

// WriteString writes the ObjectID s spells, or fails when s is none.
func (w oidWriter) WriteString(s string) error {
	oid, ok := parseObjectID(s)
	if !ok {
		return fmt.Errorf("_id %q is not an ObjectID: 24 lowercase hexadecimal digits", s)
	}
	return w.ValueWriter.WriteObjectID(oid)
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
