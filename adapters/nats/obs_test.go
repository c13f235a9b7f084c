package nats_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
)

// telConfig is the Config of the telemetry tests: a prefix of their own
// (pktel_ and a random suffix, swept when the test ends) and a URL whose
// user info carries the secret corpus's password (the test server takes
// any credentials), so that a credential leaking into a span or a metric
// is seen.
func telConfig(t *testing.T) nats.Config {
	t.Helper()
	cfg := testConfig(t)
	u, err := url.Parse(cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("app", testutil.SecretPassword)
	cfg.URL = u.String()
	cfg.Prefix = "pktel_" + randomHex(3)
	t.Cleanup(func() { sweep(cfg.Prefix) })
	return cfg
}

// TestTelemetry: on the real server, Publish's producer span is carried
// by the message's headers to the handler's consumer span, its child in
// the same trace; the admin, check, close and publish spans and the
// messaging metrics are recorded on the providers of the options, with
// messaging.system nats and the server's address; no payload, attribute
// value or credential of the URL reaches them.
func TestTelemetry(t *testing.T) {
	t.Parallel()
	s := obstest.New(t)
	cfg := telConfig(t)
	n := open(t, cfg, nats.WithTracerProvider(s.TP), nats.WithMeterProvider(s.MP))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	ctx := t.Context()
	secret := "payload-" + testutil.SecretPassword
	rctx, root := s.TP.Tracer("test").Start(ctx, "request")
	ids, err := n.Publish(rctx, topic, ports.Message{Data: []byte(secret), Attributes: map[string]string{"k": secret}})
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Publish(ctx, topic, ports.Message{}); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("Publish of an empty message = %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	got := make(chan ports.Message, 1)
	handlerSpan := make(chan trace.SpanContext, 1)
	done := make(chan error, 1)
	go func() {
		done <- n.Subscribe(sctx, subs["a"], func(ctx context.Context, m ports.Message) error {
			select {
			case got <- m:
				handlerSpan <- trace.SpanContextFromContext(ctx)
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
	hsc := <-handlerSpan
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := n.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if m.ID != ids[0] || m.Attributes["traceparent"] == "" || m.Attributes["k"] != secret {
		t.Fatalf("delivered %+v", m)
	}
	if err := ports.ValidateMessage(m); err != nil {
		t.Errorf("the delivered message breaks the port's rules: %v", err)
	}

	pubs := s.Named("publish " + topic)
	if len(pubs) != 2 {
		t.Fatalf("%d publish spans, want 2: %v", len(pubs), obstest.Names(s.Ended()))
	}
	pub := pubs[0]
	obstest.WantChild(t, s.Span("request"), pub)
	obstest.WantKind(t, pub, trace.SpanKindProducer)
	obstest.WantAttrs(t, pub, "messaging.system", "nats", "messaging.destination.name", topic,
		"messaging.operation.type", "send", "server.address", "127.0.0.1", "server.port", "4222", "portkit.port", "publisher")
	obstest.WantNoAttr(t, pub, "error.type")
	obstest.WantAttrs(t, pubs[1], "error.type", "ErrInvalid")
	procs := s.Named("process " + subs["a"])
	if len(procs) != 1 {
		t.Fatalf("%d process spans, want 1: %v", len(procs), obstest.Names(s.Ended()))
	}
	proc := procs[0]
	obstest.WantChild(t, pub, proc)
	if proc.SpanContext().TraceID() != pub.SpanContext().TraceID() {
		t.Error("the process span is not in the publish span's trace")
	}
	if hsc.SpanID() != proc.SpanContext().SpanID() {
		t.Error("the handler's context does not hold its process span")
	}
	obstest.WantKind(t, proc, trace.SpanKindConsumer)
	obstest.WantAttrs(t, proc, "messaging.message.id", ids[0], "messaging.destination.subscription.name", subs["a"],
		"messaging.operation.type", "process", "messaging.system", "nats", "portkit.port", "subscriber")
	obstest.WantAttrs(t, s.Span("ensure_topic "+topic), "messaging.destination.name", topic, "portkit.port", "admin")
	obstest.WantAttrs(t, s.Span("ensure_subscription "+subs["a"]), "messaging.destination.subscription.name", subs["a"])
	if checks := s.Named("check nats"); len(checks) != 2 { // Open's and ours
		t.Errorf("%d check spans, want 2: %v", len(checks), obstest.Names(s.Ended()))
	}
	obstest.WantAttrs(t, s.Span("close nats"), "portkit.connector.name", "nats", "portkit.operation.name", "close")

	if v := s.Total(obs.MetricMsgDuration, "messaging.destination.name", topic, "messaging.system", "nats",
		"messaging.operation.name", "publish"); v != 2 {
		t.Errorf("%s of publish to %s: %v, want 2", obs.MetricMsgDuration, topic, v)
	}
	if v := s.Total(obs.MetricSent, "messaging.destination.name", topic, "error.type", ""); v != 1 {
		t.Errorf("%v sent, want 1", v)
	}
	if v := s.Total(obs.MetricConsumed, "messaging.destination.subscription.name", subs["a"]); v != 1 {
		t.Errorf("%v consumed, want 1", v)
	}
	if v := s.Total(obs.MetricProcessDuration, "messaging.destination.subscription.name", subs["a"]); v != 1 {
		t.Errorf("%v process durations, want 1", v)
	}
	if v := s.Total(obs.MetricSettled, "portkit.messaging.outcome", "ack"); v != 1 {
		t.Errorf("%v acked, want 1", v)
	}
	if v := s.Total(obs.MetricErrors, "error.type", "ErrInvalid"); v != 1 {
		t.Errorf("%v ErrInvalid, want 1", v)
	}
	if v := s.Total(obs.MetricCheckDuration, "portkit.connector.name", "nats"); v != 2 {
		t.Errorf("%v check durations, want 2", v)
	}
	if v := s.Total(obs.MetricCheckStatus, "portkit.connector.name", "nats"); v != 1 {
		t.Errorf("check status %v, want 1", v)
	}
	s.NoSecret(testutil.SecretMarker, "app:")
}

// TestTelemetryDeadLettered: a handler that fails on the subscription's
// last allowed delivery sends the message to the dead-letter topic; its
// process span says so and it counts in
// portkit.messaging.dead_lettered.messages, once; every delivery's span
// is a child of the publish span; the forwarded copy keeps the
// producer's trace context, so the dead-letter subscriber's span joins
// the same trace.
func TestTelemetryDeadLettered(t *testing.T) {
	t.Parallel()
	s := obstest.New(t)
	n := open(t, telConfig(t), nats.WithTracerProvider(s.TP), nats.WithMeterProvider(s.MP))
	deadTopic, deadSubs := provision(t, n, map[string]ports.SubscriptionConfig{"dead": {}})
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{
		"src": {MaxDeliveryAttempts: 5, DeadLetterTopic: deadTopic},
	})
	stop := subscribeUntil(t, n, subs["src"], func(context.Context, ports.Message) error { return errors.New("always fails") })
	if _, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("poison")}); err != nil {
		t.Fatal(err)
	}
	if got := receiveN(t, n, deadSubs["dead"], 1, 30*time.Second); len(got) != 1 {
		t.Fatalf("the dead-letter topic received %d messages, want 1", len(got))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	pub := s.Span("publish " + topic)
	procs := s.Named("process " + subs["src"])
	if len(procs) != 5 {
		t.Fatalf("%d process spans, want 5: %v", len(procs), obstest.Names(s.Ended()))
	}
	marked := 0
	for _, sp := range procs {
		obstest.WantChild(t, pub, sp)
		obstest.WantAttrs(t, sp, "error.type", "none")
		if v, ok := obstest.Attr(sp, "portkit.messaging.dead_lettered"); ok && v.AsBool() {
			marked++
		}
	}
	if marked != 1 {
		t.Errorf("%d process spans marked dead-lettered, want 1", marked)
	}
	obstest.WantChild(t, pub, s.Span("process "+deadSubs["dead"]))
	if v := s.Total(obs.MetricDeadLettered, "messaging.destination.subscription.name", subs["src"]); v != 1 {
		t.Errorf("%v dead-lettered, want 1", v)
	}
	if v := s.Total(obs.MetricSettled, "portkit.messaging.outcome", "nack"); v != 5 {
		t.Errorf("%v nacked, want 5", v)
	}
}

// TestTraceContextNeverMakesAMessageTooLarge: a message that fits the
// server's max_payload exactly is published with tracing on, without the
// trace context that would take it over (as obs does for the port's own
// limits), rather than refused.
func TestTraceContextNeverMakesAMessageTooLarge(t *testing.T) {
	t.Parallel()
	s := obstest.New(t)
	n := open(t, telConfig(t), nats.WithTracerProvider(s.TP), nats.WithMeterProvider(s.MP))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	// The wire size NATS counts: data, "NATS/1.0\r\n", "k: v\r\n", "\r\n".
	data := make([]byte, int(n.Conn().MaxPayload())-len("NATS/1.0\r\n")-len("k: v\r\n")-len("\r\n"))
	msgs := []ports.Message{
		{Data: data, Attributes: map[string]string{"k": "v"}},
		{Data: []byte("small"), Attributes: map[string]string{"k": "v"}},
	}
	if _, err := n.Publish(t.Context(), topic, msgs...); err != nil {
		t.Fatalf("Publish of a message at max_payload with tracing on = %v", err)
	}
	got := receiveN(t, n, subs["a"], 2, 30*time.Second)
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2", len(got))
	}
	slices.SortFunc(got, func(a, b ports.Message) int { return len(b.Data) - len(a.Data) })
	if _, ok := got[0].Attributes["traceparent"]; ok || len(got[0].Data) != len(data) {
		t.Errorf("the largest message arrived with %d bytes and attributes %v, want its own", len(got[0].Data), keys(got[0].Attributes))
	}
	if got[1].Attributes["traceparent"] == "" {
		t.Errorf("the small message arrived without the trace context: %v", keys(got[1].Attributes))
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestTraceContextFakeParity: with tracing on, the handler sees the same
// message on the NATS adapter as on the PubSub fake: the publisher's
// attributes plus the trace context (traceparent, and tracestate when
// the producer's context has one), each a process span child of its
// publish span.
func TestTraceContextFakeParity(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, impl messagingImpl, s *obstest.SDK, topic, sub string) (attrs []string) {
		t.Helper()
		ctx, root := s.TP.Tracer("test").Start(t.Context(), "request")
		_, err := impl.Publish(ctx, topic, ports.Message{Data: []byte("x"), Attributes: map[string]string{"k": "v"}})
		root.End()
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var mu sync.Mutex
		err = impl.Subscribe(rctx, sub, func(_ context.Context, m ports.Message) error {
			mu.Lock()
			defer mu.Unlock()
			for k, v := range m.Attributes {
				if k == "traceparent" {
					v = strings.Repeat("x", len(v)) // ids differ
				}
				attrs = append(attrs, k+"="+v)
			}
			cancel()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		obstest.WantChild(t, s.Span("publish "+topic), s.Span("process "+sub))
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(attrs)
		return attrs
	}
	fs := obstest.New(t)
	fake := fakes.NewPubSub(fakes.WithLogger(testLogger(t)), fakes.WithTracerProvider(fs.TP), fakes.WithMeterProvider(fs.MP))
	t.Cleanup(func() { _ = fake.Close(context.Background()) })
	ctx := t.Context()
	if err := fake.EnsureTopic(ctx, "tel-t"); err != nil {
		t.Fatal(err)
	}
	if err := fake.EnsureSubscription(ctx, "tel-s", ports.SubscriptionConfig{Topic: "tel-t"}); err != nil {
		t.Fatal(err)
	}
	ns := obstest.New(t)
	n := open(t, telConfig(t), nats.WithTracerProvider(ns.TP), nats.WithMeterProvider(ns.MP))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	want := run(t, fake, fs, "tel-t", "tel-s")
	got := run(t, n, ns, topic, subs["a"])
	if !slices.Equal(got, want) || len(want) != 2 {
		t.Errorf("the NATS handler saw attributes %v, the fake's %v", got, want)
	}
}
