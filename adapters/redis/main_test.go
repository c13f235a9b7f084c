package redis

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// rueidis' cluster client (v1.0.79, cluster.go) leaves two kinds
		// of goroutine behind after Close: a topology refresh scheduled by
		// a connection that closed sleeps up to 1s before it runs
		// (singleflight DelayDo) and then fails on the closed client; and
		// connections a refresh replaced are closed 5 seconds later
		// (_refresh). Close waits for neither.
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
	)
}
