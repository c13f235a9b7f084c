package main

import (
	"net/url"
	"os"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
)

// urlDeps checks the URL variables (and the adapters' variables) of env.
func urlDeps(kv ...string) deps {
	return deps{lookupEnv: envOf(kv...), backends: adapterBackends(), urlBackends: urlBackends}
}

// rows returns the table's rows as their fields, without the header and
// the summary.
func rows(t *testing.T, stdout string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "BACKEND") {
		t.Fatalf("not a table:\n%s", stdout)
	}
	var out [][]string
	for _, l := range lines[1 : len(lines)-1] {
		out = append(out, strings.Fields(l))
	}
	return out
}

// One URL per port, opened through package open: mem:// URLs check the
// fakes, in port order, whatever the order of the variables.
func TestCheckURLs(t *testing.T) {
	t.Parallel()
	d := urlDeps("PORTKIT_PUBSUB_URL", "mem://", "PORTKIT_SQL_URL", "mem://?dialect=postgres", "PORTKIT_CACHE_URL", "mem://?key_prefix=x")
	code, stdout, stderr := runTest(t, d, "check")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	got := rows(t, stdout)
	want := [][]string{{"fake-sql", "ok", "mem://?dialect=postgres"}, {"fake-cache", "ok", "mem://?key_prefix=x"}, {"fake-pubsub", "ok", "mem://"}}
	if len(got) != len(want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	for i, w := range want {
		if len(got[i]) < 4 || got[i][0] != w[0] || got[i][1] != w[1] || got[i][3] != w[2] {
			t.Errorf("row %d = %q, want name %s, status %s, target %s", i, got[i], w[0], w[1], w[2])
		}
	}
}

// -prefix reads another service's variables, the example's ORDERS_ ones.
func TestCheckURLPrefix(t *testing.T) {
	t.Parallel()
	d := urlDeps("ORDERS_DOC_URL", "mem://", "PORTKIT_SQL_URL", "mem://")
	code, stdout, stderr := runTest(t, d, "check", "-prefix", "ORDERS_")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if got := rows(t, stdout); len(got) != 1 || got[0][0] != "fake-doc" {
		t.Errorf("rows %q, want only the ORDERS_DOC_URL fake", got)
	}
	for _, bad := range []string{"orders_", "ORDERS", "ORD-"} {
		if code, _, stderr := runTest(t, d, "check", "-prefix", bad); code != exitUsage || !strings.Contains(stderr, "-prefix") {
			t.Errorf("-prefix %q: exit %d, stderr %q", bad, code, stderr)
		}
	}
}

// A URL of an unknown scheme is a configuration error (exit 2) naming the
// variable and the schemes known; an unreachable one is a failed check
// (exit 1). Neither shows the password.
func TestCheckURLErrors(t *testing.T) {
	t.Parallel()
	const pw = "hunter2secret"
	code, stdout, stderr := runTest(t, urlDeps("PORTKIT_SQL_URL", "sqlite://u:"+pw+"@h/x"), "check")
	if code != exitUsage || !strings.Contains(stderr, "PORTKIT_SQL_URL: want a URL with one of the schemes gcppubsub, mariadb, mem") || strings.Contains(stdout+stderr, pw) {
		t.Errorf("unknown scheme: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runTest(t, urlDeps("PORTKIT_CACHE_URL", "redis://:"+pw+"@"+faults.ClosedPort(t)+"/0?dial_timeout=1s"), "check", "-v", "-timeout", "2s")
	if code != exitFailed || strings.Contains(stdout+stderr, pw) {
		t.Errorf("unreachable: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	if r := rows(t, stdout); len(r) != 1 || r[0][0] != "cache" || r[0][1] != "FAIL" || !strings.Contains(stdout, "PORTKIT_CACHE_URL: open cache redis://") {
		t.Errorf("rows %q", r)
	}
	code, stdout, stderr = runTest(t, urlDeps("PORTKIT_SQL_URL", "mem://?dialect=oracle"), "check")
	if code != exitFailed || !strings.Contains(stdout, `dialect "oracle" is not mysql or postgres`) {
		t.Errorf("bad mem:// parameter: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}

// Each URL scheme against the machine's servers (pstest in process for
// gcppubsub://), the way an operator points check at a service's URLs.
func TestCheckURLsRealBackends(t *testing.T) {
	t.Parallel()
	srv, err := pstestserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, c := range []struct {
		name, variable string
		url            func(t *testing.T) string
		impl           string
	}{
		{"mysql", "PORTKIT_SQL_URL", func(t *testing.T) string {
			cfg, err := mysqldrv.ParseDSN(testenv.Env(t, "mysql", "MYSQL_DSN"))
			if err != nil {
				t.Fatal("MYSQL_DSN does not parse")
			}
			u := url.URL{Scheme: "mysql", User: url.UserPassword(cfg.User, cfg.Passwd), Host: cfg.Addr, Path: "/" + cfg.DBName}
			return u.String()
		}, "mysql"},
		{"mongo", "PORTKIT_DOC_URL", func(t *testing.T) string {
			db := os.Getenv("MONGODB_DATABASE")
			if db == "" {
				db = "portkit"
			}
			uri := testenv.Env(t, "mongo", "MONGODB_URI")
			if strings.Contains(uri, "?") {
				return uri + "&database=" + db
			}
			return uri + "?database=" + db
		}, "mongo"},
		{"redis", "PORTKIT_CACHE_URL", func(t *testing.T) string { return testenv.Env(t, "redis", "REDIS_URL") }, "redis"},
		{"pubsub", "PORTKIT_PUBSUB_URL", func(*testing.T) string { return "gcppubsub://portkit-test?emulator_host=" + srv.Addr }, "pubsub"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runTest(t, urlDeps(c.variable, c.url(t)), "check", "-timeout", "10s")
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if r := rows(t, stdout); len(r) != 1 || r[0][0] != c.impl || r[0][1] != "ok" {
				t.Errorf("rows %q", r)
			}
		})
	}
}
