package pubsub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/ports"
)

// SubscriptionConfig describes the subscription [PubSub.EnsureSubscription]
// creates.
type SubscriptionConfig struct {
	// Topic is the topic (ID or full name) the subscription receives from.
	// Required.
	Topic string

	// AckDeadline is how long the service waits for the ack of a
	// delivered message before redelivering it, rounded up to whole
	// seconds. 0 leaves the service's default (10s); Google Pub/Sub
	// accepts 10s to 600s. While Subscribe runs, the client extends the
	// deadline of the messages it holds on its own.
	AckDeadline time.Duration

	// Ordering delivers the messages that share an ordering key in the
	// order they were published, one at a time.
	Ordering bool

	// DeadLetterTopic, when set, receives the messages that were delivered
	// MaxDeliveryAttempts times without an ack. On Google Pub/Sub the
	// project's Pub/Sub service agent needs permission to publish to it
	// and to subscribe to this subscription. Subscribers then see
	// Message.DeliveryAttempt.
	DeadLetterTopic string

	// MaxDeliveryAttempts is the number of deliveries before a message goes
	// to DeadLetterTopic: 5 to 100 (0 means 5).
	MaxDeliveryAttempts int
}

// EnsureTopic creates topic (an ID or full name) unless it exists. It is
// meant for tests and local development; production topics usually come
// from infrastructure code.
func (p *PubSub) EnsureTopic(ctx context.Context, topic string) error {
	op := "ensure topic " + topic
	if topic == "" {
		return invalidErr("ensure topic", errors.New("empty topic"))
	}
	if p.isClosed() {
		return closedErr(op)
	}
	_, err := p.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: p.topicName(topic)})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return p.callErr(op, err)
	}
	return nil
}

// EnsureSubscription creates subscription sub (an ID or full name) to
// cfg.Topic unless it exists. An existing subscription keeps its settings;
// one attached to another topic is ports.ErrConflict. A topic that does
// not exist is ports.ErrNotFound.
func (p *PubSub) EnsureSubscription(ctx context.Context, sub string, cfg SubscriptionConfig) error {
	op := "ensure subscription " + sub
	switch {
	case sub == "":
		return invalidErr("ensure subscription", errors.New("empty subscription"))
	case cfg.Topic == "":
		return invalidErr(op, errors.New("no topic"))
	case cfg.AckDeadline < 0:
		return invalidErr(op, fmt.Errorf("negative ack deadline %s", cfg.AckDeadline))
	case cfg.MaxDeliveryAttempts != 0 && (cfg.MaxDeliveryAttempts < 5 || cfg.MaxDeliveryAttempts > 100):
		return invalidErr(op, fmt.Errorf("max delivery attempts %d is outside 5..100", cfg.MaxDeliveryAttempts))
	case cfg.MaxDeliveryAttempts != 0 && cfg.DeadLetterTopic == "":
		return invalidErr(op, errors.New("max delivery attempts without a dead-letter topic"))
	}
	if p.isClosed() {
		return closedErr(op)
	}
	topic := p.topicName(cfg.Topic)
	req := &pubsubpb.Subscription{
		Name:                  p.subName(sub),
		Topic:                 topic,
		AckDeadlineSeconds:    int32((cfg.AckDeadline + time.Second - 1) / time.Second),
		EnableMessageOrdering: cfg.Ordering,
	}
	if cfg.DeadLetterTopic != "" {
		attempts := cfg.MaxDeliveryAttempts
		if attempts == 0 {
			attempts = 5
		}
		req.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{
			DeadLetterTopic:     p.topicName(cfg.DeadLetterTopic),
			MaxDeliveryAttempts: int32(attempts),
		}
	}
	_, err := p.client.SubscriptionAdminClient.CreateSubscription(ctx, req)
	if err == nil {
		return nil
	}
	if status.Code(err) != codes.AlreadyExists {
		return p.callErr(op, err)
	}
	got, gerr := p.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: req.Name})
	if gerr != nil {
		return p.callErr(op, gerr)
	}
	if got.GetTopic() != topic {
		return ports.NewError(backend, op, ports.ErrConflict,
			fmt.Errorf("subscription exists on topic %s, not %s", got.GetTopic(), topic))
	}
	return nil
}

// DeleteTopic deletes topic (an ID or full name); its subscriptions stay,
// detached. A topic that does not exist is ports.ErrNotFound.
func (p *PubSub) DeleteTopic(ctx context.Context, topic string) error {
	op := "delete topic " + topic
	if p.isClosed() {
		return closedErr(op)
	}
	return p.callErr(op, p.client.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: p.topicName(topic)}))
}

// DeleteSubscription deletes subscription sub (an ID or full name). One
// that does not exist is ports.ErrNotFound.
func (p *PubSub) DeleteSubscription(ctx context.Context, sub string) error {
	op := "delete subscription " + sub
	if p.isClosed() {
		return closedErr(op)
	}
	return p.callErr(op, p.client.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: p.subName(sub)}))
}
