package difftest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
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
		// pstest counts a message's deliveries across the subscriptions
		// of its topic, so it dead-letters (and numbers DeliveryAttempt)
		// by the topic's deliveries, not the subscription's
		// (TestPstestCountsDeliveriesAcrossSubscriptions): its dead
		// lettering is not the service's, and the run leaves it out.
		runPubSub(t, cfg, false)
	})
	t.Run("emulator", func(t *testing.T) {
		host := os.Getenv(pubsub.EnvEmulatorHost)
		if host == "" {
			t.Skip(pubsub.EnvEmulatorHost + " is not set")
		}
		runPubSub(t, pubsub.Config{ProjectID: "pk-pt", EmulatorHost: host}, true)
	})
}

func runPubSub(t *testing.T, cfg pubsub.Config, deadLetter bool) {
	o := options(pubsubOps)
	o.Allow = pubsubAllow
	portstest.DiffPubSub(t, fakePubSub, realPubSub(cfg, deadLetter), o)
}

// TestPstestCountsDeliveriesAcrossSubscriptions records, side by side,
// why the pstest run of TestDiffPubSub has no dead-letter subscription: a
// message nacked 5 times on a topic's plain subscription is, on pstest,
// dead-lettered by the topic's subscription with a 5-attempt policy
// without ever being delivered there (pstest keeps one delivery count per
// message, shared by every subscription of its topic). The fake, like
// Google's service and emulator, counts per subscription: the message
// reaches that subscription at DeliveryAttempt 1.
func TestPstestCountsDeliveriesAcrossSubscriptions(t *testing.T) {
	check := func(t *testing.T, open func() (portstest.PubSubSubject, error), shared bool) {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		p := testenv.UniqueName("pt")
		dlt, topic := p+"-dlt", p+"-t"
		if err := s.Provision(ctx, dlt, map[string]ports.SubscriptionConfig{p + "-dlsub": {Topic: dlt}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Provision(ctx, topic, map[string]ports.SubscriptionConfig{
			p + "-plain": {Topic: topic},
			p + "-dl":    {Topic: topic, MaxDeliveryAttempts: 5, DeadLetterTopic: dlt},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Publisher.Publish(ctx, topic, ports.Message{Data: []byte("m")}); err != nil {
			t.Fatal(err)
		}
		// Nacked 5 times on the plain subscription, then acknowledged.
		pctx, pcancel := context.WithCancel(ctx)
		var n atomic.Int32
		if err := s.Subscriber.Subscribe(pctx, p+"-plain", func(context.Context, ports.Message) error {
			if n.Add(1) <= 5 {
				return errors.New("nack")
			}
			pcancel()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		pcancel()
		if n.Load() < 6 {
			t.Fatalf("plain subscription: %d deliveries, want 6", n.Load())
		}
		// Then: delivered on dl, or dead-lettered to dlsub undelivered.
		got := make(chan string, 2)
		rctx, rcancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, sub := range []string{p + "-dl", p + "-dlsub"} {
			wg.Go(func() {
				_ = s.Subscriber.Subscribe(rctx, sub, func(_ context.Context, m ports.Message) error {
					select {
					case got <- fmt.Sprintf("%s attempt=%d", sub[len(p)+1:], m.DeliveryAttempt):
					default:
					}
					return nil
				})
			})
		}
		var first string
		select {
		case first = <-got:
		case <-ctx.Done():
		}
		rcancel()
		wg.Wait()
		want := "dl attempt=1"
		if shared {
			want = "dlsub attempt=0"
		}
		if first != want {
			t.Errorf("first delivery after 5 nacks on plain: %q, want %q", first, want)
		}
	}
	t.Run("fake", func(t *testing.T) { check(t, fakePubSub, false) })
	t.Run("pstest", func(t *testing.T) {
		srv, err := pstestserver.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer closePstest(t, srv)
		check(t, realPubSub(pubsub.Config{ProjectID: "pk-pt", EmulatorHost: srv.Addr}, true), true)
	})
	t.Run("emulator", func(t *testing.T) {
		host := os.Getenv(pubsub.EnvEmulatorHost)
		if host == "" {
			t.Skip(pubsub.EnvEmulatorHost + " is not set")
		}
		check(t, realPubSub(pubsub.Config{ProjectID: "pk-pt", EmulatorHost: host}, true), false)
	})
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

// realPubSub opens the adapter on cfg; deadLetter is the subject's
// DeadLetter capability.
func realPubSub(cfg pubsub.Config, deadLetter bool) func() (portstest.PubSubSubject, error) {
	return func() (portstest.PubSubSubject, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ps, err := pubsub.Open(ctx, cfg)
		if err != nil {
			return portstest.PubSubSubject{}, err
		}
		return portstest.PubSubSubject{Publisher: ps, Subscriber: ps, DeadLetter: deadLetter,
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
