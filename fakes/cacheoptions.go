package fakes

// cacheConfig is what the Cache options set.
type cacheConfig struct {
	prefix string
	shared *cacheStore
}

// WithKeyPrefix makes a [Cache] prepend prefix to every key it stores
// and reads (ioredis' keyPrefix, adapters/redis' WithKeyPrefix): Caches of
// one store ([WithSharedStore]) with different prefixes do not see each
// other's keys. Returned keys (GetMany's map) never carry it, and it
// counts towards the key length limit. Other fakes ignore it.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.cache.prefix = prefix }
}

// WithSharedStore makes the new [Cache] a second client of other's store,
// as two clients of one Redis server are: they see the same keys (with
// [WithKeyPrefix], the same keys under each one's prefix), values and
// TTLs, follow other's clock (expiry is the server's business: WithClock
// is then ignored), and keep their own name, faults and closed state; the
// store drops its entries when the last of its Caches is closed. A nil
// other is ignored. Other fakes ignore it.
func WithSharedStore(other *Cache) Option {
	return func(c *config) {
		if other != nil {
			c.cache.shared = other.store
		}
	}
}
