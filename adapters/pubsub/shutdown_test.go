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

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/ports"
)

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
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"o": {Ordering: true}})
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

// TestSubscribeServerGoesAway stops the server under a running Subscribe:
// it returns ErrUnavailable once the unavailable timeout has passed
// (the raw client's Receive retries forever).
func TestSubscribeServerGoesAway(t *testing.T) {
	t.Parallel()
	srv := startPstest(t)
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr, CheckTimeout: 300 * time.Millisecond}
	cfg.Receive.UnavailableTimeout = time.Second
	ps := open(t, cfg)
	_, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})

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
