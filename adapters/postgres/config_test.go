package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
)

func TestConfigFromEnviron(t *testing.T) {
	c, err := ConfigFromEnviron(map[string]string{
		"PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "app", "PGPASSWORD": "pw", "PGDATABASE": "orders",
		"PGSSLMODE": "disable", "PGAPPNAME": "svc", "POSTGRES_CONNECT_TIMEOUT": "2s", "POSTGRES_CHECK_TIMEOUT": "1s",
		"POSTGRES_MAX_OPEN_CONNS": "7", "POSTGRES_LOG_PARAMS": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Host: "db.example", Port: 6543, User: "app", Password: "pw", Database: "orders", SSLMode: "disable",
		AppName: "svc", ConnectTimeout: 2 * time.Second, CheckTimeout: time.Second, MaxOpenConns: 7, LogParams: true}
	if c != want {
		t.Errorf("ConfigFromEnviron: %+v, want %+v", c, want)
	}
	cc, err := c.connConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cc.Host != "db.example" || cc.Port != 6543 || cc.User != "app" || cc.Password != "pw" || cc.Database != "orders" ||
		cc.TLSConfig != nil || cc.RuntimeParams["application_name"] != "svc" || cc.ConnectTimeout != 2*time.Second {
		t.Errorf("pgx config %+v", cc)
	}
}

// DATABASE_URL's own settings win; the PG* variables fill in what it
// lacks, as libpq lets them.
func TestConfigMergesURLAndVariables(t *testing.T) {
	for _, tc := range []struct {
		name, url                  string
		host, user, pass, database string
		port                       uint16
	}{
		{"URL alone", "postgres://u:p@h:1234/d?sslmode=disable", "h", "u", "p", "d", 1234},
		{"URL without password, user, port", "postgres://h/d?sslmode=disable", "h", "envuser", "envpw", "d", 5433},
		{"URL without database", "postgresql://u@h:1234?sslmode=disable", "h", "u", "envpw", "envdb", 1234},
		{"password as a parameter", "postgres://u@h/d?sslmode=disable&password=qp", "h", "u", "qp", "d", 5433},
		{"key=value", "host=h user=u dbname=d sslmode=disable", "h", "u", "envpw", "d", 5433},
		{"key=value, quoted password", `host=h password='a \'b' sslmode=disable`, "h", "envuser", `a 'b`, "envdb", 5433},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromEnviron(map[string]string{
				"DATABASE_URL": tc.url, "PGHOST": "envhost", "PGPORT": "5433", "PGUSER": "envuser",
				"PGPASSWORD": "envpw", "PGDATABASE": "envdb",
			})
			if err != nil {
				t.Fatal(err)
			}
			cc, err := c.connConfig()
			if err != nil {
				t.Fatal(err)
			}
			if cc.Host != tc.host || cc.Port != tc.port || cc.User != tc.user || cc.Password != tc.pass || cc.Database != tc.database {
				t.Errorf("host %q port %d user %q password %q database %q, want %q %d %q %q %q",
					cc.Host, cc.Port, cc.User, cc.Password, cc.Database, tc.host, tc.port, tc.user, tc.pass, tc.database)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	const pw = "s3cr3t-pw"
	for _, tc := range []struct {
		name string
		env  map[string]string
		vars []string
	}{
		{"nothing set", map[string]string{}, []string{"DATABASE_URL", "PGHOST"}},
		{"bad port", map[string]string{"PGHOST": "h", "PGPORT": "x"}, []string{"PGPORT"}},
		{"port out of range", map[string]string{"PGHOST": "h", "PGPORT": "70000", "PGPASSWORD": pw}, []string{"PGPORT"}},
		{"bad duration", map[string]string{"PGHOST": "h", "POSTGRES_CHECK_TIMEOUT": "soon"}, []string{"POSTGRES_CHECK_TIMEOUT"}},
		{"negative duration", map[string]string{"PGHOST": "h", "POSTGRES_CONNECT_TIMEOUT": "-1s"}, []string{"POSTGRES_CONNECT_TIMEOUT"}},
		{"other scheme", map[string]string{"DATABASE_URL": "mysql://u:" + pw + "@h/d"}, []string{"DATABASE_URL"}},
		{"malformed URL", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@h:port/d"}, []string{"DATABASE_URL"}},
		{"'/' in the password", map[string]string{"DATABASE_URL": "postgres://u:a/" + pw + "@h/d"}, []string{"DATABASE_URL"}},
		{"bad sslmode", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@h/d?sslmode=maybe"}, []string{"DATABASE_URL"}},
		{"bad key=value", map[string]string{"DATABASE_URL": "host=h password='" + pw}, []string{"DATABASE_URL"}},
		{"bad PGSSLMODE", map[string]string{"PGHOST": "h", "PGPASSWORD": pw, "PGSSLMODE": "maybe"}, []string{"PGSSL"}},
		{"missing root certificate", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@h/d?sslmode=verify-full&sslrootcert=/nonexistent.pem"}, []string{"DATABASE_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromEnviron(tc.env)
			testutil.CheckConfigError(t, err, pw, tc.vars)
		})
	}
}

// No rendering of a Config, no configuration error, no error or log line
// of a failed Open shows a credential, in any form the corpus holds.
func TestSecretsNeverShown(t *testing.T) {
	addr := faults.ClosedPort(t)
	forms := testutil.SecretForms(addr)
	forms = append(forms,
		testutil.SecretForm{Backend: "postgres", Name: "PGPASSWORD", Env: map[string]string{"PGHOST": "127.0.0.1", "PGPORT": addr[strings.LastIndexByte(addr, ':')+1:], "PGPASSWORD": testutil.SecretPassword}},
		testutil.SecretForm{Backend: "postgres", Name: "PGSSLPASSWORD", Env: map[string]string{"PGHOST": "127.0.0.1", "PGSSLPASSWORD": testutil.SecretPassword, "PGSSLMODE": "disable"}},
		testutil.SecretForm{Backend: "postgres", Name: "URL and PGPASSWORD", Env: map[string]string{"DATABASE_URL": "postgres://app@" + addr + "/test", "PGPASSWORD": testutil.SecretPassword}},
	)
	n := 0
	for _, f := range forms {
		if f.Backend != "postgres" {
			continue
		}
		n++
		t.Run(f.Name, func(t *testing.T) {
			c, err := ConfigFromEnviron(f.Env)
			if err != nil {
				testutil.CheckConfigError(t, err, testutil.SecretMarker, []string{"DATABASE_URL", "PG"})
				return
			}
			testutil.CheckRendered(t, "Config", c, testutil.SecretMarker)
			log, logs := testutil.CaptureLogger()
			c.ConnectTimeout = 2 * time.Second
			db, err := Open(context.Background(), c, WithLogger(log))
			msg := ""
			if err == nil {
				// The form names no port: the local server answered.
				_ = db.Close(context.Background())
			} else {
				msg = err.Error()
				if k := ports.KindOf(err); k != ports.ErrUnavailable && k != ports.ErrInvalid {
					t.Errorf("Open of a closed port: %v, want ErrUnavailable", err)
				}
			}
			for _, s := range []string{msg, logs.String()} {
				if strings.Contains(s, testutil.SecretMarker) {
					t.Errorf("the secret is shown: %s", s)
				}
			}
		})
	}
	if n < 6 {
		t.Fatalf("%d postgres forms in the corpus", n)
	}
}
