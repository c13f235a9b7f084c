package messaging

import (
	"container/list"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/portkit/portkit/ports"
)

// DeliveryCounter counts the failed deliveries of messages for
// [DeadLetter] on backends that do not report Message.DeliveryAttempt
// (Google Pub/Sub without a dead-letter policy, the fake likewise).
type DeliveryCounter interface {
	// Failed records one more failed delivery of the message with key
	// (see MessageKey) and returns how many it has had.
	Failed(ctx context.Context, key string) (int, error)
	// Forget drops the count of key, once its message is acked.
	Forget(ctx context.Context, key string) error
}

// LocalCounter is a DeliveryCounter in process memory, bounded to the most
// recently failed keys. It counts the deliveries that reached this
// process only: with R replicas sharing a subscription, a message may be
// delivered up to R·N times before one of them dead-letters it, and a
// restart forgets the counts. Use a [CacheCounter] to count across
// replicas.
type LocalCounter struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *counted, most recently failed at the front
	byKey map[string]*list.Element
}

type counted struct {
	key string
	n   int
}

// NewLocalCounter returns a LocalCounter that remembers up to size keys
// (10 000 when size <= 0), forgetting the least recently failed first.
func NewLocalCounter(size int) *LocalCounter {
	if size <= 0 {
		size = 10_000
	}
	return &LocalCounter{max: size, order: list.New(), byKey: make(map[string]*list.Element)}
}

// Failed implements DeliveryCounter.
func (c *LocalCounter) Failed(_ context.Context, key string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		e.Value.(*counted).n++
		c.order.MoveToFront(e)
		return e.Value.(*counted).n, nil
	}
	c.byKey[key] = c.order.PushFront(&counted{key: key, n: 1})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*counted).key)
	}
	return 1, nil
}

// Forget implements DeliveryCounter.
func (c *LocalCounter) Forget(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.Remove(e)
		delete(c.byKey, key)
	}
	return nil
}

// Len returns how many keys the counter holds.
func (c *LocalCounter) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// CacheCounter is a DeliveryCounter in a ports.Cache (Redis), shared by
// every replica: each count lives under Prefix+key for TTL after the
// message's first failure.
type CacheCounter struct {
	Cache  ports.Cache
	Prefix string        // prepended to every key, e.g. "dl:projector:"
	TTL    time.Duration // how long a count lives (24 h when 0)
}

// Failed implements DeliveryCounter: SetNX starts the count with its TTL,
// Incr adds the failure (Incr keeps the TTL).
func (c CacheCounter) Failed(ctx context.Context, key string) (int, error) {
	ttl := c.TTL
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	k := c.Prefix + key
	if _, err := c.Cache.SetNX(ctx, k, []byte(strconv.Itoa(0)), ttl); err != nil {
		return 0, err
	}
	n, err := c.Cache.Incr(ctx, k, 1)
	return int(n), err
}

// Forget implements DeliveryCounter.
func (c CacheCounter) Forget(ctx context.Context, key string) error {
	return c.Cache.Delete(ctx, c.Prefix+key)
}
