package pubsub_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/pstestserver"
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
	srv := startPstest(t)
	ps := open(t, pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr})
	topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
	h := func(context.Context, ports.Message) error { return nil }
	calls := map[string]func(ctx context.Context) error{
		"Check": ps.Check,
		"Publish with no message": func(ctx context.Context) error {
			_, err := ps.Publish(ctx, topic)
			return err
		},
		"Publish of a bad message to no topic": func(ctx context.Context) error {
			_, err := ps.Publish(ctx, "", ports.Message{})
			return err
		},
		"Publish": func(ctx context.Context) error {
			_, err := ps.Publish(ctx, topic, ports.Message{Data: []byte("x")})
			return err
		},
		"PublishAsync": func(ctx context.Context) error {
			_, err := ps.PublishAsync(ctx, topic, ports.Message{Data: []byte("x")})
			return err
		},
		"Subscribe to a missing subscription": func(ctx context.Context) error {
			return ps.Subscribe(ctx, testenv.UniqueName("missing"), h)
		},
		"Subscribe": func(ctx context.Context) error { return ps.Subscribe(ctx, subs["a"], h) },
		"Subscribe with a nil handler": func(ctx context.Context) error {
			return ps.Subscribe(ctx, "", nil)
		},
		"EnsureTopic with a bad name": func(ctx context.Context) error { return ps.EnsureTopic(ctx, "x") },
		"EnsureSubscription with a bad config": func(ctx context.Context) error {
			return ps.EnsureSubscription(ctx, "", ports.SubscriptionConfig{MaxDeliveryAttempts: 1})
		},
		"DeleteTopic":        func(ctx context.Context) error { return ps.DeleteTopic(ctx, "") },
		"DeleteSubscription": func(ctx context.Context) error { return ps.DeleteSubscription(ctx, "") },
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for name, call := range calls {
		if err := call(nilCtx); !errors.Is(err, ports.ErrInvalid) || ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("%s with a nil ctx = %v, want ErrInvalid", name, err)
		}
		err := call(cancelled)
		if ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx = %v, want ErrUnavailable wrapping context.Canceled", name, err)
		}
	}
	if err := ps.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls["Close"] = ps.Close
	for name, call := range calls {
		if err := call(t.Context()); ports.KindOf(err) != ports.ErrClosed {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
		if err := call(nilCtx); ports.KindOf(err) != ports.ErrClosed {
			t.Errorf("%s after Close with a nil ctx = %v, want ErrClosed", name, err)
		}
	}
}

// TestContextEndsDuringCall: a ctx cancelled while Publish or Check waits
// on a server that never answers gives ErrUnavailable with
// context.Canceled reachable.
func TestContextEndsDuringCall(t *testing.T) {
	t.Parallel()
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: faults.Blackhole(t)}
	cfg.Publish.Timeout = time.Second // the message Close would wait for
	ps := open(t, cfg, pubsub.WithLazyConnect())
	cancelSoon := func() context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		return ctx
	}
	_, perr := ps.Publish(cancelSoon(), "topic", ports.Message{Data: []byte("x")})
	cerr := ps.Check(cancelSoon())
	for name, err := range map[string]error{"Publish": perr, "Check": cerr} {
		if ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s whose ctx is cancelled meanwhile = %v, want ErrUnavailable wrapping context.Canceled", name, err)
		}
	}
}

// TestPermissionDenied: PermissionDenied and Unauthenticated are
// ErrPermission (not retryable), at once.
func TestPermissionDenied(t *testing.T) {
	t.Parallel()
	srv, err := pstestserver.Start("127.0.0.1:0",
		pstest.WithErrorInjection("Publish", codes.PermissionDenied, "no publisher role"),
		pstest.WithErrorInjection("CreateTopic", codes.Unauthenticated, "bad token"),
		pstest.WithErrorInjection("DeleteTopic", codes.PermissionDenied, "no admin role"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ps := open(t, pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr})
	start := time.Now()
	_, perr := ps.Publish(t.Context(), "existing", ports.Message{Data: []byte("x")})
	took := time.Since(start)
	for name, err := range map[string]error{
		"Publish":     perr,
		"EnsureTopic": ps.EnsureTopic(t.Context(), "newtopic"),
		"DeleteTopic": ps.DeleteTopic(t.Context(), "newtopic"),
	} {
		if ports.KindOf(err) != ports.ErrPermission {
			t.Errorf("%s refused by the server = %v, want ErrPermission", name, err)
		}
	}
	if took > 5*time.Second {
		t.Errorf("Publish refused for permission took %s: it was retried", took)
	}
}

// TestPoisonMessage: a message with invalid UTF-8 in an attribute (which
// the client cannot encode, failing its whole batch) is ErrInvalid before
// anything is sent, and the good messages published at the same time by
// other callers, batched together, all succeed.
func TestPoisonMessage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		topic, _ := provision(t, ps, nil)
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
				_, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte(strconv.Itoa(i))})
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
				}
			})
			if i%50 == 0 {
				for _, m := range poison {
					wg.Go(func() {
						_, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("fine")}, m)
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
	})
}

// TestOpenNamesTheCause: Open against a refused port or an unknown host
// fails at once, saying which; against a server that never answers it
// fails at its real bound and says it.
func TestOpenNamesTheCause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, host, want string
		is               func(error) bool
	}{
		{"refused", faults.ClosedPort(t), "connection refused", func(err error) bool {
			var oe *net.OpError
			return errors.As(err, &oe)
		}},
		{"unknown host", "no-such-host.invalid:8085", "no such host", func(err error) bool {
			var de *net.DNSError
			return errors.As(err, &de)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := pubsub.Open(t.Context(), pubsub.Config{ProjectID: testProject, EmulatorHost: tc.host}, pubsub.WithLogger(testLogger(t)))
			took := time.Since(start)
			if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), tc.want) || !tc.is(err) {
				t.Errorf("Open = %v, want ErrUnavailable saying %q with the dial error reachable", err, tc.want)
			}
			// The check timeout is 5s; a refusal is known in milliseconds.
			if took > time.Second {
				t.Errorf("Open took %s to report %q", took, tc.want)
			}
		})
	}
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := pubsub.Open(ctx, pubsub.Config{ProjectID: testProject, EmulatorHost: faults.Blackhole(t)}, pubsub.WithLogger(testLogger(t)))
		if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), "no answer within 2s (the context's deadline)") {
			t.Errorf("Open with a 2s deadline = %v, want ErrUnavailable naming the 2s bound", err)
		}
		if err != nil && strings.Contains(err.Error(), "5s") {
			t.Errorf("Open with a 2s deadline names the 5s check timeout: %v", err)
		}
	})
}

// TestPublishAfterOutage: publishes in flight while the network is cut
// for 2s all complete, within 1s of its return.
func TestPublishAfterOutage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		proxy := faults.NewProxy(t, cfg.EmulatorHost)
		cfg.EmulatorHost = proxy.Addr()
		cfg.Publish.BatchCount = 1 // one request per message: 100 retrying requests
		ps := open(t, cfg)
		topic, _ := provision(t, ps, nil)
		if _, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("warm")}); err != nil {
			t.Fatal(err)
		}
		const n = 100
		proxy.Cut()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			last time.Time
			errs []error
		)
		for i := range n {
			wg.Go(func() {
				_, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte(strconv.Itoa(i))})
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
		defer mu.Unlock()
		after := last.Sub(restored)
		t.Logf("%d publishes in flight during a 2s outage: the last completed %s after the service's return", n, after.Round(time.Millisecond))
		if len(errs) > 0 {
			t.Errorf("%d of %d publishes failed; first: %v", len(errs), n, errs[0])
		}
		// 1s is the promise; the rest is slack for a loaded machine. The
		// client's own backoff (to 60s, x4) took up to 11.6s.
		if after > 2*time.Second {
			t.Errorf("the last publish completed %s after the service's return, want within 1s", after.Round(time.Millisecond))
		}
	})
}

// TestPublishUnconfirmed: when ctx ends before the server's confirmation,
// each message is a failure marked Unconfirmed, wrapping
// ErrOutcomeUnknown and the context's error; the messages are still
// published.
func TestPublishUnconfirmed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		direct := open(t, cfg)
		topic, subs := provision(t, direct, map[string]ports.SubscriptionConfig{"a": {}})
		proxy := faults.NewProxy(t, cfg.EmulatorHost)
		slow := cfg
		slow.EmulatorHost = proxy.Addr()
		ps := open(t, slow)
		proxy.Latency(time.Second)
		const n = 50
		msgs := make([]ports.Message, n)
		for i := range msgs {
			msgs[i] = ports.Message{Data: []byte(strconv.Itoa(i))}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		ids, err := ps.Publish(ctx, topic, msgs...)
		var pe *ports.PublishError
		switch {
		case ports.KindOf(err) != ports.ErrUnavailable:
			t.Errorf("err = %v, want ErrUnavailable", err)
		case !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("err = %v, want ErrOutcomeUnknown and the context's error reachable", err)
		case !errors.As(err, &pe):
			t.Errorf("err = %v has no PublishError", err)
		case len(pe.Unconfirmed()) != n || pe.Total != n:
			t.Errorf("%d of %d unconfirmed, want all %d", len(pe.Unconfirmed()), pe.Total, n)
		}
		for i, id := range ids {
			if id != "" {
				t.Errorf("ids[%d] = %q for an unconfirmed message", i, id)
			}
		}
		got := receiveN(t, direct, subs["a"], n, 60*time.Second)
		t.Logf("%d unconfirmed messages, %d deliveries received", n, len(got))
	})
}
