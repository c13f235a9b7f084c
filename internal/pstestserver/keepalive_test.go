package pstestserver_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portkit/portkit/internal/pstestserver"
)

// pstest v2.9.0 answers a StreamingPull keep-alive ping (protocol
// version 1, what the v2 client asks for) by sending on the stream's
// channel while it holds the whole server's lock; when the stream's sender
// has already stopped (the stream is ending), that send never completes
// and every later call of every client hangs (seen by the differential
// checker). Served by Start, pings are read as version 0, which pstest
// never answers: the test checks that no answer to a ping comes, so the
// path that deadlocks is never taken.
func TestKeepAlivePingsAreNotAnswered(t *testing.T) {
	srv, err := pstestserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	pub, sub := pubsubpb.NewPublisherClient(conn), pubsubpb.NewSubscriberClient(conn)
	const topic, subName = "projects/p/topics/t", "projects/p/subscriptions/s"
	if _, err := pub.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.CreateSubscription(ctx, &pubsubpb.Subscription{Name: subName, Topic: topic, AckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	stream, err := sub.StreamingPull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pubsubpb.StreamingPullRequest{Subscription: subName, StreamAckDeadlineSeconds: 10, ProtocolVersion: 1}); err != nil {
		t.Fatal(err)
	}
	answers := make(chan *pubsubpb.StreamingPullResponse, 16)
	go func() {
		for {
			res, err := stream.Recv()
			if err != nil {
				close(answers)
				return
			}
			answers <- res
		}
	}()
	for range 3 {
		if err := stream.Send(&pubsubpb.StreamingPullRequest{}); err != nil { // a keep-alive ping
			t.Fatal(err)
		}
	}
	select {
	case res, ok := <-answers:
		if ok && len(res.ReceivedMessages) == 0 {
			t.Fatal("a keep-alive ping was answered: the server took pstest's path that deadlocks")
		}
	case <-time.After(500 * time.Millisecond):
	}
	// The stream still delivers.
	if _, err := pub.Publish(ctx, &pubsubpb.PublishRequest{Topic: topic, Messages: []*pubsubpb.PubsubMessage{{Data: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-answers:
		if res == nil || len(res.ReceivedMessages) != 1 {
			t.Fatalf("after the pings the stream gave %v, want the message", res)
		}
	case <-ctx.Done():
		t.Fatal("the stream delivered nothing after the pings")
	}
	_ = stream.CloseSend()
	cancel()
	for range answers {
	}
}
