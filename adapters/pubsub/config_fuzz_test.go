package pubsub

import (
	"errors"
	"strings"
	"testing"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/ports"
)

// FuzzConfigFromEnv sets every variable ConfigFromEnviron reads from fuzzed
// text: it never panics, and its error wraps ErrInvalid and names a
// variable. (The Pub/Sub Config holds no secret, so there is no password
// to look for.)
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("proj", "127.0.0.1:8085", "5s", "100", "1000000", "10ms", "15s", "4", "0", "1000", "10s", "30s", "", "10s")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "fallback-project", "")
	f.Add("a b", "h", "-1s", "1001", "10000001", "x", "1", "-4", "9999999999999999999999", "", "1h", "0", "", "9s")
	f.Add("projects/x", "[::1]:1", "1e3s", "0x10", "1_000", "1.5s", "", "", "", "", "", "", "", "601s")
	f.Fuzz(func(t *testing.T, project, host, check, count, bytes, delay, timeout, streams, goroutines, outstanding, shutdown, unavailable, fallback, ackExt string) {
		values := map[string]string{
			EnvProjectID: project, EnvEmulatorHost: host, EnvCheckTimeout: check,
			EnvPublishBatchCount: count, EnvPublishBatchBytes: bytes, EnvPublishBatchDelay: delay,
			EnvPublishTimeout: timeout, EnvReceiveStreams: streams, EnvReceiveGoroutines: goroutines,
			EnvReceiveMaxOutstanding: outstanding, EnvShutdownTimeout: shutdown,
			EnvUnavailableTimeout: unavailable, EnvGoogleCloudProject: fallback,
			EnvReceiveMaxAckExtension: ackExt,
		}
		for k, v := range values {
			if v == "" {
				delete(values, k)
			}
		}
		if _, err := ConfigFromEnviron(values); err != nil {
			msg := err.Error()
			if !errors.Is(err, ports.ErrInvalid) {
				t.Fatalf("ConfigFromEnv error %q does not wrap ErrInvalid", msg)
			}
			for k := range values {
				if strings.Contains(msg, k) {
					return
				}
			}
			t.Fatalf("ConfigFromEnv error %q names no variable", msg)
		}
	})
}

// TestConfigFromEnvFuzzCoversEveryVariable keeps FuzzConfigFromEnv in step
// with Config: every env tag is among the variables it sets.
func TestConfigFromEnvFuzzCoversEveryVariable(t *testing.T) {
	covered := map[string]bool{
		EnvProjectID: true, EnvEmulatorHost: true, EnvCheckTimeout: true,
		EnvPublishBatchCount: true, EnvPublishBatchBytes: true, EnvPublishBatchDelay: true,
		EnvPublishTimeout: true, EnvReceiveStreams: true, EnvReceiveGoroutines: true,
		EnvReceiveMaxOutstanding: true, EnvShutdownTimeout: true, EnvUnavailableTimeout: true,
		EnvReceiveMaxAckExtension: true,
	}
	for _, v := range envconfig.Vars[Config]() {
		if !covered[v] {
			t.Errorf("FuzzConfigFromEnv does not set %s", v)
		}
	}
}
