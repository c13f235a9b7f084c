package nats_test

import (
	"context"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/messaging/messagingtest"
)

// TestMessaging runs the middleware and Runner suite of package messaging
// on the adapter.
func TestMessaging(t *testing.T) {
	cfg := testConfig(t)
	messagingtest.Run(t, func(t *testing.T) messagingtest.Env {
		n := open(t, cfg)
		cache := fakes.NewCache()
		t.Cleanup(func() { _ = cache.Close(context.Background()) })
		return messagingtest.Env{Publisher: n, Subscriber: n, Admin: n, Cache: cache, Prefix: "pk-nats", Wait: 30 * time.Second}
	})
}
