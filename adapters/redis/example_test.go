package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/ports"
)

// Open a Cache from REDIS_URL (and the other REDIS_* variables), use it
// through the port, and close it on shutdown. It needs a Redis server, so
// it has no Output line: it is compiled, not run.
func Example() {
	ctx := context.Background()
	cfg, err := redis.ConfigFromEnv() // e.g. REDIS_URL=redis://:password@127.0.0.1:6379/0
	if err != nil {
		log.Fatal(err) // names the variable, never shows the password
	}
	c, err := redis.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()

	var cache ports.Cache = c
	if err := cache.Set(ctx, "greeting", []byte("hello"), 10*time.Minute); err != nil {
		log.Fatal(err)
	}
	v, err := cache.Get(ctx, "greeting")
	switch {
	case errors.Is(err, ports.ErrNotFound):
		fmt.Println("miss")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(string(v))
	}
}

// Client-side caching: hot keys are served from local memory for up to
// ClientCacheTTL, and Redis invalidates them when any client writes them.
func ExampleOpen_clientSideCaching() {
	c, err := redis.Open(context.Background(), redis.Config{
		URL:            "redis://127.0.0.1:6379/0",
		ClientCacheTTL: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	_, _ = c.Get(context.Background(), "hot-key") // a network round trip, then local hits
}

// A Config prints and logs with its password redacted.
func ExampleConfig_String() {
	cfg := redis.Config{URL: "redis://app:s3cret@cache.internal:6379/0", ClientCacheTTL: time.Minute}
	fmt.Println(cfg)
	// Output: redis.Config{URL:"redis://app:xxxxx@cache.internal:6379/0" ClientCacheTTL:1m0s}
}

// Services that share one Redis keep their keys apart with a prefix
// (REDIS_KEY_PREFIX, or WithKeyPrefix): "orders:" is sent before every
// key, and GetMany returns the keys as the caller named them.
func ExampleWithKeyPrefix() {
	ctx := context.Background()
	c, err := redis.Open(ctx, redis.Config{URL: "redis://127.0.0.1:6379/0"}, redis.WithKeyPrefix("orders:"))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	_ = c.Set(ctx, "42", []byte("placed"), time.Hour) // SET orders:42 placed PX 3600000
	m, _ := c.GetMany(ctx, "42")                      // MGET orders:42
	fmt.Printf("%s\n", m["42"])
}

// Errors follow the classification table of package ports: a wrong
// password is ErrPermission, which retrying does not fix, while
// ErrUnavailable is worth retrying.
func ExampleOpen_errors() {
	_, err := redis.Open(context.Background(), redis.Config{URL: "redis://:wrong@127.0.0.1:6379/0"})
	switch {
	case errors.Is(err, ports.ErrPermission):
		log.Fatal("check REDIS_URL's credentials: ", err)
	case errors.Is(err, ports.ErrUnavailable):
		log.Print("Redis is not reachable yet; retrying later: ", err)
	}
}
