// Package portstest holds the conformance suites of the ports: one exported
// function per port, which an implementation's own test calls with a
// constructor and honest capability flags, in the manner of
// testing/fstest.TestFS and Go CDK's drivertest.
//
//	func TestConformance(t *testing.T) {
//		portstest.TestCache(t, func(t *testing.T) portstest.CacheSetup {
//			c := mycache.New()
//			t.Cleanup(func() { c.Close(context.Background()) })
//			return portstest.CacheSetup{Cache: c, Connector: c}
//		})
//	}
//
// Every case runs as a parallel subtest, on a fresh implementation from the
// constructor, inside one subtest named after the port ("Cache",
// "SQLStore", ...), so that the suite function returns only when every case
// is done. The constructor must therefore be safe to call from parallel
// subtests and must not call t.Parallel itself. Cases that need a
// capability the implementation does not claim are skipped with the flag's
// name. [CacheCases], [SQLStoreCases], [DocStoreCases], [PubSubCases] and
// [ConnectorCases] list the case names. The suites are what the fakes in
// package fakes and every adapter of portkit pass, against real backends.
// A setup's Skip field lists known failures, by case name, with a reason.
//
// [TestErrorContract] is the error-contract suite: each case provokes one
// failure (wrong credentials, a missing table, a value the server rejects,
// a done or nil context, a call after Close) and asserts exactly one
// sentinel of ports.Kinds(), the one the classification table names, with
// the backend's own error still reachable.
//
// [DiffSQLStore], [DiffDocStore], [DiffCache] and [DiffPubSub] are the
// differential checker: they run seeded random operations on a reference
// (a fake) and on an implementation (an adapter on its server), compare
// everything, and report each kind of divergence shrunk to a minimal
// sequence with its seed; [CheckSQLStore] and its siblings do the same
// without a testing.T. See [DiffOptions].
package portstest

import (
	"context"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// Skips lists cases a suite skips, by name, with the reason: the known
// failures of an implementation in progress (each entry is a to-do; the
// skip message quotes the reason). Every suite's setup has one.
type Skips map[string]string

// skip skips t when s lists name.
func (s Skips) skip(t *testing.T, name string) {
	t.Helper()
	if why, ok := s[name]; ok {
		t.Skip("known failure: " + why)
	}
}

// CacheSetup is what TestCache's constructor returns: a fresh cache whose
// keys do not collide with other subtests' (a shared server is fine; the
// suite prefixes every key with a unique string).
type CacheSetup struct {
	Cache     ports.Cache
	Connector ports.Connector
	// Advance moves the clock the cache's TTLs follow by d. A fake passes
	// its settable clock; nil means real time (the suite sleeps).
	Advance func(d time.Duration)
	// HugeValues runs the case of a value over ports.MaxValueBytes (it
	// allocates 512 MiB).
	HugeValues bool
	// Prefixed, when set, returns a cache on the same backend as Cache
	// configured with the key prefix prefix, for the prefix cases.
	Prefixed func(t *testing.T, prefix string) ports.Cache
	// Skip lists known failures (see Skips).
	Skip Skips
}

// Item is the SQLStore model the SQL suite stores. Its gorm tags give the
// primary key and a unique index.
type Item struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	SKU       string    `gorm:"size:64;uniqueIndex"`
	Name      string    `gorm:"size:128"`
	Qty       int       `gorm:"not null;default:0"`
	Price     float64   `gorm:"not null;default:0"`
	Active    bool      `gorm:"not null;default:false"`
	Note      *string   `gorm:"size:255"`
	CreatedAt time.Time `gorm:"precision:3"`
}

// SQLCaps are the capabilities an SQLStore implementation claims.
type SQLCaps struct {
	// Transactions: Tx is set and WithinTx commits, rolls back and nests
	// with savepoints.
	Transactions bool
	// UniqueIndexes: a `gorm:"uniqueIndex"` column rejects duplicates with
	// ErrConflict.
	UniqueIndexes bool
}

// SQLSetup is what TestSQLStore's constructor returns: an empty store of
// Items (a table of its own, so subtests can run in parallel).
type SQLSetup struct {
	Store     ports.SQLStore[Item]
	Tx        ports.Transactor // nil unless Caps.Transactions
	Connector ports.Connector
	Caps      SQLCaps
	// Versioned, when set, returns a store of VItems on an empty table of
	// its own (in the same database as Store), for the optimistic
	// concurrency cases; nil skips them.
	Versioned func(t *testing.T) ports.SQLStore[VItem]
	// Skip lists known failures (see Skips).
	Skip Skips
}

// Author is a nested struct of Doc, queried with dotted paths
// ("Author.Name").
type Author struct {
	Name    string `bson:"name"`
	Country string `bson:"country"`
}

// Doc is the DocStore model the document suite stores.
type Doc struct {
	ports.Document `bson:",inline"`
	Title          string     `bson:"title"`
	Rank           int        `bson:"rank"`
	Score          float64    `bson:"score"`
	Published      bool       `bson:"published"`
	Tags           []string   `bson:"tags"`
	Author         Author     `bson:"author"`
	Due            *time.Time `bson:"due,omitempty"`
}

// DocCaps are the capabilities a DocStore implementation claims.
type DocCaps struct {
	// Transactions: Tx is set and WithinTx commits and rolls back.
	Transactions bool
}

// DocSetup is what TestDocStore's constructor returns: an empty store of
// Docs (a collection of its own).
type DocSetup struct {
	Store     ports.DocStore[Doc]
	Tx        ports.Transactor // nil unless Caps.Transactions
	Connector ports.Connector
	Caps      DocCaps
	// Advance, when set, moves the clock the store stamps CreatedAt and
	// UpdatedAt with by d (a fake passes its settable clock); nil means
	// real time (the suite sleeps a few milliseconds where it needs time to
	// pass).
	Advance func(d time.Duration)
	// Versioned, when set, returns a store of VDocs on an empty collection
	// of its own, for the optimistic concurrency cases; nil skips them.
	Versioned func(t *testing.T) ports.DocStore[VDoc]
	// RawInsert and RawGet, when both set, write and read a document of
	// Store's collection as another program would (a map of bson keys to
	// values, nested maps for nested documents), for the case that Update
	// keeps the fields the model does not declare.
	RawInsert func(ctx context.Context, doc map[string]any) (id string, err error)
	RawGet    func(ctx context.Context, id string) (map[string]any, error)
	// Skip lists known failures (see Skips).
	Skip Skips
}

// PubSubCaps are the capabilities a Publisher + Subscriber claims.
type PubSubCaps struct {
	// Ordering: messages with an ordering key reach an ordering
	// subscription in publish order.
	Ordering bool
	// DeliveryAttempt: Message.DeliveryAttempt counts deliveries on every
	// subscription, from 1 (NATS JetStream); without it, DeliveryAttempt is
	// 0 on a subscription without a dead-letter policy, as the port says of
	// Google Pub/Sub and the fake.
	DeliveryAttempt bool
	// DeadLetter: subscriptions with MaxDeliveryAttempts move messages to
	// their DeadLetterTopic, with the dead-letter attributes of package
	// ports, and count DeliveryAttempt from 1.
	DeadLetter bool
}

// PubSubSetup is what TestPubSub's constructor returns.
type PubSubSetup struct {
	Publisher  ports.Publisher
	Subscriber ports.Subscriber
	Connector  ports.Connector
	// Provision creates a topic and the named subscriptions to it (each
	// config's Topic names it); the suite calls it with names unique to the
	// subtest. AdminProvision(admin) is one. nil with Admin set: the suite
	// uses AdminProvision(Admin).
	Provision ProvisionFunc
	// Admin, when set, runs the Admin cases (idempotent EnsureTopic and
	// EnsureSubscription, ErrConflict on another config, Validate errors).
	Admin ports.Admin
	// MaxConcurrency is the handler concurrency the Subscriber was
	// configured with; 0 means the default, ports.DefaultMaxConcurrency.
	MaxConcurrency int
	// ShutdownGrace is the shutdown grace the Subscriber was configured
	// with; 0 means the default, ports.DefaultShutdownGrace.
	ShutdownGrace time.Duration
	Caps          PubSubCaps
	// Skip lists known failures (see Skips).
	Skip Skips
}

// ConnectorSetup is what TestConnector's constructor returns: a fresh,
// open connector whose backend is up.
type ConnectorSetup struct {
	Connector ports.Connector
	// Name is the Name() the connector must report.
	Name string
}
