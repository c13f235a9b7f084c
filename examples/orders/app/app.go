// Package app is the application layer of the orders example: a [Service]
// that places orders, reads them through a cache, and keeps a read model up
// to date from the order.created events.
//
// It depends only on the ports and portkit's small typed helpers (codec,
// messaging's typed messages, typedcache's cache-aside loader): wiring
// decides from one URL per port whether a port is served by an in-memory
// fake or a real backend, and the tests of this package run on the fakes
// and the mocks.
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

	"github.com/portkit/portkit/codec"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/typedcache"
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
	Orders ports.SQLStore[domain.Order]
	Lines  ports.SQLStore[domain.OrderLine]
	Tx     ports.Transactor
	Audits ports.DocStore[domain.Audit]
	Views  ports.DocStore[domain.OrderView]
	Cache  ports.Cache
	// Publisher publishes the order.created events inside the order's
	// transaction: in production the outbox's (outbox.Publisher), which
	// writes them in the SQL transaction for the relay to publish.
	Publisher ports.Publisher

	// Topic is where order.created events go (TopicOrderCreated).
	Topic string
	// KeyPrefix starts every cache key (DefaultKeyPrefix).
	KeyPrefix string
	// CacheTTL is how long a cached order is fresh (DefaultCacheTTL).
	CacheTTL time.Duration
	// CacheMaxStale is how long past CacheTTL a cached order is still
	// served while one background read refreshes it (0: never).
	CacheMaxStale time.Duration
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
	orders *typedcache.Loader[domain.OrderDetails]
}

// eventCodec encodes order.created events: JSON, with its content type in
// an attribute (messaging.AttrContentType).
var eventCodec = codec.JSON[domain.OrderCreated]()

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
	if cfg.CacheMaxStale < 0 {
		return nil, fmt.Errorf("orders app: CacheMaxStale %v is negative: %w", cfg.CacheMaxStale, ports.ErrInvalid)
	}
	s := &Service{cfg: cfg, log: log}
	loader, err := typedcache.NewLoader(typedcache.LoaderConfig[domain.OrderDetails]{
		Cache:       cfg.Cache,
		Prefix:      cfg.KeyPrefix + "order:",
		Load:        s.load,
		TTL:         cfg.CacheTTL,
		MaxStale:    cfg.CacheMaxStale,
		LoadTimeout: cfg.ReadTimeout,
		Now:         cfg.Now,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("orders app: %w", err)
	}
	s.orders = loader
	return s, nil
}

// Close waits for the cache refreshes the service started in the
// background (with CacheMaxStale), until ctx ends; every later GetOrder
// fails with ErrClosed. Call it before closing the ports.
func (s *Service) Close(ctx context.Context) error { return s.orders.Close(ctx) }

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

// PlaceOrder validates n and places it: the order, its lines and its
// order.created event are written in one SQL transaction — the event
// through cfg.Publisher, the outbox's, which writes it in that
// transaction for the relay to publish once it has committed — then an
// audit document is recorded.
//
// So an order is stored if and only if its event is: a failure anywhere
// in the transaction (the SQL store, the outbox write) rolls both back and
// PlaceOrder returns the error (wrapping ports.ErrUnavailable when the
// database is down), so a client may retry; a committed order's event is
// published by the relay at least once, even if the process dies right
// after the commit, and a rolled-back order never has one. The event
// carries a stable message ID (messaging.AttrMessageID) that the
// projector deduplicates on. The audit document is written after the
// commit; a failure to write it is logged, not returned, since the order
// is already accepted.
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
		// In the transaction: the outbox writes the event with the order.
		return s.publishCreated(ctx, d)
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
	msg, err := messaging.Encode(eventCodec, d.Created())
	if err != nil {
		return fmt.Errorf("encode %s event: %w", s.cfg.Topic, err)
	}
	msg.Attributes[AttrOrderID] = strconv.FormatInt(d.ID, 10)
	msg.Attributes[AttrType] = TopicOrderCreated
	if _, err := s.cfg.Publisher.Publish(ctx, s.cfg.Topic, msg); err != nil {
		return fmt.Errorf("publish %s: %w", s.cfg.Topic, err)
	}
	return nil
}

// GetOrder returns the order with its lines, read through the cache by a
// typedcache.Loader (cache-aside): a fresh entry is served from the cache;
// concurrent misses for one order share a single store read
// (singleflight), whose result is cached for CacheTTL (and, with
// CacheMaxStale, served stale while one background read refreshes it). An
// unavailable cache or a malformed entry degrades to store reads, logged.
// It returns an error wrapping ports.ErrNotFound for an unknown order, a
// *domain.ValidationError for an id that is not positive, and
// ErrUnavailable wrapping ctx's error when ctx ends first (the shared
// read goes on for the other callers).
func (s *Service) GetOrder(ctx context.Context, id int64) (domain.OrderDetails, error) {
	if id <= 0 {
		return domain.OrderDetails{}, domain.Invalid("id", "must be a positive integer, got %d", id)
	}
	d, err := s.orders.Get(ctx, strconv.FormatInt(id, 10))
	if err != nil {
		return domain.OrderDetails{}, fmt.Errorf("get order %d: %w", id, err)
	}
	return d, nil
}

// load reads the order of key (its decimal id) and its lines from SQL:
// the Loader's source of truth.
func (s *Service) load(ctx context.Context, key string) (domain.OrderDetails, error) {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return domain.OrderDetails{}, domain.Invalid("id", "is not an integer")
	}
	o, err := s.cfg.Orders.Get(ctx, id)
	if err != nil {
		return domain.OrderDetails{}, err
	}
	lines, err := s.cfg.Lines.Find(ctx, ports.Where("OrderID", ports.Eq, id).OrderBy("ID"))
	if err != nil {
		return domain.OrderDetails{}, fmt.Errorf("lines: %w", err)
	}
	d := domain.OrderDetails{Order: *o, Lines: lines}
	if d.Lines == nil {
		d.Lines = []domain.OrderLine{}
	}
	return d, nil
}

// HandleOrderCreated is the [ports.Handler] of the read-model projector:
// it upserts the [domain.OrderView] of the order an order.created message
// describes. Wiring runs it under messaging's middleware (DeadLetter,
// Recover, Dedupe, Retry, Timeout). Delivery is at least once, and Dedupe
// is not atomic with the view's write, so it is idempotent too: a
// redelivered event finds its view and leaves it as it is. A message that
// does not decode, or names no order, is a permanent failure
// (messaging.Permanent: the DeadLetter middleware moves it to the
// dead-letter topic at once, since redelivery would not mend it); a store
// failure is returned as it is, so the message is retried, then
// redelivered.
func (s *Service) HandleOrderCreated(ctx context.Context, m ports.Message) error {
	e, err := messaging.Decode(eventCodec, m)
	if err == nil && e.OrderID <= 0 {
		err = ports.NewError("orders", "decode order.created", ports.ErrInvalid, errors.New("the event names no order"))
	}
	if err != nil {
		s.log.WarnContext(ctx, "orders: malformed order.created message",
			"message_id", m.ID, "bytes", len(m.Data), "error", err)
		return messaging.Permanent(fmt.Errorf("order.created message %s: %w", m.ID, err))
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
