package ports

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one message published to a topic or received from a
// subscription.
type Message struct {
	// ID is assigned by the server on publish; empty on the way in.
	ID string
	// Data is the payload.
	Data []byte
	// Attributes are string key/value pairs delivered with the message.
	Attributes map[string]string
	// OrderingKey, when set, makes messages with the same key be delivered
	// in publish order to subscriptions that enable ordering.
	OrderingKey string
	// PublishTime is set by the server; zero on the way in.
	PublishTime time.Time
	// DeliveryAttempt counts deliveries of this message to the
	// subscription, starting at 1, on a subscription with a dead-letter
	// policy (SubscriptionConfig.MaxDeliveryAttempts > 0). Without one it is
	// 0 on Google Pub/Sub and on the fake; backends that always count (NATS
	// JetStream) report the count.
	DeliveryAttempt int
}

// Limits of a message, the same for every implementation (Google Pub/Sub's
// documented limits). Publish checks every message against them, and
// against [ValidateMessage]'s other rules, before anything is sent: a
// message that breaks one is ErrInvalid, and no message of that Publish
// call is sent. A backend with a smaller limit of its own (a NATS server's
// max_payload) says so in its documentation and enforces it the same way.
const (
	// MaxMessageBytes bounds a message's size, counted as len(Data) plus
	// the length of every attribute key and value plus len(OrderingKey).
	MaxMessageBytes = 10_000_000 - 1<<16
	// MaxAttributes is the most attributes a message may carry.
	MaxAttributes = 100
	// MaxAttributeKeyBytes bounds the length of an attribute key.
	MaxAttributeKeyBytes = 256
	// MaxAttributeValueBytes bounds the length of an attribute value.
	MaxAttributeValueBytes = 1024
	// MaxOrderingKeyBytes bounds the length of an ordering key.
	MaxOrderingKeyBytes = 1024
)

// MessageSize returns the size of m as the limits count it.
func MessageSize(m Message) int {
	n := len(m.Data) + len(m.OrderingKey)
	for k, v := range m.Attributes {
		n += len(k) + len(v)
	}
	return n
}

// ValidateMessage checks m against the portable rules of Publish: not
// empty (data or at least one attribute), at most MaxMessageBytes, at most
// MaxAttributes attributes, attribute keys non-empty, valid UTF-8, at most
// MaxAttributeKeyBytes and not starting with "goog" (reserved by Google),
// attribute values valid UTF-8 and at most MaxAttributeValueBytes, and an
// ordering key valid UTF-8 of at most MaxOrderingKeyBytes. The error names
// the rule and never quotes the message's content.
func ValidateMessage(m Message) error {
	switch {
	case len(m.Data) == 0 && len(m.Attributes) == 0:
		return errors.New("empty message: it needs data or an attribute")
	case len(m.Attributes) > MaxAttributes:
		return fmt.Errorf("%d attributes, over the limit of %d", len(m.Attributes), MaxAttributes)
	case len(m.OrderingKey) > MaxOrderingKeyBytes:
		return fmt.Errorf("ordering key of %d bytes, over the limit of %d", len(m.OrderingKey), MaxOrderingKeyBytes)
	case !utf8.ValidString(m.OrderingKey):
		return errors.New("ordering key is not valid UTF-8")
	}
	for k, v := range m.Attributes {
		switch {
		case k == "":
			return errors.New("empty attribute key")
		case len(k) > MaxAttributeKeyBytes:
			return fmt.Errorf("attribute key of %d bytes, over the limit of %d", len(k), MaxAttributeKeyBytes)
		case !utf8.ValidString(k):
			return errors.New("attribute key is not valid UTF-8")
		case strings.HasPrefix(k, "goog"):
			return errors.New(`attribute key starts with "goog", which Google Pub/Sub reserves`)
		case len(v) > MaxAttributeValueBytes:
			return fmt.Errorf("value of attribute %q has %d bytes, over the limit of %d", k, len(v), MaxAttributeValueBytes)
		case !utf8.ValidString(v):
			return fmt.Errorf("value of attribute %q is not valid UTF-8", k)
		}
	}
	if n := MessageSize(m); n > MaxMessageBytes {
		return fmt.Errorf("message of %d bytes, over the limit of %d", n, MaxMessageBytes)
	}
	return nil
}

// Publisher publishes messages to a topic.
type Publisher interface {
	// Publish sends msgs to topic and returns their server-assigned IDs in
	// order once the server has acknowledged every one. Messages are
	// batched; one message never fails another caller's. Every message is
	// checked with ValidateMessage first: one that breaks a rule is
	// ErrInvalid and nothing is sent. It returns ErrNotFound for an unknown
	// topic. A call with no message returns no IDs and nil (after the
	// entry checks). Topic and subscription names follow Google Pub/Sub's
	// rule on every backend: 3 to 255 characters, starting with a letter,
	// made of letters, digits and - _ . ~ + %, not starting with "goog"
	// (ErrInvalid otherwise). When some messages fail, ids holds "" at their indexes and
	// the error (an *OpError whose kind is that of the first failure) has a
	// *PublishError cause listing each; a message whose confirmation did not
	// arrive before ctx ended is listed as unconfirmed: it may have been
	// published, and publishing it again may duplicate it.
	Publish(ctx context.Context, topic string, msgs ...Message) (ids []string, err error)
}

// PublishError lists the messages of a Publish call that failed. It is
// the Err of the *OpError that Publish returns; errors.As finds it.
type PublishError struct {
	// Total is how many messages the call had.
	Total int
	// Failures holds one entry per failed message, by index.
	Failures []PublishFailure
}

// PublishFailure is one failed message of a Publish call.
type PublishFailure struct {
	// Index is the message's index in the call.
	Index int
	// Err is the message's error, with its sentinel.
	Err error
	// Unconfirmed is set when the message was handed to the server but
	// its confirmation did not arrive (ctx ended, connection lost): it may
	// have been published.
	Unconfirmed bool
}

// Error summarizes the failures: "3 of 10 messages failed (2 unconfirmed):
// first, message 4: ...".
func (e *PublishError) Error() string {
	if len(e.Failures) == 0 {
		return fmt.Sprintf("0 of %d messages failed", e.Total)
	}
	unconfirmed := 0
	for _, f := range e.Failures {
		if f.Unconfirmed {
			unconfirmed++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d messages failed", len(e.Failures), e.Total)
	if unconfirmed > 0 {
		fmt.Fprintf(&b, " (%d unconfirmed: they may have been published)", unconfirmed)
	}
	fmt.Fprintf(&b, "; first, message %d: %v", e.Failures[0].Index, e.Failures[0].Err)
	return b.String()
}

// Unconfirmed returns the indexes of the messages that may have been
// published.
func (e *PublishError) Unconfirmed() []int {
	var out []int
	for _, f := range e.Failures {
		if f.Unconfirmed {
			out = append(out, f.Index)
		}
	}
	return out
}

// Handler processes one message. Returning nil acknowledges it; returning
// an error (or panicking) negatively acknowledges it, for redelivery.
type Handler func(ctx context.Context, m Message) error

// Defaults every Subscriber shares unless configured otherwise.
const (
	// DefaultMaxConcurrency is how many handler calls one Subscribe runs
	// at once.
	DefaultMaxConcurrency = 16
	// DefaultShutdownGrace is how long running handlers may go on, with
	// their contexts live, after Subscribe's ctx ends.
	DefaultShutdownGrace = 10 * time.Second
)

// Subscriber receives messages from a subscription.
type Subscriber interface {
	// Subscribe calls h for every message of the subscription, up to
	// DefaultMaxConcurrency at once (unless configured), until ctx ends.
	// Delivery is at least once: a nacked or unacknowledged message is
	// delivered again. On a subscription with ordering, messages of one
	// ordering key reach h one at a time, in publish order; after a nack
	// or an expired deadline the message is delivered again, followed again
	// by every later message of its key, acknowledged or not, in order
	// (later messages may reach h before that redelivery), as Google Pub/Sub
	// documents.
	//
	// When ctx ends, Subscribe stops receiving, nacks what it holds but
	// has not handed to h, lets running handlers finish with their
	// contexts live for up to the shutdown grace (DefaultShutdownGrace
	// unless configured), then cancels their contexts, and returns nil once
	// they have returned (a handler that ignores its context is abandoned,
	// and its message nacked, after one more second). A panicking handler
	// nacks its message and is logged without the message's data.
	//
	// Subscribe returns ErrUnavailable wrapping ctx.Err() when ctx is
	// already done, ErrNotFound for an unknown subscription,
	// ErrUnavailable when the backend cannot be reached, and ErrClosed
	// after Close.
	Subscribe(ctx context.Context, subscription string, h Handler) error
}

// SubscriptionConfig describes a subscription for Admin.EnsureSubscription:
// one type for every backend.
type SubscriptionConfig struct {
	// Topic is the topic the subscription receives from (required).
	Topic string
	// Ordering delivers messages with the same ordering key in order.
	Ordering bool
	// AckDeadline is how long a delivered message may stay unacknowledged
	// before it is redelivered: 0 for the default (10 s), else between
	// 10 s and 600 s. Subscribers extend it while a handler runs.
	AckDeadline time.Duration
	// MaxDeliveryAttempts, when set (5 to 100), moves a message to
	// DeadLetterTopic after that many deliveries; 0 keeps redelivering.
	MaxDeliveryAttempts int
	// DeadLetterTopic receives the messages that reached
	// MaxDeliveryAttempts; required with it, and only with it.
	DeadLetterTopic string
}

// Bounds of SubscriptionConfig (Google Pub/Sub's).
const (
	DefaultAckDeadline     = 10 * time.Second
	MinAckDeadline         = 10 * time.Second
	MaxAckDeadline         = 600 * time.Second
	MinMaxDeliveryAttempts = 5
	MaxMaxDeliveryAttempts = 100
)

// Validate checks c against the bounds above; the error names the field.
// Every Admin implementation calls it before anything is sent.
func (c SubscriptionConfig) Validate() error {
	fail := func(format string, args ...any) error {
		return NewError("subscription config", "validate", ErrInvalid, fmt.Errorf(format, args...))
	}
	switch {
	case c.Topic == "":
		return fail("Topic is required")
	case c.AckDeadline != 0 && (c.AckDeadline < MinAckDeadline || c.AckDeadline > MaxAckDeadline):
		return fail("AckDeadline %v is outside %v..%v", c.AckDeadline, MinAckDeadline, MaxAckDeadline)
	case c.AckDeadline%time.Second != 0:
		return fail("AckDeadline %v is not a whole number of seconds", c.AckDeadline)
	case c.MaxDeliveryAttempts != 0 && (c.MaxDeliveryAttempts < MinMaxDeliveryAttempts || c.MaxDeliveryAttempts > MaxMaxDeliveryAttempts):
		return fail("MaxDeliveryAttempts %d is outside %d..%d", c.MaxDeliveryAttempts, MinMaxDeliveryAttempts, MaxMaxDeliveryAttempts)
	case c.MaxDeliveryAttempts != 0 && c.DeadLetterTopic == "":
		return fail("MaxDeliveryAttempts needs a DeadLetterTopic")
	case c.MaxDeliveryAttempts == 0 && c.DeadLetterTopic != "":
		return fail("DeadLetterTopic needs MaxDeliveryAttempts")
	}
	return nil
}

// Dead-letter attributes: a message moved to a dead-letter topic carries
// its original attributes plus these (Google Pub/Sub's names).
const (
	AttrDeadLetterDeliveryCount       = "CloudPubSubDeadLetterSourceDeliveryCount"
	AttrDeadLetterSubscription        = "CloudPubSubDeadLetterSourceSubscription"
	AttrDeadLetterSubscriptionProject = "CloudPubSubDeadLetterSourceSubscriptionProject"
	AttrDeadLetterTopicPublishTime    = "CloudPubSubDeadLetterSourceTopicPublishTime"
)

// Admin creates topics and subscriptions, idempotently: wiring and tests
// call it at start-up on any backend, with no per-backend branch. Every
// messaging fake and adapter of portkit implements it.
type Admin interface {
	// EnsureTopic creates topic unless it exists.
	EnsureTopic(ctx context.Context, topic string) error

	// EnsureSubscription creates the subscription unless it exists. It
	// returns ErrInvalid when cfg fails Validate, ErrNotFound when the topic
	// (or dead-letter topic) does not exist, and ErrConflict, changing
	// nothing, when the subscription exists with another configuration
	// (the error names the fields that differ).
	EnsureSubscription(ctx context.Context, subscription string, cfg SubscriptionConfig) error
}
