package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/open"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

// NewMux returns the Mux of the schemes the service links: the fakes
// (mem://) and each adapter's. It is the one place that names adapters;
// an adapter's scheme is one line here.
func NewMux() *open.Mux {
	return open.New(
		fakes.Schemes(),   // mem://
		mysql.Scheme(),    // mysql://, mariadb://
		mongo.Scheme(),    // mongodb://, mongodb+srv://
		redis.Scheme(),    // redis://, rediss://
		pubsub.Scheme(),   // gcppubsub://
		postgres.Scheme(), // postgres://, postgresql://
		nats.Scheme(),     // nats://
	)
}

// Names are the names of the service's tables, collections, topics,
// subscriptions and cache keys.
type Names struct {
	Orders       string // SQL table of domain.Order
	Lines        string // SQL table of domain.OrderLine
	Outbox       string // SQL table of outbox.Row
	OutboxLeases string // SQL table of outbox.Lease
	Views        string // collection of the read model, domain.OrderView
	Audits       string // collection of domain.Audit
	Topic        string // topic of order.created events
	Subscription string // the projector's subscription to Topic
	DeadLetter   string // topic of the order.created events the projector gave up on
	DeadLetters  string // subscription that keeps DeadLetter's messages for a person to look at
	KeyPrefix    string // prefix of every cache key
}

// NamesFor returns the names of namespace ns: the plain names ("orders",
// "order_lines", "outbox", "outbox_leases", "order_views", "audits",
// "order.created", "order-projector", "order.created.dead",
// "order-projector-dead", "orders:") when ns is empty, each suffixed with
// "_"+ns (the key prefix with ns+":") otherwise.
func NamesFor(ns string) Names {
	sfx := ""
	if ns != "" {
		sfx = "_" + ns
	}
	prefix := app.DefaultKeyPrefix
	if ns != "" {
		prefix += ns + ":"
	}
	return Names{
		Orders:       "orders" + sfx,
		Lines:        "order_lines" + sfx,
		Outbox:       "outbox" + sfx,
		OutboxLeases: "outbox_leases" + sfx,
		Views:        "order_views" + sfx,
		Audits:       "audits" + sfx,
		Topic:        app.TopicOrderCreated + sfx,
		Subscription: app.SubscriptionProjector + sfx,
		DeadLetter:   app.TopicOrderCreated + ".dead" + sfx,
		DeadLetters:  app.SubscriptionProjector + "-dead" + sfx,
		KeyPrefix:    prefix,
	}
}

// Backend says what serves a port.
type Backend struct {
	Port   string // "sql", "documents", "cache", "pubsub"
	Impl   string // the Connector's Name: "mysql", "fake-sql", ...
	Scheme string // the URL's scheme: "mem", "mysql", ...
	Real   bool   // a real adapter, not a fake (scheme mem)
	Target string // where it connects, redacted; "in-memory" for a fake
}

// Fakes are the in-memory fakes Build opened (for mem:// URLs), for tests
// that inject faults (SetUnavailable, FailNext) or inspect them. A port
// served by a real adapter has a nil field.
type Fakes struct {
	SQL    *fakes.DB
	Docs   *fakes.DB
	Cache  *fakes.Cache
	PubSub *fakes.PubSub
}

// Ports is what Build returns: every port the service uses, the group that
// checks and closes their backends, and what serves each.
type Ports struct {
	Orders ports.SQLStore[domain.Order]
	Lines  ports.SQLStore[domain.OrderLine]
	Tx     ports.Transactor
	Audits ports.DocStore[domain.Audit]
	Views  ports.DocStore[domain.OrderView]
	Cache  ports.Cache
	// Publisher is the outbox's: it writes events in the caller's SQL
	// transaction, for Relay to publish. The service publishes only
	// through it.
	Publisher ports.Publisher
	// Broker is the messaging backend's own Publisher: the relay's target
	// and the dead-letter middleware's.
	Broker     ports.Publisher
	Subscriber ports.Subscriber
	// Relay publishes the outbox's committed rows through Broker once
	// Start runs it.
	Relay *outbox.Relay

	// Group holds every backend's Connector in opening order: SQL,
	// documents, cache, pub/sub (then the relay and the projector, once
	// Start adds them). Its Close closes them in reverse.
	Group    *lifecycle.Group
	Names    Names
	Backends []Backend
	Fakes    Fakes

	log     *slog.Logger
	cache   ports.Cache
	workers sync.WaitGroup
}

// setupTimeout bounds the creation of tables, indexes, topics and
// subscriptions on one backend.
const setupTimeout = 30 * time.Second

// Build opens the four ports from cfg's URLs, creates the tables, indexes,
// topics and subscriptions the service needs, and returns the ports. On
// failure it closes what it had opened and returns the error, which names
// the port and the URL's scheme, never a secret. log receives one line
// per port naming what serves it.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (_ *Ports, err error) {
	if log == nil {
		log = slog.Default()
	}
	p := &Ports{
		Group: lifecycle.NewGroup(lifecycle.WithLogger(log)),
		Names: NamesFor(cfg.Namespace),
		log:   log,
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			err = errors.Join(err, p.Group.Close(cctx))
		}
	}()
	b := builder{m: NewMux(), opts: []open.Option{open.WithEnviron(cfg.Environ), open.WithLogger(log)}, cfg: cfg, p: p}
	for _, step := range []func(context.Context) error{b.sql, b.docs, b.cache, b.pubsub, b.outbox} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	for _, be := range p.Backends {
		kind := "fake"
		if be.Real {
			kind = "real"
		}
		log.LogAttrs(ctx, slog.LevelInfo, "orders: backend",
			slog.String("port", be.Port), slog.String("kind", kind), slog.String("impl", be.Impl),
			slog.String("scheme", be.Scheme), slog.String("target", be.Target))
	}
	return p, nil
}

type builder struct {
	m    *open.Mux
	opts []open.Option
	cfg  Config
	p    *Ports

	sqlh open.SQL
	psh  open.PubSub
}

func (b *builder) add(port string, c ports.Connector, scheme, target string) {
	target = lifecycle.Redact(target)
	b.p.Group.Add(c, lifecycle.WithTarget(target))
	b.p.Backends = append(b.p.Backends, Backend{Port: port, Impl: c.Name(), Scheme: scheme, Real: scheme != fakes.Scheme, Target: target})
}

func (b *builder) sql(ctx context.Context) error {
	h, err := b.m.OpenSQL(ctx, b.cfg.SQLURL, b.opts...)
	if err != nil {
		return fmt.Errorf("ORDERS_SQL_URL: %w", err)
	}
	b.add("sql", h.Connector, h.Scheme, h.Target)
	b.sqlh = h
	b.p.Fakes.SQL, _ = h.Stores.(*fakes.DB)
	n := b.p.Names
	if b.p.Orders, err = open.NewSQLStore[domain.Order](h, n.Orders); err != nil {
		return err
	}
	if b.p.Lines, err = open.NewSQLStore[domain.OrderLine](h, n.Lines); err != nil {
		return err
	}
	b.p.Tx = h
	mctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	return open.Migrate(mctx, b.p.Orders, b.p.Lines)
}

func (b *builder) docs(ctx context.Context) error {
	h, err := b.m.OpenDoc(ctx, b.cfg.DocURL, b.opts...)
	if err != nil {
		return fmt.Errorf("ORDERS_DOC_URL: %w", err)
	}
	b.add("documents", h.Connector, h.Scheme, h.Target)
	b.p.Fakes.Docs, _ = h.Stores.(*fakes.DB)
	n := b.p.Names
	if b.p.Audits, err = open.NewDocStore[domain.Audit](h, n.Audits); err != nil {
		return err
	}
	if b.p.Views, err = open.NewDocStore[domain.OrderView](h, n.Views, open.WithIndexes(
		open.Index{Fields: []string{"OrderID"}, Unique: true},
		open.Index{Fields: []string{"Customer", "-PlacedAt"}},
	)); err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	return open.Migrate(ictx, b.p.Audits, b.p.Views)
}

func (b *builder) cache(ctx context.Context) error {
	h, err := b.m.OpenCache(ctx, b.cfg.CacheURL, b.opts...)
	if err != nil {
		return fmt.Errorf("ORDERS_CACHE_URL: %w", err)
	}
	b.add("cache", h.Connector, h.Scheme, h.Target)
	b.p.Cache, b.p.cache = h, h
	b.p.Fakes.Cache, _ = h.Cache.(*fakes.Cache)
	return nil
}

func (b *builder) pubsub(ctx context.Context) error {
	h, err := b.m.OpenPubSub(ctx, b.cfg.PubSubURL, b.opts...)
	if err != nil {
		return fmt.Errorf("ORDERS_PUBSUB_URL: %w", err)
	}
	b.add("pubsub", h.Connector, h.Scheme, h.Target)
	b.psh = h
	b.p.Broker, b.p.Subscriber = h, h
	b.p.Fakes.PubSub, _ = h.Connector.(*fakes.PubSub)
	n := b.p.Names
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	// Through ports.Admin: the same calls on every backend.
	for _, topic := range []string{n.Topic, n.DeadLetter} {
		if err := h.EnsureTopic(sctx, topic); err != nil {
			return err
		}
	}
	if err := h.EnsureSubscription(sctx, n.Subscription, ports.SubscriptionConfig{Topic: n.Topic}); err != nil {
		return err
	}
	return h.EnsureSubscription(sctx, n.DeadLetters, ports.SubscriptionConfig{Topic: n.DeadLetter})
}

// outbox sets up the transactional outbox in the SQL database: its tables,
// its Publisher, and the relay to the messaging backend.
func (b *builder) outbox(ctx context.Context) error {
	n := b.p.Names
	rows, err := open.NewSQLStore[outbox.Row](b.sqlh, n.Outbox)
	if err != nil {
		return err
	}
	leases, err := open.NewSQLStore[outbox.Lease](b.sqlh, n.OutboxLeases)
	if err != nil {
		return err
	}
	oc := outbox.Config{Tx: b.sqlh, Rows: rows}
	rc := outbox.RelayConfig{Config: oc, Leases: leases, Target: b.psh, Logger: b.p.log}
	mctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := outbox.Migrate(mctx, rc); err != nil {
		return err
	}
	if b.p.Publisher, err = outbox.NewPublisher(oc); err != nil {
		return err
	}
	b.p.Relay, err = outbox.NewRelay(rc)
	return err
}

// Projector settings.
const (
	// ProjectorMaxDeliveries is how many failed deliveries of an event
	// move it to the dead-letter topic.
	ProjectorMaxDeliveries = 5
	// ProjectorTimeout bounds one handling of an event.
	ProjectorTimeout = 5 * time.Second
)

// Start runs the service's background work until the group closes it:
// the outbox relay, and the projector — a messaging.Runner that
// subscribes h to the order.created subscription under the middleware
// DeadLetter (after ProjectorMaxDeliveries failures, counted in the cache,
// or at once for a permanent failure), Recover, Dedupe (by the stable
// message ID, in the cache), Retry and Timeout. Both join the group, so
// that readiness covers them and Close stops them before the backends
// they use.
func (p *Ports) Start(h ports.Handler) (*messaging.Runner, error) {
	n := p.Names
	deadLetter, err := messaging.DeadLetter(messaging.DeadLetterConfig{
		Publisher: p.Broker, Topic: n.DeadLetter, Subscription: n.Subscription,
		MaxDeliveries: ProjectorMaxDeliveries,
		Counter:       messaging.CacheCounter{Cache: p.cache, Prefix: n.KeyPrefix + "deliveries:"},
		Logger:        p.log,
	})
	if err != nil {
		return nil, err
	}
	dedupe, err := messaging.Dedupe(messaging.DedupeConfig{
		Cache: p.cache, Consumer: n.Subscription, Prefix: n.KeyPrefix + "dedupe:", Logger: p.log,
	})
	if err != nil {
		return nil, err
	}
	retry, err := messaging.Retry(messaging.RetryConfig{})
	if err != nil {
		return nil, err
	}
	timeout, err := messaging.Timeout(ProjectorTimeout)
	if err != nil {
		return nil, err
	}
	runner, err := messaging.NewRunner(p.Subscriber, messaging.RunnerConfig{Name: "order-projector", Logger: p.log},
		messaging.Route{
			Subscription: n.Subscription,
			Handler:      h,
			Middleware:   []messaging.Middleware{deadLetter, messaging.Recover(p.log), dedupe, retry, timeout},
		})
	if err != nil {
		return nil, err
	}
	p.Group.Add(p.Relay, lifecycle.WithTarget("outbox "+n.Outbox))
	p.Group.Add(runner, lifecycle.WithTarget("subscription "+n.Subscription))
	for _, w := range []interface {
		Run(context.Context) error
		Name() string
	}{p.Relay, runner} {
		p.workers.Go(func() {
			// Close (through the group) stops it; only a permanent
			// failure ends it earlier.
			if err := w.Run(context.Background()); err != nil && !errors.Is(err, ports.ErrClosed) {
				p.log.Error("orders: "+w.Name()+" stopped", "error", err)
			}
		})
	}
	return runner, nil
}

// Wait waits until the workers Start started have returned (after the
// group's Close) or ctx ends.
func (p *Ports) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DrainOutbox waits until the outbox holds no pending row (the relay has
// published every committed event) or ctx ends, polling every pollEvery.
func (p *Ports) DrainOutbox(ctx context.Context) error {
	const pollEvery = 20 * time.Millisecond
	for {
		st, err := p.Relay.Stats(ctx)
		if err == nil && st.Pending == 0 {
			return nil
		}
		t := time.NewTimer(pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			if err != nil {
				return fmt.Errorf("drain outbox: %w", err)
			}
			return fmt.Errorf("drain outbox: %d events still pending: %w", st.Pending, ctx.Err())
		case <-t.C:
		}
	}
}
