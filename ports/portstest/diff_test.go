package portstest_test

import (
	"context"
	"iter"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// vItem is a model of the self-test: a pointer field, a sized string, a
// version, a time and a stamped time.
type vItem struct {
	ID        int64  `gorm:"primaryKey"`
	Name      string `gorm:"size:16"`
	Qty       int
	Price     float64
	Note      *string `gorm:"size:16"`
	At        time.Time
	Ver       ports.Version
	CreatedAt time.Time
}

// vDoc is the document model of the self-test.
type vDoc struct {
	ports.Document `bson:",inline"`
	Title          string  `bson:"title"`
	Rank           int     `bson:"rank"`
	Note           *string `bson:"note"`
	Ver            ports.Version
}

func fakeSQL[T any]() (portstest.SQLSubject[T], error) {
	db := fakes.NewDB()
	s, err := fakes.NewSQLStore[T](db)
	if err != nil {
		return portstest.SQLSubject[T]{}, err
	}
	return portstest.SQLSubject[T]{Store: s, Tx: db, Close: func() { _ = db.Close(context.Background()) }}, nil
}

func fakeDoc[T any, PT ports.DocModel[T]]() (portstest.DocSubject[T], error) {
	db := fakes.NewDB()
	s, err := fakes.NewDocStore[T, PT](db)
	if err != nil {
		_ = db.Close(context.Background())
		return portstest.DocSubject[T]{}, err
	}
	return portstest.DocSubject[T]{Store: s, Tx: db, Close: func() { _ = db.Close(context.Background()) }}, nil
}

// selfOpts is a short, seeded run.
func selfOpts(ops int) portstest.DiffOptions {
	return portstest.DiffOptions{Seed: 7, Ops: ops, Budget: time.Minute, ReportOnly: true}
}

// TestDiffSameImplementation: two fakes never diverge.
func TestDiffSameImplementation(t *testing.T) {
	if got := portstest.DiffSQLStore(t, fakeSQL[vItem], fakeSQL[vItem], selfOpts(3000)); len(got) != 0 {
		t.Errorf("fake vs fake SQLStore: %d divergences, want 0; first:\n%s", len(got), got[0])
	}
	if got := portstest.DiffSQLStore(t, fakeSQL[portstest.Item], fakeSQL[portstest.Item], selfOpts(1000)); len(got) != 0 {
		t.Errorf("fake vs fake SQLStore of Item: %d divergences, want 0; first:\n%s", len(got), got[0])
	}
	if got := portstest.DiffDocStore(t, fakeDoc[vDoc], fakeDoc[vDoc], selfOpts(2000)); len(got) != 0 {
		t.Errorf("fake vs fake DocStore: %d divergences, want 0; first:\n%s", len(got), got[0])
	}
}

// mutSQL is a fake SQLStore with one deliberate bug.
type mutSQL[T any] struct {
	ports.SQLStore[T]
	q      func(ports.Query) ports.Query // rewrites every query
	update func(*T)                      // mangles Update's entity
}

func (m mutSQL[T]) rq(q ports.Query) ports.Query {
	if m.q == nil {
		return q
	}
	return m.q(q)
}
func (m mutSQL[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	return m.SQLStore.Find(ctx, m.rq(q))
}
func (m mutSQL[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	return m.SQLStore.Count(ctx, m.rq(q))
}
func (m mutSQL[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return m.SQLStore.Stream(ctx, m.rq(q))
}
func (m mutSQL[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	return m.SQLStore.DeleteWhere(ctx, m.rq(q))
}
func (m mutSQL[T]) Update(ctx context.Context, e *T) error {
	if m.update != nil && e != nil {
		c := *e
		m.update(&c)
		err := m.SQLStore.Update(ctx, &c)
		if err == nil { // hand back the version the store set, not the lost field
			copyVersions(reflect.ValueOf(e).Elem(), reflect.ValueOf(&c).Elem())
		}
		return err
	}
	return m.SQLStore.Update(ctx, e)
}

// rewrite rebuilds q with each condition replaced by f's.
func rewrite(q ports.Query, f func(c ports.Condition) []ports.Condition, limitDelta int) ports.Query {
	out := ports.All()
	for _, c := range q.Conditions() {
		for _, n := range f(c) {
			out = out.And(n.Field, n.Op, n.Value)
		}
	}
	for _, o := range q.Orders() {
		if o.Desc {
			out = out.OrderBy("-" + o.Field)
		} else {
			out = out.OrderBy(o.Field)
		}
	}
	if q.LimitN() > 0 {
		out = out.Limit(q.LimitN() + limitDelta)
	}
	return out.Offset(q.OffsetN())
}

func mutant(f func(ports.SQLStore[vItem]) ports.SQLStore[vItem]) func() (portstest.SQLSubject[vItem], error) {
	return func() (portstest.SQLSubject[vItem], error) {
		s, err := fakeSQL[vItem]()
		s.Store = f(s.Store)
		return s, err
	}
}

// fakeExcludesNullFromNe reports whether the fake SQLStore (still)
// leaves NULL out of Ne with a value, against the port's rule.
func fakeExcludesNullFromNe(t *testing.T) bool {
	s, err := fakeSQL[vItem]()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Store.Create(ctx, &vItem{Name: "null note"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Store.Count(ctx, ports.Where("Note", ports.Ne, "x"))
	if err != nil {
		t.Fatal(err)
	}
	return n == 0
}

// TestDiffFindsMutants: the checker finds each deliberately broken
// implementation by itself, with a small shrunk sequence and a seed.
func TestDiffFindsMutants(t *testing.T) {
	neNull := fakeExcludesNullFromNe(t)
	for _, c := range []struct {
		name string
		mut  func(ports.SQLStore[vItem]) ports.SQLStore[vItem]
		kind string // a substring of the kind the checker must report
		skip string
	}{
		{"NeExcludesNull", func(s ports.SQLStore[vItem]) ports.SQLStore[vItem] {
			return mutSQL[vItem]{SQLStore: s, q: func(q ports.Query) ports.Query {
				return rewrite(q, func(c ports.Condition) []ports.Condition {
					if c.Op == ports.Ne && c.Field == "Note" && c.Value != nil {
						return []ports.Condition{c, {Field: "Note", Op: ports.Ne, Value: nil}}
					}
					return []ports.Condition{c}
				}, 0)
			}}
		}, "*string Ne value", map[bool]string{true: "fakes.SQLStore leaves NULL out of Ne with a value (issue 12): this mutant is the fake itself"}[neNull]},
		{"NeNilMatchesNull", func(s ports.SQLStore[vItem]) ports.SQLStore[vItem] {
			return mutSQL[vItem]{SQLStore: s, q: func(q ports.Query) ports.Query {
				return rewrite(q, func(c ports.Condition) []ports.Condition {
					if c.Op == ports.Ne && c.Value == nil {
						return nil
					}
					return []ports.Condition{c}
				}, 0)
			}}
		}, "Ne nil", ""},
		{"GtAsGte", func(s ports.SQLStore[vItem]) ports.SQLStore[vItem] {
			return mutSQL[vItem]{SQLStore: s, q: func(q ports.Query) ports.Query {
				return rewrite(q, func(c ports.Condition) []ports.Condition {
					if c.Op == ports.Gt {
						c.Op = ports.Gte
					}
					return []ports.Condition{c}
				}, 0)
			}}
		}, "Gt value", ""},
		{"LimitOffByOne", func(s ports.SQLStore[vItem]) ports.SQLStore[vItem] {
			return mutSQL[vItem]{SQLStore: s, q: func(q ports.Query) ports.Query {
				return rewrite(q, func(c ports.Condition) []ports.Condition { return []ports.Condition{c} }, 1)
			}}
		}, "limit", ""},
		{"UpdateLosesField", func(s ports.SQLStore[vItem]) ports.SQLStore[vItem] {
			return mutSQL[vItem]{SQLStore: s, update: func(e *vItem) { e.Qty = 0 }}
		}, "Qty", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			t.Parallel()
			got := portstest.DiffSQLStore(t, fakeSQL[vItem], mutant(c.mut), selfOpts(4000))
			checkFound(t, got, c.kind)
		})
	}
	t.Run("InsertManyDropsLast", func(t *testing.T) {
		t.Parallel()
		mut := func() (portstest.DocSubject[vDoc], error) {
			s, err := fakeDoc[vDoc]()
			s.Store = mutDoc[vDoc]{s.Store}
			return s, err
		}
		checkFound(t, portstest.DiffDocStore(t, fakeDoc[vDoc], mut, selfOpts(4000)), "")
	})
}

// checkFound checks that got holds a divergence whose kind contains kind,
// shrunk to at most 4 operations, with a seed.
func checkFound(t *testing.T, got []portstest.Divergence, kind string) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("the checker found no divergence")
	}
	for _, d := range got {
		t.Logf("%s", d)
		if strings.Contains(d.Kind, kind) {
			if len(d.Ops) > 4 {
				t.Errorf("divergence %q shrunk to %d operations, want at most 4", d.Kind, len(d.Ops))
			}
			if d.Seed == 0 {
				t.Errorf("divergence %q has no seed", d.Kind)
			}
			return
		}
	}
	t.Errorf("no divergence kind mentions %q", kind)
}

// mutDoc is a fake DocStore whose InsertMany drops the last document.
type mutDoc[T any] struct{ ports.DocStore[T] }

func (m mutDoc[T]) InsertMany(ctx context.Context, ds []*T) error {
	if len(ds) > 1 {
		ds = ds[:len(ds)-1]
	}
	return m.DocStore.InsertMany(ctx, ds)
}

// mutCache is a fake cache with one deliberate bug: every positive TTL
// lasts a millisecond longer.
type mutCache struct{ ports.Cache }

func (m mutCache) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	if ttl > 0 && ttl < time.Hour {
		ttl += time.Millisecond
	}
	return m.Cache.Set(ctx, k, v, ttl)
}

func fakeCache(wrap func(ports.Cache) ports.Cache) func() (portstest.CacheSubject, error) {
	return func() (portstest.CacheSubject, error) {
		clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		c := fakes.NewCache(fakes.WithClock(clock))
		var cache ports.Cache = c
		if wrap != nil {
			cache = wrap(c)
		}
		return portstest.CacheSubject{Cache: cache, Advance: clock.Advance, Close: func() { _ = c.Close(context.Background()) }}, nil
	}
}

func TestDiffCache(t *testing.T) {
	t.Run("Same", func(t *testing.T) {
		if got := portstest.DiffCache(t, fakeCache(nil), fakeCache(nil), selfOpts(4000)); len(got) != 0 {
			t.Errorf("fake vs fake Cache: %d divergences, want 0; first:\n%s", len(got), got[0])
		}
	})
	t.Run("TTLOffByOne", func(t *testing.T) {
		got := portstest.DiffCache(t, fakeCache(nil), fakeCache(func(c ports.Cache) ports.Cache { return mutCache{c} }), selfOpts(4000))
		checkFound(t, got, "")
	})
}

// fakeProvision provisions topics and subscriptions on a fake PubSub.
func fakeProvision(ps *fakes.PubSub) portstest.ProvisionFunc {
	return func(ctx context.Context, topic string, subs map[string]ports.SubscriptionConfig) error {
		if err := ps.CreateTopic(ctx, topic); err != nil {
			return err
		}
		for name, c := range subs {
			cfg := fakes.SubscriptionConfig{Ordering: c.Ordering, AckDeadline: c.AckDeadline, MaxDeliveryAttempts: c.MaxDeliveryAttempts, DeadLetterTopic: c.DeadLetterTopic}
			if err := ps.CreateSubscription(ctx, name, c.Topic, cfg); err != nil {
				return err
			}
		}
		return nil
	}
}

func fakePubSub(wrap func(ports.Publisher) ports.Publisher) func() (portstest.PubSubSubject, error) {
	return func() (portstest.PubSubSubject, error) {
		ps := fakes.NewPubSub(fakes.WithRedeliveryDelay(time.Millisecond))
		var pub ports.Publisher = ps
		if wrap != nil {
			pub = wrap(ps)
		}
		return portstest.PubSubSubject{Publisher: pub, Subscriber: ps, Provision: fakeProvision(ps), DeadLetter: true,
			Close: func() { _ = ps.Close(context.Background()) }}, nil
	}
}

// mutPub drops the last attribute (by key order) of messages with two or
// more.
type mutPub struct{ ports.Publisher }

func (m mutPub) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	out := make([]ports.Message, len(msgs))
	for i, msg := range msgs {
		if len(msg.Attributes) >= 2 {
			attrs := map[string]string{}
			last := ""
			for k := range msg.Attributes {
				last = max(last, k)
			}
			for k, v := range msg.Attributes {
				if k != last {
					attrs[k] = v
				}
			}
			msg.Attributes = attrs
		}
		out[i] = msg
	}
	return m.Publisher.Publish(ctx, topic, out...)
}

func TestDiffPubSub(t *testing.T) {
	t.Run("Same", func(t *testing.T) {
		t.Parallel()
		if got := portstest.DiffPubSub(t, fakePubSub(nil), fakePubSub(nil), selfOpts(80)); len(got) != 0 {
			t.Errorf("fake vs fake PubSub: %d divergences, want 0; first:\n%s", len(got), got[0])
		}
	})
	t.Run("DroppedAttribute", func(t *testing.T) {
		t.Parallel()
		got := portstest.DiffPubSub(t, fakePubSub(nil), fakePubSub(func(p ports.Publisher) ports.Publisher { return mutPub{p} }), selfOpts(80))
		checkFound(t, got, "attributes differ")
	})
}

// mutSub counts deliveries on the plain subscription (DeliveryAttempt + 1,
// as NATS does) and drops the attributes of messages on the ordering one.
type mutSub struct{ ports.Subscriber }

func (m mutSub) Subscribe(ctx context.Context, sub string, h ports.Handler) error {
	return m.Subscriber.Subscribe(ctx, sub, func(ctx context.Context, msg ports.Message) error {
		switch {
		case strings.HasSuffix(sub, "-plain"):
			msg.DeliveryAttempt++
		case strings.HasSuffix(sub, "-ord"):
			msg.Attributes = nil
		}
		return h(ctx, msg)
	})
}

// TestDiffPubSubAllowanceHidesNothing: an allowed divergence of one
// subscription (here the plain one's DeliveryAttempt, which differs at
// every drain) does not hide another subscription's.
func TestDiffPubSubAllowanceHidesNothing(t *testing.T) {
	real := func() (portstest.PubSubSubject, error) {
		s, err := fakePubSub(nil)()
		s.Subscriber = mutSub{s.Subscriber}
		return s, err
	}
	o := selfOpts(80)
	o.Allow = []portstest.Allowance{{Kind: `^Drain plain subscription: DeliveryAttempt differs$`, Why: "the test's mutant"}}
	got := portstest.DiffPubSub(t, fakePubSub(nil), real, o)
	checkFound(t, got, "Drain ord subscription: attributes differ")
}

// lateNackSub models a server that does not count a nack sent as
// Subscribe stops (Google's emulator does not dead-letter on it): a
// handler's error returned after Subscribe's ctx ended acknowledges the
// message instead.
type lateNackSub struct{ ports.Subscriber }

func (m lateNackSub) Subscribe(ctx context.Context, sub string, h ports.Handler) error {
	return m.Subscriber.Subscribe(ctx, sub, func(hctx context.Context, msg ports.Message) error {
		err := h(hctx, msg)
		if err != nil && ctx.Err() != nil {
			return nil
		}
		return err
	})
}

// TestDiffPubSubDeadLetterAfterTheLastNack: the drain of the dead-letter
// subscription keeps Subscribe running past the last delivery of a dead
// message until the dead-letter topic's subscription has it, so that the
// last nack is sent while Subscribe runs: a server that does not count a
// nack sent as Subscribe stops shows no divergence.
func TestDiffPubSubDeadLetterAfterTheLastNack(t *testing.T) {
	real := func() (portstest.PubSubSubject, error) {
		s, err := fakePubSub(nil)()
		s.Subscriber = lateNackSub{s.Subscriber}
		return s, err
	}
	if got := portstest.DiffPubSub(t, fakePubSub(nil), real, selfOpts(80)); len(got) != 0 {
		t.Errorf("fake vs fake with late nacks lost: %d divergences, want 0; first:\n%s", len(got), got[0])
	}
}

// noRedeliverySub models a server that never redelivers an acknowledged
// message on the ordering subscription (pstest and Google's emulator
// after a nack): it acknowledges such a redelivery without calling the
// handler.
type noRedeliverySub struct {
	ports.Subscriber
	mu    sync.Mutex
	acked map[string]bool
}

func (m *noRedeliverySub) Subscribe(ctx context.Context, sub string, h ports.Handler) error {
	if !strings.HasSuffix(sub, "-ord") {
		return m.Subscriber.Subscribe(ctx, sub, h)
	}
	return m.Subscriber.Subscribe(ctx, sub, func(hctx context.Context, msg ports.Message) error {
		key := sub + "\x00" + string(msg.Data)
		m.mu.Lock()
		done := m.acked[key]
		m.mu.Unlock()
		if done {
			return nil
		}
		err := h(hctx, msg)
		if err == nil {
			m.mu.Lock()
			m.acked[key] = true
			m.mu.Unlock()
		}
		return err
	})
}

// TestDiffPubSubRedeliveryAfterAnEarlierDrain: the fake, as Google's
// service, redelivers the later messages of a key after a nack,
// acknowledged or not; a redelivery in a later drain of a message an
// earlier one acknowledged is not a first delivery, and a server that
// does not redeliver it shows no divergence of the order per key.
func TestDiffPubSubRedeliveryAfterAnEarlierDrain(t *testing.T) {
	real := func() (portstest.PubSubSubject, error) {
		s, err := fakePubSub(nil)()
		s.Subscriber = &noRedeliverySub{Subscriber: s.Subscriber, acked: map[string]bool{}}
		return s, err
	}
	o := selfOpts(16)
	o.Seed = 781 // a sequence of m1:n2 and m5 on one key, then two drains
	if got := portstest.DiffPubSub(t, fakePubSub(nil), real, o); len(got) != 0 {
		t.Errorf("fake vs fake without redeliveries of acknowledged messages: %d divergences, want 0; first:\n%s", len(got), got[0])
	}
}

// copyVersions copies the ports.Version fields of src into dst.
func copyVersions(dst, src reflect.Value) {
	for i := range dst.NumField() {
		if dst.Field(i).Type() == reflect.TypeFor[ports.Version]() {
			dst.Field(i).Set(src.Field(i))
		}
	}
}
