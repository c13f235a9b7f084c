package bench

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/ports"
)

// natsBatch is the number of messages every NATS benchmark op publishes
// or receives.
const natsBatch = 10_000

// natsBench is what the NATS benchmarks share: the port, and a raw
// connection with its JetStream context on the same server.
type natsBench struct {
	ctx    context.Context
	prefix string
	port   *nats.NATS
	nc     *natsgo.Conn
	js     jetstream.JetStream
}

// newNATSBench opens the adapter (default settings but its own prefix)
// and a raw connection (default settings) to the server at NATS_URL, or
// skips. Every stream it makes is deleted when b ends.
func newNATSBench(b *testing.B) *natsBench {
	b.Helper()
	url := os.Getenv(nats.EnvURL)
	if url == "" {
		b.Skip("nats backend unavailable: NATS_URL is not set")
	}
	ctx := context.Background()
	prefix := "pk_nats_bench_" + uniqueName("b")[2:]
	port, err := nats.Open(ctx, nats.Config{URL: url, Prefix: prefix},
		nats.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Skipf("nats backend unavailable: %v", err)
	}
	b.Cleanup(func() { _ = port.Close(context.Background()) })
	nc, err := natsgo.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	nb := &natsBench{ctx: ctx, prefix: prefix, port: port, nc: nc, js: js}
	b.Cleanup(nb.sweep)
	return nb
}

// sweep deletes the streams of the benchmark's prefix.
func (nb *natsBench) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var doomed []string
	for name := range nb.js.StreamNames(ctx).Name() {
		if strings.HasPrefix(name, nb.prefix) || strings.HasPrefix(name, "KV_"+nb.prefix) {
			doomed = append(doomed, name)
		}
	}
	for _, name := range doomed {
		_ = nb.js.DeleteStream(ctx, name)
	}
}

// topic creates a fresh topic with one subscription (so that JetStream
// stores what is published) and returns the topic, the subscription and
// the subject the adapter publishes its messages without an ordering key
// to, which the raw variants publish to.
func (nb *natsBench) topic(b *testing.B) (topic, sub, subject string) {
	b.Helper()
	topic, sub = uniqueName("bench"), uniqueName("sub")
	if err := nb.port.EnsureTopic(nb.ctx, topic); err != nil {
		b.Fatal(err)
	}
	if err := nb.port.EnsureSubscription(nb.ctx, sub, ports.SubscriptionConfig{Topic: topic, AckDeadline: time.Minute}); err != nil {
		b.Fatal(err)
	}
	return topic, sub, nb.prefix + "." + strings.ReplaceAll(topic, "_", "_5F") + ".u"
}

// reportNATSRate reports messages per second over the timed part of the
// run.
func reportNATSRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(natsBatch*b.N)/s, "msgs/s")
	}
}

// BenchmarkNATSPublish10k publishes 10,000 messages (100 bytes, one
// 36-byte attribute) per op and waits until JetStream has acknowledged
// every one:
//
//   - port: one Publish call of 10,000 messages (default Config): all
//     sent asynchronously, then the acknowledgements collected;
//   - raw-async: jetstream's PublishMsgAsync of the same messages to the
//     same subject (the same header), then PublishAsyncComplete.
func BenchmarkNATSPublish10k(b *testing.B) {
	nb := newNATSBench(b)
	data, uuids := payloads()

	b.Run("port", func(b *testing.B) {
		topic, _, _ := nb.topic(b)
		msgs := make([]ports.Message, natsBatch)
		for i := range msgs {
			msgs[i] = ports.Message{Data: data[i], Attributes: map[string]string{"uuid": uuids[i]}}
		}
		b.ResetTimer()
		for range b.N {
			if _, err := nb.port.Publish(nb.ctx, topic, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		reportNATSRate(b)
	})

	b.Run("raw-async", func(b *testing.B) {
		_, _, subject := nb.topic(b)
		b.ResetTimer()
		for range b.N {
			for i := range natsBatch {
				m := &natsgo.Msg{Subject: subject, Data: data[i], Header: natsgo.Header{"uuid": {uuids[i]}}}
				if _, err := nb.js.PublishMsgAsync(m); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-nb.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("acknowledgements still pending after a minute")
			}
		}
		reportNATSRate(b)
	})
}

// BenchmarkNATSReceive10k receives and acknowledges 10,000 messages per
// op, published beforehand (untimed) to the subscription; the timer stops
// at the 10,000th message, before the receiver shuts down:
//
//   - port: Subscribe with the default Config (16 handlers; it asks for no
//     more messages than its free handlers can take);
//   - port-goroutines-500: Subscribe with 500 handlers (as many messages
//     in flight as raw-consume buffers);
//   - raw-consume: the subscription's consumer through jetstream's
//     Consume with its defaults (up to 500 messages buffered ahead), the
//     callback acking each message;
//   - raw-consume-16: the same with PullMaxMessages(16), the port's
//     default depth.
func BenchmarkNATSReceive10k(b *testing.B) {
	nb := newNATSBench(b)
	data, uuids := payloads()
	msgs := make([]ports.Message, natsBatch)
	for i := range msgs {
		msgs[i] = ports.Message{Data: data[i], Attributes: map[string]string{"uuid": uuids[i]}}
	}

	for _, v := range []struct {
		name       string
		goroutines int
	}{{"port", 0}, {"port-goroutines-500", 500}} {
		b.Run(v.name, func(b *testing.B) {
			port := nb.port
			if v.goroutines > 0 {
				cfg := nats.Config{URL: os.Getenv(nats.EnvURL), Prefix: nb.prefix}
				cfg.Receive.Goroutines = v.goroutines
				var err error
				if port, err = nats.Open(nb.ctx, cfg, nats.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))); err != nil {
					b.Fatal(err)
				}
				defer port.Close(context.Background())
			}
			benchPortReceive(b, nb, port, msgs)
		})
	}

	for _, v := range []struct {
		name string
		opts []jetstream.PullConsumeOpt
	}{{"raw-consume", nil}, {"raw-consume-16", []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(16)}}} {
		b.Run(v.name, func(b *testing.B) {
			topic, sub, _ := nb.topic(b)
			stream, err := nb.js.Stream(nb.ctx, nb.prefix+"_t_"+strings.ReplaceAll(topic, "_", "_5F"))
			if err != nil {
				b.Fatal(err)
			}
			cons, err := stream.Consumer(nb.ctx, strings.ReplaceAll(sub, "_", "_5F"))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if _, err := nb.port.Publish(nb.ctx, topic, msgs...); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				all := make(chan struct{})
				var n atomic.Int64
				cc, err := cons.Consume(func(m jetstream.Msg) {
					_ = m.Ack()
					if n.Add(1) == natsBatch {
						close(all)
					}
				}, v.opts...)
				if err != nil {
					b.Fatal(err)
				}
				<-all
				b.StopTimer()
				cc.Stop()
				<-cc.Closed()
				b.StartTimer()
			}
			reportNATSRate(b)
		})
	}
}

// benchPortReceive is the port variant of BenchmarkNATSReceive10k.
func benchPortReceive(b *testing.B, nb *natsBench, port *nats.NATS, msgs []ports.Message) {
	topic, sub, _ := nb.topic(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := nb.port.Publish(nb.ctx, topic, msgs...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ctx, cancel := context.WithCancel(nb.ctx)
		all := make(chan struct{})
		var n atomic.Int64
		done := make(chan error, 1)
		go func() {
			done <- port.Subscribe(ctx, sub, func(context.Context, ports.Message) error {
				if n.Add(1) == natsBatch {
					close(all)
				}
				return nil
			})
		}()
		select {
		case <-all:
		case err := <-done:
			b.Fatalf("Subscribe returned early: %v", err)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportNATSRate(b)

}
