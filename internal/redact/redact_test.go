package redact_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/redact"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// secrets are the parts no redacted output of the tables may show.
var secrets = []string{"hunter2", "hun@ter", "ter 2", "p@ss", "h%75nter", "tok3n", "s1gn"}

func checkHidden(t *testing.T, fn, in, got string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("%s(%q) = %q keeps %q", fn, in, got, s)
		}
	}
}

func TestConn(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		// URL user info, every scheme, the rest kept as written.
		{"redis://:hunter2@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"REDIS://app:hunter2@cache:6379/0", "REDIS://app:xxxxx@cache:6379/0"},
		{"rediss://app:hun@ter2@cache:6380", "rediss://app:xxxxx@cache:6380"},
		{"mongodb://app:hunter2@m1:27017,m2:27017/orders?authSource=admin", "mongodb://app:xxxxx@m1:27017,m2:27017/orders?authSource=admin"},
		{"mongodb+srv://app:hunter2@cluster.example.net/orders", "mongodb+srv://app:xxxxx@cluster.example.net/orders"},
		{"mysql://root:hunter2@db:3306/test?parseTime=true", "mysql://root:xxxxx@db:3306/test?parseTime=true"},
		{"postgres://app:hunter2@db:5432/orders?sslmode=disable", "postgres://app:xxxxx@db:5432/orders?sslmode=disable"},
		{"unix://:hunter2@/run/redis.sock?db=2", "unix://:xxxxx@/run/redis.sock?db=2"},
		{"redis://app:@cache", "redis://app:xxxxx@cache"},
		{"redis://app@cache", "redis://app@cache"},
		// NATS: user and password, or a token alone.
		{"nats://app:hunter2@nats:4222", "nats://app:xxxxx@nats:4222"},
		{"nats://tok3n@nats:4222", "nats://xxxxx@nats:4222"},
		{"tls://tok3n@nats:4222", "tls://xxxxx@nats:4222"},
		{"nats://nats:4222?token=tok3n", "nats://nats:4222?token=xxxxx"},
		{"nats://nats:4222?user=app&password=hunter2", "nats://nats:4222?user=app&password=xxxxx"},
		// Secret query parameters, any case, percent-encoded names.
		{"redis://cache:6379/0?password=hunter2", "redis://cache:6379/0?password=xxxxx"},
		{"redis://cache:6379/?db=5&PassWord=hunter2&protocol=2", "redis://cache:6379/?db=5&PassWord=xxxxx&protocol=2"},
		{"redis://cache/0?pass%77ord=hunter2", "redis://cache/0?pass%77ord=xxxxx"},
		{"postgres://app@db/orders?password=h%75nter2&sslpassword=hunter2", "postgres://app@db/orders?password=xxxxx&sslpassword=xxxxx"},
		{"mongodb://db/app?tlsCertificateKeyFilePassword=hunter2;authSource=admin", "mongodb://db/app?tlsCertificateKeyFilePassword=xxxxx;authSource=admin"},
		{"mongodb://db/app?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok3n", "mongodb://db/app?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx"},
		{"mongodb://db/app?=?tlsCertificateKeyFilePassword=hunter2", "mongodb://db/app?=xxxxx"},
		{"https://api.example.com/v1?sig=s1gn&api_key=hunter2&x=1&access_token=tok3n", "https://api.example.com/v1?sig=xxxxx&api_key=xxxxx&x=1&access_token=xxxxx"},
		// A URL whose password may lie beyond its authority: whole.
		{"redis://app:hun/ter2@cache:6379", "xxxxx"},
		{"redis://app:hun?ter2@cache:6379", "xxxxx"},
		{"mysql://app:hun#ter2@db/test", "xxxxx"},
		{"mongodb://app:pw@db/app?x=hun@ter2", "xxxxx"},
		// A fragment, of no use in a connection string, is hidden.
		{"mysql://app@db/shop#hunter2", "mysql://app@db/shop#xxxxx"},
		{"redis://h/0?password=tok3n#hunter2", "redis://h/0?password=xxxxx"},
		// go-sql-driver DSNs.
		{"app:hunter2@tcp(db:3306)/orders?parseTime=true", "app:xxxxx@tcp(db:3306)/orders?parseTime=true"},
		{"app:hun@ter 2/x@tcp(db:3306)/orders", "app:xxxxx@tcp(db:3306)/orders"},
		{"app:hunter2@unix(/run/mysqld.sock)/orders", "app:xxxxx@unix(/run/mysqld.sock)/orders"},
		{"app:hunter2@/orders", "app:xxxxx@/orders"},
		{"app@tcp(db:3306)/orders", "app@tcp(db:3306)/orders"},
		{"tcp(db:3306)/orders", "tcp(db:3306)/orders"},
		{"app:x@tcp(db:3306)/orders?password=hunter2", "app:xxxxx@tcp(db:3306)/orders?password=xxxxx"},
		{"app:hunter2@tcp(db:3306", "xxxxx"},
		{"app:hun/ter2@tcp(db:3306)", "xxxxx"},
		{"app:hunter2/orders", "xxxxx"},
		// Networks the driver does not know, or a tcp port of letters:
		// part of a password may be where they are read.
		{"app(:hunter2)/orders", "xxxxx"},
		{"tcp(:hunter2)/orders", "xxxxx"},
		{"app:pw@tcp(db:hunter2)/orders", "xxxxx"},
		{"app:hunter2@tcp([::1]:3306)/orders", "app:xxxxx@tcp([::1]:3306)/orders"},
		{"app:hunter2@tcp(db)/orders", "app:xxxxx@tcp(db)/orders"},
		// libpq key=value lists.
		{"host=db user=app password=hunter2 dbname=orders", "host=db user=app password=xxxxx dbname=orders"},
		{"host=db password='hun ter2' sslpassword = 'p@ss\\' x' dbname=orders", "host=db password=xxxxx sslpassword = xxxxx dbname=orders"},
		{"Server=db;User=app;Password=hunter2 x;Database=orders", "Server=db;User=app;Password=xxxxx;Database=orders"},
		{"host=db password='hunter2", "xxxxx"},
		{"a=b://u:hunter2@h", "a=b://u:xxxxx@h"},
		// Nothing secret, nothing to split.
		{"cache", "cache"},
		{"/run/redis.sock", "/run/redis.sock"},
		{"db:3306", "xxxxx"},
	}
	for _, tt := range tests {
		got := redact.Conn(tt.in)
		if got != tt.want {
			t.Errorf("Conn(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		checkHidden(t, "Conn", tt.in, got)
	}
}

func TestConnList(t *testing.T) {
	t.Parallel()
	got := redact.ConnList([]string{"app:hunter2@tcp(r1:3306)/app", "mysql://app:hunter2@r2/app"})
	if strings.Join(got, " ") != "app:xxxxx@tcp(r1:3306)/app mysql://app:xxxxx@r2/app" {
		t.Errorf("ConnList = %q", got)
	}
	// "app:hun,ter2@tcp(r1)/app" split at the comma.
	got = redact.ConnList([]string{"app:hun", "ter2@tcp(r1:3306)/app"})
	if strings.Join(got, " ") != "xxxxx xxxxx" {
		t.Errorf("ConnList of a list split inside a password = %q, want all replaced", got)
	}
	if got := redact.ConnList(nil); len(got) != 0 {
		t.Errorf("ConnList(nil) = %q", got)
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		// Whole URLs and DSNs.
		{"redis://:hunter2@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"mongodb://app:hunter2@m1:27017,m2:27017/orders?authSource=admin", "mongodb://app:xxxxx@m1:27017,m2:27017/orders?authSource=admin"},
		{"redis://:p@ss w/rd@cache:6379", "redis://:xxxxx@cache:6379"},
		{"app:hunter2@tcp(db:3306)/orders?parseTime=true", "app:xxxxx@tcp(db:3306)/orders?parseTime=true"},
		{"app:hun@ter 2/x@tcp(db:3306)/orders", "app:xxxxx@tcp(db:3306)/orders"},
		{"nats://tok3n@nats:4222", "nats://xxxxx@nats:4222"},
		// Quoted in error texts.
		{"dial redis://:hunter2@cache:6379/0: connection refused", "dial redis://:xxxxx@cache:6379/0: connection refused"},
		{`open "app:hunter2@tcp(db:3306)/orders": refused`, `open "app:xxxxx@tcp(db:3306)/orders": refused`},
		{"connect mongodb://u:hun@ter2@h:27017/db failed", "connect mongodb://u:xxxxx@h:27017/db failed"},
		{"nats: dial nats://tok3n@127.0.0.1:4222: refused", "nats: dial nats://xxxxx@127.0.0.1:4222: refused"},
		{`parse "redis://h/0?password=hunter2": bad`, `parse "redis://h/0?password=xxxxx": bad`},
		// Secret parameters.
		{"https://api.example.com/v1?access_token=hunter2&x=1", "https://api.example.com/v1?access_token=xxxxx&x=1"},
		{"Server=db;User=app;Password=hunter2;Database=x", "Server=db;User=app;Password=xxxxx;Database=x"},
		{"host=db user=app password=hunter2 dbname=x", "host=db user=app password=xxxxx dbname=x"},
		{"host=db password='hun ter2' dbname=x", "host=db password=xxxxx dbname=x"},
		{"mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:hunter2", "mongodb://h/?authMechanismProperties=xxxxx"},
		{"props AWS_SESSION_TOKEN:hunter2,SERVICE_NAME:x", "props AWS_SESSION_TOKEN:xxxxx,SERVICE_NAME:x"},
		{"x=?password=hunter2", "x=?password=xxxxx"},
		{"redis://h/0?pass%77ord=hunter2", "redis://h/0?pass%77ord=xxxxx"},
		// The fuzzer's finding: Redact(Redact(s)) != Redact(s).
		{"A://#0@0/00", "A://#0@0/00"},
		// Nothing secret: unchanged.
		{"", ""},
		{"redis://cache:6379/0", "redis://cache:6379/0"},
		{"app@tcp(db:3306)/orders", "app@tcp(db:3306)/orders"},
		{"redis: check: unavailable: dial tcp 127.0.0.1:6379: connect: connection refused", "redis: check: unavailable: dial tcp 127.0.0.1:6379: connect: connection refused"},
		{"emulator 127.0.0.1:8085 project demo", "emulator 127.0.0.1:8085 project demo"},
		{"user@example.com: mailbox full", "user@example.com: mailbox full"},
		{"REDIS_URL: malformed (want redis://[user:password@]host:port)", "REDIS_URL: malformed (want redis://[user:password@]host:port)"},
	}
	for _, tt := range tests {
		got := redact.Text(tt.in)
		if got != tt.want {
			t.Errorf("Text(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if again := redact.Text(got); again != got {
			t.Errorf("Text is not idempotent on %q: %q", got, again)
		}
		checkHidden(t, "Text", tt.in, got)
	}
}

func TestSecretParam(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"password", "PASSWORD", "pass", "passwd", "pwd", "secret", "client_secret", "token", "access_token",
		"refresh_token", "auth_token", "sig", "signature", "api_key", "apikey", "sslpassword",
		"tlsCertificateKeyFilePassword", "sslClientCertificateKeyPassword", "authMechanismProperties",
		"pass%77ord", "%70assword", "?sslpassword", "X-Amz-Security-Token", "private_key", "credentials",
	} {
		if !redact.SecretParam(name) {
			t.Errorf("SecretParam(%q) = false", name)
		}
	}
	for _, name := range []string{"", "db", "user", "username", "authSource", "sslmode", "parseTime", "addr", "master_set", "passive", "%zz"} {
		if redact.SecretParam(name) {
			t.Errorf("SecretParam(%q) = true", name)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		conn string
		want []string
	}{
		{"redis://app:hun%40ter2@cache:6379/0?password=tok3n", []string{"hun%40ter2", "hun@ter2", "tok3n"}},
		{"app:hunter2@tcp(db:3306)/orders", []string{"hunter2"}},
		{"host=db password='hun ter2'", []string{"'hun ter2'", "hun ter2"}},
		{"redis://app:hun/ter2@cache:6379", []string{"hun/ter2"}}, // malformed: found leniently
		{"redis://cache:6379/0", nil},
	}
	for _, tt := range tests {
		got := redact.Secrets(tt.conn)
		for _, w := range tt.want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("Secrets(%q) = %q, lacks %q", tt.conn, got, w)
			}
		}
		if len(tt.want) == 0 && len(got) != 0 {
			t.Errorf("Secrets(%q) = %q, want none", tt.conn, got)
		}
		for i := 1; i < len(got); i++ {
			if len(got[i]) > len(got[i-1]) {
				t.Errorf("Secrets(%q) = %q, not longest first", tt.conn, got)
			}
		}
	}
}

func TestScrubAndError(t *testing.T) {
	t.Parallel()
	if got := redact.Scrub("auth hunter2 failed (hunter22)", "hunter2", "hunter22", ""); got != "auth xxxxx failed (xxxxx)" {
		t.Errorf("Scrub = %q", got)
	}
	cause := &fs.PathError{Op: "dial", Path: "redis://:hunter2@h", Err: fs.ErrNotExist}
	err := redact.Error(cause, redact.Secrets("redis://:hunter2@h")...)
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Error = %q, shows the secret", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Error(%v) does not unwrap to the original", err)
	}
	plain := errors.New("refused")
	if redact.Error(plain, "hunter2") != plain {
		t.Error("Error wrapped an error that holds no secret")
	}
	if redact.Error(nil, "x") != nil {
		t.Error("Error(nil) != nil")
	}
}

// FuzzText: Text is idempotent, and hides a password placed in a URL, a
// DSN or a key=value list, whatever surrounds it.
func FuzzText(f *testing.F) {
	f.Add("redis://:pw@h:6379")
	f.Add("u:p@tcp(h:3306)/d")
	f.Add("x password=y z")
	f.Add("A://#0@0/00")
	f.Add("A000://: @00000")
	f.Fuzz(func(t *testing.T, s string) {
		once := redact.Text(s)
		if twice := redact.Text(once); twice != once {
			t.Errorf("Text(Text(%q)) = %q, want %q", s, twice, once)
		}
	})
}

// marker starts the password of the fuzz targets below; an output that
// shows it is a leak.
const marker = "s3cr3t-P4ss"

func skipMarker(t *testing.T, parts ...string) {
	for _, p := range parts {
		if strings.Contains(p, "3cr3t") || strings.Contains(p, "P4ss") {
			t.Skip("the marker must come from the password only")
		}
	}
}

// FuzzConn: whatever the scheme, user, host and rest, the password of a
// URL, a DSN or a key=value list is hidden by Conn and by Text.
func FuzzConn(f *testing.F) {
	f.Add("redis", "app", "!word", "localhost:6379", "/0")
	f.Add("mysql", "a/b", "x", "h:port", "/zero?x=1")
	f.Add("http", "u@x", "", "h", "#frag@")
	f.Add("mongodb", "u", "?word", "db:27017", "/app")
	f.Add("a=b", "u", "", "h", "")
	f.Fuzz(func(t *testing.T, scheme, user, pwTail, host, rest string) {
		skipMarker(t, scheme, user, pwTail, host, rest)
		pw := marker + pwTail
		for _, s := range []string{
			scheme + "://" + user + ":" + pw + "@" + host + rest,
			scheme + "://" + user + ":" + url.QueryEscape(pw) + "@" + host + rest,
			scheme + "://" + host + rest + "?password=" + url.QueryEscape(pw),
			user + ":" + pw + "@tcp(" + host + ")/" + rest,
			"host=" + host + " password='" + strings.ReplaceAll(strings.ReplaceAll(pw, `\`, `\\`), "'", `\'`) + "' dbname=" + rest,
		} {
			conn := redact.Conn(s)
			if strings.Contains(conn, marker) {
				t.Fatalf("Conn(%q) = %q shows the password", s, conn)
			}
			// Text reads a whole string as one connection string when
			// Conn can split it, or when it holds no space (else it may
			// be a text quoting one).
			if conn == redact.Placeholder && strings.ContainsAny(s, " \t\r\n\v\f\u0085\u00a0") {
				continue
			}
			if got := redact.Text(s); strings.Contains(got, marker) {
				t.Fatalf("Text(%q) = %q shows the password", s, got)
			}
		}
	})
}

func ExampleConn() {
	fmt.Println(redact.Conn("redis://app:s3cret@cache:6379/0"))
	fmt.Println(redact.Conn("redis://cache:6379/0?password=s3cret"))
	fmt.Println(redact.Conn("app:s3cret@tcp(db:3306)/orders?parseTime=true"))
	fmt.Println(redact.Conn("host=db user=app password='s3 cret'"))
	fmt.Println(redact.Conn("redis://app:s3/cret@cache:6379")) // '/' unescaped: whole
	// Output:
	// redis://app:xxxxx@cache:6379/0
	// redis://cache:6379/0?password=xxxxx
	// app:xxxxx@tcp(db:3306)/orders?parseTime=true
	// host=db user=app password=xxxxx
	// xxxxx
}

func ExampleText() {
	fmt.Println(redact.Text("dial redis://:s3cret@cache:6379/0: i/o timeout"))
	fmt.Println(redact.Text(`open "app:s3cret@tcp(db:3306)/orders": refused`))
	// Output:
	// dial redis://:xxxxx@cache:6379/0: i/o timeout
	// open "app:xxxxx@tcp(db:3306)/orders": refused
}

func ExampleError() {
	conn := "redis://app:s3cret@cache:6379/0"
	err := redact.Error(fmt.Errorf("auth with s3cret: %w", fs.ErrPermission), redact.Secrets(conn)...)
	fmt.Println(err, errors.Is(err, fs.ErrPermission))
	// Output:
	// auth with xxxxx: permission denied true
}

func TestHandler(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	log := slog.New(redact.Handler(slog.NewTextHandler(&b, nil))).With("url", "redis://:hunter2@h")
	log.WithGroup("g").Info("dial app:hunter2@tcp(db:3306)/x failed",
		"err", errors.New("auth with password=hunter2"),
		slog.Group("inner", "dsn", "app:hunter2@tcp(db:3306)/x"),
		"any", struct{ URL string }{"redis://:hunter2@h"},
		"n", 3)
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("log shows the secret: %s", out)
	}
	for _, w := range []string{"url=redis://:xxxxx@h", "g.n=3", "g.inner.dsn=app:xxxxx@tcp(db:3306)/x", `g.err="auth with password=xxxxx"`} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %s: %s", w, out)
		}
	}
}
