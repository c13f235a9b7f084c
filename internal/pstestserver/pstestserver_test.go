package pstestserver_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// OpenCensus, imported by the Pub/Sub client, starts a worker in
		// its package init that lives for the whole process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// The client's StreamingPull keep-alive goroutine outlives Receive
		// by up to 10s (pubsub/v2 v2.9.0 iterator.go).
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
	)
}

// addrHandler is a slog handler that reports the "addr" attribute of the
// first record.
type addrHandler struct{ addr chan string }

func (h addrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h addrHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h addrHandler) WithGroup(string) slog.Handler            { return h }
func (h addrHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "PUBSUB_EMULATOR_HOST" {
			select {
			case h.addr <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h := addrHandler{addr: make(chan string, 1)}
	served := make(chan error, 1)
	go func() { served <- pstestserver.Serve(ctx, "127.0.0.1:0", slog.New(h)) }()
	var addr string
	select {
	case addr = <-h.addr:
	case err := <-served:
		t.Fatalf("Serve returned %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no listening log line")
	}

	// The logged address serves Pub/Sub.
	ps, err := pubsub.Open(ctx, pubsub.Config{ProjectID: "p", EmulatorHost: addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.EnsureTopic(ctx, "topic"); err != nil {
		t.Fatal(err)
	}
	if err := ps.EnsureSubscription(ctx, "sub", ports.SubscriptionConfig{Topic: "topic"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	var got string
	err = ps.Subscribe(rctx, "sub", func(_ context.Context, m ports.Message) error {
		got = string(m.Data)
		rcancel()
		return nil
	})
	if err != nil || got != "hello" {
		t.Fatalf("Subscribe: %q, %v", got, err)
	}

	// A second server cannot take the same address.
	if err := pstestserver.Serve(ctx, addr, slog.New(h)); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Serve on a taken address = %v, want an error naming it", err)
	}
	if err := ps.Close(ctx); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want nil when ctx ends", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("%s still accepts connections after Serve returned", addr)
	}
}

// TestStartServiceLimits: a publish request of 5 MiB, which pstest alone
// refuses (gRPC's 4 MiB default), is accepted; one over 10 MiB gets the
// service's answer, InvalidArgument.
func TestStartServiceLimits(t *testing.T) {
	srv, err := pstestserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(32<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := t.Context()
	pub := pubsubpb.NewPublisherClient(conn)
	topic := "projects/p/topics/big"
	if _, err := pub.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	publish := func(n int) error {
		_, err := pub.Publish(ctx, &pubsubpb.PublishRequest{Topic: topic, Messages: []*pubsubpb.PubsubMessage{{Data: make([]byte, n)}}})
		return err
	}
	if err := publish(5 << 20); err != nil {
		t.Errorf("a 5 MiB publish request: %v, want it accepted", err)
	}
	if err := publish(pstestserver.MaxRequestBytes - 100); err != nil {
		t.Errorf("a publish request just under 10 MiB: %v, want it accepted", err)
	}
	if err := publish(pstestserver.MaxRequestBytes + 1); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a publish request over 10 MiB: %v, want InvalidArgument", err)
	}
	if n := len(srv.Fake().Messages()); n != 2 {
		t.Errorf("the fake holds %d messages, want 2", n)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
