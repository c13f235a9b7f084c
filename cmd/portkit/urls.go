package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/open"
	"github.com/portkit/portkit/ports"
)

// DefaultPrefix starts the URL variables check reads unless -prefix says
// otherwise: PORTKIT_SQL_URL, PORTKIT_DOC_URL, PORTKIT_CACHE_URL,
// PORTKIT_PUBSUB_URL.
const DefaultPrefix = "PORTKIT_"

// newMux is the Mux of every scheme portkit links; a new adapter's scheme
// is one line here.
func newMux() *open.Mux {
	return open.New(fakes.Schemes(), mysql.Scheme(), postgres.Scheme(), mongo.Scheme(), redis.Scheme(), pubsub.Scheme(), nats.Scheme())
}

// urlPorts are the ports check opens from URL variables, in report order,
// with the suffix of their variable.
var urlPorts = []struct{ port, suffix string }{
	{"sql", "SQL_URL"}, {"doc", "DOC_URL"}, {"cache", "CACHE_URL"}, {"pubsub", "PUBSUB_URL"},
}

var prefixRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*_$|^$`)

// urlBackends returns the backends of the URL variables of prefix, each
// opened through package open. The adapters' other variables are read
// from the environment, as the services read them.
func urlBackends(prefix string) []backend {
	m := newMux()
	out := make([]backend, 0, len(urlPorts))
	for _, p := range urlPorts {
		variable := prefix + p.suffix
		out = append(out, backend{name: p.port, vars: []string{variable}, prepare: func(lookup lookupFunc) (prepared, error) {
			raw, _ := lookup(variable)
			scheme, _, ok := strings.Cut(raw, "://")
			scheme = strings.ToLower(scheme)
			if !ok || !slices.Contains(m.Schemes(), scheme) {
				return prepared{}, ports.NewError("portkit", "config", ports.ErrInvalid,
					fmt.Errorf("%s: want a URL with one of the schemes %s", variable, strings.Join(m.Schemes(), ", ")))
			}
			if _, err := url.Parse(raw); err != nil {
				return prepared{}, ports.NewError("portkit", "config", ports.ErrInvalid, fmt.Errorf("%s: malformed %s:// URL", variable, scheme))
			}
			env := adapterEnviron(lookup)
			return prepared{target: redact.Conn(raw), open: func(ctx context.Context, logger *slog.Logger) (ports.Connector, error) {
				opts := []open.Option{open.WithEnviron(env), open.WithLogger(logger)}
				var c ports.Connector
				var err error
				switch p.port {
				case "sql":
					var h open.SQL
					h, err = m.OpenSQL(ctx, raw, opts...)
					c = h.Connector
				case "doc":
					var h open.Doc
					h, err = m.OpenDoc(ctx, raw, opts...)
					c = h.Connector
				case "cache":
					var h open.Cache
					h, err = m.OpenCache(ctx, raw, opts...)
					c = h.Connector
				default:
					var h open.PubSub
					h, err = m.OpenPubSub(ctx, raw, opts...)
					c = h.Connector
				}
				if err != nil {
					return nil, fmt.Errorf("%s: %w", variable, err)
				}
				return c, nil
			}}, nil
		}})
	}
	return out
}

// adapterEnviron is the environment the adapters read besides the URL:
// every variable of every linked adapter that lookup finds.
func adapterEnviron(lookup lookupFunc) map[string]string {
	env := envconfig.Environ[mysql.Config](lookup)
	maps.Copy(env, envconfig.Environ[mongo.Config](lookup))
	maps.Copy(env, envconfig.Environ[redis.Config](lookup))
	maps.Copy(env, envconfig.Environ[pubsub.Config](lookup, pubsub.EnvGoogleCloudProject))
	return env
}
