package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-googlecloud/v2/pkg/googlecloud"
	"github.com/ThreeDotsLabs/watermill/message"

	pspubsub "github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/ports"
)

// pubsubBatch is the number of messages every Pub/Sub benchmark op
// publishes or receives.
const pubsubBatch = 10_000

// pubsubProject is the project of the benchmarks' topics (the emulator
// accepts any).
const pubsubProject = "portkit-bench"

// pubsubBench is what the Pub/Sub benchmarks share: the emulator's
// address, the port, and the raw client on the same emulator.
type pubsubBench struct {
	ctx  context.Context
	host string
	port *pspubsub.PubSub
	raw  *pubsub.Client
}

// newPubSubBench opens the adapter (default settings) and a raw client
// (default settings) on the emulator at PUBSUB_EMULATOR_HOST, or skips.
func newPubSubBench(b *testing.B) *pubsubBench {
	b.Helper()
	host := os.Getenv("PUBSUB_EMULATOR_HOST")
	if host == "" {
		b.Skip("pubsub backend unavailable: PUBSUB_EMULATOR_HOST is not set (.ci/servers/pubsub-emulator.sh start)")
	}
	ctx := context.Background()
	port, err := pspubsub.Open(ctx, pspubsub.Config{ProjectID: pubsubProject, EmulatorHost: host},
		pspubsub.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Skipf("pubsub backend unavailable: %v", err)
	}
	b.Cleanup(func() { _ = port.Close(context.Background()) })
	// The raw client reads PUBSUB_EMULATOR_HOST itself.
	raw, err := pubsub.NewClient(ctx, pubsubProject)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = raw.Close() })
	pb := &pubsubBench{ctx: ctx, host: host, port: port, raw: raw}
	b.Cleanup(func() { waitKeepAlivesGone(b) }) // runs after the Closes above
	pb.warmUp(b)
	return pb
}

// waitKeepAlivesGone waits (at most 15s) until the client's StreamingPull
// keep-alive goroutines have exited. Each stream has one that checks for
// shutdown only between ticks of a 10s ticker (pubsub/v2 v2.9.0,
// iterator.go streamKeepAliveHandler), so it outlives Receive and Close by
// up to 10s; TestMain's goleak check would report it.
func waitKeepAlivesGone(b *testing.B) {
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if !strings.Contains(string(buf[:n]), "streamKeepAliveHandler") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Log("pubsub keep-alive goroutines still running after 15s")
}

// warmUp publishes and receives a few batches with the raw client, untimed,
// so that the emulator's JVM has compiled its hot paths before the first
// variant runs: on a fresh emulator, whichever variant came first ran up to
// 2x slower.
func (pb *pubsubBench) warmUp(b *testing.B) {
	b.Helper()
	topic := pb.topic(b)
	sub := uniqueName("warm")
	if err := pb.port.EnsureSubscription(pb.ctx, sub, ports.SubscriptionConfig{Topic: topic}); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = pb.port.DeleteSubscription(context.Background(), sub) }()
	pub := pb.raw.Publisher(topic)
	defer pub.Stop()
	const rounds = 3
	results := make([]*pubsub.PublishResult, 0, rounds*pubsubBatch)
	for range rounds * pubsubBatch {
		results = append(results, pub.Publish(pb.ctx, &pubsub.Message{Data: []byte("warm-up")}))
	}
	for _, r := range results {
		if _, err := r.Get(pb.ctx); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(pb.ctx, time.Minute)
	defer cancel()
	var n atomic.Int64
	err := pb.raw.Subscriber(sub).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		if n.Add(1) == rounds*pubsubBatch {
			cancel()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
}

func uniqueName(prefix string) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return prefix + "_" + hex.EncodeToString(r[:])
}

// topic creates a fresh topic.
func (pb *pubsubBench) topic(b *testing.B) string {
	b.Helper()
	t := uniqueName("bench")
	if err := pb.port.EnsureTopic(pb.ctx, t); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pb.port.DeleteTopic(context.Background(), t) })
	return t
}

// payloads are the messages of every variant: 100 bytes of data and one
// 36-byte attribute (watermill adds its UUID as one).
func payloads() (data [][]byte, ids []string) {
	data = make([][]byte, pubsubBatch)
	ids = make([]string, pubsubBatch)
	for i := range data {
		d := make([]byte, 100)
		_, _ = rand.Read(d)
		data[i] = d
		ids[i] = watermill.NewUUID()
	}
	return data, ids
}

// reportRate reports messages per second over the timed part of the run.
func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(pubsubBatch*b.N)/s, "msgs/s")
	}
}

// BenchmarkPublish10k publishes 10,000 messages per op and waits until the
// server has confirmed every one:
//
//   - port: one Publish call of 10,000 messages (default Config): all handed
//     to the client's batcher, then the results collected;
//   - raw-batched: the raw client with its default settings, every message
//     published before any result is awaited (the client at its best);
//   - watermill: watermill-googlecloud v2.0.0's Publisher with its defaults
//     but a longer PublishTimeout (its 5s bound the whole call), which waits
//     for each message's result before publishing the next.
func BenchmarkPublish10k(b *testing.B) {
	pb := newPubSubBench(b)
	data, uuids := payloads()

	b.Run("port", func(b *testing.B) {
		topic := pb.topic(b)
		msgs := make([]ports.Message, pubsubBatch)
		for i := range msgs {
			msgs[i] = ports.Message{Data: data[i], Attributes: map[string]string{"uuid": uuids[i]}}
		}
		b.ResetTimer()
		for range b.N {
			if _, err := pb.port.Publish(pb.ctx, topic, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})

	b.Run("raw-batched", func(b *testing.B) {
		topic := pb.topic(b)
		pub := pb.raw.Publisher(topic)
		defer pub.Stop()
		results := make([]*pubsub.PublishResult, pubsubBatch)
		b.ResetTimer()
		for range b.N {
			for i := range results {
				results[i] = pub.Publish(pb.ctx, &pubsub.Message{Data: data[i], Attributes: map[string]string{"uuid": uuids[i]}})
			}
			for _, r := range results {
				if _, err := r.Get(pb.ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		reportRate(b)
	})

	b.Run("watermill", func(b *testing.B) {
		topic := pb.topic(b)
		pub, err := googlecloud.NewPublisher(googlecloud.PublisherConfig{
			ProjectID:                 pubsubProject,
			DoNotCreateTopicIfMissing: true,
			// Its default, 5s, bounds the whole Publish call, not each
			// message: 10,000 messages would fail after ~350.
			PublishTimeout: 30 * time.Minute,
		}, watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		defer pub.Close()
		msgs := make([]*message.Message, pubsubBatch)
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			for i := range msgs {
				msgs[i] = message.NewMessage(uuids[i], data[i]) // watermill sets metadata on publish: fresh messages
			}
			b.StartTimer()
			if err := pub.Publish(topic, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

// BenchmarkReceive10k receives and acks 10,000 messages per op, published
// beforehand (untimed) to a fresh subscription:
//
//   - port: Subscribe with the default Config (4 streams);
//   - raw-default: the raw client's Receive with its default settings (1
//     stream).
func BenchmarkReceive10k(b *testing.B) {
	pb := newPubSubBench(b)
	data, uuids := payloads()
	msgs := make([]ports.Message, pubsubBatch)
	for i := range msgs {
		msgs[i] = ports.Message{Data: data[i], Attributes: map[string]string{"uuid": uuids[i]}}
	}

	// fill creates a subscription, publishes the batch to it, and returns
	// its name; the subscription is deleted when b ends.
	fill := func(b *testing.B, topic string) string {
		b.Helper()
		sub := uniqueName("bench")
		if err := pb.port.EnsureSubscription(pb.ctx, sub, ports.SubscriptionConfig{Topic: topic, AckDeadline: 60 * time.Second}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = pb.raw.SubscriptionAdminClient.DeleteSubscription(context.Background(),
				&pubsubpb.DeleteSubscriptionRequest{Subscription: fmt.Sprintf("projects/%s/subscriptions/%s", pubsubProject, sub)})
		})
		if _, err := pb.port.Publish(pb.ctx, topic, msgs...); err != nil {
			b.Fatal(err)
		}
		return sub
	}

	b.Run("port", func(b *testing.B) {
		topic := pb.topic(b)
		for range b.N {
			b.StopTimer()
			sub := fill(b, topic)
			b.StartTimer()
			ctx, cancel := context.WithTimeout(pb.ctx, 5*time.Minute)
			var n atomic.Int64
			err := pb.port.Subscribe(ctx, sub, func(context.Context, ports.Message) error {
				if n.Add(1) == pubsubBatch {
					cancel()
				}
				return nil
			})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if n.Load() < pubsubBatch {
				b.Fatalf("received %d of %d", n.Load(), pubsubBatch)
			}
		}
		reportRate(b)
	})

	b.Run("raw-default", func(b *testing.B) {
		topic := pb.topic(b)
		for range b.N {
			b.StopTimer()
			sub := fill(b, topic)
			s := pb.raw.Subscriber(sub)
			b.StartTimer()
			ctx, cancel := context.WithTimeout(pb.ctx, 5*time.Minute)
			var n atomic.Int64
			err := s.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
				m.Ack()
				if n.Add(1) == pubsubBatch {
					cancel()
				}
			})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if n.Load() < pubsubBatch {
				b.Fatalf("received %d of %d", n.Load(), pubsubBatch)
			}
		}
		reportRate(b)
	})
}
