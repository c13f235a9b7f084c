package difftest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports/portstest"
)

var cacheAllow []portstest.Allowance

func TestDiffCache(t *testing.T) {
	url := testenv.Env(t, "redis", "REDIS_URL")
	modes := []struct {
		name string
		cfg  redis.Config
	}{
		{"SingleNode", redis.Config{URL: url}},
		{"ClientCache", redis.Config{URL: url, ClientCacheTTL: time.Minute, ClientCacheRequired: true}},
	}
	if u := os.Getenv("REDIS_CLUSTER_URL"); u != "" {
		modes = append(modes,
			struct {
				name string
				cfg  redis.Config
			}{"Cluster", redis.Config{URL: u}},
			struct {
				name string
				cfg  redis.Config
			}{"ClusterClientCache", redis.Config{URL: u, ClientCacheTTL: time.Minute, ClientCacheRequired: true}})
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			o := options(cacheOps)
			o.Allow, o.KeyPrefix = cacheAllow, "pk_pt:diff:"
			portstest.DiffCache(t, fakeCache, realCache(m.cfg), o)
		})
	}
}

// fakeCache is the fake on real time: Redis' clock cannot be advanced.
func fakeCache() (portstest.CacheSubject, error) {
	c := fakes.NewCache()
	return portstest.CacheSubject{Cache: c, Close: func() { _ = c.Close(context.Background()) }}, nil
}

func realCache(cfg redis.Config) func() (portstest.CacheSubject, error) {
	return func() (portstest.CacheSubject, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := redis.Open(ctx, cfg)
		if err != nil {
			return portstest.CacheSubject{}, err
		}
		return portstest.CacheSubject{Cache: c, Close: func() { _ = c.Close(context.Background()) }}, nil
	}
}
