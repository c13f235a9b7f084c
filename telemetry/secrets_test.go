package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/mock/gomock"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/mocks"
	"github.com/portkit/portkit/telemetry"
)

// Secret and payload strings the test hands to every port operation, as
// keys, values, query and patch values, message data, attribute values,
// ordering keys and error texts. None may appear in any span name,
// attribute, event, link or status, nor in any metric attribute.
var secrets = []string{
	testutil.SecretMarker,
	"PAYLOAD-7c1e",
	"CACHEKEY-91ab",
	"QUERYVALUE-55d0",
	"ATTRVALUE-e3f2",
}

func secretf(i int) string { return "x-" + secrets[i%len(secrets)] + "-" + testutil.SecretPassword }

func TestNoSecretInTelemetry(t *testing.T) {
	ctx := context.Background()
	s := newSDK(t)
	opts := s.opts()
	sec := func(i int) string { return secretf(i) }
	secErr := func(i int) error {
		return ports.NewError("third-party", "op", ports.ErrUnavailable, fmt.Errorf("dial %s: refused", sec(i)))
	}

	// Cache, on the fake and on an implementation whose errors quote
	// secrets.
	fc := fakes.NewCache()
	defer fc.Close(ctx)
	for _, c := range []ports.Cache{telemetry.Cache(fc, opts...), telemetry.Cache(failingCache(t, secErr(0)), opts...)} {
		_ = c.Set(ctx, sec(2), []byte(sec(1)), time.Minute)
		_, _ = c.Get(ctx, sec(2))
		_, _ = c.Get(ctx, sec(3))
		_, _ = c.GetMany(ctx, sec(2), sec(3))
		_, _ = c.SetNX(ctx, sec(2), []byte(sec(1)), 0)
		_, _ = c.Incr(ctx, sec(2), 1)
		_ = c.Delete(ctx, sec(2))
		_ = c.Set(ctx, "", []byte(sec(1)), -1)
	}

	// SQL store and transaction on the fakes.
	db := fakes.NewDB()
	defer db.Close(ctx)
	fs, err := fakes.NewSQLStore[order](db)
	if err != nil {
		t.Fatal(err)
	}
	q := ports.Where("Ref", ports.Eq, sec(3)).And("Status", ports.In, []string{sec(3)})
	p := ports.Set("Status", sec(3))
	sqlStores := []ports.SQLStore[order]{telemetry.SQLStore[order](fs, opts...), telemetry.SQLStore[order](failingSQL(t, secErr(0)), opts...)}
	tx := telemetry.Transactor(db, opts...)
	_ = tx.WithinTx(ctx, func(ctx context.Context) error {
		return sqlStores[0].Create(ctx, &order{Ref: sec(1), Status: sec(1)})
	})
	_ = tx.WithinTx(ctx, func(ctx context.Context) error { return secErr(4) })
	for _, st := range sqlStores {
		e := &order{ID: 1, Ref: sec(1), Status: sec(1)}
		_ = st.Create(ctx, e)
		_ = st.CreateMany(ctx, []*order{{Ref: sec(1)}})
		_, _ = st.Get(ctx, sec(3))
		_, _ = st.Find(ctx, q)
		for range st.Stream(ctx, q) {
		}
		_, _ = st.FindPage(ctx, q.Limit(1), sec(3))
		_, _ = st.Count(ctx, q)
		_ = st.Update(ctx, e)
		_ = st.Patch(ctx, int64(1), p)
		_ = st.Upsert(ctx, e)
		_ = st.Delete(ctx, sec(3))
		_ = st.DeleteIfVersion(ctx, int64(1), 1)
		_, _ = st.DeleteWhere(ctx, q)
	}

	// Document store.
	fd, err := fakes.NewDocStore[audit](db)
	if err != nil {
		t.Fatal(err)
	}
	docStores := []ports.DocStore[audit]{
		telemetry.DocStore[audit](fd, opts...),
		telemetry.DocStore[audit](failingDoc(t, secErr(0)), opts...),
	}
	for _, st := range docStores {
		d := &audit{Action: sec(1)}
		_ = st.Insert(ctx, d)
		_ = st.InsertMany(ctx, []*audit{{Action: sec(1)}})
		_, _ = st.Get(ctx, sec(3))
		_, _ = st.Find(ctx, ports.Where("Action", ports.Eq, sec(3)))
		for range st.Stream(ctx, q) {
		}
		_, _ = st.FindPage(ctx, q, sec(3))
		_, _ = st.Count(ctx, q)
		_ = st.Update(ctx, d)
		_ = st.Patch(ctx, sec(3), p)
		_ = st.Upsert(ctx, d)
		_ = st.Delete(ctx, sec(3))
		_ = st.DeleteIfVersion(ctx, sec(3), 1)
		_, _ = st.DeleteWhere(ctx, q)
	}

	// Messaging: payloads, attribute values and ordering keys that are
	// secrets, handlers whose errors quote them, admin and connectors
	// whose errors do.
	ps := newPubSub(t, fakes.SubscriptionConfig{})
	msg := ports.Message{Data: []byte(sec(1)), Attributes: map[string]string{"a": sec(4)}, OrderingKey: sec(4)}
	pub := telemetry.Publisher(ps, opts...)
	_, _ = pub.Publish(ctx, "orders", msg, msg)
	_, _ = pub.Publish(ctx, "absent", msg)
	consume(t, telemetry.Subscriber(ps, opts...), 2, func(context.Context, ports.Message) error { return secErr(1) })
	_, _ = telemetry.Publisher(failingPublisher(t, secErr(0)), opts...).Publish(ctx, "orders", msg)
	h := telemetry.Handler("orders-sub", func(context.Context, ports.Message) error { return secErr(4) }, opts...)
	_ = h(ctx, msg)
	adm := telemetry.Admin(failingAdmin(t, secErr(0)), opts...)
	_ = adm.EnsureTopic(ctx, "orders")
	_ = adm.EnsureSubscription(ctx, "orders-sub", ports.SubscriptionConfig{Topic: "orders"})
	conn := telemetry.Connector(failingConnector(t, secErr(0)), opts...)
	_ = conn.Check(ctx)
	_ = conn.Close(ctx)
	_ = telemetry.Connector(fc, opts...).Check(ctx)

	spans := s.Ended()
	if len(spans) < 80 {
		t.Fatalf("only %d spans: the test does not exercise every operation", len(spans))
	}
	for _, sp := range spans {
		var texts []string
		texts = append(texts, sp.Name(), sp.Status().Description)
		texts = append(texts, kvTexts(sp.Attributes())...)
		for _, ev := range sp.Events() {
			texts = append(texts, ev.Name)
			texts = append(texts, kvTexts(ev.Attributes)...)
		}
		for _, l := range sp.Links() {
			texts = append(texts, kvTexts(l.Attributes)...)
		}
		scan(t, "span "+sp.Name(), texts)
	}
	sets := metricAttrSets(t, s.Collect())
	if len(sets) < 40 {
		t.Fatalf("only %d metric data points", len(sets))
	}
	for _, set := range sets {
		scan(t, "metric", kvTexts(set.ToSlice()))
	}
}

func kvTexts(kvs []attribute.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key), kv.Value.String())
	}
	return out
}

func scan(t *testing.T, where string, texts []string) {
	t.Helper()
	for _, text := range texts {
		for _, secret := range append(secrets, testutil.SecretPassword) {
			if strings.Contains(text, secret) {
				t.Errorf("%s: %q holds %q", where, text, secret)
			}
		}
	}
}

func metricAttrSets(t *testing.T, rm metricdata.ResourceMetrics) []attribute.Set {
	var out []attribute.Set
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, p.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, p.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out = append(out, p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, p.Attributes)
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out = append(out, p.Attributes)
				}
			default:
				t.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// Implementations of every port whose every call fails with err.

func failingCache(t *testing.T, err error) ports.Cache {
	m := mocks.NewMockCache(gomock.NewController(t))
	m.EXPECT().Get(gomock.Any(), gomock.Any()).Return(nil, err).AnyTimes()
	m.EXPECT().GetMany(gomock.Any(), gomock.Any()).Return(nil, err).AnyTimes()
	m.EXPECT().Set(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).Return(err).AnyTimes()
	m.EXPECT().SetNX(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).Return(false, err).AnyTimes()
	m.EXPECT().Delete(gomock.Any(), gomock.Any()).Return(err).AnyTimes()
	m.EXPECT().Incr(gomock.Any(), gomock.Any(), gomock.Any()).Return(int64(0), err).AnyTimes()
	return m
}

func failingSeq[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) { var z T; yield(z, err) }
}

func failingSQL(t *testing.T, err error) ports.SQLStore[order] {
	m := mocks.NewMockSQLStore[order](gomock.NewController(t))
	a := gomock.Any()
	m.EXPECT().Create(a, a).Return(err).AnyTimes()
	m.EXPECT().CreateMany(a, a).Return(err).AnyTimes()
	m.EXPECT().Get(a, a).Return(nil, err).AnyTimes()
	m.EXPECT().Find(a, a).Return(nil, err).AnyTimes()
	m.EXPECT().Stream(a, a).Return(failingSeq[order](err)).AnyTimes()
	m.EXPECT().FindPage(a, a, a).Return(ports.Page[order]{}, err).AnyTimes()
	m.EXPECT().Count(a, a).Return(int64(0), err).AnyTimes()
	m.EXPECT().Update(a, a).Return(err).AnyTimes()
	m.EXPECT().Patch(a, a, a).Return(err).AnyTimes()
	m.EXPECT().Upsert(a, a).Return(err).AnyTimes()
	m.EXPECT().Delete(a, a).Return(err).AnyTimes()
	m.EXPECT().DeleteIfVersion(a, a, a).Return(err).AnyTimes()
	m.EXPECT().DeleteWhere(a, a).Return(int64(0), err).AnyTimes()
	return m
}

func failingDoc(t *testing.T, err error) ports.DocStore[audit] {
	m := mocks.NewMockDocStore[audit](gomock.NewController(t))
	a := gomock.Any()
	m.EXPECT().Insert(a, a).Return(err).AnyTimes()
	m.EXPECT().InsertMany(a, a).Return(err).AnyTimes()
	m.EXPECT().Get(a, a).Return(nil, err).AnyTimes()
	m.EXPECT().Find(a, a).Return(nil, err).AnyTimes()
	m.EXPECT().Stream(a, a).Return(failingSeq[audit](err)).AnyTimes()
	m.EXPECT().FindPage(a, a, a).Return(ports.Page[audit]{}, err).AnyTimes()
	m.EXPECT().Count(a, a).Return(int64(0), err).AnyTimes()
	m.EXPECT().Update(a, a).Return(err).AnyTimes()
	m.EXPECT().Patch(a, a, a).Return(err).AnyTimes()
	m.EXPECT().Upsert(a, a).Return(err).AnyTimes()
	m.EXPECT().Delete(a, a).Return(err).AnyTimes()
	m.EXPECT().DeleteIfVersion(a, a, a).Return(err).AnyTimes()
	m.EXPECT().DeleteWhere(a, a).Return(int64(0), err).AnyTimes()
	return m
}

func failingPublisher(t *testing.T, err error) ports.Publisher {
	m := mocks.NewMockPublisher(gomock.NewController(t))
	pe := &ports.PublishError{Total: 1, Failures: []ports.PublishFailure{{Index: 0, Err: err}}}
	m.EXPECT().Publish(gomock.Any(), gomock.Any(), gomock.Any()).Return([]string{""}, ports.NewError("x", "publish", ports.ErrUnavailable, pe)).AnyTimes()
	return m
}

func failingAdmin(t *testing.T, err error) ports.Admin {
	m := mocks.NewMockAdmin(gomock.NewController(t))
	m.EXPECT().EnsureTopic(gomock.Any(), gomock.Any()).Return(err).AnyTimes()
	m.EXPECT().EnsureSubscription(gomock.Any(), gomock.Any(), gomock.Any()).Return(errors.Join(err, ports.ErrConflict)).AnyTimes()
	return m
}

func failingConnector(t *testing.T, err error) ports.Connector {
	m := mocks.NewMockConnector(gomock.NewController(t))
	m.EXPECT().Name().Return("third-party").AnyTimes()
	m.EXPECT().Check(gomock.Any()).Return(err).AnyTimes()
	m.EXPECT().Close(gomock.Any()).Return(err).AnyTimes()
	return m
}
