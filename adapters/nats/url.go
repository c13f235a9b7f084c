package nats

import (
	"context"
	"maps"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/open/driver"
)

// Scheme returns the nats:// scheme of the messaging port
// (Publisher, Subscriber and Admin), for package open:
//
//	nats://user:password@127.0.0.1:4222?prefix=orders&publish_timeout=5s
//	nats://a:4222,nats://b:4222          (a server list: no parameters)
//
// The URL is NATS_URL; a lower-case parameter named after one of the
// adapter's variables without its NATS_ prefix sets that variable
// (prefix, storage, replicas, publish_timeout, ...), overriding the
// environment; the other variables come from the environment as
// ConfigFromEnviron reads them. Any other parameter is ErrInvalid (the
// adapter refuses a URL with a query, so that a ?password= is never
// silently dropped).
func Scheme() driver.Scheme {
	return driver.Scheme{Names: []string{"nats"}, Backend: backend, OwnParser: true, PubSub: openURL}
}

func openURL(ctx context.Context, r driver.Request) (driver.PubSub, error) {
	var vars map[string]string
	target := ""
	if r.URL == nil { // a server list, which url.Parse refuses
		vars = maps.Clone(r.Environ)
		vars[EnvURL] = r.Raw
		target = redact.Conn(r.Raw)
	} else {
		env, err := r.Env(driver.Vars{Prefix: "NATS_", All: envconfig.Vars[Config](), URL: EnvURL, Replaced: []string{EnvURL}})
		if err != nil {
			return driver.PubSub{}, err
		}
		vars, target = env.Vars, redact.Conn(env.URL)
	}
	cfg, err := ConfigFromEnviron(vars)
	if err != nil {
		return driver.PubSub{}, err
	}
	n, err := Open(ctx, cfg, WithLogger(r.Logger))
	if err != nil {
		return driver.PubSub{}, err
	}
	return driver.PubSub{Publisher: n, Subscriber: n, Admin: n, Connector: n, Target: target}, nil
}
