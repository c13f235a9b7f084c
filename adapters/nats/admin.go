package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// maxAckPending bounds the messages delivered and not yet acknowledged of
// the consumer of an unordered subscription (or of the messages without
// an ordering key), across all its Subscribe calls.
const maxAckPending = 1000

// subRecord is what the registry holds of a subscription: its
// ports.SubscriptionConfig (AckDeadline defaulted), the stream of its
// topic, and the layout of its consumers.
type subRecord struct {
	Version             int    `json:"v"`
	Topic               string `json:"topic"`
	Stream              string `json:"stream"`
	Ordering            bool   `json:"ordering,omitempty"`
	AckDeadlineSeconds  int    `json:"ack_deadline_s"`
	MaxDeliveryAttempts int    `json:"max_delivery_attempts,omitempty"`
	DeadLetterTopic     string `json:"dead_letter_topic,omitempty"`
	// Partitions is the number of partition consumers of an ordering
	// subscription (Partitions when it was created); 0 without ordering.
	Partitions int `json:"partitions,omitempty"`
}

const recordVersion = 1

// config returns the subscription's configuration.
func (r subRecord) config() ports.SubscriptionConfig {
	return ports.SubscriptionConfig{
		Topic:               r.Topic,
		Ordering:            r.Ordering,
		AckDeadline:         time.Duration(r.AckDeadlineSeconds) * time.Second,
		MaxDeliveryAttempts: r.MaxDeliveryAttempts,
		DeadLetterTopic:     r.DeadLetterTopic,
	}
}

func (r subRecord) ackWait() time.Duration { return time.Duration(r.AckDeadlineSeconds) * time.Second }

// consumers returns the parts of the subscription's consumers: -1 (every
// message, or those without an ordering key) and, with ordering, each
// partition.
func (r subRecord) consumers() []int {
	parts := []int{-1}
	for p := range r.Partitions {
		parts = append(parts, p)
	}
	return parts
}

// configDiff names the fields in which got differs from want ("" when
// none does); both have their AckDeadline defaulted.
func configDiff(got, want ports.SubscriptionConfig) string {
	var diffs []string
	add := func(field string, g, w any) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s is %v, not %v", field, g, w))
		}
	}
	add("Topic", got.Topic, want.Topic)
	add("Ordering", got.Ordering, want.Ordering)
	add("AckDeadline", got.AckDeadline, want.AckDeadline)
	add("DeadLetterTopic", got.DeadLetterTopic, want.DeadLetterTopic)
	add("MaxDeliveryAttempts", got.MaxDeliveryAttempts, want.MaxDeliveryAttempts)
	return strings.Join(diffs, "; ")
}

// EnsureTopic creates topic unless it exists (ports.Admin): a stream of
// its own (see the package documentation), with interest retention (a
// message is kept until every subscription has acknowledged it, or
// Config.MaxAge has passed; a message published while the topic has no
// subscription is not kept), Config.Storage and Config.Replicas. A stream
// of that name that exists with another configuration counts as the topic
// (EnsureTopic does not change it). A name that breaks the naming rule is
// ports.ErrInvalid; subjects that another stream already takes are
// ports.ErrConflict.
func (n *NATS) EnsureTopic(ctx context.Context, topic string) error {
	ctx, sp := n.admin.StartDest(ctx, obs.OpEnsureTopic, topic)
	err := n.doEnsureTopic(ctx, topic)
	sp.End(err)
	return err
}

func (n *NATS) doEnsureTopic(ctx context.Context, topic string) error {
	op := "ensure topic " + topic
	release, err := n.gate.Enter(ctx, backend, op)
	if err != nil {
		return err
	}
	defer release()
	if err := checkName("topic", topic); err != nil {
		return invalidErr(op, err)
	}
	stream := n.lay.stream(topic)
	storage := jetstream.FileStorage
	if n.cfg.Storage == StorageMemory {
		storage = jetstream.MemoryStorage
	}
	err = n.api(ctx, op, func(ctx context.Context) error {
		_, err := n.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        stream,
			Description: "portkit topic " + topic,
			Subjects:    []string{n.lay.allSubjects(topic)},
			Retention:   jetstream.InterestPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      n.cfg.MaxAge,
			Storage:     storage,
			Replicas:    n.cfg.Replicas,
		})
		return err
	})
	switch {
	case err == nil, errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
		n.streams.Store(stream, struct{}{})
		return nil
	case isOverlap(err):
		return ports.NewError(backend, op, ports.ErrConflict, fmt.Errorf("the subjects of topic %q belong to another stream: %w", topic, err))
	}
	return err
}

// isOverlap reports whether err is JetStream refusing a stream whose
// subjects overlap another's.
func isOverlap(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10065
}

// EnsureSubscription creates the subscription unless it exists
// (ports.Admin). It returns ports.ErrInvalid, sending nothing, when cfg
// fails Validate or a name breaks the naming rule; ports.ErrNotFound when
// the topic or the dead-letter topic does not exist; and
// ports.ErrConflict, changing nothing, when the subscription exists with
// another configuration (the error names each field that differs).
//
// The subscription's configuration is kept in the registry, a key-value
// bucket (see the package documentation), which also makes subscription
// names unique across topics as on Google Pub/Sub. Its consumers are
// durable pull consumers of the topic's stream, starting with the messages
// published after EnsureSubscription began: AckDeadline is their AckWait,
// with explicit acks. With Ordering, there is one consumer per partition
// (see [Partitions]), each with at most one message unacknowledged, and
// one for the messages without an ordering key. With MaxDeliveryAttempts,
// the adapter forwards a message to DeadLetterTopic after that many
// deliveries (see Subscribe); the consumers' MaxDeliver stays unlimited,
// so that the server never stops delivering a message that was not
// forwarded.
func (n *NATS) EnsureSubscription(ctx context.Context, subscription string, cfg ports.SubscriptionConfig) error {
	ctx, sp := n.admin.StartDest(ctx, obs.OpEnsureSubscription, subscription)
	err := n.doEnsureSubscription(ctx, subscription, cfg)
	sp.End(err)
	return err
}

func (n *NATS) doEnsureSubscription(ctx context.Context, subscription string, cfg ports.SubscriptionConfig) error {
	op := "ensure subscription " + subscription
	release, err := n.gate.Enter(ctx, backend, op)
	if err != nil {
		return err
	}
	defer release()
	if err := checkName("subscription", subscription); err != nil {
		return invalidErr(op, err)
	}
	if err := cfg.Validate(); err != nil {
		return classifier.Wrap(op, err, false)
	}
	if err := checkName("topic", cfg.Topic); err != nil {
		return invalidErr(op, err)
	}
	if cfg.DeadLetterTopic != "" {
		if err := checkName("dead-letter topic", cfg.DeadLetterTopic); err != nil {
			return invalidErr(op, err)
		}
	}
	if cfg.AckDeadline == 0 {
		cfg.AckDeadline = ports.DefaultAckDeadline
	}
	info, err := n.streamInfo(ctx, op, "topic", cfg.Topic)
	if err != nil {
		return err
	}
	if cfg.DeadLetterTopic != "" {
		if _, err := n.streamInfo(ctx, op, "dead-letter topic", cfg.DeadLetterTopic); err != nil {
			return err
		}
	}
	want := subRecord{
		Version:             recordVersion,
		Topic:               cfg.Topic,
		Stream:              info.Config.Name,
		Ordering:            cfg.Ordering,
		AckDeadlineSeconds:  int(cfg.AckDeadline / time.Second),
		MaxDeliveryAttempts: cfg.MaxDeliveryAttempts,
		DeadLetterTopic:     cfg.DeadLetterTopic,
	}
	if cfg.Ordering {
		want.Partitions = Partitions
	}
	kv, err := n.registry(ctx, op, true)
	if err != nil {
		return err
	}
	key := registryKey(subscription)
	rec, err := n.record(ctx, op, kv, subscription)
	switch {
	case err == nil:
		if diff := configDiff(rec.config(), want.config()); diff != "" {
			return ports.NewError(backend, op, ports.ErrConflict, fmt.Errorf("subscription exists with another configuration: %s", diff))
		}
	case ports.KindOf(err) == ports.ErrNotFound:
		body, _ := json.Marshal(want)
		err = n.api(ctx, op, func(ctx context.Context) error {
			_, err := kv.Create(ctx, key, body)
			return err
		})
		if errors.Is(err, jetstream.ErrKeyExists) {
			// Created meanwhile by another caller: compare with it.
			if rec, err = n.record(ctx, op, kv, subscription); err != nil {
				return err
			}
			if diff := configDiff(rec.config(), want.config()); diff != "" {
				return ports.NewError(backend, op, ports.ErrConflict, fmt.Errorf("subscription exists with another configuration: %s", diff))
			}
		} else if err != nil {
			return err
		}
		rec = want
	default:
		return err
	}
	return n.ensureConsumers(ctx, op, subscription, rec, info.State.LastSeq+1)
}

// ensureConsumers creates the consumers of rec that do not exist, starting
// at stream sequence start.
func (n *NATS) ensureConsumers(ctx context.Context, op, subscription string, rec subRecord, start uint64) error {
	for _, part := range rec.consumers() {
		name := consumer(subscription, part)
		filter := n.lay.allSubjects(rec.Topic)
		pending := maxAckPending
		switch {
		case part >= 0:
			filter, pending = n.lay.partitionSubject(rec.Topic, part), 1
		case rec.Ordering:
			filter = n.lay.unkeyedSubject(rec.Topic)
		}
		err := n.api(ctx, op, func(ctx context.Context) error {
			s, err := n.js.Stream(ctx, rec.Stream)
			if err != nil {
				return err
			}
			if _, err := s.Consumer(ctx, name); err == nil || !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return err
			}
			_, err = s.CreateConsumer(ctx, jetstream.ConsumerConfig{
				Durable:       name,
				Description:   "portkit subscription " + subscription,
				DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
				OptStartSeq:   start,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       rec.ackWait(),
				MaxDeliver:    -1,
				FilterSubject: filter,
				MaxAckPending: pending,
				ReplayPolicy:  jetstream.ReplayInstantPolicy,
			})
			if err != nil {
				// Created meanwhile by another caller?
				if _, gerr := s.Consumer(ctx, name); gerr == nil {
					return nil
				}
			}
			return err
		})
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return ports.NewError(backend, op, ports.ErrNotFound, fmt.Errorf("topic %q does not exist: %w", rec.Topic, err))
			}
			return err
		}
	}
	return nil
}

// registry returns the key-value bucket of the subscriptions' records,
// creating it when create is set; without it, a missing bucket is
// ErrNotFound.
func (n *NATS) registry(ctx context.Context, op string, create bool) (jetstream.KeyValue, error) {
	n.kvMu.Lock()
	defer n.kvMu.Unlock()
	if n.kv != nil {
		return n.kv, nil
	}
	bucket := n.lay.registryBucket()
	var kv jetstream.KeyValue
	err := n.api(ctx, op, func(ctx context.Context) error {
		var err error
		kv, err = n.js.KeyValue(ctx, bucket)
		if !errors.Is(err, jetstream.ErrBucketNotFound) || !create {
			return err
		}
		storage := jetstream.FileStorage
		if n.cfg.Storage == StorageMemory {
			storage = jetstream.MemoryStorage
		}
		kv, err = n.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: "portkit subscriptions",
			History:     1,
			Storage:     storage,
			Replicas:    n.cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = n.js.KeyValue(ctx, bucket)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	n.kv = kv
	return kv, nil
}

// record reads the registry's record of subscription: ErrNotFound when
// there is none.
func (n *NATS) record(ctx context.Context, op string, kv jetstream.KeyValue, subscription string) (subRecord, error) {
	var entry jetstream.KeyValueEntry
	err := n.api(ctx, op, func(ctx context.Context) error {
		var err error
		entry, err = kv.Get(ctx, registryKey(subscription))
		return err
	})
	if err != nil {
		if ports.KindOf(err) == ports.ErrNotFound {
			return subRecord{}, ports.NewError(backend, op, ports.ErrNotFound, fmt.Errorf("subscription %q does not exist: %w", subscription, err))
		}
		return subRecord{}, err
	}
	var rec subRecord
	if err := json.Unmarshal(entry.Value(), &rec); err != nil || rec.Version != recordVersion || rec.Stream == "" {
		return subRecord{}, ports.NewError(backend, op, ports.ErrInvalid,
			fmt.Errorf("the registry's record of subscription %q is not one this adapter reads (version %d)", subscription, rec.Version))
	}
	return rec, nil
}

// lookup returns the record of subscription, ErrNotFound when the registry
// or the record does not exist.
func (n *NATS) lookup(ctx context.Context, op, subscription string) (subRecord, error) {
	kv, err := n.registry(ctx, op, false)
	if err != nil {
		if ports.KindOf(err) == ports.ErrNotFound {
			return subRecord{}, ports.NewError(backend, op, ports.ErrNotFound, fmt.Errorf("subscription %q does not exist: %w", subscription, err))
		}
		return subRecord{}, err
	}
	return n.record(ctx, op, kv, subscription)
}

// DeleteTopic deletes topic's stream and the messages it holds; its
// subscriptions stay in the registry, detached (Subscribe then returns
// ports.ErrNotFound). A topic that does not exist is ports.ErrNotFound.
func (n *NATS) DeleteTopic(ctx context.Context, topic string) error {
	op := "delete topic " + topic
	release, err := n.gate.Enter(ctx, backend, op)
	if err != nil {
		return err
	}
	defer release()
	if err := checkName("topic", topic); err != nil {
		return invalidErr(op, err)
	}
	stream := n.lay.stream(topic)
	n.streams.Delete(stream)
	return n.api(ctx, op, func(ctx context.Context) error { return n.js.DeleteStream(ctx, stream) })
}

// DeleteSubscription deletes the subscription: its consumers and its
// record. One that does not exist is ports.ErrNotFound.
func (n *NATS) DeleteSubscription(ctx context.Context, subscription string) error {
	op := "delete subscription " + subscription
	release, err := n.gate.Enter(ctx, backend, op)
	if err != nil {
		return err
	}
	defer release()
	if err := checkName("subscription", subscription); err != nil {
		return invalidErr(op, err)
	}
	rec, err := n.lookup(ctx, op, subscription)
	if err != nil {
		return err
	}
	for _, part := range rec.consumers() {
		err := n.api(ctx, op, func(ctx context.Context) error {
			return n.js.DeleteConsumer(ctx, rec.Stream, consumer(subscription, part))
		})
		if err != nil && ports.KindOf(err) != ports.ErrNotFound {
			return err
		}
	}
	kv, err := n.registry(ctx, op, false)
	if err != nil {
		return err
	}
	return n.api(ctx, op, func(ctx context.Context) error { return kv.Purge(ctx, registryKey(subscription)) })
}
