// Package app is the application layer of the orders example: a [Service]
// that places orders, reads them through a cache, and keeps a read model up
// to date from the order.created events.
//
// It depends only on the ports (and on golang.org/x/sync/singleflight):
// main decides whether a port is served by an in-memory fake or a real
// backend, and the tests of this package run on the fakes and the mocks.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/ports"
)

// Defaults of [Config].
const (
	// TopicOrderCreated is the topic an order.created event is published to.
	TopicOrderCreated = "order.created"
	// SubscriptionProjector is the subscription the read-model projector
	// consumes order.created from.
	SubscriptionProjector = "order-projector"
	// AttrOrderID is the message attribute that carries the order ID.
	AttrOrderID = "order_id"
	// AttrType is the message attribute that carries the event type.
	AttrType = "type"

	DefaultCacheTTL       = 5 * time.Minute
	DefaultIdempotencyTTL = 24 * time.Hour
	DefaultReadTimeout    = 5 * time.Second
	DefaultKeyPrefix      = "orders:"
)

// Config holds the ports a [Service] uses and its settings. Every port is
// required; zero settings take the defaults above.
type Config struct {
	Orders    ports.SQLStore[domain.Order]
	Lines     ports.SQLStore[domain.OrderLine]
	Tx        ports.Transactor
	Audits    ports.DocStore[domain.Audit]
	Views     ports.DocStore[domain.OrderView]
	Cache     ports.Cache
	Publisher ports.Publisher

	// Topic is where order.created events go (TopicOrderCreated).
	Topic string
	// KeyPrefix starts every cache key (DefaultKeyPrefix).
	KeyPrefix string
	// CacheTTL is how long an order stays cached (DefaultCacheTTL).
	CacheTTL time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered
	// (DefaultIdempotencyTTL).
	IdempotencyTTL time.Duration
	// ReadTimeout bounds the store read shared by concurrent cache misses,
	// which outlives the caller that started it (DefaultReadTimeout).
	ReadTimeout time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives the warnings the service recovers from
	// (slog.Default()).
	Logger *slog.Logger
}

// Service is the orders application service. It is safe for concurrent
// use.
type Service struct {
	cfg    Config
	log    *slog.Logger
	flight singleflight.Group
}

// New returns a Service over the ports of cfg, or an error wrapping
// ports.ErrInvalid naming a missing port.
func New(cfg Config) (*Service, error) {
	for _, p := range []struct {
		name    string
		missing bool
	}{
		{"Orders", cfg.Orders == nil}, {"Lines", cfg.Lines == nil}, {"Tx", cfg.Tx == nil},
		{"Audits", cfg.Audits == nil}, {"Views", cfg.Views == nil}, {"Cache", cfg.Cache == nil},
		{"Publisher", cfg.Publisher == nil},
	} {
		if p.missing {
			return nil, fmt.Errorf("orders app: config has no %s port: %w", p.name, ports.ErrInvalid)
		}
	}
	if cfg.Topic == "" {
		cfg.Topic = TopicOrderCreated
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultKeyPrefix
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, log: log}, nil
}

// IdempotencyError reports an Idempotency-Key that cannot be honoured now:
// it is in use by a request still running, was used for a different order,
// or was just released by a failed attempt. It wraps ports.ErrConflict.
type IdempotencyError struct {
	Reason string
}

// Error formats as "Idempotency-Key " + Reason.
func (e *IdempotencyError) Error() string { return "Idempotency-Key " + e.Reason }

// Unwrap returns ports.ErrConflict.
func (e *IdempotencyError) Unwrap() error { return ports.ErrConflict }

// Placed is the result of [Service.PlaceOrder].
type Placed struct {
	// Order is the order as stored, with its lines.
	Order domain.OrderDetails
	// Replayed is true when the Idempotency-Key had already placed this
	// order: nothing new was written or published.
	Replayed bool
}

// PlaceOrder validates n and places it: the order and its lines are
// written in one SQL transaction, the order.created event is published
// inside that transaction and its acknowledgement awaited, then the
// transaction commits and an audit document is recorded.
//
// Publishing before the commit means a publish failure rolls the order
// back: PlaceOrder returns the error (wrapping ports.ErrUnavailable when
// the broker is down) and nothing is stored, so a client may retry. An
// order PlaceOrder returns is therefore both stored and announced. The one
// window left — the broker acknowledged, then the commit failed — leaves an
// event for an order that does not exist, which the read model shows; a
// production service closes it with a transactional outbox. The audit
// document is written after the commit; a failure to write it is logged,
// not returned, since the order is already accepted.
//
// A non-empty idempotencyKey makes retries safe: the first request with a
// key places the order; a later one with the same key and the same order
// returns it with Replayed set, one with a different order returns
// an *IdempotencyError (which wraps ports.ErrConflict), as does one that
// arrives while the first is still running. Invalid input returns a *domain.ValidationError, which wraps
// ports.ErrInvalid.
func (s *Service) PlaceOrder(ctx context.Context, idempotencyKey string, n domain.NewOrder) (Placed, error) {
	if err := domain.ValidIdempotencyKey("Idempotency-Key", idempotencyKey); err != nil {
		return Placed{}, err
	}
	if err := n.Validate(); err != nil {
		return Placed{}, err
	}
	if idempotencyKey == "" {
		d, err := s.place(ctx, n)
		return Placed{Order: d}, err
	}

	key := s.cfg.KeyPrefix + "idem:" + idempotencyKey
	fp := fingerprint(n)
	claimed, err := s.cfg.Cache.SetNX(ctx, key, []byte("pending "+fp), s.cfg.IdempotencyTTL)
	if err != nil {
		return Placed{}, fmt.Errorf("place order: claim idempotency key: %w", err)
	}
	if !claimed {
		return s.replay(ctx, key, fp)
	}
	d, err := s.place(ctx, n)
	// The key's fate must not depend on a caller that has gone away.
	bg := context.WithoutCancel(ctx)
	if err != nil {
		if derr := s.cfg.Cache.Delete(bg, key); derr != nil {
			s.log.WarnContext(ctx, "orders: cannot release idempotency key", "error", derr)
		}
		return Placed{}, err
	}
	done := fmt.Sprintf("done %s %d", fp, d.ID)
	if err := s.cfg.Cache.Set(bg, key, []byte(done), s.cfg.IdempotencyTTL); err != nil {
		s.log.WarnContext(ctx, "orders: cannot record idempotency key", "order_id", d.ID, "error", err)
	}
	return Placed{Order: d}, nil
}

// replay answers a request whose idempotency key is already taken.
func (s *Service) replay(ctx context.Context, key, fp string) (Placed, error) {
	v, err := s.cfg.Cache.Get(ctx, key)
	if errors.Is(err, ports.ErrNotFound) {
		// Released by a failed first attempt a moment ago.
		return Placed{}, &IdempotencyError{Reason: "was released by a request that failed a moment ago; retry"}
	}
	if err != nil {
		return Placed{}, fmt.Errorf("place order: read idempotency key: %w", err)
	}
	f := strings.Fields(string(v))
	switch {
	case len(f) >= 2 && f[1] != fp:
		return Placed{}, &IdempotencyError{Reason: "was used for a different order"}
	case len(f) == 2 && f[0] == "pending":
		return Placed{}, &IdempotencyError{Reason: "is in use by a request still in progress"}
	case len(f) == 3 && f[0] == "done":
		id, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			break
		}
		d, err := s.GetOrder(ctx, id)
		if err != nil {
			return Placed{}, fmt.Errorf("place order: replay order %d: %w", id, err)
		}
		return Placed{Order: d, Replayed: true}, nil
	}
	return Placed{}, &IdempotencyError{Reason: "has a malformed record in the cache"}
}

// fingerprint identifies the content of an order for idempotency checks.
func fingerprint(n domain.NewOrder) string {
	b, _ := json.Marshal(n) // a struct of strings and numbers always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// place writes, publishes and audits n.
func (s *Service) place(ctx context.Context, n domain.NewOrder) (domain.OrderDetails, error) {
	o, lines := n.Build(s.cfg.Now())
	var d domain.OrderDetails
	err := s.cfg.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.cfg.Orders.Create(ctx, &o); err != nil {
			return fmt.Errorf("create order: %w", err)
		}
		ptrs := make([]*domain.OrderLine, len(lines))
		for i := range lines {
			lines[i].OrderID = o.ID
			ptrs[i] = &lines[i]
		}
		if err := s.cfg.Lines.CreateMany(ctx, ptrs); err != nil {
			return fmt.Errorf("create order lines: %w", err)
		}
		d = domain.OrderDetails{Order: o, Lines: lines}
		if err := s.publishCreated(ctx, d); err != nil {
			return err // rolls the order back
		}
		return nil
	})
	if err != nil {
		return domain.OrderDetails{}, fmt.Errorf("place order: %w", err)
	}
	a := domain.Audit{Action: domain.ActionOrderPlaced, OrderID: d.ID, Customer: d.Customer, TotalCents: d.TotalCents}
	if err := s.cfg.Audits.Insert(context.WithoutCancel(ctx), &a); err != nil {
		s.log.ErrorContext(ctx, "orders: cannot record audit", "order_id", d.ID, "action", a.Action, "error", err)
	}
	return d, nil
}

func (s *Service) publishCreated(ctx context.Context, d domain.OrderDetails) error {
	data, err := json.Marshal(d.Created())
	if err != nil {
		return fmt.Errorf("encode %s event: %w", s.cfg.Topic, err)
	}
	msg := ports.Message{
		Data: data,
		Attributes: map[string]string{
			AttrOrderID: strconv.FormatInt(d.ID, 10),
			AttrType:    TopicOrderCreated,
		},
	}
	if _, err := s.cfg.Publisher.Publish(ctx, s.cfg.Topic, msg); err != nil {
		return fmt.Errorf("publish %s: %w", s.cfg.Topic, err)
	}
	return nil
}

// GetOrder returns the order with its lines, reading through the cache
// (cache-aside): a hit is served from the cache; concurrent misses for one
// order share a single store read (singleflight), whose result is cached
// for CacheTTL. An unavailable cache degrades to store reads, logged. It
// returns an error wrapping ports.ErrNotFound for an unknown order and a
// *domain.ValidationError for an id that is not positive.
func (s *Service) GetOrder(ctx context.Context, id int64) (domain.OrderDetails, error) {
	if id <= 0 {
		return domain.OrderDetails{}, domain.Invalid("id", "must be a positive integer, got %d", id)
	}
	key := s.orderKey(id)
	if d, ok := s.cached(ctx, key, id); ok {
		return d, nil
	}
	ch := s.flight.DoChan(key, func() (any, error) {
		// The read is shared: it must not fail because the caller that
		// happened to start it went away, yet it must end.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ReadTimeout)
		defer cancel()
		// A flight that starts just after another one filled the cache
		// finds it there.
		if d, ok := s.cached(ctx, key, id); ok {
			return d, nil
		}
		return s.load(ctx, key, id)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return domain.OrderDetails{}, r.Err
		}
		return r.Val.(domain.OrderDetails).Clone(), nil
	case <-ctx.Done():
		return domain.OrderDetails{}, fmt.Errorf("get order %d: %w", id, ctx.Err())
	}
}

func (s *Service) orderKey(id int64) string {
	return s.cfg.KeyPrefix + "order:" + strconv.FormatInt(id, 10)
}

// cached returns the cached order, if the cache has a sound entry.
func (s *Service) cached(ctx context.Context, key string, id int64) (domain.OrderDetails, bool) {
	b, err := s.cfg.Cache.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, ports.ErrNotFound) {
			s.log.WarnContext(ctx, "orders: cache read failed; reading the store", "order_id", id, "error", err)
		}
		return domain.OrderDetails{}, false
	}
	var d domain.OrderDetails
	if err := json.Unmarshal(b, &d); err != nil || d.ID != id {
		s.log.WarnContext(ctx, "orders: ignoring a malformed cache entry", "order_id", id)
		return domain.OrderDetails{}, false
	}
	return d, true
}

// load reads the order and its lines from SQL and caches them.
func (s *Service) load(ctx context.Context, key string, id int64) (domain.OrderDetails, error) {
	o, err := s.cfg.Orders.Get(ctx, id)
	if err != nil {
		return domain.OrderDetails{}, fmt.Errorf("get order %d: %w", id, err)
	}
	lines, err := s.cfg.Lines.Find(ctx, ports.Where("OrderID", ports.Eq, id).OrderBy("ID"))
	if err != nil {
		return domain.OrderDetails{}, fmt.Errorf("get lines of order %d: %w", id, err)
	}
	d := domain.OrderDetails{Order: *o, Lines: lines}
	if d.Lines == nil {
		d.Lines = []domain.OrderLine{}
	}
	b, err := json.Marshal(d)
	if err == nil {
		err = s.cfg.Cache.Set(ctx, key, b, s.cfg.CacheTTL)
	}
	if err != nil {
		s.log.WarnContext(ctx, "orders: cannot cache order", "order_id", id, "error", err)
	}
	return d, nil
}

// HandleOrderCreated is the [ports.Handler] of the read-model projector:
// it upserts the [domain.OrderView] of the order an order.created message
// describes. Delivery is at least once, so it is idempotent: a redelivered
// event finds its view and leaves it as it is. A malformed message is
// logged and acknowledged (redelivery would not mend it); a store failure
// is returned, so the message is redelivered.
func (s *Service) HandleOrderCreated(ctx context.Context, m ports.Message) error {
	var e domain.OrderCreated
	if err := json.Unmarshal(m.Data, &e); err != nil || e.OrderID <= 0 {
		s.log.ErrorContext(ctx, "orders: dropping a malformed order.created message",
			"message_id", m.ID, "bytes", len(m.Data), "error", err)
		return nil
	}
	v := e.View()
	found, err := s.cfg.Views.Find(ctx, ports.Where("OrderID", ports.Eq, e.OrderID).Limit(1))
	if err != nil {
		return fmt.Errorf("project order %d: find view: %w", e.OrderID, err)
	}
	if len(found) == 0 {
		err := s.cfg.Views.Insert(ctx, &v)
		if errors.Is(err, ports.ErrConflict) {
			// A concurrent delivery of the same event inserted it first
			// (the view's OrderID is a unique index where the store has
			// them): the view is already what this one would write.
			return nil
		}
		if err != nil {
			return fmt.Errorf("project order %d: insert view: %w", e.OrderID, err)
		}
		return nil
	}
	old := found[0]
	v.Document = old.Document
	if sameView(old, v) {
		return nil
	}
	if err := s.cfg.Views.Update(ctx, &v); err != nil {
		return fmt.Errorf("project order %d: update view: %w", e.OrderID, err)
	}
	return nil
}

func sameView(a, b domain.OrderView) bool {
	return a.OrderID == b.OrderID && a.Customer == b.Customer && a.Status == b.Status &&
		a.TotalCents == b.TotalCents && a.Lines == b.Lines && a.Items == b.Items &&
		a.PlacedAt.Equal(b.PlacedAt)
}

// MaxListLimit caps the number of views [Service.CustomerOrders] returns.
const MaxListLimit = 100

// CustomerOrders returns the read-model views of a customer's orders, the
// most recent first, at most limit of them (1..MaxListLimit; 0 means 20).
// It reads only the DocStore: an order appears there once its
// order.created event has been projected.
func (s *Service) CustomerOrders(ctx context.Context, customer string, limit int) ([]domain.OrderView, error) {
	customer = strings.TrimSpace(customer)
	if customer == "" {
		return nil, domain.Invalid("customer", "is required")
	}
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > MaxListLimit {
		return nil, domain.Invalid("limit", "must be between 1 and %d, got %d", MaxListLimit, limit)
	}
	views, err := s.cfg.Views.Find(ctx, ports.Where("Customer", ports.Eq, customer).OrderBy("-PlacedAt", "-OrderID").Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("list orders of a customer: %w", err)
	}
	if views == nil {
		views = []domain.OrderView{}
	}
	return views, nil
}
