package difftest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports/portstest"
)

// natsOps is the operation count of the NATS run: fixed (a drain waits
// for its messages, so a few hundred make a run, as on Pub/Sub).
const natsOps = 200

// natsAllow are the documented differences of adapters/nats from the
// Pub/Sub fake (which follows Google Pub/Sub), by name.
var natsAllow = []portstest.Allowance{{
	// adapters/nats package documentation, # Messages: "DeliveryAttempt
	// is JetStream's count of deliveries, from 1, with or without a
	// dead-letter policy (NATS always counts; Google Pub/Sub and the fake
	// report 0 without one)". The plain and ordering subscriptions have
	// no dead-letter policy; on the dead-letter ones both sides count.
	Kind: `^Drain (plain|ord|dlsub) subscription: DeliveryAttempt differs$`,
	Why:  "adapters/nats: NATS always counts deliveries (DeliveryAttempt from 1 without a dead-letter policy; Google Pub/Sub and the fake report 0)",
}}

// TestDiffNATS runs the Pub/Sub fake against adapters/nats on the server
// of NATS_URL, under a prefix of its own (pkdpg_ and random hex) whose
// streams and buckets are deleted at the end.
func TestDiffNATS(t *testing.T) {
	url := testenv.Env(t, "nats", nats.EnvURL)
	cfg := nats.Config{URL: url, Prefix: natsPrefix(), Storage: nats.StorageMemory}
	cfg.Receive.Poll = 200 * time.Millisecond
	defer sweepNATS(t, cfg)
	o := options(natsOps)
	o.Allow = natsAllow
	portstest.DiffPubSub(t, fakePubSub, realNATS(cfg), o)
}

// natsPrefix returns a prefix of the names of this task (pkdpg) no other
// run uses.
func natsPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "pkdpg_" + hex.EncodeToString(b[:])
}

// openNATS opens the adapter with a quiet logger.
func openNATS(ctx context.Context, cfg nats.Config) (*nats.NATS, error) {
	return nats.Open(ctx, cfg, nats.WithLogger(slog.New(slog.DiscardHandler)))
}

func realNATS(cfg nats.Config) func() (portstest.PubSubSubject, error) {
	return func() (portstest.PubSubSubject, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		n, err := openNATS(ctx, cfg)
		if err != nil {
			return portstest.PubSubSubject{}, err
		}
		return portstest.PubSubSubject{Publisher: n, Subscriber: n, DeadLetter: true,
			Provision: portstest.AdminProvision(n),
			Close: func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_ = n.Close(ctx)
			}}, nil
	}
}

// sweepNATS deletes the streams (topics, and the subscriptions' bucket)
// of cfg.Prefix.
func sweepNATS(t *testing.T, cfg nats.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := openNATS(ctx, cfg)
	if err != nil {
		t.Logf("sweeping %s: %v", cfg.Prefix, err)
		return
	}
	defer func() { _ = n.Close(context.Background()) }()
	js := n.JetStream()
	var doomed []string
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if strings.HasPrefix(name, cfg.Prefix+"_") || strings.HasPrefix(name, "KV_"+cfg.Prefix+"_") {
			doomed = append(doomed, name)
		}
	}
	for _, name := range doomed {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Logf("sweeping %s: %v", name, err)
		}
	}
}

// authNATS runs a private nats-server (the binary on PATH) that requires
// a password, on a free loopback port, until the test ends, and returns
// its URL; "" without the binary. The shared server takes any
// credentials (it has no authorization), so wrong ones are refused only
// here.
func authNATS(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		return ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	host, port, _ := net.SplitHostPort(addr)
	// The password is made here and never leaves the test.
	var pw [8]byte
	_, _ = rand.Read(pw[:])
	conf := filepath.Join(t.TempDir(), "server.conf")
	body := fmt.Sprintf("host: %q\nport: %s\nauthorization { user: pkdpg, password: %q }\n", host, port, hex.EncodeToString(pw[:]))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return "nats://" + addr
		}
		select {
		case <-exited:
			t.Fatalf("nats-server exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen on %s within 10s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
