// Package redis implements [ports.Cache] and [ports.Connector] over
// github.com/redis/rueidis: one Redis server, a Redis Cluster or a
// Sentinel-managed master set, with optional server-assisted client-side
// caching.
//
// # Configuration
//
// [ConfigFromEnv] reads these variables:
//
//	REDIS_URL                    required. redis://[user:password@]host:port[/db]
//	                             rediss://... for TLS, unix://[user:password@]/path.sock?db=N,
//	                             redis://host1:port?addr=host2:port&addr=host3:port for a cluster,
//	                             redis://sentinel1:26379?addr=sentinel2:26379&master_set=mymaster
//	                             for Sentinel. Parsed by rueidis.ParseURL, so its query
//	                             parameters (dial_timeout, skip_verify, protocol, client_name,
//	                             max_retries=0, ...) apply.
//	REDIS_CLIENT_CACHE_TTL       opt-in client-side caching: the longest time a value is served
//	                             from local memory (e.g. 30s). Unset or 0: off.
//	REDIS_CLIENT_CACHE_REQUIRED  true: Open fails when the server cannot track keys (RESP3
//	                             CLIENT TRACKING), instead of falling back to plain reads.
//	REDIS_DIAL_TIMEOUT           bound on connecting and the first PING (default 5s).
//	REDIS_CHECK_TIMEOUT          bound on Check's PING (default 5s).
//	REDIS_SENTINEL_PASSWORD      password of the sentinels themselves, when they require one.
//
// A bad value is an error that names the variable and wraps
// [ports.ErrInvalid]; no error or log line ever shows a password, and
// [Config] redacts itself when printed or logged.
//
// # Semantics
//
// A TTL of 0 stores a key without expiry (SET without EX/PX); a positive TTL
// is sent in milliseconds (PX), rounded up to 1ms. GetMany and a multi-key
// Delete split their keys by hash slot on a cluster, so keys in different
// slots work. A miss is [ports.ErrNotFound], an empty key or negative TTL
// [ports.ErrInvalid] (nothing is sent), a connection failure or timeout
// [ports.ErrUnavailable] wrapping rueidis' error, and every call after Close
// [ports.ErrClosed]. Read-only commands are retried at most 3 times on a
// network error (rueidis alone would retry until the context ends).
//
// # Client-side caching
//
// With a client cache TTL, Get and GetMany go through rueidis' DoCache: a
// hot key is answered from local memory, and Redis pushes an invalidation
// to the client when any client writes the key. Get returns a copy of the
// cached bytes, so callers may modify what they receive.
package redis
