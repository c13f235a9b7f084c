package docmodel

import (
	"bytes"
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
// field's key path, never a value. It allocates nothing on a document
// that passes: it runs on every document written.
func Check(raw bson.Raw) error {
	if len(raw) > MaxDocumentBytes {
		return fmt.Errorf("the document encodes to %d bytes, over the limit of %d (16 MiB)", len(raw), MaxDocumentBytes)
	}
	if err := checkDoc(bsoncore.Document(raw), 1, false); err != nil {
		return err
	}
	return nil
}

// checkValue applies the rules to one value stored under the dotted key.
func checkValue(key string, v bson.RawValue) error {
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc = bsoncore.AppendHeader(doc, v.Type, "v")
	doc = append(doc, v.Value...)
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	if err := checkDoc(doc, 1, false); err != nil {
		if re, ok := err.(*ruleError); ok && len(re.keys) > 0 {
			re.keys[len(re.keys)-1] = key
		}
		return err
	}
	return nil
}

// ruleError is a broken rule at a key path, built while unwinding (keys
// innermost first), so that the happy path builds no string.
type ruleError struct {
	keys []string // innermost first
	msg  string
}

func (e *ruleError) Error() string {
	parts := make([]string, len(e.keys))
	for i, k := range e.keys {
		parts[len(e.keys)-1-i] = k
	}
	return name(strings.Join(parts, ".")) + ": " + e.msg
}

func under(err error, k []byte) error {
	if re, ok := err.(*ruleError); ok {
		re.keys = append(re.keys, string(k))
	}
	return err
}

func checkDoc(d bsoncore.Document, depth int, array bool) error {
	if depth > MaxDepth {
		return &ruleError{msg: fmt.Sprintf("nested over %d levels deep", MaxDepth)}
	}
	length, rem, ok := bsoncore.ReadLength(d)
	if !ok || length < 5 || int(length) > len(d) {
		return &ruleError{msg: "malformed BSON"}
	}
	rem = rem[:length-5] // the elements, without the length and the final NUL
	for len(rem) > 0 {
		e, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return &ruleError{msg: "malformed BSON"}
		}
		rem = next
		k := e.KeyBytes()
		if !array {
			if msg := keyProblem(k); msg != "" {
				return &ruleError{msg: msg}
			}
		}
		v := e.Value()
		switch v.Type {
		case bson.TypeString:
			if str, ok := bsonStringBytes(v.Data); ok && !utf8.Valid(str) {
				return &ruleError{keys: []string{string(k)}, msg: "string is not valid UTF-8"}
			}
		case bson.TypeDouble:
			if x, ok := v.DoubleOK(); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
				return &ruleError{keys: []string{string(k)}, msg: fmt.Sprintf("%v is not a finite number, which not every backend stores", x)}
			}
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			if err := checkDoc(bsoncore.Document(v.Data), depth+1, v.Type == bson.TypeArray); err != nil {
				return under(err, k)
			}
		}
	}
	return nil
}

// bsonStringBytes returns the bytes of the BSON string value v, without its
// length and final NUL, or false when v is malformed (bsoncore.ReadString
// without making a string of them).
func bsonStringBytes(v []byte) ([]byte, bool) {
	n, rem, ok := bsoncore.ReadLength(v)
	if !ok || n < 1 || int(n) > len(rem) {
		return nil, false
	}
	return rem[:n-1], true
}

// keyProblem is portable.CheckDocKey on bytes, without allocating.
func keyProblem(k []byte) string {
	switch {
	case len(k) == 0:
		return "empty key"
	case !utf8.Valid(k):
		return "key is not valid UTF-8"
	case k[0] == '$':
		return "key starts with '$'"
	case bytes.IndexByte(k, '.') >= 0:
		return "key contains '.'"
	}
	return ""
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
