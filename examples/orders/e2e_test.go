package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	mongodrv "go.mongodb.org/mongo-driver/mongo"
	"gorm.io/gorm"

	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/examples/orders/wiring"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/open"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

// combo is one set of URLs the same binary runs on.
type combo struct {
	name string
	// urls returns ORDERS_SQL_URL, ORDERS_DOC_URL, ORDERS_CACHE_URL and
	// ORDERS_PUBSUB_URL, or skips the test when a server is missing.
	urls func(t *testing.T) [4]string
	// real lists the impl names the start-up log must show, per port.
	real [4]string
}

// TestEndToEnd runs the whole service through run, with no code change,
// on each combination of real backends this machine has, in a namespace
// of its own (tables, collections, topics, subscriptions and keys): the
// HTTP API, the cache, the read model fed through the outbox, the relay
// and the projector, and a shutdown in the middle of a burst of orders
// that loses none that was accepted: every order whose POST got a 201 is
// in SQL and its event was published (or is still in the outbox for the
// next relay, which the test then runs), and no event names an order that
// is not in SQL.
func TestEndToEnd(t *testing.T) {
	combos := []combo{
		{name: "mysql+pstest", urls: func(t *testing.T) [4]string {
			srv, err := pstestserver.Start("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			// pstest hands each stream about one message per 10ms.
			return [4]string{mysqlURL(t), mongoURL(t), redisURL(t), "gcppubsub://portkit-e2e?emulator_host=" + srv.Addr + "&receive_streams=8"}
		}, real: [4]string{"mysql", "mongo", "redis", "pubsub"}},
		{name: "mysql+emulator", urls: func(t *testing.T) [4]string {
			host := testenv.Env(t, "pubsub-emulator", "PUBSUB_EMULATOR_HOST")
			return [4]string{mysqlURL(t), mongoURL(t), redisURL(t), "gcppubsub://portkit-e2e?emulator_host=" + host + "&receive_streams=8"}
		}, real: [4]string{"mysql", "mongo", "redis", "pubsub"}},
		{name: "postgres+nats", urls: func(t *testing.T) [4]string {
			for _, s := range []string{"postgres", "nats"} {
				if !slices.Contains(wiring.NewMux().Schemes(), s) {
					testenv.Missing(t, s, "wiring.NewMux has no "+s+":// scheme yet")
				}
			}
			return [4]string{testenv.Env(t, "postgres", "DATABASE_URL"), mongoURL(t), redisURL(t), testenv.Env(t, "nats", "NATS_URL")}
		}, real: [4]string{"postgres", "mongo", "redis", "nats"}},
	}
	for _, c := range combos {
		t.Run(c.name, func(t *testing.T) { endToEnd(t, c) })
	}
}

func endToEnd(t *testing.T, c combo) {
	urls := c.urls(t)
	ns := testenv.UniqueName("e2e")
	names := wiring.NamesFor(ns)
	bk := openBackends(t, urls, names) // its cleanup, registered first, runs last
	customer := "cust-" + ns[len("e2e_"):]

	environ := append(os.Environ(), "ORDERS_NAMESPACE="+ns, "SHUTDOWN_TIMEOUT=30s",
		"ORDERS_SQL_URL="+urls[0], "ORDERS_DOC_URL="+urls[1], "ORDERS_CACHE_URL="+urls[2], "ORDERS_PUBSUB_URL="+urls[3])
	s := start(t, environ)
	out := s.out.String()
	for i, port := range []string{"sql", "documents", "cache", "pubsub"} {
		if want := "port=" + port + " kind=real impl=" + c.real[i]; !strings.Contains(out, want) {
			t.Errorf("start-up log lacks %q:\n%s", want, out)
		}
	}
	id := exercise(t, s, customer)
	bk.keys = append(bk.keys, names.KeyPrefix+"idem:"+customer+"-1", fmt.Sprintf("%sorder:%d", names.KeyPrefix, id))

	// The read-through cache holds the order now.
	if _, err := bk.cache.Get(t.Context(), fmt.Sprintf("%sorder:%d", names.KeyPrefix, id)); err != nil {
		t.Errorf("order %d not cached after GET: %v", id, err)
	}

	accepted := burstDuringShutdown(t, s, customer)
	if err := s.stop(t, 60*time.Second); err != nil {
		t.Fatalf("run = %v\n%s", err, s.out)
	}
	if len(accepted) == 0 {
		t.Fatal("no order of the burst was accepted")
	}
	t.Logf("%d orders accepted during the shutdown burst", len(accepted))
	bk.assertStoredAndPublished(t, names, append(accepted, id))

	// No secret of the URLs reached the output.
	for _, u := range urls {
		for _, sec := range redact.Secrets(u) {
			if strings.Contains(s.out.String(), sec) {
				t.Errorf("a secret of %s appears in the service's output", redact.Conn(u))
			}
		}
	}
}

// mysqlURL turns the MYSQL_DSN the tests are given into a mysql:// URL.
func mysqlURL(t *testing.T) string {
	t.Helper()
	c, err := mysqldrv.ParseDSN(testenv.Env(t, "mysql", "MYSQL_DSN"))
	if err != nil {
		t.Fatal("MYSQL_DSN does not parse")
	}
	u := url.URL{Scheme: "mysql", User: url.User(c.User), Host: c.Addr, Path: "/" + c.DBName}
	if c.Passwd != "" {
		u.User = url.UserPassword(c.User, c.Passwd)
	}
	return u.String()
}

// mongoURL is MONGODB_URI with MONGODB_DATABASE (pk_op_e2e by default)
// as its database= setting.
func mongoURL(t *testing.T) string {
	t.Helper()
	uri := testenv.Env(t, "mongo", "MONGODB_URI")
	db := os.Getenv("MONGODB_DATABASE")
	if db == "" {
		db = "pk_op_e2e"
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "database=" + url.QueryEscape(db)
}

func redisURL(t *testing.T) string {
	t.Helper()
	return testenv.Env(t, "redis", "REDIS_URL")
}

// burstDuringShutdown posts orders from several clients and cancels the
// service once some have been accepted; it returns the ids of the orders
// that got a 201.
func burstDuringShutdown(t *testing.T, s *service, customer string) []int64 {
	t.Helper()
	var (
		mu       sync.Mutex
		accepted []int64
		wg       sync.WaitGroup
		once     sync.Once
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for c := range 8 {
		wg.Go(func() {
			for i := range 20 {
				body := fmt.Sprintf(`{"customer":%q,"lines":[{"sku":"burst-%d-%d","qty":1,"price_cents":100}]}`, customer, c, i)
				resp, err := client.Post(s.url+"/orders", "application/json", strings.NewReader(body))
				if err != nil {
					return // the listener is closed: shutdown has begun
				}
				var o struct {
					ID int64 `json:"id"`
				}
				err = json.NewDecoder(resp.Body).Decode(&o)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					continue // a refusal during shutdown is allowed; a loss is not
				}
				if err != nil || o.ID <= 0 {
					t.Errorf("201 with body %v, %v", o, err)
					continue
				}
				mu.Lock()
				accepted = append(accepted, o.ID)
				n := len(accepted)
				mu.Unlock()
				if n == 10 {
					once.Do(s.cancel)
				}
			}
		})
	}
	wg.Wait()
	once.Do(s.cancel)
	return accepted
}

// backends are the test's own connections to the servers, opened through
// open from the same URLs, to check what the service left there and to
// clean it up.
type backends struct {
	sql    open.SQL
	docs   open.Doc
	cache  open.Cache
	ps     open.PubSub
	orders ports.SQLStore[domain.Order]
	lines  ports.SQLStore[domain.OrderLine]
	rows   ports.SQLStore[outbox.Row]
	leases ports.SQLStore[outbox.Lease]
	views  ports.DocStore[domain.OrderView]
	keys   []string
}

func openBackends(t *testing.T, urls [4]string, names wiring.Names) *backends {
	t.Helper()
	ctx := t.Context()
	m := wiring.NewMux()
	opts := []open.Option{open.WithLogger(slog.New(slog.DiscardHandler))}
	b := &backends{}
	var err error
	closeLater := func(c ports.Connector) { t.Cleanup(func() { _ = c.Close(context.Background()) }) }
	if b.sql, err = m.OpenSQL(ctx, urls[0], opts...); err != nil {
		testenv.Missing(t, "sql", err.Error())
	}
	closeLater(b.sql)
	if b.docs, err = m.OpenDoc(ctx, urls[1], opts...); err != nil {
		testenv.Missing(t, "documents", err.Error())
	}
	closeLater(b.docs)
	if b.cache, err = m.OpenCache(ctx, urls[2], opts...); err != nil {
		testenv.Missing(t, "cache", err.Error())
	}
	closeLater(b.cache)
	if b.ps, err = m.OpenPubSub(ctx, urls[3], opts...); err != nil {
		testenv.Missing(t, "pubsub", err.Error())
	}
	closeLater(b.ps)
	if b.orders, err = open.NewSQLStore[domain.Order](b.sql, names.Orders); err != nil {
		t.Fatal(err)
	}
	if b.lines, err = open.NewSQLStore[domain.OrderLine](b.sql, names.Lines); err != nil {
		t.Fatal(err)
	}
	if b.rows, err = open.NewSQLStore[outbox.Row](b.sql, names.Outbox); err != nil {
		t.Fatal(err)
	}
	if b.leases, err = open.NewSQLStore[outbox.Lease](b.sql, names.OutboxLeases); err != nil {
		t.Fatal(err)
	}
	if b.views, err = open.NewDocStore[domain.OrderView](b.docs, names.Views); err != nil {
		t.Fatal(err)
	}

	// Runs before the closes above (cleanups run last-registered first).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if g, ok := b.sql.Connector.(interface{ DB() *gorm.DB }); ok {
			if err := g.DB().WithContext(ctx).Migrator().DropTable(names.Lines, names.Orders, names.Outbox, names.OutboxLeases); err != nil {
				t.Logf("drop tables: %v", err)
			}
		}
		if d, ok := b.docs.Connector.(interface{ Database() *mongodrv.Database }); ok {
			for _, c := range []string{names.Views, names.Audits} {
				if err := d.Database().Collection(c).Drop(ctx); err != nil {
					t.Logf("drop collection %s: %v", c, err)
				}
			}
		}
		if a, ok := b.ps.Connector.(interface {
			DeleteSubscription(context.Context, string) error
			DeleteTopic(context.Context, string) error
		}); ok {
			for _, s := range []string{names.Subscription, names.DeadLetters} {
				if err := a.DeleteSubscription(ctx, s); err != nil {
					t.Logf("delete subscription %s: %v", s, err)
				}
			}
			for _, topic := range []string{names.Topic, names.DeadLetter} {
				if err := a.DeleteTopic(ctx, topic); err != nil {
					t.Logf("delete topic %s: %v", topic, err)
				}
			}
		}
		if len(b.keys) > 0 {
			if err := b.cache.Delete(ctx, b.keys...); err != nil {
				t.Logf("delete keys: %v", err)
			}
		}
	})
	return b
}

// assertStoredAndPublished checks that every accepted order is in SQL with
// its lines, and that its event was published exactly as the outbox
// promises: the projector had put it in the read model before the
// shutdown, or it is waiting in the subscription, or it is still in the
// outbox table, which a relay (as the service's next start would run)
// then publishes. No event names an order that is not in SQL.
func (b *backends) assertStoredAndPublished(t *testing.T, names wiring.Names, ids []int64) {
	t.Helper()
	ctx := t.Context()
	for _, id := range ids {
		if _, err := b.orders.Get(ctx, id); err != nil {
			t.Errorf("accepted order %d is not in SQL: %v", id, err)
		}
		if n, err := b.lines.Count(ctx, ports.Where("OrderID", ports.Eq, id)); err != nil || n < 1 {
			t.Errorf("accepted order %d has %d lines (%v), want at least 1", id, n, err)
		}
	}
	inSQL := func(id int64) bool { _, err := b.orders.Get(ctx, id); return err == nil }

	missing := make(map[int64]bool, len(ids))
	for _, id := range ids {
		missing[id] = true
	}
	projected, err := b.views.Find(ctx, ports.Where("OrderID", ports.In, ids))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range projected {
		delete(missing, v.OrderID)
	}
	pending, err := b.rows.Count(ctx, ports.All())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of them projected before the shutdown, %d events left in the outbox, the others in the subscription", len(projected), pending)
	if len(missing) == 0 {
		return
	}
	if pending > 0 {
		b.relayRest(t, names)
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	err = b.ps.Subscribe(sctx, names.Subscription, func(_ context.Context, m ports.Message) error {
		var e domain.OrderCreated
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Errorf("undecodable event: %v", err)
			return nil
		}
		if m.Attributes[app.AttrOrderID] != fmt.Sprint(e.OrderID) {
			t.Errorf("message for order %d has order_id attribute %q", e.OrderID, m.Attributes[app.AttrOrderID])
		}
		mu.Lock()
		defer mu.Unlock()
		if !missing[e.OrderID] && !inSQL(e.OrderID) {
			t.Errorf("phantom event: order %d is not in SQL", e.OrderID)
		}
		delete(missing, e.OrderID)
		if len(missing) == 0 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range missing {
		t.Errorf("accepted order %d: no order.created event found", id)
	}
}

// relayRest runs a relay over the service's outbox until it is empty, as
// the service's next start would.
func (b *backends) relayRest(t *testing.T, names wiring.Names) {
	t.Helper()
	r, err := outbox.NewRelay(outbox.RelayConfig{
		Config: outbox.Config{Tx: b.sql, Rows: b.rows}, Leases: b.leases, Target: b.ps,
		Name: "e2e-relay", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	defer func() {
		_ = r.Close(context.Background())
		<-done
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := r.Stats(t.Context())
		if err == nil && st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained by a relay within 60s: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
