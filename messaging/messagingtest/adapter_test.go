package messagingtest_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging/messagingtest"
	"github.com/portkit/portkit/ports"
)

// TestPubSubAdapterOnPstest runs the suite on the Pub/Sub adapter against
// pstest, in process. (At integration this call belongs in the adapter's
// tests, on pstest and on Google's emulator.)
func TestPubSubAdapterOnPstest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	messagingtest.Run(t, func(t *testing.T) messagingtest.Env {
		srv := pstest.NewServer()
		cfg := pubsub.Config{ProjectID: "portkit-test", EmulatorHost: srv.Addr}
		cfg.Receive.Streams = 4
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ps, err := pubsub.Open(ctx, cfg, pubsub.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		cache := fakes.NewCache()
		t.Cleanup(func() {
			_ = ps.Close(context.Background())
			_ = srv.Close()
			_ = cache.Close(context.Background())
		})
		return messagingtest.Env{Publisher: ps, Subscriber: ps, Admin: pubsubAdmin(ps), Cache: cache, Wait: 30 * time.Second}
	})
}

// pubsubAdmin returns the adapter's ports.Admin. TEMPORARY: until the
// adapter takes ports.SubscriptionConfig, adapterAdmin converts it.
func pubsubAdmin(ps *pubsub.PubSub) ports.Admin {
	if a, ok := any(ps).(ports.Admin); ok {
		return a
	}
	return adapterAdmin{ps}
}

type adapterAdmin struct{ ps *pubsub.PubSub }

func (a adapterAdmin) EnsureTopic(ctx context.Context, topic string) error {
	return a.ps.EnsureTopic(ctx, topic)
}

func (a adapterAdmin) EnsureSubscription(ctx context.Context, sub string, cfg ports.SubscriptionConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return a.ps.EnsureSubscription(ctx, sub, pubsub.SubscriptionConfig{
		Topic: cfg.Topic, AckDeadline: cfg.AckDeadline, Ordering: cfg.Ordering,
		DeadLetterTopic: cfg.DeadLetterTopic, MaxDeliveryAttempts: cfg.MaxDeliveryAttempts,
	})
}
