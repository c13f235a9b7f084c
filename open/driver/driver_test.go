package driver_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/open/driver"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func request(t *testing.T, raw string, environ map[string]string) driver.Request {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return driver.Request{Scheme: u.Scheme, URL: u, Raw: raw, Environ: environ}
}

var vars = driver.Vars{
	Prefix:       "DB_",
	All:          []string{"DB_URL", "DB_DSN", "DB_HOST", "DB_MAX_CONNS", "DB_TIMEOUT", "DB_TLS", "DB_NAME"},
	URL:          "DB_URL",
	Replaced:     []string{"DB_URL", "DB_DSN", "DB_HOST"},
	DriverParams: []string{"tls"},
}

// Env moves the settings parameters onto their variables, keeps the
// driver's parameters (and the rest of the URL) byte for byte, drops the
// variables the URL replaces and keeps the others.
func TestEnv(t *testing.T) {
	t.Parallel()
	environ := map[string]string{"DB_DSN": "old", "DB_HOST": "old", "DB_TIMEOUT": "1s", "DB_MAX_CONNS": "3", "OTHER": "x"}
	r := request(t, "db://u:p%40ss@h:1/x?parseTime=true&max_conns=10&tls=skip-verify&host=ignored&Name=kept&a=%20b#frag", environ)
	got, err := r.Env(vars)
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "db://u:p%40ss@h:1/x?parseTime=true&tls=skip-verify&host=ignored&Name=kept&a=%20b#frag"
	if got.URL != wantURL {
		t.Errorf("URL %q, want %q", got.URL, wantURL)
	}
	want := map[string]string{"DB_URL": wantURL, "DB_TIMEOUT": "1s", "DB_MAX_CONNS": "10", "OTHER": "x"}
	if !reflect.DeepEqual(got.Vars, want) {
		t.Errorf("Vars %v, want %v", got.Vars, want)
	}
	if w := []string{"parseTime", "tls", "host", "Name", "a"}; !reflect.DeepEqual(got.Rest, w) {
		t.Errorf("Rest %q, want %q", got.Rest, w)
	}
	if environ["DB_DSN"] != "old" || len(environ) != 5 {
		t.Errorf("Env modified the request's environment: %v", environ)
	}
}

func TestEnvOnlySettings(t *testing.T) {
	t.Parallel()
	got, err := request(t, "db://h/x?max_conns=2&timeout=3s", nil).Env(vars)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "db://h/x" || got.Vars["DB_MAX_CONNS"] != "2" || got.Vars["DB_TIMEOUT"] != "3s" || len(got.Rest) != 0 {
		t.Errorf("%+v", got)
	}
	// No URL variable: the URL stays out of the environment.
	got, err = request(t, "db://h?timeout=3s", nil).Env(driver.Vars{Prefix: "DB_", All: vars.All})
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "db://h" || len(got.Vars) != 1 {
		t.Errorf("%+v", got)
	}
}

func TestEnvErrors(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"db://h?timeout=1s&timeout=2s": "parameter timeout given twice",
		"db://h?timeout=%zz":           "parameter timeout: malformed percent-encoding",
	} {
		_, err := request(t, raw, nil).Env(vars)
		if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", raw, err, want)
		}
	}
}
