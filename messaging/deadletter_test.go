package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

func deadLetter(t *testing.T, pub ports.Publisher, n int, counter messaging.DeliveryCounter) messaging.Middleware {
	t.Helper()
	log, _ := newLogger()
	return must[messaging.Middleware](t)(messaging.DeadLetter(messaging.DeadLetterConfig{
		Publisher: pub, Topic: "dead", Subscription: "orders-projector", MaxDeliveries: n, Counter: counter, Logger: log,
	}))
}

func failing(context.Context, ports.Message) error {
	return ports.NewError("x", "handle", ports.ErrUnavailable, errBoom)
}

func TestDeadLetterByDeliveryAttempt(t *testing.T) {
	pub := &recordingPublisher{}
	h := deadLetter(t, pub, 3, nil)(failing)
	m := msg
	m.PublishTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	m.OrderingKey = "order-7"
	for attempt := 1; attempt <= 2; attempt++ {
		m.DeliveryAttempt = attempt
		if err := h(context.Background(), m); !errors.Is(err, errBoom) {
			t.Fatalf("attempt %d: err = %v, want the handler's (nack)", attempt, err)
		}
	}
	if got := pub.published("dead"); len(got) != 0 {
		t.Fatalf("dead-lettered after 2 of 3 deliveries: %v", got)
	}
	m.DeliveryAttempt = 3
	if err := h(context.Background(), m); err != nil {
		t.Fatalf("third delivery: err = %v, want nil (ack after dead-lettering)", err)
	}
	dead := pub.published("dead")
	if len(dead) != 1 {
		t.Fatalf("%d dead-lettered messages, want 1", len(dead))
	}
	d := dead[0]
	if string(d.Data) != string(m.Data) || d.OrderingKey != "order-7" || d.Attributes["k"] != "v" {
		t.Fatalf("dead-lettered message lost its content: %+v", d)
	}
	want := map[string]string{
		ports.AttrDeadLetterSubscription:     "orders-projector",
		ports.AttrDeadLetterDeliveryCount:    "3",
		ports.AttrDeadLetterTopicPublishTime: "2025-01-02T03:04:05Z",
		messaging.AttrDeadLetterMessageID:    "m1",
	}
	for k, v := range want {
		if d.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, d.Attributes[k], v)
		}
	}
	if r := d.Attributes[messaging.AttrDeadLetterReason]; !strings.HasPrefix(r, "ErrUnavailable: ") || !strings.Contains(r, "boom") {
		t.Errorf("reason = %q", r)
	}
	if len(msg.Attributes) != 1 {
		t.Fatalf("the original message's attributes were modified: %v", msg.Attributes)
	}
}

func TestDeadLetterCountsWhenTheBackendDoesNot(t *testing.T) {
	pub := &recordingPublisher{}
	counter := messaging.NewLocalCounter(0)
	h := deadLetter(t, pub, 2, counter)(failing)
	m := msg // DeliveryAttempt 0: the backend does not count
	if err := h(context.Background(), m); err == nil {
		t.Fatal("first delivery acked")
	}
	other := msg
	other.ID = "m2"
	if err := h(context.Background(), other); err == nil {
		t.Fatal("another message's first delivery acked")
	}
	if len(pub.published("dead")) != 0 {
		t.Fatal("dead-lettered too early")
	}
	if err := h(context.Background(), m); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	dead := pub.published("dead")
	if len(dead) != 1 || dead[0].Attributes[ports.AttrDeadLetterDeliveryCount] != "2" {
		t.Fatalf("dead = %+v", dead)
	}
	if counter.Len() != 1 {
		t.Fatalf("counter holds %d keys, want 1 (m1 forgotten once moved)", counter.Len())
	}
	// The stable ID attribute is the key when present: a republication
	// (new server ID) continues the count.
	pub2 := &recordingPublisher{}
	h = deadLetter(t, pub2, 2, messaging.NewLocalCounter(0))(failing)
	a := ports.Message{ID: "s1", Data: []byte("x"), Attributes: map[string]string{messaging.AttrMessageID: "stable"}}
	b := a
	b.ID = "s2"
	_ = h(context.Background(), a)
	if err := h(context.Background(), b); err != nil || len(pub2.published("dead")) != 1 {
		t.Fatalf("republication not counted together: err = %v", err)
	}
}

func TestDeadLetterSuccessForgetsTheCount(t *testing.T) {
	pub := &recordingPublisher{}
	counter := messaging.NewLocalCounter(0)
	fail := true
	h := deadLetter(t, pub, 2, counter)(func(ctx context.Context, m ports.Message) error {
		if fail {
			return errBoom
		}
		return nil
	})
	_ = h(context.Background(), msg)
	fail = false
	if err := h(context.Background(), msg); err != nil || counter.Len() != 0 {
		t.Fatalf("err = %v, counter len %d", err, counter.Len())
	}
}

func TestDeadLetterPermanentAtOnce(t *testing.T) {
	pub := &recordingPublisher{}
	h := deadLetter(t, pub, 5, nil)(func(context.Context, ports.Message) error {
		return messaging.Permanent(fmt.Errorf("order %d cannot exist", 0))
	})
	if err := h(context.Background(), msg); err != nil {
		t.Fatalf("err = %v", err)
	}
	dead := pub.published("dead")
	if len(dead) != 1 {
		t.Fatalf("%d dead-lettered, want 1 at the first delivery", len(dead))
	}
	if _, ok := dead[0].Attributes[ports.AttrDeadLetterDeliveryCount]; ok {
		t.Fatal("a delivery count was invented for a backend that does not count")
	}
}

func TestDeadLetterPublishFailureNacks(t *testing.T) {
	pub := &recordingPublisher{fail: ports.NewError("pub", "publish", ports.ErrUnavailable, nil)}
	h := deadLetter(t, pub, 1, nil)(failing)
	err := h(context.Background(), msg)
	if !errors.Is(err, errBoom) || !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("err = %v, want the handler's and the publish's", err)
	}
}

func TestDeadLetterKeepsWithinTheLimits(t *testing.T) {
	pub := &recordingPublisher{}
	h := deadLetter(t, pub, 1, nil)(failing)
	m := ports.Message{ID: "m", Data: []byte("x"), Attributes: map[string]string{}}
	for i := range ports.MaxAttributes - 2 {
		m.Attributes["a"+strconv.Itoa(i)] = "v"
	}
	if err := h(context.Background(), m); err != nil {
		t.Fatalf("err = %v", err)
	}
	d := pub.published("dead")[0]
	if len(d.Attributes) != ports.MaxAttributes {
		t.Fatalf("%d attributes", len(d.Attributes))
	}
	if d.Attributes[messaging.AttrDeadLetterReason] == "" || d.Attributes[ports.AttrDeadLetterSubscription] == "" {
		t.Fatalf("reason and source left out first: %v", d.Attributes)
	}
	// A long, invalid-UTF-8 reason is cut to a valid attribute value.
	h = deadLetter(t, pub, 1, nil)(func(context.Context, ports.Message) error {
		return errors.New(strings.Repeat("é", 2000) + "\xff")
	})
	if err := h(context.Background(), msg); err != nil {
		t.Fatalf("long reason: %v", err)
	}
}

func TestDeadLetterConfig(t *testing.T) {
	pub := &recordingPublisher{}
	for name, cfg := range map[string]messaging.DeadLetterConfig{
		"no publisher":    {Topic: "d", Subscription: "s", MaxDeliveries: 1},
		"no topic":        {Publisher: pub, Subscription: "s", MaxDeliveries: 1},
		"no subscription": {Publisher: pub, Topic: "d", MaxDeliveries: 1},
		"no deliveries":   {Publisher: pub, Topic: "d", Subscription: "s"},
	} {
		if _, err := messaging.DeadLetter(cfg); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestLocalCounterIsBounded(t *testing.T) {
	c := messaging.NewLocalCounter(2)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "a", "c"} { // b is the least recent when c comes
		if _, err := c.Failed(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d", c.Len())
	}
	if n, _ := c.Failed(ctx, "a"); n != 3 {
		t.Fatalf("a = %d, want 3", n)
	}
	if n, _ := c.Failed(ctx, "b"); n != 1 {
		t.Fatalf("b = %d, want 1 (evicted)", n)
	}
}

func TestCacheCounter(t *testing.T) {
	ctx := context.Background()
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cache := fakes.NewCache(fakes.WithClock(clock))
	defer cache.Close(ctx)
	c := messaging.CacheCounter{Cache: cache, Prefix: "pk_mg:dl:", TTL: time.Hour}
	for want := 1; want <= 3; want++ {
		if n, err := c.Failed(ctx, "m1"); err != nil || n != want {
			t.Fatalf("Failed = %d, %v; want %d", n, err, want)
		}
	}
	clock.Advance(2 * time.Hour)
	if n, _ := c.Failed(ctx, "m1"); n != 1 {
		t.Fatalf("after the TTL: %d, want 1", n)
	}
	if err := c.Forget(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Failed(ctx, "m1"); n != 1 {
		t.Fatalf("after Forget: %d, want 1", n)
	}
	cache.SetUnavailable(true)
	if _, err := c.Failed(ctx, "m1"); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("cache down: %v", err)
	}
}
