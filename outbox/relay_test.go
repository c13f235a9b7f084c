package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

const wait = 30 * time.Second

func newRelay(t *testing.T, cfg outbox.RelayConfig) *outbox.Relay {
	t.Helper()
	r, err := outbox.NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func pending(t *testing.T, d *db) int64 {
	t.Helper()
	n, err := d.rows.Count(context.Background(), ports.All())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// keyed returns n messages for each of keys, numbered in write order.
func keyed(keys []string, n int) []ports.Message {
	var out []ports.Message
	for i := range n {
		for _, k := range keys {
			out = append(out, ports.Message{Data: fmt.Appendf(nil, "%s#%03d", k, i), OrderingKey: k,
				Attributes: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
		}
	}
	return out
}

// checkOrder fails unless, for every key, the first publication of each
// message comes after the first publication of the key's previous one.
func checkOrder(t *testing.T, log []published) {
	t.Helper()
	last := map[string]string{}
	seen := map[string]bool{}
	for _, p := range log {
		d := string(p.msg.Data)
		if seen[d] {
			continue
		}
		seen[d] = true
		if prev := last[p.msg.OrderingKey]; prev != "" && prev > d {
			t.Fatalf("key %s: %s published after %s", p.msg.OrderingKey, d, prev)
		}
		last[p.msg.OrderingKey] = d
	}
}

func TestRelayPublishesCommittedRowsInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		pub := newPublisher(t, d, 0)
		tgt := &target{}
		cfg := fastRelay(d, tgt, "r1")
		cfg.BatchSize = 7 // several batches
		r := newRelay(t, cfg)
		keys := []string{"a", "b", "c", "d", "e"}
		msgs := keyed(keys, 20)
		for i := 0; i < len(msgs); i += 10 {
			write(t, d, pub, "orders", msgs[i:i+10]...)
		}
		running(t, r)
		eventually(t, "every message", wait, func() bool { return len(tgt.published()) >= len(msgs) })
		eventually(t, "the outbox emptied", wait, func() bool { return pending(t, d) == 0 })
		log := tgt.published()
		if len(log) != len(msgs) {
			t.Fatalf("%d publications of %d messages: duplicates without a failure", len(log), len(msgs))
		}
		checkOrder(t, log)
		for _, p := range log {
			if p.topic != "orders" || p.msg.Attributes["traceparent"] == "" || p.msg.Attributes[messaging.AttrMessageID] == "" {
				t.Fatalf("published %+v: attributes not intact", p)
			}
		}
		st, err := r.Stats(context.Background())
		if err != nil || st.Published != int64(len(msgs)) || st.Pending != 0 || len(st.Partitions) != outbox.DefaultPartitions {
			t.Fatalf("Stats = %+v, %v", st, err)
		}
		// Rows written while it runs follow.
		write(t, d, pub, "orders", ports.Message{Data: []byte("late")})
		eventually(t, "the late message", wait, func() bool { return len(tgt.published()) == len(msgs)+1 })
	})
}

func TestRelayKeepsSentRows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		pub := newPublisher(t, d, 0)
		tgt := &target{}
		cfg := fastRelay(d, tgt, "r1")
		cfg.Sent = d.sent
		r := newRelay(t, cfg)
		ids := write(t, d, pub, "orders", ports.Message{Data: []byte("x"), OrderingKey: "k"})
		running(t, r)
		eventually(t, "the sent row", wait, func() bool {
			n, _ := d.sent.Count(context.Background(), ports.All())
			return n == 1
		})
		s, err := d.sent.Find(context.Background(), ports.All())
		if err != nil {
			t.Fatal(err)
		}
		if s[0].MessageID != ids[0] || s[0].ServerID != "srv-1" || s[0].SentAt.IsZero() || s[0].WrittenAt.IsZero() || s[0].OrderingKey != "k" {
			t.Fatalf("sent row = %+v", s[0])
		}
		if pending(t, d) != 0 {
			t.Fatal("the published row is still pending")
		}
	})
}

func TestRelayPartialFailureKeepsEachKeysOrder(t *testing.T) {
	for _, sloppy := range []bool{false, true} {
		t.Run(fmt.Sprintf("sloppy=%v", sloppy), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, d *db) {
				d.requireNew(t)
				pub := newPublisher(t, d, 0)
				var failedOnce atomic.Bool
				tgt := &target{sloppy: sloppy, fail: func(_ string, m ports.Message) bool {
					// b#001 fails once; with a careful target, b's later
					// messages of that call fail with it.
					return string(m.Data) == "b#001" && failedOnce.CompareAndSwap(false, true)
				}}
				r := newRelay(t, fastRelay(d, tgt, "r1"))
				msgs := keyed([]string{"a", "b", "c"}, 5)
				write(t, d, pub, "orders", msgs...)
				running(t, r)
				eventually(t, "the outbox emptied", wait, func() bool { return pending(t, d) == 0 })
				log := tgt.published()
				counts := tgt.countByID()
				if len(counts) != len(msgs) {
					t.Fatalf("%d distinct messages published, want %d", len(counts), len(msgs))
				}
				if !sloppy {
					// Nothing out of order, nothing twice.
					if len(log) != len(msgs) {
						t.Fatalf("%d publications, want %d", len(log), len(msgs))
					}
					checkOrder(t, log)
					return
				}
				// A target that took b's later messages after failing
				// b#001: they are published again, after b#001.
				var bs []string
				for _, p := range log {
					if p.msg.OrderingKey == "b" {
						bs = append(bs, string(p.msg.Data))
					}
				}
				i := slices.Index(bs, "b#001")
				if i < 0 || !slices.Equal(bs[i:], []string{"b#001", "b#002", "b#003", "b#004"}) {
					t.Fatalf("b's publications = %v: after b#001, its successors must follow in order", bs)
				}
			})
		})
	}
}

func TestRelayReplicasShareWithoutDoublePublishing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		pub := newPublisher(t, d, 0)
		tgt := &target{}
		var relays []*outbox.Relay
		for _, name := range []string{"r1", "r2"} {
			cfg := fastRelay(d, tgt, name)
			cfg.LeaseTTL, cfg.PublishTimeout, cfg.ClockSkew = 2*time.Second, 400*time.Millisecond, 50*time.Millisecond
			r := newRelay(t, cfg)
			relays = append(relays, r)
			running(t, r)
		}
		eventually(t, "the partitions shared 8 and 8", wait, func() bool {
			a, _ := relays[0].Stats(context.Background())
			b, _ := relays[1].Stats(context.Background())
			return len(a.Partitions) == 8 && len(b.Partitions) == 8
		})
		keys := make([]string, 40)
		for i := range keys {
			keys[i] = fmt.Sprintf("order-%02d", i)
		}
		msgs := keyed(keys, 10)
		for i := 0; i < len(msgs); i += 20 {
			write(t, d, pub, "orders", msgs[i:i+20]...)
		}
		eventually(t, "the outbox emptied", wait, func() bool { return pending(t, d) == 0 })
		for id, n := range tgt.countByID() {
			if n != 1 {
				t.Fatalf("message %s published %d times: two replicas published it", id, n)
			}
		}
		if got := len(tgt.published()); got != len(msgs) {
			t.Fatalf("%d publications of %d messages", got, len(msgs))
		}
		checkOrder(t, tgt.published())
		a, _ := relays[0].Stats(context.Background())
		b, _ := relays[1].Stats(context.Background())
		if a.Published == 0 || b.Published == 0 || a.Published+b.Published != int64(len(msgs)) {
			t.Fatalf("published %d and %d: both replicas must work", a.Published, b.Published)
		}
	})
}

// killable wraps a replica's view of the database: after kill, every call
// fails as if its process were gone.
type killable[T any] struct {
	ports.SQLStore[T]
	dead *atomic.Bool
}

func gone() error {
	return ports.NewError("killed", "call", ports.ErrUnavailable, errors.New("the process is gone"))
}

func (k killable[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	if k.dead.Load() {
		return nil, gone()
	}
	return k.SQLStore.Find(ctx, q)
}
func (k killable[T]) Patch(ctx context.Context, id any, p ports.Patch) error {
	if k.dead.Load() {
		return gone()
	}
	return k.SQLStore.Patch(ctx, id, p)
}
func (k killable[T]) Create(ctx context.Context, e *T) error {
	if k.dead.Load() {
		return gone()
	}
	return k.SQLStore.Create(ctx, e)
}
func (k killable[T]) Delete(ctx context.Context, id any) error {
	if k.dead.Load() {
		return gone()
	}
	return k.SQLStore.Delete(ctx, id)
}
func (k killable[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	if k.dead.Load() {
		return 0, gone()
	}
	return k.SQLStore.DeleteWhere(ctx, q)
}

type killableTx struct {
	ports.Transactor
	dead *atomic.Bool
}

func (k killableTx) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if k.dead.Load() {
		return gone()
	}
	return k.Transactor.WithinTx(ctx, fn)
}

func TestRelayReplicaDyingMidBatchLosesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		pub := newPublisher(t, d, 0)
		msgs := keyed([]string{"a", "b", "c", "d"}, 25)
		write(t, d, pub, "orders", msgs...)

		// Replica A takes every partition; its first publish goes through,
		// then it dies before it can mark the rows sent.
		var dead atomic.Bool
		tgtA := &target{}
		tgtA.onPublish = func(context.Context) { dead.Store(true) }
		cfgA := fastRelay(d, tgtA, "A")
		cfgA.Tx = killableTx{d.tx, &dead}
		cfgA.Rows = killable[outbox.Row]{d.rows, &dead}
		cfgA.Leases = killable[outbox.Lease]{d.leases, &dead}
		cfgA.BatchSize = 30
		a := newRelay(t, cfgA)
		running(t, a)
		eventually(t, "A's death", wait, dead.Load)

		tgtB := &target{}
		b := newRelay(t, fastRelay(d, tgtB, "B"))
		running(t, b)
		eventually(t, "B to publish everything", wait, func() bool { return pending(t, d) == 0 })

		all := map[string]int{}
		for id, n := range tgtA.countByID() {
			all[id] += n
		}
		for id, n := range tgtB.countByID() {
			all[id] += n
		}
		if len(all) != len(msgs) {
			t.Fatalf("%d distinct messages published, want %d: a row was lost", len(all), len(msgs))
		}
		if len(tgtA.published()) == 0 {
			t.Fatal("A published nothing: the test did not kill it mid-batch")
		}
		checkOrder(t, tgtB.published())
		// What A had published, B published again (at least once).
		for id := range tgtA.countByID() {
			if tgtB.countByID()[id] == 0 {
				t.Fatalf("message %s, published by A but not marked, was not republished", id)
			}
		}
	})
}

func TestRelaySurvivesTheDatabaseGoingAway(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		pub := newPublisher(t, d, 0)
		tgt := &target{}
		r := newRelay(t, fastRelay(d, tgt, "r1"))
		write(t, d, pub, "orders", ports.Message{Data: []byte("1")})
		running(t, r)
		eventually(t, "the first message", wait, func() bool { return len(tgt.published()) == 1 })
		d.down(true)
		eventually(t, "the failure seen", wait, func() bool {
			st, _ := r.Stats(context.Background())
			return st.LastError != nil
		})
		d.down(false)
		write(t, d, pub, "orders", ports.Message{Data: []byte("2")})
		// At least once: when the cut fell between the publish of "1" and
		// its row's delete, "1" goes out again before "2".
		eventually(t, "the second message", wait, func() bool { return publishedData(tgt, "2") })
	})
}

// publishedData reports whether tgt confirmed a message with data.
func publishedData(tgt *target, data string) bool {
	for _, p := range tgt.published() {
		if string(p.msg.Data) == data {
			return true
		}
	}
	return false
}

// A database connection the network drops silently (no reset: a read
// waits forever, as behind a failed NAT or firewall) holds no pass beyond
// the lease: the pass fails with its deadline and the next one, on a new
// connection, publishes.
func TestRelaySurvivesABlackholedDatabase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		if d.blackhole == nil {
			t.Skip("no network between the relay and this database")
		}
		d.requireNew(t)
		pub := newPublisher(t, d, 0)
		tgt := &target{}
		r := newRelay(t, fastRelay(d, tgt, "r1"))
		write(t, d, pub, "orders", ports.Message{Data: []byte("1")})
		running(t, r)
		eventually(t, "the first message", wait, func() bool { return publishedData(tgt, "1") })
		d.blackhole(true)
		eventually(t, "a pass failing on its deadline", wait, func() bool {
			// Stats reads the table too: bounded, as every call to a
			// database that may not answer must be.
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			st, _ := r.Stats(ctx)
			return st.LastError != nil && errors.Is(st.LastError, context.DeadlineExceeded)
		})
		d.blackhole(false)
		write(t, d, pub, "orders", ports.Message{Data: []byte("2")})
		eventually(t, "the second message", wait, func() bool { return publishedData(tgt, "2") })
	})
}

func TestRelayCheck(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		ctx := context.Background()
		pub := newPublisher(t, d, 0)
		var failing atomic.Bool
		tgt := &target{fail: func(string, ports.Message) bool { return failing.Load() }}
		cfg := fastRelay(d, tgt, "r1")
		cfg.MaxPendingAge = 300 * time.Millisecond
		r := newRelay(t, cfg)
		if err := r.Check(ctx); !errors.Is(err, ports.ErrUnavailable) {
			t.Fatalf("Check before Run = %v", err)
		}
		stop := running(t, r)
		eventually(t, "healthy", wait, func() bool { return r.Check(ctx) == nil })
		failing.Store(true)
		write(t, d, pub, "orders", ports.Message{Data: []byte("stuck")})
		eventually(t, "unhealthy", wait, func() bool {
			err := r.Check(ctx)
			return errors.Is(err, ports.ErrUnavailable) && strings.Contains(err.Error(), "oldest pending")
		})
		st, err := r.Stats(ctx)
		if err != nil || st.Pending != 1 || st.OldestPendingAge < cfg.MaxPendingAge || st.PublishFailures == 0 {
			t.Fatalf("Stats = %+v, %v", st, err)
		}
		failing.Store(false)
		eventually(t, "healthy again", wait, func() bool { return r.Check(ctx) == nil })
		stop()
		if err := r.Check(ctx); !errors.Is(err, ports.ErrUnavailable) {
			t.Fatalf("Check after Run = %v", err)
		}
	})
}

func TestRelayOrphanRowsAreUnhealthy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		ctx := context.Background()
		wide := newPublisher(t, d, 64) // a writer with another count
		var ids []string
		for i := 0; len(ids) == 0; i++ {
			m := ports.Message{Data: []byte("x"), OrderingKey: fmt.Sprint("k", i)}
			if outbox.PartitionOf(m.OrderingKey, "", 64) >= outbox.DefaultPartitions {
				ids = write(t, d, wide, "orders", m)
			}
		}
		r := newRelay(t, fastRelay(d, &target{}, "r1"))
		running(t, r)
		eventually(t, "the orphan reported", wait, func() bool {
			err := r.Check(ctx)
			return err != nil && strings.Contains(err.Error(), "beyond the relay's count")
		})
	})
}

func TestRelayRefusesAnotherPartitionCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		ctx := context.Background()
		if err := outbox.Migrate(ctx, outbox.RelayConfig{Config: outbox.Config{Tx: d.tx, Rows: d.rows}, Leases: d.leases}); err != nil {
			t.Fatal(err)
		}
		cfg := fastRelay(d, &target{}, "r1")
		cfg.Partitions = 8
		err := newRelay(t, cfg).Run(ctx)
		if !errors.Is(err, ports.ErrConflict) || !strings.Contains(err.Error(), "16 partitions") {
			t.Fatalf("Run = %v, want ErrConflict naming the counts", err)
		}
	})
}

func TestRelayCloseReleasesItsLeases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		d.requireNew(t)
		ctx := context.Background()
		r := newRelay(t, fastRelay(d, &target{}, "r1"))
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		eventually(t, "the partitions claimed", wait, func() bool {
			st, _ := r.Stats(ctx)
			return len(st.Partitions) == outbox.DefaultPartitions
		})
		if err := r.Run(ctx); !isInvalid(err) {
			t.Fatalf("second Run = %v", err)
		}
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		leases, err := d.leases.Find(ctx, ports.All())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			if l.Owner != "" && l.Kind != "meta" || l.Kind == "replica" {
				t.Fatalf("lease %+v left after Close", l)
			}
		}
		for name, err := range map[string]error{"Close": r.Close(ctx), "Run": r.Run(ctx), "Check": r.Check(ctx)} {
			if !errors.Is(err, ports.ErrClosed) {
				t.Errorf("%s after Close = %v", name, err)
			}
		}
	})
}

func TestNewRelayConfig(t *testing.T) {
	d := backends[0].open(t)
	base := fastRelay(d, &target{}, "r")
	bad := map[string]func(c *outbox.RelayConfig){
		"no leases":        func(c *outbox.RelayConfig) { c.Leases = nil },
		"no target":        func(c *outbox.RelayConfig) { c.Target = nil },
		"no rows":          func(c *outbox.RelayConfig) { c.Rows = nil },
		"batch too large":  func(c *outbox.RelayConfig) { c.BatchSize = ports.MaxInValues + 1 },
		"skew too large":   func(c *outbox.RelayConfig) { c.ClockSkew = c.LeaseTTL / 2 },
		"publish too long": func(c *outbox.RelayConfig) { c.PublishTimeout = c.LeaseTTL },
		"lease too short":  func(c *outbox.RelayConfig) { c.LeaseTTL = time.Millisecond },
		"long replica":     func(c *outbox.RelayConfig) { c.Replica = strings.Repeat("r", 151) },
	}
	for name, edit := range bad {
		cfg := base
		edit(&cfg)
		if _, err := outbox.NewRelay(cfg); !isInvalid(err) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	r, err := outbox.NewRelay(outbox.RelayConfig{Config: outbox.Config{Tx: d.tx, Rows: d.rows}, Leases: d.leases, Target: &target{}})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if r.Name() != "outbox-relay" || r.Replica() == "" {
		t.Fatalf("Name %q, Replica %q", r.Name(), r.Replica())
	}
}
