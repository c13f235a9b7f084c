package bench

import (
	"context"
	"sync"
	"testing"

	cdk "gocloud.dev/pubsub"
	"gocloud.dev/pubsub/gcppubsub"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portkit/portkit/ports"
)

// BenchmarkPublish10kVsGoCDK publishes 10,000 messages per op and waits
// until the server has confirmed every one, through the port and through
// Go CDK's Pub/Sub, the portable API users pick instead (next to
// BenchmarkPublish10k's raw and watermill variants):
//
//   - port: one Publish call of 10,000 messages (default Config);
//   - gocdk: gocloud.dev/pubsub/gcppubsub v0.49.0 with its defaults
//     (batches of up to 1,000, 2 concurrent Publish RPCs), over a
//     connection to the emulator made as its URL opener makes one (but
//     closed at the end: the opener's stays open for the process), one Send
//     per message, all in flight at once (the way to its throughput: Send
//     blocks until its batch is confirmed).
func BenchmarkPublish10kVsGoCDK(b *testing.B) {
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

	b.Run("gocdk", func(b *testing.B) {
		topic := pb.topic(b)
		conn, err := grpc.NewClient(pb.host, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		client, err := gcppubsub.PublisherClient(pb.ctx, conn)
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		t := gcppubsub.OpenTopic(client, pubsubProject, topic, nil)
		defer func() { _ = t.Shutdown(context.Background()) }()
		errs := make([]error, pubsubBatch)
		b.ResetTimer()
		for range b.N {
			var wg sync.WaitGroup
			for i := range pubsubBatch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = t.Send(pb.ctx, &cdk.Message{Body: data[i], Metadata: map[string]string{"uuid": uuids[i]}})
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		reportRate(b)
	})
}
