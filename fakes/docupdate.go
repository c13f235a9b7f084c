package fakes

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/portkit/portkit/internal/docmodel"
)

// This file applies a docmodel.Update to a stored document as MongoDB
// applies $set, $unset, $inc and $setOnInsert: changes in lexicographic
// order of their paths (so new fields are appended in that order), missing
// documents on the way created, a path through a value that is not a
// document refused (PathNotViable), $inc on a missing field setting the
// delta and on a non-number refused (TypeMismatch), int32 sums that
// overflow widened to int64, int64 sums that overflow refused.

// mdoc is a document being updated: its elements in order, each value a
// bsoncore.Value or, once descended into, an *mdoc.
type mdoc struct {
	keys []string
	vals []any
}

func parseMdoc(d bsoncore.Document) *mdoc {
	elems, _ := d.Elements()
	m := &mdoc{keys: make([]string, len(elems)), vals: make([]any, len(elems))}
	for i, e := range elems {
		m.keys[i], m.vals[i] = e.Key(), e.Value()
	}
	return m
}

func (m *mdoc) index(k string) int { return slices.Index(m.keys, k) }

func (m *mdoc) set(k string, v any) {
	if i := m.index(k); i >= 0 {
		m.vals[i] = v
		return
	}
	m.keys, m.vals = append(m.keys, k), append(m.vals, v)
}

func (m *mdoc) remove(k string) {
	if i := m.index(k); i >= 0 {
		m.keys = slices.Delete(m.keys, i, i+1)
		m.vals = slices.Delete(m.vals, i, i+1)
	}
}

func (m *mdoc) appendTo(dst []byte) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	for i, k := range m.keys {
		switch v := m.vals[i].(type) {
		case *mdoc:
			dst = bsoncore.AppendHeader(dst, bson.TypeEmbeddedDocument, k)
			dst = v.appendTo(dst)
		case bsoncore.Value:
			dst = bsoncore.AppendHeader(dst, v.Type, k)
			dst = append(dst, v.Data...)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// errPathNotViable and errTypeMismatch are the fake's answers where
// MongoDB answers PathNotViable (28) and TypeMismatch (14).
var (
	errPathNotViable = errors.New("the update crosses a stored value that is not a document (MongoDB: PathNotViable)")
	errTypeMismatch  = errors.New("cannot increment a stored value that is not a number (MongoDB: TypeMismatch)")
	errIncOverflow   = errors.New("the increment overflows a 64-bit integer")
)

type change struct {
	key  string
	kind byte // 's' set, 'u' unset, 'i' inc
	val  bson.RawValue
}

// applyUpdate returns stored with u applied; insert applies SetOnInsert
// too.
func applyUpdate(stored bson.Raw, u docmodel.Update, insert bool) (bson.Raw, error) {
	var cs []change
	for _, e := range u.Set {
		cs = append(cs, change{e.Key, 's', e.Value})
	}
	for _, k := range u.Unset {
		cs = append(cs, change{key: k, kind: 'u'})
	}
	for _, e := range u.Inc {
		cs = append(cs, change{e.Key, 'i', e.Value})
	}
	if insert {
		for _, e := range u.SetOnInsert {
			cs = append(cs, change{e.Key, 's', e.Value})
		}
	}
	slices.SortStableFunc(cs, func(a, b change) int { return strings.Compare(a.key, b.key) })
	root := parseMdoc(bsoncore.Document(stored))
	for _, c := range cs {
		if err := applyChange(root, strings.Split(c.key, "."), c); err != nil {
			return nil, fmt.Errorf("%s: %w", c.key, err)
		}
	}
	return bson.Raw(root.appendTo(nil)), nil
}

func applyChange(m *mdoc, parts []string, c change) error {
	for len(parts) > 1 {
		i := m.index(parts[0])
		if i < 0 {
			if c.kind == 'u' {
				return nil
			}
			sub := &mdoc{}
			m.set(parts[0], sub)
			m, parts = sub, parts[1:]
			continue
		}
		switch v := m.vals[i].(type) {
		case *mdoc:
			m = v
		case bsoncore.Value:
			if v.Type != bson.TypeEmbeddedDocument {
				if c.kind == 'u' {
					return nil
				}
				return errPathNotViable
			}
			sub := parseMdoc(v.Document())
			m.vals[i] = sub
			m = sub
		}
		parts = parts[1:]
	}
	k := parts[0]
	switch c.kind {
	case 's':
		m.set(k, bsoncore.Value{Type: c.val.Type, Data: c.val.Value})
	case 'u':
		m.remove(k)
	case 'i':
		i := m.index(k)
		if i < 0 {
			m.set(k, bsoncore.Value{Type: c.val.Type, Data: c.val.Value})
			return nil
		}
		cur, ok := m.vals[i].(bsoncore.Value)
		if !ok {
			return errTypeMismatch
		}
		sum, err := addNumbers(cur, bsoncore.Value{Type: c.val.Type, Data: c.val.Value})
		if err != nil {
			return err
		}
		m.vals[i] = sum
	}
	return nil
}

// addNumbers adds two BSON numbers with MongoDB's type promotion.
func addNumbers(a, b bsoncore.Value) (bsoncore.Value, error) {
	isNum := func(t bsontype.Type) bool {
		return t == bson.TypeInt32 || t == bson.TypeInt64 || t == bson.TypeDouble
	}
	if !isNum(a.Type) || !isNum(b.Type) {
		if a.Type == bson.TypeDecimal128 || b.Type == bson.TypeDecimal128 {
			return bsoncore.Value{}, errors.New("the fake does not add decimal128 values")
		}
		return bsoncore.Value{}, errTypeMismatch
	}
	if a.Type == bson.TypeDouble || b.Type == bson.TypeDouble {
		x := asFloat(a) + asFloat(b)
		return bsoncore.Value{Type: bson.TypeDouble, Data: bsoncore.AppendDouble(nil, x)}, nil
	}
	x, y := asInt(a), asInt(b)
	s := x + y
	if (y > 0 && s < x) || (y < 0 && s > x) {
		return bsoncore.Value{}, errIncOverflow
	}
	if a.Type == bson.TypeInt32 && b.Type == bson.TypeInt32 && s >= math.MinInt32 && s <= math.MaxInt32 {
		return bsoncore.Value{Type: bson.TypeInt32, Data: bsoncore.AppendInt32(nil, int32(s))}, nil
	}
	return bsoncore.Value{Type: bson.TypeInt64, Data: bsoncore.AppendInt64(nil, s)}, nil
}

func asFloat(v bsoncore.Value) float64 {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32())
	case bson.TypeInt64:
		return float64(v.Int64())
	}
	return v.Double()
}

func asInt(v bsoncore.Value) int64 {
	if v.Type == bson.TypeInt32 {
		return int64(v.Int32())
	}
	return v.Int64()
}
