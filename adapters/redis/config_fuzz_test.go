package redis

import (
	"net/url"
	"strings"
	"testing"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/testutil"
)

// envFuzzMarker starts the password FuzzConfigFromEnv puts in REDIS_URL
// and REDIS_SENTINEL_PASSWORD (the fuzzed rest of the password follows
// it, unescaped, as a user may paste it); no output may show it.
const envFuzzMarker = "s3cr3t-P4ss"

// FuzzConfigFromEnv sets every variable ConfigFromEnviron reads from fuzzed
// text, with a password starting with a known marker in REDIS_URL (in the
// user info or as ?password=, wherever the fuzzed parts around it move
// it) and in REDIS_SENTINEL_PASSWORD: ConfigFromEnviron never panics; its
// error wraps ErrInvalid, names a variable and never shows the password;
// a Config it returns shows no password when printed or logged.
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
	// Forms of other clients (issue 11): a trailing slash, ?db= after it.
	f.Add("redis", "", "", "127.0.0.1:6379", "/", "", "", "", "")
	f.Add("redis", "app", "", "127.0.0.1:6379", "/?db=5", "", "", "", "")
	f.Add("redis", "", "", "h:6379", "/1?db=2&Pass%77ord=x", "", "", "", "")
	f.Fuzz(func(t *testing.T, scheme, user, pwTail, host, rest, cacheTTL, dial, check, required string) {
		envFuzzPassword := envFuzzMarker + pwTail
		parts := []string{scheme, user, pwTail, host, rest, cacheTTL, dial, check, required}
		for _, p := range parts {
			if strings.Contains(p, "3cr3t") || strings.Contains(p, "P4ss") {
				t.Skip("the marker must come from the password only")
			}
		}
		sep := "?"
		if strings.Contains(rest, "?") {
			sep = "&"
		}
		for _, u := range []string{
			scheme + "://" + user + ":" + envFuzzPassword + "@" + host + rest,
			// The password as ?password=, percent-encoded or not.
			scheme + "://" + user + "@" + host + rest + sep + "password=" + url.QueryEscape(envFuzzPassword),
			scheme + "://" + host + rest + sep + "password=" + envFuzzPassword,
		} {
			cfg, err := ConfigFromEnviron(map[string]string{
				EnvURL:                 u,
				EnvClientCacheTTL:      cacheTTL,
				EnvDialTimeout:         dial,
				EnvCheckTimeout:        check,
				EnvClientCacheRequired: required,
				EnvSentinelPassword:    envFuzzPassword,
			})
			if err != nil {
				testutil.CheckConfigError(t, err, envFuzzMarker, envconfig.Vars[Config]())
				continue
			}
			testutil.CheckRendered(t, "Config from "+u, cfg, envFuzzMarker)
			if strings.Contains(cfg.RedactedURL(), envFuzzMarker) {
				t.Fatalf("RedactedURL of %s shows the password", u)
			}
		}
	})
}
