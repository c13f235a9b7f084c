package portstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// TestPubSub runs the Publisher + Subscriber conformance suite: every case
// of [PubSubCases] as a parallel subtest of a subtest named "PubSub", each
// on a fresh publisher and subscriber from newPubSub (which must not call
// t.Parallel itself). Every case provisions its own topic and
// subscriptions through PubSubSetup.Provision, with names made of ASCII
// letters, digits and '-', starting with a letter.
//
// It checks:
//   - publish then receive: data, attributes, ordering key, a server
//     publish time, and the received ID equal to the one Publish returned
//     at that message's index; messages with attributes and no data; a
//     256 KiB message; a batch of 200; the publisher's copy of data and
//     attributes is its own;
//   - fan-out: every subscription of a topic receives every message;
//     competing Subscribe calls on one subscription share its messages;
//   - at-least-once: a handler error, or a handler panic, nacks the message
//     and it is delivered again, while Subscribe keeps running;
//   - Subscribe returns nil when its context ends, only after running
//     handlers return; a later Subscribe receives later messages; a
//     Subscribe started before the publish receives it;
//   - an unknown topic (Publish) or subscription (Subscribe, promptly) is
//     ErrNotFound; an empty message is ErrInvalid and nothing of that
//     Publish call is delivered;
//   - with Ordering: messages with one ordering key arrive in publish order
//     (within a batch and across calls), per key;
//   - with DeliveryAttempt: a redelivery reports a higher DeliveryAttempt;
//   - 16 goroutines publishing at once: every ID distinct and received;
//   - a cancelled context makes Publish return promptly with the context's
//     error or ErrUnavailable, and Subscribe return promptly;
//   - Close stops a running Subscribe; after Close, Publish, Subscribe,
//     Check and a second Close return ErrClosed.
//
// Message counts stay small (≤ 50, one case 200) and every wait is bounded
// (20 s for a delivery), so the suite runs against the Pub/Sub emulator.
//
// Capability flags (PubSubSetup.Caps): Ordering, DeliveryAttempt. A nil
// Connector skips the Close cases.
func TestPubSub(t *testing.T, newPubSub func(t *testing.T) PubSubSetup) {
	t.Helper()
	runCases(t, "PubSub", pubsubCases(), func(t *testing.T) *psEnv {
		s := newPubSub(t)
		if s.Provision == nil && s.Admin != nil {
			s.Provision = AdminProvision(s.Admin)
		}
		if s.Publisher == nil || s.Subscriber == nil || s.Provision == nil {
			t.Fatal("PubSubSetup needs Publisher, Subscriber and Provision (or Admin)")
		}
		return &psEnv{PubSubSetup: s, prefix: uniquePrefix()}
	})
}

// PubSubCases returns the names of the cases TestPubSub runs, in order.
func PubSubCases() []string { return names(pubsubCases()) }

// psEnv is one case's publisher, subscriber and name prefix.
type psEnv struct {
	PubSubSetup
	prefix string
}

func (e *psEnv) skips() Skips { return e.Skip }

// subSpec names a subscription of a case (a suffix of the case's prefix)
// and its configuration (whose Topic the suite sets).
type subSpec struct {
	name string
	cfg  ports.SubscriptionConfig
}

// provision creates the case's topic and the subscriptions subs and
// returns the topic and subscription names.
func (e *psEnv) provision(t *testing.T, ctx context.Context, subs ...subSpec) (string, []string) {
	t.Helper()
	return e.provisionTopic(t, ctx, "topic", subs...)
}

// provisionTopic is provision for the topic named suffix.
func (e *psEnv) provisionTopic(t *testing.T, ctx context.Context, suffix string, subs ...subSpec) (string, []string) {
	t.Helper()
	topic := e.prefix + "-" + suffix
	names := make([]string, len(subs))
	cfgs := make(map[string]ports.SubscriptionConfig, len(subs))
	for i, s := range subs {
		names[i] = e.prefix + "-" + s.name
		s.cfg.Topic = topic
		cfgs[names[i]] = s.cfg
	}
	wantNoErr(t, "Provision of "+topic, e.Provision(ctx, topic, cfgs))
	return topic, names
}

// provision1 creates the case's topic with one plain subscription.
func (e *psEnv) provision1(t *testing.T, ctx context.Context) (topic, sub string) {
	t.Helper()
	topic, subs := e.provision(t, ctx, subSpec{name: "sub"})
	return topic, subs[0]
}

// publish publishes msgs or fails t; it checks the IDs.
func (e *psEnv) publish(t *testing.T, ctx context.Context, topic string, msgs ...ports.Message) []string {
	t.Helper()
	ids, err := e.Publisher.Publish(ctx, topic, msgs...)
	wantNoErr(t, fmt.Sprintf("Publish of %d messages", len(msgs)), err)
	if len(ids) != len(msgs) {
		t.Fatalf("Publish of %d messages returned %d IDs, want one per message", len(msgs), len(ids))
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("Publish returned ID %q at index %d: want distinct non-empty IDs", id, i)
		}
		seen[id] = true
	}
	return ids
}

// msgs returns n messages with data prefix-000, prefix-001, ...
func msgs(prefix string, n int) []ports.Message {
	out := make([]ports.Message, n)
	for i := range out {
		out[i] = ports.Message{Data: fmt.Appendf(nil, "%s-%03d", prefix, i)}
	}
	return out
}

// receiver records what one Subscribe call delivers.
type receiver struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu  sync.Mutex
	got []ports.Message // every delivery, in order
	err error           // what Subscribe returned
}

// handler is a test handler: n counts the deliveries of m's data so far,
// this one included (1 on the first delivery).
type handler func(ctx context.Context, m ports.Message, n int) error

// subscribe runs Subscribe(sub) in a goroutine, recording every delivery
// before calling h (nil acknowledges). The receiver is stopped when the
// case ends at the latest.
func (e *psEnv) subscribe(t *testing.T, sub string, h handler) *receiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &receiver{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		err := e.Subscriber.Subscribe(ctx, sub, func(ctx context.Context, m ports.Message) error {
			c := m
			c.Data = bytes.Clone(m.Data)
			c.Attributes = maps.Clone(m.Attributes)
			r.mu.Lock()
			r.got = append(r.got, c)
			n := 0
			for _, d := range r.got {
				if bytes.Equal(d.Data, c.Data) {
					n++
				}
			}
			r.mu.Unlock()
			if h == nil {
				return nil
			}
			return h(ctx, m, n)
		})
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Subscribe's context and waits for it to return; it fails t
// unless Subscribe returned nil within the bound (or, when it had delivered
// nothing and so may not have started before the cancel, the context's
// error). It returns at once when already stopped.
func (r *receiver) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		started := len(r.deliveries()) > 0
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("Subscribe did not return within 30s of its context being cancelled")
			return
		}
		if err := r.result(); err != nil && (started || !isCancelErr(err)) {
			t.Errorf("Subscribe returned %v (%s) when its context was cancelled, want nil", err, sentinelName(err))
		}
	})
}

// exited reports whether Subscribe has returned.
func (r *receiver) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *receiver) result() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// deliveries returns a copy of every delivery so far.
func (r *receiver) deliveries() []ports.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// counts returns how many times each data was delivered.
func (r *receiver) counts() map[string]int {
	out := map[string]int{}
	for _, m := range r.deliveries() {
		out[string(m.Data)]++
	}
	return out
}

// first returns the first delivery of each data.
func (r *receiver) first() map[string]ports.Message {
	out := map[string]ports.Message{}
	for _, m := range r.deliveries() {
		if _, ok := out[string(m.Data)]; !ok {
			out[string(m.Data)] = m
		}
	}
	return out
}

// await waits until cond holds, failing t when it does not within the
// delivery wait or when Subscribe returns early.
func (r *receiver) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ok := waitFor(t, deliveryWait, func() bool { return cond() || r.exited() })
	switch {
	case r.exited() && !cond():
		t.Fatalf("%s: Subscribe returned early with %v (%s)", what, r.result(), sentinelName(r.result()))
	case !ok:
		t.Fatalf("%s: not done after %v; %d deliveries so far", what, deliveryWait, len(r.deliveries()))
	}
}

// awaitAll waits until every data in want was delivered at least once.
func (r *receiver) awaitAll(t *testing.T, what string, want []ports.Message) {
	t.Helper()
	r.await(t, what, func() bool {
		c := r.counts()
		for _, m := range want {
			if c[string(m.Data)] == 0 {
				return false
			}
		}
		return true
	})
}

// checkIDs checks that the first delivery of each of msgs carries the ID
// Publish returned at its index.
func checkIDs(t *testing.T, r *receiver, msgs []ports.Message, ids []string) {
	t.Helper()
	first := r.first()
	for i, m := range msgs {
		if got := first[string(m.Data)].ID; got != ids[i] {
			t.Errorf("message %q was received with ID %q, but Publish returned %q at its index", m.Data, got, ids[i])
		}
	}
}

// ordered reports whether the first deliveries of want (data, by key)
// happened in want's order.
func ordered(deliveries []ports.Message, want []string) bool {
	pos := map[string]int{}
	for i, m := range deliveries {
		if _, ok := pos[string(m.Data)]; !ok {
			pos[string(m.Data)] = i
		}
	}
	for i := 1; i < len(want); i++ {
		if pos[want[i]] < pos[want[i-1]] {
			return false
		}
	}
	return true
}

var errNack = errors.New("portstest: nack")

func pubsubCases() []testCase[*psEnv] {
	return append(pubsubBaseCases(), pubsubNewCases()...)
}

func pubsubBaseCases() []testCase[*psEnv] {
	return []testCase[*psEnv]{
		{"PublishReceive", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			m := ports.Message{Data: []byte("hello"), Attributes: map[string]string{"kind": "greeting", "trace-id": "abc123"}}
			before := time.Now().Add(-time.Minute)
			ids := e.publish(t, ctx, topic, m)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive a published message", []ports.Message{m})
			got := r.first()["hello"]
			if got.ID != ids[0] {
				t.Errorf("received ID %q, Publish returned %q", got.ID, ids[0])
			}
			if !maps.Equal(got.Attributes, m.Attributes) {
				t.Errorf("received attributes %v, want %v", got.Attributes, m.Attributes)
			}
			if got.PublishTime.IsZero() || got.PublishTime.Before(before) {
				t.Errorf("received PublishTime %v, want the server's publish time", got.PublishTime)
			}
			if got.OrderingKey != "" {
				t.Errorf("received OrderingKey %q for a message published without one", got.OrderingKey)
			}
		}},
		{"PublishIDs", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			ms := msgs("id", 5)
			ids := e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive 5 published messages", ms)
			checkIDs(t, r, ms, ids)
		}},
		{"AttributesOnly", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			e.publish(t, ctx, topic, ports.Message{Attributes: map[string]string{"only": "attrs"}})
			r := e.subscribe(t, sub, nil)
			r.await(t, "receive a message with attributes and no data", func() bool { return len(r.deliveries()) > 0 })
			got := r.deliveries()[0]
			if len(got.Data) != 0 || got.Attributes["only"] != "attrs" {
				t.Errorf("received data %q, attributes %v; want no data and only=attrs", got.Data, got.Attributes)
			}
		}},
		{"OrderingKey", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, subs := e.provision(t, ctx, subSpec{"sub", ports.SubscriptionConfig{Ordering: e.Caps.Ordering}})
			m := ports.Message{Data: []byte("keyed"), OrderingKey: "customer-42"}
			e.publish(t, ctx, topic, m)
			r := e.subscribe(t, subs[0], nil)
			r.awaitAll(t, "receive a message with an ordering key", []ports.Message{m})
			if got := r.first()["keyed"].OrderingKey; got != "customer-42" {
				t.Errorf("received OrderingKey %q, want %q", got, "customer-42")
			}
		}},
		{"Ordering", func(t *testing.T, e *psEnv) {
			if !e.Caps.Ordering {
				t.Skip("needs PubSubCaps.Ordering")
			}
			ctx := caseCtx(t)
			topic, subs := e.provision(t, ctx, subSpec{"ordered", ports.SubscriptionConfig{Ordering: true}})
			var batch []ports.Message
			var wantA, wantB []string
			for i := range 20 {
				key := "A"
				if i%2 == 1 {
					key = "B"
				}
				m := ports.Message{Data: fmt.Appendf(nil, "%s-%03d", key, i), OrderingKey: key}
				batch = append(batch, m)
				if key == "A" {
					wantA = append(wantA, string(m.Data))
				} else {
					wantB = append(wantB, string(m.Data))
				}
			}
			e.publish(t, ctx, topic, batch...)
			all := slices.Clone(batch)
			for i := range 10 {
				m := ports.Message{Data: fmt.Appendf(nil, "A-single-%03d", i), OrderingKey: "A"}
				e.publish(t, ctx, topic, m)
				wantA = append(wantA, string(m.Data))
				all = append(all, m)
			}
			r := e.subscribe(t, subs[0], nil)
			r.awaitAll(t, "receive 30 ordered messages", all)
			d := r.deliveries()
			if !ordered(d, wantA) {
				t.Errorf("messages with ordering key A were first delivered out of publish order: %v", firstOrder(d, "A"))
			}
			if !ordered(d, wantB) {
				t.Errorf("messages with ordering key B were first delivered out of publish order: %v", firstOrder(d, "B"))
			}
		}},
		{"FanOut", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, subs := e.provision(t, ctx, subSpec{name: "one"}, subSpec{name: "two"})
			ms := msgs("fan", 3)
			ids := e.publish(t, ctx, topic, ms...)
			r1 := e.subscribe(t, subs[0], nil)
			r2 := e.subscribe(t, subs[1], nil)
			r1.awaitAll(t, "first subscription receives every message", ms)
			r2.awaitAll(t, "second subscription receives every message", ms)
			checkIDs(t, r1, ms, ids)
			checkIDs(t, r2, ms, ids)
		}},
		{"CompetingSubscribers", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			ms := msgs("share", 20)
			e.publish(t, ctx, topic, ms...)
			r1 := e.subscribe(t, sub, nil)
			r2 := e.subscribe(t, sub, nil)
			all := func() map[string]bool {
				seen := map[string]bool{}
				for _, m := range append(r1.deliveries(), r2.deliveries()...) {
					seen[string(m.Data)] = true
				}
				return seen
			}
			ok := waitFor(t, deliveryWait, func() bool { return len(all()) == len(ms) })
			if !ok {
				t.Fatalf("two Subscribe calls on one subscription received %d of %d messages between them", len(all()), len(ms))
			}
		}},
		{"NackRedelivery", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			ms := msgs("nack", 2)
			e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, func(_ context.Context, _ ports.Message, n int) error {
				if n == 1 {
					return errNack
				}
				return nil
			})
			r.await(t, "redelivery of messages whose handler returned an error", func() bool {
				c := r.counts()
				return c["nack-000"] >= 2 && c["nack-001"] >= 2
			})
		}},
		{"PanicRedelivery", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			ms := msgs("panic", 1)
			e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, func(_ context.Context, _ ports.Message, n int) error {
				if n == 1 {
					panic("portstest: handler panic")
				}
				return nil
			})
			r.await(t, "redelivery of a message whose handler panicked", func() bool { return r.counts()["panic-000"] >= 2 })
			ms2 := msgs("after", 1)
			e.publish(t, ctx, topic, ms2...)
			r.awaitAll(t, "delivery of a later message after a handler panicked", ms2)
		}},
		{"DeliveryAttempt", func(t *testing.T, e *psEnv) {
			if !e.Caps.DeadLetter && !e.Caps.DeliveryAttempt {
				t.Skip("needs PubSubCaps.DeadLetter or DeliveryAttempt")
			}
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			if e.Caps.DeadLetter { // DeliveryAttempt counts on a subscription with a dead-letter policy
				dlt, _ := e.provisionTopic(t, ctx, "dlt")
				var subs []string
				topic, subs = e.provisionTopic(t, ctx, "counted", subSpec{"counted", ports.SubscriptionConfig{MaxDeliveryAttempts: 5, DeadLetterTopic: dlt}})
				sub = subs[0]
			}
			e.publish(t, ctx, topic, msgs("attempt", 1)...)
			r := e.subscribe(t, sub, func(_ context.Context, _ ports.Message, n int) error {
				if n < 3 {
					return errNack
				}
				return nil
			})
			r.await(t, "three deliveries of a nacked message", func() bool { return r.counts()["attempt-000"] >= 3 })
			d := r.deliveries()
			if d[0].DeliveryAttempt != 1 {
				t.Errorf("first delivery reported DeliveryAttempt %d, want 1", d[0].DeliveryAttempt)
			}
			if d[2].DeliveryAttempt <= d[0].DeliveryAttempt {
				t.Errorf("third delivery reported DeliveryAttempt %d, first %d: want it to count redeliveries", d[2].DeliveryAttempt, d[0].DeliveryAttempt)
			}
		}},
		{"SubscribeReturnsOnCancel", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			ms := msgs("c", 1)
			e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive", ms)
			r.stop(t) // fails unless Subscribe returns nil within the bound
			if !r.exited() {
				t.Errorf("Subscribe still running after its context was cancelled")
			}
		}},
		{"SubscribeWaitsForHandlers", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			e.publish(t, ctx, topic, msgs("slow", 1)...)
			release := make(chan struct{})
			var released sync.Once
			defer released.Do(func() { close(release) })
			r := e.subscribe(t, sub, func(context.Context, ports.Message, int) error {
				<-release
				return nil
			})
			r.await(t, "a delivery", func() bool { return len(r.deliveries()) > 0 })
			r.cancel()
			time.Sleep(200 * time.Millisecond)
			if r.exited() {
				t.Errorf("Subscribe returned while a handler was still running; want it to wait for running handlers")
			}
			released.Do(func() { close(release) })
			r.stop(t)
		}},
		{"ResubscribeAfterCancel", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			first := msgs("first", 1)
			e.publish(t, ctx, topic, first...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive before the first Subscribe stops", first)
			r.stop(t)
			second := msgs("second", 1)
			e.publish(t, ctx, topic, second...)
			r2 := e.subscribe(t, sub, nil)
			r2.awaitAll(t, "receive in a second Subscribe of a message published after the first one stopped", second)
		}},
		{"PublishWhileSubscribed", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			r := e.subscribe(t, sub, nil)
			ms := msgs("live", 3)
			ids := e.publish(t, ctx, topic, ms...)
			r.awaitAll(t, "receive messages published while Subscribe runs", ms)
			checkIDs(t, r, ms, ids)
		}},
		{"UnknownTopic", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			_, err := e.Publisher.Publish(ctx, e.prefix+"-no-such-topic", ports.Message{Data: []byte("x")})
			wantErr(t, "Publish to a topic that does not exist", err, ports.ErrNotFound)
		}},
		{"UnknownSubscription", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			e.provision1(t, ctx)
			called := false
			var err error
			if prompt(t, "Subscribe to a subscription that does not exist", deliveryWait, func() {
				err = e.Subscriber.Subscribe(ctx, e.prefix+"-no-such-sub", func(context.Context, ports.Message) error { called = true; return nil })
			}) {
				wantErr(t, "Subscribe to a subscription that does not exist", err, ports.ErrNotFound)
				if called {
					t.Errorf("Subscribe to a subscription that does not exist called the handler")
				}
			}
		}},
		{"EmptyMessage", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			_, err := e.Publisher.Publish(ctx, topic, ports.Message{})
			wantErr(t, "Publish of a message with no data and no attributes", err, ports.ErrInvalid)
			_, err = e.Publisher.Publish(ctx, topic, ports.Message{Data: []byte("valid-before")}, ports.Message{Data: []byte{}, Attributes: map[string]string{}})
			wantErr(t, "Publish of a valid and an empty message", err, ports.ErrInvalid)
			after := msgs("valid-after", 1)
			e.publish(t, ctx, topic, after...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive a message published after a rejected Publish", after)
			time.Sleep(300 * time.Millisecond)
			if r.counts()["valid-before"] > 0 {
				t.Errorf("a Publish rejected for an empty message delivered its valid message; want nothing of it sent")
			}
		}},
		{"LargeMessage", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			data := make([]byte, 256<<10)
			_, _ = rand.Read(data)
			ids := e.publish(t, ctx, topic, ports.Message{Data: data})
			r := e.subscribe(t, sub, nil)
			r.await(t, "receive a 256 KiB message", func() bool { return len(r.deliveries()) > 0 })
			got := r.deliveries()[0]
			if !bytes.Equal(got.Data, data) || got.ID != ids[0] {
				t.Errorf("received %d bytes with ID %q, want the %d bytes published with ID %q", len(got.Data), got.ID, len(data), ids[0])
			}
		}},
		{"Batch200", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			ms := msgs("bulk", 200)
			ids := e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive 200 messages published in one call", ms)
			checkIDs(t, r, ms, ids)
		}},
		{"PublisherCopies", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			data := []byte("original")
			attrs := map[string]string{"k": "original"}
			e.publish(t, ctx, topic, ports.Message{Data: data, Attributes: attrs})
			copy(data, "MUTATED!")
			attrs["k"] = "MUTATED"
			attrs["extra"] = "added"
			r := e.subscribe(t, sub, nil)
			r.await(t, "receive", func() bool { return len(r.deliveries()) > 0 })
			got := r.deliveries()[0]
			if string(got.Data) != "original" || !maps.Equal(got.Attributes, map[string]string{"k": "original"}) {
				t.Errorf("received data %q, attributes %v after the publisher changed its slice and map once Publish returned; want what was published", got.Data, got.Attributes)
			}
		}},
		{"ConcurrentPublish", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			sent := make([][]ports.Message, 16)
			gotIDs := make([][]string, 16)
			errs := parallel16(func(g int) error {
				for j := range 3 {
					m := ports.Message{Data: fmt.Appendf(nil, "g%02d-%d", g, j)}
					ids, err := e.Publisher.Publish(ctx, topic, m)
					if err != nil {
						return err
					}
					if len(ids) != 1 {
						return fmt.Errorf("a Publish of 1 message returned %d IDs", len(ids))
					}
					sent[g] = append(sent[g], m)
					gotIDs[g] = append(gotIDs[g], ids[0])
				}
				return nil
			})
			wantNoErr(t, "16 goroutines calling Publish", firstErr(errs))
			all, ids := slices.Concat(sent...), slices.Concat(gotIDs...)
			if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
				t.Errorf("16 goroutines publishing got duplicate IDs")
			}
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive the 48 messages 16 goroutines published", all)
			checkIDs(t, r, all, ids)
		}},
		{"CancelledContext", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			wantCancelled(t, "Publish", func(ctx context.Context) error {
				_, err := e.Publisher.Publish(ctx, topic, ports.Message{Data: []byte("x")})
				return err
			})
			var err error
			if prompt(t, "Subscribe with a cancelled context", promptBound, func() {
				err = e.Subscriber.Subscribe(cancelledCtx(), sub, func(context.Context, ports.Message) error { return nil })
			}) && err != nil && !isCancelErr(err) {
				t.Errorf("Subscribe with a cancelled context: got err %v (%s), want nil or the context's error", err, sentinelName(err))
			}
		}},
		{"CloseStopsSubscribe", func(t *testing.T, e *psEnv) {
			if e.Connector == nil {
				t.Skip("PubSubSetup.Connector is nil")
			}
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			ms := msgs("run", 1)
			e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "receive", ms)
			closeConn(t, e.Connector)
			if !waitFor(t, promptBound, r.exited) {
				t.Fatalf("Subscribe still running %v after Close returned", promptBound)
			}
			if err := r.result(); err != nil && !errors.Is(err, ports.ErrClosed) {
				t.Errorf("Subscribe stopped by Close returned %v (%s), want nil or ErrClosed", err, sentinelName(err))
			}
			r.once.Do(r.cancel) // Subscribe returned: nothing left for cleanup to check
		}},
		{"AfterClose", func(t *testing.T, e *psEnv) {
			if e.Connector == nil {
				t.Skip("PubSubSetup.Connector is nil")
			}
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			closeConn(t, e.Connector)
			_, err := e.Publisher.Publish(ctx, topic, ports.Message{Data: []byte("x")})
			wantErr(t, "Publish after Close", err, ports.ErrClosed)
			if prompt(t, "Subscribe after Close", promptBound, func() {
				err = e.Subscriber.Subscribe(ctx, sub, func(context.Context, ports.Message) error { return nil })
			}) {
				wantErr(t, "Subscribe after Close", err, ports.ErrClosed)
			}
			wantErr(t, "Check after Close", e.Connector.Check(ctx), ports.ErrClosed)
			wantErr(t, "second Close", e.Connector.Close(ctx), ports.ErrClosed)
		}},
	}
}

// firstOrder lists the data of key's messages in order of first delivery.
func firstOrder(deliveries []ports.Message, key string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range deliveries {
		if m.OrderingKey == key && !seen[string(m.Data)] {
			seen[string(m.Data)] = true
			out = append(out, string(m.Data))
		}
	}
	return out
}
