package fakes

import (
	"reflect"
	"strings"
	"unicode"

	"github.com/portkit/portkit/internal/docmodel"
)

// docConfig is what the document-store options set (storeConfig.doc).
type docConfig struct {
	model docmodel.Options
}

// Index declares an index of a [DocStore]'s collection, for
// [WithIndexes]. It is the same type as mongo.Index, so one declaration
// serves the fake in tests and the adapter in production. The fake
// enforces Unique (with Sparse) from NewDocStore on; it accepts TTL but
// does not expire documents.
type Index = docmodel.Index

// WithIndexes declares indexes of a DocStore's collection (ignored by
// SQL stores). A Unique index makes Insert, InsertMany, Update, Upsert and
// Patch return ErrConflict for a duplicate value, as MongoDB's does: a
// document that lacks the field is indexed as null, so two such documents
// collide unless the index is Sparse. Indexes belong to the collection:
// stores of one collection share them. NewDocStore returns ErrConflict
// when an index exists under the same name or keys with other options, or
// when the stored documents already break a new unique index.
func WithIndexes(ix ...Index) StoreOption {
	return func(c *storeConfig) { c.doc.model.Indexes = append(c.doc.model.Indexes, ix...) }
}

// WithTimestampKeys names the BSON keys of the created and updated times
// of ports.Document in a DocStore's collection (created_at and updated_at
// by default), as mongo.WithTimestampKeys does: WithTimestampKeys(
// "createdAt", "updatedAt") for documents that mongoose or typegoose also
// write. An empty name keeps the default. SQL stores ignore it.
func WithTimestampKeys(created, updated string) StoreOption {
	return func(c *storeConfig) { c.doc.model.CreatedKey, c.doc.model.UpdatedKey = created, updated }
}

// collectionName is a document model's default collection name: its
// CollectionName() when it has one, else its type name in snake case with
// an "s" appended ("OrderView" -> "order_views").
func collectionName(typ reflect.Type) string {
	for _, v := range []reflect.Value{reflect.New(typ).Elem(), reflect.New(typ)} {
		if m := v.MethodByName("CollectionName"); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 && m.Type().Out(0).Kind() == reflect.String {
			if name := m.Call(nil)[0].String(); name != "" {
				return name
			}
		}
	}
	var b strings.Builder
	rs := []rune(typ.Name())
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "documents"
	}
	return b.String() + "s"
}
