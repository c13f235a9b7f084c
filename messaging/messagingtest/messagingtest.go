// Package messagingtest checks that the middleware and the Runner of
// package messaging behave the same on a messaging backend as they do on
// portkit's fake: each case creates its own topics and subscriptions
// through ports.Admin, publishes through ports.Publisher, consumes through
// ports.Subscriber, and asserts what the middleware promise (a panic
// nacks and the message comes back, Retry retries within the delivery,
// DeadLetter moves the message with its attributes, Dedupe handles a
// duplicate once, the Runner delivers to every route and stops on its
// context's end).
//
// Backends differ in what they report (Message.DeliveryAttempt is 0
// without a dead-letter policy on Google Pub/Sub and the fake, counted on
// NATS JetStream) and in how fast they redeliver; the cases accept both and
// poll with generous bounds, never sleep as an assertion.
//
// An adapter's test calls it with its own Setup:
//
//	func TestMessaging(t *testing.T) {
//		messagingtest.Run(t, func(t *testing.T) messagingtest.Env {
//			ps := openAdapter(t)
//			return messagingtest.Env{Publisher: ps, Subscriber: ps, Admin: ps, Cache: fakes.NewCache()}
//		})
//	}
package messagingtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

// Env is the backend a case runs on.
type Env struct {
	Publisher  ports.Publisher
	Subscriber ports.Subscriber
	Admin      ports.Admin
	// Cache backs the Dedupe case; nil skips it.
	Cache ports.Cache
	// Prefix starts every topic and subscription name the cases create
	// (default "pk-mg").
	Prefix string
	// Wait bounds every wait of a case (default 60 s).
	Wait time.Duration
}

// Setup returns the Env of one case; it registers its own cleanup with t.
type Setup func(t *testing.T) Env

// Run runs every case, each as a subtest with a fresh Env.
func Run(t *testing.T, setup Setup) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"RecoverNacksAndTheMessageComesBack", testRecover},
		{"RetryRetriesWithinTheDelivery", testRetry},
		{"TimeoutNacksAndTheMessageComesBack", testTimeout},
		{"DeadLetterMovesAfterNDeliveries", testDeadLetter},
		{"DeadLetterMovesUndecodableAtOnce", testDeadLetterDecode},
		{"DedupeHandlesADuplicateOnce", testDedupe},
		{"RunnerDeliversToEveryRouteAndStops", testRunner},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &env{Env: setup(t), t: t}
			if e.Prefix == "" {
				e.Prefix = "pk-mg"
			}
			if e.Wait == 0 {
				e.Wait = 60 * time.Second
			}
			c.fn(t, e)
		})
	}
}

type env struct {
	Env
	t *testing.T
}

var nameChars = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// name returns a fresh topic or subscription name for the case.
func (e *env) name(kind string) string {
	base := nameChars.ReplaceAllString(e.t.Name(), "-")
	if len(base) > 80 {
		base = base[len(base)-80:]
	}
	return strings.ToLower(fmt.Sprintf("%s-%s-%s-%08x", e.Prefix, base, kind, rand.Uint32()))
}

// topicWithSub creates a topic and a subscription to it.
func (e *env) topicWithSub(cfg ports.SubscriptionConfig) (topic, sub string) {
	e.t.Helper()
	ctx := e.ctx()
	topic, sub = e.name("t"), e.name("s")
	if err := e.Admin.EnsureTopic(ctx, topic); err != nil {
		e.t.Fatalf("EnsureTopic: %v", err)
	}
	cfg.Topic = topic
	if err := e.Admin.EnsureSubscription(ctx, sub, cfg); err != nil {
		e.t.Fatalf("EnsureSubscription: %v", err)
	}
	return topic, sub
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), e.Wait)
	e.t.Cleanup(cancel)
	return ctx
}

// consume runs Subscribe with h until the case ends.
func (e *env) consume(sub string, h ports.Handler) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Subscriber.Subscribe(ctx, sub, h) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Subscribe(%s) = %v, want nil after its context ended", sub, err)
			}
		case <-time.After(ports.DefaultShutdownGrace + 5*time.Second):
			e.t.Errorf("Subscribe(%s) did not return after its context ended", sub)
		}
	})
}

func (e *env) publish(topic string, msgs ...ports.Message) {
	e.t.Helper()
	if _, err := e.Publisher.Publish(e.ctx(), topic, msgs...); err != nil {
		e.t.Fatalf("Publish: %v", err)
	}
}

// eventually polls cond until it holds or the case's wait ends.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(e.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", e.Wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counter is a concurrency-safe tally by key.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
	return c.n[k]
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// logSink is a concurrency-safe log buffer.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

var fast = messaging.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2, Jitter: 0.5}

const secretPayload = "secret-payload-4242"

func testRecover(t *testing.T, e *env) {
	topic, sub := e.topicWithSub(ports.SubscriptionConfig{})
	sink := &logSink{}
	log := slog.New(slog.NewTextHandler(sink, nil))
	var calls atomic.Int32
	var handled atomic.Bool
	e.consume(sub, messaging.Recover(log)(func(ctx context.Context, m ports.Message) error {
		if calls.Add(1) == 1 {
			panic("handler bug on " + string(m.Data))
		}
		handled.Store(true)
		return nil
	}))
	e.publish(topic, ports.Message{Data: []byte(secretPayload)})
	e.eventually("the redelivery after the panic", handled.Load)
	out := sink.String()
	if n := strings.Count(out, "handler panicked"); n != 1 {
		t.Fatalf("the panic was logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, secretPayload) || strings.Contains(out, "4242") {
		t.Fatalf("the log holds the message's data:\n%s", out)
	}
	if !strings.Contains(out, "goroutine") {
		t.Fatalf("the log lacks the stack:\n%s", out)
	}
}

type deliveryKey struct{}

// tagDeliveries gives each delivery's context a number of its own.
func tagDeliveries(next ports.Handler) ports.Handler {
	var n atomic.Int64
	return func(ctx context.Context, m ports.Message) error {
		return next(context.WithValue(ctx, deliveryKey{}, n.Add(1)), m)
	}
}

func testRetry(t *testing.T, e *env) {
	topic, sub := e.topicWithSub(ports.SubscriptionConfig{})
	retry, err := messaging.Retry(messaging.RetryConfig{Attempts: 5, Backoff: fast})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var deliveries []any
	var done atomic.Bool
	e.consume(sub, messaging.Apply(func(ctx context.Context, m ports.Message) error {
		mu.Lock()
		deliveries = append(deliveries, ctx.Value(deliveryKey{}))
		n := len(deliveries)
		mu.Unlock()
		if n < 3 {
			return ports.NewError("test", "handle", ports.ErrUnavailable, errors.New("transient"))
		}
		done.Store(true)
		return nil
	}, tagDeliveries, retry))
	e.publish(topic, ports.Message{Data: []byte("x")})
	e.eventually("the third attempt", done.Load)
	mu.Lock()
	defer mu.Unlock()
	if deliveries[0] != deliveries[1] || deliveries[1] != deliveries[2] {
		t.Fatalf("attempts ran in deliveries %v; want all three in the first (in-process retries)", deliveries)
	}
}

func testTimeout(t *testing.T, e *env) {
	topic, sub := e.topicWithSub(ports.SubscriptionConfig{})
	timeout, err := messaging.Timeout(100 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var cause atomic.Value
	var handled atomic.Bool
	e.consume(sub, timeout(func(ctx context.Context, m ports.Message) error {
		if calls.Add(1) == 1 {
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			return ctx.Err()
		}
		handled.Store(true)
		return nil
	}))
	e.publish(topic, ports.Message{Data: []byte("x")})
	e.eventually("the redelivery after the timeout", handled.Load)
	if c, _ := cause.Load().(error); !errors.Is(c, messaging.ErrHandlerTimeout) {
		t.Fatalf("the first call's context ended with %v, want ErrHandlerTimeout", c)
	}
}

// deadLetterSetup makes a source topic and subscription (no backend
// dead-letter policy) and a dead-letter topic whose messages are
// collected.
func deadLetterSetup(e *env) (topic, sub, dlTopic string, dead func() []ports.Message) {
	topic, sub = e.topicWithSub(ports.SubscriptionConfig{})
	dlTopic, dlSub := e.topicWithSub(ports.SubscriptionConfig{})
	var mu sync.Mutex
	var got []ports.Message
	e.consume(dlSub, func(_ context.Context, m ports.Message) error {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		return nil
	})
	return topic, sub, dlTopic, func() []ports.Message {
		mu.Lock()
		defer mu.Unlock()
		return append([]ports.Message(nil), got...)
	}
}

func testDeadLetter(t *testing.T, e *env) {
	topic, sub, dlTopic, dead := deadLetterSetup(e)
	dl, err := messaging.DeadLetter(messaging.DeadLetterConfig{
		Publisher: e.Publisher, Topic: dlTopic, Subscription: sub, MaxDeliveries: 3, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	e.consume(sub, dl(func(context.Context, ports.Message) error {
		calls.Add(1)
		return ports.NewError("test", "handle", ports.ErrUnavailable, errors.New("downstream is down"))
	}))
	e.publish(topic, ports.Message{Data: []byte("order 7"), Attributes: map[string]string{"k": "v", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
	e.eventually("the dead-lettered message", func() bool { return len(dead()) > 0 })
	d := dead()[0]
	if string(d.Data) != "order 7" || d.Attributes["k"] != "v" || d.Attributes["traceparent"] == "" {
		t.Fatalf("the dead-lettered message lost its content: %+v", d)
	}
	if d.Attributes[ports.AttrDeadLetterSubscription] != sub {
		t.Fatalf("source = %q, want %q", d.Attributes[ports.AttrDeadLetterSubscription], sub)
	}
	if d.Attributes[ports.AttrDeadLetterDeliveryCount] != "3" {
		t.Fatalf("delivery count = %q, want 3", d.Attributes[ports.AttrDeadLetterDeliveryCount])
	}
	if r := d.Attributes[messaging.AttrDeadLetterReason]; !strings.Contains(r, "downstream is down") {
		t.Fatalf("reason = %q", r)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("the handler ran %d times before the message moved, want 3", n)
	}
}

func testDeadLetterDecode(t *testing.T, e *env) {
	topic, sub, dlTopic, dead := deadLetterSetup(e)
	dl, err := messaging.DeadLetter(messaging.DeadLetterConfig{
		Publisher: e.Publisher, Topic: dlTopic, Subscription: sub, MaxDeliveries: 5, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		ID int `json:"id"`
	}
	var deliveries, handled atomic.Int32
	count := func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error { deliveries.Add(1); return next(ctx, m) }
	}
	e.consume(sub, messaging.Apply(messaging.Handle[event](nil, func(context.Context, event, ports.Message) error {
		handled.Add(1)
		return nil
	}), dl, count))
	e.publish(topic, ports.Message{Data: []byte("{not json"), Attributes: map[string]string{messaging.AttrContentType: "application/json"}})
	e.eventually("the dead-lettered message", func() bool { return len(dead()) > 0 })
	if n := deliveries.Load(); n != 1 || handled.Load() != 0 {
		t.Fatalf("%d deliveries, %d handled; want 1 and 0 (moved at once)", n, handled.Load())
	}
	if r := dead()[0].Attributes[messaging.AttrDeadLetterReason]; !strings.Contains(r, "decode") {
		t.Fatalf("reason = %q", r)
	}
}

func testDedupe(t *testing.T, e *env) {
	if e.Cache == nil {
		t.Skip("Env.Cache is nil")
	}
	topic, sub := e.topicWithSub(ports.SubscriptionConfig{})
	dedupe, err := messaging.Dedupe(messaging.DedupeConfig{
		Cache: e.Cache, Consumer: "projector", Prefix: e.name("dedupe") + ":", Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var acked, handled counter
	ackCount := func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error {
			err := next(ctx, m)
			if err == nil {
				acked.add(messaging.MessageKey(m))
			}
			return err
		}
	}
	e.consume(sub, messaging.Apply(func(_ context.Context, m ports.Message) error {
		handled.add(messaging.MessageKey(m))
		return nil
	}, ackCount, dedupe))
	withID := func(id string) ports.Message {
		return ports.Message{Data: []byte("x"), Attributes: map[string]string{messaging.AttrMessageID: id}}
	}
	// The same message published twice (a relay that died before marking
	// it sent), and another one.
	e.publish(topic, withID("A"), withID("B"))
	e.publish(topic, withID("A"))
	e.eventually("every delivery acked", func() bool { return acked.get("A") >= 2 && acked.get("B") >= 1 })
	if a, b := handled.get("A"), handled.get("B"); a != 1 || b != 1 {
		t.Fatalf("handled A %d and B %d times, want once each", a, b)
	}
}

func testRunner(t *testing.T, e *env) {
	topicA, subA := e.topicWithSub(ports.SubscriptionConfig{})
	topicB, subB := e.topicWithSub(ports.SubscriptionConfig{})
	var got counter
	record := func(route string) ports.Handler {
		return func(_ context.Context, m ports.Message) error {
			got.add(route + ":" + string(m.Data))
			return nil
		}
	}
	var viaMiddleware atomic.Int32
	mw := func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error { viaMiddleware.Add(1); return next(ctx, m) }
	}
	r, err := messaging.NewRunner(e.Subscriber, messaging.RunnerConfig{Logger: quietLogger()},
		messaging.Route{Subscription: subA, Handler: record("a"), Middleware: []messaging.Middleware{messaging.Recover(quietLogger()), mw}},
		messaging.Route{Subscription: subB, Handler: record("b")},
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	e.eventually("the runner receiving", func() bool { return r.Check(context.Background()) == nil })
	e.publish(topicA, ports.Message{Data: []byte("1")})
	e.publish(topicB, ports.Message{Data: []byte("2")})
	e.eventually("both messages", func() bool { return got.get("a:1") > 0 && got.get("b:2") > 0 })
	if viaMiddleware.Load() == 0 {
		t.Fatal("route a's middleware did not run")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after its context ended", err)
		}
	case <-time.After(ports.DefaultShutdownGrace + 10*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
}
