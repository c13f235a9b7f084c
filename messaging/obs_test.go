package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

// TestDeadLetterTelemetry: a message DeadLetter moves is acked, and its
// process span and the dead-lettered count say it was dead-lettered; the
// copy's publish span is the process span's child.
func TestDeadLetterTelemetry(t *testing.T) {
	ctx := context.Background()
	s := obstest.New(t)
	ps := fakes.NewPubSub(fakes.WithTracerProvider(s.TP), fakes.WithMeterProvider(s.MP))
	defer ps.Close(ctx)
	for _, topic := range []string{"orders", "orders-dead"} {
		if err := ps.EnsureTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.EnsureSubscription(ctx, "billing", ports.SubscriptionConfig{Topic: "orders"}); err != nil {
		t.Fatal(err)
	}
	dl, err := messaging.DeadLetter(messaging.DeadLetterConfig{Publisher: ps, Topic: "orders-dead", Subscription: "billing", MaxDeliveries: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := dl(func(context.Context, ports.Message) error { return messaging.Permanent(errors.New("bad order")) })
	if _, err := ps.Publish(ctx, "orders", ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(sctx, "billing", h) }()
	deadline := time.Now().Add(30 * time.Second)
	for len(ps.Published("orders-dead")) == 0 || ps.Acked("billing") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not dead-lettered")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	proc := s.Span("process billing")
	obstest.WantAttrs(t, proc, "portkit.messaging.dead_lettered", "true")
	obstest.WantNoAttr(t, proc, "error.type")
	obstest.WantChild(t, proc, s.Span("publish orders-dead"))
	if n := s.Total(obs.MetricDeadLettered, "messaging.destination.subscription.name", "billing"); n != 1 {
		t.Errorf("dead-lettered %v, want 1", n)
	}
	if n := s.Total(obs.MetricSettled, "portkit.messaging.outcome", "ack"); n != 1 {
		t.Errorf("acked %v, want 1", n)
	}
}
