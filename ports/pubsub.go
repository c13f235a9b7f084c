package ports

import (
	"context"
	"time"
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
	// subscription, starting at 1, where the backend reports it (0 when it
	// does not).
	DeliveryAttempt int
}

// Publisher publishes messages to a topic.
type Publisher interface {
	// Publish sends msgs to topic and returns their server-assigned IDs in
	// order once the server has acknowledged every one. Messages are
	// batched. On a partial failure the returned error names each message
	// that failed, and ids holds "" at its index. It returns ErrNotFound for
	// an unknown topic and ErrInvalid for a message that cannot be sent
	// (empty, or over the size limit) before anything is sent.
	Publish(ctx context.Context, topic string, msgs ...Message) (ids []string, err error)
}

// Handler processes one message. Returning nil acknowledges it; returning
// an error (or panicking) negatively acknowledges it, for redelivery.
type Handler func(ctx context.Context, m Message) error

// Subscriber receives messages from a subscription.
type Subscriber interface {
	// Subscribe calls h for every message of the subscription, possibly
	// concurrently, until ctx ends; then it waits for running handlers and
	// returns nil. Delivery is at least once: a nacked or unacknowledged
	// message is delivered again. It returns an error wrapping ErrNotFound
	// for an unknown subscription, ErrUnavailable when the backend cannot
	// be reached, and ErrClosed after Close.
	Subscribe(ctx context.Context, subscription string, h Handler) error
}
