package nats_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

// TestOutboxRelaysThroughNATS runs the transactional outbox with the
// adapter as the relay's target: messages written in transactions of the
// fake SQL database reach an ordering subscription on NATS, every one,
// each key's in the order they were written, with their attributes (the
// outbox's stable message ID among them), and the outbox empties.
func TestOutboxRelaysThroughNATS(t *testing.T) {
	t.Parallel()
	n := open(t, testConfig(t))
	topic, subs := provision(t, n, map[string]ports.SubscriptionConfig{"ordered": {Ordering: true}})

	db := fakes.NewDB()
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	rows := mustFakeStore[outbox.Row](t, db)
	leases := mustFakeStore[outbox.Lease](t, db)
	if err := leases.Patch(context.Background(), "none", ports.Set("Owner", "x")); err != nil && strings.Contains(err.Error(), "not implemented") {
		t.Skip("the SQL fake lacks Patch (fakes/todo_stubs.go)")
	}
	pub, err := outbox.NewPublisher(outbox.Config{Tx: db, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	relay, err := outbox.NewRelay(outbox.RelayConfig{
		Config: outbox.Config{Tx: db, Rows: rows}, Leases: leases, Target: n, Replica: "r1",
		PollInterval: 5 * time.Millisecond, LeaseTTL: 2 * time.Second, ClockSkew: 50 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}

	keys := []string{"a", "b", "c"}
	const perKey = 20
	for i := range perKey {
		err := db.WithinTx(context.Background(), func(ctx context.Context) error {
			for _, k := range keys {
				m := ports.Message{Data: fmt.Appendf(nil, "%s#%03d", k, i), OrderingKey: k,
					Attributes: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
				if _, err := pub.Publish(ctx, topic, m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(ctx) }()

	var mu sync.Mutex
	var got []ports.Message
	rctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	subDone := make(chan error, 1)
	go func() {
		subDone <- n.Subscribe(rctx, subs["ordered"], func(_ context.Context, m ports.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if !seenData(got, m.Data) {
				got = append(got, m)
			}
			if len(got) >= len(keys)*perKey {
				stop()
			}
			return nil
		})
	}()
	if err := <-subDone; err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	cancel()
	if err := <-relayDone; err != nil {
		t.Errorf("relay Run: %v", err)
	}
	if err := relay.Close(context.Background()); err != nil {
		t.Errorf("relay Close: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) < len(keys)*perKey {
		t.Fatalf("received %d of %d messages within a minute", len(got), len(keys)*perKey)
	}
	last := map[string]string{}
	seen := map[string]bool{}
	for _, m := range got {
		d := string(m.Data)
		if seen[d] {
			continue // a redelivery; order holds among first deliveries
		}
		seen[d] = true
		if prev := last[m.OrderingKey]; prev >= d {
			t.Fatalf("key %s: %s received after %s", m.OrderingKey, d, prev)
		}
		last[m.OrderingKey] = d
		if m.Attributes["traceparent"] == "" || m.Attributes[messaging.AttrMessageID] == "" {
			t.Fatalf("received %+v: attributes not intact", m)
		}
	}
	left, err := rows.Count(context.Background(), ports.All())
	if err != nil || left != 0 {
		t.Errorf("%d rows left in the outbox (%v)", left, err)
	}
}

func mustFakeStore[T any](t *testing.T, db *fakes.DB) *fakes.SQLStore[T] {
	t.Helper()
	s, err := fakes.NewSQLStore[T](db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seenData(got []ports.Message, data []byte) bool {
	for _, m := range got {
		if string(m.Data) == string(data) {
			return true
		}
	}
	return false
}
