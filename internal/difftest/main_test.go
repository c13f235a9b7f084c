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
	"strconv"
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

// options returns the options of one run of ops operations, the size
// make test runs: a fixed seed, so that a run that fails fails again
// (never at random), with a budget that is only a backstop.
//
// Exploration (make difftest, outside the gate) draws new sequences:
// PORTKIT_DIFF_SEED=random (or a number) picks the first seed,
// PORTKIT_DIFF_SCALE=k runs k times each run's operations (within 10
// minutes a run), and -short runs at most 1 000, reported only. A divergence found that way becomes a fix
// and a regression test; the seed that found it replays it
// (-portstest.seed=N).
func options(ops int) portstest.DiffOptions {
	o := portstest.DiffOptions{Seed: ciSeed, Ops: ops, Budget: 4 * time.Minute, MaxKinds: 300}
	if v := os.Getenv("PORTKIT_DIFF_SCALE"); v != "" {
		if k, err := strconv.Atoi(v); err == nil && k > 0 {
			o.Ops, o.Budget = ops*k, 10*time.Minute
		}
	}
	switch v := os.Getenv("PORTKIT_DIFF_SEED"); v {
	case "":
	case "random":
		o.Seed = 0 // drawn and reported by the checker
	default:
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > 0 {
			o.Seed = n
		}
	}
	if testing.Short() {
		o.Ops, o.Budget, o.ReportOnly = min(o.Ops, 1000), time.Minute, true
	}
	if os.Getenv("PORTKIT_DIFF_REPORT_ONLY") == "1" {
		o.ReportOnly = true
	}
	return o
}

// ciSeed is the first seed of every run of make test.
const ciSeed = 20261201

// The operations of each run of make test, sized so that the package
// stays within a few minutes under -race on a two-core machine (the
// Pub/Sub runs wait for deliveries and acknowledgement deadlines).
const (
	sqlOps    = 20000
	docOps    = 10000
	cacheOps  = 4000
	pubsubOps = 100
)
