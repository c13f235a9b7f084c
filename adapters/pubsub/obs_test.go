package pubsub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
)

// TestTelemetry: Publish's producer span is carried by the message to the
// handler's consumer span, its child; the admin, check and publish spans
// and the messaging metrics are recorded; no payload or attribute value
// reaches them.
func TestTelemetry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		s := obstest.New(t)
		ps := open(t, cfg, pubsub.WithTracerProvider(s.TP), pubsub.WithMeterProvider(s.MP))
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
		ctx := t.Context()
		secret := "payload-" + testutil.SecretPassword
		rctx, root := s.TP.Tracer("test").Start(ctx, "request")
		ids, err := ps.Publish(rctx, topic, ports.Message{Data: []byte(secret), Attributes: map[string]string{"k": secret}})
		root.End()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = ps.Publish(ctx, topic, ports.Message{}) // ErrInvalid
		sctx, cancel := context.WithCancel(ctx)
		got := make(chan ports.Message, 1)
		done := make(chan error, 1)
		go func() {
			done <- ps.Subscribe(sctx, subs["a"], func(ctx context.Context, m ports.Message) error {
				if !trace.SpanContextFromContext(ctx).IsValid() {
					return errors.New("the handler's context has no span")
				}
				select {
				case got <- m:
				default:
				}
				return nil
			})
		}()
		var m ports.Message
		select {
		case m = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("no delivery")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if m.ID != ids[0] || m.Attributes["traceparent"] == "" {
			t.Fatalf("delivered %+v", m)
		}
		pubs := s.Named("publish " + topic)
		if len(pubs) != 2 {
			t.Fatalf("%d publish spans: %v", len(pubs), obstest.Names(s.Ended()))
		}
		pub := pubs[0]
		obstest.WantChild(t, s.Span("request"), pub)
		obstest.WantAttrs(t, pub, "messaging.system", "gcp_pubsub", "messaging.destination.name", topic,
			"messaging.operation.type", "send", "server.address", "127.0.0.1", "portkit.port", "publisher")
		obstest.WantAttrs(t, pubs[1], "error.type", "ErrInvalid")
		var proc []string
		for _, sp := range s.Named("process " + subs["a"]) {
			obstest.WantChild(t, pub, sp)
			obstest.WantKind(t, sp, trace.SpanKindConsumer)
			obstest.WantAttrs(t, sp, "messaging.message.id", ids[0])
			proc = append(proc, sp.Name())
		}
		if len(proc) == 0 {
			t.Fatal("no process span")
		}
		obstest.WantAttrs(t, s.Span("ensure_topic "+topic), "messaging.destination.name", topic)
		obstest.WantAttrs(t, s.Span("ensure_subscription "+subs["a"]), "messaging.destination.subscription.name", subs["a"])
		if len(s.Named("check pubsub")) != 1 { // Open's check
			t.Errorf("check spans: %v", obstest.Names(s.Ended()))
		}
		if n := s.Total(obs.MetricSent, "error.type", ""); n != 1 {
			t.Errorf("%v sent, want 1", n)
		}
		if n := s.Total(obs.MetricSettled, "portkit.messaging.outcome", "ack"); n < 1 {
			t.Errorf("%v acked, want 1 or more", n)
		}
		s.NoSecret(testutil.SecretMarker)
	})
}
