package outbox

import (
	"time"

	"github.com/portkit/portkit/ports"
)

// Row is one message waiting in the outbox table, written by [Publisher]
// in the caller's transaction and deleted by the [Relay] once published.
// Its default table is "outbox" (the adapters' table option renames it).
type Row struct {
	// ID orders the rows: the relay publishes the rows of one ordering key
	// in ID order.
	ID int64 `gorm:"primaryKey;autoIncrement"`
	// MessageID is the message's stable ID (messaging.AttrMessageID).
	MessageID string `gorm:"size:64;not null"`
	// Topic is the topic the message goes to.
	Topic string `gorm:"size:255;not null"`
	// OrderingKey is the message's ordering key, "" for none.
	OrderingKey string `gorm:"size:1024"`
	// Partition is the relay partition of the row: a hash of the ordering
	// key (of the message ID without one) modulo the partition count.
	Partition int `gorm:"column:outbox_partition;not null;index"`
	// Data is the payload.
	Data []byte
	// Attributes holds the message's attributes as a JSON object.
	Attributes string
	// CreatedAt is when the row was written (set by the store).
	CreatedAt time.Time
}

// TableName is Row's default table.
func (Row) TableName() string { return "outbox" }

// SentRow is a published row kept for [RelayConfig.Retention] in the
// table "outbox_sent", when the relay is given a store of them.
type SentRow struct {
	// ID is the Row's ID.
	ID          int64  `gorm:"primaryKey;autoIncrement:false"`
	MessageID   string `gorm:"size:64;not null;index"`
	Topic       string `gorm:"size:255;not null"`
	OrderingKey string `gorm:"size:1024"`
	Data        []byte
	Attributes  string
	// ServerID is the ID the target publisher assigned.
	ServerID string `gorm:"size:255"`
	// WrittenAt is the Row's CreatedAt.
	WrittenAt time.Time
	// SentAt is when the target publisher confirmed the message.
	SentAt time.Time `gorm:"index"`
}

// TableName is SentRow's default table.
func (SentRow) TableName() string { return "outbox_sent" }

// Lease is a row of the relays' coordination table "outbox_leases": one
// per partition (who publishes it, until when), one per live relay replica
// (its heartbeat), and one recording the partition count. Relays take and
// renew leases with Patch(...).IfVersion, so two replicas never hold one
// partition at once.
type Lease struct {
	// Name is "partition/0007", "replica/<id>" or "meta/partitions".
	Name string `gorm:"primaryKey;size:200"`
	// Kind is "partition", "replica" or "meta".
	Kind string `gorm:"size:16;not null;index"`
	// Number is the partition's number (the partition count for meta).
	Number int `gorm:"not null"`
	// Owner is the replica holding the partition, "" when free.
	Owner string `gorm:"size:200"`
	// Until is when the lease (or the replica's heartbeat) ends.
	Until time.Time
	// Version makes every change conditional.
	Version ports.Version
}

// TableName is Lease's default table.
func (Lease) TableName() string { return "outbox_leases" }

const (
	kindPartition = "partition"
	kindReplica   = "replica"
	kindMeta      = "meta"
	metaName      = "meta/partitions"
)
