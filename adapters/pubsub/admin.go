package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// SubscriptionConfig is an alias of ports.SubscriptionConfig, the one
// subscription configuration of every portkit messaging implementation,
// kept for existing callers; new code names ports.SubscriptionConfig.
type SubscriptionConfig = ports.SubscriptionConfig

// EnsureTopic creates topic (an ID or full name) unless it exists. A name
// that breaks Google Pub/Sub's naming rule is ports.ErrInvalid. It is meant
// for tests, local development and start-up wiring; production topics
// usually come from infrastructure code.
func (p *PubSub) EnsureTopic(ctx context.Context, topic string) error {
	ctx, sp := p.admin.StartDest(ctx, obs.OpEnsureTopic, topic)
	err := p.doEnsureTopic(ctx, topic)
	sp.End(err)
	return err
}

func (p *PubSub) doEnsureTopic(ctx context.Context, topic string) error {
	op := "ensure topic " + topic
	if err := p.enter(ctx, op); err != nil {
		return err
	}
	if err := checkName("topic", "topics", topic); err != nil {
		return invalidErr(op, err)
	}
	_, err := p.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: p.topicName(topic)})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return p.wrap(ctx, op, err)
	}
	return nil
}

// EnsureSubscription creates subscription sub (an ID or full name) with
// cfg unless it exists. It returns ports.ErrInvalid, sending nothing, when
// cfg fails Validate or a name breaks Google Pub/Sub's naming rule;
// ports.ErrNotFound when the topic or the dead-letter topic does not
// exist; and ports.ErrConflict, changing nothing, when the subscription
// exists with another configuration (the error names each field that
// differs). On Google Pub/Sub a dead-letter policy also needs the
// project's Pub/Sub service agent to be allowed to publish to the
// dead-letter topic and to subscribe to sub.
func (p *PubSub) EnsureSubscription(ctx context.Context, sub string, cfg ports.SubscriptionConfig) error {
	ctx, sp := p.admin.StartDest(ctx, obs.OpEnsureSubscription, sub)
	err := p.doEnsureSubscription(ctx, sub, cfg)
	sp.End(err)
	return err
}

func (p *PubSub) doEnsureSubscription(ctx context.Context, sub string, cfg ports.SubscriptionConfig) error {
	op := "ensure subscription " + sub
	if err := p.enter(ctx, op); err != nil {
		return err
	}
	if err := checkName("subscription", "subscriptions", sub); err != nil {
		return invalidErr(op, err)
	}
	if err := cfg.Validate(); err != nil {
		return p.wrap(ctx, op, err)
	}
	if err := checkName("topic", "topics", cfg.Topic); err != nil {
		return invalidErr(op, err)
	}
	if cfg.DeadLetterTopic != "" {
		if err := checkName("dead-letter topic", "topics", cfg.DeadLetterTopic); err != nil {
			return invalidErr(op, err)
		}
	}
	want := p.subscriptionOf(sub, cfg)
	if want.DeadLetterPolicy != nil {
		// The service's answer for a missing dead-letter topic varies;
		// ask first, to say ErrNotFound and name it.
		_, err := p.client.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: want.DeadLetterPolicy.DeadLetterTopic})
		if err != nil {
			if status.Code(err) == codes.NotFound {
				return ports.NewError(backend, op, ports.ErrNotFound, fmt.Errorf("dead-letter topic %s: %w", cfg.DeadLetterTopic, err))
			}
			return p.wrap(ctx, op, err)
		}
	}
	_, err := p.client.SubscriptionAdminClient.CreateSubscription(ctx, want)
	if err == nil {
		return nil
	}
	if status.Code(err) != codes.AlreadyExists {
		return p.wrap(ctx, op, err)
	}
	got, gerr := p.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: want.Name})
	if gerr != nil {
		return p.wrap(ctx, op, gerr)
	}
	if diff := subscriptionDiff(got, want); diff != "" {
		return ports.NewError(backend, op, ports.ErrConflict, fmt.Errorf("subscription exists with another configuration: %s", diff))
	}
	return nil
}

// subscriptionOf is the subscription that cfg describes.
func (p *PubSub) subscriptionOf(sub string, cfg ports.SubscriptionConfig) *pubsubpb.Subscription {
	ack := cfg.AckDeadline
	if ack == 0 {
		ack = ports.DefaultAckDeadline
	}
	s := &pubsubpb.Subscription{
		Name:                  p.subName(sub),
		Topic:                 p.topicName(cfg.Topic),
		AckDeadlineSeconds:    int32(ack / time.Second),
		EnableMessageOrdering: cfg.Ordering,
	}
	if cfg.DeadLetterTopic != "" {
		s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{
			DeadLetterTopic:     p.topicName(cfg.DeadLetterTopic),
			MaxDeliveryAttempts: int32(cfg.MaxDeliveryAttempts),
		}
	}
	return s
}

// subscriptionDiff names the fields of ports.SubscriptionConfig in which
// got differs from want, with both values ("" when none differs).
func subscriptionDiff(got, want *pubsubpb.Subscription) string {
	var diffs []string
	add := func(field string, g, w any) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s is %v, not %v", field, g, w))
		}
	}
	add("Topic", got.GetTopic(), want.GetTopic())
	add("Ordering", got.GetEnableMessageOrdering(), want.GetEnableMessageOrdering())
	add("AckDeadline", time.Duration(got.GetAckDeadlineSeconds())*time.Second, time.Duration(want.GetAckDeadlineSeconds())*time.Second)
	add("DeadLetterTopic", got.GetDeadLetterPolicy().GetDeadLetterTopic(), want.GetDeadLetterPolicy().GetDeadLetterTopic())
	add("MaxDeliveryAttempts", got.GetDeadLetterPolicy().GetMaxDeliveryAttempts(), want.GetDeadLetterPolicy().GetMaxDeliveryAttempts())
	return strings.Join(diffs, "; ")
}

// DeleteTopic deletes topic (an ID or full name); its subscriptions stay,
// detached. A topic that does not exist is ports.ErrNotFound.
func (p *PubSub) DeleteTopic(ctx context.Context, topic string) error {
	op := "delete topic " + topic
	if err := p.enter(ctx, op); err != nil {
		return err
	}
	if topic == "" {
		return invalidErr(op, errors.New("empty topic"))
	}
	return p.wrap(ctx, op, p.client.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: p.topicName(topic)}))
}

// DeleteSubscription deletes subscription sub (an ID or full name). One
// that does not exist is ports.ErrNotFound.
func (p *PubSub) DeleteSubscription(ctx context.Context, sub string) error {
	op := "delete subscription " + sub
	if err := p.enter(ctx, op); err != nil {
		return err
	}
	if sub == "" {
		return invalidErr(op, errors.New("empty subscription"))
	}
	return p.wrap(ctx, op, p.client.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: p.subName(sub)}))
}
