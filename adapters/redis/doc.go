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
//	REDIS_KEY_PREFIX             prepended to every key sent (ioredis' keyPrefix), e.g. orders:
//
// A bad value is an error that names the variable and wraps
// [ports.ErrInvalid]; no error or log line ever shows a password, and
// [Config] redacts itself when printed or logged.
//
// # Semantics
//
// The rules of [ports.Cache] hold: a TTL of 0 stores a key without expiry
// (SET without EX/PX); a positive TTL is sent in milliseconds (PX), rounded
// up, so a TTL below 1ms counts as 1ms and time.Duration(math.MaxInt64)
// works; a value over [ports.MaxValueBytes] (512 MiB, Redis' limit) is
// [ports.ErrInvalid] before anything is sent. GetMany and a multi-key
// Delete split their keys by hash slot on a cluster, so keys in different
// slots work.
//
// A key prefix ([WithKeyPrefix], REDIS_KEY_PREFIX) is prepended to every
// key the Cache sends, PTTL fences included, so a cluster routes each key
// by the slot of the prefixed key; GetMany's map carries the keys as the
// caller named them.
//
// # Errors
//
// Every error is a *[ports.OpError] matching exactly one sentinel, by the
// classification table of package ports, with rueidis' error (and the
// server's *rueidis.RedisError) reachable with errors.As. The server's
// error replies are classified by their code: NOAUTH, WRONGPASS and NOPERM
// (a wrong password, an unknown user, an ACL refusal, at Open or on a
// call) are [ports.ErrPermission], not worth retrying; LOADING, BUSY,
// MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY, OOM, MISCONF and
// NOREPLICAS are [ports.ErrUnavailable]; any other reply (WRONGTYPE, a
// value that is not an integer, an unknown command...) is
// [ports.ErrInvalid]. A miss is [ports.ErrNotFound]; a failure without a
// reply (refused, reset, timed out) [ports.ErrUnavailable], and a write
// that failed so after it may have been sent wraps
// [ports.ErrOutcomeUnknown] too; a caller's ended context is
// [ports.ErrUnavailable] with the context's error reachable. Calls check,
// in this order: Close (then [ports.ErrClosed]), a nil context
// ([ports.ErrInvalid], never a panic), a done context, the arguments.
// Read-only commands are retried at most 3 times on a network error
// (rueidis alone would retry until the context ends).
//
// # Client-side caching
//
// With a client cache TTL, Get and GetMany go through rueidis' DoCache: a
// hot key is answered from local memory, and Redis pushes an invalidation
// to the client when any client writes the key. Get returns a copy of the
// cached bytes, so callers may modify what they receive. The Cache reads
// its own writes whatever their size: each write travels with a PTTL of
// its key on the connection that holds the local copy, and Delete splits
// a large batch into pipelines that rueidis keeps on that connection (it
// moves pipelines of 2000 commands or more to another one, whose
// invalidations would not be ordered with this client's reads).
package redis
