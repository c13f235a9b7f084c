package redis

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// rueidis' cluster client closes the connections a topology
		// refresh replaced 5 seconds later, in a goroutine that Close
		// does not wait for (rueidis v1.0.79 cluster.go, _refresh).
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
	)
}
