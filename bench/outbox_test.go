package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

// benchOrder is the aggregate of the outbox benchmarks.
type benchOrder struct {
	ID        int64
	Ref       string `gorm:"size:64"`
	Total     int
	CreatedAt time.Time
}

// outboxBench is what the outbox benchmarks share: MySQL (MYSQL_DSN) with
// tables of their own, and the Pub/Sub emulator.
type outboxBench struct {
	ctx    context.Context
	ps     *pubsubBench
	db     *mysql.DB
	topic  string
	orders *mysql.Store[benchOrder]
	rows   *mysql.Store[outbox.Row]
	leases *mysql.Store[outbox.Lease]
	pub    *outbox.Publisher
}

func newOutboxBench(b *testing.B) *outboxBench {
	b.Helper()
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		b.Skip("mysql backend unavailable: MYSQL_DSN is not set")
	}
	ps := newPubSubBench(b)
	ctx := context.Background()
	db, err := mysql.Open(ctx, mysql.Config{DSN: dsn, MaxOpenConns: 32}, mysql.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Skipf("mysql backend unavailable: %v", err)
	}
	b.Cleanup(func() { _ = db.Close(context.Background()) })
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "pk_mg_bench_" + hex.EncodeToString(rnd[:])
	ob := &outboxBench{ctx: ctx, ps: ps, db: db, topic: ps.topic(b),
		orders: benchTable[benchOrder](b, db, prefix+"_orders"),
		rows:   benchTable[outbox.Row](b, db, prefix+"_outbox"),
		leases: benchTable[outbox.Lease](b, db, prefix+"_leases"),
	}
	ob.pub, err = outbox.NewPublisher(outbox.Config{Tx: db, Rows: ob.rows})
	if err != nil {
		b.Fatal(err)
	}
	return ob
}

func benchTable[T any](b *testing.B, db *mysql.DB, table string) *mysql.Store[T] {
	b.Helper()
	s, err := mysql.NewStore[T](db, mysql.WithTable(table))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.DB().Migrator().DropTable(table) })
	return s
}

// requireRelay skips while the MySQL adapter lacks Patch (the relay's
// leases need it), and seeds the leases.
func (ob *outboxBench) requireRelay(b *testing.B) {
	b.Helper()
	probe := &outbox.Lease{Name: "probe", Kind: "probe"}
	if err := ob.leases.Create(ob.ctx, probe); err != nil {
		b.Fatal(err)
	}
	if err := ob.leases.Patch(ob.ctx, "probe", ports.Set("Owner", "x").IfVersion(probe.Version)); err != nil {
		if strings.Contains(err.Error(), "not implemented") {
			b.Skip("the MySQL adapter lacks Patch (adapters/mysql/todo_stubs.go): the relay benchmarks run after the adapters merge")
		}
		b.Fatal(err)
	}
	_ = ob.leases.Delete(ob.ctx, "probe")
}

func (ob *outboxBench) relay(b *testing.B, name string, target ports.Publisher, edit func(*outbox.RelayConfig)) *outbox.Relay {
	b.Helper()
	cfg := outbox.RelayConfig{
		Config: outbox.Config{Tx: ob.db, Rows: ob.rows}, Leases: ob.leases, Target: target, Replica: name,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	r, err := outbox.NewRelay(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// run runs r until stop is called.
func run(r *outbox.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	return func() { cancel(); <-done; _ = r.Close(context.Background()) }
}

// order places one order and publishes its event with publish, in one
// transaction.
func (ob *outboxBench) order(ctx context.Context, i int64, publish func(ctx context.Context, m ports.Message) error) (string, error) {
	var id string
	err := ob.db.WithinTx(ctx, func(ctx context.Context) error {
		o := &benchOrder{Ref: fmt.Sprintf("order-%d", i), Total: int(i % 1000)}
		if err := ob.orders.Create(ctx, o); err != nil {
			return err
		}
		m, err := messaging.Encode[benchOrder](nil, *o)
		if err != nil {
			return err
		}
		m.OrderingKey = o.Ref
		id = m.Attributes[messaging.AttrMessageID]
		return publish(ctx, m)
	})
	return id, err
}

// BenchmarkOrders places orders (an INSERT and the order.created event in
// one transaction), 4 goroutines per CPU:
//
//   - inline: publishes the event to Pub/Sub inside the transaction (the
//     dual write: the commit waits for the broker);
//   - outbox: writes the event to the outbox table in the transaction (the
//     relay publishes it after the commit; not running here).
func BenchmarkOrders(b *testing.B) {
	ob := newOutboxBench(b)
	var seq atomic.Int64
	variant := func(publish func(ctx context.Context, m ports.Message) error) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(p *testing.PB) {
				for p.Next() {
					if _, err := ob.order(ob.ctx, seq.Add(1), publish); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if s := b.Elapsed().Seconds(); s > 0 {
				b.ReportMetric(float64(b.N)/s, "orders/s")
			}
		}
	}
	b.Run("inline", variant(func(ctx context.Context, m ports.Message) error {
		_, err := ob.ps.port.Publish(ctx, ob.topic, m)
		return err
	}))
	b.Run("outbox", variant(func(ctx context.Context, m ports.Message) error {
		_, err := ob.pub.Publish(ctx, ob.topic, m)
		return err
	}))
}

// prefill writes n events to the outbox, in transactions of 1,000.
func (ob *outboxBench) prefill(b *testing.B, n int) {
	b.Helper()
	for done := 0; done < n; done += 1000 {
		msgs := make([]ports.Message, min(1000, n-done))
		for i := range msgs {
			msgs[i] = ports.Message{Data: make([]byte, 100), OrderingKey: fmt.Sprintf("order-%d", done+i)}
		}
		if err := ob.db.WithinTx(ob.ctx, func(ctx context.Context) error {
			_, err := ob.pub.Publish(ctx, ob.topic, msgs...)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func (ob *outboxBench) waitEmpty(b *testing.B, bound time.Duration) {
	b.Helper()
	deadline := time.Now().Add(bound)
	for {
		n, err := ob.rows.Count(ob.ctx, ports.All())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d rows still pending after %v (last error %v)", n, bound, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkRelay10k relays 10,000 committed outbox rows (100-byte events,
// one ordering key each) to the emulator per op, from the relays' start
// until the table is empty: every message confirmed by Pub/Sub and its row
// deleted. Variants: one replica, and two replicas sharing the table.
func BenchmarkRelay10k(b *testing.B) {
	ob := newOutboxBench(b)
	ob.requireRelay(b)
	const n = 10_000
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ob.prefill(b, n)
				var stops []func()
				b.StartTimer()
				for i := range replicas {
					stops = append(stops, run(ob.relay(b, fmt.Sprintf("bench-%d", i), ob.ps.port, nil)))
				}
				ob.waitEmpty(b, 5*time.Minute)
				b.StopTimer()
				for _, stop := range stops {
					stop()
				}
			}
			if s := b.Elapsed().Seconds(); s > 0 {
				b.ReportMetric(float64(n*b.N)/s, "msgs/s")
			}
		})
	}
}

// confirmTimes is a ports.Publisher that records when each message (by
// stable ID) was confirmed.
type confirmTimes struct {
	next ports.Publisher
	mu   sync.Mutex
	at   map[string]time.Time
}

func (c *confirmTimes) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	ids, err := c.next.Publish(ctx, topic, msgs...)
	now := time.Now()
	c.mu.Lock()
	for i, id := range ids {
		if id != "" {
			if _, seen := c.at[msgs[i].Attributes[messaging.AttrMessageID]]; !seen {
				c.at[msgs[i].Attributes[messaging.AttrMessageID]] = now
			}
		}
	}
	c.mu.Unlock()
	return ids, err
}

// BenchmarkCommitToPublish places 3,000 orders per op at 1,000 orders/s
// through the outbox while one relay runs (default settings: 50 ms poll),
// and reports the time from each order's COMMIT acknowledgement to
// Pub/Sub's confirmation of its event: p50 and p99, in milliseconds.
func BenchmarkCommitToPublish(b *testing.B) {
	ob := newOutboxBench(b)
	ob.requireRelay(b)
	const perOp, rate = 3000, 1000
	target := &confirmTimes{next: ob.ps.port, at: map[string]time.Time{}}
	stop := run(ob.relay(b, "bench", target, nil))
	defer stop()
	var lat []time.Duration
	var seq atomic.Int64
	var achieved float64
	for range b.N {
		committed := make(map[string]time.Time, perOp)
		var mu sync.Mutex
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= perOp {
						return
					}
					if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
						time.Sleep(d)
					}
					id, err := ob.order(ob.ctx, seq.Add(1), func(ctx context.Context, m ports.Message) error {
						_, err := ob.pub.Publish(ctx, ob.topic, m)
						return err
					})
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					committed[id] = time.Now()
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		achieved = perOp / time.Since(start).Seconds()
		ob.waitEmpty(b, time.Minute)
		target.mu.Lock()
		for id, c := range committed {
			if p, ok := target.at[id]; ok {
				lat = append(lat, max(p.Sub(c), 0))
			}
		}
		target.mu.Unlock()
	}
	if len(lat) == 0 {
		b.Fatal("no latency measured")
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(achieved, "orders/s")
}
