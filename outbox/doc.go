// Package outbox is the transactional outbox of portkit: messages written
// in the same SQL transaction as the change they announce, then published
// by a relay, so that a committed change always gets its message and a
// rolled-back one never does. It needs nothing but the ports: a
// ports.Transactor, ports.SQLStore stores of its rows, and any
// ports.Publisher to publish through; so it works on the MySQL and
// PostgreSQL adapters and on the fakes alike.
//
// # Writing
//
// [Publisher] is a ports.Publisher whose Publish, given the context of a
// running transaction (Transactor.WithinTx), inserts the messages into the
// outbox table in that transaction:
//
//	err := db.WithinTx(ctx, func(ctx context.Context) error {
//		if err := orders.Create(ctx, &o); err != nil {
//			return err
//		}
//		_, err := messaging.Publish(ctx, outboxPublisher, "order.created", nil, created)
//		return err
//	})
//
// Outside a transaction it refuses with ErrInvalid ([ErrNoTransaction])
// rather than publish directly: publishing before the commit announces
// changes that may roll back, publishing after it loses the message when
// the process dies in between. That is the dual write the outbox removes.
// Every message gets a stable ID in its messaging.AttrMessageID attribute
// at write time (one it has is kept), which the relay's republications keep
// and messaging.Dedupe keys on. Attributes travel as they are, end to end
// (a W3C traceparent injected at write time reaches the consumer).
//
// # Relaying
//
// [Relay] reads committed rows and publishes them through its target,
// at least once, in batches (one Publish call per topic per batch), then
// deletes them in one transaction (or moves them to the sent table, kept
// for a configurable retention). Rows are spread over a fixed number of
// partitions by their ordering key (by their ID when they have none); each
// partition is published by one replica at a time, in row ID order, so
// the messages of one ordering key go out in the order they were written.
// After a failure, no later row of the failed row's key counts as sent,
// so the key's messages are republished in order.
//
// Several replicas of a service may run a relay against one database.
// They share the work through leases on the partitions, in the table of
// [Lease] rows: a replica heartbeats, computes its fair share of the
// partitions from the live heartbeats, renews its leases, releases those
// over its share and claims free or expired ones, every LeaseTTL/3. Every
// change is a Patch with IfVersion (optimistic concurrency): of two
// replicas claiming one partition, exactly one succeeds. A replica
// publishes a partition only while its lease has more than PublishTimeout
// plus ClockSkew left, so in the normal case no row is published by two
// replicas. A replica that dies mid-batch loses nothing: its rows were not
// deleted, and its partitions become claimable LeaseTTL + ClockSkew after
// its last renewal; the next owner republishes the rows whose deletion had
// not committed (duplicates, which Dedupe absorbs).
//
// Why leases through the port rather than SELECT … FOR UPDATE SKIP LOCKED:
// SKIP LOCKED needs SQL the port does not expose, so it would tie the
// relay to a dialect and leave the fakes out; and claiming rows one by one
// lets two replicas publish two rows of one ordering key at once, out of
// order. Leases per partition work on every SQLStore (fakes included),
// keep each key's order by construction, cost a few statements per
// LeaseTTL/3 rather than per row, and keep no transaction open while
// publishing.
//
// The guarantees rest on two assumptions, documented here rather than
// hidden: the replicas' clocks agree within ClockSkew; and the rows of one
// ordering key are written by transactions that do not overlap (as when
// they lock the aggregate's row first), since row IDs are assigned at
// insert time, not at commit.
//
// # Setting up and observing
//
// [Migrate] creates the tables through each adapter store's own Migrate
// and seeds the leases; every writer and relay of a table must use the
// same Partitions, which Migrate records and a relay checks. A Relay is a
// ports.Connector: Check fails when the oldest pending row is older than
// MaxPendingAge (or Run is not running); [Relay.Stats] reports the pending
// count, the oldest pending age, and this replica's published and failed
// counts.
package outbox
