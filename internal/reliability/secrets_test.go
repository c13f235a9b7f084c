package reliability

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// password is the known secret of the secrets tests; marker is the part a
// leak must not show, whatever the escaping ('!' becomes %21 in URLs).
// They are the corpus's (internal/testutil).
const (
	password = testutil.SecretPassword
	marker   = testutil.SecretMarker
)

// shortTimeout bounds the failing Opens of the secrets tests.
const shortTimeout = 500 * time.Millisecond

// leakCheck counts the texts checked for the password and the leaks,
// reporting each leak through errorf (the test's Errorf).
type leakCheck struct {
	t      testing.TB
	errorf func(format string, args ...any)
	mu     sync.Mutex
	cases  int
	leaks  int
}

func newLeakCheck(t testing.TB) *leakCheck { return &leakCheck{t: t, errorf: t.Errorf} }

// text checks one text.
func (lc *leakCheck) text(what, s string) {
	lc.t.Helper()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.cases++
	if strings.Contains(s, marker) {
		lc.leaks++
		lc.errorf("%s shows the password: %s", what, s)
	}
}

// err checks an error that a failure path must return, in every form a
// caller might print it.
func (lc *leakCheck) err(what string, err error) {
	lc.t.Helper()
	if err == nil {
		lc.errorf("%s: no error; the failure path did not run", what)
		return
	}
	lc.text(what+" (error)", fmt.Sprintf("%v | %+v | %s | %q", err, err, err, err))
}

// config checks every rendering of a Config: fmt verbs, a pointer, a
// struct holding it, and slog's text and JSON handlers.
func (lc *leakCheck) config(what string, cfg any) {
	lc.t.Helper()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		lc.text(what+" "+verb, fmt.Sprintf(verb, cfg))
	}
	ptr := reflect.New(reflect.TypeOf(cfg))
	ptr.Elem().Set(reflect.ValueOf(cfg))
	lc.text(what+" pointer %+v", fmt.Sprintf("%+v", ptr.Interface()))
	lc.text(what+" in a struct %+v", fmt.Sprintf("%+v", struct{ Cfg any }{cfg}))
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", cfg)
	lc.text(what+" slog", b.String())
}

// logs checks a captured log.
func (lc *leakCheck) logs(what string, buf fmt.Stringer) {
	lc.t.Helper()
	out := buf.String()
	if out == "" {
		lc.errorf("%s: no log line captured; the logger was not used", what)
	}
	lc.text(what+" log", out)
}

// TestSecrets runs each adapter's Open, Check and operation failure paths
// with a known password in its Config, capturing its log: the password is
// in no log line and no error, and every Config redacts itself when
// printed or logged.
func TestSecrets(t *testing.T) {
	t.Parallel()
	lc := newLeakCheck(t)
	runConcurrently(t, map[string]func(t *testing.T){
		"redis":  func(t *testing.T) { secretsRedis(t, lc) },
		"mysql":  func(t *testing.T) { secretsMySQL(t, lc) },
		"mongo":  func(t *testing.T) { secretsMongo(t, lc) },
		"pubsub": func(t *testing.T) { secretsPubSub(t, lc) },
		"corpus": func(t *testing.T) { secretsCorpus(t, lc) },
	})
	line := fmt.Sprintf("%d texts checked (errors of failing Opens, Checks and operations, captured logs, Config renderings): **%d leaked secrets**.", lc.cases, lc.leaks)
	t.Log(line)
	writeSection(t, "### Secrets\n\n"+line)
}

// TestLeakCheckCatchesLeaks: the checker of TestSecrets reports a
// password in any of the forms it appears in (raw, URL-escaped, inside a
// Config without redaction, in a log), and a failure path that returned
// no error.
func TestLeakCheckCatchesLeaks(t *testing.T) {
	var reports []string
	lc := newLeakCheck(t)
	lc.errorf = func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) }
	type plainConfig struct{ URL string }
	buf := &logBuffer{}
	slog.New(slog.NewTextHandler(buf, nil)).Info("connecting", "url", "redis://u:"+url.QueryEscape(password)+"@h")
	lc.text("raw", "dial "+password)
	lc.err("escaped", fmt.Errorf("parse %q: bad", "redis://u:"+url.QueryEscape(password)+"@h"))
	lc.config("unredacted config", plainConfig{URL: "mysql://u:" + password + "@h/db"})
	lc.logs("log", buf)
	lc.err("no error", nil)
	lc.text("clean", "dial tcp 127.0.0.1:1: connection refused")
	// raw, escaped, the log, and the config in all 8 renderings (5 verbs,
	// pointer, struct, slog); plus the report of the missing error.
	if lc.leaks != 11 || len(reports) != 12 || lc.cases != 12 {
		t.Errorf("leakCheck counted %d leaks in %d texts and made %d reports, want 11, 12, 12: %q", lc.leaks, lc.cases, len(reports), reports)
	}
	for _, r := range reports {
		if strings.HasPrefix(r, "clean") {
			t.Errorf("leakCheck reported a clean text: %s", r)
		}
	}
}

// redisURL is a redis:// URL to addr with the password.
func redisURL(addr string) string {
	return (&url.URL{Scheme: "redis", User: url.UserPassword("default", password), Host: addr, Path: "/0"}).String()
}

func secretsRedis(t *testing.T, lc *leakCheck) {
	log, buf := captureLogger()
	bg := context.Background()
	lc.config("redis.Config", redis.Config{URL: redisURL("127.0.0.1:6379"), SentinelPassword: password})
	lc.config("redis.Config (malformed URL)", redis.Config{URL: "redis://default:" + password + "/@host:6379/0"})

	_, err := redis.Open(bg, redis.Config{URL: redisURL(faults.ClosedPort(t))}, redis.WithLogger(log))
	lc.err("redis Open, refused", err)
	_, err = redis.Open(bg, redis.Config{URL: redisURL(faults.Blackhole(t)), DialTimeout: shortTimeout}, redis.WithLogger(log))
	lc.err("redis Open, blackhole", err)
	_, err = redis.Open(bg, redis.Config{URL: "redis://default:" + password + "@127.0.0.1:notaport/0"}, redis.WithLogger(log))
	lc.err("redis Open, malformed URL", err)

	other := faults.StartRedis(t, "--requirepass", "another-password")
	_, err = redis.Open(bg, redis.Config{URL: redisURL(other.Addr())}, redis.WithLogger(log))
	lc.err("redis Open, wrong password", err)

	srv := faults.StartRedis(t, "--requirepass", password)
	c, err := redis.Open(bg, redis.Config{URL: redisURL(srv.Addr()), CheckTimeout: shortTimeout}, redis.WithLogger(log))
	if err != nil {
		t.Fatalf("redis Open with the right password: %v", err)
	}
	if err := c.Set(bg, "text", []byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	_, err = c.Incr(bg, "text", 1)
	lc.err("redis Incr on a string", err)
	srv.Kill()
	ctx, cancel := context.WithTimeout(bg, shortTimeout)
	defer cancel()
	_, err = c.Get(ctx, "text")
	lc.err("redis Get, server killed", err)
	lc.err("redis Set, server killed", c.Set(ctx, "k", []byte("v"), 0))
	lc.err("redis Check, server killed", c.Check(bg))
	_ = c.Close(bg)
	lc.err("redis Get after Close", func() error { _, err := c.Get(bg, "k"); return err }())
	lc.logs("redis", buf)
}

func secretsMySQL(t *testing.T, lc *leakCheck) {
	log, buf := captureLogger()
	bg := context.Background()
	lc.config("mysql.Config", mysql.Config{
		DSN:         "app:" + password + "@tcp(db:3306)/app",
		URL:         "mysql://app:" + url.QueryEscape(password) + "@db:3306/app",
		Password:    password,
		ReplicaDSNs: []string{"app:" + password + "@tcp(replica:3306)/app", "mysql://app:" + password + "@replica2/app"},
	})
	lc.config("mysql.Config (malformed DSN)", mysql.Config{DSN: "app:" + password + "@tcp(db:3306"})

	_, err := mysql.Open(bg, mysql.Config{DSN: "root:" + password + "@tcp(" + faults.ClosedPort(t) + ")/test"}, mysql.WithLogger(log))
	lc.err("mysql Open, refused", err)
	_, err = mysql.Open(bg, mysql.Config{DSN: "root:" + password + "@tcp(" + faults.Blackhole(t) + ")/test", ConnectTimeout: shortTimeout}, mysql.WithLogger(log))
	lc.err("mysql Open, blackhole", err)
	_, err = mysql.Open(bg, mysql.Config{DSN: "root:" + password + "@tcp(db:3306"}, mysql.WithLogger(log))
	lc.err("mysql Open, malformed DSN", err)
	_, err = mysql.Open(bg, mysql.Config{URL: "mysql://root:" + password + "@db:3306/test?parseTime=maybe"}, mysql.WithLogger(log))
	lc.err("mysql Open, bad URL parameter", err)

	upstream, dsnFor := mysqlBackend(t)
	host, port, _ := strings.Cut(upstream, ":")
	var portN int
	_, _ = fmt.Sscan(port, &portN)
	_, err = mysql.Open(bg, mysql.Config{Host: host, Port: portN, User: "root", Password: password, Database: "test"}, mysql.WithLogger(log))
	lc.err("mysql Open, wrong password", err)

	// A user whose password is the known one, for the paths after a
	// successful Open. It is created through an adapter whose log is not
	// captured: CREATE USER carries the password by nature.
	user := testenv.UniqueName("pk")
	admin, err := mysql.Open(bg, mysql.Config{DSN: dsnFor(upstream)}, mysql.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	t.Cleanup(func() { _ = admin.Close(bg) })
	// Account statements take no placeholders; user and password hold no
	// quote.
	for _, h := range []string{"%", "localhost"} {
		account := fmt.Sprintf("'%s'@'%s'", user, h)
		if err := admin.DB().Exec("CREATE USER " + account + " IDENTIFIED BY '" + password + "'").Error; err != nil {
			t.Skipf("cannot create a MySQL user for the test: %v", err)
		}
		t.Cleanup(func() { _ = admin.DB().Exec("DROP USER IF EXISTS " + account).Error })
		if err := admin.DB().Exec("GRANT ALL PRIVILEGES ON test.* TO " + account).Error; err != nil {
			t.Skipf("cannot grant the test user: %v", err)
		}
	}

	proxy := faults.NewProxy(t, upstream)
	pHost, pPort, _ := strings.Cut(proxy.Addr(), ":")
	var pPortN int
	_, _ = fmt.Sscan(pPort, &pPortN)
	cfg := mysql.Config{Host: pHost, Port: pPortN, User: user, Password: password, Database: "test", CheckTimeout: shortTimeout, LogParams: true}
	db, err := mysql.Open(bg, cfg, mysql.WithLogger(log))
	if err != nil {
		t.Fatalf("mysql Open with the test user: %v", err)
	}
	lc.config("mysql.Config (parts)", cfg)
	byURL, err := mysql.Open(bg, mysql.Config{URL: "mysql://" + user + ":" + url.QueryEscape(password) + "@" + proxy.Addr() + "/test"}, mysql.WithLogger(log))
	if err != nil {
		t.Fatalf("mysql Open by URL with the test user: %v", err)
	}
	_ = byURL.Close(bg)
	store := newItemTable(t, db, dsnFor(upstream))
	it := &portstest.Item{SKU: "dup"}
	if err := store.Create(bg, it); err != nil {
		t.Fatal(err)
	}
	lc.err("mysql Create, duplicate key", store.Create(bg, &portstest.Item{SKU: "dup"}))
	proxy.Cut()
	ctx, cancel := context.WithTimeout(bg, shortTimeout)
	defer cancel()
	_, err = store.Get(ctx, it.ID)
	lc.err("mysql Get, connection cut", err)
	lc.err("mysql Create, connection cut", store.Create(ctx, &portstest.Item{SKU: "x"}))
	lc.err("mysql Check, connection cut", db.Check(bg))
	proxy.Restore()
	_ = db.Close(bg)
	lc.err("mysql Get after Close", func() error { _, err := store.Get(bg, it.ID); return err }())
	lc.logs("mysql", buf)
}

func secretsMongo(t *testing.T, lc *leakCheck) {
	log, buf := captureLogger()
	bg := context.Background()
	uri := func(addr string) string {
		return "mongodb://app:" + url.QueryEscape(password) + "@" + addr + "/app?authSource=admin&directConnection=true"
	}
	lc.config("mongo.Config", mongo.Config{URI: uri("db:27017") + "&tlsCertificateKeyFilePassword=" + password})
	lc.config("mongo.Config (raw password)", mongo.Config{URI: "mongodb://app:" + password + "@db:27017/app"})

	quick := func(u string) mongo.Config {
		return mongo.Config{URI: u, ConnectTimeout: shortTimeout, ServerSelectionTimeout: shortTimeout, CheckTimeout: shortTimeout}
	}
	_, err := mongo.Open(bg, quick(uri(faults.ClosedPort(t))), mongo.WithLogger(log))
	lc.err("mongo Open, refused", err)
	_, err = mongo.Open(bg, quick(uri(faults.Blackhole(t))), mongo.WithLogger(log))
	lc.err("mongo Open, blackhole", err)
	_, err = mongo.Open(bg, quick("mongodb://app:"+password+"@db:27017/app?authMechanism=NOPE"), mongo.WithLogger(log))
	lc.err("mongo Open, bad option", err)

	upstream, _ := mongoBackend(t)
	proxy := faults.NewProxy(t, upstream)
	s, err := mongo.Open(bg, quick(uri(proxy.Addr())), mongo.WithLogger(log))
	if err != nil {
		// The server checks credentials: this is the wrong-password path.
		lc.err("mongo Open, unknown user", err)
		lc.logs("mongo", buf)
		return
	}
	// The server does not check credentials (FerretDB without auth): go on
	// to the operation failure paths.
	docs, err := mongo.NewDocStore[portstest.Doc](s, testenv.UniqueName("secrets"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = docs.Get(bg, "not-an-id")
	lc.err("mongo Get, malformed ID", err)
	proxy.Cut()
	ctx, cancel := context.WithTimeout(bg, shortTimeout)
	defer cancel()
	lc.err("mongo Insert, connection cut", docs.Insert(ctx, &portstest.Doc{Title: "x"}))
	lc.err("mongo Check, connection cut", s.Check(bg))
	proxy.Restore()
	_ = s.Close(bg)
	lc.err("mongo Count after Close", func() error { _, err := docs.Count(bg, ports.All()); return err }())
	lc.logs("mongo", buf)
}

// tokenCreds sends the password as a bearer token with every call, over
// a connection without TLS (an emulator's).
type tokenCreds struct{}

func (tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + password}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return false }

// secretsPubSub: the Pub/Sub Config holds no secret (credentials come from
// Application Default Credentials or client options), so the check is on
// a token passed through a client option.
func secretsPubSub(t *testing.T, lc *leakCheck) {
	log, buf := captureLogger()
	bg := context.Background()
	key := option.WithGRPCDialOption(grpc.WithPerRPCCredentials(tokenCreds{}))
	lc.config("pubsub.Config", pubsub.Config{ProjectID: "p", EmulatorHost: "127.0.0.1:8085"})

	_, err := pubsub.Open(bg, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: faults.Blackhole(t), CheckTimeout: shortTimeout},
		pubsub.WithLogger(log), pubsub.WithClientOptions(key))
	lc.err("pubsub Open, blackhole", err)
	_, err = pubsub.Open(bg, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: faults.ClosedPort(t), CheckTimeout: shortTimeout},
		pubsub.WithLogger(log), pubsub.WithClientOptions(key))
	lc.err("pubsub Open, refused", err)

	cfg := pubsub.Config{ProjectID: pubsubProject, EmulatorHost: faults.Blackhole(t), CheckTimeout: shortTimeout}
	cfg.Publish.Timeout = shortTimeout
	ps, err := pubsub.Open(bg, cfg, pubsub.WithLazyConnect(), pubsub.WithLogger(log), pubsub.WithClientOptions(key))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ps.Publish(bg, "topic", ports.Message{Data: []byte("x")})
	lc.err("pubsub Publish, blackhole", err)
	lc.err("pubsub Subscribe, blackhole", ps.Subscribe(bg, "sub", func(context.Context, ports.Message) error { return nil }))
	lc.err("pubsub Check, blackhole", ps.Check(bg))
	if err := ps.Close(bg); err != nil {
		t.Errorf("pubsub Close with nothing pending: %v", err)
	}

	// Close's failure path: a message that cannot be confirmed before
	// Close's deadline, because the server never answers and the publish
	// timeout (the default 15s) outlasts the deadline.
	pending, err := pubsub.Open(bg, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: faults.Blackhole(t)},
		pubsub.WithLazyConnect(), pubsub.WithLogger(log), pubsub.WithClientOptions(key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pending.PublishAsync(bg, "topic", ports.Message{Data: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, shortTimeout)
	defer cancel()
	err = pending.Close(ctx)
	lc.err("pubsub Close, message pending", err)
	if err != nil && !strings.Contains(err.Error(), "1 messages not confirmed") {
		t.Errorf("pubsub Close, message pending = %v; want it to say the message was not confirmed", err)
	}
	lc.logs("pubsub", buf)
}

// secretsCorpus checks every form of the corpus (internal/testutil: every
// URL and DSN parameter that can carry a credential, for every adapter
// and for those to come, PostgreSQL and NATS): the redactor hides it in
// the bare string and quoted in a text; each adapter's ConfigFromEnviron
// error, or its Config in every rendering and its RedactedURL/RedactURI;
// and Open against a closed port, its error and its connect log lines.
// (portkit check -v runs the same corpus in cmd/portkit.)
func secretsCorpus(t *testing.T, lc *leakCheck) {
	addr := faults.ClosedPort(t)
	forms := testutil.SecretForms(addr)
	if len(forms) < 40 {
		t.Fatalf("corpus of %d forms; it has shrunk", len(forms))
	}
	var wg sync.WaitGroup
	for _, f := range forms {
		what := f.Backend + " " + f.Name
		if f.Conn != "" {
			lc.text(what+": redact.Conn", redact.Conn(f.Conn))
			lc.text(what+": lifecycle.Redact", lifecycle.Redact(f.Conn))
			lc.text(what+": quoted in a text", lifecycle.Redact("dial "+f.Conn+": connection refused"))
			lc.text(what+": quoted with %q", lifecycle.Redact(fmt.Sprintf("open %q: refused", f.Conn)))
			lc.text(what+": Secrets scrub", redact.Scrub("driver said: "+f.Conn, redact.Secrets(f.Conn)...))
		}
		wg.Go(func() { corpusOpen(t, lc, what, f) })
	}
	wg.Wait()
}

// corpusOpen reads f's configuration with its adapter and opens it (at a
// closed port), checking every text on the way.
func corpusOpen(t *testing.T, lc *leakCheck, what string, f testutil.SecretForm) {
	bg := context.Background()
	log, buf := testutil.CaptureLogger()
	var (
		cfgErr  error
		openErr error
	)
	switch f.Backend {
	case "mysql":
		var cfg mysql.Config
		if cfg, cfgErr = mysql.ConfigFromEnviron(f.Env); cfgErr == nil {
			lc.config(what+": mysql.Config", cfg)
			cfg.ConnectTimeout = shortTimeout
			_, openErr = mysql.Open(bg, cfg, mysql.WithLogger(log))
		}
	case "redis":
		var cfg redis.Config
		if cfg, cfgErr = redis.ConfigFromEnviron(f.Env); cfgErr == nil {
			lc.config(what+": redis.Config", cfg)
			lc.text(what+": RedactedURL", cfg.RedactedURL())
			cfg.DialTimeout = shortTimeout
			_, openErr = redis.Open(bg, cfg, redis.WithLogger(log))
		}
	case "mongo":
		var cfg mongo.Config
		if cfg, cfgErr = mongo.ConfigFromEnviron(f.Env); cfgErr == nil {
			lc.config(what+": mongo.Config", cfg)
			lc.text(what+": RedactURI", mongo.RedactURI(cfg.URI))
			_, openErr = mongo.Open(bg, cfg, mongo.WithLogger(log))
		}
	default:
		return // no adapter yet: the redactor's checks above are all
	}
	if cfgErr != nil {
		lc.err(what+": ConfigFromEnviron", cfgErr)
		return
	}
	lc.err(what+": Open at a closed port", openErr)
	lc.logs(what+": Open", buf)
}
