package fakes

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/portkit/portkit/internal/docmodel"
	"github.com/portkit/portkit/ports"
)

// This file evaluates queries on stored BSON as MongoDB does: a dotted
// key reaches into documents and through arrays, a missing field equals
// null, $ne matches what $eq does not (missing and null included), the
// ordering operators compare only values of the same canonical type, and
// values compare by docmodel's rules (numbers by value across types,
// strings bytewise).

// docFilter is a conjunction of conditions, and, when any is set, the
// disjunction of keyset terms.
type docFilter struct {
	conds []docmodel.Cond
	terms [][]docmodel.Cond
	any   bool // terms apply (an empty list matches nothing)
}

func (f docFilter) match(d bsoncore.Document) bool {
	for _, c := range f.conds {
		if !matchCond(d, c) {
			return false
		}
	}
	if !f.any {
		return true
	}
	for _, t := range f.terms {
		ok := true
		for _, c := range t {
			if !matchCond(d, c) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func matchCond(d bsoncore.Document, c docmodel.Cond) bool {
	cands := candidates(d, strings.Split(c.Key, "."), false, nil)
	switch c.Op {
	case ports.Eq:
		return anyEqual(cands, c.Value)
	case ports.Ne:
		return !anyEqual(cands, c.Value)
	case ports.In:
		for _, v := range c.In {
			if anyEqual(cands, v) {
				return true
			}
		}
		return false
	}
	for _, x := range cands {
		if !docmodel.SameType(x, c.Value) {
			continue
		}
		r := docmodel.Compare(x, c.Value)
		switch c.Op {
		case ports.Lt:
			if r < 0 {
				return true
			}
		case ports.Lte:
			if r <= 0 {
				return true
			}
		case ports.Gt:
			if r > 0 {
				return true
			}
		case ports.Gte:
			if r >= 0 {
				return true
			}
		}
	}
	return false
}

func anyEqual(cands []bson.RawValue, v bson.RawValue) bool {
	for _, x := range cands {
		if docmodel.Equal(x, v) {
			return true
		}
	}
	return false
}

// candidates returns the values a dotted key reaches in d, as MongoDB's
// query paths do: through embedded documents and, across arrays, through
// every element that is a document; an array at the end gives itself and
// its elements (only its elements for a sort). A branch where the key is
// missing gives the zero RawValue (missing).
func candidates(d bsoncore.Document, parts []string, sort bool, out []bson.RawValue) []bson.RawValue {
	v, err := d.LookupErr(parts[0])
	if err != nil {
		return append(out, bson.RawValue{})
	}
	if len(parts) == 1 {
		if v.Type != bson.TypeArray {
			return append(out, bson.RawValue{Type: v.Type, Value: v.Data})
		}
		if !sort {
			out = append(out, bson.RawValue{Type: v.Type, Value: v.Data})
		}
		vals, _ := v.Array().Values()
		if sort && len(vals) == 0 {
			return append(out, bson.RawValue{})
		}
		for _, e := range vals {
			out = append(out, bson.RawValue{Type: e.Type, Value: e.Data})
		}
		return out
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return candidates(v.Document(), parts[1:], sort, out)
	case bson.TypeArray:
		n := len(out)
		vals, _ := v.Array().Values()
		for _, e := range vals {
			if e.Type == bson.TypeEmbeddedDocument {
				out = candidates(e.Document(), parts[1:], sort, out)
			}
		}
		if len(out) == n {
			out = append(out, bson.RawValue{})
		}
		return out
	}
	return append(out, bson.RawValue{})
}

// sortValue returns the value d sorts by on key: the least of its
// candidates ascending, the greatest descending (MongoDB's rule for
// arrays); a missing field sorts as null.
func sortValue(d bsoncore.Document, key string, desc bool) bson.RawValue {
	cands := candidates(d, strings.Split(key, "."), true, nil)
	best := cands[0]
	for _, x := range cands[1:] {
		r := docmodel.Compare(x, best)
		if (desc && r > 0) || (!desc && r < 0) {
			best = x
		}
	}
	return best
}

// docHit is one matching document and its sort values.
type docHit struct {
	key  string
	raw  bson.Raw
	sort []bson.RawValue
}

// sortHits orders hits by keys (which end with _id, so the order is total).
func sortHits(hits []docHit, keys []docmodel.SortKey) {
	for i := range hits {
		hits[i].sort = make([]bson.RawValue, len(keys))
		for j, k := range keys {
			hits[i].sort[j] = sortValue(bsoncore.Document(hits[i].raw), k.Key, k.Desc)
		}
	}
	slices.SortFunc(hits, func(a, b docHit) int {
		for j, k := range keys {
			r := docmodel.Compare(a.sort[j], b.sort[j])
			if k.Desc {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return strings.Compare(a.key, b.key)
	})
}
