package fakes

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/portkit/portkit/internal/docmodel"
	"github.com/portkit/portkit/ports"
)

// docMeta is what a document collection holds besides its documents: its
// indexes. It lives in a table of its own ("docmeta:<collection>") under
// metaKey, so that every store of the collection shares it; it is read
// and changed under the DB's lock.
type docMeta struct {
	indexes []docmodel.ResolvedIndex
}

const metaKey = "meta"

var (
	rawType  = reflect.TypeFor[bson.Raw]()
	metaType = reflect.TypeFor[*docMeta]()
)

// collectionMeta returns the meta of the collection named name.
func collectionMeta(db *DB, name string) (*docMeta, error) {
	tb, err := db.register("docmeta:"+name, metaType, func() (*table, error) {
		t := newTable("docmeta:"+name, metaType, nil)
		t.rows[metaKey] = &docMeta{}
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	return tb.rows[metaKey].(*docMeta), nil
}

// addIndexes adds the model's declared indexes to the collection, as
// MongoDB's createIndexes does (called with the DB's write lock held): an
// index already there with the same name and keys and options is kept; the
// same name or keys with other options is a conflict; a unique index the
// stored documents already break is a conflict.
func (s *DocStore[T, PT]) addIndexes() error {
	for _, ix := range s.m.Indexes() {
		dup := false
		for _, have := range s.meta.indexes {
			sameName := have.DefaultName() == ix.DefaultName()
			sameKeys := have.SameKeys(ix)
			switch {
			case sameName && sameKeys && have.SameOptions(ix):
				dup = true
			case sameName || sameKeys:
				return fmt.Errorf("index %s exists with other keys or options (MongoDB: IndexOptionsConflict)", ix.DefaultName())
			}
		}
		if dup {
			continue
		}
		if ix.Unique {
			seen := map[string]bool{}
			var clash bool
			s.db.scan(nil, s.tb, func(_, row any) {
				if k, ok := uniqueValue(row.(bson.Raw), ix); ok {
					clash = clash || seen[k]
					seen[k] = true
				}
			})
			if clash {
				return fmt.Errorf("the stored documents hold duplicates of the unique index %s", ix.DefaultName())
			}
		}
		s.meta.indexes = append(s.meta.indexes, ix)
	}
	return nil
}

// uniqueValue returns the value of the unique index ix in doc, or false
// for a sparse index the document has none of the fields of. A missing
// field counts as null, as in MongoDB.
func uniqueValue(doc bson.Raw, ix docmodel.ResolvedIndex) (string, bool) {
	var b strings.Builder
	present := false
	for _, k := range ix.Keys {
		v := sortValue(bsoncore.Document(doc), k.Key, false)
		if v.Type != 0 {
			present = true
		}
		b.WriteString(docmodel.UniqueKey(v))
		b.WriteByte(0)
	}
	if ix.Sparse && !present {
		return "", false
	}
	return b.String(), true
}

// uniqueConflict returns the error of a unique index on which doc, stored
// under key, would collide with another document t sees, or nil (read
// lock held).
func (s *DocStore[T, PT]) uniqueConflict(t *tx, op, key string, doc bson.Raw) error {
	for _, ix := range s.meta.indexes {
		if !ix.Unique {
			continue
		}
		v, ok := uniqueValue(doc, ix)
		if !ok {
			continue
		}
		clash := false
		s.db.scan(t, s.tb, func(k, row any) {
			if clash || k.(string) == key {
				return
			}
			if w, ok := uniqueValue(row.(bson.Raw), ix); ok && w == v {
				clash = true
			}
		})
		if clash {
			return ports.NewError(s.backend, op, ports.ErrConflict, fmt.Errorf("duplicate key on the unique index %s", ix.DefaultName()))
		}
	}
	return nil
}

// hasUnique reports whether the collection has a unique index.
func (s *DocStore[T, PT]) hasUnique() bool {
	for _, ix := range s.meta.indexes {
		if ix.Unique {
			return true
		}
	}
	return false
}

// waitFor returns the done channel of the running transaction when a
// write outside it must wait (write lock held): the transaction has
// written one of keys, or, with a unique index on the collection, any
// document of it (its unique values are locked until it ends).
func (s *DocStore[T, PT]) waitFor(t *tx, keys []any) <-chan struct{} {
	if t != nil {
		return nil
	}
	if done := s.db.blocked(s.tb, keys, nil); done != nil {
		return done
	}
	if a := s.db.active; a != nil && s.hasUnique() && len(a.writes[s.tb]) > 0 {
		return a.done
	}
	return nil
}

var errNoVersion = errors.New("the model has no Version field")
