package mysql

import (
	"strings"
	"testing"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/testutil"
)

// envFuzzMarker starts the password FuzzConfigFromEnv puts in every
// secret place (the fuzzed rest of the password follows it, unescaped, as
// a user may paste it); no output may show it.
const envFuzzMarker = "s3cr3t-P4ss"

// FuzzConfigFromEnv sets the variables ConfigFromEnv reads from fuzzed
// text, the connection given as a DSN, a URL, parts or a DSN with
// replicas, with a password starting with a known marker in every secret
// place (wherever the fuzzed parts around it move it): ConfigFromEnv
// never panics; its error names a variable and never shows the password;
// a Config it returns shows no password when printed or logged. The TLS
// file variables stay unset: a fuzzer must not read files.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add(uint8(0), "app", "!word", "db:3306", "app", "parseTime=true", "3306", "10", "5s", "")
	f.Add(uint8(1), "app", "!word", "db", "app", "tls=skip-verify&timeout=1s", "", "", "", "true")
	f.Add(uint8(2), "app", "!word", "db", "app", "", "99999", "-1", "x", "maybe")
	f.Add(uint8(3), "app", "!word", "db:3306", "app", "r:pw@tcp(r2:3306)/app", "", "", "", "preferred")
	f.Add(uint8(0), "a@b", "", "db:3306", "app/x", "charset=utf8mb4&loc=Nowhere", "", "", "", "")
	f.Add(uint8(1), "a:b", "", "[::1", "%zz", "a=%", "", "", "", "")
	f.Add(uint8(0), "", "", "db", "", "", "", "", "", "")
	f.Add(uint8(0), "app", "#word", "db", "app", "", "", "", "", "")
	f.Add(uint8(0), "app", ")word", "db", "app", "", "", "", "", "")
	vars := envconfig.Vars[Config]()
	f.Fuzz(func(t *testing.T, mode uint8, user, pwTail, host, db, params, port, maxOpen, timeout, tlsMode string) {
		envFuzzPassword := envFuzzMarker + pwTail
		for _, p := range []string{user, pwTail, host, db, params, port, maxOpen, timeout, tlsMode} {
			if strings.Contains(p, "\x00") || strings.Contains(p, "3cr3t") || strings.Contains(p, "P4ss") {
				t.Skip("a variable cannot hold NUL; the marker must come from the password only")
			}
		}
		env := map[string]string{
			"MYSQL_MAX_OPEN_CONNS":  maxOpen,
			"MYSQL_CONNECT_TIMEOUT": timeout,
			"MYSQL_TLS":             tlsMode,
		}
		dsn := user + ":" + envFuzzPassword + "@tcp(" + host + ")/" + db + "?" + params
		switch mode % 4 {
		case 0:
			env["MYSQL_DSN"] = dsn
		case 1:
			env["MYSQL_URL"] = "mysql://" + user + ":" + envFuzzPassword + "@" + host + "/" + db + "?" + params
		case 2:
			env["MYSQL_HOST"], env["MYSQL_PORT"], env["MYSQL_USER"] = host, port, user
			env["MYSQL_PASSWORD"], env["MYSQL_DATABASE"] = envFuzzPassword, db
		case 3:
			env["MYSQL_DSN"] = "app:" + envFuzzPassword + "@tcp(db)/app"
			env["MYSQL_REPLICA_DSNS"] = dsn + "," + params
		}
		cfg, err := ConfigFromEnviron(env)
		if err != nil {
			testutil.CheckConfigError(t, err, envFuzzMarker, vars)
			return
		}
		testutil.CheckRendered(t, "Config", cfg, envFuzzMarker)
	})
}
