package open_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go.opencensus.io, imported by the Pub/Sub client, starts this
		// worker in an init function; it lives as long as the process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// The Pub/Sub client's StreamingPull keep-alive outlives Close by
		// up to 10s (see adapters/pubsub/main_test.go).
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
		goleak.IgnoreAnyFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).checkServer"),
		// rueidis (v1.0.79): a sentinel client (the secrets corpus has
		// one) schedules a topology refresh that sleeps up to 1s; Close
		// does not wait for it (see adapters/redis/main_test.go).
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
	)
}
