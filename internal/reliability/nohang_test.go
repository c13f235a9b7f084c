package reliability

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// limit is the context deadline, or the configured timeout, of every call
// of the no-hang matrix.
const limit = 2 * time.Second

// Faults of the matrix.
const (
	faultListener = "blackhole listener"    // Open against a server that accepts and never answers
	faultConn     = "blackholed connection" // an open adapter whose network starts dropping everything
)

// row is one cell of the no-hang matrix.
type row struct {
	adapter, method, fault, how string
	limit, took                 time.Duration
	result                      string
	ok                          bool
}

// matrix collects rows from concurrent subtests.
type matrix struct {
	probe *schedProbe
	mu    sync.Mutex
	rows  []row
}

// call runs f, which must return within limit + 10% (+ the scheduler's
// own delay around the limit, see schedProbe) with ErrUnavailable or the
// context's error (or nil, when nilOK), and records the outcome.
func (m *matrix) call(t *testing.T, adapter, method, fault, how string, limit time.Duration, nilOK bool, f func() error) {
	t.Helper()
	start := time.Now()
	took, err := timed(f)
	late := m.probe.lateness(start.Add(limit), start.Add(took+2*schedTick))
	r := row{adapter: adapter, method: method, fault: fault, how: how, limit: limit, took: took, result: kindName(err)}
	r.ok = took <= bound(limit)+late && (acceptable(err) || (nilOK && err == nil))
	m.mu.Lock()
	m.rows = append(m.rows, r)
	m.mu.Unlock()
	if took > bound(limit)+late {
		t.Errorf("%s %s (%s, %s) returned after %s, over %s + 10%% + the scheduler's delay then (%s): %v",
			adapter, method, fault, how, took.Round(time.Millisecond), limit, late.Round(time.Millisecond), err)
	}
	if !acceptable(err) && !(nilOK && err == nil) {
		t.Errorf("%s %s (%s, %s) = %v, want ErrUnavailable or the context's error", adapter, method, fault, how, err)
	}
}

// ctxCall adapts a call that takes a context into one bounded by a
// deadline of limit.
func ctxCall(f func(ctx context.Context) error) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		return f(ctx)
	}
}

func closeLast(r row) int {
	if r.method == "Close" {
		return 1
	}
	return 0
}

// table renders the matrix as Markdown.
func (m *matrix) table() (text string, cases, hangs int) {
	m.mu.Lock()
	rows := slices.Clone(m.rows)
	m.mu.Unlock()
	order := map[string]int{"redis": 0, "mysql": 1, "mongo": 2, "pubsub": 3}
	slices.SortStableFunc(rows, func(a, b row) int {
		if d := order[a.adapter] - order[b.adapter]; d != 0 {
			return d
		}
		// Close comes last, as it runs last.
		if d := closeLast(a) - closeLast(b); d != 0 {
			return d
		}
		return strings.Compare(a.method+" "+a.how, b.method+" "+b.how)
	})
	var b strings.Builder
	b.WriteString("| adapter | method | fault | bounded by | returned in | result |\n")
	b.WriteString("|---|---|---|---|---:|---|\n")
	for _, r := range rows {
		mark := ""
		if !r.ok {
			mark = " **FAIL**"
			hangs++
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s %s | %d ms | %s%s |\n",
			r.adapter, r.method, r.fault, r.how, r.limit, r.took.Milliseconds(), r.result, mark)
	}
	return b.String(), len(rows), hangs
}

// TestNoHang runs every port method, Check and Close of every adapter
// against a blackhole, and Open against a listener that never answers:
// each returns within its context deadline or configured timeout + 10%,
// with ErrUnavailable or the context's error. The adapters run in
// parallel, the calls of one adapter concurrently.
func TestNoHang(t *testing.T) {
	m := &matrix{probe: startSchedProbe(t)}
	runConcurrently(t, map[string]func(t *testing.T){
		"redis":  func(t *testing.T) { noHangRedis(t, m) },
		"mysql":  func(t *testing.T) { noHangMySQL(t, m) },
		"mongo":  func(t *testing.T) { noHangMongo(t, m) },
		"pubsub": func(t *testing.T) { noHangPubSub(t, m) },
	})
	text, cases, hangs := m.table()
	t.Logf("no-hang matrix: %d calls, %d over their bound or with a wrong result; scheduler late by up to %s meanwhile\n%s",
		cases, hangs, m.probe.lateness(time.Time{}, time.Now()).Round(time.Millisecond), text)
	writeSection(t, fmt.Sprintf("### No hang\n\n%d calls, %d hangs (over their bound + 10%% or a wrong result).\n\n%s", cases, hangs, text))
}

// concurrently runs the functions at once and waits for them.
func concurrently(fs ...func()) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(f)
	}
	wg.Wait()
}

func noHangRedis(t *testing.T, m *matrix) {
	upstream, urlFor := redisBackend(t)
	log := quietLogger(t)
	const a = "redis"
	bg := context.Background()

	hole := faults.Blackhole(t)
	openRows := []func(){
		func() {
			m.call(t, a, "Open", faultListener, "DialTimeout", limit, false, func() error {
				c, err := redis.Open(bg, redis.Config{URL: urlFor(hole), DialTimeout: limit}, redis.WithLogger(log))
				if err == nil {
					_ = c.Close(bg)
				}
				return err
			})
		},
		func() {
			m.call(t, a, "Open", faultListener, "ctx", limit, false, ctxCall(func(ctx context.Context) error {
				c, err := redis.Open(ctx, redis.Config{URL: urlFor(hole)}, redis.WithLogger(log))
				if err == nil {
					_ = c.Close(bg)
				}
				return err
			}))
		},
	}

	proxy := faults.NewProxy(t, upstream)
	c, err := redis.Open(bg, redis.Config{URL: urlFor(proxy.Addr()), CheckTimeout: limit}, redis.WithLogger(log))
	if err != nil {
		testenv.Missing(t, "redis", err.Error())
	}
	key := testenv.UniqueName("portkit_nohang")
	if err := c.Set(bg, key, []byte("1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	proxy.Blackhole()
	call := func(method, how string, f func() error) func() {
		return func() { m.call(t, a, method, faultConn, how, limit, false, f) }
	}
	concurrently(append(openRows,
		call("Get", "ctx", ctxCall(func(ctx context.Context) error { _, err := c.Get(ctx, key); return err })),
		call("GetMany", "ctx", ctxCall(func(ctx context.Context) error { _, err := c.GetMany(ctx, key, key+"2"); return err })),
		call("Set", "ctx", ctxCall(func(ctx context.Context) error { return c.Set(ctx, key, []byte("2"), time.Minute) })),
		call("SetNX", "ctx", ctxCall(func(ctx context.Context) error { _, err := c.SetNX(ctx, key+"3", []byte("3"), time.Minute); return err })),
		call("Delete", "ctx", ctxCall(func(ctx context.Context) error { return c.Delete(ctx, key) })),
		call("Incr", "ctx", ctxCall(func(ctx context.Context) error { _, err := c.Incr(ctx, key+"4", 1); return err })),
		call("Check", "CheckTimeout", func() error { return c.Check(bg) }),
	)...)
	m.call(t, a, "Close", faultConn, "ctx", limit, true, ctxCall(c.Close))
}

func noHangMySQL(t *testing.T, m *matrix) {
	upstream, dsnFor := mysqlBackend(t)
	log := quietLogger(t)
	const a = "mysql"
	bg := context.Background()

	hole := faults.Blackhole(t)
	openRows := []func(){
		func() {
			m.call(t, a, "Open", faultListener, "ConnectTimeout", limit, false, func() error {
				db, err := mysql.Open(bg, mysql.Config{DSN: dsnFor(hole), ConnectTimeout: limit}, mysql.WithLogger(log))
				if err == nil {
					_ = db.Close(bg)
				}
				return err
			})
		},
		func() {
			m.call(t, a, "Open", faultListener, "ctx", limit, false, ctxCall(func(ctx context.Context) error {
				db, err := mysql.Open(ctx, mysql.Config{DSN: dsnFor(hole)}, mysql.WithLogger(log))
				if err == nil {
					_ = db.Close(bg)
				}
				return err
			}))
		},
	}

	proxy := faults.NewProxy(t, upstream)
	db, err := mysql.Open(bg, mysql.Config{DSN: dsnFor(proxy.Addr()), CheckTimeout: limit}, mysql.WithLogger(log))
	if err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	store := newItemTable(t, db, dsnFor(upstream))
	first := &portstest.Item{SKU: testenv.UniqueName("sku"), Name: "first"}
	if err := store.Create(bg, first); err != nil {
		t.Fatal(err)
	}
	// Fill the pool with idle connections, so that calls meet both
	// pooled connections and new dials.
	concurrently(func() { _, _ = store.Get(bg, first.ID) }, func() { _, _ = store.Get(bg, first.ID) }, func() { _, _ = store.Get(bg, first.ID) })
	proxy.Blackhole()
	call := func(method, how string, f func() error) func() {
		return func() { m.call(t, a, method, faultConn, how, limit, false, f) }
	}
	item := func() *portstest.Item { return &portstest.Item{SKU: testenv.UniqueName("sku")} }
	concurrently(append(openRows,
		call("Create", "ctx", ctxCall(func(ctx context.Context) error { return store.Create(ctx, item()) })),
		call("CreateMany", "ctx", ctxCall(func(ctx context.Context) error { return store.CreateMany(ctx, []*portstest.Item{item(), item()}) })),
		call("Get", "ctx", ctxCall(func(ctx context.Context) error { _, err := store.Get(ctx, first.ID); return err })),
		call("Find", "ctx", ctxCall(func(ctx context.Context) error {
			_, err := store.Find(ctx, ports.Where("Name", ports.Eq, "first"))
			return err
		})),
		call("Count", "ctx", ctxCall(func(ctx context.Context) error { _, err := store.Count(ctx, ports.All()); return err })),
		call("Update", "ctx", ctxCall(func(ctx context.Context) error { u := *first; u.Qty = 2; return store.Update(ctx, &u) })),
		call("Delete", "ctx", ctxCall(func(ctx context.Context) error { return store.Delete(ctx, first.ID) })),
		call("WithinTx", "ctx", ctxCall(func(ctx context.Context) error {
			return db.WithinTx(ctx, func(ctx context.Context) error { return store.Create(ctx, item()) })
		})),
		call("Check", "CheckTimeout", func() error { return db.Check(bg) }),
	)...)
	m.call(t, a, "Close", faultConn, "ctx", limit, true, ctxCall(db.Close))
}

// newItemTable returns a store of portstest.Item on a fresh table of db,
// dropped at cleanup through a direct connection (dsn).
func newItemTable(t *testing.T, db *mysql.DB, directDSN string) *mysql.Store[portstest.Item] {
	t.Helper()
	table := testenv.UniqueName("rel_items")
	s, err := mysql.NewStore[portstest.Item](db, mysql.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", table, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d, err := mysql.Open(ctx, mysql.Config{DSN: directDSN})
		if err != nil {
			t.Errorf("drop %s: %v", table, err)
			return
		}
		defer func() { _ = d.Close(ctx) }()
		if err := d.DB().WithContext(ctx).Migrator().DropTable(table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	return s
}

func noHangMongo(t *testing.T, m *matrix) {
	upstream, uriFor := mongoBackend(t)
	log := quietLogger(t)
	const a = "mongo"
	bg := context.Background()
	dbName := testenv.UniqueName("portkit_rel")

	hole := faults.Blackhole(t)
	openRows := []func(){
		func() {
			m.call(t, a, "Open", faultListener, "ConnectTimeout", limit, false, func() error {
				s, err := mongo.Open(bg, mongo.Config{URI: uriFor(hole), Database: dbName, ConnectTimeout: limit}, mongo.WithLogger(log))
				if err == nil {
					_ = s.Close(bg)
				}
				return err
			})
		},
		func() {
			m.call(t, a, "Open", faultListener, "ctx", limit, false, ctxCall(func(ctx context.Context) error {
				s, err := mongo.Open(ctx, mongo.Config{URI: uriFor(hole), Database: dbName}, mongo.WithLogger(log))
				if err == nil {
					_ = s.Close(bg)
				}
				return err
			}))
		},
	}

	proxy := faults.NewProxy(t, upstream)
	s, err := mongo.Open(bg, mongo.Config{URI: uriFor(proxy.Addr()), Database: dbName, CheckTimeout: limit}, mongo.WithLogger(log))
	if err != nil {
		testenv.Missing(t, "mongo", err.Error())
	}
	dropMongoDB(t, uriFor(upstream), dbName)
	docs, err := mongo.NewDocStore[portstest.Doc](s, "docs")
	if err != nil {
		t.Fatal(err)
	}
	first := &portstest.Doc{Title: "first"}
	if err := docs.Insert(bg, first); err != nil {
		t.Fatal(err)
	}
	proxy.Blackhole()
	call := func(method, how string, f func() error) func() {
		return func() { m.call(t, a, method, faultConn, how, limit, false, f) }
	}
	rows := append(openRows,
		call("Insert", "ctx", ctxCall(func(ctx context.Context) error { return docs.Insert(ctx, &portstest.Doc{Title: "x"}) })),
		call("InsertMany", "ctx", ctxCall(func(ctx context.Context) error {
			return docs.InsertMany(ctx, []*portstest.Doc{{Title: "y"}, {Title: "z"}})
		})),
		call("Get", "ctx", ctxCall(func(ctx context.Context) error { _, err := docs.Get(ctx, first.ID); return err })),
		call("Find", "ctx", ctxCall(func(ctx context.Context) error {
			_, err := docs.Find(ctx, ports.Where("Title", ports.Eq, "first"))
			return err
		})),
		call("Count", "ctx", ctxCall(func(ctx context.Context) error { _, err := docs.Count(ctx, ports.All()); return err })),
		call("Update", "ctx", ctxCall(func(ctx context.Context) error { u := *first; u.Rank = 2; return docs.Update(ctx, &u) })),
		call("Delete", "ctx", ctxCall(func(ctx context.Context) error { return docs.Delete(ctx, first.ID) })),
		call("Check", "CheckTimeout", func() error { return s.Check(bg) }),
	)
	if s.SupportsTransactions() {
		rows = append(rows, call("WithinTx", "ctx", ctxCall(func(ctx context.Context) error {
			return s.WithinTx(ctx, func(ctx context.Context) error { return docs.Insert(ctx, &portstest.Doc{Title: "tx"}) })
		})))
	}
	concurrently(rows...)
	m.call(t, a, "Close", faultConn, "ctx", limit, true, ctxCall(s.Close))
}

// dropMongoDB drops database db through a direct connection at cleanup.
func dropMongoDB(t *testing.T, uri, db string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: db}, mongo.WithLogger(quietLogger(t)))
		if err != nil {
			t.Logf("drop database %s: %v", db, err)
			return
		}
		defer func() { _ = s.Close(ctx) }()
		if err := s.Database().Drop(ctx); err != nil {
			t.Logf("drop database %s: %v", db, err)
		}
	})
}

// pubsubProject is the project of every Pub/Sub test; emulators accept any.
const pubsubProject = "portkit-reliability"

// pubsubCloseGrace is how long the Pub/Sub adapter's Close may take after
// its context ends, by its documentation: the time the client's
// goroutines need to notice the closed connection. Idle, they take about
// 10 ms; on the loaded test machine up to 0.4 s has been seen.
const pubsubCloseGrace = 1500 * time.Millisecond

// pubsubServer returns the emulator's host:port when PUBSUB_EMULATOR_HOST
// is set, else an in-process pstest server's.
func pubsubServer(t *testing.T) (host, name string) {
	t.Helper()
	if h := os.Getenv(pubsub.EnvEmulatorHost); h != "" {
		return h, "emulator"
	}
	return pstestServer(t), "pstest"
}

// pstestServer starts pstest, the in-process Pub/Sub fake, on a loopback
// port, stopped at cleanup.
func pstestServer(t *testing.T) string {
	srv, err := pstestserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr
}

func noHangPubSub(t *testing.T, m *matrix) {
	host, _ := pubsubServer(t)
	log := quietLogger(t)
	const a = "pubsub"
	bg := context.Background()

	hole := faults.Blackhole(t)
	openRows := []func(){
		func() {
			m.call(t, a, "Open", faultListener, "CheckTimeout", limit, false, func() error {
				p, err := pubsub.Open(bg, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: hole, CheckTimeout: limit}, pubsub.WithLogger(log))
				if err == nil {
					_ = p.Close(bg)
				}
				return err
			})
		},
		func() {
			m.call(t, a, "Open", faultListener, "ctx", limit, false, ctxCall(func(ctx context.Context) error {
				p, err := pubsub.Open(ctx, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: hole}, pubsub.WithLogger(log))
				if err == nil {
					_ = p.Close(bg)
				}
				return err
			}))
		},
	}

	proxy := faults.NewProxy(t, host)
	cfg := pubsub.Config{ProjectID: pubsubProject, EmulatorHost: proxy.Addr(), CheckTimeout: limit}
	cfg.Receive.UnavailableTimeout = limit
	cfg.Receive.ShutdownTimeout = limit
	p, err := pubsub.Open(bg, cfg, pubsub.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Publish.Timeout = limit
	p2, err := pubsub.Open(bg, cfg, pubsub.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	topic, sub := testenv.UniqueName("t"), testenv.UniqueName("s")
	if err := p.EnsureTopic(bg, topic); err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureSubscription(bg, sub, ports.SubscriptionConfig{Topic: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(bg, topic, ports.Message{Data: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Publish(bg, topic, ports.Message{Data: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	// A Subscribe that runs when the network fails returns
	// ErrUnavailable within its documented bound: the unavailable
	// timeout, plus the probe interval (a third of it) and one probe (the
	// check timeout).
	running := make(chan struct{})
	subErr := make(chan error, 1)
	go func() {
		close(running)
		subErr <- p.Subscribe(bg, sub, func(context.Context, ports.Message) error { return nil })
	}()
	<-running
	time.Sleep(300 * time.Millisecond) // let it stream
	// Its row is timed from the blackhole on, like the others.
	proxy.Blackhole()

	call := func(method, how string, f func() error) func() {
		return func() { m.call(t, a, method, faultConn, how, limit, false, f) }
	}
	runningBound := (cfg.Receive.UnavailableTimeout + cfg.Receive.UnavailableTimeout/3 + cfg.CheckTimeout).Round(10 * time.Millisecond)
	concurrently(append(openRows,
		call("Publish", "ctx", ctxCall(func(ctx context.Context) error {
			_, err := p.Publish(ctx, topic, ports.Message{Data: []byte("x")})
			return err
		})),
		call("Publish", "Publish.Timeout", func() error {
			_, err := p2.Publish(bg, topic, ports.Message{Data: []byte("x")})
			return err
		}),
		call("Subscribe", "CheckTimeout", func() error {
			return p.Subscribe(bg, sub, func(context.Context, ports.Message) error { return nil })
		}),
		call("Check", "CheckTimeout", func() error { return p.Check(bg) }),
		func() {
			m.call(t, a, "Subscribe (running)", faultConn, "UnavailableTimeout+probe", runningBound, false, func() error {
				return <-subErr
			})
		},
	)...)
	// Close with messages the server never confirmed (the two Publish
	// calls above): it returns once its deadline and the grace after it
	// have passed, and says how many.
	m.call(t, a, "Close", faultConn, "ctx+grace", limit+pubsubCloseGrace, false, ctxCall(p.Close))
	m.call(t, a, "Close", faultConn, "ctx+grace", limit+pubsubCloseGrace, true, ctxCall(p2.Close))
}
