package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no benchmark leaves a goroutine behind. The
// OpenCensus worker is started at init by a dependency of the Pub/Sub client
// and lives as long as the process; the Pub/Sub client's stream keep-alive
// goroutine outlives Receive by up to 10 s (pubsub/v2 v2.9.0).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
	)
}
