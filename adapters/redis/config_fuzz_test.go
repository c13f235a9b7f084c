package redis

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/portkit/portkit/ports"
)

// envFuzzMarker starts the password FuzzConfigFromEnv puts in REDIS_URL
// and REDIS_SENTINEL_PASSWORD (the fuzzed rest of the password follows
// it, unescaped, as a user may paste it); no output may show it.
const envFuzzMarker = "s3cr3t-P4ss"

// envFuzzVars are the variables ConfigFromEnv reads.
var envFuzzVars = []string{EnvURL, EnvClientCacheTTL, EnvClientCacheRequired, EnvDialTimeout, EnvCheckTimeout, EnvSentinelPassword}

// FuzzConfigFromEnv sets every variable ConfigFromEnv reads from fuzzed
// text, with a password starting with a known marker in REDIS_URL
// (wherever the fuzzed parts around it move it) and in
// REDIS_SENTINEL_PASSWORD: ConfigFromEnv never
// panics; its error wraps ErrInvalid, names a variable and never shows the
// password; a Config it returns shows no password when printed or logged.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("redis", "app", "!word", "localhost:6379", "/0", "1s", "5s", "", "true")
	f.Add("rediss", "", "", "h:1", "?addr=h2:2&addr=h3:3", "", "", "2s", "")
	f.Add("redis", "u", "", "h", "/0?master_set=m", "-1s", "x", "1h", "maybe")
	f.Add("unix", "u", "", "", "/tmp/redis.sock?db=2", "", "", "", "1")
	f.Add("redis", "a/b", "", "h:port", "/zero", "10", "5", "0", "")
	f.Add("http", "u@x", "", "h", "#frag@", "", "", "", "")
	f.Add("redis", "u", "", "[::1", "]:6379/0?client_cache=0", "1m", "", "", "")
	f.Add("redis", "app", "?word", "db:6379", "/0", "", "", "", "")
	f.Add("redis", "app", "#word", "db:6379", "/0", "", "", "", "")
	f.Add("redis", "app", "/word", "db:6379", "/0", "", "", "", "")
	f.Fuzz(func(t *testing.T, scheme, user, pwTail, host, rest, cacheTTL, dial, check, required string) {
		envFuzzPassword := envFuzzMarker + pwTail
		parts := []string{scheme, user, pwTail, host, rest, cacheTTL, dial, check, required}
		for _, p := range parts {
			if strings.Contains(p, "\x00") || strings.Contains(p, "3cr3t") || strings.Contains(p, "P4ss") {
				t.Skip("a variable cannot hold NUL; the marker must come from the password only")
			}
		}
		setFuzzEnv(t, map[string]string{
			EnvURL:                 scheme + "://" + user + ":" + envFuzzPassword + "@" + host + rest,
			EnvClientCacheTTL:      cacheTTL,
			EnvDialTimeout:         dial,
			EnvCheckTimeout:        check,
			EnvClientCacheRequired: required,
			EnvSentinelPassword:    envFuzzPassword,
		})
		cfg, err := ConfigFromEnv()
		if err != nil {
			checkFuzzEnvError(t, err)
			return
		}
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, nil)).Info("cfg", "cfg", cfg)
		for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), b.String(), cfg.RedactedURL()} {
			if strings.Contains(out, envFuzzMarker) {
				t.Fatalf("Config from %s shows the password: %s", os.Getenv(EnvURL), out)
			}
		}
	})
}

// setFuzzEnv sets the variables of env and unsets the others of
// envFuzzVars, for the test's duration.
func setFuzzEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range envFuzzVars {
		t.Setenv(k, env[k])
		if _, ok := env[k]; !ok {
			_ = os.Unsetenv(k)
		}
	}
}

// checkFuzzEnvError checks an error of ConfigFromEnv.
func checkFuzzEnvError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, envFuzzMarker) || strings.Contains(fmt.Sprintf("%+v", err), envFuzzMarker) {
		t.Fatalf("ConfigFromEnv error shows the password: %s", msg)
	}
	if !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("ConfigFromEnv error %q does not wrap ErrInvalid", msg)
	}
	for _, k := range envFuzzVars {
		if strings.Contains(msg, k) {
			return
		}
	}
	t.Fatalf("ConfigFromEnv error %q names no variable", msg)
}
