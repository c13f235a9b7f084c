package redis

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := ConfigFromEnviron(map[string]string{
		EnvURL:                 "redis://app:pw@cache.internal:6380/3",
		EnvClientCacheTTL:      "30s",
		EnvClientCacheRequired: "true",
		EnvDialTimeout:         "2s",
		EnvCheckTimeout:        "750ms",
		EnvSentinelPassword:    "sentinel-pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		URL:                 "redis://app:pw@cache.internal:6380/3",
		ClientCacheTTL:      30 * time.Second,
		ClientCacheRequired: true,
		DialTimeout:         2 * time.Second,
		CheckTimeout:        750 * time.Millisecond,
		SentinelPassword:    "sentinel-pw",
	}
	if cfg != want {
		t.Errorf("ConfigFromEnv = %+v, want %+v", cfg.LogValue(), want.LogValue())
	}

	cfg, err = ConfigFromEnviron(map[string]string{EnvURL: "redis://localhost:6379"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientCacheTTL != 0 || cfg.dialTimeout() != DefaultDialTimeout || cfg.checkTimeout() != ports.DefaultCheckTimeout {
		t.Errorf("defaults: cache ttl %v, dial %v, check %v; want 0, %v, %v",
			cfg.ClientCacheTTL, cfg.dialTimeout(), cfg.checkTimeout(), DefaultDialTimeout, ports.DefaultCheckTimeout)
	}
}

// TestConfigFromEnvErrors: a bad value is ErrInvalid naming the variable,
// and never shows the password.
func TestConfigFromEnvErrors(t *testing.T) {
	t.Parallel()
	const secret = "Sup3rS3cret"
	good := "redis://app:" + secret + "@localhost:6379/0"
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"missing URL", map[string]string{}, EnvURL},
		{"bad duration", map[string]string{EnvURL: good, EnvDialTimeout: "soon"}, EnvDialTimeout},
		{"bad check timeout", map[string]string{EnvURL: good, EnvCheckTimeout: "5"}, EnvCheckTimeout},
		{"bad cache ttl", map[string]string{EnvURL: good, EnvClientCacheTTL: "1 minute"}, EnvClientCacheTTL},
		{"negative cache ttl", map[string]string{EnvURL: good, EnvClientCacheTTL: "-1s"}, EnvClientCacheTTL},
		{"negative dial timeout", map[string]string{EnvURL: good, EnvDialTimeout: "-1s"}, EnvDialTimeout},
		{"bad bool", map[string]string{EnvURL: good, EnvClientCacheRequired: "maybe"}, EnvClientCacheRequired},
		{"bad scheme", map[string]string{EnvURL: "http://app:" + secret + "@localhost"}, EnvURL},
		{"no scheme", map[string]string{EnvURL: "app:" + secret + "@localhost:6379"}, EnvURL},
		{"bad port", map[string]string{EnvURL: "redis://app:" + secret + "@localhost:port"}, EnvURL},
		{"bad db", map[string]string{EnvURL: "redis://app:" + secret + "@localhost:6379/zero"}, EnvURL},
		{"deep path", map[string]string{EnvURL: "redis://app:" + secret + "@localhost:6379/0/1"}, EnvURL},
		{"bad query", map[string]string{EnvURL: "redis://app:" + secret + "@localhost:6379?dial_timeout=x"}, EnvURL},
		{"slash in password", map[string]string{EnvURL: "redis://app:ab/" + secret + "@localhost:6379"}, EnvURL},
		{"slash and port in password", map[string]string{EnvURL: "redis://app:12@h/" + secret + "@localhost:6379"}, EnvURL},
		{"question mark in password", map[string]string{EnvURL: "redis://app:12?" + secret + "@localhost"}, EnvURL},
		{"hash in password", map[string]string{EnvURL: "redis://app:12#" + secret + "@localhost"}, EnvURL},
		{"cache off in URL", map[string]string{EnvURL: good + "?client_cache=0", EnvClientCacheTTL: "1m"}, EnvClientCacheTTL},
		{"sentinel password", map[string]string{EnvURL: good, EnvSentinelPassword: secret, EnvCheckTimeout: "x"}, EnvCheckTimeout},
		{"password in user info and query", map[string]string{EnvURL: good + "?password=" + secret}, EnvURL},
		{"password twice in the query", map[string]string{EnvURL: "redis://h:6379/0?password=" + secret + "&password=" + secret}, EnvURL},
		{"database in path and query differ", map[string]string{EnvURL: "redis://:" + secret + "@h:6379/1?db=2"}, EnvURL},
		{"query password and bad db", map[string]string{EnvURL: "redis://h:6379/x?password=" + secret}, EnvURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromEnviron(tc.env)
			if err == nil {
				t.Fatalf("no error")
			}
			if !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("err %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantVar) {
				t.Errorf("err %q does not name %s", err, tc.wantVar)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("err %q shows the password", err)
			}
		})
	}
}

// TestClientOption checks what each URL form becomes.
func TestClientOption(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) {
		opt, err := Config{URL: "redis://app:pw@h:6380/4", DialTimeout: 2 * time.Second}.clientOption()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(opt.InitAddress) != "[h:6380]" || opt.Username != "app" || opt.Password != "pw" || opt.SelectDB != 4 {
			t.Errorf("got addrs %v user %q db %d", opt.InitAddress, opt.Username, opt.SelectDB)
		}
		if !opt.DisableCache || opt.Dialer.Timeout != 2*time.Second || opt.TLSConfig != nil {
			t.Errorf("got DisableCache %v, dial timeout %v, TLS %v; want true, 2s, nil", opt.DisableCache, opt.Dialer.Timeout, opt.TLSConfig)
		}
	})
	t.Run("tls and cache", func(t *testing.T) {
		opt, err := Config{URL: "rediss://h.example:6390", ClientCacheTTL: time.Minute}.clientOption()
		if err != nil {
			t.Fatal(err)
		}
		if opt.TLSConfig == nil || opt.TLSConfig.ServerName != "h.example" {
			t.Errorf("rediss:// gave TLS config %v, want one for h.example", opt.TLSConfig)
		}
		if opt.DisableCache || opt.Dialer.Timeout != DefaultDialTimeout {
			t.Errorf("got DisableCache %v, dial timeout %v; want false, %v", opt.DisableCache, opt.Dialer.Timeout, DefaultDialTimeout)
		}
	})
	t.Run("unix", func(t *testing.T) {
		opt, err := Config{URL: "unix://:pw@/run/redis/redis.sock?db=2"}.clientOption()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(opt.InitAddress) != "[/run/redis/redis.sock]" || opt.SelectDB != 2 || opt.Password != "pw" || opt.DialCtxFn == nil {
			t.Errorf("got addrs %v db %d", opt.InitAddress, opt.SelectDB)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		opt, err := Config{URL: "redis://127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003"}.clientOption()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(opt.InitAddress) != "[127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003]" {
			t.Errorf("got addrs %v", opt.InitAddress)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		opt, err := Config{URL: "redis://:masterpw@s1:26379?addr=s2:26379&master_set=mymaster", SentinelPassword: "spw"}.clientOption()
		if err != nil {
			t.Fatal(err)
		}
		if opt.Sentinel.MasterSet != "mymaster" || opt.Sentinel.Password != "spw" || opt.Password != "masterpw" || len(opt.InitAddress) != 2 {
			t.Errorf("got master set %q, sentinel password set %v, addrs %v", opt.Sentinel.MasterSet, opt.Sentinel.Password != "", opt.InitAddress)
		}
	})
	t.Run("password in the query", func(t *testing.T) {
		// The form of redis-py and others; rueidis.ParseURL ignores it.
		opt, err := Config{URL: "redis://app@h:6379/2?password=p%26w%2Bd"}.clientOption()
		if err != nil {
			t.Fatal(err)
		}
		if opt.Password != "p&w+d" || opt.Username != "app" || opt.SelectDB != 2 {
			t.Errorf("got password %q, user %q, db %d; want p&w+d, app, 2", opt.Password, opt.Username, opt.SelectDB)
		}
	})
	t.Run("trailing slash and ?db=", func(t *testing.T) {
		for url, db := range map[string]int{
			"redis://127.0.0.1:6379/":          0,
			"redis://127.0.0.1:6379/?db=5":     5,
			"redis://127.0.0.1:6379?db=5":      5,
			"rediss://127.0.0.1:6379/?db=3":    3,
			"redis://127.0.0.1:6379/4?db=4":    4,
			"redis://:pw@127.0.0.1:6379/?db=1": 1,
		} {
			opt, err := Config{URL: url}.clientOption()
			if err != nil {
				t.Errorf("%s: %v", url, err)
				continue
			}
			if opt.SelectDB != db || fmt.Sprint(opt.InitAddress) != "[127.0.0.1:6379]" {
				t.Errorf("%s: db %d addrs %v, want %d [127.0.0.1:6379]", url, opt.SelectDB, opt.InitAddress, db)
			}
		}
	})
	t.Run("dial_timeout in URL wins", func(t *testing.T) {
		opt, err := Config{URL: "redis://h?dial_timeout=1500ms", DialTimeout: time.Minute}.clientOption()
		if err != nil {
			t.Fatal(err)
		}
		if opt.Dialer.Timeout != 1500*time.Millisecond {
			t.Errorf("dial timeout %v, want 1.5s", opt.Dialer.Timeout)
		}
	})
}

// TestConfigRedaction: every way of printing or logging a Config hides the
// passwords.
func TestConfigRedaction(t *testing.T) {
	t.Parallel()
	const secret, sentinelSecret = "hunter2-redis", "hunter3-sentinel"
	cfg := Config{URL: "redis://app:" + secret + "@h:6379/0", SentinelPassword: sentinelSecret, ClientCacheTTL: time.Second}
	query := Config{URL: "redis://app@h:6379/0?protocol=3&password=" + secret + "&Pass%77ord=" + secret}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "config", cfg, "ptr", &cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "config", cfg)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%s": fmt.Sprintf("%s", cfg), "%q": fmt.Sprintf("%q", cfg), "%v of a pointer": fmt.Sprintf("%v", &cfg),
		"%+v of a struct holding it": fmt.Sprintf("%+v", struct{ C Config }{cfg}),
		"%#v of a struct holding it": fmt.Sprintf("%#v", struct{ C Config }{cfg}),
		"slog":                       logs.String(),
		"RedactedURL":                cfg.RedactedURL(),
	}
	var qlogs bytes.Buffer
	slog.New(slog.NewJSONHandler(&qlogs, nil)).Info("cfg", "config", query)
	slog.New(slog.NewTextHandler(&qlogs, nil)).Info("cfg", "config", query)
	for what, out := range map[string]string{
		"%v": fmt.Sprintf("%v", query), "%+v": fmt.Sprintf("%+v", query), "%#v": fmt.Sprintf("%#v", query),
		"%s": fmt.Sprintf("%s", query), "%q": fmt.Sprintf("%q", query), "slog": qlogs.String(), "RedactedURL": query.RedactedURL(),
	} {
		if strings.Contains(out, secret) || !strings.Contains(out, "password=xxxxx&Pass%77ord=xxxxx") {
			t.Errorf("?password=: %s does not hide it: %s", what, out)
		}
	}
	for what, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, sentinelSecret) {
			t.Errorf("%s shows a password: %s", what, out)
		}
		if !strings.Contains(out, "app:xxxxx@h:6379") {
			t.Errorf("%s does not show the redacted URL: %s", what, out)
		}
	}
	if !strings.Contains(logs.String(), `"client_cache_ttl":1000000000`) {
		t.Errorf("slog output lacks the non-secret fields: %s", logs.String())
	}
	for _, bad := range []string{"redis://app:ab/" + secret + "@h", "app:" + secret + "@h:1", "redis://app:1@h/" + secret + "@h2"} {
		if got := (Config{URL: bad}).String(); strings.Contains(got, secret) {
			t.Errorf("String of a malformed URL shows the password: %s", got)
		}
	}
}

// FuzzConfigNoSecret: whatever surrounds it in the URL, a password never
// shows in Validate's error, String or RedactedURL. The password is
// before + "QZQZQZ" + after, and the fuzzed parts hold no Q or Z, so any
// QZQZQZ in an output is the password leaking (escaping only adds '%' and
// hex digits).
func FuzzConfigNoSecret(f *testing.F) {
	f.Add("app", "secret", "pw", "localhost:6379/0")
	f.Add("", "se/cr", "?et#pw", "h:1")
	f.Add("u", "12@h/", "zzz", "h")
	f.Add("u", "p%", "secret", "h:6379?addr=h2")
	f.Fuzz(func(t *testing.T, user, before, after, rest string) {
		const core = "QZQZQZ"
		if strings.ContainsAny(user+before+after+rest, "QZ") {
			t.Skip()
		}
		raw := "redis://" + user + ":" + before + core + after + "@" + rest
		cfg := Config{URL: raw}
		outs := []string{cfg.String(), cfg.RedactedURL(), fmt.Sprintf("%#v", cfg)}
		if err := cfg.Validate(); err != nil {
			outs = append(outs, err.Error())
		}
		for _, out := range outs {
			if strings.Contains(out, core) {
				t.Fatalf("URL %q: output shows the password: %s", raw, out)
			}
		}
	})
}
