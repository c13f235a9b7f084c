package pubsub_test

import (
	"context"
	"testing"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// TestConformance runs the Publisher + Subscriber and Connector suites on
// pstest (in-process, always) and on Google's emulator (when
// PUBSUB_EMULATOR_HOST is set).
func TestConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		portstest.TestPubSub(t, func(t *testing.T) portstest.PubSubSetup {
			ps := open(t, cfg)
			return portstest.PubSubSetup{
				Publisher:  ps,
				Subscriber: ps,
				Connector:  ps,
				Provision: func(ctx context.Context, topic string, subs ...portstest.SubscriptionSpec) error {
					return provisionSpecs(ctx, ps, topic, subs)
				},
				Caps: portstest.PubSubCaps{Ordering: true},
			}
		})
		portstest.TestConnector(t, func(t *testing.T) portstest.ConnectorSetup {
			return portstest.ConnectorSetup{Connector: open(t, cfg), Name: "pubsub"}
		})
	})
}

// provisionSpecs creates topic and subs with the admin helpers.
func provisionSpecs(ctx context.Context, ps *pubsub.PubSub, topic string, subs []portstest.SubscriptionSpec) error {
	if err := ps.EnsureTopic(ctx, topic); err != nil {
		return err
	}
	for _, s := range subs {
		err := ps.EnsureSubscription(ctx, s.Name, ports.SubscriptionConfig{
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
