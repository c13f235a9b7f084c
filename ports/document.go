package ports

import "time"

// Document is the base type a DocStore model embeds. It carries the string
// ID and the created and updated times, with the bson keys MongoDB uses
// (_id, created_at, updated_at). Domain code needs no mgm or bson import:
//
//	type Audit struct {
//		ports.Document `bson:",inline"`
//		Action string  `bson:"action"`
//	}
//
// *Document satisfies mgm's Model interface and its creating and saving
// hooks structurally, so the mongo adapter hands models to mgm as they are.
type Document struct {
	ID        string    `json:"id" bson:"_id,omitempty"`
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt time.Time `json:"updated_at" bson:"updated_at"`
}

// DocumentModel is what a DocStore needs of a model: access to the embedded
// [Document]. *T has it when T embeds Document.
type DocumentModel interface {
	// Doc returns the embedded Document, for the store to read and set.
	Doc() *Document
}

// DocModel is the type parameter constraint DocStore constructors use: PT
// is *T and has the embedded Document.
type DocModel[T any] interface {
	*T
	DocumentModel
}

// Doc returns d itself; it makes every type that embeds Document a
// DocumentModel.
func (d *Document) Doc() *Document { return d }

// GetID returns the ID (mgm's Model interface).
func (d *Document) GetID() any { return d.ID }

// SetID sets the ID from a string or from a value with a Hex method such as
// a BSON ObjectID (mgm's Model interface).
func (d *Document) SetID(id any) {
	switch v := id.(type) {
	case string:
		d.ID = v
	case interface{ Hex() string }:
		d.ID = v.Hex()
	}
}

// PrepareID returns id unchanged (mgm's Model interface); the mongo adapter
// converts string IDs to ObjectIDs itself.
func (d *Document) PrepareID(id any) (any, error) { return id, nil }

// Creating sets the created and updated times to now, in UTC truncated to
// milliseconds (the precision of BSON dates), when the created time is unset
// (mgm's creating hook).
func (d *Document) Creating() error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.UpdatedAt = now
	return nil
}

// Saving sets the updated time to now, in UTC truncated to milliseconds
// (mgm's saving hook).
func (d *Document) Saving() error {
	d.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	return nil
}

// DocRef is a reference to a document's ID, for a field that holds another
// document's ID (a customer of an order, say). It has the form of a
// Document ID (24 lowercase hexadecimal digits) and MongoDB adapters store
// it as an ObjectID, as they store IDs, so documents written by other
// programs (mongoose's ObjectId references) match it. A Query on a DocRef
// field compares with a DocRef or a string of that form; anything else is
// ErrInvalid. The empty DocRef is stored as null.
type DocRef string
