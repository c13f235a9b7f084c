// Package faulttest holds the outbox's fault test (in its _test.go
// files): orders placed on MySQL through a fault proxy that cuts the
// connection at random moments (COMMIT in flight included), relayed by two
// replicas that are killed and restarted, published to Pub/Sub through a
// proxy that is cut too, and projected by a consumer under
// messaging.DedupeTx. It then checks that every committed order's event was
// published at least once, that no rolled-back order's was, and that the
// projection applied each exactly once, and logs the counts.
//
// It needs MYSQL_DSN (a tcp DSN) and uses Google's Pub/Sub emulator at
// PUBSUB_EMULATOR_HOST, or pstest in process without it; it skips without
// MySQL (fails with PORTKIT_REQUIRE_BACKENDS=1) and while the adapters lack
// Patch. PORTKIT_FAULT_ORDERS sets the number of orders (10 000).
package faulttest
