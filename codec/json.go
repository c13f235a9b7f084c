package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ContentTypeJSON is the content type of [JSON].
const ContentTypeJSON = "application/json"

// JSON returns the Codec of T as encoding/json encodes it. Unmarshal
// accepts unknown object fields (so that a newer producer's additions do not
// break an older consumer) and rejects trailing data.
func JSON[T any]() Codec[T] { return jsonCodec[T]{} }

type jsonCodec[T any] struct{}

func (jsonCodec[T]) ContentType() string { return ContentTypeJSON }

func (jsonCodec[T]) Marshal(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		// encoding/json's errors name types and fields, never values.
		return nil, fmt.Errorf("codec: cannot encode %v as JSON: %w", typeOf[T](), err)
	}
	return b, nil
}

func (jsonCodec[T]) Unmarshal(data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		var z T
		return z, &DecodeError{ContentType: ContentTypeJSON, Type: typeOf[T](), Detail: jsonDetail(err, len(data)), Err: redacted{err}}
	}
	return v, nil
}

// jsonDetail describes a JSON decoding error without quoting the data
// (a *json.SyntaxError's message quotes the offending character).
func jsonDetail(err error, n int) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d of %d", se.Offset, n)
	case errors.As(err, &te):
		where := te.Field
		if where == "" {
			where = "the top level"
		} else {
			where = "field " + where
		}
		// Value is "string", "number -5", ...: keep the kind, not the number.
		kind, _, _ := strings.Cut(te.Value, " ")
		return fmt.Sprintf("a JSON %s at byte %d cannot go into %s of type %v", kind, te.Offset, where, te.Type)
	case n == 0:
		return "no data"
	default:
		var ie *json.InvalidUnmarshalError
		if errors.As(err, &ie) {
			return err.Error()
		}
		return fmt.Sprintf("%T", err)
	}
}

// redacted wraps a decoder error whose message may quote the data: it is
// reachable with errors.As and errors.Is, but its text is not used.
type redacted struct{ err error }

func (r redacted) Error() string {
	return fmt.Sprintf("%T (message withheld: it may quote the data)", r.err)
}
func (r redacted) Unwrap() error { return r.err }
