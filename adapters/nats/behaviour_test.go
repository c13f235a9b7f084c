package nats_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/ports"
)

// subscribeUntil runs Subscribe in the background until the test ends (or
// stop is called) and returns stop, which waits for it and returns its
// error.
func subscribeUntil(t *testing.T, n *nats.NATS, sub string, h ports.Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Subscribe(ctx, sub, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Subscribe did not return within 30s of its context's end")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// eventually polls cond every few milliseconds until it holds, failing the
// test after wait.
func eventually(t *testing.T, what string, wait time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAttributesRoundTrip: attribute keys and values and ordering keys that
// NATS headers cannot carry as they are (colons, spaces, CR LF, leading
// and trailing blanks, '%', names of JetStream's own headers) arrive
// exactly as published, and an attribute named like JetStream's
// deduplication header does not deduplicate.
func TestAttributesRoundTrip(t *testing.T) {
	t.Parallel()
	n := open(t, testConfig(t))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	attrs := map[string]string{
		"a:b":                  "colon",
		"with space":           "  leading and trailing  ",
		"line\r\nbreak":        "line1\r\nline2\n",
		"percent%41":           "%41 %zz %",
		"Nats-Msg-Id":          "same",
		"nats-expected-stream": "elsewhere",
		"Pk-Ordering-Key":      "not the key",
		"ünïcödé":              "välüe ✓",
		"tab\t":                "\ttab\t",
		"empty":                "",
		"ctl\x01":              "\x00\x7f",
		"{json}":               `{"a":[1,2]}`,
	}
	key := " key\r\n%20 "
	msgs := []ports.Message{
		{Data: []byte("one"), Attributes: attrs, OrderingKey: key},
		{Data: []byte("two"), Attributes: attrs, OrderingKey: key},
	}
	if _, err := n.Publish(t.Context(), topic, msgs...); err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, n, subs["a"], 2, 30*time.Second)
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2 (an attribute deduplicated them?)", len(got))
	}
	for _, m := range got {
		if !maps.Equal(m.Attributes, attrs) {
			t.Errorf("attributes %q, want %q", m.Attributes, attrs)
		}
		if m.OrderingKey != key {
			t.Errorf("ordering key %q, want %q", m.OrderingKey, key)
		}
	}
}

// TestOrderingAfterNack: on an ordering subscription, a nacked message of
// a key is delivered again before any later message of its key, which all
// follow it again, in order (ports.Subscriber's rule); messages of one key
// never reach handlers two at a time; another key is unaffected.
func TestOrderingAfterNack(t *testing.T) {
	t.Parallel()
	n := open(t, testConfig(t))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"o": {Ordering: true}})
	var msgs []ports.Message
	for i := range 6 {
		for _, k := range []string{"A", "B"} {
			msgs = append(msgs, ports.Message{Data: fmt.Appendf(nil, "%s%d", k, i), OrderingKey: k})
		}
	}
	if _, err := n.Publish(t.Context(), topic, msgs...); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		log      = map[string][]string{}
		inFlight = map[string]int{}
		overlap  bool
		nacked   bool
		acked    int
	)
	stop := subscribeUntil(t, n, subs["o"], func(_ context.Context, m ports.Message) error {
		d := string(m.Data)
		mu.Lock()
		inFlight[m.OrderingKey]++
		if inFlight[m.OrderingKey] > 1 {
			overlap = true
		}
		log[m.OrderingKey] = append(log[m.OrderingKey], d)
		fail := d == "A2" && !nacked
		if fail {
			nacked = true
		}
		mu.Unlock()
		time.Sleep(time.Millisecond) // room for a wrongly concurrent delivery
		mu.Lock()
		defer mu.Unlock()
		inFlight[m.OrderingKey]--
		if fail {
			return errors.New("nack A2 once")
		}
		acked++
		return nil
	})
	eventually(t, "every message acknowledged", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return acked >= len(msgs)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two messages of one key reached handlers at once")
	}
	a := log["A"]
	first := slices.Index(a, "A2")
	again := first + 1 + slices.Index(a[first+1:], "A2")
	if first < 0 || again <= first {
		t.Fatalf("key A deliveries %v: A2 was not delivered again", a)
	}
	if !slices.Equal(firstOccurrences(a[again:]), []string{"A2", "A3", "A4", "A5"}) {
		t.Errorf("key A deliveries %v: after A2's redelivery, want A2 A3 A4 A5 in order", a)
	}
	if !slices.Equal(firstOccurrences(log["B"]), []string{"B0", "B1", "B2", "B3", "B4", "B5"}) {
		t.Errorf("key B deliveries %v, want B0..B5 in order", log["B"])
	}
}

// firstOccurrences returns xs without repeats, in the order of their first
// occurrence.
func firstOccurrences(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// TestOrderingAcrossSubscribers: two Subscribe calls (two processes) on one
// ordering subscription share its messages, and the messages of one key
// still reach the handlers one at a time, in publish order.
func TestOrderingAcrossSubscribers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	n1, n2 := open(t, cfg), open(t, cfg)
	topic, subs := provision(t, n1, map[string]ports.SubscriptionConfig{"o": {Ordering: true}})
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"}
	const perKey = 25
	var msgs []ports.Message
	for i := range perKey {
		for _, k := range keys {
			msgs = append(msgs, ports.Message{Data: fmt.Appendf(nil, "%s-%03d", k, i), OrderingKey: k})
		}
	}
	var (
		mu       sync.Mutex
		order    = map[string][]string{}
		inFlight = map[string]int{}
		by       = map[int]int{}
		overlap  bool
	)
	handler := func(who int) ports.Handler {
		return func(_ context.Context, m ports.Message) error {
			mu.Lock()
			inFlight[m.OrderingKey]++
			overlap = overlap || inFlight[m.OrderingKey] > 1
			order[m.OrderingKey] = append(order[m.OrderingKey], string(m.Data))
			by[who]++
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inFlight[m.OrderingKey]--
			mu.Unlock()
			return nil
		}
	}
	subscribeUntil(t, n1, subs["o"], handler(1))
	subscribeUntil(t, n2, subs["o"], handler(2))
	if _, err := n1.Publish(t.Context(), topic, msgs...); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every message", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return by[1]+by[2] >= len(msgs)
	})
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two messages of one key reached handlers at once")
	}
	for _, k := range keys {
		got := firstOccurrences(order[k])
		if !slices.IsSorted(got) || len(got) != perKey {
			t.Errorf("key %s: %v, want %d messages in publish order", k, got, perKey)
		}
	}
	t.Logf("subscriber 1 handled %d messages, subscriber 2 %d", by[1], by[2])
}

// TestDeadLetterPolicy: with MaxDeliveryAttempts, a message that fails
// every delivery reaches the handler that many times (DeliveryAttempt 1
// to N) and then moves to the dead-letter topic with its data, ordering
// key and attributes plus the four dead-letter attributes.
func TestDeadLetterPolicy(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	n := open(t, cfg)
	deadTopic, deadSubs := provision(t, n, map[string]ports.SubscriptionConfig{"dead": {}})
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{
		"src": {MaxDeliveryAttempts: 5, DeadLetterTopic: deadTopic},
	})
	var mu sync.Mutex
	var attempts []int
	subscribeUntil(t, n, subs["src"], func(_ context.Context, m ports.Message) error {
		mu.Lock()
		attempts = append(attempts, m.DeliveryAttempt)
		mu.Unlock()
		return errors.New("always fails")
	})
	ids, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("poison"), OrderingKey: "k", Attributes: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, n, deadSubs["dead"], 1, 30*time.Second)
	if len(got) != 1 {
		t.Fatalf("the dead-letter topic received %d messages, want 1", len(got))
	}
	d := got[0]
	want := map[string]string{
		"a":                                     "1",
		ports.AttrDeadLetterDeliveryCount:       "5",
		ports.AttrDeadLetterSubscription:        subs["src"],
		ports.AttrDeadLetterSubscriptionProject: testPrefix,
	}
	for k, v := range want {
		if d.Attributes[k] != v {
			t.Errorf("dead-lettered attribute %s = %q, want %q", k, d.Attributes[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, d.Attributes[ports.AttrDeadLetterTopicPublishTime]); err != nil {
		t.Errorf("dead-lettered %s = %q: %v", ports.AttrDeadLetterTopicPublishTime, d.Attributes[ports.AttrDeadLetterTopicPublishTime], err)
	}
	if string(d.Data) != "poison" || d.OrderingKey != "k" || d.ID == "" || ids[0] == "" {
		t.Errorf("dead-lettered message %+v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts, []int{1, 2, 3, 4, 5}) {
		t.Errorf("the handler saw DeliveryAttempt %v, want 1 to 5", attempts)
	}
}

// TestSubscribeHoldsNoMoreThanItsHandlers: a Subscribe call whose handlers
// are all busy takes no more messages from the server, so another
// Subscribe call of the subscription gets them at once.
func TestSubscribeHoldsNoMoreThanItsHandlers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Receive.Goroutines = 2
	busy := open(t, cfg)
	free := open(t, testConfig(t))
	topic, subs := provision(t, busy, map[string]ports.SubscriptionConfig{"a": {}})
	release := make(chan struct{})
	var started atomic.Int32
	stopBusy := subscribeUntil(t, busy, subs["a"], func(ctx context.Context, _ ports.Message) error {
		started.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	const count = 10
	msgs := make([]ports.Message, count)
	for i := range msgs {
		msgs[i] = ports.Message{Data: []byte(strconv.Itoa(i))}
	}
	if _, err := busy.Publish(t.Context(), topic, msgs...); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both handlers busy", 30*time.Second, func() bool { return started.Load() == 2 })
	var other atomic.Int32
	stopFree := subscribeUntil(t, free, subs["a"], func(context.Context, ports.Message) error {
		other.Add(1)
		return nil
	})
	eventually(t, "the other subscriber taking the rest", 30*time.Second, func() bool { return other.Load() == count-2 })
	close(release)
	if err := stopBusy(); err != nil {
		t.Error(err)
	}
	if err := stopFree(); err != nil {
		t.Error(err)
	}
	if started.Load() != 2 {
		t.Errorf("the busy subscriber handled %d messages, want 2", started.Load())
	}
}

// TestSubscriptionDeletedWhileReceiving: deleting the subscription ends a
// running Subscribe with ErrNotFound; a deleted topic leaves its
// subscriptions detached (Subscribe ErrNotFound) and Publish ErrNotFound.
func TestSubscriptionDeletedWhileReceiving(t *testing.T) {
	t.Parallel()
	n := open(t, testConfig(t))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}, "b": {}})
	done := make(chan error, 1)
	go func() {
		done <- n.Subscribe(context.Background(), subs["a"], func(context.Context, ports.Message) error { return nil })
	}()
	if err := n.DeleteSubscription(t.Context(), subs["a"]); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if ports.KindOf(err) != ports.ErrNotFound {
			t.Errorf("Subscribe whose subscription was deleted = %v, want ErrNotFound", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Subscribe did not return after its subscription was deleted")
	}
	if err := n.DeleteSubscription(t.Context(), subs["a"]); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("DeleteSubscription again = %v, want ErrNotFound", err)
	}
	if err := n.DeleteTopic(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, ports.Message) error { return nil }
	if err := n.Subscribe(t.Context(), subs["b"], h); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Subscribe to a detached subscription = %v, want ErrNotFound", err)
	}
	if _, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("x")}); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("Publish to a deleted topic = %v, want ErrNotFound", err)
	}
	if err := n.DeleteTopic(t.Context(), topic); ports.KindOf(err) != ports.ErrNotFound {
		t.Errorf("DeleteTopic again = %v, want ErrNotFound", err)
	}
}

// TestSubscribeUnavailable: a running Subscribe whose connection stays
// down for the unavailable timeout returns ErrUnavailable.
func TestSubscribeUnavailable(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	proxy := faults.NewProxy(t, strings.TrimPrefix(cfg.URL, "nats://"))
	cfg.URL = "nats://" + proxy.Addr()
	cfg.Receive.UnavailableTimeout = time.Second
	n := open(t, cfg)
	_, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	done := make(chan error, 1)
	go func() {
		done <- n.Subscribe(context.Background(), subs["a"], func(context.Context, ports.Message) error { return nil })
	}()
	time.AfterFunc(200*time.Millisecond, proxy.Cut)
	select {
	case err := <-done:
		if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), "no connection to the server for 1s") {
			t.Errorf("Subscribe cut off = %v, want ErrUnavailable naming the 1s bound", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe cut off did not return")
	}
	proxy.Restore()
}

// TestAckDeadlineExtendedWhileHandling: a handler that runs longer than
// the ack deadline does not get its message delivered again meanwhile:
// Subscribe extends the deadline while the handler runs.
func TestAckDeadlineExtendedWhileHandling(t *testing.T) {
	if testing.Short() {
		t.Skip("outlasts a 10s ack deadline")
	}
	t.Parallel()
	cfg := testConfig(t)
	n, other := open(t, cfg), open(t, cfg)
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"slow": {AckDeadline: 10 * time.Second}})
	var calls atomic.Int32
	returned := make(chan struct{})
	slow := func(context.Context, ports.Message) error {
		if calls.Add(1) == 1 {
			time.Sleep(13 * time.Second)
			close(returned)
		}
		return nil
	}
	subscribeUntil(t, n, subs["slow"], slow)
	subscribeUntil(t, other, subs["slow"], slow) // where a redelivery would go
	if _, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("slow")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-returned:
	case <-time.After(60 * time.Second):
		t.Fatal("the slow handler did not return")
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("a message whose handler ran 13s with a 10s deadline was delivered %d times", c)
	}
}

// TestExpiredLastDeliveryIsDeadLettered: a message whose last allowed
// delivery expires unhandled (its subscriber's process lost its
// connection mid-handler) is forwarded to the dead-letter topic on its
// next delivery, without reaching a handler again.
func TestExpiredLastDeliveryIsDeadLettered(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 10s ack deadline")
	}
	t.Parallel()
	cfg := testConfig(t)
	proxy := faults.NewProxy(t, strings.TrimPrefix(cfg.URL, "nats://"))
	dying := cfg
	dying.URL = "nats://" + proxy.Addr()
	dying.Receive.ShutdownTimeout = time.Second
	d, n := open(t, dying), open(t, cfg)
	deadTopic, deadSubs := provision(t, n, map[string]ports.SubscriptionConfig{"dead": {}})
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{
		"src": {AckDeadline: 10 * time.Second, MaxDeliveryAttempts: 5, DeadLetterTopic: deadTopic},
	})
	var attempts atomic.Int32
	subscribeUntil(t, d, subs["src"], func(ctx context.Context, m ports.Message) error {
		attempts.Store(int32(m.DeliveryAttempt))
		if m.DeliveryAttempt < 5 {
			return errors.New("fail")
		}
		proxy.Cut() // the process is cut off with its last delivery in hand
		<-ctx.Done()
		return ctx.Err()
	})
	if _, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("doomed")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fifth delivery", 30*time.Second, func() bool { return attempts.Load() == 5 })
	var handled atomic.Int32
	subscribeUntil(t, n, subs["src"], func(context.Context, ports.Message) error {
		handled.Add(1)
		return nil
	})
	got := receiveN(t, n, deadSubs["dead"], 1, 40*time.Second)
	if len(got) != 1 || string(got[0].Data) != "doomed" || got[0].Attributes[ports.AttrDeadLetterDeliveryCount] != "5" {
		t.Fatalf("dead-letter topic received %+v, want the message with delivery count 5", got)
	}
	if h := handled.Load(); h != 0 {
		t.Errorf("the message past its last delivery reached a handler %d times", h)
	}
}
