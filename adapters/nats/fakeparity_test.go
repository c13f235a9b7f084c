package nats_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// messaging is what both the fake and the adapter are.
type messagingImpl interface {
	ports.Publisher
	ports.Subscriber
	ports.Admin
	ports.Connector
}

// parityFlags are the documented differences between the PubSub fake
// (which follows Google Pub/Sub) and the NATS adapter: the step, and what
// each side says there. Every other step must agree.
var parityFlags = map[string]struct{ fake, nats string }{
	// Topics and subscriptions have no project on NATS: a Google full
	// name is not a name the naming rule accepts.
	"EnsureTopic by full name":   {"ErrNone", "ErrInvalid"},
	"Publish by full name":       {"ErrNone, 1 ids, -1 failures", "ErrInvalid, 0 ids, -1 failures"},
	"message 0 attempt and time": {"attempt 0, ms time true", "attempt 1, ms time false"},
	"message 1 attempt and time": {"attempt 0, ms time true", "attempt 1, ms time false"},
}

// TestFakeParity runs the same operations on the PubSub fake and on the
// adapter and compares what each returns: the sentinel of every error, the
// number of IDs, and the fields of a received message that the port
// leaves to the backend. The differences are the flags above: NATS always
// counts deliveries (DeliveryAttempt 1 on a first delivery, with or
// without a dead-letter policy), stamps messages with nanoseconds, and
// takes no Google full names.
func TestFakeParity(t *testing.T) {
	t.Parallel()
	fake := fakes.NewPubSub(fakes.WithLogger(testLogger(t)))
	t.Cleanup(func() { _ = fake.Close(context.Background()) })
	real := open(t, testConfig(t))
	fakeOut, realOut := parityScript(t, fake, "projects/"+fakes.DefaultPubSubProject), parityScript(t, real, "projects/"+fakes.DefaultPubSubProject)
	if len(fakeOut) != len(realOut) {
		t.Fatalf("the fake ran %d steps, the adapter %d", len(fakeOut), len(realOut))
	}
	for i := range fakeOut {
		f, r := fakeOut[i], realOut[i]
		step, fv, _ := strings.Cut(f, ": ")
		_, rv, _ := strings.Cut(r, ": ")
		if flag, ok := parityFlags[step]; ok {
			if fv != flag.fake || rv != flag.nats {
				t.Errorf("step %d %q: fake %q, adapter %q; the flag says fake %q, adapter %q", i, step, fv, rv, flag.fake, flag.nats)
			}
			continue
		}
		if f != r {
			t.Errorf("step %d: fake %q, adapter %q", i, f, r)
		}
	}
}

// parityScript runs the operations on m and describes each outcome.
func parityScript(t *testing.T, m messagingImpl, project string) []string {
	ctx := t.Context()
	var out []string
	kind := func(err error) string {
		if err == nil {
			return "ErrNone"
		}
		return ports.KindName(err)
	}
	note := func(what string, err error) {
		out = append(out, what+": "+kind(err))
	}
	publish := func(what, topic string, msgs ...ports.Message) []string {
		ids, err := m.Publish(ctx, topic, msgs...)
		var pe *ports.PublishError
		failed := -1
		if errors.As(err, &pe) {
			failed = len(pe.Failures)
		}
		out = append(out, fmt.Sprintf("%s: %s, %d ids, %d failures", what, kind(err), len(ids), failed))
		return ids
	}
	h := func(context.Context, ports.Message) error { return nil }
	topic, dead, sub := testenv.UniqueName("t"), testenv.UniqueName("d"), testenv.UniqueName("s")
	full := project + "/topics/" + topic

	note("EnsureTopic", m.EnsureTopic(ctx, topic))
	note("EnsureTopic again", m.EnsureTopic(ctx, topic))
	note("EnsureTopic by full name", m.EnsureTopic(ctx, full))
	note("EnsureTopic dead", m.EnsureTopic(ctx, dead))
	for _, bad := range []string{"ab", "1abc", "goog-x", "a b", "é-abc", strings.Repeat("a", 256)} {
		note("EnsureTopic "+bad[:2], m.EnsureTopic(ctx, bad))
		publish("Publish to bad name "+bad[:2], bad, ports.Message{Data: []byte("x")})
		note("Subscribe to bad name "+bad[:2], m.Subscribe(ctx, bad, h))
	}
	cfg := ports.SubscriptionConfig{Topic: topic, AckDeadline: 30 * time.Second}
	note("EnsureSubscription", m.EnsureSubscription(ctx, sub, cfg))
	note("EnsureSubscription again", m.EnsureSubscription(ctx, sub, cfg))
	note("EnsureSubscription other deadline", m.EnsureSubscription(ctx, sub, ports.SubscriptionConfig{Topic: topic}))
	note("EnsureSubscription other topic", m.EnsureSubscription(ctx, sub, ports.SubscriptionConfig{Topic: dead, AckDeadline: 30 * time.Second}))
	note("EnsureSubscription other ordering", m.EnsureSubscription(ctx, sub, ports.SubscriptionConfig{Topic: topic, AckDeadline: 30 * time.Second, Ordering: true}))
	note("EnsureSubscription missing topic", m.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: testenv.UniqueName("missing")}))
	note("EnsureSubscription missing dead-letter topic", m.EnsureSubscription(ctx, testenv.UniqueName("s"),
		ports.SubscriptionConfig{Topic: topic, MaxDeliveryAttempts: 5, DeadLetterTopic: testenv.UniqueName("missing")}))
	note("EnsureSubscription 4 attempts", m.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: topic, MaxDeliveryAttempts: 4, DeadLetterTopic: dead}))
	note("EnsureSubscription 601s", m.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: topic, AckDeadline: 601 * time.Second}))
	note("EnsureSubscription bad name", m.EnsureSubscription(ctx, "ab", cfg))
	note("Subscribe missing", m.Subscribe(ctx, testenv.UniqueName("missing"), h))
	note("Subscribe nil handler", m.Subscribe(ctx, sub, nil))

	publish("Publish none", topic)
	publish("Publish missing topic", testenv.UniqueName("missing"), ports.Message{Data: []byte("x")}, ports.Message{Data: []byte("y")})
	publish("Publish empty message", topic, ports.Message{Data: []byte("x")}, ports.Message{})
	publish("Publish goog attribute", topic, ports.Message{Attributes: map[string]string{"goog": "x"}})
	publish("Publish bad UTF-8 attribute", topic, ports.Message{Data: []byte("x"), Attributes: map[string]string{"k": "\xff"}})
	publish("Publish too large", topic, ports.Message{Data: make([]byte, ports.MaxMessageBytes+1)})
	ids := publish("Publish", topic,
		ports.Message{Data: []byte("one"), Attributes: map[string]string{}, OrderingKey: "k"},
		ports.Message{Attributes: map[string]string{"a": ""}})
	publish("Publish by full name", full, ports.Message{Data: []byte("two")})

	var mu sync.Mutex
	got := map[string]ports.Message{}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := m.Subscribe(rctx, sub, func(_ context.Context, msg ports.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if len(ids) == 2 && (msg.ID == ids[0] || msg.ID == ids[1]) {
			got[msg.ID] = msg
		}
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	note("Subscribe", err)
	mu.Lock()
	defer mu.Unlock()
	for i, id := range ids {
		msg := got[id]
		out = append(out, fmt.Sprintf("message %d: data %q (nil %t), attributes %v (nil %t), key %q, decimal ID %t",
			i, msg.Data, msg.Data == nil, msg.Attributes, msg.Attributes == nil, msg.OrderingKey,
			msg.ID != "" && strings.Trim(msg.ID, "0123456789") == ""))
		out = append(out, fmt.Sprintf("message %d attempt and time: attempt %d, ms time %t", i, msg.DeliveryAttempt,
			msg.PublishTime.Equal(msg.PublishTime.Truncate(time.Millisecond))))
	}

	cancelled, stop := context.WithCancel(ctx)
	stop()
	note("Check cancelled", m.Check(cancelled))
	note("Subscribe cancelled, missing", m.Subscribe(cancelled, testenv.UniqueName("missing"), h))
	_, err = m.Publish(cancelled, topic)
	note("Publish none cancelled", err)
	note("EnsureTopic cancelled", m.EnsureTopic(cancelled, topic))
	note("Close", m.Close(ctx))
	note("Close again", m.Close(ctx))
	_, err = m.Publish(ctx, topic)
	note("Publish none after Close", err)
	note("EnsureTopic bad after Close", m.EnsureTopic(ctx, "ab"))
	note("Subscribe nil after Close", m.Subscribe(ctx, "", nil))
	return out
}
