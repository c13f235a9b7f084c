package fakes

import (
	"log/slog"
	"time"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Option configures a fake made by [NewCache], [NewDB] or [NewPubSub].
// Options that do not apply to a fake are ignored by it.
type Option func(*config)

// config is what Options set.
type config struct {
	clock          Clock
	name           string
	logger         *slog.Logger
	lockWait       time.Duration
	maxConcurrency int
	redelivery     time.Duration
	maxMessage     int
	dialect        Dialect
	pubsub         pubsubConfig
	cache          cacheConfig  // the Cache's options (cacheoptions.go)
	tel            obs.Settings // the OpenTelemetry providers (obsoptions.go)
}

// Defaults of the options.
const (
	// DefaultLockWait is how long a DB call waits for a lock held by another
	// transaction before it fails with ErrUnavailable (MySQL's
	// innodb_lock_wait_timeout plays this part).
	DefaultLockWait = 10 * time.Second
	// DefaultMaxConcurrency is how many handlers one Subscribe call runs at
	// once: ports.DefaultMaxConcurrency.
	DefaultMaxConcurrency = ports.DefaultMaxConcurrency
	// DefaultRedeliveryDelay is how long a nacked message waits before it is
	// delivered again.
	DefaultRedeliveryDelay = 5 * time.Millisecond
	// DefaultMaxMessageBytes is the largest message Publish accepts, as
	// ports.MessageSize counts it: ports.MaxMessageBytes.
	DefaultMaxMessageBytes = ports.MaxMessageBytes
)

func newConfig(defaultName string, opts []Option) config {
	c := config{
		clock:          systemClock{},
		name:           defaultName,
		lockWait:       DefaultLockWait,
		maxConcurrency: DefaultMaxConcurrency,
		redelivery:     DefaultRedeliveryDelay,
		maxMessage:     DefaultMaxMessageBytes,
		dialect:        MySQL,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// WithClock makes the fake follow clock instead of the system clock.
func WithClock(clock Clock) Option {
	return func(c *config) {
		if clock != nil {
			c.clock = clock
		}
	}
}

// WithName sets the name the fake reports from Name and puts in its errors
// (by default "fake-cache", "fake-sql", "fake-pubsub"), to tell several
// fakes of one kind apart.
func WithName(name string) Option {
	return func(c *config) {
		if name != "" {
			c.name = name
		}
	}
}

// WithLogger sets the logger the fake reports unusual events to (a
// panicking Pub/Sub handler); slog.Default() by default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithLockWait sets how long a DB call waits for a lock held by another
// transaction ([DefaultLockWait] by default) before it fails with an error
// wrapping ErrUnavailable. It also bounds the wait for the DB's single
// transaction slot.
func WithLockWait(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockWait = d
		}
	}
}

// WithMaxConcurrency sets how many handlers one PubSub.Subscribe call runs
// at once ([DefaultMaxConcurrency] by default).
func WithMaxConcurrency(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxConcurrency = n
		}
	}
}

// WithRedeliveryDelay sets how long a nacked message waits before the
// PubSub fake delivers it again ([DefaultRedeliveryDelay] by default). The
// delay is real time, not the fake's Clock.
func WithRedeliveryDelay(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.redelivery = d
		}
	}
}

// WithMaxMessageBytes sets the largest message the PubSub fake accepts
// ([DefaultMaxMessageBytes] by default), to stand for a backend with a
// smaller limit of its own; a larger value than ports.MaxMessageBytes
// changes nothing.
func WithMaxMessageBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxMessage = n
		}
	}
}

// WithDialect makes a DB follow the semantics of the SQL backend d
// ([MySQL], the default, or [Postgres]) as its adapter creates tables:
// string collation and padding, time precision, column types and the
// values the backend rejects. NewSQLStore fails with ErrInvalid on a DB
// given an unknown dialect.
func WithDialect(d Dialect) Option {
	return func(c *config) { c.dialect = d }
}

// StoreOption configures a store made by [NewSQLStore] or [NewDocStore].
type StoreOption func(*storeConfig)

type storeConfig struct {
	table string
	doc   docConfig // options of document stores only (docoptions.go)
}

// WithTable names the table (SQL store) or collection (document store).
// Stores of one DB with the same name and type share their rows, as two
// repositories over one table do. By default the name is the model's
// TableName() or CollectionName() when it has one, else its type name in
// snake case with an "s" appended.
func WithTable(name string) StoreOption {
	return func(c *storeConfig) { c.table = name }
}
