package docmodel

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/portkit/portkit/internal/portable"
)

// MaxDocumentBytes is the largest encoded document a DocStore stores:
// MongoDB's limit of 16 MiB.
const MaxDocumentBytes = 16 << 20

// MaxDepth is the deepest nesting of documents and arrays MongoDB accepts
// in a stored document (the top-level document is depth 1).
const MaxDepth = 100

// Check applies the portable document rules to an encoded document: at
// most MaxDocumentBytes, at most MaxDepth levels, every key not empty, not
// starting with '$', without '.' and valid UTF-8 (array indexes aside),
// every string valid UTF-8, every double finite. The error names the
// field's key path, never a value.
func Check(raw bson.Raw) error {
	if len(raw) > MaxDocumentBytes {
		return fmt.Errorf("the document encodes to %d bytes, over the limit of %d (16 MiB)", len(raw), MaxDocumentBytes)
	}
	return checkDoc(bsoncore.Document(raw), "", 1, false)
}

func checkDoc(d bsoncore.Document, path string, depth int, array bool) error {
	if depth > MaxDepth {
		return fmt.Errorf("%s: nested over %d levels deep", name(path), MaxDepth)
	}
	elems, err := d.Elements()
	if err != nil {
		return fmt.Errorf("%s: malformed BSON: %w", name(path), err)
	}
	for _, e := range elems {
		k := e.Key()
		p := k
		if path != "" {
			p = path + "." + k
		}
		if !array {
			if err := portable.CheckDocKey(name(path), k); err != nil {
				return err
			}
		}
		if err := checkValue(e.Value(), p, depth); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(v bsoncore.Value, path string, depth int) error {
	switch v.Type {
	case bson.TypeString:
		s, _ := v.StringValueOK()
		if !utf8.ValidString(s) {
			return fmt.Errorf("%s: string is not valid UTF-8", path)
		}
	case bson.TypeDouble:
		x, _ := v.DoubleOK()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: %v is not a finite number, which not every backend stores", path, x)
		}
	case bson.TypeEmbeddedDocument:
		d, _ := v.DocumentOK()
		return checkDoc(d, path, depth+1, false)
	case bson.TypeArray:
		a, _ := v.ArrayOK()
		return checkDoc(bsoncore.Document(a), path, depth+1, true)
	}
	return nil
}

func name(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// describeEncodeError returns an error for a failed encoding of doc that
// names the cause without quoting a value (the driver's own messages can
// hold one: "18446744073709551615 overflows int64"). The driver's error
// stays reachable with errors.As.
func describeEncodeError(doc any, err error) error {
	if perr := portable.Check(doc, portable.Rules{Uint64: true, DocKeys: true, Skip: skipped}); perr != nil {
		return &encodeError{msg: perr.Error(), cause: err}
	}
	return &encodeError{msg: "the document " + safeText(err), cause: err}
}

// describeValueError is describeEncodeError for one value of field.
func describeValueError(field string, v any, err error) error {
	if perr := portable.Check(v, portable.Rules{Uint64: true, DocKeys: true, Skip: skipped}); perr != nil {
		return &encodeError{msg: "value for " + field + ": " + perr.Error(), cause: err}
	}
	return &encodeError{msg: "value for " + field + ": " + safeText(err), cause: err}
}

// safeText describes err by what it is, quoting only the driver's errors
// that name types.
func safeText(err error) string {
	var ve bsoncodec.ValueEncoderError
	switch {
	case errors.Is(err, errNotObjectID):
		return "holds " + err.Error()
	case strings.HasPrefix(err.Error(), "no encoder found for "): // bsoncodec.ErrNoEncoder names a type
		return "does not encode to BSON: " + err.Error()
	case errors.As(err, &ve):
		return "does not encode to BSON: " + ve.Error()
	}
	return fmt.Sprintf("does not encode to BSON (%T)", err)
}

// encodeError is an encoding failure with a message free of values.
type encodeError struct {
	msg   string
	cause error
}

func (e *encodeError) Error() string { return e.msg }
func (e *encodeError) Unwrap() error { return e.cause }

// skipped tells portable.Check which fields the driver does not write.
func skipped(f reflect.StructField) bool { return parseTag(f).skip }
