package messagingtest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/messaging/messagingtest"
	"github.com/portkit/portkit/ports"
)

// TestPubSubAdapter runs the suite on the Pub/Sub adapter against pstest,
// in process, and against Google's emulator at PUBSUB_EMULATOR_HOST when
// it is set. (At integration this call belongs in the adapter's tests.)
func TestPubSubAdapter(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	t.Run("pstest", func(t *testing.T) { runOnAdapter(t, "") })
	t.Run("emulator", func(t *testing.T) {
		host := os.Getenv(pubsub.EnvEmulatorHost)
		if host == "" {
			testenv.Missing(t, "pubsub-emulator", pubsub.EnvEmulatorHost+" is not set")
		}
		runOnAdapter(t, host)
	})
}

func runOnAdapter(t *testing.T, host string) {
	messagingtest.Run(t, func(t *testing.T) messagingtest.Env {
		var srv *pstestserver.Server
		addr := host
		if addr == "" {
			var err error
			if srv, err = pstestserver.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			addr = srv.Addr
		}
		cfg := pubsub.Config{ProjectID: "portkit-test", EmulatorHost: addr}
		cfg.Receive.Streams = 4
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ps, err := pubsub.Open(ctx, cfg, pubsub.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		cache := fakes.NewCache()
		t.Cleanup(func() {
			_ = ps.Close(context.Background())
			if srv != nil {
				_ = srv.Close()
			}
			_ = cache.Close(context.Background())
		})
		return messagingtest.Env{Publisher: ps, Subscriber: ps, Admin: pubsubAdmin(ps), Cache: cache, Wait: 30 * time.Second}
	})
}

// pubsubAdmin returns the adapter's ports.Admin. TEMPORARY: until the
// adapter takes ports.SubscriptionConfig, adapterAdmin converts it.
func pubsubAdmin(ps *pubsub.PubSub) ports.Admin {
	if a, ok := any(ps).(ports.Admin); ok {
		return a
	}
	return adapterAdmin{ps}
}

type adapterAdmin struct{ ps *pubsub.PubSub }

func (a adapterAdmin) EnsureTopic(ctx context.Context, topic string) error {
	return a.ps.EnsureTopic(ctx, topic)
}

func (a adapterAdmin) EnsureSubscription(ctx context.Context, sub string, cfg ports.SubscriptionConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return a.ps.EnsureSubscription(ctx, sub, pubsub.SubscriptionConfig(cfg))
}
