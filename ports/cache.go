package ports

import (
	"context"
	"time"
)

// MaxValueBytes is the largest value a Cache stores (Redis' 512 MiB
// limit on a string).
const MaxValueBytes = 512 << 20

// Cache is a key-value cache with expiry, with Redis semantics.
//
// Rules every Cache follows: a TTL of 0 means no expiry; a negative TTL is
// ErrInvalid; a positive TTL below a millisecond counts as one millisecond
// (Redis' resolution), and any positive time.Duration is accepted. An empty
// key is ErrInvalid; keys and values are bytes (any content). A value, or
// a key (with the prefix, when one is configured), over MaxValueBytes is
// ErrInvalid before anything is sent. Reads see the
// caller's own completed writes (read-your-writes), whatever the batch
// size. A key prefix, where an implementation is configured with one, is
// applied to every key sent and never appears in returned keys.
//
// Methods that take several keys (GetMany, Delete) check all of them
// before sending any.
type Cache interface {
	// Get returns the value under key, or ErrNotFound on a miss (an absent
	// or expired key).
	Get(ctx context.Context, key string) ([]byte, error)

	// GetMany returns the values of the keys that exist; missing keys are
	// absent from the map (never an error). No key is a no-op.
	GetMany(ctx context.Context, keys ...string) (map[string][]byte, error)

	// Set stores value under key, replacing any value and TTL.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error

	// SetNX stores value under key only when key is absent and reports
	// whether it did.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)

	// Delete removes the keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error

	// Incr adds delta to the integer under key (0 when absent, then stored
	// without expiry; an existing key keeps its TTL) and returns the new
	// value. It returns ErrInvalid when the value is not a base-10 int64 or
	// the result would overflow.
	Incr(ctx context.Context, key string, delta int64) (int64, error)
}
