package redis

import (
	"context"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/open/driver"
)

// Scheme returns the redis:// and rediss:// (TLS) scheme of the Cache
// port, for package open:
//
//	rediss://:password@host:6380/0?key_prefix=orders:&client_cache_ttl=30s
//
// The URL is the adapter's URL form (Config.URL, with rueidis' parameters
// and ?password=); a lower-case parameter named after one of the adapter's
// variables without its REDIS_ prefix sets that variable instead
// (key_prefix=orders: for REDIS_KEY_PREFIX, client_cache_ttl=30s,
// dial_timeout=2s, check_timeout=1s), overriding the environment, and the
// other variables (REDIS_SENTINEL_PASSWORD, say) come from the
// environment as ConfigFromEnviron reads them.
func Scheme() driver.Scheme {
	return driver.Scheme{Names: []string{"redis", "rediss"}, Backend: backend, Cache: openURL}
}

func urlVars() driver.Vars {
	return driver.Vars{Prefix: "REDIS_", All: envconfig.Vars[Config](), URL: EnvURL, Replaced: []string{EnvURL}}
}

func openURL(ctx context.Context, r driver.Request) (driver.Cache, error) {
	env, err := r.Env(urlVars())
	if err != nil {
		return driver.Cache{}, err
	}
	cfg, err := ConfigFromEnviron(env.Vars)
	if err != nil {
		return driver.Cache{}, err
	}
	c, err := Open(ctx, cfg, WithLogger(r.Logger))
	if err != nil {
		return driver.Cache{}, err
	}
	return driver.Cache{Cache: c, Connector: c, Target: cfg.RedactedURL()}, nil
}
