package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/examples/orders/wiring"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// TestEndToEnd runs the whole service through run on the four real
// adapters, in a namespace of its own (tables, collections, topic,
// subscription and keys), and checks the HTTP API, the cache, the read
// model fed by Pub/Sub, and that a shutdown in the middle of a burst of
// orders loses none that was accepted: every order whose POST got a 201 is
// in SQL and its event was published.
func TestEndToEnd(t *testing.T) {
	testenv.Env(t, "mysql", "MYSQL_DSN")
	testenv.Env(t, "redis", redis.EnvURL)
	testenv.Env(t, "mongo", "MONGODB_URI")
	testenv.Env(t, "pubsub", pubsub.EnvEmulatorHost)
	if os.Getenv(pubsub.EnvProjectID) == "" {
		t.Setenv(pubsub.EnvProjectID, "portkit-e2e") // any name works with an emulator
	}
	if os.Getenv("MONGODB_DATABASE") == "" && !regexp.MustCompile(`^mongodb(\+srv)?://[^/]*/[^/?]+`).MatchString(os.Getenv("MONGODB_URI")) {
		t.Setenv("MONGODB_DATABASE", "portkit_e2e") // CI's URI names no database
	}
	if os.Getenv(pubsub.EnvReceiveStreams) == "" {
		// pstest hands each stream about one message per 10ms.
		t.Setenv(pubsub.EnvReceiveStreams, "8")
	}
	ns := testenv.UniqueName("e2e")
	names := wiring.NamesFor(ns)
	bk := openBackends(t, names) // its cleanup, registered first, runs last
	customer := "cust-" + ns[len("e2e_"):]

	s := start(t, append(os.Environ(), "ORDERS_NAMESPACE="+ns, "SHUTDOWN_TIMEOUT=30s"))
	out := s.out.String()
	for _, want := range []string{
		"port=sql kind=real impl=mysql", "port=documents kind=real impl=mongo",
		"port=cache kind=real impl=redis", "port=pubsub kind=real impl=pubsub",
	} {
		if !strings.Contains(out, want) {
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
	bk.assertStoredAndPublished(t, names, accepted)

	// No secret of the backends' variables reached the output.
	for _, v := range []string{"MYSQL_DSN", redis.EnvURL, "MONGODB_URI"} {
		if m := regexp.MustCompile(`:([^:@/]+)@`).FindStringSubmatch(os.Getenv(v)); m != nil && strings.Contains(s.out.String(), m[1]) {
			t.Errorf("the password of %s appears in the service's output", v)
		}
	}
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

// backends are the test's own connections to the servers, to check what
// the service left there and to clean it up.
type backends struct {
	sql   *mysql.DB
	docs  *mongo.Store
	cache *redis.Cache
	ps    *pubsub.PubSub
	keys  []string
}

func openBackends(t *testing.T, names wiring.Names) *backends {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	b := &backends{}
	mcfg, err := mysql.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if b.sql, err = mysql.Open(ctx, mcfg, mysql.WithLogger(log)); err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	t.Cleanup(func() { _ = b.sql.Close(context.Background()) })
	dcfg, err := mongo.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if b.docs, err = mongo.Open(ctx, dcfg, mongo.WithLogger(log)); err != nil {
		testenv.Missing(t, "mongo", err.Error())
	}
	t.Cleanup(func() { _ = b.docs.Close(context.Background()) })
	rcfg, err := redis.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if b.cache, err = redis.Open(ctx, rcfg, redis.WithLogger(log)); err != nil {
		testenv.Missing(t, "redis", err.Error())
	}
	t.Cleanup(func() { _ = b.cache.Close(context.Background()) })
	pcfg, err := pubsub.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if b.ps, err = pubsub.Open(ctx, pcfg, pubsub.WithLogger(log)); err != nil {
		testenv.Missing(t, "pubsub", err.Error())
	}
	t.Cleanup(func() { _ = b.ps.Close(context.Background()) })

	// Runs before the closes above (cleanups run last-registered first).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.sql.DB().WithContext(ctx).Migrator().DropTable(names.Lines, names.Orders); err != nil {
			t.Logf("drop tables: %v", err)
		}
		for _, c := range []string{names.Views, names.Audits} {
			if err := b.docs.Database().Collection(c).Drop(ctx); err != nil {
				t.Logf("drop collection %s: %v", c, err)
			}
		}
		if err := b.ps.DeleteSubscription(ctx, names.Subscription); err != nil {
			t.Logf("delete subscription: %v", err)
		}
		if err := b.ps.DeleteTopic(ctx, names.Topic); err != nil {
			t.Logf("delete topic: %v", err)
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
// its line, and that its event was published: either the projector had
// already put it in the read model before the shutdown, or it is still
// waiting in the subscription.
func (b *backends) assertStoredAndPublished(t *testing.T, names wiring.Names, ids []int64) {
	t.Helper()
	ctx := t.Context()
	orders, err := mysql.NewStore[domain.Order](b.sql, mysql.WithTable(names.Orders))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := mysql.NewStore[domain.OrderLine](b.sql, mysql.WithTable(names.Lines))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := orders.Get(ctx, id); err != nil {
			t.Errorf("accepted order %d is not in SQL: %v", id, err)
		}
		if n, err := lines.Count(ctx, ports.Where("OrderID", ports.Eq, id)); err != nil || n != 1 {
			t.Errorf("accepted order %d has %d lines (%v), want 1", id, n, err)
		}
	}

	missing := make(map[int64]bool, len(ids))
	for _, id := range ids {
		missing[id] = true
	}
	views, err := mongo.NewDocStore[domain.OrderView](b.docs, names.Views)
	if err != nil {
		t.Fatal(err)
	}
	projected, err := views.Find(ctx, ports.Where("OrderID", ports.In, ids))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	for _, v := range projected {
		delete(missing, v.OrderID)
	}
	t.Logf("%d of them projected before the shutdown, %d left in the subscription", len(projected), len(missing))
	if len(missing) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = b.ps.Subscribe(sctx, names.Subscription, func(_ context.Context, m ports.Message) error {
		var e domain.OrderCreated
		if err := json.Unmarshal(m.Data, &e); err != nil {
			return nil
		}
		if m.Attributes[app.AttrOrderID] != fmt.Sprint(e.OrderID) {
			t.Errorf("message for order %d has order_id attribute %q", e.OrderID, m.Attributes[app.AttrOrderID])
		}
		mu.Lock()
		defer mu.Unlock()
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
