package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/ports"
)

// TestCloseFlushesEveryMessage publishes 10,000 messages without waiting
// for any confirmation, closes the adapter at once, and then receives
// them all: none lost, none delivered twice.
func TestCloseFlushesEveryMessage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		const n = 10_000
		pub := open(t, cfg)
		topic, subs := provision(t, pub, map[string]pubsub.SubscriptionConfig{"a": {AckDeadline: 60 * time.Second}})

		pending := make([]*pubsub.Pending, n)
		for i := range n {
			pd, err := pub.PublishAsync(t.Context(), topic, ports.Message{Data: []byte(strconv.Itoa(i))})
			if err != nil {
				t.Fatalf("PublishAsync %d: %v", i, err)
			}
			pending[i] = pd
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		if err := pub.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i, pd := range pending {
			select {
			case <-pd.Done():
			default:
				t.Fatalf("message %d unresolved after Close returned", i)
			}
			if ids, err := pd.Wait(ctx); err != nil || ids[0] == "" {
				t.Fatalf("message %d: ids %q, err %v", i, ids, err)
			}
		}

		if onPstest(t) {
			cfg.Receive.Streams = 64 // about one message per stream per 10ms
		}
		sub := open(t, cfg)
		rctx, rcancel := context.WithTimeout(t.Context(), 120*time.Second)
		defer rcancel()
		var (
			mu       sync.Mutex
			seen     = make([]int, n)
			distinct int
		)
		err := sub.Subscribe(rctx, subs["a"], func(_ context.Context, m ports.Message) error {
			i, err := strconv.Atoi(string(m.Data))
			if err != nil || i < 0 || i >= n {
				t.Errorf("unexpected message %q", m.Data)
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			seen[i]++
			if seen[i] == 1 {
				distinct++
				if distinct == n {
					rcancel()
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		lost, dup := 0, 0
		for _, c := range seen {
			switch {
			case c == 0:
				lost++
			case c > 1:
				dup += c - 1
			}
		}
		t.Logf("%d published without waiting, then Close: %d received, %d lost, %d duplicated", n, distinct, lost, dup)
		if lost != 0 || dup != 0 {
			t.Errorf("%d lost, %d duplicated; want 0 and 0", lost, dup)
		}
	})
}

// TestOrdering publishes interleaved messages of several ordering keys and
// checks that an ordering subscription receives each key's messages in
// publish order.
func TestOrdering(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		perKey := 200
		if onPstest(t) { // one outstanding message per key, acked every 100ms
			perKey = 20
		}
		const keys = 4
		ps := open(t, cfg)
		topic, subs := provision(t, ps, map[string]pubsub.SubscriptionConfig{"o": {Ordering: true}})
		var msgs []ports.Message
		for i := range perKey {
			for k := range keys {
				msgs = append(msgs, ports.Message{
					Data:        []byte(strconv.Itoa(i)),
					OrderingKey: "key-" + strconv.Itoa(k),
				})
			}
		}
		// Two calls, so that order holds across calls too.
		half := len(msgs) / 2
		if _, err := ps.Publish(t.Context(), topic, msgs[:half]...); err != nil {
			t.Fatal(err)
		}
		if _, err := ps.Publish(t.Context(), topic, msgs[half:]...); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		var (
			mu   sync.Mutex
			next = map[string]int{}
			bad  []string
			done int
		)
		err := ps.Subscribe(ctx, subs["o"], func(_ context.Context, m ports.Message) error {
			i, _ := strconv.Atoi(string(m.Data))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case i == next[m.OrderingKey]:
				next[m.OrderingKey]++
				if next[m.OrderingKey] == perKey {
					done++
					if done == keys {
						cancel()
					}
				}
			case i < next[m.OrderingKey]:
				// A redelivery of an acked message: allowed (at least
				// once), and not a reordering.
			default:
				bad = append(bad, fmt.Sprintf("%s: got %d, want %d", m.OrderingKey, i, next[m.OrderingKey]))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Errorf("out of order: %s", strings.Join(bad[:min(len(bad), 10)], "; "))
		}
		if done != keys {
			t.Errorf("only %d of %d keys fully received: %v", done, keys, next)
		}
	})
}

// TestDeadServer points the adapter at a listener that accepts
// connections and never answers: every call returns ErrUnavailable within
// its bound, where the raw client waits a minute or retries forever.
func TestDeadServer(t *testing.T) {
	addr := deadServer(t)
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: addr, CheckTimeout: 300 * time.Millisecond}
	cfg.Publish.Timeout = time.Second
	ps, err := pubsub.Open(t.Context(), cfg, pubsub.WithLazyConnect(), pubsub.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	// slack covers scheduling on a loaded machine; the raw client takes
	// 60s (publish), forever (Receive) or as long as ctx (Check).
	const slack = 3 * time.Second
	within := func(name string, bound time.Duration, f func() error) {
		t.Helper()
		start := time.Now()
		err := f()
		d := time.Since(start)
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("%s = %v, want ErrUnavailable", name, err)
		}
		if d > bound+slack {
			t.Errorf("%s returned after %s, bound %s", name, d.Round(time.Millisecond), bound)
		}
	}
	ctx := t.Context()
	within("Check", cfg.CheckTimeout, func() error { return ps.Check(ctx) })
	within("Subscribe", cfg.CheckTimeout, func() error {
		return ps.Subscribe(ctx, "any", func(context.Context, ports.Message) error { return nil })
	})
	within("Publish (publish timeout)", cfg.Publish.Timeout, func() error {
		_, err := ps.Publish(ctx, "any", ports.Message{Data: []byte("x")})
		return err
	})
	if err := ps.Close(ctx); err != nil {
		t.Errorf("Close with nothing pending: %v", err)
	}

	// Messages still unconfirmed when Close's context ends are counted,
	// those of a caller that gave up included. A long publish timeout
	// keeps them pending.
	cfg.Publish.Timeout = time.Minute
	ps2, err := pubsub.Open(t.Context(), cfg, pubsub.WithLazyConnect(), pubsub.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	within("Publish (ctx deadline)", 200*time.Millisecond, func() error {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := ps2.Publish(pctx, "any", ports.Message{Data: []byte("x")})
		return err
	})
	for range 3 {
		if _, err := ps2.PublishAsync(ctx, "any", ports.Message{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var closeErr error
	within("Close", 500*time.Millisecond+1500*time.Millisecond, func() error {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		closeErr = ps2.Close(cctx)
		return closeErr
	})
	if closeErr == nil || !strings.Contains(closeErr.Error(), "4 messages not confirmed") {
		t.Errorf("Close error %v does not say how many messages were not confirmed (4)", closeErr)
	}
}

// TestSubscribeServerGoesAway stops the server under a running Subscribe:
// it returns ErrUnavailable once the unavailable timeout has passed
// (the raw client's Receive retries forever).
func TestSubscribeServerGoesAway(t *testing.T) {
	srv := pstest.NewServer()
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr, CheckTimeout: 300 * time.Millisecond}
	cfg.Receive.UnavailableTimeout = time.Second
	ps := open(t, cfg)
	_, subs := provision(t, ps, map[string]pubsub.SubscriptionConfig{"a": {}})

	errc := make(chan error, 1)
	go func() {
		errc <- ps.Subscribe(t.Context(), subs["a"], func(context.Context, ports.Message) error { return nil })
	}()
	time.Sleep(200 * time.Millisecond) // let it stream
	select {
	case err := <-errc:
		t.Fatalf("Subscribe returned before the server stopped: %v", err)
	default:
	}
	_ = srv.Close()
	// Bound: the unavailable timeout, plus the probe interval and one
	// probe timeout, plus 2s for the client's Receive to stop, plus
	// scheduling slack.
	bound := cfg.Receive.UnavailableTimeout + cfg.Receive.UnavailableTimeout/3 + cfg.CheckTimeout + 2*time.Second + 3*time.Second
	select {
	case err := <-errc:
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("Subscribe = %v, want ErrUnavailable", err)
		}
	case <-time.After(bound):
		t.Fatalf("Subscribe still running %s after the server went away", bound)
	}
}
