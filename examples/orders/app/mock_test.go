package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/mock/gomock"

	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/mocks"
)

// mockPorts is a Service over gomock mocks. The interaction tests below say
// exactly which calls PlaceOrder makes; any call they do not expect fails
// the test.
type mockPorts struct {
	orders *mocks.MockSQLStore[domain.Order]
	lines  *mocks.MockSQLStore[domain.OrderLine]
	tx     *mocks.MockTransactor
	audits *mocks.MockDocStore[domain.Audit]
	views  *mocks.MockDocStore[domain.OrderView]
	cache  *mocks.MockCache
	pub    *mocks.MockPublisher
	svc    *app.Service
}

func newMockPorts(t *testing.T) *mockPorts {
	ctrl := gomock.NewController(t)
	m := &mockPorts{
		orders: mocks.NewMockSQLStore[domain.Order](ctrl),
		lines:  mocks.NewMockSQLStore[domain.OrderLine](ctrl),
		tx:     mocks.NewMockTransactor(ctrl),
		audits: mocks.NewMockDocStore[domain.Audit](ctrl),
		views:  mocks.NewMockDocStore[domain.OrderView](ctrl),
		cache:  mocks.NewMockCache(ctrl),
		pub:    mocks.NewMockPublisher(ctrl),
	}
	svc, err := app.New(app.Config{
		Orders: m.orders, Lines: m.lines, Tx: m.tx, Audits: m.audits, Views: m.views,
		Cache: m.cache, Publisher: m.pub, Logger: discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	m.svc = svc
	return m
}

// expectTx makes WithinTx run fn and report, through inTx, whether a call
// happens inside it. It returns fn's error, as a real Transactor does after
// rolling back.
func (m *mockPorts) expectTx(inTx *atomic.Bool) *mocks.MockTransactorWithinTxCall {
	return m.tx.EXPECT().WithinTx(gomock.Any(), gomock.Any()).
		DoAndReturn(func(ctx context.Context, fn func(context.Context) error) error {
			inTx.Store(true)
			defer inTx.Store(false)
			return fn(ctx)
		})
}

// TestPlaceOrderInteractions is the teaching example of an interaction
// test: PlaceOrder writes the order, then its lines pointing to it, then
// publishes exactly one order.created message carrying the order id — all
// inside the transaction — and records the audit after the commit.
func TestPlaceOrderInteractions(t *testing.T) {
	t.Parallel()
	m := newMockPorts(t)
	var inTx atomic.Bool

	tx := m.expectTx(&inTx)
	create := m.orders.EXPECT().Create(gomock.Any(), gomock.Any()).
		DoAndReturn(func(_ context.Context, o *domain.Order) error {
			if o.Customer != "ada" || o.TotalCents != 2*1250+199 || o.Status != domain.StatusCreated {
				t.Errorf("Create(%+v): wrong order", o)
			}
			o.ID = 42 // the store assigns the key
			return nil
		})
	createLines := m.lines.EXPECT().CreateMany(gomock.Any(), gomock.Len(2)).
		DoAndReturn(func(_ context.Context, ls []*domain.OrderLine) error {
			for _, l := range ls {
				if l.OrderID != 42 {
					t.Errorf("line %+v does not point to order 42", l)
				}
			}
			return nil
		})
	publish := m.pub.EXPECT().Publish(gomock.Any(), app.TopicOrderCreated, gomock.Any()).
		DoAndReturn(func(_ context.Context, _ string, msgs ...ports.Message) ([]string, error) {
			if !inTx.Load() {
				t.Error("Publish ran outside the transaction")
			}
			if len(msgs) != 1 {
				t.Fatalf("Publish got %d messages, want 1", len(msgs))
			}
			if got := msgs[0].Attributes[app.AttrOrderID]; got != "42" {
				t.Errorf("order_id attribute = %q, want 42", got)
			}
			var e domain.OrderCreated
			if err := json.Unmarshal(msgs[0].Data, &e); err != nil || e.OrderID != 42 || e.Items != 3 {
				t.Errorf("payload %s: %+v, %v", msgs[0].Data, e, err)
			}
			return []string{"msg-1"}, nil
		}).Times(1)
	audit := m.audits.EXPECT().Insert(gomock.Any(), gomock.Any()).
		DoAndReturn(func(_ context.Context, a *domain.Audit) error {
			if inTx.Load() {
				t.Error("audit written inside the transaction")
			}
			if a.OrderID != 42 || a.Action != domain.ActionOrderPlaced {
				t.Errorf("audit = %+v", a)
			}
			return nil
		})
	gomock.InOrder(create, createLines, publish, audit)
	_ = tx

	placed, err := m.svc.PlaceOrder(t.Context(), "", validOrder())
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if placed.Order.ID != 42 || len(placed.Order.Lines) != 2 || placed.Replayed {
		t.Errorf("PlaceOrder = %+v", placed)
	}
}

// TestPlaceOrderPublishFailure: a publish failure is returned from inside
// the transaction function (so the Transactor rolls back), PlaceOrder
// reports it with its kind intact, and no audit is recorded (the mock has
// no Insert expectation: a call would fail the test).
func TestPlaceOrderPublishFailure(t *testing.T) {
	t.Parallel()
	m := newMockPorts(t)
	var inTx atomic.Bool
	down := ports.NewError("pubsub", "publish", ports.ErrUnavailable, errors.New("connection refused"))

	var fnErr error
	m.tx.EXPECT().WithinTx(gomock.Any(), gomock.Any()).
		DoAndReturn(func(ctx context.Context, fn func(context.Context) error) error {
			inTx.Store(true)
			defer inTx.Store(false)
			fnErr = fn(ctx)
			return fnErr
		})
	m.orders.EXPECT().Create(gomock.Any(), gomock.Any()).SetArg(1, domain.Order{ID: 7}).Return(nil)
	m.lines.EXPECT().CreateMany(gomock.Any(), gomock.Any()).Return(nil)
	m.pub.EXPECT().Publish(gomock.Any(), app.TopicOrderCreated, gomock.Any()).Return(nil, down).Times(1)

	_, err := m.svc.PlaceOrder(t.Context(), "", validOrder())
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("PlaceOrder = %v, want ErrUnavailable", err)
	}
	if !errors.Is(fnErr, ports.ErrUnavailable) {
		t.Errorf("the transaction function returned %v, want the publish error (so the tx rolls back)", fnErr)
	}
}

// TestPlaceOrderInvalidTouchesNothing: invalid input is rejected before
// any port is called.
func TestPlaceOrderInvalidTouchesNothing(t *testing.T) {
	t.Parallel()
	m := newMockPorts(t)
	_, err := m.svc.PlaceOrder(t.Context(), "key-1", domain.NewOrder{Customer: "ada"})
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Field != "lines" {
		t.Fatalf("PlaceOrder = %v, want a ValidationError on lines", err)
	}
}

// TestHandleOrderCreatedConcurrentDelivery: when another delivery of the
// same event inserted the view first (the unique index on OrderID answers
// ErrConflict), the handler acknowledges instead of asking for redelivery.
func TestHandleOrderCreatedConcurrentDelivery(t *testing.T) {
	t.Parallel()
	m := newMockPorts(t)
	m.views.EXPECT().Find(gomock.Any(), gomock.Any()).Return(nil, nil)
	m.views.EXPECT().Insert(gomock.Any(), gomock.Any()).
		Return(ports.NewError("mongo", "insert", ports.ErrConflict, errors.New("E11000 duplicate key")))
	b, _ := json.Marshal(domain.OrderCreated{OrderID: 9, Customer: "ada", TotalCents: 1, Lines: 1, Items: 1})
	if err := m.svc.HandleOrderCreated(t.Context(), ports.Message{ID: "m9", Data: b}); err != nil {
		t.Errorf("HandleOrderCreated = %v, want nil (ack)", err)
	}
}
