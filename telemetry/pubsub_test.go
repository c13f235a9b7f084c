package telemetry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/telemetry"
)

// newPubSub returns a fake Pub/Sub with topic orders and its subscription
// orders-sub.
func newPubSub(t *testing.T, cfg fakes.SubscriptionConfig) *fakes.PubSub {
	t.Helper()
	ctx := context.Background()
	ps := fakes.NewPubSub(fakes.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), fakes.WithRedeliveryDelay(time.Millisecond))
	t.Cleanup(func() { _ = ps.Close(context.Background()) })
	if err := ps.CreateTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if cfg.DeadLetterTopic != "" {
		if err := ps.CreateTopic(ctx, cfg.DeadLetterTopic); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.CreateSubscription(ctx, "orders-sub", "orders", cfg); err != nil {
		t.Fatal(err)
	}
	return ps
}

type received struct {
	msg  ports.Message
	span trace.SpanContext
}

// consume runs sub.Subscribe("orders-sub") with h until n messages were
// handled (whatever h returned), and returns what h saw.
func consume(t *testing.T, sub ports.Subscriber, n int, h ports.Handler) []received {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan received, n)
	done := make(chan error, 1)
	go func() {
		done <- sub.Subscribe(ctx, "orders-sub", func(ctx context.Context, m ports.Message) error {
			defer func() { got <- received{m, trace.SpanContextFromContext(ctx)} }()
			return h(ctx, m)
		})
	}()
	var out []received
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case r := <-got:
			out = append(out, r)
		case err := <-done:
			t.Fatalf("Subscribe returned %v after %d messages", err, len(out))
		case <-timeout:
			t.Fatalf("%d messages handled in 30 s, want %d", len(out), n)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return out
}

// One trace from the producer's request to the consumer's handler, across
// the fake Pub/Sub.
func TestPublishSubscribeTrace(t *testing.T) {
	s := newSDK(t)
	ps := newPubSub(t, fakes.SubscriptionConfig{})
	pub := telemetry.Publisher(ps, s.opts()...)
	sub := telemetry.Subscriber(ps, s.opts()...)

	ctx, req := s.TP.Tracer("test").Start(context.Background(), "POST /orders")
	msg := ports.Message{Data: []byte(`{"id":1}`), Attributes: map[string]string{"kind": "created"}}
	ids, err := pub.Publish(ctx, "orders", msg)
	req.End()
	if err != nil || len(ids) != 1 {
		t.Fatalf("Publish = %v, %v", ids, err)
	}
	if len(msg.Attributes) != 1 {
		t.Errorf("the caller's attributes were modified: %v", msg.Attributes)
	}
	got := consume(t, sub, 1, func(context.Context, ports.Message) error { return nil })

	publish := s.Span("publish orders")
	process := s.Span("process orders-sub")
	if publish.SpanKind() != trace.SpanKindProducer || process.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kinds %v, %v", publish.SpanKind(), process.SpanKind())
	}
	if publish.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Error("publish is not a child of the request")
	}
	if process.Parent().SpanID() != publish.SpanContext().SpanID() || process.SpanContext().TraceID() != req.SpanContext().TraceID() {
		t.Error("process is not a child of publish, in the request's trace")
	}
	if !process.Parent().IsRemote() {
		t.Error("process's parent is not remote")
	}
	if !got[0].span.Equal(process.SpanContext()) {
		t.Error("the handler's context does not carry the process span")
	}
	m := got[0].msg
	if m.Attributes["kind"] != "created" || !strings.HasPrefix(m.Attributes[telemetry.AttrTraceParent], "00-"+req.SpanContext().TraceID().String()) {
		t.Errorf("delivered attributes %v", m.Attributes)
	}
	obstest.WantAttrs(t, publish, "messaging.system", "fake-pubsub")
	obstest.WantAttrs(t, publish, "messaging.destination.name", "orders")
	obstest.WantAttrs(t, publish, "messaging.operation.type", "send")
	obstest.WantAttrs(t, process, "messaging.destination.subscription.name", "orders-sub")
	obstest.WantAttrs(t, process, "messaging.operation.type", "process")
	obstest.WantAttrs(t, process, "messaging.message.id", ids[0])

	for _, c := range []struct {
		metric string
		kv     []string
		want   float64
	}{
		{telemetry.MetricSent, []string{"messaging.destination.name", "orders"}, 1},
		{telemetry.MetricBatchSize, []string{"messaging.destination.name", "orders"}, 1},
		{telemetry.MetricMsgDuration, []string{"messaging.operation.name", "publish"}, 1},
		{telemetry.MetricConsumed, []string{"messaging.destination.subscription.name", "orders-sub"}, 1},
		{telemetry.MetricProcessDuration, []string{"messaging.destination.subscription.name", "orders-sub"}, 1},
		{telemetry.MetricSettled, []string{"portkit.messaging.outcome", "ack"}, 1},
		{telemetry.MetricSettled, []string{"portkit.messaging.outcome", "nack"}, 0},
	} {
		if got := s.Total(c.metric, c.kv...); got != c.want {
			t.Errorf("%s %v = %v, want %v", c.metric, c.kv, got, c.want)
		}
	}
}

// A relay (an outbox's) forwards messages that carry their producers'
// trace contexts: they keep them, the relay's publish span links to each,
// and the consumer's span is a child of the producer's, not of the relay.
func TestForwardedTraceContext(t *testing.T) {
	s := newSDK(t)
	ps := newPubSub(t, fakes.SubscriptionConfig{})
	tracer := s.TP.Tracer("test")

	var stored []ports.Message // what an outbox stores at write time
	var producers []trace.SpanContext
	for i := range 2 {
		ctx, sp := tracer.Start(context.Background(), "POST /orders")
		attrs := map[string]string{"n": string(rune('a' + i))}
		telemetry.Inject(ctx, attrs)
		sp.End()
		stored = append(stored, ports.Message{Data: []byte("x"), Attributes: attrs})
		producers = append(producers, sp.SpanContext())
	}

	relayCtx, relay := tracer.Start(context.Background(), "relay")
	if _, err := telemetry.Publisher(ps, s.opts()...).Publish(relayCtx, "orders", stored...); err != nil {
		t.Fatal(err)
	}
	relay.End()
	got := consume(t, telemetry.Subscriber(ps, s.opts()...), 2, func(context.Context, ports.Message) error { return nil })

	publish := s.Span("publish orders")
	if publish.Parent().SpanID() != relay.SpanContext().SpanID() {
		t.Error("the relay's publish is not a child of the relay")
	}
	if len(publish.Links()) != 2 || publish.Links()[0].SpanContext.SpanID() != producers[0].SpanID() || publish.Links()[1].SpanContext.SpanID() != producers[1].SpanID() {
		t.Errorf("links %v, want the two producers", publish.Links())
	}
	obstest.WantAttrs(t, publish, "messaging.batch.message_count", "2")
	for _, r := range got {
		i := int(r.msg.Attributes["n"][0] - 'a')
		if r.span.TraceID() != producers[i].TraceID() {
			t.Errorf("message %d handled in trace %v, want its producer's %v", i, r.span.TraceID(), producers[i].TraceID())
		}
		if r.msg.Attributes[telemetry.AttrTraceParent] != stored[i].Attributes[telemetry.AttrTraceParent] {
			t.Errorf("message %d: traceparent overwritten", i)
		}
	}
	for _, sp := range s.Ended() {
		if sp.Name() == "process orders-sub" && sp.SpanContext().TraceID() == relay.SpanContext().TraceID() {
			t.Error("a process span is in the relay's trace")
		}
	}
}

// A message without a trace context is handled in a new trace, not as a
// child of whatever span Subscribe's own context carries.
func TestProcessWithoutTraceContext(t *testing.T) {
	s := newSDK(t)
	ps := newPubSub(t, fakes.SubscriptionConfig{})
	if _, err := ps.Publish(context.Background(), "orders", ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	sub := telemetry.Subscriber(ps, s.opts()...)
	got := consume(t, sub, 1, func(context.Context, ports.Message) error { return nil })
	process := s.Span("process orders-sub")
	if process.Parent().IsValid() {
		t.Errorf("process has parent %v", process.Parent())
	}
	if !got[0].span.Equal(process.SpanContext()) {
		t.Error("the handler's context does not carry the process span")
	}
}

func TestSettledAndDeadLettered(t *testing.T) {
	s := newSDK(t)
	ps := newPubSub(t, fakes.SubscriptionConfig{MaxDeliveryAttempts: 5, DeadLetterTopic: "orders-dlq"})
	if _, err := ps.Publish(context.Background(), "orders", ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	sub := telemetry.Subscriber(ps, s.opts(telemetry.WithDeadLetterPolicy("orders-sub", 5))...)
	fail := errors.New("handler failed")
	attempts := 0
	consume(t, sub, 5, func(context.Context, ports.Message) error {
		if attempts++; attempts == 2 {
			panic("boom")
		}
		return fail
	})
	if got := s.Total(telemetry.MetricSettled, "portkit.messaging.outcome", "nack"); got != 5 {
		t.Errorf("%v nacks, want 5", got)
	}
	if got := s.Total(telemetry.MetricDeadLettered, "messaging.destination.subscription.name", "orders-sub"); got != 1 {
		t.Errorf("%v dead-lettered, want 1", got)
	}
	if got := s.Total(telemetry.MetricProcessDuration, "error.type", "panic"); got != 1 {
		t.Errorf("%v panicking calls, want 1", got)
	}
	if got := s.Total(telemetry.MetricProcessDuration, "error.type", "none"); got != 4 {
		t.Errorf("%v failed calls, want 4", got)
	}
}

// Injection never makes a message that Publish must reject acceptable,
// nor an acceptable one too big, nor overwrites a user's attribute.
func TestInjectMessagesRules(t *testing.T) {
	s := newSDK(t)
	ctx, sp := s.TP.Tracer("test").Start(context.Background(), "parent")
	defer sp.End()

	full := map[string]string{}
	for i := range ports.MaxAttributes {
		full["k"+strings.Repeat("x", i)] = "v"
	}
	user := map[string]string{telemetry.AttrTraceState: "mine=1"}
	big := make([]byte, ports.MaxMessageBytes-10)
	in := []ports.Message{
		{},                                    // empty: must stay empty (ErrInvalid)
		{Data: []byte("ok")},                  // takes it
		{Attributes: full},                    // 100 attributes: one more breaks the limit
		{Data: big},                           // 10 bytes under the size limit
		{Data: []byte("x"), Attributes: user}, // the user's tracestate stays, alone
	}
	before := maps.Clone(user)
	out := telemetry.InjectMessages(ctx, in)
	if len(out[0].Attributes) != 0 {
		t.Errorf("the empty message got attributes %v", out[0].Attributes)
	}
	if tp := out[1].Attributes[telemetry.AttrTraceParent]; !strings.Contains(tp, sp.SpanContext().SpanID().String()) {
		t.Errorf("traceparent %q does not name the parent span", tp)
	}
	if len(out[2].Attributes) != ports.MaxAttributes || len(out[3].Attributes) != 0 {
		t.Error("a message at a limit got attributes")
	}
	if !maps.Equal(out[4].Attributes, before) || !maps.Equal(user, before) {
		t.Errorf("the user's trace state was changed: %v", out[4].Attributes)
	}
	if in[1].Attributes != nil {
		t.Error("the caller's message was modified")
	}
	for i, m := range out[1:] {
		if err := ports.ValidateMessage(m); err != nil {
			t.Errorf("message %d is invalid after injection: %v", i+1, err)
		}
	}

	// Through a decorated Publisher the empty message is still refused.
	ps := newPubSub(t, fakes.SubscriptionConfig{})
	if _, err := telemetry.Publisher(ps, s.opts()...).Publish(ctx, "orders", ports.Message{}); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Publish of an empty message: %v", err)
	}
	if got := s.Total(telemetry.MetricSent, "error.type", "ErrInvalid"); got != 1 {
		t.Errorf("%v failed sends, want 1", got)
	}
}

// With no SDK anywhere, a trace context the caller's ctx carries still
// travels: a process without an SDK does not cut a trace.
func TestPropagationWithoutSDK(t *testing.T) {
	ps := newPubSub(t, fakes.SubscriptionConfig{})
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	if _, err := telemetry.Publisher(ps).Publish(ctx, "orders", ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	got := consume(t, telemetry.Subscriber(ps), 1, func(context.Context, ports.Message) error { return nil })
	if got[0].span.TraceID() != remote.TraceID() || got[0].span.SpanID() != remote.SpanID() {
		t.Errorf("handler context %v, want the producer's %v", got[0].span, remote)
	}
}
