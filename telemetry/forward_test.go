package telemetry_test

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/mock/gomock"

	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/mocks"
	"github.com/portkit/portkit/telemetry"
)

// inSpan matches a context that carries a recording span: the decorator
// hands the implementation the context of its span.
var inSpan = gomock.Cond(func(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() })

// The decorators hand every argument to the implementation and every
// result back, unchanged, on every method of every port.
func TestDecoratorsForward(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	ctrl := gomock.NewController(t)
	errX := ports.NewError("third-party", "op", ports.ErrConflict, nil)
	q := ports.Where("Status", ports.Eq, "open")
	p := ports.Set("Status", "paid")
	e := &order{ID: 7}

	t.Run("SQLStore", func(t *testing.T) {
		m := mocks.NewMockSQLStore[order](ctrl)
		st := telemetry.SQLStore[order](m, s.opts()...)
		m.EXPECT().Create(inSpan, e).Return(errX)
		m.EXPECT().CreateMany(inSpan, []*order{e}).Return(nil)
		m.EXPECT().Get(inSpan, 7).Return(e, nil)
		m.EXPECT().Find(inSpan, q).Return([]order{*e}, nil)
		m.EXPECT().FindPage(inSpan, q, "cur").Return(ports.Page[order]{Items: []order{*e}, Next: "n"}, nil)
		m.EXPECT().Count(inSpan, q).Return(int64(3), nil)
		m.EXPECT().Update(inSpan, e).Return(errX)
		m.EXPECT().Patch(inSpan, 7, p).Return(errX)
		m.EXPECT().Upsert(inSpan, e).Return(errX)
		m.EXPECT().Delete(inSpan, 7).Return(errX)
		m.EXPECT().DeleteIfVersion(inSpan, 7, ports.Version(2)).Return(errX)
		m.EXPECT().DeleteWhere(inSpan, q).Return(int64(4), errX)
		check(t, "Create", st.Create(ctx, e), errX)
		check(t, "CreateMany", st.CreateMany(ctx, []*order{e}), nil)
		if got, err := st.Get(ctx, 7); got != e || err != nil {
			t.Errorf("Get = %v, %v", got, err)
		}
		if got, err := st.Find(ctx, q); len(got) != 1 || err != nil {
			t.Errorf("Find = %v, %v", got, err)
		}
		if got, err := st.FindPage(ctx, q, "cur"); got.Next != "n" || len(got.Items) != 1 || err != nil {
			t.Errorf("FindPage = %v, %v", got, err)
		}
		if n, err := st.Count(ctx, q); n != 3 || err != nil {
			t.Errorf("Count = %d, %v", n, err)
		}
		check(t, "Update", st.Update(ctx, e), errX)
		check(t, "Patch", st.Patch(ctx, 7, p), errX)
		check(t, "Upsert", st.Upsert(ctx, e), errX)
		check(t, "Delete", st.Delete(ctx, 7), errX)
		check(t, "DeleteIfVersion", st.DeleteIfVersion(ctx, 7, 2), errX)
		if n, err := st.DeleteWhere(ctx, q); n != 4 || err != errX {
			t.Errorf("DeleteWhere = %d, %v", n, err)
		}
	})

	t.Run("DocStore", func(t *testing.T) {
		m := mocks.NewMockDocStore[audit](ctrl)
		st := telemetry.DocStore[audit](m, s.opts()...)
		d := &audit{Action: "x"}
		m.EXPECT().Insert(inSpan, d).Return(errX)
		m.EXPECT().InsertMany(inSpan, []*audit{d}).Return(nil)
		m.EXPECT().Get(inSpan, "id").Return(d, nil)
		m.EXPECT().Find(inSpan, q).Return([]audit{*d}, nil)
		m.EXPECT().FindPage(inSpan, q, "").Return(ports.Page[audit]{Next: "n"}, nil)
		m.EXPECT().Count(inSpan, q).Return(int64(3), nil)
		m.EXPECT().Update(inSpan, d).Return(errX)
		m.EXPECT().Patch(inSpan, "id", p).Return(errX)
		m.EXPECT().Upsert(inSpan, d).Return(errX)
		m.EXPECT().Delete(inSpan, "id").Return(errX)
		m.EXPECT().DeleteIfVersion(inSpan, "id", ports.Version(2)).Return(errX)
		m.EXPECT().DeleteWhere(inSpan, q).Return(int64(4), nil)
		check(t, "Insert", st.Insert(ctx, d), errX)
		check(t, "InsertMany", st.InsertMany(ctx, []*audit{d}), nil)
		if got, err := st.Get(ctx, "id"); got != d || err != nil {
			t.Errorf("Get = %v, %v", got, err)
		}
		if got, err := st.Find(ctx, q); len(got) != 1 || err != nil {
			t.Errorf("Find = %v, %v", got, err)
		}
		if got, err := st.FindPage(ctx, q, ""); got.Next != "n" || err != nil {
			t.Errorf("FindPage = %v, %v", got, err)
		}
		if n, err := st.Count(ctx, q); n != 3 || err != nil {
			t.Errorf("Count = %d, %v", n, err)
		}
		check(t, "Update", st.Update(ctx, d), errX)
		check(t, "Patch", st.Patch(ctx, "id", p), errX)
		check(t, "Upsert", st.Upsert(ctx, d), errX)
		check(t, "Delete", st.Delete(ctx, "id"), errX)
		check(t, "DeleteIfVersion", st.DeleteIfVersion(ctx, "id", 2), errX)
		if n, err := st.DeleteWhere(ctx, q); n != 4 || err != nil {
			t.Errorf("DeleteWhere = %d, %v", n, err)
		}
	})

	t.Run("Cache", func(t *testing.T) {
		m := mocks.NewMockCache(ctrl)
		c := telemetry.Cache(m, s.opts()...)
		m.EXPECT().Get(inSpan, "k").Return([]byte("v"), nil)
		m.EXPECT().GetMany(inSpan, "k", "l").Return(map[string][]byte{"k": []byte("v")}, nil)
		m.EXPECT().Set(inSpan, "k", []byte("v"), time.Second).Return(errX)
		m.EXPECT().SetNX(inSpan, "k", []byte("v"), time.Second).Return(true, nil)
		m.EXPECT().Delete(inSpan, "k", "l").Return(errX)
		m.EXPECT().Incr(inSpan, "k", int64(5)).Return(int64(6), nil)
		if v, err := c.Get(ctx, "k"); string(v) != "v" || err != nil {
			t.Errorf("Get = %q, %v", v, err)
		}
		if v, err := c.GetMany(ctx, "k", "l"); len(v) != 1 || err != nil {
			t.Errorf("GetMany = %v, %v", v, err)
		}
		check(t, "Set", c.Set(ctx, "k", []byte("v"), time.Second), errX)
		if ok, err := c.SetNX(ctx, "k", []byte("v"), time.Second); !ok || err != nil {
			t.Errorf("SetNX = %v, %v", ok, err)
		}
		check(t, "Delete", c.Delete(ctx, "k", "l"), errX)
		if n, err := c.Incr(ctx, "k", 5); n != 6 || err != nil {
			t.Errorf("Incr = %d, %v", n, err)
		}
	})

	t.Run("Transactor", func(t *testing.T) {
		m := mocks.NewMockTransactor(ctrl)
		tx := telemetry.Transactor(m, s.opts()...)
		m.EXPECT().WithinTx(inSpan, gomock.Any()).DoAndReturn(func(ctx context.Context, fn func(context.Context) error) error {
			return fn(ctx)
		})
		m.EXPECT().InTx(ctx).Return(true)
		called := false
		check(t, "WithinTx", tx.WithinTx(ctx, func(context.Context) error { called = true; return errX }), errX)
		if !called {
			t.Error("fn not called")
		}
		if !tx.InTx(ctx) {
			t.Error("InTx not forwarded")
		}
	})

	t.Run("Messaging", func(t *testing.T) {
		pm := mocks.NewMockPublisher(ctrl)
		sm := mocks.NewMockSubscriber(ctrl)
		am := mocks.NewMockAdmin(ctrl)
		msg := ports.Message{Data: []byte("d"), OrderingKey: "k"}
		pm.EXPECT().Publish(inSpan, "t", gomock.Any()).DoAndReturn(func(_ context.Context, _ string, msgs ...ports.Message) ([]string, error) {
			if len(msgs) != 1 || string(msgs[0].Data) != "d" || msgs[0].OrderingKey != "k" {
				t.Errorf("Publish got %+v", msgs)
			}
			return []string{"id1"}, errX
		})
		sm.EXPECT().Subscribe(ctx, "s", gomock.Any()).Return(errX)
		cfg := ports.SubscriptionConfig{Topic: "t"}
		am.EXPECT().EnsureTopic(inSpan, "t").Return(errX)
		am.EXPECT().EnsureSubscription(inSpan, "s", cfg).Return(nil)
		if ids, err := telemetry.Publisher(pm, s.opts()...).Publish(ctx, "t", msg); len(ids) != 1 || ids[0] != "id1" || err != errX {
			t.Errorf("Publish = %v, %v", ids, err)
		}
		check(t, "Subscribe", telemetry.Subscriber(sm, s.opts()...).Subscribe(ctx, "s", func(context.Context, ports.Message) error { return nil }), errX)
		a := telemetry.Admin(am, s.opts()...)
		check(t, "EnsureTopic", a.EnsureTopic(ctx, "t"), errX)
		check(t, "EnsureSubscription", a.EnsureSubscription(ctx, "s", cfg), nil)
		if got := s.Total(telemetry.MetricErrors, "messaging.operation.name", "subscribe", "error.type", "ErrConflict"); got != 1 {
			t.Errorf("Subscribe errors %v, want 1", got)
		}
		obstest.WantAttrs(t, s.Span("ensure_topic t"), "messaging.destination.name", "t")
		obstest.WantAttrs(t, s.Span("ensure_subscription s"), "messaging.destination.subscription.name", "s")
	})

	t.Run("Connector", func(t *testing.T) {
		m := mocks.NewMockConnector(ctrl)
		m.EXPECT().Name().Return("third-party").AnyTimes()
		m.EXPECT().Check(inSpan).Return(errX)
		m.EXPECT().Close(inSpan).Return(nil)
		c := telemetry.Connector(m, s.opts()...)
		if c.Name() != "third-party" {
			t.Errorf("Name = %q", c.Name())
		}
		check(t, "Check", c.Check(ctx), errX)
		check(t, "Close", c.Close(ctx), nil)
	})
}

func check(t *testing.T, what string, got, want error) {
	t.Helper()
	if got != want {
		t.Errorf("%s returned %v, want %v", what, got, want)
	}
}

// seq yields n orders, then err when it is not nil.
func seq(n int, err error) iter.Seq2[order, error] {
	return func(yield func(order, error) bool) {
		for i := range n {
			if !yield(order{ID: int64(i + 1)}, nil) {
				return
			}
		}
		if err != nil {
			yield(order{}, err)
		}
	}
}

func TestStreamSpan(t *testing.T) {
	ctx := context.Background()
	ctrl := gomock.NewController(t)
	q := ports.All()
	errX := ports.NewError("x", "stream", ports.ErrUnavailable, errors.New("cut"))

	t.Run("to the end", func(t *testing.T) {
		s := newSDK(t)
		m := mocks.NewMockSQLStore[order](ctrl)
		m.EXPECT().Stream(inSpan, q).Return(seq(3, errX))
		st := telemetry.SQLStore[order](m, s.opts(telemetry.WithCollection("orders"))...)
		rows, errs := 0, 0
		for _, err := range st.Stream(ctx, q) {
			if err != nil {
				errs++
			} else {
				rows++
			}
		}
		if rows != 3 || errs != 1 {
			t.Fatalf("%d rows, %d errors, want 3 and 1", rows, errs)
		}
		sp := s.Span("sql.stream orders")
		obstest.WantAttrs(t, sp, "db.response.returned_rows", "3")
		obstest.WantAttrs(t, sp, "error.type", "ErrUnavailable")
	})

	t.Run("break", func(t *testing.T) {
		s := newSDK(t)
		m := mocks.NewMockSQLStore[order](ctrl)
		m.EXPECT().Stream(inSpan, q).Return(seq(10, nil))
		st := telemetry.SQLStore[order](m, s.opts(telemetry.WithCollection("orders"))...)
		n := 0
		for range st.Stream(ctx, q) {
			if n++; n == 2 {
				break
			}
		}
		sp := s.Span("sql.stream orders")
		obstest.WantAttrs(t, sp, "db.response.returned_rows", "2")
		obstest.WantNoAttr(t, sp, "error.type")
	})

	t.Run("never iterated", func(t *testing.T) {
		s := newSDK(t)
		m := mocks.NewMockDocStore[audit](ctrl)
		st := telemetry.DocStore[audit](m, s.opts()...)
		_ = st.Stream(ctx, q)
		if len(s.Spans.Started()) != 0 {
			t.Errorf("spans %v started for a sequence nobody iterated", obstest.Names(s.Ended()))
		}
	})
}
