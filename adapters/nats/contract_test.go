package nats_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// nilCtx is a nil context.Context, which callers must not pass and the
// contract says is ErrInvalid.
var nilCtx context.Context

// TestEntryOrder: every method checks, in this order, Close (ErrClosed),
// a nil ctx (ErrInvalid, never a panic), a done ctx (ErrUnavailable
// wrapping the context's error), then its arguments.
func TestEntryOrder(t *testing.T) {
	t.Parallel()
	n := open(t, testConfig(t))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	h := func(context.Context, ports.Message) error { return nil }
	calls := map[string]func(ctx context.Context) error{
		"Check": n.Check,
		"Publish with no message": func(ctx context.Context) error {
			_, err := n.Publish(ctx, topic)
			return err
		},
		"Publish of a bad message to no topic": func(ctx context.Context) error {
			_, err := n.Publish(ctx, "", ports.Message{})
			return err
		},
		"Publish": func(ctx context.Context) error {
			_, err := n.Publish(ctx, topic, ports.Message{Data: []byte("x")})
			return err
		},
		"Subscribe to a missing subscription": func(ctx context.Context) error {
			return n.Subscribe(ctx, testenv.UniqueName("missing"), h)
		},
		"Subscribe":                    func(ctx context.Context) error { return n.Subscribe(ctx, subs["a"], h) },
		"Subscribe with a nil handler": func(ctx context.Context) error { return n.Subscribe(ctx, "", nil) },
		"EnsureTopic with a bad name":  func(ctx context.Context) error { return n.EnsureTopic(ctx, "x") },
		"EnsureSubscription with a bad config": func(ctx context.Context) error {
			return n.EnsureSubscription(ctx, "", ports.SubscriptionConfig{MaxDeliveryAttempts: 1})
		},
		"DeleteTopic":        func(ctx context.Context) error { return n.DeleteTopic(ctx, "") },
		"DeleteSubscription": func(ctx context.Context) error { return n.DeleteSubscription(ctx, "") },
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for name, call := range calls {
		if err := call(nilCtx); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("%s with a nil ctx = %v, want ErrInvalid", name, err)
		}
		err := call(cancelled)
		if ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx = %v, want ErrUnavailable wrapping context.Canceled", name, err)
		}
	}
	if err := n.Close(nilCtx); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Close with a nil ctx = %v, want ErrInvalid", err)
	}
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls["Close"] = n.Close
	for name, call := range calls {
		if err := call(t.Context()); ports.KindOf(err) != ports.ErrClosed {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
		if err := call(nilCtx); ports.KindOf(err) != ports.ErrClosed {
			t.Errorf("%s after Close with a nil ctx = %v, want ErrClosed", name, err)
		}
	}
}

// TestOpenNamesTheCause: Open against a refused port or an unknown host
// fails at once, saying which, with the dial error reachable; against a
// server that never answers it fails at its real bound and says it.
func TestOpenNamesTheCause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr, want string
		is               func(error) bool
	}{
		{"refused", faults.ClosedPort(t), "connection refused", func(err error) bool {
			var oe *net.OpError
			return errors.As(err, &oe)
		}},
		{"unknown host", "no-such-host.invalid:4222", "no such host", func(err error) bool {
			var de *net.DNSError
			return errors.As(err, &de)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := nats.Open(t.Context(), nats.Config{URL: "nats://" + tc.addr}, nats.WithLogger(testLogger(t)))
			took := time.Since(start)
			if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), tc.want) || !tc.is(err) {
				t.Errorf("Open = %v, want ErrUnavailable saying %q with the dial error reachable", err, tc.want)
			}
			if took > time.Second {
				t.Errorf("Open took %s to report %q", took, tc.want)
			}
		})
	}
	t.Run("no answer, context deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := nats.Open(ctx, nats.Config{URL: "nats://" + faults.Blackhole(t)}, nats.WithLogger(testLogger(t)))
		took := time.Since(start)
		if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), "no answer within 2s (the context's deadline)") {
			t.Errorf("Open with a 2s deadline = %v, want ErrUnavailable naming the 2s bound", err)
		}
		if took > 3*time.Second {
			t.Errorf("Open with a 2s deadline took %s", took)
		}
	})
	t.Run("no answer, check timeout", func(t *testing.T) {
		t.Parallel()
		_, err := nats.Open(t.Context(), nats.Config{URL: "nats://" + faults.Blackhole(t), CheckTimeout: time.Second}, nats.WithLogger(testLogger(t)))
		if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), "no answer within 1s (the check timeout)") {
			t.Errorf("Open with a 1s check timeout = %v, want ErrUnavailable naming the 1s bound", err)
		}
	})
}

// TestPermissionDenied: a wrong password, a user whose permissions refuse
// the JetStream API, and one whose permissions refuse a topic's subjects
// get ErrPermission, at once (the server reports a permissions violation
// asynchronously; without matching it to the call, the call would time
// out and say ErrUnavailable).
func TestPermissionDenied(t *testing.T) {
	t.Parallel()
	addr := startServer(t, `
authorization {
  users = [
    { user: admin, password: adminpw }
    { user: noadmin, password: noadminpw, permissions: { publish: { deny: ["$JS.API.STREAM.CREATE.>", "pk_perm.denied-topic.>"] } } }
  ]
}`)
	url := "nats://" + addr
	t.Run("wrong password", func(t *testing.T) {
		start := time.Now()
		_, err := nats.Open(t.Context(), nats.Config{URL: url, User: "admin", Password: "wrong"}, nats.WithLogger(testLogger(t)))
		if ports.KindOf(err) != ports.ErrPermission {
			t.Errorf("Open with a wrong password = %v, want ErrPermission", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Open with a wrong password took %s", took)
		}
	})
	admin := open(t, nats.Config{URL: url, User: "admin", Password: "adminpw", Prefix: "pk_perm"})
	for _, topic := range []string{"denied-topic", "allowed-topic"} {
		if err := admin.EnsureTopic(t.Context(), topic); err != nil {
			t.Fatal(err)
		}
	}
	limited := open(t, nats.Config{URL: url, User: "noadmin", Password: "noadminpw", Prefix: "pk_perm"})
	start := time.Now()
	ensureErr := limited.EnsureTopic(t.Context(), "new-topic")
	_, denied := limited.Publish(t.Context(), "denied-topic", ports.Message{Data: []byte("x")}, ports.Message{Data: []byte("y")})
	ids, allowed := limited.Publish(t.Context(), "allowed-topic", ports.Message{Data: []byte("x")})
	took := time.Since(start)
	if ports.KindOf(ensureErr) != ports.ErrPermission {
		t.Errorf("EnsureTopic refused by permissions = %v, want ErrPermission", ensureErr)
	}
	var pe *ports.PublishError
	if ports.KindOf(denied) != ports.ErrPermission || !errors.As(denied, &pe) || len(pe.Failures) != 2 || len(pe.Unconfirmed()) != 0 {
		t.Errorf("Publish refused by permissions = %v, want ErrPermission for both messages, none unconfirmed", denied)
	}
	if allowed != nil || len(ids) != 1 || ids[0] == "" {
		t.Errorf("Publish to an allowed topic = %v, %v", ids, allowed)
	}
	if took > 3*time.Second {
		t.Errorf("the refused calls took %s: they waited for a timeout", took)
	}
	if err := limited.Check(t.Context()); err != nil {
		t.Errorf("Check of a user refused some subjects = %v, want nil", err)
	}
}

// TestPoisonMessage: a message with invalid UTF-8 in an attribute or its
// ordering key is ErrInvalid before anything is sent, and the good
// messages published at the same time by other callers all succeed.
func TestPoisonMessage(t *testing.T) {
	t.Parallel()
	n := open(t, testConfig(t))
	topic, _ := provision(t, n, nil)
	const good = 160
	poison := []ports.Message{
		{Data: []byte("bad key"), Attributes: map[string]string{"k\xff": "v"}},
		{Data: []byte("bad value"), Attributes: map[string]string{"k": "v\xff"}},
		{Data: []byte("bad key"), OrderingKey: "o\xff"},
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failed   []string
		poisoned []error
	)
	for i := range good {
		wg.Go(func() {
			_, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte(strconv.Itoa(i))})
			if err != nil {
				mu.Lock()
				failed = append(failed, err.Error())
				mu.Unlock()
			}
		})
		if i%50 == 0 {
			for _, m := range poison {
				wg.Go(func() {
					_, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("fine")}, m)
					mu.Lock()
					poisoned = append(poisoned, err)
					mu.Unlock()
				})
			}
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d of %d good calls failed next to the bad ones; first: %s", len(failed), good, failed[0])
	}
	for _, err := range poisoned {
		if ports.KindOf(err) != ports.ErrInvalid || !strings.Contains(err.Error(), "message 1 of 2") {
			t.Errorf("a call with a bad message = %v, want ErrInvalid naming message 1", err)
		}
	}
}

// TestMaxPayload: the server's max_payload, smaller than the port's
// message limit, is enforced before sending, counted as NATS counts it
// (data plus the encoded headers that carry attributes and the ordering
// key, escapes included): a message of exactly max_payload bytes is
// stored, one byte more is ErrInvalid naming the limit, nothing of its
// call is sent, and the connection stays up (the server closes a
// connection that sends a message over its limit).
func TestMaxPayload(t *testing.T) {
	t.Parallel()
	n := open(t, testConfig(t))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	limit := int(n.Conn().MaxPayload())
	if limit >= ports.MaxMessageBytes {
		t.Skipf("the server's max_payload (%d) is not below the port's limit", limit)
	}
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		key   string
		wire  int // header bytes: "NATS/1.0\r\n", "k: v\r\n" per header, "\r\n"
	}{
		{"no header", nil, "", 0},
		{"attribute", map[string]string{"k": "v"}, "", 10 + 6 + 2},
		{"escaped attribute and key", map[string]string{"a:b": strings.Repeat("%", 100)}, "key", 10 + (5 + 2 + 300 + 2) + (15 + 2 + 3 + 2) + 2},
	} {
		fits := ports.Message{Data: make([]byte, limit-tc.wire), Attributes: tc.attrs, OrderingKey: tc.key}
		over := ports.Message{Data: make([]byte, limit-tc.wire+1), Attributes: tc.attrs, OrderingKey: tc.key}
		if ids, err := n.Publish(t.Context(), topic, fits); err != nil || len(ids) != 1 {
			t.Errorf("%s: a message of exactly max_payload bytes = %v, %v, want stored", tc.name, ids, err)
		}
		ids, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("not sent")}, over)
		if ports.KindOf(err) != ports.ErrInvalid || !strings.Contains(err.Error(), "max_payload") || ids != nil {
			t.Errorf("%s: a message one byte over max_payload = %v, %v, want ErrInvalid naming max_payload", tc.name, ids, err)
		}
	}
	if err := n.Check(t.Context()); err != nil {
		t.Fatalf("Check after the refused messages = %v: the connection did not stay up", err)
	}
	got := receiveN(t, n, subs["a"], 3, 30*time.Second)
	for _, m := range got {
		if string(m.Data) == "not sent" {
			t.Errorf("a message of a refused call was sent")
		}
	}
}

// TestPublishUnconfirmed: when ctx ends before the acknowledgements, each
// message is a failure marked Unconfirmed, wrapping ErrOutcomeUnknown and
// the context's error; the messages are stored all the same.
func TestPublishUnconfirmed(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	direct := open(t, cfg)
	topic, subs := provision(t, direct, map[string]ports.SubscriptionConfig{"a": {}})
	proxy := faults.NewProxy(t, strings.TrimPrefix(cfg.URL, "nats://"))
	slow := cfg
	slow.URL = "nats://" + proxy.Addr()
	n := open(t, slow)
	if _, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	proxy.Latency(time.Second)
	const count = 50
	msgs := make([]ports.Message, count)
	for i := range msgs {
		msgs[i] = ports.Message{Data: []byte(strconv.Itoa(i))}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	ids, err := n.Publish(ctx, topic, msgs...)
	var pe *ports.PublishError
	switch {
	case ports.KindOf(err) != ports.ErrUnavailable:
		t.Errorf("err = %v, want ErrUnavailable", err)
	case !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("err = %v, want ErrOutcomeUnknown and the context's error reachable", err)
	case !errors.As(err, &pe):
		t.Errorf("err = %v has no PublishError", err)
	case len(pe.Unconfirmed()) != count || pe.Total != count:
		t.Errorf("%d of %d unconfirmed, want all %d", len(pe.Unconfirmed()), pe.Total, count)
	}
	for i, id := range ids {
		if id != "" {
			t.Errorf("ids[%d] = %q for an unconfirmed message", i, id)
		}
	}
	got := receiveN(t, direct, subs["a"], count+1, 30*time.Second)
	t.Logf("%d unconfirmed messages, %d deliveries received", count, len(got))
}

// TestContextEndsDuringCall: a ctx cancelled while Publish or Check waits
// on a server that stopped answering gives ErrUnavailable with
// context.Canceled reachable, promptly.
func TestContextEndsDuringCall(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	proxy := faults.NewProxy(t, strings.TrimPrefix(cfg.URL, "nats://"))
	cfg.URL = "nats://" + proxy.Addr()
	cfg.Publish.Timeout = time.Second // what Close waits for
	n := open(t, cfg)
	topic, _ := provision(t, n, nil)
	proxy.Blackhole()
	cancelSoon := func() context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		return ctx
	}
	start := time.Now()
	_, perr := n.Publish(cancelSoon(), topic, ports.Message{Data: []byte("x")})
	cerr := n.Check(cancelSoon())
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the two calls took %s", took)
	}
	for name, err := range map[string]error{"Publish": perr, "Check": cerr} {
		if ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s whose ctx is cancelled meanwhile = %v, want ErrUnavailable wrapping context.Canceled", name, err)
		}
	}
}

// TestPublishAcrossAnOutage: messages published while the connection is
// down are buffered by the client and stored once it is back, within 1s
// of the server's return (the client reconnects every 250ms); messages
// whose acknowledgement was in flight when the connection broke fail at
// once as unconfirmed instead of waiting for the publish timeout; and
// Check says ErrUnavailable at once while the connection is down.
func TestPublishAcrossAnOutage(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	proxy := faults.NewProxy(t, strings.TrimPrefix(cfg.URL, "nats://"))
	cfg.URL = "nats://" + proxy.Addr()
	n := open(t, cfg)
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"a": {}})
	proxy.Cut()
	deadline := time.Now().Add(10 * time.Second)
	for n.Check(t.Context()) == nil {
		if time.Now().After(deadline) {
			t.Fatal("Check still nil 10s after the connection was cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := n.Check(t.Context()); ports.KindOf(err) != ports.ErrUnavailable || time.Since(start) > 100*time.Millisecond {
		t.Errorf("Check while the connection is down = %v after %s, want ErrUnavailable at once", err, time.Since(start))
	}
	const count = 100
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last time.Time
		errs []error
	)
	for i := range count {
		wg.Go(func() {
			_, err := n.Publish(t.Context(), topic, ports.Message{Data: []byte(strconv.Itoa(i))})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			last = time.Now()
		})
	}
	time.Sleep(2 * time.Second)
	restored := time.Now()
	proxy.Restore()
	wg.Wait()
	mu.Lock()
	after := last.Sub(restored)
	mu.Unlock()
	t.Logf("%d publishes made during a 2s outage: the last completed %s after the server's return", count, after.Round(time.Millisecond))
	if len(errs) > 0 {
		t.Errorf("%d of %d publishes failed; first: %v", len(errs), count, errs[0])
	}
	if after > 2*time.Second { // 1s is the promise; the rest is slack for a loaded machine
		t.Errorf("the last publish completed %s after the server's return, want within 1s", after.Round(time.Millisecond))
	}
	if got := receiveN(t, n, subs["a"], count, 30*time.Second); len(got) < count {
		t.Errorf("received %d of %d messages", len(got), count)
	}

	// In flight when the connection breaks: unconfirmed, at once.
	proxy.Latency(500 * time.Millisecond)
	msgs := make([]ports.Message, 20)
	for i := range msgs {
		msgs[i] = ports.Message{Data: []byte("in flight " + strconv.Itoa(i))}
	}
	time.AfterFunc(200*time.Millisecond, proxy.Cut)
	start = time.Now()
	_, err := n.Publish(t.Context(), topic, msgs...)
	took := time.Since(start)
	var pe *ports.PublishError
	if ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.As(err, &pe) || len(pe.Unconfirmed()) != len(msgs) {
		t.Errorf("Publish whose connection broke = %v, want every message unconfirmed", err)
	}
	if took > 3*time.Second {
		t.Errorf("Publish whose connection broke returned after %s, not at once", took)
	}
	proxy.Latency(0)
	proxy.Restore()
}

// receiveN subscribes to sub until want messages arrived or wait passed,
// and returns them.
func receiveN(t *testing.T, n *nats.NATS, sub string, want int, wait time.Duration) []ports.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	var mu sync.Mutex
	var got []ports.Message
	err := n.Subscribe(ctx, sub, func(_ context.Context, m ports.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		if len(got) >= want {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]ports.Message(nil), got...)
}
