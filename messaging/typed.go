package messaging

import (
	"context"
	"fmt"
	"maps"
	"reflect"

	"github.com/google/uuid"

	"github.com/portkit/portkit/codec"
	"github.com/portkit/portkit/ports"
)

// Attributes portkit's messaging helpers set and read.
const (
	// AttrMessageID carries a message's stable ID: set once when the
	// message is written (by [Encode], [Publish] and package outbox), kept by
	// every redelivery and republication, unlike the server-assigned
	// Message.ID, which a second publication of the same message changes.
	// [Dedupe] and [DedupeTx] key on it.
	AttrMessageID = "portkit-message-id"
	// AttrContentType carries the content type of the payload
	// (codec.Codec.ContentType), as the CloudEvents Pub/Sub binding names
	// it.
	AttrContentType = "content-type"
)

// NewMessageID returns a fresh stable message ID: a UUIDv7, whose leading
// bits are the time, so that IDs written together sort together.
func NewMessageID() string {
	// NewV7 fails only when crypto/rand does, which since Go 1.24 it
	// never does (it aborts the program instead).
	id, _ := uuid.NewV7()
	return id.String()
}

// MessageKey returns the key that identifies m across redeliveries and
// republications: its AttrMessageID attribute, or, for a message published
// without one, the server-assigned m.ID (which identifies redeliveries of
// one publication only). It is "" when m has neither.
func MessageKey(m ports.Message) string {
	if id := m.Attributes[AttrMessageID]; id != "" {
		return id
	}
	return m.ID
}

// Encode returns the message that carries v encoded by c (codec.JSON[T]()
// when c is nil), with AttrContentType set to c's content type and a new
// AttrMessageID. Set its OrderingKey and further attributes before
// publishing it.
func Encode[T any](c codec.Codec[T], v T) (ports.Message, error) {
	if c == nil {
		c = codec.JSON[T]()
	}
	data, err := c.Marshal(v)
	if err != nil {
		return ports.Message{}, ports.NewError("messaging", "encode", ports.ErrInvalid, err)
	}
	return ports.Message{
		Data:       data,
		Attributes: map[string]string{AttrContentType: c.ContentType(), AttrMessageID: NewMessageID()},
	}, nil
}

// Decode returns the value m carries, decoded by c (codec.JSON[T]() when
// nil). A message whose AttrContentType names another content type, or
// whose data c cannot decode, is an error wrapping ports.ErrInvalid and a
// *codec.DecodeError, which [IsPermanent] reports as permanent. A message
// without AttrContentType is decoded by c as it is.
func Decode[T any](c codec.Codec[T], m ports.Message) (T, error) {
	if c == nil {
		c = codec.JSON[T]()
	}
	if ct, ok := m.Attributes[AttrContentType]; ok && ct != c.ContentType() {
		var zero T
		return zero, ports.NewError("messaging", "decode", ports.ErrInvalid, &codec.DecodeError{
			ContentType: ct, Type: typeFor[T](),
			Detail: fmt.Sprintf("the message's content type is not the codec's %s", c.ContentType()),
		})
	}
	v, err := c.Unmarshal(m.Data)
	if err != nil {
		return v, ports.NewError("messaging", "decode", ports.ErrInvalid, err)
	}
	return v, nil
}

// Publish encodes each value with c (codec.JSON[T]() when nil), as
// [Encode] does, and publishes them to topic in one call of p. It returns
// what p.Publish returns: the server-assigned IDs (or, from an outbox
// publisher, the stable IDs). To set ordering keys or attributes, Encode
// the messages and publish them yourself.
func Publish[T any](ctx context.Context, p ports.Publisher, topic string, c codec.Codec[T], vs ...T) ([]string, error) {
	msgs := make([]ports.Message, len(vs))
	for i, v := range vs {
		m, err := Encode(c, v)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		msgs[i] = m
	}
	return p.Publish(ctx, topic, msgs...)
}

// Handle returns a ports.Handler that decodes each message with c
// (codec.JSON[T]() when nil), as [Decode] does, and calls h with the value
// and the message.
//
// A message that does not decode never reaches h: the handler returns a
// permanent error (see [IsPermanent]), so that the message is nacked, and,
// under [DeadLetter], moved to the dead-letter topic at its first delivery
// (redelivering it would not mend it). It is never acked unseen: without
// DeadLetter it stays on the subscription (or goes to the backend's own
// dead-letter topic) for someone to look at.
func Handle[T any](c codec.Codec[T], h func(ctx context.Context, v T, m ports.Message) error) ports.Handler {
	if c == nil {
		c = codec.JSON[T]()
	}
	return func(ctx context.Context, m ports.Message) error {
		v, err := Decode(c, m)
		if err != nil {
			return Permanent(err)
		}
		return h(ctx, v, m)
	}
}

// withAttributes returns a copy of attrs with room for n more.
func withAttributes(attrs map[string]string, n int) map[string]string {
	out := make(map[string]string, len(attrs)+n)
	maps.Copy(out, attrs)
	return out
}

func typeFor[T any]() reflect.Type { return reflect.TypeFor[T]() }
