package docmodel

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/portkit/portkit/ports"
)

// IDs are strings at the port and ObjectIDs in MongoDB.
//
// On the way out, each Model has a registry of its own in which the model
// type is encoded by modelEncoder: the driver's default struct codec
// writes it, through a value writer that turns the string written under
// the top-level "_id" key into the ObjectID it spells and renames the
// created and updated keys when the store names them. A ports.DocRef, at
// any depth, is written as the ObjectID it spells (null when empty). So
// one encoding serves the adapter and the fake, and nothing changes for
// other types.
//
// On the way in, the driver's string codec decodes an ObjectID into a
// string field (the ID, a DocRef) as its Hex form, and null into "".
// modelDecoder only renames the timestamp keys back, when they are renamed.

var (
	docRefType  = reflect.TypeFor[ports.DocRef]()
	timeType    = reflect.TypeFor[time.Time]()
	encodedType = reflect.TypeFor[Encoded]()
)

// newRegistry returns the default registry with the model codecs for t.
func newRegistry(t reflect.Type, enc, dec map[string]string) *bsoncodec.Registry {
	def := bson.NewRegistry()
	baseEnc, _ := def.LookupEncoder(t) // the default struct codec
	baseDec, _ := def.LookupDecoder(t)
	reg := bson.NewRegistry()
	reg.RegisterTypeEncoder(t, modelEncoder{structEnc: baseEnc, rename: enc})
	if len(dec) > 0 {
		reg.RegisterTypeDecoder(t, modelDecoder{structDec: baseDec, rename: dec})
	}
	reg.RegisterTypeEncoder(docRefType, bsoncodec.ValueEncoderFunc(encodeDocRef))
	reg.RegisterTypeEncoder(encodedType, bsoncodec.ValueEncoderFunc(encodeEncoded))
	registerCanonical(reg)
	return reg
}

// errNotObjectID is the cause of every refused ID or DocRef; it never
// quotes the value.
var errNotObjectID = errors.New("not a document ID: 24 lowercase hexadecimal digits")

// encodeDocRef writes a DocRef as the ObjectID it spells, "" as null.
func encodeDocRef(_ bsoncodec.EncodeContext, vw bsonrw.ValueWriter, val reflect.Value) error {
	if val.Kind() != reflect.String {
		return bsoncodec.ValueEncoderError{Name: "DocRefEncodeValue", Types: []reflect.Type{docRefType}, Received: val}
	}
	s := val.String()
	if s == "" {
		return vw.WriteNull()
	}
	oid, ok := ParseObjectID(s)
	if !ok {
		return fmt.Errorf("DocRef: %w", errNotObjectID)
	}
	return vw.WriteObjectID(oid)
}

// Encoded is a document that Model.Encode has encoded and checked, to hand
// to the driver (an insert) as it is. The model's registry writes it into
// the driver's buffer in one copy of its bytes, where a bson.Raw is copied
// element by element, each key read into a new string: the driver encodes
// every document it is given, even one that is already BSON.
type Encoded bson.Raw

// valueBytesWriter is a value writer that writes a value given as its
// BSON bytes, as the v1 driver's BSON writer does (bsonrw.BytesWriter,
// deprecated: Driver 2.0 does not export it).
type valueBytesWriter interface {
	WriteValueBytes(t bsontype.Type, b []byte) error
}

// rawType is bson.Raw, whose encoder copies a document element by element.
var rawType = reflect.TypeFor[bson.Raw]()

// encodeEncoded writes an Encoded document. Into a writer of BSON bytes
// (valueBytesWriter, as the driver's is) it writes the document's first
// key, then the first value and every element after it in one
// WriteValueBytes: a document's element list is its elements end to end,
// so the bytes written are exactly the document's. Into any other writer,
// and for a document with no elements, it writes it as a bson.Raw.
func encodeEncoded(ec bsoncodec.EncodeContext, vw bsonrw.ValueWriter, val reflect.Value) error {
	if val.Type() != encodedType {
		return bsoncodec.ValueEncoderError{Name: "EncodedEncodeValue", Types: []reflect.Type{encodedType}, Received: val}
	}
	doc := bsoncore.Document(val.Bytes())
	// A document: its length (4 bytes), its elements, NUL; an element: its
	// type (1 byte), key (a cstring), value. Encode has checked the rest.
	if n, _, ok := bsoncore.ReadLength(doc); !ok || int(n) != len(doc) || len(doc) < 5 || doc[len(doc)-1] != 0 {
		return errors.New("encoded document: malformed BSON")
	}
	elems := doc[4 : len(doc)-1]
	keyLen := bytes.IndexByte(elems[min(1, len(elems)):], 0)
	if _, ok := vw.(valueBytesWriter); !ok || len(elems) == 0 || keyLen < 0 {
		enc, err := ec.LookupEncoder(rawType)
		if err != nil {
			return err
		}
		return enc.EncodeValue(ec, vw, reflect.ValueOf(bson.Raw(doc)))
	}
	dw, err := vw.WriteDocument()
	if err != nil {
		return err
	}
	key := "_id" // the first key of every stored document but an empty ID's
	if k := elems[1 : 1+keyLen]; string(k) != key {
		key = string(k)
	}
	ew, err := dw.WriteDocumentElement(key)
	if err != nil {
		return err
	}
	bw, ok := ew.(valueBytesWriter)
	if !ok {
		return fmt.Errorf("encoded document: the element writer %T does not write bytes", ew)
	}
	if err := bw.WriteValueBytes(bsontype.Type(elems[0]), elems[2+keyLen:]); err != nil {
		return err
	}
	return dw.WriteDocumentEnd()
}

// modelEncoder encodes a model struct with its "_id" as an ObjectID.
type modelEncoder struct {
	structEnc bsoncodec.ValueEncoder
	rename    map[string]string
}

// EncodeValue implements bsoncodec.ValueEncoder.
func (e modelEncoder) EncodeValue(ec bsoncodec.EncodeContext, vw bsonrw.ValueWriter, val reflect.Value) error {
	if e.structEnc == nil {
		return fmt.Errorf("no struct encoder for %v", val.Type())
	}
	return e.structEnc.EncodeValue(ec, modelWriter{vw, e.rename}, val)
}

// modelWriter is the value writer of a model document.
type modelWriter struct {
	bsonrw.ValueWriter
	rename map[string]string
}

// WriteDocument returns the model document's writer.
func (w modelWriter) WriteDocument() (bsonrw.DocumentWriter, error) {
	dw, err := w.ValueWriter.WriteDocument()
	if err != nil {
		return nil, err
	}
	return modelDocWriter{dw, w.rename}, nil
}

// modelDocWriter hands out oidWriter for the "_id" element and renames the
// timestamp keys.
type modelDocWriter struct {
	bsonrw.DocumentWriter
	rename map[string]string
}

// WriteDocumentElement implements bsonrw.DocumentWriter.
func (d modelDocWriter) WriteDocumentElement(key string) (bsonrw.ValueWriter, error) {
	if to, ok := d.rename[key]; ok {
		key = to
	}
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
	oid, ok := ParseObjectID(s)
	if !ok {
		return fmt.Errorf("_id: %w", errNotObjectID)
	}
	return w.ValueWriter.WriteObjectID(oid)
}

// modelDecoder decodes a model struct, renaming top-level keys first.
type modelDecoder struct {
	structDec bsoncodec.ValueDecoder
	rename    map[string]string
}

// DecodeValue implements bsoncodec.ValueDecoder.
func (d modelDecoder) DecodeValue(dc bsoncodec.DecodeContext, vr bsonrw.ValueReader, val reflect.Value) error {
	return d.structDec.DecodeValue(dc, renameReader{vr, d.rename}, val)
}

type renameReader struct {
	bsonrw.ValueReader
	rename map[string]string
}

func (r renameReader) ReadDocument() (bsonrw.DocumentReader, error) {
	dr, err := r.ValueReader.ReadDocument()
	if err != nil {
		return nil, err
	}
	return renameDocReader{dr, r.rename}, nil
}

type renameDocReader struct {
	bsonrw.DocumentReader
	rename map[string]string
}

func (r renameDocReader) ReadElement() (string, bsonrw.ValueReader, error) {
	k, vr, err := r.DocumentReader.ReadElement()
	if to, ok := r.rename[k]; ok && err == nil {
		k = to
	}
	return k, vr, err
}

// marshal encodes v with reg, the driver's way that Driver 2.0 keeps
// (an Encoder with the registry set).
func marshal(reg *bsoncodec.Registry, v any) (bson.Raw, error) {
	var buf bytes.Buffer
	vw, err := bsonrw.NewBSONValueWriter(&buf)
	if err != nil {
		return nil, err
	}
	enc, err := bson.NewEncoder(vw)
	if err != nil {
		return nil, err
	}
	if err := enc.SetRegistry(reg); err != nil {
		return nil, err
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encoders is marshal with encoders kept for reuse: an Encoder (as marshal
// makes it) writes one document after another, its value writer keeping
// its buffer, so that a document costs only the allocations of its own
// encoding and of its result.
type encoders struct {
	reg  *bsoncodec.Registry
	pool sync.Pool // of *reusedEncoder
}

// reusedEncoder is an Encoder whose value writer writes into out.
type reusedEncoder struct {
	enc *bson.Encoder
	out copyWriter
}

// copyWriter collects what it is written into a new slice.
type copyWriter struct{ b []byte }

// Write implements io.Writer.
func (w *copyWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// maxReusedBytes is the largest document after which an encoder is kept,
// so that the pool does not hold on to the buffer of a huge document.
const maxReusedBytes = 64 << 10

// marshal encodes v as marshal does.
func (p *encoders) marshal(v any) (bson.Raw, error) {
	e, _ := p.pool.Get().(*reusedEncoder)
	if e == nil {
		e = new(reusedEncoder)
		vw, err := bsonrw.NewBSONValueWriter(&e.out)
		if err != nil {
			return nil, err
		}
		if e.enc, err = bson.NewEncoder(vw); err != nil {
			return nil, err
		}
		if err := e.enc.SetRegistry(p.reg); err != nil {
			return nil, err
		}
	}
	e.out.b = nil
	if err := e.enc.Encode(v); err != nil {
		return nil, err // the writer may be left inside the document: not reused
	}
	raw := e.out.b
	e.out.b = nil
	if len(raw) <= maxReusedBytes {
		p.pool.Put(e)
	}
	return raw, nil
}

// marshalValue encodes one value with reg, as the element of a document.
func marshalValue(reg *bsoncodec.Registry, v any) (bson.RawValue, error) {
	raw, err := marshal(reg, bson.D{{Key: "v", Value: v}})
	if err != nil {
		return bson.RawValue{}, err
	}
	return raw.Lookup("v"), nil
}

// unmarshal decodes raw into out with reg.
func unmarshal(reg *bsoncodec.Registry, raw bson.Raw, out any) error {
	dec, err := bson.NewDecoder(bsonrw.NewBSONDocumentReader(raw))
	if err != nil {
		return err
	}
	if err := dec.SetRegistry(reg); err != nil {
		return err
	}
	return dec.Decode(out)
}

// ParseObjectID parses the Hex form of an ObjectID: exactly 24 lowercase
// hexadecimal digits, so that an ID reads back exactly as it was given.
func ParseObjectID(s string) (primitive.ObjectID, bool) {
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

// ObjectIDValue returns the BSON value of an ObjectID.
func ObjectIDValue(oid primitive.ObjectID) bson.RawValue {
	b := make([]byte, 12)
	copy(b, oid[:])
	return bson.RawValue{Type: bson.TypeObjectID, Value: b}
}

// NullValue is the BSON null.
var NullValue = bson.RawValue{Type: bson.TypeNull}
