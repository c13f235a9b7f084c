package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"unicode/utf8"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

// DefaultPartitions is the partition count unless configured.
const DefaultPartitions = 16

// MaxPartitions bounds the partition count.
const MaxPartitions = 1024

// MaxTopicBytes bounds a topic name (Google Pub/Sub's limit, and the
// column's size).
const MaxTopicBytes = 255

// Config is what the Publisher and the Relay of one outbox share.
type Config struct {
	// Tx is the Transactor whose transactions Publish writes in
	// (required).
	Tx ports.Transactor
	// Rows is the store of the outbox table, in Tx's database (required).
	Rows ports.SQLStore[Row]
	// Partitions is the number of relay partitions (default
	// DefaultPartitions, at most MaxPartitions). Every writer and relay of
	// one table must use the same count: Migrate records it, and a relay
	// refuses to run with another.
	Partitions int

	// TracerProvider traces the Publisher's writes (a producer span
	// "publish <topic>" per Publish, messaging.system "outbox"), whose
	// trace context each row keeps in its attributes for the relay to
	// carry to the consumers; nil for the global TracerProvider.
	TracerProvider trace.TracerProvider
	// MeterProvider records the Publisher's metrics and the Relay's
	// gauges (portkit.outbox.pending, portkit.outbox.oldest_age); nil for
	// the global MeterProvider.
	MeterProvider metric.MeterProvider
	// Propagator writes the trace context into the rows' attributes and
	// reads it back in the relay; nil for W3C Trace Context
	// (traceparent, tracestate).
	Propagator propagation.TextMapPropagator
}

// settings returns the OpenTelemetry providers of c.
func (c Config) settings() obs.Settings {
	return obs.Settings{TracerProvider: c.TracerProvider, MeterProvider: c.MeterProvider, Propagator: c.Propagator}
}

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	return c
}

func (c Config) validate(what string) error {
	switch {
	case c.Tx == nil:
		return invalid(what, "Tx is required")
	case c.Rows == nil:
		return invalid(what, "Rows is required")
	case c.Partitions < 1 || c.Partitions > MaxPartitions:
		return invalid(what, "Partitions %d is outside 1..%d", c.Partitions, MaxPartitions)
	}
	return nil
}

func invalid(op, format string, args ...any) error {
	return ports.NewError("outbox", op, ports.ErrInvalid, fmt.Errorf(format, args...))
}

// ErrNoTransaction is the cause of the ErrInvalid that Publish returns
// for a context without a running transaction of the outbox's Transactor.
var ErrNoTransaction = errors.New("outbox: Publish needs the context of a running transaction (Transactor.WithinTx): " +
	"publishing outside one would be the dual write the outbox exists to remove")

// Publisher is the ports.Publisher of the outbox: Publish writes the
// messages into the outbox table in the caller's transaction, and the
// [Relay] publishes them once that transaction has committed.
type Publisher struct {
	cfg Config
	in  *obs.Instr
}

var _ ports.Publisher = (*Publisher)(nil)

// NewPublisher returns the outbox's Publisher; a missing Tx or Rows or a
// partition count out of range is ErrInvalid.
func NewPublisher(cfg Config) (*Publisher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate("new publisher"); err != nil {
		return nil, err
	}
	return &Publisher{cfg: cfg, in: obs.New(obs.Backend{Port: obs.PortPublisher, Name: "outbox"}, cfg.settings())}, nil
}

// Publish writes msgs, for topic, as rows of the outbox table in the
// transaction ctx carries, in one CreateMany, and returns their stable IDs
// (the messaging.AttrMessageID attribute: a message that has one keeps it,
// the others get a new one). The rows commit or roll back with the
// caller's transaction: a rolled-back order publishes nothing, a committed
// one is published by the relay, at least once.
//
// Outside a transaction of cfg.Tx it refuses with ErrInvalid
// ([ErrNoTransaction]): publishing directly would bring back the dual write
// (a message for a change that then rolls back, or a change whose message
// is lost when the process dies after the commit). Each message is
// checked as ports.Publisher requires (ports.ValidateMessage, with the ID
// attribute added), and the topic must be non-empty valid UTF-8 of at most
// MaxTopicBytes; a message that breaks a rule is ErrInvalid and nothing is
// written. No message is an empty, successful call.
//
// The rows keep the trace context of the write (the Publisher's publish
// span, or the caller's span while nothing records) in their attributes,
// traceparent and tracestate, unless a message carries one already: the
// relay publishes them as they are, so the consumer's span is a child of
// the producer's.
func (p *Publisher) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	ctx, sp := p.in.StartSend(ctx, topic, len(msgs))
	ids, err := p.publish(ctx, topic, msgs...)
	sp.End(err)
	return ids, err
}

func (p *Publisher) publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	const op = "publish"
	if err := gate.CheckContext(ctx, "outbox", op); err != nil {
		return nil, err
	}
	if !p.cfg.Tx.InTx(ctx) {
		return nil, ports.NewError("outbox", op, ports.ErrInvalid, ErrNoTransaction)
	}
	switch {
	case topic == "":
		return nil, invalid(op, "empty topic")
	case len(topic) > MaxTopicBytes:
		return nil, invalid(op, "topic of %d bytes, over the limit of %d", len(topic), MaxTopicBytes)
	case !utf8.ValidString(topic):
		return nil, invalid(op, "topic is not valid UTF-8")
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	rows := make([]*Row, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		r, err := p.row(ctx, topic, m)
		if err != nil {
			return nil, ports.NewError("outbox", op, ports.ErrInvalid, fmt.Errorf("message %d: %w", i, err))
		}
		rows[i], ids[i] = r, r.MessageID
	}
	if err := p.cfg.Rows.CreateMany(ctx, rows); err != nil {
		return nil, fmt.Errorf("outbox: write %d messages: %w", len(rows), err)
	}
	return ids, nil
}

// row returns the outbox row of m, with ctx's trace context added to its
// attributes when they can take it.
func (p *Publisher) row(ctx context.Context, topic string, m ports.Message) (*Row, error) {
	if len(m.Data) == 0 && len(m.Attributes) == 0 {
		return nil, errors.New("empty message: it needs data or an attribute")
	}
	attrs := maps.Clone(m.Attributes)
	if attrs == nil {
		attrs = make(map[string]string, 1)
	}
	id := attrs[messaging.AttrMessageID]
	if id == "" {
		id = messaging.NewMessageID()
		attrs[messaging.AttrMessageID] = id
	}
	if len(id) > 64 {
		return nil, fmt.Errorf("attribute %s has %d bytes, over the outbox's limit of 64", messaging.AttrMessageID, len(id))
	}
	out := ports.Message{Data: m.Data, Attributes: attrs, OrderingKey: m.OrderingKey}
	if err := ports.ValidateMessage(out); err != nil {
		return nil, err
	}
	out = obs.InjectMessages(ctx, p.in.Propagator(), []ports.Message{out})[0]
	attrs = out.Attributes
	enc, err := json.Marshal(attrs)
	if err != nil { // cannot happen: valid UTF-8 strings
		return nil, err
	}
	return &Row{
		MessageID:   id,
		Topic:       topic,
		OrderingKey: m.OrderingKey,
		Partition:   PartitionOf(m.OrderingKey, id, p.cfg.Partitions),
		Data:        m.Data,
		Attributes:  string(enc),
	}, nil
}

// PartitionOf returns the partition of a message among n: the FNV-1a hash
// of its ordering key, or of its stable ID when it has no key, modulo n.
// All the messages of one key share a partition, which one relay replica
// publishes at a time, in order.
func PartitionOf(orderingKey, messageID string, n int) int {
	h := fnv.New32a()
	if orderingKey != "" {
		h.Write([]byte(orderingKey))
	} else {
		h.Write([]byte(messageID))
	}
	return int(h.Sum32() % uint32(n))
}

// message returns the message a row carries.
func (r Row) message() (ports.Message, error) {
	var attrs map[string]string
	if r.Attributes != "" {
		if err := json.Unmarshal([]byte(r.Attributes), &attrs); err != nil {
			return ports.Message{}, fmt.Errorf("outbox: row %d: attributes are not a JSON object of strings", r.ID)
		}
	}
	return ports.Message{Data: r.Data, Attributes: attrs, OrderingKey: r.OrderingKey}, nil
}
