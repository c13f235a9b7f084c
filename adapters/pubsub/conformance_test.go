package pubsub_test

import (
	"testing"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/ports/portstest"
)

// TestConformance runs the Publisher + Subscriber and Connector suites on
// pstest (in-process, always) and on Google's emulator (when
// PUBSUB_EMULATOR_HOST is set).
func TestConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		skip := portstest.Skips{}
		if onPstest(t) {
			// A quirk of pstest v2.9.0, recorded by TestRecordedBehaviour:
			// it forwards a dead letter with the same ID and none of the
			// four dead-letter attributes Google's service adds.
			skip["DeadLetter"] = "pstest quirk: dead letters carry none of the dead-letter attributes"
		} else {
			// A quirk of Google's emulator 0.8.20, recorded by
			// TestOrderingUnderNack: it redelivers a nacked message of an
			// ordering key after the later ones, and not those again.
			skip["OrderingAfterNack"] = "emulator quirk: a nacked message comes back after the later ones of its key, which are not delivered again"
		}
		portstest.TestPubSub(t, func(t *testing.T) portstest.PubSubSetup {
			ps := open(t, cfg)
			return portstest.PubSubSetup{
				Publisher:  ps,
				Subscriber: ps,
				Connector:  ps,
				Admin:      ps,
				Provision:  portstest.AdminProvision(ps),
				Caps:       portstest.PubSubCaps{Ordering: true, DeadLetter: true},
				Skip:       skip,
			}
		})
		portstest.TestConnector(t, func(t *testing.T) portstest.ConnectorSetup {
			return portstest.ConnectorSetup{Connector: open(t, cfg), Name: "pubsub"}
		})
	})
}
