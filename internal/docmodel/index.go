package docmodel

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Index declares an index of a document collection. The mongo adapter
// (mongo.Index, WithIndexes) and the document fake (fakes.Index,
// fakes.WithIndexes) take this one description, so one declaration serves
// production and tests:
//
//	Index{Fields: []string{"Email"}, Unique: true}               // unique
//	Index{Fields: []string{"Author.Name", "-Rank"}}              // compound
//	Index{Fields: []string{"CreatedAt"}, TTL: 30 * 24 * time.Hour} // expiry
type Index struct {
	// Fields are the model's Go field paths ("Title", "Author.Name"),
	// most significant first; a "-" prefix makes a key descending. Each is
	// mapped to its BSON key like a Query field.
	Fields []string
	// Name names the index; empty lets the server derive one from the
	// keys, e.g. "author.name_1_rank_-1".
	Name string
	// Unique rejects a second document with the same values: Insert,
	// InsertMany, Update, Upsert and Patch then return ErrConflict. As in
	// MongoDB, a document that lacks a field is indexed as null, so two
	// documents that both lack it collide unless the index is Sparse.
	Unique bool
	// Sparse skips documents that lack every field of the index.
	Sparse bool
	// TTL, when positive, makes the server delete each document TTL after
	// the time in its only field, which must be a time.Time (whole
	// seconds, at least one). The server's TTL monitor runs about once a
	// minute, so expiry is late by up to that much; the fake does not
	// expire documents.
	TTL time.Duration
}

// String renders the index keys and options, e.g. "{title:1 rank:-1} unique".
func (ix Index) String() string {
	var b strings.Builder
	b.WriteString("{")
	for i, f := range ix.Fields {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(f)
	}
	b.WriteString("}")
	if ix.Unique {
		b.WriteString(" unique")
	}
	if ix.Sparse {
		b.WriteString(" sparse")
	}
	if ix.TTL > 0 {
		fmt.Fprintf(&b, " ttl=%v", ix.TTL)
	}
	return b.String()
}

// IndexKey is one key of a resolved index.
type IndexKey struct {
	Key  string // the BSON path
	Desc bool
}

// ResolvedIndex is an Index with its fields mapped to BSON keys.
type ResolvedIndex struct {
	Index
	Keys []IndexKey
}

// DefaultName returns the name MongoDB derives from the keys
// ("author.name_1_rank_-1"), or Name when it is set.
func (r ResolvedIndex) DefaultName() string {
	if r.Name != "" {
		return r.Name
	}
	parts := make([]string, len(r.Keys))
	for i, k := range r.Keys {
		dir := "1"
		if k.Desc {
			dir = "-1"
		}
		parts[i] = k.Key + "_" + dir
	}
	return strings.Join(parts, "_")
}

// SameKeys reports whether r and o index the same keys in the same order
// and directions.
func (r ResolvedIndex) SameKeys(o ResolvedIndex) bool {
	if len(r.Keys) != len(o.Keys) {
		return false
	}
	for i := range r.Keys {
		if r.Keys[i] != o.Keys[i] {
			return false
		}
	}
	return true
}

// SameOptions reports whether r and o have the same options.
func (r ResolvedIndex) SameOptions(o ResolvedIndex) bool {
	return r.Unique == o.Unique && r.Sparse == o.Sparse && r.TTL == o.TTL
}

// resolveIndex maps ix's fields to BSON keys and checks its options.
func (m *Model) resolveIndex(ix Index) (ResolvedIndex, error) {
	if len(ix.Fields) == 0 {
		return ResolvedIndex{}, errors.New("index has no fields")
	}
	r := ResolvedIndex{Index: ix}
	r.Fields = append([]string(nil), ix.Fields...)
	var last reflect.Type
	for _, f := range ix.Fields {
		desc := false
		switch {
		case strings.HasPrefix(f, "-"):
			f, desc = f[1:], true
		case strings.HasPrefix(f, "+"):
			f = f[1:]
		}
		k, t, err := m.IndexKey(f)
		if err != nil {
			return ResolvedIndex{}, fmt.Errorf("index %v: %w", ix, err)
		}
		for _, prev := range r.Keys {
			if prev.Key == k {
				return ResolvedIndex{}, fmt.Errorf("index %v: field %s given twice", ix, f)
			}
		}
		r.Keys = append(r.Keys, IndexKey{Key: k, Desc: desc})
		last = t
	}
	if ix.TTL != 0 {
		for last.Kind() == reflect.Pointer {
			last = last.Elem()
		}
		switch {
		case len(ix.Fields) != 1:
			return ResolvedIndex{}, fmt.Errorf("index %v: a TTL index has exactly one field", ix)
		case last != timeType:
			return ResolvedIndex{}, fmt.Errorf("index %v: a TTL index needs a time.Time field, not %v", ix, last)
		case ix.TTL < time.Second || ix.TTL%time.Second != 0:
			return ResolvedIndex{}, fmt.Errorf("index %v: TTL must be whole seconds, at least 1s", ix)
		}
	}
	return r, nil
}
