package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// messaging is what both the fake and the adapter are.
type messaging interface {
	ports.Publisher
	ports.Subscriber
	ports.Admin
	ports.Connector
}

// TestFakeParity runs the same operations on the PubSub fake and on the
// adapter (pstest and Google's emulator) and compares what each returns:
// the sentinel of every error, the number of IDs, and the fields of a
// received message that the port leaves to the backend.
func TestFakeParity(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		fake := fakes.NewPubSub(fakes.WithProject(testProject), fakes.WithLogger(testLogger(t)))
		t.Cleanup(func() { _ = fake.Close(context.Background()) })
		real := open(t, cfg)
		fakeOut, realOut := parityScript(t, fake), parityScript(t, real)
		for i := range max(len(fakeOut), len(realOut)) {
			var f, r string
			if i < len(fakeOut) {
				f = fakeOut[i]
			}
			if i < len(realOut) {
				r = realOut[i]
			}
			if f != r {
				t.Errorf("step %d: fake %q, adapter %q", i, f, r)
			}
		}
	})
}

// parityScript runs the operations on m and describes each outcome.
func parityScript(t *testing.T, m messaging) []string {
	ctx := t.Context()
	var out []string
	note := func(what string, err error) {
		out = append(out, what+": "+ports.KindName(err))
	}
	publish := func(what, topic string, msgs ...ports.Message) []string {
		ids, err := m.Publish(ctx, topic, msgs...)
		var pe *ports.PublishError
		failed := -1
		if errors.As(err, &pe) {
			failed = len(pe.Failures)
		}
		out = append(out, fmt.Sprintf("%s: %s, %d ids, %d failures", what, ports.KindName(err), len(ids), failed))
		return ids
	}
	h := func(context.Context, ports.Message) error { return nil }
	topic, dead, sub := testenv.UniqueName("t"), testenv.UniqueName("d"), testenv.UniqueName("s")
	full := "projects/" + testProject + "/topics/" + topic

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
	note("EnsureSubscription missing topic", m.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: testenv.UniqueName("missing")}))
	note("EnsureSubscription missing dead-letter topic", m.EnsureSubscription(ctx, testenv.UniqueName("s"),
		ports.SubscriptionConfig{Topic: topic, MaxDeliveryAttempts: 5, DeadLetterTopic: testenv.UniqueName("missing")}))
	note("EnsureSubscription 4 attempts", m.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: topic, MaxDeliveryAttempts: 4, DeadLetterTopic: dead}))
	note("EnsureSubscription 601s", m.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: topic, AckDeadline: 601 * time.Second}))
	note("Subscribe missing", m.Subscribe(ctx, testenv.UniqueName("missing"), h))
	note("Subscribe nil handler", m.Subscribe(ctx, sub, nil))

	publish("Publish none", topic)
	publish("Publish missing topic", testenv.UniqueName("missing"), ports.Message{Data: []byte("x")}, ports.Message{Data: []byte("y")})
	publish("Publish empty message", topic, ports.Message{Data: []byte("x")}, ports.Message{})
	publish("Publish goog attribute", topic, ports.Message{Attributes: map[string]string{"goog": "x"}})
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
		out = append(out, fmt.Sprintf("message %d: data %q (nil %t), attributes %v (nil %t), key %q, attempt %d, decimal ID %t, ms time %t",
			i, msg.Data, msg.Data == nil, msg.Attributes, msg.Attributes == nil, msg.OrderingKey, msg.DeliveryAttempt,
			strings.Trim(msg.ID, "0123456789") == "" || strings.HasPrefix(msg.ID, "m"), // pstest's IDs are m<n>
			msg.PublishTime.Equal(msg.PublishTime.Truncate(time.Millisecond)) || strings.HasPrefix(msg.ID, "m")))
	}

	cancelled, stop := context.WithCancel(ctx)
	stop()
	note("Check cancelled", m.Check(cancelled))
	note("Subscribe cancelled, missing", m.Subscribe(cancelled, testenv.UniqueName("missing"), h))
	_, err = m.Publish(cancelled, topic)
	note("Publish none cancelled", err)
	note("Close", m.Close(ctx))
	note("Close again", m.Close(ctx))
	_, err = m.Publish(ctx, topic)
	note("Publish none after Close", err)
	note("EnsureTopic bad after Close", m.EnsureTopic(ctx, "ab"))
	note("Subscribe nil after Close", m.Subscribe(ctx, "", nil))
	return out
}
