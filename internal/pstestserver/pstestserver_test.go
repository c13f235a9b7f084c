package pstestserver_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

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
	if err := ps.EnsureTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := ps.EnsureSubscription(ctx, "s", pubsub.SubscriptionConfig{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Publish(ctx, "t", ports.Message{Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	var got string
	err = ps.Subscribe(rctx, "s", func(_ context.Context, m ports.Message) error {
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
