package nats_test

import (
	"context"
	"testing"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// TestConformance runs the Publisher + Subscriber and Connector suites on
// the server at NATS_URL. NATS always counts deliveries: the suite's
// DeliveryAttempt capability is on; ordering keys are honoured through
// the partition consumers of an ordering subscription.
func TestConformance(t *testing.T) {
	cfg := testConfig(t)
	portstest.TestPubSub(t, func(t *testing.T) portstest.PubSubSetup {
		n := open(t, cfg)
		return portstest.PubSubSetup{
			Publisher:  n,
			Subscriber: n,
			Connector:  n,
			Provision: func(ctx context.Context, topic string, subs ...portstest.SubscriptionSpec) error {
				return provisionSpecs(ctx, n, topic, subs)
			},
			Caps: portstest.PubSubCaps{Ordering: true, DeliveryAttempt: true},
		}
	})
	portstest.TestConnector(t, func(t *testing.T) portstest.ConnectorSetup {
		return portstest.ConnectorSetup{Connector: open(t, cfg), Name: "nats"}
	})
}

// provisionSpecs creates topic and subs with the admin methods.
func provisionSpecs(ctx context.Context, n *nats.NATS, topic string, subs []portstest.SubscriptionSpec) error {
	if err := n.EnsureTopic(ctx, topic); err != nil {
		return err
	}
	for _, s := range subs {
		err := n.EnsureSubscription(ctx, s.Name, ports.SubscriptionConfig{
			Topic:       topic,
			AckDeadline: s.AckDeadline,
			Ordering:    s.Ordering,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
