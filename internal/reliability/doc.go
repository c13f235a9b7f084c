// Package reliability holds portkit's fault and abuse tests: it proves,
// against real servers and the faults of package internal/faults, the
// promises every adapter makes.
//
//   - No hang (TestNoHang): every port method, Check and Close of every
//     adapter, on a connection that has become a blackhole, and Open
//     against a listener that never answers, returns within its context
//     deadline or configured timeout + 10%, with ports.ErrUnavailable or
//     the context's error. The test prints the matrix (adapter × method →
//     returned in N ms).
//   - Recovery (TestRecovery): four goroutines write and read through an
//     adapter while its connection is cut for 2 s and then restored (a
//     proxy of internal/faults in between), or while its Redis server is
//     killed and restarted. During the cut calls fail with ErrUnavailable,
//     within 1 s of the restore they succeed again on the same adapter,
//     and every write that returned nil is readable afterwards: at once,
//     or for Pub/Sub once the ack deadline of the messages the cut caught
//     in flight has expired (the adapter's 10 s, plus, on Google's
//     emulator, the 10 s lifetime the test gives its streams: see
//     emulatorStreamLifetime).
//   - Nothing lost on shutdown (TestShutdown): 10,000 messages accepted by
//     the Pub/Sub adapter before Close are on the server after Close; with a
//     dead emulator, Close returns at its deadline and says how many
//     messages were not confirmed.
//   - Secrets (TestSecrets): with a known password in each Config, the
//     failure paths of Open, Check and the operations put it in no log line
//     and no error, and Config redacts itself in %v, %+v, %#v and slog.
//
// The hostile-input fuzz targets live next to the code they attack:
// internal/gormstore and internal/docmodel (query translation of the SQL
// and document adapters) and each adapter's ConfigFromEnv.
//
// Backends come from the usual variables (REDIS_URL, MYSQL_DSN,
// MONGODB_URI, PUBSUB_EMULATOR_HOST; Pub/Sub also runs against the
// in-process pstest fake, and the Redis restart test against a
// redis-server of its own). A missing backend skips its subtests, or fails
// them when PORTKIT_REQUIRE_BACKENDS=1. When PORTKIT_RELIABILITY_OUT names
// a file, the tests write their figures there as Markdown.
//
// The package has no non-test code besides this comment.
package reliability
