package difftest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/rueidis"
	mongodrv "go.mongodb.org/mongo-driver/mongo"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// TestErrorContractReal runs portstest.TestErrorContract on every real
// adapter and its server (part of make test; a backend whose variable is
// unset skips, or fails under PORTKIT_REQUIRE_BACKENDS=1). It also checks
// that the driver's own error stays reachable.
func TestErrorContractReal(t *testing.T) {
	t.Run("mysql", func(t *testing.T) {
		dsn := testenv.Env(t, "mysql", "MYSQL_DSN")
		portstest.TestErrorContract(t, func(t *testing.T) portstest.ErrorSetup {
			db := openMySQL(t, dsn)
			return portstest.ErrorSetup{
				SQL: &portstest.SQLErrors{
					Store: migrated[portstest.Item](t, db), Tx: db, Connector: db,
					Wide:           func(t *testing.T) ports.SQLStore[portstest.Wide] { return migrated[portstest.Wide](t, db) },
					UnsignedBigint: true,
					BadCredentials: func(ctx context.Context) error {
						bad, err := mysql.Open(ctx, mysql.Config{DSN: "pk_pt_nobody:wrong@tcp(127.0.0.1:3306)/test"})
						if err != nil {
							return err
						}
						defer func() { _ = bad.Close(context.Background()) }()
						return bad.Check(ctx)
					},
					MissingTable: func(t *testing.T) ports.SQLStore[portstest.Item] {
						s, err := mysql.NewStore[portstest.Item](db, mysql.WithTable(testenv.UniqueName("pk_pt_missing")))
						if err != nil {
							t.Fatal(err)
						}
						return s
					},
				},
				DriverError: func(err error) bool {
					var me *mysqldrv.MySQLError
					return errors.As(err, &me)
				},
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.Env(t, "postgres", "DATABASE_URL")
		portstest.TestErrorContract(t, func(t *testing.T) portstest.ErrorSetup {
			db := openPostgres(t)
			return portstest.ErrorSetup{
				SQL: &portstest.SQLErrors{
					Store: migratedPG[portstest.Item](t, db), Tx: db, Connector: db,
					Wide: func(t *testing.T) ports.SQLStore[portstest.Wide] { return migratedPG[portstest.Wide](t, db) },
					// A uint64 over MaxInt64 is ErrInvalid (a bigint is signed).
					UnsignedBigint: false,
					// The server trusts local connections: a role that does
					// not exist is what it refuses (28000).
					BadCredentials: func(ctx context.Context) error {
						u, err := url.Parse(dsn)
						if err != nil {
							return err
						}
						u.User = url.UserPassword("pk_dpg_nobody", "wrong")
						bad, err := postgres.Open(ctx, postgres.Config{URL: u.String()}, postgres.WithLogger(slog.New(slog.DiscardHandler)))
						if err != nil {
							return err
						}
						defer func() { _ = bad.Close(context.Background()) }()
						return bad.Check(ctx)
					},
					MissingTable: func(t *testing.T) ports.SQLStore[portstest.Item] {
						s, err := postgres.NewStore[portstest.Item](db, postgres.WithTable(testenv.UniqueName("pk_dpg_missing")))
						if err != nil {
							t.Fatal(err)
						}
						return s
					},
				},
				DriverError: func(err error) bool {
					var pe *pgconn.PgError
					return errors.As(err, &pe)
				},
			}
		})
	})
	t.Run("mongo", func(t *testing.T) {
		uri := testenv.Env(t, "mongo", "MONGODB_URI")
		portstest.TestErrorContract(t, func(t *testing.T) portstest.ErrorSetup {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: testenv.UniqueName("pk_pt")})
			if err != nil {
				testenv.Missing(t, "mongo", err.Error())
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = st.Database().Drop(ctx)
				_ = st.Close(ctx)
			})
			docs, err := mongo.NewDocStore[portstest.Doc](st, "docs")
			if err != nil {
				t.Fatal(err)
			}
			return portstest.ErrorSetup{
				Doc: &portstest.DocErrors{Store: docs, Connector: st,
					Wide: func(t *testing.T) ports.DocStore[portstest.WideDoc] {
						w, err := mongo.NewDocStore[portstest.WideDoc](st, "wide")
						if err != nil {
							t.Fatal(err)
						}
						return w
					}},
				DriverError: func(err error) bool {
					var se mongodrv.ServerError
					return errors.As(err, &se)
				},
			}
		})
	})
	t.Run("redis", func(t *testing.T) {
		url := testenv.Env(t, "redis", "REDIS_URL")
		portstest.TestErrorContract(t, func(t *testing.T) portstest.ErrorSetup {
			c := openRedis(t, redis.Config{URL: url})
			return portstest.ErrorSetup{
				Cache: &portstest.CacheErrors{Cache: c, Connector: c,
					BadCredentials: func(ctx context.Context) error {
						bad, err := redis.Open(ctx, redis.Config{URL: url}, redis.WithClientOption(func(o *rueidis.ClientOption) {
							o.Username, o.Password = "pk_pt_nobody", "wrong"
						}))
						if err != nil {
							return err
						}
						defer func() { _ = bad.Close(context.Background()) }()
						_, err = bad.Get(ctx, "pk_pt:x")
						return err
					}},
				DriverError: func(err error) bool {
					var re *rueidis.RedisError
					return errors.As(err, &re)
				},
			}
		})
	})
	t.Run("pubsub", func(t *testing.T) {
		portstest.TestErrorContract(t, func(t *testing.T) portstest.ErrorSetup {
			srv, err := pstestserver.Start("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ps, err := pubsub.Open(ctx, pubsub.Config{ProjectID: "pk-pt", EmulatorHost: srv.Addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_ = ps.Close(ctx)
			})
			return portstest.ErrorSetup{
				PubSub: &portstest.PubSubErrors{Publisher: ps, Subscriber: ps, Connector: ps, Provision: provisionOn(ps)},
				DriverError: func(err error) bool {
					for e := err; e != nil; e = errors.Unwrap(e) {
						if _, ok := status.FromError(e); ok {
							return true
						}
					}
					return false
				},
			}
		})
	})
	t.Run("nats", func(t *testing.T) {
		natsURL := testenv.Env(t, "nats", nats.EnvURL)
		authURL := authNATS(t)
		prefix := natsPrefix()
		cfg := nats.Config{URL: natsURL, Prefix: prefix, Storage: nats.StorageMemory}
		cfg.Receive.Poll = 200 * time.Millisecond
		t.Cleanup(func() { sweepNATS(t, cfg) })
		portstest.TestErrorContract(t, func(t *testing.T) portstest.ErrorSetup {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n, err := openNATS(ctx, cfg)
			if err != nil {
				testenv.Missing(t, "nats", err.Error())
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_ = n.Close(ctx)
			})
			var badCredentials func(ctx context.Context) error
			if authURL != "" {
				badCredentials = func(ctx context.Context) error {
					bad, err := openNATS(ctx, nats.Config{URL: authURL, User: "pkdpg", Password: "wrong", Prefix: prefix})
					if err != nil {
						return err
					}
					defer func() { _ = bad.Close(context.Background()) }()
					_, err = bad.Publish(ctx, "pkdpg-t", ports.Message{Data: []byte("x")})
					return err
				}
			}
			return portstest.ErrorSetup{
				PubSub: &portstest.PubSubErrors{Publisher: n, Subscriber: n, Connector: n, Admin: n,
					Provision: portstest.AdminProvision(n), BadCredentials: badCredentials},
				DriverError: natsDriverError,
			}
		})
	})
}

// natsDriverError reports whether err wraps an error of nats.go: a
// JetStream API error, or one of the client's authorization errors.
func natsDriverError(err error) bool {
	var jsErr jetstream.JetStreamError
	var apiErr *jetstream.APIError
	return errors.As(err, &jsErr) || errors.As(err, &apiErr) ||
		errors.Is(err, natsgo.ErrAuthorization) || errors.Is(err, natsgo.ErrPermissionViolation)
}

func openMySQL(t *testing.T, dsn string) *mysql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := mysql.Open(ctx, mysql.Config{DSN: dsn})
	if err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

// migrated returns a store of T on a fresh table, dropped at cleanup on a
// connection of its own (the case may close db).
func migrated[T any](t *testing.T, db *mysql.DB) ports.SQLStore[T] {
	t.Helper()
	table := testenv.UniqueName("pk_pt_ec")
	s, err := mysql.NewStore[T](db, mysql.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dsn := os.Getenv("MYSQL_DSN")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d, err := mysql.Open(ctx, mysql.Config{DSN: dsn})
		if err != nil {
			return
		}
		defer func() { _ = d.Close(context.Background()) }()
		_ = d.DB().WithContext(ctx).Exec(fmt.Sprintf("DROP TABLE IF EXISTS `%s`", table)).Error
	})
	return s
}

func openRedis(t *testing.T, cfg redis.Config) *redis.Cache {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := redis.Open(ctx, cfg)
	if err != nil {
		testenv.Missing(t, "redis", err.Error())
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// provisionOn provisions topics and subscriptions with the adapter's own
// admin calls.
func provisionOn(ps *pubsub.PubSub) portstest.ProvisionFunc {
	return func(ctx context.Context, topic string, subs map[string]ports.SubscriptionConfig) error {
		if err := ps.EnsureTopic(ctx, topic); err != nil {
			return err
		}
		for name, c := range subs {
			err := ps.EnsureSubscription(ctx, name, pubsub.SubscriptionConfig(c))
			if err != nil {
				return err
			}
		}
		return nil
	}
}
