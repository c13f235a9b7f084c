// Package difftest runs the differential checker of ports/portstest
// fake-vs-real on the real servers: the SQL fake against adapters/mysql on
// MariaDB and, following PostgreSQL (fakes.WithDialect(fakes.Postgres)),
// against adapters/postgres on DATABASE_URL, the document fake against adapters/mongo (FerretDB), the cache
// fake against adapters/redis (single node, client-side caching, the
// cluster of REDIS_CLUSTER_URL), the Pub/Sub fake against adapters/pubsub
// (pstest in-process, Google's emulator when PUBSUB_EMULATOR_HOST is set)
// and against adapters/nats on NATS_URL.
//
// Every divergence kind found is printed, shrunk, with the seed that
// replays it (-portstest.seed=N), and fails the test unless it is one of
// the documented allowances. PORTKIT_DIFF_REPORT_ONLY=1 (or -short, which
// also runs fewer operations) reports without failing, for integration
// runs that collect the list.
package difftest

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/ports/portstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// As in adapters/pubsub: OpenCensus' worker lives for the process,
		// and the Pub/Sub client's stream keep-alive outlives Close by up
		// to 10s (pubsub/v2 v2.9.0).
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
		goleak.IgnoreAnyFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).checkServer"),
	)
}

// options returns the run options: 20 000 operations within 4 minutes,
// or 1 000 reported only under -short.
func options(ops int) portstest.DiffOptions {
	o := portstest.DiffOptions{Ops: ops, Budget: 4 * time.Minute, MaxKinds: 300}
	if testing.Short() {
		o.Ops, o.Budget, o.ReportOnly = min(ops, 1000), time.Minute, true
	}
	if os.Getenv("PORTKIT_DIFF_REPORT_ONLY") == "1" {
		o.ReportOnly = true
	}
	return o
}
