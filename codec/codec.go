// Package codec turns values of a Go type into bytes and back, for the
// typed helpers of package messaging (message payloads) and package
// typedcache (cache values): a [Codec] names its content type, so that a
// message says how its payload is encoded.
//
// [JSON] is the default; [Proto] encodes protocol buffer messages. Any
// other encoding (MessagePack, Avro, a versioned envelope) is a type with
// the three methods of Codec.
//
// Errors never quote the bytes they failed on: a decode error names the
// content type, the Go type and where decoding failed ([DecodeError]), so
// that a payload never reaches a log line through it.
package codec

import (
	"errors"
	"fmt"
	"reflect"
)

// Codec encodes values of type T and decodes them back. Implementations
// are safe for concurrent use.
type Codec[T any] interface {
	// ContentType is the media type of the encoding ("application/json"),
	// carried with each encoded value (a message's content-type attribute).
	ContentType() string
	// Marshal encodes v.
	Marshal(v T) ([]byte, error)
	// Unmarshal decodes data into a new T. A failure is a *DecodeError.
	Unmarshal(data []byte) (T, error)
}

// DecodeError is the error of a failed Unmarshal. Its message names the
// content type, the Go type and a description of the failure that never
// quotes the data; the decoder's own error stays reachable with
// errors.Unwrap and errors.As.
type DecodeError struct {
	// ContentType is the codec's content type.
	ContentType string
	// Type is the Go type being decoded into.
	Type reflect.Type
	// Detail describes the failure without quoting the data.
	Detail string
	// Err is the decoder's error.
	Err error
}

// Error formats as "codec: cannot decode application/json into T: detail".
func (e *DecodeError) Error() string {
	return fmt.Sprintf("codec: cannot decode %s into %v: %s", e.ContentType, e.Type, e.Detail)
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// IsDecodeError reports whether err is, or wraps, a *DecodeError.
func IsDecodeError(err error) bool {
	var de *DecodeError
	return errors.As(err, &de)
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
