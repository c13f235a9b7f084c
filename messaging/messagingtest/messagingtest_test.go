package messagingtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging/messagingtest"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Pub/Sub client's (see adapters/pubsub/main_test.go): an
		// OpenCensus worker for the process' life, and StreamingPull
		// keep-alives that outlive Close by up to 10 s.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
		goleak.IgnoreAnyFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).checkServer"),
	)
}

// TestFake runs the suite on the fake Pub/Sub.
func TestFake(t *testing.T) {
	messagingtest.Run(t, func(t *testing.T) messagingtest.Env {
		ps := fakes.NewPubSub(fakes.WithRedeliveryDelay(10 * time.Millisecond))
		cache := fakes.NewCache()
		t.Cleanup(func() {
			_ = ps.Close(context.Background())
			_ = cache.Close(context.Background())
		})
		return messagingtest.Env{Publisher: ps, Subscriber: ps, Admin: adminOf(ps), Cache: cache, Wait: 20 * time.Second}
	})
}

// adminOf returns the fake's ports.Admin. TEMPORARY: until the fake
// implements ports.Admin itself, fakeAdmin maps it onto CreateTopic and
// CreateSubscription.
func adminOf(ps *fakes.PubSub) ports.Admin {
	if a, ok := any(ps).(ports.Admin); ok {
		return a
	}
	return fakeAdmin{ps}
}

type fakeAdmin struct{ ps *fakes.PubSub }

func (a fakeAdmin) EnsureTopic(ctx context.Context, topic string) error {
	if err := a.ps.CreateTopic(ctx, topic); err != nil && !errors.Is(err, ports.ErrConflict) {
		return err
	}
	return nil
}

func (a fakeAdmin) EnsureSubscription(ctx context.Context, sub string, cfg ports.SubscriptionConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	err := a.ps.CreateSubscription(ctx, sub, cfg.Topic, fakes.SubscriptionConfig{
		Ordering: cfg.Ordering, AckDeadline: cfg.AckDeadline,
		MaxDeliveryAttempts: cfg.MaxDeliveryAttempts, DeadLetterTopic: cfg.DeadLetterTopic,
	})
	if err != nil && !errors.Is(err, ports.ErrConflict) {
		return err
	}
	return nil
}
