package open_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/open"
	"github.com/portkit/portkit/open/driver"
	"github.com/portkit/portkit/ports"
)

// all is the Mux of every scheme of this module.
func all() *open.Mux {
	return open.New(fakes.Schemes(), mysql.Scheme(), postgres.Scheme(), mongo.Scheme(), redis.Scheme(), pubsub.Scheme(), nats.Scheme())
}

const secret = "s3cret-pw"

func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("error %v, want ErrInvalid", err)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to say %q", err, want)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q shows the password", err)
	}
}

func TestBadURLs(t *testing.T) {
	t.Parallel()
	m := all()
	ctx := t.Context()
	for raw, want := range map[string]string{
		"":                                  "empty URL; want scheme://..., with one of the schemes mariadb://, mem://, mysql://",
		"app:" + secret + "@tcp(db:3306)/x": "not a URL",
		"ftp://app:" + secret + "@host/x":   "unknown scheme ftp://; known schemes: gcppubsub, mariadb, mem, mongodb, mongodb+srv, mysql, nats, postgres, postgresql, redis, rediss (for the sql port: mariadb://, mem://, mysql://, postgres://, postgresql://)",
		"mysql://app:" + secret + "%zz@h/x": "mysql:// URL is malformed",
		"redis://h:6379":                    "scheme redis:// (redis) does not serve the sql port; schemes that do: mariadb://, mem://, mysql://, postgres://, postgresql://",
		"mem://app:" + secret + "@":         "a fake takes no user or password",
		"mem://?dialect=oracle":             `dialect "oracle" is not mysql or postgres`,
		"mem://?key_prefix=x":               `unknown parameter "key_prefix" for the sql port (known: dialect)`,
		"mem:///path":                       "a fake takes no path",
		"mysql://app:" + secret + "@/x":     "MYSQL_URL: no host",
	} {
		_, err := m.OpenSQL(ctx, raw)
		wantInvalid(t, err, want)
	}
	for raw, want := range map[string]string{
		"gcppubsub://p?bogus=1":                           `unknown parameter "bogus"`,
		"gcppubsub://u:" + secret + "@p":                  "credentials do not go in the URL",
		"gcppubsub://p/topics/x":                          "takes no path",
		"gcppubsub://p?publish_batch_count=many":          "PUBSUB_PUBLISH_BATCH_COUNT: invalid value",
		"gcppubsub://p?check_timeout=1s&check_timeout=2s": "parameter check_timeout given twice",
	} {
		_, err := m.OpenPubSub(ctx, raw, open.WithEnviron(map[string]string{}))
		wantInvalid(t, err, want)
	}
	_, err := m.OpenCache(ctx, "redis://:"+secret+"@127.0.0.1:1/0?dial_timeout=soon", open.WithEnviron(map[string]string{}))
	wantInvalid(t, err, "REDIS_DIAL_TIMEOUT")
}

// Schemes are case-insensitive, as URL schemes are.
func TestSchemeCase(t *testing.T) {
	t.Parallel()
	h, err := all().OpenCache(t.Context(), "MEM://")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if h.Scheme != "mem" {
		t.Errorf("Scheme %q", h.Scheme)
	}
}

func TestEntryChecks(t *testing.T) {
	t.Parallel()
	m := all()
	var nilCtx context.Context
	if _, err := m.OpenSQL(nilCtx, "mem://"); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("nil ctx: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.OpenCache(ctx, "mem://"); !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	var nilMux *open.Mux
	if _, err := nilMux.OpenDoc(t.Context(), "mem://"); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("nil Mux: %v", err)
	}
	if _, err := open.New().OpenPubSub(t.Context(), "mem://"); !errors.Is(err, ports.ErrInvalid) ||
		!strings.Contains(err.Error(), "known schemes: none (give open.New the schemes") {
		t.Errorf("empty Mux: %v", err)
	}
}

func TestNewRefusesDuplicatesAndBadNames(t *testing.T) {
	t.Parallel()
	m := open.New(fakes.Schemes(), fakes.Schemes(), open.Scheme{Names: []string{"Bad_Name"}}, open.Scheme{Backend: "anon"})
	_, err := m.OpenCache(t.Context(), "mem://")
	for _, want := range []string{"scheme mem:// is provided twice (by fakes and fakes)", `"Bad_Name" is not a lower-case URL scheme`, "(anon) has no name"} {
		wantInvalid(t, err, want)
	}
}

func TestMemHandles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := all()
	sqlh, err := m.OpenSQL(ctx, "mem://orders-db?dialect=postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer sqlh.Close(context.Background())
	db, ok := sqlh.Stores.(*fakes.DB)
	if !ok || db.Dialect() != fakes.Postgres || sqlh.Dialect != "postgres" || sqlh.Name() != "orders-db" || sqlh.Target != "in-memory" {
		t.Errorf("handle %+v", sqlh)
	}
	// Two opens of mem:// share nothing.
	a, _ := m.OpenCache(ctx, "mem://")
	b, _ := m.OpenCache(ctx, "mem://")
	defer a.Close(context.Background())
	defer b.Close(context.Background())
	if err := a.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("second mem:// cache sees the first's key: %v", err)
	}
	ps, err := m.OpenPubSub(ctx, "mem://?project=p1")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close(context.Background())
	if ps.Publisher == nil || ps.Subscriber == nil || ps.Admin == nil || ps.Name() != "fake-pubsub" {
		t.Errorf("pubsub handle %+v", ps)
	}
	doc, err := m.OpenDoc(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close(context.Background())
	if doc.Name() != "fake-doc" {
		t.Errorf("doc name %q", doc.Name())
	}
}

// The opener receives the environment and logger of the call, and open
// scrubs the URL's secrets from an opener's error, keeping its kind and
// chain.
func TestOpenerRequestAndErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"X_A": "1"}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cause := errors.New("driver said: bad password " + secret)
	var got driver.Request
	m := open.New(open.Scheme{Names: []string{"x"}, Backend: "x", Cache: func(_ context.Context, r driver.Request) (driver.Cache, error) {
		got = r
		return driver.Cache{}, ports.NewError("x", "open", ports.ErrPermission, cause)
	}})
	_, err := m.OpenCache(t.Context(), "x://app:"+secret+"@h", open.WithEnviron(env), open.WithLogger(log))
	if !errors.Is(err, ports.ErrPermission) || !errors.Is(err, cause) {
		t.Errorf("error %v lost its kind or cause", err)
	}
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "open cache x://: x: open: permission denied: driver said: bad password xxxxx") {
		t.Errorf("error %q", err)
	}
	if !maps.Equal(got.Environ, env) || got.Logger != log || got.Scheme != "x" || got.URL.Host != "h" {
		t.Errorf("request %+v", got)
	}
}

// A scheme with its own parser gets the URLs url.Parse refuses, raw.
func TestOwnParser(t *testing.T) {
	t.Parallel()
	var got driver.Request
	opener := func(_ context.Context, r driver.Request) (driver.Cache, error) {
		got = r
		return driver.Cache{}, ports.NewError("x", "open", ports.ErrUnavailable, nil)
	}
	raw := "x://a:1,x://b:%zz"
	_, err := open.New(open.Scheme{Names: []string{"x"}, OwnParser: true, Cache: opener}).OpenCache(t.Context(), raw)
	if !errors.Is(err, ports.ErrUnavailable) || got.URL != nil || got.Raw != raw {
		t.Errorf("own parser: %v, request %+v", err, got)
	}
	_, err = open.New(open.Scheme{Names: []string{"x"}, Cache: opener}).OpenCache(t.Context(), raw)
	wantInvalid(t, err, "x:// URL is malformed")
}

type conn struct{ closed int }

func (c *conn) Name() string                    { return "c" }
func (c *conn) Check(context.Context) error     { return nil }
func (c *conn) Close(ctx context.Context) error { c.closed++; return nil }

// A handle an opener returned without its port is a bug of the opener:
// ErrInvalid, and its Connector is closed rather than leaked.
func TestIncompleteHandleIsClosed(t *testing.T) {
	t.Parallel()
	c := &conn{}
	m := open.New(open.Scheme{Names: []string{"x"}, Backend: "x", Cache: func(context.Context, driver.Request) (driver.Cache, error) {
		return driver.Cache{Connector: c}, nil
	}})
	_, err := m.OpenCache(t.Context(), "x://h")
	wantInvalid(t, err, "the opener of scheme x:// returned an incomplete cache handle")
	if c.closed != 1 {
		t.Errorf("Close called %d times", c.closed)
	}
}

func TestTypedStoresNeedKnownStores(t *testing.T) {
	t.Parallel()
	_, err := open.NewSQLStore[Order](open.SQL{Scheme: "third"}, "orders")
	wantInvalid(t, err, "the third:// handle has no store machinery package open knows")
	_, err = open.NewDocStore[View](open.Doc{Scheme: "third", Stores: 42}, "views")
	wantInvalid(t, err, "the third:// handle's stores (int) are not a kind package open knows")
	if err := open.Migrate(t.Context(), nil); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Migrate(nil): %v", err)
	}
}

// The typed constructors give the fake's stores on mem://, with their
// options.
func TestTypedStoresOnFakes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := all()
	h, err := m.OpenSQL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	s, err := open.NewSQLStore[Order](h, "orders_x")
	if err != nil {
		t.Fatal(err)
	}
	if fs, ok := s.(*fakes.SQLStore[Order]); !ok || fs.Name() != "fake-sql" {
		t.Errorf("store %T", s)
	}
	if _, err := open.NewSQLStore[struct{ Name string }](h, ""); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("bad model: %v", err)
	}
	d, err := m.OpenDoc(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	views, err := open.NewDocStore[View](d, "views", open.WithTimestampKeys("createdAt", "updatedAt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := views.Insert(ctx, &View{OrderID: 1}); err != nil {
		t.Fatal(err)
	}
}
