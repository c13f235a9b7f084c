package open_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/open"
	"github.com/portkit/portkit/ports"
)

// mysqlURL turns the MYSQL_DSN the tests are given into a mysql:// URL.
func mysqlURL(t *testing.T) string {
	t.Helper()
	dsn := testenv.Env(t, "mysql", "MYSQL_DSN")
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("MYSQL_DSN does not parse")
	}
	u := url.URL{Scheme: "mysql", Host: c.Addr, Path: "/" + c.DBName}
	if c.Passwd != "" {
		u.User = url.UserPassword(c.User, c.Passwd)
	} else {
		u.User = url.User(c.User)
	}
	return u.String()
}

type Item struct {
	ID    int64
	Name  string `gorm:"size:64;uniqueIndex"`
	Price int64
}

// mysql:// opens the adapter with the URL's settings, and the typed store
// is the adapter's: Migrate creates its table, WithinTx commits and rolls
// back.
func TestMySQLURL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	h, err := all().OpenSQL(ctx, mysqlURL(t)+"?max_open_conns=4&connect_timeout=3s", open.WithEnviron(map[string]string{
		"MYSQL_DSN": "ignored:" + secret + "@tcp(127.0.0.1:1)/x", // the URL replaces it
	}))
	if err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	defer h.Close(context.Background())
	db := h.Connector.(*mysql.DB)
	sqlDB, err := db.DB().DB()
	if err != nil {
		t.Fatal(err)
	}
	if n := sqlDB.Stats().MaxOpenConnections; n != 4 {
		t.Errorf("MaxOpenConnections %d, want the URL's 4", n)
	}
	if h.Dialect != "mysql" || h.Scheme != "mysql" || strings.Contains(h.Target, secret) || !strings.HasPrefix(h.Target, "mysql://") {
		t.Errorf("handle: dialect %q scheme %q target %q", h.Dialect, h.Scheme, h.Target)
	}
	table := testenv.UniqueName("pk_op_open_items")
	items, err := open.NewSQLStore[Item](h, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.DB().Migrator().DropTable(table) })
	if err := open.Migrate(ctx, items); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = h.WithinTx(ctx, func(ctx context.Context) error {
		if err := items.Create(ctx, &Item{Name: "rolled back"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	it := Item{Name: "kept", Price: 3}
	if err := h.WithinTx(ctx, func(ctx context.Context) error { return items.Create(ctx, &it) }); err != nil {
		t.Fatal(err)
	}
	if n, err := items.Count(ctx, ports.Query{}); err != nil || n != 1 {
		t.Errorf("count %d, %v; want 1", n, err)
	}
	if err := items.Create(ctx, &Item{Name: "kept"}); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("duplicate: %v", err)
	}
	if err := h.Check(ctx); err != nil {
		t.Error(err)
	}
}

type View2 struct {
	ports.Document `bson:",inline"`
	OrderID        int64
}

// mongodb:// opens the adapter; ?database= sets MONGODB_DATABASE; the
// typed store is the adapter's, with EnsureIndexes through Migrate.
func TestMongoURL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	uri := testenv.Env(t, "mongo", "MONGODB_URI")
	dbName := os.Getenv("MONGODB_DATABASE")
	if dbName == "" {
		dbName = "pk_op"
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	h, err := all().OpenDoc(ctx, uri+sep+"database="+dbName+"&connect_timeout=5s", open.WithEnviron(map[string]string{}))
	if err != nil {
		testenv.Missing(t, "mongo", err.Error())
	}
	defer h.Close(context.Background())
	store := h.Connector.(*mongo.Store)
	if store.Database().Name() != dbName {
		t.Errorf("database %q, want %q", store.Database().Name(), dbName)
	}
	coll := testenv.UniqueName("pk_op_open_views")
	t.Cleanup(func() { _ = store.Database().Collection(coll).Drop(context.Background()) })
	views, err := open.NewDocStore[View2](h, coll, open.WithIndexes(open.Index{Fields: []string{"OrderID"}, Unique: true}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := views.(interface{ EnsureIndexes(context.Context) error }); !ok {
		t.Errorf("store %T has no EnsureIndexes", views)
	}
	if err := open.Migrate(ctx, views); err != nil {
		t.Fatal(err)
	}
	if err := views.Insert(ctx, &View2{OrderID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := views.Insert(ctx, &View2{OrderID: 7}); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("duplicate under the unique index: %v", err)
	}
}

// redis:// opens the adapter; ?key_prefix= sets REDIS_KEY_PREFIX.
func TestRedisURL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base := testenv.Env(t, "redis", "REDIS_URL")
	prefix := testenv.UniqueName("pk_op:open:") + ":"
	m := all()
	h, err := m.OpenCache(ctx, base+"?key_prefix="+url.QueryEscape(prefix)+"&dial_timeout=2s", open.WithEnviron(map[string]string{}))
	if err != nil {
		testenv.Missing(t, "redis", err.Error())
	}
	defer h.Close(context.Background())
	plain, err := m.OpenCache(ctx, base, open.WithEnviron(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(context.Background())
	t.Cleanup(func() { _ = plain.Delete(context.Background(), prefix+"k") })
	if err := h.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := plain.Get(ctx, prefix+"k"); err != nil || string(v) != "v" {
		t.Errorf("the prefixed key: %q, %v", v, err)
	}
	if h.Scheme != "redis" || h.Name() != "redis" {
		t.Errorf("handle %q %q", h.Scheme, h.Name())
	}
}

// gcppubsub:// opens the adapter on pstest (in-process, always) and on
// Google's emulator (PUBSUB_EMULATOR_HOST, from the environment as the
// variable selects it): Admin, Publish and Subscribe work through the
// handle.
func TestPubSubURL(t *testing.T) {
	t.Parallel()
	srv, err := pstestserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Run("pstest", func(t *testing.T) {
		t.Parallel()
		roundTrip(t, "gcppubsub://portkit-test?emulator_host="+srv.Addr+"&receive_streams=8", map[string]string{})
	})
	t.Run("emulator", func(t *testing.T) {
		t.Parallel()
		host := testenv.Env(t, "pubsub-emulator", "PUBSUB_EMULATOR_HOST")
		roundTrip(t, "gcppubsub://portkit-test", map[string]string{"PUBSUB_EMULATOR_HOST": host})
	})
}

func roundTrip(t *testing.T, raw string, env map[string]string) {
	ctx := t.Context()
	h, err := all().OpenPubSub(ctx, raw, open.WithEnviron(env))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if !strings.HasPrefix(h.Target, "projects/portkit-test on emulator ") {
		t.Errorf("target %q", h.Target)
	}
	topic, sub := testenv.UniqueName("pk_op-open-t"), testenv.UniqueName("pk_op-open-s")
	if err := h.EnsureTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureSubscription(ctx, sub, ports.SubscriptionConfig{Topic: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(ctx, topic, ports.Message{Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var once sync.Once
	var got string
	err = h.Subscribe(sctx, sub, func(_ context.Context, m ports.Message) error {
		once.Do(func() { got = string(m.Data); cancel() })
		return nil
	})
	if err != nil || got != "hello" {
		t.Errorf("Subscribe: %v, got %q", err, got)
	}
}

// No form of the secrets corpus shows its password through open: not in
// the error of a URL that is malformed, refused or unreachable, not in a
// log line. The forms of schemes the Mux lacks (postgres, nats) fail as
// unknown schemes, without the password too.
func TestSecretFormsNeverShow(t *testing.T) {
	t.Parallel()
	m := all()
	n := 0
	for _, f := range testutil.SecretForms(faults.ClosedPort(t)) {
		if f.Conn == "" || !strings.Contains(f.Conn, "://") {
			continue // a DSN or a variable of its own: not a URL
		}
		env := map[string]string{"MYSQL_CONNECT_TIMEOUT": "1s", "REDIS_DIAL_TIMEOUT": "1s"}
		for k, v := range f.Env {
			if v != f.Conn {
				env[k] = v
			}
		}
		n++
		t.Run(f.Backend+" "+f.Name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			opts := []open.Option{open.WithEnviron(env), open.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var err error
			var target string
			switch f.Backend {
			case "mysql", "postgres":
				var h open.SQL
				h, err = m.OpenSQL(ctx, f.Conn, opts...)
				target = h.Target
			case "mongo":
				var h open.Doc
				h, err = m.OpenDoc(ctx, f.Conn, opts...)
				target = h.Target
			case "redis":
				var h open.Cache
				h, err = m.OpenCache(ctx, f.Conn, opts...)
				target = h.Target
			case "nats":
				var h open.PubSub
				h, err = m.OpenPubSub(ctx, f.Conn, opts...)
				target = h.Target
			}
			if err == nil {
				t.Fatalf("opened %s against a closed port", f.Backend)
			}
			if ports.KindOf(err) == nil {
				t.Errorf("error matches no sentinel: %v", err)
			}
			if out := err.Error() + logs.String() + target; strings.Contains(out, testutil.SecretMarker) {
				t.Errorf("the password shows:\n%s", out)
			}
		})
	}
	if n < 25 {
		t.Fatalf("only %d URL forms in the corpus", n)
	}
}

// postgres:// opens the adapter; max_open_conns sets POSTGRES_MAX_OPEN_CONNS,
// the URL replaces DATABASE_URL; the typed store is the adapter's, in a
// transaction of the handle.
func TestPostgresURL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base := testenv.Env(t, "postgres", "DATABASE_URL")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	h, err := all().OpenSQL(ctx, base+sep+"max_open_conns=3", open.WithEnviron(map[string]string{
		"DATABASE_URL": "postgres://ignored:" + secret + "@127.0.0.1:1/x", // the URL replaces it
	}))
	if err != nil {
		testenv.Missing(t, "postgres", err.Error())
	}
	defer h.Close(context.Background())
	db := h.Connector.(*postgres.DB)
	sqlDB, err := db.DB().DB()
	if err != nil {
		t.Fatal(err)
	}
	if n := sqlDB.Stats().MaxOpenConnections; n != 3 {
		t.Errorf("MaxOpenConnections %d, want the URL's 3", n)
	}
	if h.Dialect != "postgres" || h.Scheme != "postgres" || strings.Contains(h.Target, secret) {
		t.Errorf("handle: dialect %q scheme %q target %q", h.Dialect, h.Scheme, h.Target)
	}
	table := testenv.UniqueName("pk_op_open_items")
	items, err := open.NewSQLStore[Item](h, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.DB().Migrator().DropTable(table) })
	if err := open.Migrate(ctx, items); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = h.WithinTx(ctx, func(ctx context.Context) error {
		if err := items.Create(ctx, &Item{Name: "rolled back"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := items.Create(ctx, &Item{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	if n, err := items.Count(ctx, ports.Query{}); err != nil || n != 1 {
		t.Errorf("count %d, %v; want 1", n, err)
	}
	if err := items.Create(ctx, &Item{Name: "kept"}); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("duplicate: %v", err)
	}
}
