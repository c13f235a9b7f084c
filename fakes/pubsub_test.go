package fakes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// pubsubWith returns a PubSub with topic "topic" and the given
// subscriptions to it.
func pubsubWith(t *testing.T, cfg ports.SubscriptionConfig, subs ...string) *fakes.PubSub {
	t.Helper()
	ps := fakes.NewPubSub(fakes.WithRedeliveryDelay(time.Millisecond))
	t.Cleanup(func() { _ = ps.Close(context.Background()) })
	if err := ps.EnsureTopic(t.Context(), "topic"); err != nil {
		t.Fatal(err)
	}
	cfg.Topic = "topic"
	for _, s := range subs {
		if err := ps.EnsureSubscription(t.Context(), s, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

// collect subscribes until stop reports true of the deliveries so far (or
// waitBound passes), with h deciding each outcome, and returns the
// deliveries in order.
func collect(t *testing.T, ps *fakes.PubSub, sub string, h func(m ports.Message, n int) error, stop func([]ports.Message) bool) []ports.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	var (
		mu  sync.Mutex
		got []ports.Message
	)
	err := ps.Subscribe(ctx, sub, func(_ context.Context, m ports.Message) error {
		mu.Lock()
		got = append(got, m)
		n := len(got)
		if stop(got) {
			cancel()
		}
		mu.Unlock()
		if h == nil {
			return nil
		}
		return h(m, n)
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !stop(got) {
		t.Fatalf("only %d deliveries within %s", len(got), waitBound)
	}
	return got
}

func count(n int) func([]ports.Message) bool {
	return func(got []ports.Message) bool { return len(got) >= n }
}

func datas(ms []ports.Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, string(m.Data))
	}
	return strings.Join(s, " ")
}

func TestPublishedInspection(t *testing.T) {
	ctx := t.Context()
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 123456789, time.UTC))
	ps := fakes.NewPubSub(fakes.WithClock(clock))
	defer ps.Close(ctx)
	_ = ps.EnsureTopic(ctx, "topic")
	_ = ps.EnsureSubscription(ctx, "early", ports.SubscriptionConfig{Topic: "topic"})
	data := []byte("one")
	ids, err := ps.Publish(ctx, "topic", ports.Message{Data: data, Attributes: map[string]string{"k": "v"}}, ports.Message{Data: []byte("two")})
	if err != nil || len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("Publish = %v, %v", ids, err)
	}
	data[0] = 'X'
	_ = ps.EnsureSubscription(ctx, "late", ports.SubscriptionConfig{Topic: "topic"})
	got := ps.Published("topic")
	// Google Pub/Sub's publish times have millisecond precision.
	want := clock.Now().Truncate(time.Millisecond)
	if len(got) != 2 || string(got[0].Data) != "one" || got[0].Attributes["k"] != "v" || got[1].ID != ids[1] || !got[0].PublishTime.Equal(want) {
		t.Fatalf("Published = %+v", got)
	}
	got[0].Data[0] = 'Y'
	if string(ps.Published("topic")[0].Data) != "one" {
		t.Errorf("Published shares memory with the fake")
	}
	if p := ps.Pending("early"); p != 2 {
		t.Errorf("Pending(early) = %d, want 2", p)
	}
	if p := ps.Pending("late"); p != 0 {
		t.Errorf("Pending(late) = %d, want 0: it was created after the publish", p)
	}
}

// TestPubSubGoogleBehaviour: where the port leaves it to the backend, the
// fake does what Google Pub/Sub does (adapters/pubsub
// TestRecordedBehaviour records it on the emulator).
func TestPubSubGoogleBehaviour(t *testing.T) {
	ps := pubsubWith(t, ports.SubscriptionConfig{}, "plain")
	ctx := t.Context()
	_ = ps.EnsureTopic(ctx, "alone")
	if ids, err := ps.Publish(ctx, "alone", ports.Message{Data: []byte("nobody listens")}); err != nil || len(ids) != 1 || ids[0] != "1" {
		t.Errorf("publish to a topic with no subscription = %q, %v; want ID 1", ids, err)
	}
	ids, err := ps.Publish(ctx, "topic",
		ports.Message{Data: []byte("keyed"), OrderingKey: "k", Attributes: map[string]string{}},
		ports.Message{Attributes: map[string]string{"only": "attrs"}, Data: []byte{}})
	if err != nil || fmt.Sprint(ids) != "[2 3]" {
		t.Fatalf("Publish = %q, %v; want decimal IDs 2 and 3", ids, err)
	}
	if ids, err := ps.Publish(ctx, "topic"); err != nil || ids == nil || len(ids) != 0 {
		t.Errorf("Publish of no message = %#v, %v; want no ID and nil", ids, err)
	}
	byID := map[string]ports.Message{}
	for _, m := range collect(t, ps, "plain", nil, count(2)) {
		byID[m.ID] = m
	}
	keyed, attrs := byID[ids[0]], byID[ids[1]]
	if keyed.OrderingKey != "k" {
		t.Errorf("ordering key %q on a subscription without ordering, want it delivered", keyed.OrderingKey)
	}
	if keyed.Attributes != nil || attrs.Data != nil {
		t.Errorf("empty attributes %#v and data %#v, want both nil", keyed.Attributes, attrs.Data)
	}
	if keyed.DeliveryAttempt != 0 {
		t.Errorf("DeliveryAttempt %d without a dead-letter policy, want 0", keyed.DeliveryAttempt)
	}
	if !keyed.PublishTime.Equal(keyed.PublishTime.Truncate(time.Millisecond)) {
		t.Errorf("publish time %s has more than millisecond precision", keyed.PublishTime.Format(time.RFC3339Nano))
	}
}

func TestPubSubRedeliveryAndPanic(t *testing.T) {
	var logs syncBuffer
	ps := fakes.NewPubSub(fakes.WithRedeliveryDelay(time.Millisecond), fakes.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	t.Cleanup(func() { _ = ps.Close(context.Background()) })
	ctx := t.Context()
	_ = ps.EnsureTopic(ctx, "topic")
	_ = ps.EnsureTopic(ctx, "dead")
	_ = ps.EnsureSubscription(ctx, "plain", ports.SubscriptionConfig{Topic: "topic"})
	_ = ps.EnsureSubscription(ctx, "counted", ports.SubscriptionConfig{Topic: "topic", MaxDeliveryAttempts: 5, DeadLetterTopic: "dead"})
	if _, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte("secret-payload")}); err != nil {
		t.Fatal(err)
	}
	h := func(_ ports.Message, n int) error {
		switch n {
		case 1:
			return errors.New("nack")
		case 2:
			panic("handler bug")
		}
		return nil
	}
	for sub, want := range map[string]string{"plain": "[0 0 0]", "counted": "[1 2 3]"} {
		var attempts []int
		for _, m := range collect(t, ps, sub, h, count(3)) {
			attempts = append(attempts, m.DeliveryAttempt)
		}
		if fmt.Sprint(attempts) != want {
			t.Errorf("%s: delivery attempts %v, want %s", sub, attempts, want)
		}
		if ps.Acked(sub) != 1 || ps.Nacked(sub) != 2 || ps.Pending(sub) != 0 {
			t.Errorf("%s: acked %d nacked %d pending %d, want 1 2 0", sub, ps.Acked(sub), ps.Nacked(sub), ps.Pending(sub))
		}
	}
	out := logs.String()
	if strings.Count(out, "handler panicked") != 2 || !strings.Contains(out, "stack=") || strings.Contains(out, "secret-payload") {
		t.Errorf("want one panic line per panic, with the stack and without the data:\n%s", out)
	}
}

// TestPubSubOrderingUnderNack: after a nack on an ordering subscription,
// the later messages of the key go on until the redelivery delay passes;
// then the nacked message and every later one handed out since,
// acknowledged or not, come again in order (Google's guarantee; the
// emulator and pstest each differ: adapters/pubsub TestOrderingUnderNack).
func TestPubSubOrderingUnderNack(t *testing.T) {
	ps := fakes.NewPubSub(fakes.WithRedeliveryDelay(300 * time.Millisecond))
	t.Cleanup(func() { _ = ps.Close(context.Background()) })
	ctx := t.Context()
	_ = ps.EnsureTopic(ctx, "topic")
	_ = ps.EnsureSubscription(ctx, "ordered", ports.SubscriptionConfig{Topic: "topic", Ordering: true})
	var msgs []ports.Message
	for i := range 6 {
		msgs = append(msgs, ports.Message{Data: []byte("A" + strconv.Itoa(i)), OrderingKey: "A"})
	}
	msgs = append(msgs, ports.Message{Data: []byte("B0"), OrderingKey: "B"})
	if _, err := ps.Publish(ctx, "topic", msgs...); err != nil {
		t.Fatal(err)
	}
	nacked := false
	got := collect(t, ps, "ordered", func(m ports.Message, _ int) error {
		if string(m.Data) == "A2" && !nacked {
			nacked = true
			return errors.New("nack")
		}
		return nil
	}, count(11))
	var a []ports.Message
	for _, m := range got {
		if m.OrderingKey == "A" {
			a = append(a, m)
		}
	}
	if s := datas(a); s != "A0 A1 A2 A3 A4 A5 A2 A3 A4 A5" {
		t.Errorf("deliveries of key A: %s, want A0 A1 A2 A3 A4 A5 A2 A3 A4 A5", s)
	}
	if ps.Pending("ordered") != 0 {
		t.Errorf("Pending = %d after everything was acked", ps.Pending("ordered"))
	}
}

func TestPubSubOrderingAndFanOut(t *testing.T) {
	ps := pubsubWith(t, ports.SubscriptionConfig{Ordering: true}, "one", "two")
	ctx := t.Context()
	const n = 30
	for i := range n {
		key := "k" + strconv.Itoa(i%3)
		if _, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte(strconv.Itoa(i)), OrderingKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"one", "two"} {
		var (
			mu      sync.Mutex
			running = map[string]int{}
			overlap bool
			got     []int
			keys    []string
			seen    = map[int]bool{}
		)
		sctx, cancel := context.WithTimeout(ctx, waitBound)
		go func() {
			for sctx.Err() == nil && (ps.Pending(sub) > 0 || ps.Acked(sub) < n) {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		err := ps.Subscribe(sctx, sub, func(_ context.Context, m ports.Message) error {
			i, _ := strconv.Atoi(string(m.Data))
			mu.Lock()
			running[m.OrderingKey]++
			overlap = overlap || running[m.OrderingKey] > 1
			got = append(got, i)
			keys = append(keys, m.OrderingKey)
			nack := i%4 == 0 && !seen[i]
			seen[i] = true
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			running[m.OrderingKey]--
			mu.Unlock()
			if nack {
				return errors.New("retry me")
			}
			return nil
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if overlap {
			t.Errorf("%s: two messages of one key were handled at once", sub)
		}
		if ps.Pending(sub) != 0 {
			t.Errorf("%s: %d messages still pending", sub, ps.Pending(sub))
		}
		// Within a key, each delivery is the next message of the key, or
		// a restart at an earlier one (a redelivery after a nack).
		last := map[string]int{}
		for j, i := range got {
			k := keys[j]
			if prev, ok := last[k]; ok && i > prev && i != prev+3 {
				t.Errorf("%s: key %s skipped from %d to %d", sub, k, prev, i)
			} else if !ok && i >= 3 {
				t.Errorf("%s: key %s started at %d", sub, k, i)
			}
			last[k] = i
		}
		mu.Unlock()
	}
}

func TestPubSubSubscribeErrors(t *testing.T) {
	ps := pubsubWith(t, ports.SubscriptionConfig{}, "sub")
	ctx := t.Context()
	h := func(context.Context, ports.Message) error { return nil }
	if err := ps.Subscribe(ctx, "nope", h); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Subscribe to an unknown subscription: %v, want ErrNotFound", err)
	}
	if err := ps.CreateSubscription(ctx, "sub", "topic", ports.SubscriptionConfig{}); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("CreateSubscription of an existing name: %v, want ErrConflict", err)
	}
	if err := ps.CreateTopic(ctx, "topic"); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("CreateTopic of an existing name: %v, want ErrConflict", err)
	}
	if err := ps.CreateSubscription(ctx, "other", "nope", ports.SubscriptionConfig{}); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("CreateSubscription to an unknown topic: %v, want ErrNotFound", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := ps.Subscribe(cancelled, "nope", h); ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled ctx: %v, want ErrUnavailable wrapping context.Canceled", err)
	}
	// Close during Subscribe: Subscribe waits for its running handler and
	// returns ErrClosed.
	if _, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	handled := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ps.Subscribe(ctx, "sub", func(context.Context, ports.Message) error {
			close(started)
			<-release
			close(handled)
			return nil
		})
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- ps.Close(ctx) }()
	close(release)
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-handled:
	default:
		t.Errorf("Close returned before the running handler finished")
	}
	if err := <-done; !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Subscribe interrupted by Close: %v, want ErrClosed", err)
	}
	if err := ps.Subscribe(ctx, "sub", h); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
}

// TestPubSubEntryOrder: Close, then a nil ctx, then a done ctx, then the
// arguments.
func TestPubSubEntryOrder(t *testing.T) {
	ps := pubsubWith(t, ports.SubscriptionConfig{}, "sub")
	h := func(context.Context, ports.Message) error { return nil }
	calls := map[string]func(context.Context) error{
		"Check":             ps.Check,
		"Publish none":      func(ctx context.Context) error { _, err := ps.Publish(ctx, "topic"); return err },
		"Publish bad":       func(ctx context.Context) error { _, err := ps.Publish(ctx, "", ports.Message{}); return err },
		"Subscribe missing": func(ctx context.Context) error { return ps.Subscribe(ctx, "missing", h) },
		"Subscribe nil":     func(ctx context.Context) error { return ps.Subscribe(ctx, "", nil) },
		"EnsureTopic bad":   func(ctx context.Context) error { return ps.EnsureTopic(ctx, "x") },
		"EnsureSubscription bad": func(ctx context.Context) error {
			return ps.EnsureSubscription(ctx, "", ports.SubscriptionConfig{MaxDeliveryAttempts: 1})
		},
		"CreateTopic bad": func(ctx context.Context) error { return ps.CreateTopic(ctx, "") },
		"CreateSubscription bad": func(ctx context.Context) error {
			return ps.CreateSubscription(ctx, "", "", ports.SubscriptionConfig{Topic: "other"})
		},
	}
	var nilCtx context.Context
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for name, call := range calls {
		if err := call(nilCtx); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("%s with a nil ctx = %v, want ErrInvalid", name, err)
		}
		if err := call(cancelled); ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx = %v, want ErrUnavailable wrapping context.Canceled", name, err)
		}
	}
	if err := ps.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls["Close"] = ps.Close
	for name, call := range calls {
		for _, ctx := range []context.Context{t.Context(), nilCtx} {
			if err := call(ctx); ports.KindOf(err) != ports.ErrClosed {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
	}
}

func TestPubSubAdmin(t *testing.T) {
	ps := fakes.NewPubSub()
	t.Cleanup(func() { _ = ps.Close(context.Background()) })
	var admin ports.Admin = ps
	ctx := t.Context()
	for range 2 {
		if err := admin.EnsureTopic(ctx, "orders"); err != nil {
			t.Fatalf("EnsureTopic: %v", err)
		}
	}
	_ = admin.EnsureTopic(ctx, "dead")
	cfg := ports.SubscriptionConfig{Topic: "orders", Ordering: true, AckDeadline: 20 * time.Second}
	for range 2 {
		if err := admin.EnsureSubscription(ctx, "billing", cfg); err != nil {
			t.Fatalf("EnsureSubscription: %v", err)
		}
	}
	// 0 is the default deadline, 10s: the same configuration.
	if err := admin.EnsureSubscription(ctx, "plain", ports.SubscriptionConfig{Topic: "orders"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.EnsureSubscription(ctx, "plain", ports.SubscriptionConfig{Topic: "orders", AckDeadline: 10 * time.Second}); err != nil {
		t.Errorf("EnsureSubscription with the default deadline spelt out: %v", err)
	}
	err := admin.EnsureSubscription(ctx, "billing", ports.SubscriptionConfig{Topic: "dead", MaxDeliveryAttempts: 5, DeadLetterTopic: "dead"})
	if !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("EnsureSubscription with another configuration: %v, want ErrConflict", err)
	}
	for _, want := range []string{"Topic is orders, not dead", "Ordering is true, not false", "AckDeadline is 20s, not 10s", "DeadLetterTopic is , not dead", "MaxDeliveryAttempts is 0, not 5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict %q does not say %q", err, want)
		}
	}
	for name, tc := range map[string]struct {
		sub  string
		cfg  ports.SubscriptionConfig
		kind error
	}{
		"missing topic":             {"sub-a", ports.SubscriptionConfig{Topic: "missing"}, ports.ErrNotFound},
		"missing dead-letter topic": {"sub-b", ports.SubscriptionConfig{Topic: "orders", MaxDeliveryAttempts: 5, DeadLetterTopic: "missing"}, ports.ErrNotFound},
		"2 attempts":                {"sub-c", ports.SubscriptionConfig{Topic: "orders", MaxDeliveryAttempts: 2, DeadLetterTopic: "dead"}, ports.ErrInvalid},
		"101 attempts":              {"sub-d", ports.SubscriptionConfig{Topic: "orders", MaxDeliveryAttempts: 101, DeadLetterTopic: "dead"}, ports.ErrInvalid},
		"attempts, no topic":        {"sub-e", ports.SubscriptionConfig{Topic: "orders", MaxDeliveryAttempts: 5}, ports.ErrInvalid},
		"ack deadline 601s":         {"sub-f", ports.SubscriptionConfig{Topic: "orders", AckDeadline: 601 * time.Second}, ports.ErrInvalid},
		"bad subscription name":     {"1sub", ports.SubscriptionConfig{Topic: "orders"}, ports.ErrInvalid},
		"goog name":                 {"goog-sub", ports.SubscriptionConfig{Topic: "orders"}, ports.ErrInvalid},
		"bad topic name":            {"sub-g", ports.SubscriptionConfig{Topic: "ab"}, ports.ErrInvalid},
	} {
		if err := admin.EnsureSubscription(ctx, tc.sub, tc.cfg); ports.KindOf(err) != tc.kind {
			t.Errorf("%s: %v, want %v", name, err, ports.KindName(tc.kind))
		}
		if ps.Pending(tc.sub) != 0 {
			t.Errorf("%s: created", name)
		}
	}
	if err := ps.Subscribe(ctx, "sub-a", func(context.Context, ports.Message) error { return nil }); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("a refused subscription exists: %v", err)
	}
	if err := admin.EnsureTopic(ctx, "a b"); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("EnsureTopic of a bad name: %v, want ErrInvalid", err)
	}
	// Full names of the fake's project name the same topics, as on the
	// adapter; another project's are refused.
	full := "projects/" + fakes.DefaultPubSubProject + "/topics/orders"
	if err := admin.EnsureTopic(ctx, full); err != nil {
		t.Errorf("EnsureTopic by full name: %v", err)
	}
	if _, err := ps.Publish(ctx, full, ports.Message{Data: []byte("x")}); err != nil || len(ps.Published("orders")) != 1 {
		t.Errorf("Publish by full name: %v; %d messages on orders", err, len(ps.Published("orders")))
	}
	if err := admin.EnsureSubscription(ctx, "projects/"+fakes.DefaultPubSubProject+"/subscriptions/billing", cfg); err != nil {
		t.Errorf("EnsureSubscription by full name: %v", err)
	}
	if err := admin.EnsureTopic(ctx, "projects/other/topics/orders"); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("EnsureTopic in another project: %v, want ErrInvalid", err)
	}
}

func TestPubSubMessageRules(t *testing.T) {
	ps := pubsubWith(t, ports.SubscriptionConfig{}, "sub")
	ctx := t.Context()
	for name, m := range map[string]ports.Message{
		"empty":           {},
		"empty key":       {Attributes: map[string]string{"": "v"}},
		"bad UTF-8 key":   {Attributes: map[string]string{"k\xff": "v"}},
		"bad UTF-8 value": {Attributes: map[string]string{"k": "\xff"}},
		"bad UTF-8 okey":  {Data: []byte("x"), OrderingKey: "\xff"},
		"257-byte key":    {Attributes: map[string]string{strings.Repeat("k", 257): "v"}},
		"1025-byte value": {Attributes: map[string]string{"k": strings.Repeat("v", 1025)}},
		"over the limit":  {Data: make([]byte, ports.MaxMessageBytes+1)},
	} {
		_, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte("ok")}, m)
		if ports.KindOf(err) != ports.ErrInvalid || !strings.Contains(err.Error(), "message 1 of 2") {
			t.Errorf("%s: %v, want ErrInvalid naming message 1", name, err)
		}
	}
	if n := len(ps.Published("topic")); n != 0 {
		t.Errorf("%d messages published: nothing may be when one is invalid", n)
	}
	max := ports.Message{Data: make([]byte, ports.MaxMessageBytes-2), Attributes: map[string]string{"k": "v"}}
	if _, err := ps.Publish(ctx, "topic", max); err != nil {
		t.Errorf("a message of exactly ports.MaxMessageBytes: %v", err)
	}
	small := fakes.NewPubSub(fakes.WithMaxMessageBytes(10))
	defer small.Close(ctx)
	_ = small.EnsureTopic(ctx, "topic")
	if _, err := small.Publish(ctx, "topic", ports.Message{Data: make([]byte, 11)}); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("a message over WithMaxMessageBytes: %v, want ErrInvalid", err)
	}
}

// TestPubSubPublishFailures: an unknown topic and an injected fault fail
// each message, as on the adapter; a confirmation that does not come
// before ctx ends (WithPublishLatency) lists each as Unconfirmed.
func TestPubSubPublishFailures(t *testing.T) {
	ps := pubsubWith(t, ports.SubscriptionConfig{}, "sub")
	ctx := t.Context()
	two := []ports.Message{{Data: []byte("a")}, {Data: []byte("b")}}
	check := func(name string, ids []string, err error, kind error) *ports.PublishError {
		t.Helper()
		var pe *ports.PublishError
		if ports.KindOf(err) != kind || !errors.As(err, &pe) || len(pe.Failures) != 2 || fmt.Sprint(ids) != "[ ]" {
			t.Errorf("%s = %q, %v; want %v with a PublishError listing both", name, ids, err, ports.KindName(kind))
			return &ports.PublishError{}
		}
		return pe
	}
	ids, err := ps.Publish(ctx, "missing", two...)
	check("Publish to an unknown topic", ids, err, ports.ErrNotFound)
	ps.FailNext(1, ports.ErrUnavailable)
	ids, err = ps.Publish(ctx, "topic", two...)
	check("Publish with an injected fault", ids, err, ports.ErrUnavailable)

	slow := fakes.NewPubSub(fakes.WithPublishLatency(time.Minute))
	defer slow.Close(ctx)
	_ = slow.EnsureTopic(ctx, "topic")
	pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	ids, err = slow.Publish(pctx, "topic", two...)
	pe := check("Publish whose confirmation is late", ids, err, ports.ErrUnavailable)
	if len(pe.Unconfirmed()) != 2 || !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("late confirmation: %v; want both unconfirmed, ErrOutcomeUnknown and the context's error", err)
	}
	if n := len(slow.Published("topic")); n != 2 {
		t.Errorf("%d of the unconfirmed messages published, want 2 (they were)", n)
	}
}

// TestPubSubShutdownGrace: when Subscribe's ctx ends, running handlers
// keep a live context for the grace, then it is cancelled; a handler
// that returns then is acked, one that does not is abandoned a second
// later and nacked; Subscribe returns nil.
func TestPubSubShutdownGrace(t *testing.T) {
	const grace = 200 * time.Millisecond
	ps := fakes.NewPubSub(fakes.WithShutdownGrace(grace))
	t.Cleanup(func() { _ = ps.Close(context.Background()) })
	ctx := t.Context()
	_ = ps.EnsureTopic(ctx, "topic")
	_ = ps.EnsureSubscription(ctx, "sub", ports.SubscriptionConfig{Topic: "topic"})
	if _, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte("polite")}, ports.Message{Data: []byte("stubborn")}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	var started sync.WaitGroup
	started.Add(2)
	release, returned := make(chan struct{}), make(chan struct{})
	var liveFor atomic.Int64
	var cancelAt atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- ps.Subscribe(sctx, "sub", func(hctx context.Context, m ports.Message) error {
			if m.DeliveryAttempt > 1 || ps.Acked("sub")+ps.Nacked("sub") > 0 {
				return nil
			}
			started.Done()
			if string(m.Data) == "stubborn" {
				<-release
				close(returned)
				return nil
			}
			<-hctx.Done()
			liveFor.Store(time.Now().UnixNano() - cancelAt.Load())
			return nil
		})
	}()
	started.Wait()
	cancelAt.Store(time.Now().UnixNano())
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(waitBound):
		t.Fatal("Subscribe did not return")
	}
	took := time.Duration(time.Now().UnixNano() - cancelAt.Load())
	close(release)
	<-returned
	if err != nil {
		t.Errorf("Subscribe = %v, want nil", err)
	}
	if l := time.Duration(liveFor.Load()); l < grace {
		t.Errorf("the handler's context ended %s after Subscribe's, before the grace %s", l, grace)
	}
	if took < grace+time.Second {
		t.Errorf("Subscribe returned after %s, before the grace and the abandon delay", took)
	}
	if ps.Acked("sub") != 1 || ps.Nacked("sub") != 1 || ps.Pending("sub") != 1 {
		t.Errorf("acked %d nacked %d pending %d; want 1 1 1 (the abandoned message is redelivered)", ps.Acked("sub"), ps.Nacked("sub"), ps.Pending("sub"))
	}
}

func TestPubSubDefaultConcurrency(t *testing.T) {
	ps := pubsubWith(t, ports.SubscriptionConfig{}, "sub")
	ctx := t.Context()
	const n = 3 * ports.DefaultMaxConcurrency
	for i := range n {
		if _, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var running, peak atomic.Int64
	release := make(chan struct{})
	go func() {
		deadline := time.Now().Add(waitBound)
		for running.Load() < ports.DefaultMaxConcurrency && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // every chance to start more
		close(release)
	}()
	collect(t, ps, "sub", func(ports.Message, int) error {
		r := running.Add(1)
		for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
		}
		<-release
		running.Add(-1)
		return nil
	}, count(n))
	if p := peak.Load(); p != ports.DefaultMaxConcurrency {
		t.Errorf("at most %d handlers at once, want ports.DefaultMaxConcurrency = %d", p, ports.DefaultMaxConcurrency)
	}
}

func TestPubSubDeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	ps := fakes.NewPubSub(fakes.WithRedeliveryDelay(0), fakes.WithProject("proj"))
	defer ps.Close(ctx)
	_ = ps.EnsureTopic(ctx, "topic")
	_ = ps.EnsureTopic(ctx, "dead")
	_ = ps.EnsureSubscription(ctx, "dl-sub", ports.SubscriptionConfig{Topic: "dead"})
	_ = ps.EnsureSubscription(ctx, "sub", ports.SubscriptionConfig{Topic: "topic", MaxDeliveryAttempts: 5, DeadLetterTopic: "dead"})
	ids, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte("poison"), Attributes: map[string]string{"own": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	var attempts []int
	var mu sync.Mutex
	subCtx, stop := context.WithCancel(ctx)
	go func() {
		for ps.Pending("dl-sub") == 0 && subCtx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		stop()
	}()
	_ = ps.Subscribe(subCtx, "sub", func(_ context.Context, m ports.Message) error {
		mu.Lock()
		attempts = append(attempts, m.DeliveryAttempt)
		mu.Unlock()
		return errors.New("always fails")
	})
	if fmt.Sprint(attempts) != "[1 2 3 4 5]" {
		t.Errorf("delivery attempts %v, want [1 2 3 4 5]", attempts)
	}
	dead := ps.Published("dead")
	if len(dead) != 1 {
		t.Fatalf("dead-letter topic holds %d messages", len(dead))
	}
	m := dead[0]
	want := map[string]string{
		"own":                                   "1",
		ports.AttrDeadLetterDeliveryCount:       "5",
		ports.AttrDeadLetterSubscription:        "sub",
		ports.AttrDeadLetterSubscriptionProject: "proj",
		ports.AttrDeadLetterTopicPublishTime:    ps.Published("topic")[0].PublishTime.Format("2006-01-02T15:04:05.000Z"),
	}
	if fmt.Sprint(m.Attributes) != fmt.Sprint(want) || m.ID == ids[0] || !bytes.Equal(m.Data, []byte("poison")) {
		t.Errorf("dead-lettered message %q %q %v, want a new ID and attributes %v", m.ID, m.Data, m.Attributes, want)
	}
	if ps.Pending("sub") != 0 {
		t.Errorf("Pending(sub) = %d after dead-lettering", ps.Pending("sub"))
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPubSubCloseHurries: a Close whose ctx ends while a handler still
// runs within its grace returns ErrUnavailable and cancels the handler's
// context at once; Subscribe then returns ErrClosed.
func TestPubSubCloseHurries(t *testing.T) {
	ps := fakes.NewPubSub(fakes.WithShutdownGrace(time.Hour))
	ctx := t.Context()
	_ = ps.EnsureTopic(ctx, "topic")
	_ = ps.EnsureSubscription(ctx, "sub", ports.SubscriptionConfig{Topic: "topic"})
	_, _ = ps.Publish(ctx, "topic", ports.Message{Data: []byte("x")})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ps.Subscribe(ctx, "sub", func(hctx context.Context, _ ports.Message) error {
			close(started)
			<-hctx.Done()
			return hctx.Err()
		})
	}()
	<-started
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := ps.Close(cctx); ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a handler still running = %v, want ErrUnavailable wrapping the deadline", err)
	}
	select {
	case err := <-done:
		if ports.KindOf(err) != ports.ErrClosed {
			t.Errorf("Subscribe = %v, want ErrClosed", err)
		}
	case <-time.After(waitBound):
		t.Fatal("the handler's context was not cancelled after Close's deadline")
	}
}
