package difftest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

var pubsubAllow []portstest.Allowance

func TestDiffPubSub(t *testing.T) {
	t.Run("pstest", func(t *testing.T) {
		srv, err := pstestserver.Start("127.0.0.1:0") // pstest, without its keep-alive deadlock
		if err != nil {
			t.Fatal(err)
		}
		defer closePstest(t, srv)
		cfg := pubsub.Config{ProjectID: "pk-pt", EmulatorHost: srv.Addr}
		cfg.Receive.Streams = 16 // pstest hands each stream one message per 10ms
		runPubSub(t, cfg)
	})
	t.Run("emulator", func(t *testing.T) {
		host := os.Getenv(pubsub.EnvEmulatorHost)
		if host == "" {
			t.Skip(pubsub.EnvEmulatorHost + " is not set")
		}
		runPubSub(t, pubsub.Config{ProjectID: "pk-pt", EmulatorHost: host})
	})
}

func runPubSub(t *testing.T, cfg pubsub.Config) {
	o := options(pubsubOps)
	o.Allow = pubsubAllow
	portstest.DiffPubSub(t, fakePubSub, realPubSub(cfg), o)
}

func fakePubSub() (portstest.PubSubSubject, error) {
	ps := fakes.NewPubSub()
	return portstest.PubSubSubject{Publisher: ps, Subscriber: ps, DeadLetter: true,
		Provision: func(ctx context.Context, topic string, subs map[string]ports.SubscriptionConfig) error {
			if err := ps.CreateTopic(ctx, topic); err != nil {
				return err
			}
			for name, c := range subs {
				cfg := fakes.SubscriptionConfig{Ordering: c.Ordering, AckDeadline: c.AckDeadline, MaxDeliveryAttempts: c.MaxDeliveryAttempts, DeadLetterTopic: c.DeadLetterTopic}
				if err := ps.CreateSubscription(ctx, name, c.Topic, cfg); err != nil {
					return err
				}
			}
			return nil
		},
		Close: func() { _ = ps.Close(context.Background()) }}, nil
}

func realPubSub(cfg pubsub.Config) func() (portstest.PubSubSubject, error) {
	return func() (portstest.PubSubSubject, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ps, err := pubsub.Open(ctx, cfg)
		if err != nil {
			return portstest.PubSubSubject{}, err
		}
		return portstest.PubSubSubject{Publisher: ps, Subscriber: ps, DeadLetter: true,
			Provision: provisionOn(ps),
			Close: func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_ = ps.Close(ctx)
			}}, nil
	}
}

// closePstest closes srv, failing t instead of hanging when pstest is
// deadlocked: pubsub/v2 v2.9.0 pstest/fake.go answers a keep-alive ping
// with an unbuffered send (st.msgc <- nil) while it holds the server's
// mutex, so a ping on a stream whose pull loop has ended blocks every
// later call, Close included.
func closePstest(t *testing.T, srv *pstestserver.Server) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Close()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("pstest did not close within 30s: it is deadlocked (see closePstest)")
	}
}
