// Package wiring builds the ports of the orders example from the
// environment: each port runs on its in-memory fake (package fakes) unless
// the variables of its real adapter are set, so `go run ./examples/orders`
// works with nothing installed and any mix of real and fake backends is
// allowed.
//
//	port       real adapter      selected when one of these is set
//	SQL        adapters/mysql    MYSQL_DSN, MYSQL_URL, MYSQL_HOST
//	documents  adapters/mongo    MONGODB_URI
//	cache      adapters/redis    REDIS_URL
//	pub/sub    adapters/pubsub   PUBSUB_EMULATOR_HOST, PUBSUB_PROJECT_ID
//
// Each adapter reads the rest of its variables itself (see its package
// documentation); with an emulator, Pub/Sub needs PUBSUB_PROJECT_ID too
// (any name).
//
// The service's own settings:
//
//	ADDR              listen address (default 127.0.0.1:8080)
//	SHUTDOWN_TIMEOUT  bound of the whole graceful shutdown (default 10s)
//	ORDERS_CACHE_TTL  how long GET /orders/{id} answers from the cache (default 5m)
//	ORDERS_NAMESPACE  suffix of every table, collection, topic, subscription
//	                  and cache key prefix, so that several instances (tests)
//	                  share servers without sharing data: [a-z0-9_], at most 24
//	LOG_LEVEL         DEBUG, INFO, WARN or ERROR (default INFO)
//
// [Build] opens what the configuration selects, creates what the service
// needs (SQL tables through the mysql adapter's Migrate, the read model's
// indexes, the order.created topic and the order-projector subscription),
// logs one line per port saying which implementation serves it (targets
// redacted), and returns the ports with a *lifecycle.Group that checks and
// closes them.
package wiring

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/ports"
)

// Config is what [Build] needs. A nil adapter config selects the port's
// in-memory fake.
//
// Config redacts itself: its String, GoString, Format and LogValue show
// the adapter configs through their own redacting renderings, never a
// password.
type Config struct {
	Addr            string        `env:"ADDR" envDefault:"127.0.0.1:8080"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	CacheTTL        time.Duration `env:"ORDERS_CACHE_TTL" envDefault:"5m"`
	Namespace       string        `env:"ORDERS_NAMESPACE"`
	LogLevel        slog.Level    `env:"LOG_LEVEL" envDefault:"INFO"`

	MySQL  *mysql.Config  `env:"-"`
	Mongo  *mongo.Config  `env:"-"`
	Redis  *redis.Config  `env:"-"`
	PubSub *pubsub.Config `env:"-"`
}

var namespaceRE = regexp.MustCompile(`^[a-z0-9_]{0,24}$`)

// ConfigFromEnviron reads a Config from environ, in os.Environ's
// "KEY=value" form. The service's settings come from environ; for each
// backend whose selecting variables environ sets, the adapter's own
// ConfigFromEnv reads its variables — from the process environment, which
// environ must therefore agree with on those variables (pass os.Environ();
// tests add settings, not backend variables). A bad value is an error
// that names the variable and wraps ports.ErrInvalid, never showing a
// secret.
func ConfigFromEnviron(environ []string) (Config, error) {
	m := env.ToMap(environ)
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: m}); err != nil {
		return Config{}, ports.NewError("orders", "config", ports.ErrInvalid, envError(err))
	}
	if !namespaceRE.MatchString(cfg.Namespace) {
		return Config{}, ports.NewError("orders", "config", ports.ErrInvalid,
			fmt.Errorf("ORDERS_NAMESPACE: %q is not [a-z0-9_]{0,24}", cfg.Namespace))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout}, {"ORDERS_CACHE_TTL", cfg.CacheTTL}} {
		if d.v <= 0 {
			return Config{}, ports.NewError("orders", "config", ports.ErrInvalid, fmt.Errorf("%s: must be positive, got %v", d.name, d.v))
		}
	}

	selected := func(vars ...string) (bool, error) {
		sel := false
		for _, v := range vars {
			val, ok := m[v]
			if !ok || val == "" {
				continue
			}
			sel = true
			if os.Getenv(v) != val {
				return false, ports.NewError("orders", "config", ports.ErrInvalid,
					fmt.Errorf("%s differs from the process environment, which the adapter reads", v))
			}
		}
		return sel, nil
	}
	var err error
	var sel bool
	if sel, err = selected("MYSQL_DSN", "MYSQL_URL", "MYSQL_HOST"); err == nil && sel {
		cfg.MySQL, err = load(mysql.ConfigFromEnv)
	}
	if err == nil {
		if sel, err = selected("MONGODB_URI"); err == nil && sel {
			cfg.Mongo, err = load(mongo.ConfigFromEnv)
		}
	}
	if err == nil {
		if sel, err = selected(redis.EnvURL); err == nil && sel {
			cfg.Redis, err = load(redis.ConfigFromEnv)
		}
	}
	if err == nil {
		if sel, err = selected("PUBSUB_EMULATOR_HOST", "PUBSUB_PROJECT_ID"); err == nil && sel {
			cfg.PubSub, err = load(pubsub.ConfigFromEnv)
		}
	}
	if err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func load[C any](fromEnv func() (C, error)) (*C, error) {
	c, err := fromEnv()
	if err != nil {
		if !errors.Is(err, ports.ErrInvalid) {
			err = ports.NewError("orders", "config", ports.ErrInvalid, err)
		}
		return nil, err
	}
	return &c, nil
}

// envError rewrites caarlos0/env's errors, which name Go fields, to name
// the variables. None of the service's own settings is secret.
func envError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeFor[Config]()
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := pe.Name
			if f, ok := t.FieldByName(pe.Name); ok {
				name = f.Tag.Get("env")
			}
			msgs = append(msgs, fmt.Sprintf("%s: %v", name, pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

// String renders c with every secret redacted.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wiring.Config{Addr:%s ShutdownTimeout:%v CacheTTL:%v Namespace:%q LogLevel:%v",
		c.Addr, c.ShutdownTimeout, c.CacheTTL, c.Namespace, c.LogLevel)
	for _, p := range []struct {
		name string
		v    fmt.Stringer
		ok   bool
	}{
		{"MySQL", stringer(c.MySQL), c.MySQL != nil},
		{"Mongo", stringer(c.Mongo), c.Mongo != nil},
		{"Redis", stringer(c.Redis), c.Redis != nil},
		{"PubSub", pubsubString(c.PubSub), c.PubSub != nil},
	} {
		if p.ok {
			fmt.Fprintf(&b, " %s:%s", p.name, p.v.String())
		} else {
			fmt.Fprintf(&b, " %s:fake", p.name)
		}
	}
	b.WriteString("}")
	return b.String()
}

func stringer[C fmt.Stringer](c *C) fmt.Stringer {
	if c == nil {
		return nil
	}
	return *c
}

// pubsubString renders a pubsub.Config, which holds no secret but has no
// String method of its own.
func pubsubString(c *pubsub.Config) fmt.Stringer {
	if c == nil {
		return nil
	}
	return stringFunc(func() string {
		return fmt.Sprintf("pubsub.Config{ProjectID:%s EmulatorHost:%s}", c.ProjectID, c.EmulatorHost)
	})
}

type stringFunc func() string

func (f stringFunc) String() string { return f() }

// GoString renders c as String does, for %#v.
func (c Config) GoString() string { return c.String() }

// Format renders c as String does for every verb, so that %v, %+v and %#v
// never reach the fields.
func (c Config) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue renders c for log/slog, each adapter config through its own
// redacting LogValue.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("addr", c.Addr),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Duration("cache_ttl", c.CacheTTL),
		slog.String("namespace", c.Namespace),
	}
	add := func(name string, v slog.LogValuer, ok bool) {
		if ok {
			attrs = append(attrs, slog.Any(name, v))
		} else {
			attrs = append(attrs, slog.String(name, "fake"))
		}
	}
	add("mysql", valuer(c.MySQL), c.MySQL != nil)
	add("mongo", valuer(c.Mongo), c.Mongo != nil)
	add("redis", valuer(c.Redis), c.Redis != nil)
	add("pubsub", valuer(c.PubSub), c.PubSub != nil)
	return slog.GroupValue(attrs...)
}

func valuer[C slog.LogValuer](c *C) slog.LogValuer {
	if c == nil {
		return nil
	}
	return *c
}
