package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/ports"
)

// Names are the names of the service's tables, collections, topic,
// subscription and cache keys.
type Names struct {
	Orders       string // SQL table of domain.Order
	Lines        string // SQL table of domain.OrderLine
	Views        string // collection of the read model, domain.OrderView
	Audits       string // collection of domain.Audit
	Topic        string // topic of order.created events
	Subscription string // the projector's subscription to Topic
	KeyPrefix    string // prefix of every cache key
}

// NamesFor returns the names of namespace ns: the plain names ("orders",
// "order_lines", "order_views", "audits", "order.created",
// "order-projector", "orders:") when ns is empty, each suffixed with "_"+ns
// (the key prefix with ns+":") otherwise.
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
		Views:        "order_views" + sfx,
		Audits:       "audits" + sfx,
		Topic:        app.TopicOrderCreated + sfx,
		Subscription: app.SubscriptionProjector + sfx,
		KeyPrefix:    prefix,
	}
}

// Backend says which implementation serves a port.
type Backend struct {
	Port   string // "sql", "documents", "cache", "pubsub"
	Impl   string // the Connector's Name: "mysql", "fake-sql", ...
	Real   bool   // a real adapter, not a fake
	Target string // where it connects, redacted; "in-memory" for a fake
}

// Fakes are the in-memory fakes Build created, for tests that inject
// faults (SetUnavailable, FailNext) or inspect them. A port served by a
// real adapter has a nil field.
type Fakes struct {
	SQL    *fakes.DB
	Docs   *fakes.DB
	Cache  *fakes.Cache
	PubSub *fakes.PubSub
}

// Ports is what Build returns: every port the service uses, the group that
// checks and closes their backends, and what serves each.
type Ports struct {
	Orders     ports.SQLStore[domain.Order]
	Lines      ports.SQLStore[domain.OrderLine]
	Tx         ports.Transactor
	Audits     ports.DocStore[domain.Audit]
	Views      ports.DocStore[domain.OrderView]
	Cache      ports.Cache
	Publisher  ports.Publisher
	Subscriber ports.Subscriber

	// Group holds every backend's Connector in opening order: SQL,
	// documents, cache, pub/sub. Its Close closes them in reverse.
	Group    *lifecycle.Group
	Names    Names
	Backends []Backend
	Fakes    Fakes
}

// setupTimeout bounds the creation of tables, indexes, topic and
// subscription on one backend.
const setupTimeout = 30 * time.Second

// Build opens the backends cfg selects (fakes for the others), creates the
// tables, indexes, topic and subscription the service needs, and returns
// the ports. On failure it closes what it had opened and returns the
// error. log receives one line per port naming its implementation.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (_ *Ports, err error) {
	if log == nil {
		log = slog.Default()
	}
	p := &Ports{
		Group: lifecycle.NewGroup(lifecycle.WithLogger(log)),
		Names: NamesFor(cfg.Namespace),
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			err = errors.Join(err, p.Group.Close(cctx))
		}
	}()
	steps := []func(context.Context, Config, *Ports, *slog.Logger) error{buildSQL, buildDocs, buildCache, buildPubSub}
	for _, step := range steps {
		if err := step(ctx, cfg, p, log); err != nil {
			return nil, err
		}
	}
	for _, b := range p.Backends {
		kind := "fake"
		if b.Real {
			kind = "real"
		}
		log.LogAttrs(ctx, slog.LevelInfo, "orders: backend",
			slog.String("port", b.Port), slog.String("kind", kind),
			slog.String("impl", b.Impl), slog.String("target", b.Target))
	}
	return p, nil
}

func (p *Ports) add(port string, c ports.Connector, real bool, target string) {
	if !real {
		target = "in-memory"
	}
	target = lifecycle.Redact(target)
	p.Group.Add(c, lifecycle.WithTarget(target))
	p.Backends = append(p.Backends, Backend{Port: port, Impl: c.Name(), Real: real, Target: target})
}

func buildSQL(ctx context.Context, cfg Config, p *Ports, log *slog.Logger) error {
	if cfg.MySQL == nil {
		db := fakes.NewDB(fakes.WithName("fake-sql"), fakes.WithLogger(log))
		p.add("sql", db, false, "")
		orders, err := fakes.NewSQLStore[domain.Order](db, fakes.WithTable(p.Names.Orders))
		if err != nil {
			return err
		}
		lines, err := fakes.NewSQLStore[domain.OrderLine](db, fakes.WithTable(p.Names.Lines))
		if err != nil {
			return err
		}
		p.Orders, p.Lines, p.Tx, p.Fakes.SQL = orders, lines, db, db
		return nil
	}
	db, err := mysql.Open(ctx, *cfg.MySQL, mysql.WithLogger(log))
	if err != nil {
		return err
	}
	p.add("sql", db, true, mysqlTarget(*cfg.MySQL))
	orders, err := mysql.NewStore[domain.Order](db, mysql.WithTable(p.Names.Orders))
	if err != nil {
		return err
	}
	lines, err := mysql.NewStore[domain.OrderLine](db, mysql.WithTable(p.Names.Lines))
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := orders.Migrate(mctx); err != nil {
		return fmt.Errorf("migrate %s: %w", orders.Table(), err)
	}
	if err := lines.Migrate(mctx); err != nil {
		return fmt.Errorf("migrate %s: %w", lines.Table(), err)
	}
	p.Orders, p.Lines, p.Tx = orders, lines, db
	return nil
}

func buildDocs(ctx context.Context, cfg Config, p *Ports, log *slog.Logger) error {
	if cfg.Mongo == nil {
		db := fakes.NewDB(fakes.WithName("fake-doc"), fakes.WithLogger(log))
		p.add("documents", db, false, "")
		audits, err := fakes.NewDocStore[domain.Audit](db, fakes.WithTable(p.Names.Audits))
		if err != nil {
			return err
		}
		views, err := fakes.NewDocStore[domain.OrderView](db, fakes.WithTable(p.Names.Views))
		if err != nil {
			return err
		}
		p.Audits, p.Views = audits, views
		p.Fakes.Docs = db
		return nil
	}
	store, err := mongo.Open(ctx, *cfg.Mongo, mongo.WithLogger(log))
	if err != nil {
		return err
	}
	p.add("documents", store, true, mongo.RedactURI(cfg.Mongo.URI))
	audits, err := mongo.NewDocStore[domain.Audit](store, p.Names.Audits)
	if err != nil {
		return err
	}
	views, err := mongo.NewDocStore[domain.OrderView](store, p.Names.Views, mongo.WithIndexes(
		mongo.Index{Fields: []string{"OrderID"}, Unique: true},
		mongo.Index{Fields: []string{"Customer", "-PlacedAt"}},
	))
	if err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := views.EnsureIndexes(ictx); err != nil {
		return fmt.Errorf("indexes of %s: %w", p.Names.Views, err)
	}
	p.Audits, p.Views = audits, views
	return nil
}

func buildCache(ctx context.Context, cfg Config, p *Ports, log *slog.Logger) error {
	if cfg.Redis == nil {
		c := fakes.NewCache(fakes.WithLogger(log))
		p.add("cache", c, false, "")
		p.Cache, p.Fakes.Cache = c, c
		return nil
	}
	c, err := redis.Open(ctx, *cfg.Redis, redis.WithLogger(log))
	if err != nil {
		return err
	}
	p.add("cache", c, true, cfg.Redis.RedactedURL())
	p.Cache = c
	return nil
}

func buildPubSub(ctx context.Context, cfg Config, p *Ports, log *slog.Logger) error {
	topic, sub := p.Names.Topic, p.Names.Subscription
	if cfg.PubSub == nil {
		ps := fakes.NewPubSub(fakes.WithLogger(log))
		p.add("pubsub", ps, false, "")
		if err := ps.CreateTopic(ctx, topic); err != nil {
			return err
		}
		if err := ps.CreateSubscription(ctx, sub, topic, fakes.SubscriptionConfig{}); err != nil {
			return err
		}
		p.Publisher, p.Subscriber, p.Fakes.PubSub = ps, ps, ps
		return nil
	}
	ps, err := pubsub.Open(ctx, *cfg.PubSub, pubsub.WithLogger(log))
	if err != nil {
		return err
	}
	target := "projects/" + cfg.PubSub.ProjectID
	if cfg.PubSub.EmulatorHost != "" {
		target += " on emulator " + cfg.PubSub.EmulatorHost
	}
	p.add("pubsub", ps, true, target)
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := ps.EnsureTopic(sctx, topic); err != nil {
		return err
	}
	if err := ps.EnsureSubscription(sctx, sub, pubsub.SubscriptionConfig{Topic: topic}); err != nil {
		return err
	}
	p.Publisher, p.Subscriber = ps, ps
	return nil
}

// mysqlTarget is where c connects, for logs; Add redacts it.
func mysqlTarget(c mysql.Config) string {
	switch {
	case c.DSN != "":
		return c.DSN
	case c.URL != "":
		return c.URL
	}
	port := c.Port
	if port == 0 {
		port = mysql.DefaultPort
	}
	return fmt.Sprintf("%s:%d/%s", c.Host, port, c.Database)
}
