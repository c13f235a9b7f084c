package nats_test

import (
	"testing"

	"github.com/portkit/portkit/ports/portstest"
)

// TestConformance runs the Publisher + Subscriber and Connector suites on
// the server at NATS_URL. NATS always counts deliveries: the suite's
// DeliveryAttempt capability is on; ordering keys are honoured through
// the partition consumers of an ordering subscription.
func TestConformance(t *testing.T) {
	cfg := testConfig(t)
	portstest.TestPubSub(t, func(t *testing.T) portstest.PubSubSetup {
		n := open(t, cfg)
		return portstest.PubSubSetup{
			Publisher:  n,
			Subscriber: n,
			Connector:  n,
			Admin:      n,
			Provision:  portstest.AdminProvision(n),
			Caps:       portstest.PubSubCaps{Ordering: true, DeliveryAttempt: true, DeadLetter: true},
		}
	})
	portstest.TestConnector(t, func(t *testing.T) portstest.ConnectorSetup {
		return portstest.ConnectorSetup{Connector: open(t, cfg), Name: "nats"}
	})
}
