package mysql

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

const secret = "hunter2-s3cret"

func fromEnv(t *testing.T, vars map[string]string) (Config, error) {
	t.Helper()
	return ConfigFromEnviron(vars)
}

func TestConfigFromEnvDSNDefaults(t *testing.T) {
	c, err := fromEnv(t, map[string]string{"MYSQL_DSN": "app:" + secret + "@tcp(db.internal:3307)/shop"})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.primaryConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.User != "app" || dc.Passwd != secret || dc.Addr != "db.internal:3307" || dc.DBName != "shop" {
		t.Errorf("parsed DSN to user %q addr %q db %q (password ok: %v)", dc.User, dc.Addr, dc.DBName, dc.Passwd == secret)
	}
	if !dc.ParseTime {
		t.Error("parseTime is off, want on by default")
	}
	if !dc.ClientFoundRows {
		t.Error("clientFoundRows is off; Update's ErrNotFound relies on it")
	}
	if !strings.HasPrefix(dc.Collation, "utf8mb4") {
		t.Errorf("collation %q, want utf8mb4 by default", dc.Collation)
	}
	if dc.Timeout != DefaultConnectTimeout {
		t.Errorf("dial timeout %v, want %v", dc.Timeout, DefaultConnectTimeout)
	}
}

func TestConfigFromEnvExplicitParamsKept(t *testing.T) {
	c, err := fromEnv(t, map[string]string{
		"MYSQL_DSN":             "app@tcp(db:3306)/shop?parseTime=false&charset=latin1&clientFoundRows=false&timeout=2s",
		"MYSQL_CONNECT_TIMEOUT": "9s",
	})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.primaryConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.ParseTime {
		t.Error("parseTime=false in the DSN was overridden")
	}
	if dc.Collation == defaultCollation {
		t.Error("charset=latin1 in the DSN got the default utf8mb4 collation as well")
	}
	if !dc.ClientFoundRows {
		t.Error("clientFoundRows must be on whatever the DSN says")
	}
	if dc.Timeout != 2*time.Second {
		t.Errorf("dial timeout %v, want the DSN's 2s", dc.Timeout)
	}
}

func TestConfigFromEnvPrecedence(t *testing.T) {
	vars := map[string]string{
		"MYSQL_DSN":  "a@tcp(from-dsn:3306)/d",
		"MYSQL_URL":  "mysql://b@from-url:3306/u",
		"MYSQL_HOST": "from-host",
	}
	for _, tc := range []struct {
		drop []string
		addr string
	}{
		{nil, "from-dsn:3306"},
		{[]string{"MYSQL_DSN"}, "from-url:3306"},
		{[]string{"MYSQL_DSN", "MYSQL_URL"}, "from-host:3306"},
	} {
		v := map[string]string{}
		for k, x := range vars {
			v[k] = x
		}
		for _, k := range tc.drop {
			delete(v, k)
		}
		c, err := fromEnv(t, v)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := c.primaryConfig()
		if err != nil {
			t.Fatal(err)
		}
		if dc.Addr != tc.addr {
			t.Errorf("without %v: address %q, want %q", tc.drop, dc.Addr, tc.addr)
		}
	}
}

func TestConfigFromEnvURL(t *testing.T) {
	c, err := fromEnv(t, map[string]string{"MYSQL_URL": "mysql://app:p%40ss%2Fw@[::1]:3310/shop?parseTime=false&tls=skip-verify"})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.primaryConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.User != "app" || dc.Passwd != "p@ss/w" || dc.Addr != "[::1]:3310" || dc.DBName != "shop" {
		t.Errorf("URL parsed to user %q password %q addr %q db %q", dc.User, dc.Passwd, dc.Addr, dc.DBName)
	}
	if dc.ParseTime {
		t.Error("parseTime=false in the URL was overridden")
	}
	if dc.TLS == nil || !dc.TLS.InsecureSkipVerify {
		t.Error("tls=skip-verify in the URL was lost")
	}
}

func TestConfigFromEnvParts(t *testing.T) {
	c, err := fromEnv(t, map[string]string{
		"MYSQL_HOST": "db", "MYSQL_USER": "app", "MYSQL_PASSWORD": secret, "MYSQL_DATABASE": "shop",
		"MYSQL_MAX_OPEN_CONNS": "20", "MYSQL_MAX_IDLE_CONNS": "5", "MYSQL_CONN_MAX_LIFETIME": "30m",
		"MYSQL_REPLICA_DSNS":   "r@tcp(replica1:3306)/shop, mysql://r@replica2/shop",
		"MYSQL_SLOW_THRESHOLD": "50ms", "MYSQL_LOG_PARAMS": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxOpenConns != 20 || c.MaxIdleConns != 5 || c.ConnMaxLifetime != 30*time.Minute ||
		c.SlowThreshold != 50*time.Millisecond || !c.LogParams {
		t.Errorf("pool and log settings not read: %+v", c)
	}
	dc, err := c.primaryConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.Addr != "db:3306" || dc.User != "app" || dc.Passwd != secret || dc.DBName != "shop" {
		t.Errorf("parts gave addr %q user %q db %q", dc.Addr, dc.User, dc.DBName)
	}
	rcs, err := c.replicaConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if len(rcs) != 2 || rcs[0].Addr != "replica1:3306" || rcs[1].Addr != "replica2:3306" || !rcs[1].ParseTime {
		t.Errorf("replicas parsed to %d configs", len(rcs))
	}
}

func TestConfigFromEnvErrorsNameVariableNotSecret(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		name string
	}{
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_PORT": "abc"}, "MYSQL_PORT"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_PORT": "70000"}, "MYSQL_PORT"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_MAX_OPEN_CONNS": "many"}, "MYSQL_MAX_OPEN_CONNS"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_CONN_MAX_LIFETIME": "forever"}, "MYSQL_CONN_MAX_LIFETIME"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_CHECK_TIMEOUT": "-1s"}, "MYSQL_CHECK_TIMEOUT"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_LOG_PARAMS": "perhaps"}, "MYSQL_LOG_PARAMS"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_TLS": "maybe"}, "MYSQL_TLS"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_TLS_CA": "/nonexistent/ca.pem"}, "MYSQL_TLS_CA"},
		{map[string]string{"MYSQL_DSN": "app:" + secret + "@tcp(db:3306"}, "MYSQL_DSN"},
		{map[string]string{"MYSQL_DSN": "app:" + secret + "@db"}, "MYSQL_DSN"},
		{map[string]string{"MYSQL_DSN": "app:" + secret + "@tcp(db)/x?parseTime=" + secret}, "MYSQL_DSN"},
		{map[string]string{"MYSQL_URL": "mysql://app:" + secret + "@db:port/x"}, "MYSQL_URL"},
		{map[string]string{"MYSQL_URL": "mysql://app:" + secret + "%zz@db/x"}, "MYSQL_URL"},
		{map[string]string{"MYSQL_URL": "postgres://app:" + secret + "@db/x"}, "MYSQL_URL"},
		{map[string]string{"MYSQL_HOST": "db", "MYSQL_PASSWORD": secret, "MYSQL_REPLICA_DSNS": "r@tcp(r1)/x,app:" + secret + "@tcp(r2"}, "MYSQL_REPLICA_DSNS[1]"},
		{map[string]string{}, "MYSQL_DSN"},
	} {
		_, err := fromEnv(t, tc.vars)
		if err == nil {
			t.Errorf("%v: no error", tc.vars)
			continue
		}
		if !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v: error %q does not name %s", tc.vars, err, tc.name)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%v: error %q shows the password", tc.vars, err)
		}
		// Like the other adapters: an *ports.OpError of op "config" with
		// ErrInvalid (issue 11: MYSQL_PORT and "nothing set" were not).
		var oe *ports.OpError
		if !errors.As(err, &oe) || oe.Backend != "mysql" || oe.Op != "config" || !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%v: error %#v is not an *ports.OpError mysql/config wrapping ErrInvalid", tc.vars, err)
		}
	}
}

func TestConfigRedaction(t *testing.T) {
	c := Config{
		DSN:         "app:" + secret + "@tcp(db:3306)/shop",
		URL:         "mysql://app:" + secret + "@db:3306/shop",
		Host:        "db",
		User:        "app",
		Password:    secret,
		ReplicaDSNs: []string{"app:" + secret + "@tcp(r1:3306)/shop", "mysql://app:" + secret + "@r2/shop", "garbage:" + secret},
	}
	type wrapper struct {
		Name string
		Cfg  Config
		Ptr  *Config
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c), fmt.Sprintf(verb, wrapper{"w", c, &c}))
	}
	out = append(out, c.String(), c.GoString(), fmt.Sprint(c), fmt.Sprintln(c))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", c, "ptr", &c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", slog.Any("cfg", c))
	out = append(out, buf.String())
	for _, s := range out {
		if strings.Contains(s, secret) {
			t.Errorf("rendering shows the password: %s", s)
		}
	}
	if !strings.Contains(c.String(), "db:3306") || !strings.Contains(c.String(), redacted) {
		t.Errorf("String() = %s, want the address and the redaction mark", c)
	}
	if !strings.Contains(buf.String(), `"host":"db"`) {
		t.Errorf("slog output lacks the host: %s", buf.String())
	}
}

func TestConfigTLS(t *testing.T) {
	ca := writeCA(t)
	c, err := fromEnv(t, map[string]string{"MYSQL_HOST": "db.example", "MYSQL_TLS_CA": ca})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.primaryConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.TLS == nil || dc.TLS.RootCAs == nil || dc.TLS.InsecureSkipVerify || dc.TLS.ServerName != "db.example" {
		t.Errorf("MYSQL_TLS_CA alone: TLS %+v, want verification against the CA for db.example", dc.TLS)
	}

	c, err = fromEnv(t, map[string]string{"MYSQL_HOST": "db", "MYSQL_TLS": "preferred"})
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ = c.primaryConfig(); dc.TLS == nil || !dc.AllowFallbackToPlaintext {
		t.Error("MYSQL_TLS=preferred: want TLS with fallback to plaintext")
	}

	c, err = fromEnv(t, map[string]string{"MYSQL_DSN": "u@tcp(db:3306)/x?tls=true", "MYSQL_TLS": "false"})
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ = c.primaryConfig(); dc.TLS != nil {
		t.Error("MYSQL_TLS=false did not turn off the DSN's tls=true")
	}

	_, err = fromEnv(t, map[string]string{"MYSQL_HOST": "db", "MYSQL_TLS_CERT": ca})
	if err == nil || !strings.Contains(err.Error(), "MYSQL_TLS_KEY") {
		t.Errorf("MYSQL_TLS_CERT without MYSQL_TLS_KEY: err %v", err)
	}
}

// writeCA writes a self-signed CA certificate and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigPasswordSpecialCharacters: a password holding a character
// that ends a part of a DSN or URL ('@', '/', '?', '#', ')', ...) is
// either read whole (then every rendering of the Config redacts it) or
// rejected with an error naming the variable; no error and no rendering,
// of a Config from the environment or built by hand, shows any part of
// it.
func TestConfigPasswordSpecialCharacters(t *testing.T) {
	const pre, post = "pre-S3CR", "post-S3CR" // the password is pre + special + post
	type tc struct {
		name string
		vars map[string]string
		err  string // the variable the error names; "" when the config is valid
		pass string // the password read, when valid
	}
	var cases []tc
	for _, ch := range []string{"@", "/", "?", "#", ")", "(", ":", "@/?#)"} {
		pw := pre + ch + post
		cases = append(cases,
			tc{"DSN " + ch, map[string]string{"MYSQL_DSN": "app:" + pw + "@tcp(db:3306)/shop?parseTime=true"}, "", pw},
			tc{"DSN without database " + ch, map[string]string{"MYSQL_DSN": "app:" + pw + "@tcp(db:3306)"}, "MYSQL_DSN", ""},
			tc{"DSN, unescaped '/' in a parameter " + ch, map[string]string{"MYSQL_DSN": "app:" + pw + "@tcp(db:3306)/shop?loc=Europe/Paris"}, "MYSQL_DSN", ""},
			tc{"replica DSN " + ch, map[string]string{"MYSQL_HOST": "db", "MYSQL_REPLICA_DSNS": "r@tcp(r1:3306)/shop,app:" + pw + "@tcp(r2:3306)/shop"}, "", pw},
			tc{"replica DSN without database " + ch, map[string]string{"MYSQL_HOST": "db", "MYSQL_REPLICA_DSNS": "app:" + pw + "@tcp(r1:3306)"}, "MYSQL_REPLICA_DSNS[0]", ""},
			tc{"URL, escaped " + ch, map[string]string{"MYSQL_URL": "mysql://app:" + url.QueryEscape(pw) + "@db:3306/shop"}, "", pw},
			tc{"replica URL, escaped " + ch, map[string]string{"MYSQL_HOST": "db", "MYSQL_REPLICA_DSNS": "mysql://app:" + url.PathEscape(pw) + "@r1/shop"}, "", pw},
		)
		// Unescaped in a URL: '/', '?' and '#' end the user info, so the
		// URL is rejected; '@' (Go takes the last one), ':', '(' and ')'
		// are read as the user meant.
		urlErr := func(v string) string {
			if strings.ContainsAny(ch, "/?#") {
				return v
			}
			return ""
		}
		urlPass := pw
		if urlErr("x") != "" {
			urlPass = ""
		}
		cases = append(cases,
			tc{"URL " + ch, map[string]string{"MYSQL_URL": "mysql://app:" + pw + "@db:3306/shop?parseTime=true"}, urlErr("MYSQL_URL"), urlPass},
			tc{"URL without path " + ch, map[string]string{"MYSQL_URL": "mysql://app:" + pw + "@db:3306"}, urlErr("MYSQL_URL"), urlPass},
			tc{"replica URL " + ch, map[string]string{"MYSQL_HOST": "db", "MYSQL_REPLICA_DSNS": "mysql://app:" + pw + "@r1:3306/shop"}, urlErr("MYSQL_REPLICA_DSNS[0]"), urlPass},
		)
	}
	cases = append(cases,
		// A '#', '?' or '/' in the user name moves the password into the
		// fragment, query or path.
		tc{"URL, '#' in the user", map[string]string{"MYSQL_URL": "mysql://app#:" + pre + post + "@db/shop"}, "MYSQL_URL", ""},
		tc{"URL, '#' in the user, no path", map[string]string{"MYSQL_URL": "mysql://app#:" + pre + post + "@db"}, "MYSQL_URL", ""},
		tc{"URL, '?' in the user", map[string]string{"MYSQL_URL": "mysql://app?:" + pre + post + "@db/shop"}, "MYSQL_URL", ""},
		tc{"URL, '/' in the user", map[string]string{"MYSQL_URL": "mysql://ap/p:" + pre + post + "@db/shop"}, "MYSQL_URL", ""},
		tc{"URL, fragment", map[string]string{"MYSQL_URL": "mysql://app@db/shop#" + pre}, "MYSQL_URL", ""},
		tc{"URL, port of password", map[string]string{"MYSQL_URL": "mysql://app:" + pre + "/" + post + "@db/shop"}, "MYSQL_URL", ""},
		tc{"replica URL, '#' in the user", map[string]string{"MYSQL_HOST": "db", "MYSQL_REPLICA_DSNS": "mysql://app#:" + pre + post + "@db/shop"}, "MYSQL_REPLICA_DSNS[0]", ""},
		// A DSN without '@' whose network holds the credentials.
		tc{"DSN, credentials as network", map[string]string{"MYSQL_DSN": "app:" + pre + "/" + post}, "MYSQL_DSN", ""},
		tc{"DSN, credentials as network and address", map[string]string{"MYSQL_DSN": "app(:" + pre + ")/" + post}, "MYSQL_DSN", ""},
		tc{"DSN, credentials as tcp address", map[string]string{"MYSQL_DSN": "tcp(:" + pre + ")/" + post}, "MYSQL_DSN", ""},
		// A ',' splits the replica list inside the password.
		tc{"replica DSN, ','", map[string]string{"MYSQL_HOST": "db", "MYSQL_REPLICA_DSNS": "app:" + pre + "," + post + "@tcp(r1:3306)/shop"}, "MYSQL_REPLICA_DSNS[0]", ""},
		tc{"replica DSN, '/' and ','", map[string]string{"MYSQL_HOST": "db", "MYSQL_REPLICA_DSNS": "app:" + pre + "/x," + post + "@tcp(r1:3306)/shop"}, "MYSQL_REPLICA_DSNS[0]", ""},
	)
	shows := func(s string) bool { return strings.Contains(s, pre) || strings.Contains(s, post) }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := fromEnv(t, c.vars)
			if c.err != "" {
				if err == nil {
					t.Fatalf("%v: no error, want one naming %s; config %v", c.vars, c.err, cfg)
				}
				if !strings.Contains(err.Error(), c.err+":") {
					t.Errorf("error %q does not name %s", err, c.err)
				}
				if shows(err.Error()) {
					t.Errorf("error shows the password: %v", err)
				}
			} else {
				if err != nil {
					t.Fatalf("%v: %v", c.vars, err)
				}
				dc, err := cfg.primaryConfig()
				if err != nil {
					t.Fatal(err)
				}
				if rcs, err := cfg.replicaConfigs(); err != nil {
					t.Fatal(err)
				} else if len(rcs) > 0 {
					dc = rcs[len(rcs)-1]
				}
				if dc.Passwd != c.pass {
					t.Errorf("password read as %q, want %q", dc.Passwd, c.pass)
				}
			}
			// The same Config built by hand (not validated) renders
			// without the password either.
			byHand := Config{DSN: c.vars["MYSQL_DSN"], URL: c.vars["MYSQL_URL"], Host: c.vars["MYSQL_HOST"]}
			if r := c.vars["MYSQL_REPLICA_DSNS"]; r != "" {
				byHand.ReplicaDSNs = strings.Split(r, ",")
			}
			for _, cfg := range []Config{cfg, byHand} {
				var b bytes.Buffer
				slog.New(slog.NewJSONHandler(&b, nil)).Info("cfg", "cfg", cfg)
				for _, out := range []string{fmt.Sprintf("%v|%+v|%#v|%s|%q", cfg, cfg, cfg, cfg, cfg), b.String()} {
					if shows(out) {
						t.Errorf("Config rendering shows the password: %s", out)
					}
				}
			}
			if err := byHand.Validate(); (err == nil) != (c.err == "") || (err != nil && shows(err.Error())) {
				t.Errorf("Validate of the Config built by hand: %v, want an error: %v, without the password", err, c.err != "")
			}
		})
	}
}
