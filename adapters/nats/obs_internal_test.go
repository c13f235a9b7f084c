package nats

import (
	"strings"
	"testing"

	"github.com/portkit/portkit/internal/testutil"
)

// TestServerAddressHoldsNoSecret: server.address and server.port, the
// only part of the URL the spans record, never hold a credential, for
// every form of NATS_URL of the secret corpus.
func TestServerAddressHoldsNoSecret(t *testing.T) {
	n := 0
	for _, f := range testutil.SecretForms("nats.internal:4223") {
		if f.Backend != "nats" {
			continue
		}
		host, port := serverAddress(f.Env[EnvURL])
		if strings.Contains(host, testutil.SecretMarker) || strings.Contains(host, "app") || strings.Contains(host, "@") {
			t.Errorf("%s: server.address %q", f.Name, host)
		}
		if host != "nats.internal" || port != 4223 {
			t.Errorf("%s: server.address %q, server.port %d, want nats.internal 4223", f.Name, host, port)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d forms", n)
	}
	if host, port := serverAddress("nats://localhost"); host != "localhost" || port != 4222 {
		t.Errorf("a URL without a port: %q %d, want localhost 4222", host, port)
	}
}
