package redis

import (
	"testing"
	"time"

	"github.com/portkit/portkit/ports/portstest"
)

// runSuites runs the Cache and Connector conformance suites on Caches
// opened with cfg.
func runSuites(t *testing.T, cfg Config) {
	portstest.TestCache(t, func(t *testing.T) portstest.CacheSetup {
		c := openT(t, cfg)
		return portstest.CacheSetup{Cache: c, Connector: c}
	})
	portstest.TestConnector(t, func(t *testing.T) portstest.ConnectorSetup {
		return portstest.ConnectorSetup{Connector: openT(t, cfg), Name: "redis"}
	})
}

// TestConformance runs the suites on the server of REDIS_URL.
func TestConformance(t *testing.T) {
	runSuites(t, Config{URL: redisURL(t)})
}

// TestConformanceClientCache runs the suites with client-side caching on
// (and required, so that a silent fallback cannot make it pass).
func TestConformanceClientCache(t *testing.T) {
	runSuites(t, Config{URL: redisURL(t), ClientCacheTTL: time.Minute, ClientCacheRequired: true})
}

// TestConformanceCluster runs the suites on the Redis Cluster of
// REDIS_CLUSTER_URL (make test starts one: .ci/servers/redis-cluster.sh),
// without and with client-side caching. The suite's keys land in
// different hash slots, so GetMany and Delete cross slots and nodes.
func TestConformanceCluster(t *testing.T) {
	u := clusterURL(t)
	t.Run("plain", func(t *testing.T) { runSuites(t, Config{URL: u}) })
	t.Run("client-cache", func(t *testing.T) {
		runSuites(t, Config{URL: u, ClientCacheTTL: time.Minute, ClientCacheRequired: true})
	})
}
