// Package domain holds the orders example's domain model: the [Order] and
// [OrderLine] rows kept in SQL, the [NewOrder] command a client sends and
// its validation, the [OrderCreated] event, and the documents kept in the
// DocStore ([OrderView], the read model, and [Audit]).
//
// The package knows nothing of HTTP, SQL or any backend. Struct tags
// describe the storage (gorm for rows, bson for documents, json for the
// API) as plain strings; the only portkit import is ports, for the
// [ports.Document] base type and the ErrInvalid sentinel.
package domain

import (
	"time"

	"github.com/portkit/portkit/ports"
)

// Order statuses.
const (
	// StatusCreated is the status of an order that has just been placed.
	StatusCreated = "created"
)

// Order is an order as stored: one row of the orders table. Its lines are
// [OrderLine] rows that point back to it.
type Order struct {
	ID         int64     `gorm:"primaryKey;autoIncrement" json:"id"`
	Customer   string    `gorm:"size:128;not null" json:"customer"`
	Status     string    `gorm:"size:32;not null;index" json:"status"`
	TotalCents int64     `gorm:"not null" json:"total_cents"`
	CreatedAt  time.Time `gorm:"precision:3" json:"created_at"`
}

// OrderLine is one line of an order: one row of the order_lines table.
type OrderLine struct {
	ID         int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	OrderID    int64  `gorm:"not null;index" json:"order_id"`
	SKU        string `gorm:"size:64;not null" json:"sku"`
	Qty        int    `gorm:"not null" json:"qty"`
	PriceCents int64  `gorm:"not null" json:"price_cents"`
}

// OrderDetails is an order with its lines, as the API returns it and the
// cache keeps it.
type OrderDetails struct {
	Order
	Lines []OrderLine `json:"lines"`
}

// Clone returns a copy of d that shares no memory with it.
func (d OrderDetails) Clone() OrderDetails {
	d.Lines = append([]OrderLine(nil), d.Lines...)
	return d
}

// OrderCreated is the payload of the event published on the order.created
// topic once an order is placed. It carries everything the read model
// needs, so that the projector does not read SQL.
type OrderCreated struct {
	OrderID    int64     `json:"order_id"`
	Customer   string    `json:"customer"`
	TotalCents int64     `json:"total_cents"`
	Lines      int       `json:"lines"`
	Items      int       `json:"items"`
	CreatedAt  time.Time `json:"created_at"`
}

// OrderView is the read model of an order, a document of the order_views
// collection, kept up to date by the order.created subscriber.
type OrderView struct {
	ports.Document `bson:",inline"`
	OrderID        int64     `bson:"order_id" json:"order_id"`
	Customer       string    `bson:"customer" json:"customer"`
	Status         string    `bson:"status" json:"status"`
	TotalCents     int64     `bson:"total_cents" json:"total_cents"`
	Lines          int       `bson:"lines" json:"lines"`
	Items          int       `bson:"items" json:"items"`
	PlacedAt       time.Time `bson:"placed_at" json:"placed_at"`
}

// Audit records one thing that happened to an order, a document of the
// audits collection.
type Audit struct {
	ports.Document `bson:",inline"`
	Action         string `bson:"action" json:"action"`
	OrderID        int64  `bson:"order_id" json:"order_id"`
	Customer       string `bson:"customer" json:"customer"`
	TotalCents     int64  `bson:"total_cents" json:"total_cents"`
}

// Audit actions.
const (
	// ActionOrderPlaced is the audit action of a placed order.
	ActionOrderPlaced = "order.placed"
)
