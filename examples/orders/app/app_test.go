package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

// env is a Service over the in-memory fakes, publishing through the
// transactional outbox on the fake SQL database as in production, with
// the fakes at hand for fault injection and inspection. Reads of orders go
// through a counting wrapper.
type env struct {
	svc    *app.Service
	sql    *fakes.DB
	docs   *fakes.DB
	cache  *fakes.Cache
	outbox *fakes.SQLStore[outbox.Row]
	orders *countingOrders
	lines  ports.SQLStore[domain.OrderLine]
	audits ports.DocStore[domain.Audit]
	views  ports.DocStore[domain.OrderView]
	clock  *fakes.ManualClock
}

const topic = app.TopicOrderCreated

func newEnv(t *testing.T, edit ...func(*app.Config)) *env {
	t.Helper()
	clock := fakes.NewManualClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := &env{
		sql:   fakes.NewDB(fakes.WithClock(clock)),
		docs:  fakes.NewDB(fakes.WithClock(clock), fakes.WithName("fake-doc")),
		cache: fakes.NewCache(fakes.WithClock(clock)),
		clock: clock,
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = e.svc.Close(ctx)
		_ = e.cache.Close(ctx)
		_ = e.docs.Close(ctx)
		_ = e.sql.Close(ctx)
	})
	orders, err := fakes.NewSQLStore[domain.Order](e.sql)
	if err != nil {
		t.Fatal(err)
	}
	e.orders = &countingOrders{SQLStore: orders}
	if e.lines, err = fakes.NewSQLStore[domain.OrderLine](e.sql); err != nil {
		t.Fatal(err)
	}
	if e.audits, err = fakes.NewDocStore[domain.Audit](e.docs); err != nil {
		t.Fatal(err)
	}
	if e.views, err = fakes.NewDocStore[domain.OrderView](e.docs); err != nil {
		t.Fatal(err)
	}
	if e.outbox, err = fakes.NewSQLStore[outbox.Row](e.sql); err != nil {
		t.Fatal(err)
	}
	pub, err := outbox.NewPublisher(outbox.Config{Tx: e.sql, Rows: e.outbox})
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		Orders: e.orders, Lines: e.lines, Tx: e.sql, Audits: e.audits, Views: e.views,
		Cache: e.cache, Publisher: pub, Now: clock.Now, Logger: discard(),
	}
	for _, f := range edit {
		f(&cfg)
	}
	if e.svc, err = app.New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// published returns the events waiting in the outbox for the relay, as
// messages.
func (e *env) published(t *testing.T) []ports.Message {
	t.Helper()
	rows, err := e.outbox.Find(context.Background(), ports.Where("Topic", ports.Eq, topic).OrderBy("ID"))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]ports.Message, len(rows))
	for i, r := range rows {
		out[i] = ports.Message{Data: r.Data}
		if err := json.Unmarshal([]byte(r.Attributes), &out[i].Attributes); err != nil {
			t.Fatalf("row %d attributes: %v", r.ID, err)
		}
	}
	return out
}

func (e *env) count(t *testing.T) (orders, lines, audits int64) {
	t.Helper()
	ctx := context.Background()
	var err error
	if orders, err = e.orders.Count(ctx, ports.All()); err != nil {
		t.Fatal(err)
	}
	if lines, err = e.lines.Count(ctx, ports.All()); err != nil {
		t.Fatal(err)
	}
	if audits, err = e.audits.Count(ctx, ports.All()); err != nil {
		t.Fatal(err)
	}
	return orders, lines, audits
}

// countingOrders counts Get calls and, when gate is set, holds each one
// until gate is closed.
type countingOrders struct {
	ports.SQLStore[domain.Order]
	gets atomic.Int64
	gate chan struct{}
}

func (s *countingOrders) Get(ctx context.Context, id any) (*domain.Order, error) {
	s.gets.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	return s.SQLStore.Get(ctx, id)
}

// countingCache counts the misses of Get.
type countingCache struct {
	ports.Cache
	misses atomic.Int64
}

func (c *countingCache) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := c.Cache.Get(ctx, key)
	if errors.Is(err, ports.ErrNotFound) {
		c.misses.Add(1)
	}
	return v, err
}

func TestNewRequiresEveryPort(t *testing.T) {
	t.Parallel()
	_, err := app.New(app.Config{})
	if !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("New(Config{}) = %v, want ErrInvalid", err)
	}
}

func TestPlaceOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		faults     func(e *env)
		order      domain.NewOrder
		wantKind   error  // nil: success
		wantField  string // for ErrInvalid
		wantStored int64  // orders in SQL afterwards
	}{
		{name: "placed", order: validOrder(), wantStored: 1},
		{name: "invalid", order: domain.NewOrder{Customer: "ada", Lines: []domain.Line{{SKU: "x", Qty: -1}}},
			wantKind: ports.ErrInvalid, wantField: "lines[0].qty"},
		{name: "outbox write fails: rolled back", faults: func(e *env) { e.outbox.FailNext(1, nil) }, order: validOrder(),
			wantKind: ports.ErrUnavailable},
		{name: "sql down", faults: func(e *env) { e.sql.SetUnavailable(true) }, order: validOrder(),
			wantKind: ports.ErrUnavailable},
		{name: "audit store down: order still placed", faults: func(e *env) { e.docs.SetUnavailable(true) },
			order: validOrder(), wantStored: 1},
		{name: "cache down: no key, no cache needed", faults: func(e *env) { e.cache.SetUnavailable(true) },
			order: validOrder(), wantStored: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.faults != nil {
				tt.faults(e)
			}
			placed, err := e.svc.PlaceOrder(t.Context(), "", tt.order)
			e.sql.SetUnavailable(false)
			e.docs.SetUnavailable(false)
			if tt.wantKind != nil {
				if !errors.Is(err, tt.wantKind) {
					t.Fatalf("PlaceOrder = %v, want %v", err, tt.wantKind)
				}
				var ve *domain.ValidationError
				if tt.wantField != "" && (!errors.As(err, &ve) || ve.Field != tt.wantField) {
					t.Errorf("PlaceOrder = %v, want a ValidationError on %s", err, tt.wantField)
				}
			} else if err != nil {
				t.Fatalf("PlaceOrder: %v", err)
			}
			orders, lines, _ := e.count(t)
			if orders != tt.wantStored {
				t.Errorf("%d orders stored, want %d", orders, tt.wantStored)
			}
			published := e.published(t)
			if int64(len(published)) != tt.wantStored {
				t.Errorf("%d events published, want %d", len(published), tt.wantStored)
			}
			if tt.wantStored == 0 {
				if lines != 0 {
					t.Errorf("%d lines left behind by a failed order", lines)
				}
				return
			}
			if lines != 2 || placed.Order.ID == 0 || len(placed.Order.Lines) != 2 || placed.Order.TotalCents != 2699 {
				t.Errorf("placed %+v, %d lines stored", placed.Order, lines)
			}
			a := published[0].Attributes
			if a[app.AttrOrderID] != fmt.Sprint(placed.Order.ID) || a[messaging.AttrMessageID] == "" || a[messaging.AttrContentType] != "application/json" {
				t.Errorf("event attributes %v, want order_id %d, a message ID and the JSON content type", a, placed.Order.ID)
			}
		})
	}
}

func TestPlaceOrderAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	placed, err := e.svc.PlaceOrder(t.Context(), "", validOrder())
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.audits.Find(t.Context(), ports.Where("OrderID", ports.Eq, placed.Order.ID))
	if err != nil || len(got) != 1 || got[0].Action != domain.ActionOrderPlaced || got[0].Customer != "ada" {
		t.Fatalf("audits of order %d = %+v, %v", placed.Order.ID, got, err)
	}
}

// TestPlaceOrderRetryAfterPublishFailure: the rolled-back attempt leaves
// nothing behind, so the retry places exactly one order.
func TestPlaceOrderRetryAfterPublishFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.outbox.FailNext(1, nil)
	if _, err := e.svc.PlaceOrder(t.Context(), "key-1", validOrder()); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("first attempt = %v, want ErrUnavailable", err)
	}
	placed, err := e.svc.PlaceOrder(t.Context(), "key-1", validOrder())
	if err != nil || placed.Replayed {
		t.Fatalf("retry = %+v, %v; want a fresh placement", placed, err)
	}
	if orders, lines, audits := e.count(t); orders != 1 || lines != 2 || audits != 1 {
		t.Errorf("stored %d orders, %d lines, %d audits; want 1, 2, 1", orders, lines, audits)
	}
}

func TestPlaceOrderIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, err := e.svc.PlaceOrder(t.Context(), "key-1", validOrder())
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.PlaceOrder(t.Context(), "key-1", validOrder())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.Order.ID != first.Order.ID || len(again.Order.Lines) != 2 {
		t.Errorf("replay = %+v, want order %d replayed", again, first.Order.ID)
	}
	other := validOrder()
	other.Lines[0].Qty = 3
	_, err = e.svc.PlaceOrder(t.Context(), "key-1", other)
	var ie *app.IdempotencyError
	if !errors.As(err, &ie) || !errors.Is(err, ports.ErrConflict) {
		t.Errorf("same key, other order = %v, want an IdempotencyError (conflict)", err)
	}
	if _, err := e.svc.PlaceOrder(t.Context(), "key-2", validOrder()); err != nil {
		t.Errorf("another key: %v", err)
	}
	if orders, _, _ := e.count(t); orders != 2 {
		t.Errorf("%d orders stored, want 2", orders)
	}
	if n := len(e.published(t)); n != 2 {
		t.Errorf("%d events published, want 2", n)
	}
	if _, err := e.svc.PlaceOrder(t.Context(), "bad key", validOrder()); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("key with a space = %v, want ErrInvalid", err)
	}
}

// blockingPublisher holds Publish until release is closed, after telling
// entered.
type blockingPublisher struct {
	ports.Publisher
	entered chan struct{}
	release chan struct{}
}

func (p *blockingPublisher) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	p.entered <- struct{}{}
	<-p.release
	return p.Publisher.Publish(ctx, topic, msgs...)
}

func TestPlaceOrderIdempotencyInProgress(t *testing.T) {
	t.Parallel()
	bp := &blockingPublisher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	e := newEnv(t, func(c *app.Config) { bp.Publisher = c.Publisher; c.Publisher = bp })
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.PlaceOrder(context.Background(), "key-1", validOrder())
		done <- err
	}()
	<-bp.entered
	_, err := e.svc.PlaceOrder(t.Context(), "key-1", validOrder())
	var ie *app.IdempotencyError
	if !errors.As(err, &ie) {
		t.Errorf("concurrent request with the key = %v, want an IdempotencyError", err)
	}
	close(bp.release)
	if err := <-done; err != nil {
		t.Fatalf("first request: %v", err)
	}
	if orders, _, _ := e.count(t); orders != 1 {
		t.Errorf("%d orders stored, want 1", orders)
	}
}

func TestPlaceOrderIdempotencyNeedsCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cache.SetUnavailable(true)
	_, err := e.svc.PlaceOrder(t.Context(), "key-1", validOrder())
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("PlaceOrder with a key and no cache = %v, want ErrUnavailable", err)
	}
	if orders, _, _ := e.count(t); orders != 0 {
		t.Errorf("%d orders stored without idempotency protection", orders)
	}
}

func TestGetOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		id       func(placed int64) int64
		faults   func(e *env)
		wantKind error
		wantGets int64 // store reads for two GetOrder calls in a row
	}{
		{name: "miss then hit", id: func(p int64) int64 { return p }, wantGets: 1},
		{name: "unknown order", id: func(p int64) int64 { return p + 100 }, wantKind: ports.ErrNotFound, wantGets: 2},
		{name: "not positive", id: func(int64) int64 { return 0 }, wantKind: ports.ErrInvalid, wantGets: 0},
		{name: "cache down: served by the store", id: func(p int64) int64 { return p },
			faults: func(e *env) { e.cache.SetUnavailable(true) }, wantGets: 2},
		{name: "corrupt cache entry: served by the store", id: func(p int64) int64 { return p },
			faults: func(e *env) {
				_ = e.cache.Set(context.Background(), fmt.Sprintf("%sorder:%d", app.DefaultKeyPrefix, 1), []byte("{"), 0)
			}, wantGets: 1},
		{name: "sql down", id: func(p int64) int64 { return p },
			faults: func(e *env) { e.sql.SetUnavailable(true) }, wantKind: ports.ErrUnavailable, wantGets: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			placed, err := e.svc.PlaceOrder(t.Context(), "", validOrder())
			if err != nil {
				t.Fatal(err)
			}
			if placed.Order.ID != 1 {
				t.Fatalf("first order has id %d; the table assumes 1", placed.Order.ID)
			}
			if tt.faults != nil {
				tt.faults(e)
			}
			id := tt.id(placed.Order.ID)
			for range 2 {
				got, err := e.svc.GetOrder(t.Context(), id)
				if tt.wantKind != nil {
					if !errors.Is(err, tt.wantKind) {
						t.Fatalf("GetOrder(%d) = %v, want %v", id, err, tt.wantKind)
					}
					continue
				}
				if err != nil {
					t.Fatalf("GetOrder(%d): %v", id, err)
				}
				if got.ID != id || got.Customer != "ada" || len(got.Lines) != 2 || got.Lines[1].SKU != "pen-2" ||
					!got.CreatedAt.Equal(placed.Order.CreatedAt) {
					t.Errorf("GetOrder(%d) = %+v, want %+v", id, got, placed.Order)
				}
			}
			if n := e.orders.gets.Load(); n != tt.wantGets {
				t.Errorf("%d store reads, want %d", n, tt.wantGets)
			}
		})
	}
}

func TestGetOrderCacheExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *app.Config) { c.CacheTTL = time.Minute })
	placed, err := e.svc.PlaceOrder(t.Context(), "", validOrder())
	if err != nil {
		t.Fatal(err)
	}
	for _, advance := range []time.Duration{0, 30 * time.Second, time.Minute} {
		e.clock.Advance(advance)
		if _, err := e.svc.GetOrder(t.Context(), placed.Order.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.orders.gets.Load(); n != 2 {
		t.Errorf("%d store reads, want 2 (miss, hit, expired)", n)
	}
}

// TestGetOrderSingleflight: 50 concurrent misses for one order make
// exactly one store read. The read is held until all 50 have missed the
// cache, so without singleflight each of them would reach the store.
func TestGetOrderSingleflight(t *testing.T) {
	t.Parallel()
	cc := &countingCache{}
	e := newEnv(t, func(c *app.Config) { cc.Cache = c.Cache; c.Cache = cc })
	placed, err := e.svc.PlaceOrder(t.Context(), "", validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.orders.gate = make(chan struct{})

	const n = 50
	var wg sync.WaitGroup
	results := make([]domain.OrderDetails, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = e.svc.GetOrder(context.Background(), placed.Order.ID) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for cc.misses.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if cc.misses.Load() < n {
		close(e.orders.gate)
		wg.Wait()
		t.Fatalf("only %d of %d callers missed the cache", cc.misses.Load(), n)
	}
	close(e.orders.gate)
	wg.Wait()

	if got := e.orders.gets.Load(); got != 1 {
		t.Errorf("%d concurrent misses made %d store reads, want 1", n, got)
	}
	for i := range n {
		if errs[i] != nil || results[i].ID != placed.Order.ID || len(results[i].Lines) != 2 {
			t.Fatalf("caller %d got %+v, %v", i, results[i], errs[i])
		}
	}
	// Every caller has its own copy.
	results[0].Lines[0].Qty = 99
	if results[1].Lines[0].Qty == 99 {
		t.Error("callers share the lines of one result")
	}
}

// TestGetOrderCallerGivesUp: a caller whose context ends stops waiting;
// the shared read goes on and serves the others.
func TestGetOrderCallerGivesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	placed, err := e.svc.PlaceOrder(t.Context(), "", validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.orders.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := e.svc.GetOrder(ctx, placed.Order.ID)
		errc <- err
	}()
	for e.orders.gets.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	other := make(chan error, 1)
	go func() {
		_, err := e.svc.GetOrder(context.Background(), placed.Order.ID)
		other <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller got %v, want context.Canceled", err)
	}
	close(e.orders.gate)
	if err := <-other; err != nil {
		t.Errorf("the other caller got %v", err)
	}
}

func event(t *testing.T, e domain.OrderCreated) ports.Message {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return ports.Message{ID: "m1", Data: b}
}

func TestHandleOrderCreated(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	created := domain.OrderCreated{OrderID: 7, Customer: "ada", TotalCents: 2699, Lines: 2, Items: 3, CreatedAt: at}
	tests := []struct {
		name      string
		msgs      []ports.Message
		faults    func(e *env)
		wantErr   error // of the last message
		permanent bool  // the last message's error is permanent (dead-lettered at once)
		wantViews int64
	}{
		{name: "projected", msgs: []ports.Message{event(t, created)}, wantViews: 1},
		{name: "redelivered: one view", msgs: []ports.Message{event(t, created), event(t, created)}, wantViews: 1},
		{name: "malformed: permanent", msgs: []ports.Message{{ID: "m1", Data: []byte("{not json")}}, permanent: true, wantViews: 0},
		{name: "no order id: permanent", msgs: []ports.Message{event(t, domain.OrderCreated{Customer: "ada"})}, permanent: true, wantViews: 0},
		{name: "store down: nacked", msgs: []ports.Message{event(t, created)},
			faults: func(e *env) { e.docs.SetUnavailable(true) }, wantErr: ports.ErrUnavailable, wantViews: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.faults != nil {
				tt.faults(e)
			}
			var err error
			for _, m := range tt.msgs {
				err = e.svc.HandleOrderCreated(t.Context(), m)
			}
			e.docs.SetUnavailable(false)
			switch {
			case tt.permanent:
				if !messaging.IsPermanent(err) || !errors.Is(err, ports.ErrInvalid) {
					t.Fatalf("HandleOrderCreated = %v, want a permanent ErrInvalid", err)
				}
			case tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("HandleOrderCreated = %v, want %v", err, tt.wantErr)
			case tt.wantErr != nil && messaging.IsPermanent(err):
				t.Fatalf("HandleOrderCreated = %v: a store failure must not be permanent", err)
			}
			n, err := e.views.Count(t.Context(), ports.All())
			if err != nil || n != tt.wantViews {
				t.Fatalf("%d views (%v), want %d", n, err, tt.wantViews)
			}
			if n == 0 {
				return
			}
			views, err := e.svc.CustomerOrders(t.Context(), "ada", 0)
			if err != nil || len(views) != 1 {
				t.Fatalf("CustomerOrders = %+v, %v", views, err)
			}
			if v := views[0]; v.OrderID != 7 || v.TotalCents != 2699 || v.Items != 3 || v.Status != domain.StatusCreated || !v.PlacedAt.Equal(at) {
				t.Errorf("view = %+v", v)
			}
		})
	}
}

func TestCustomerOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, who := range []string{"ada", "bob", "ada", "ada"} {
		m := event(t, domain.OrderCreated{OrderID: int64(i + 1), Customer: who, TotalCents: 100, Lines: 1, Items: 1,
			CreatedAt: base.Add(time.Duration(i) * time.Minute)})
		if err := e.svc.HandleOrderCreated(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		customer string
		limit    int
		want     []int64 // order ids, newest first
		wantErr  string  // field of a ValidationError
	}{
		{customer: "ada", want: []int64{4, 3, 1}},
		{customer: "ada", limit: 2, want: []int64{4, 3}},
		{customer: "bob", want: []int64{2}},
		{customer: "carol", want: []int64{}},
		{customer: " ", wantErr: "customer"},
		{customer: "ada", limit: -1, wantErr: "limit"},
		{customer: "ada", limit: app.MaxListLimit + 1, wantErr: "limit"},
	}
	for _, tt := range tests {
		views, err := e.svc.CustomerOrders(t.Context(), tt.customer, tt.limit)
		if tt.wantErr != "" {
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantErr {
				t.Errorf("CustomerOrders(%q, %d) = %v, want a ValidationError on %s", tt.customer, tt.limit, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("CustomerOrders(%q, %d): %v", tt.customer, tt.limit, err)
		}
		got := make([]int64, len(views))
		for i, v := range views {
			got[i] = v.OrderID
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("CustomerOrders(%q, %d) = %v, want %v", tt.customer, tt.limit, got, tt.want)
		}
	}
}
