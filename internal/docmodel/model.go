package docmodel

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"

	"github.com/portkit/portkit/ports"
)

// The BSON keys ports.Document declares for its times.
const (
	DefaultCreatedKey = "created_at"
	DefaultUpdatedKey = "updated_at"
)

// Options configures a Model.
type Options struct {
	// CreatedKey and UpdatedKey name the top-level keys the created and
	// updated times of ports.Document are stored under ("" keeps
	// created_at and updated_at), for documents that other programs write
	// with their own names (mongoose's createdAt and updatedAt).
	CreatedKey, UpdatedKey string
	// Indexes are the collection's declared indexes.
	Indexes []Index
}

// Model is the BSON description of one document model type. It is
// immutable and safe for concurrent use.
type Model struct {
	typ        reflect.Type
	schema     *ports.Schema
	reg        *bsoncodec.Registry
	createdKey string
	updatedKey string
	version    *ports.Field
	versionKey string
	root       *node
	inlineMaps bool
	keys       map[string]string // Go path -> BSON key, for the schema's fields
	omitEmpty  map[string]bool   // Go path -> the leaf is omitempty
	indexes    []ResolvedIndex
	encoders   *encoders // Encode's, with reg
}

// node is one level of the declared key tree: the keys the model's
// structs declare there, and for each key that holds a struct written by
// the default struct codec, the tree below it.
type node struct {
	sub       map[string]*node // key -> subtree, nil for a leaf
	inlineMap bool             // an inline map holds the undeclared keys
}

func (n *node) declared(k string) (sub *node, ok bool) {
	sub, ok = n.sub[k]
	return sub, ok
}

// checkKeys applies the portable key rules to the declared keys.
func (n *node) checkKeys(prefix string) error {
	for k, sub := range n.sub {
		if err := checkModelKey(k); err != nil {
			return fmt.Errorf("at %s: %w", name(strings.TrimSuffix(prefix, ".")), err)
		}
		if sub != nil {
			if err := sub.checkKeys(prefix + k + "."); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxTreeDepth bounds the declared tree of recursive types.
const maxTreeDepth = 16

// New returns the Model of struct type t. t must embed ports.Document with
// the tag `bson:",inline"`; its tags must encode (no duplicate keys, no
// key the portable rules refuse); it may have one ports.Version field.
// Errors name the problem; the caller wraps them as ErrInvalid.
func New(t reflect.Type, o Options) (*Model, error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("model type %v is not a struct", t)
	}
	schema, err := ports.SchemaFor(t)
	if err != nil {
		return nil, err
	}
	vf, err := schema.VersionField()
	if err != nil {
		return nil, err
	}
	m := &Model{typ: t, schema: schema, version: vf, keys: map[string]string{}, omitEmpty: map[string]bool{}}

	// The ID must be the top-level "_id": ports.Document embedded inline.
	if k, err := m.rawKey("ID"); err != nil || k != "_id" {
		return nil, fmt.Errorf(`%v must embed ports.Document with the tag bson:",inline", so that ID is "_id"`, t)
	}
	for _, p := range []string{"CreatedAt", "UpdatedAt"} {
		f, _ := schema.Lookup(p)
		if f == nil || !isDocumentField(f) {
			return nil, fmt.Errorf("%v: %s must be ports.Document's (a field of the model shadows it)", t, p)
		}
	}
	ck, _ := m.rawKey("CreatedAt")
	uk, _ := m.rawKey("UpdatedAt")
	if ck != DefaultCreatedKey || uk != DefaultUpdatedKey {
		return nil, fmt.Errorf("%v: ports.Document's times are not at the top level", t)
	}
	m.createdKey, m.updatedKey = DefaultCreatedKey, DefaultUpdatedKey
	enc, dec := map[string]string{}, map[string]string{}
	if o.CreatedKey != "" || o.UpdatedKey != "" {
		c, u := o.CreatedKey, o.UpdatedKey
		if c == "" {
			c = DefaultCreatedKey
		}
		if u == "" {
			u = DefaultUpdatedKey
		}
		for _, k := range []string{c, u} {
			if err := checkModelKey(k); err != nil {
				return nil, fmt.Errorf("timestamp key: %w", err)
			}
			if k == "_id" {
				return nil, errors.New(`timestamp key "_id" is the ID's`)
			}
		}
		if c == u {
			return nil, fmt.Errorf("created and updated times both named %q", c)
		}
		if c == DefaultUpdatedKey || u == DefaultCreatedKey {
			return nil, errors.New("timestamp keys swap created_at and updated_at")
		}
		m.createdKey, m.updatedKey = c, u
		for from, to := range map[string]string{DefaultCreatedKey: c, DefaultUpdatedKey: u} {
			if from != to {
				enc[from] = to
				dec[to] = from
				dec[from] = "\x00" + from // a stale key of the old name is not the time
			}
		}
	}

	m.reg = newRegistry(t, enc, dec)
	m.encoders = &encoders{reg: m.reg}
	m.root, m.inlineMaps = buildTree(t, m.reg, 0)
	if err := m.root.checkKeys(""); err != nil {
		return nil, fmt.Errorf("%v: %w", t, err)
	}
	for from, to := range enc {
		if _, clash := m.root.sub[to]; clash {
			return nil, fmt.Errorf("%v: timestamp key %q is already a key of the model", t, to)
		}
		m.root.sub[to] = m.root.sub[from]
		delete(m.root.sub, from)
	}

	for _, p := range schema.Paths() {
		k, err := m.rawKey(p)
		if err != nil {
			continue // not stored (bson:"-"): Key reports it when asked
		}
		if to, ok := enc[k]; ok {
			k = to
		}
		m.keys[p] = k
		f, _ := schema.Lookup(p)
		m.omitEmpty[p] = parseTag(f.Chain[len(f.Chain)-1]).omitEmpty
	}
	if vf != nil {
		k, ok := m.keys[vf.Path]
		if !ok {
			return nil, fmt.Errorf("%v: the Version field %s is not stored", t, vf.Path)
		}
		m.versionKey = k
	}

	// The zero model must encode: this catches duplicate keys and fields
	// the codec cannot write, at store creation rather than on first use.
	if _, err := marshal(m.reg, reflect.New(t).Interface()); err != nil {
		return nil, fmt.Errorf("%v does not encode to BSON: %w", t, err)
	}
	for _, ix := range o.Indexes {
		r, err := m.resolveIndex(ix)
		if err != nil {
			return nil, err
		}
		m.indexes = append(m.indexes, r)
	}
	return m, nil
}

// isDocumentField reports whether f is a field of an embedded
// ports.Document.
func isDocumentField(f *ports.Field) bool {
	if len(f.Chain) < 2 {
		return false
	}
	p := f.Chain[len(f.Chain)-2]
	t := p.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return p.Anonymous && t == reflect.TypeFor[ports.Document]()
}

// buildTree returns the declared key tree of struct type t as the
// driver's struct codec lays it out.
func buildTree(t reflect.Type, reg *bsoncodec.Registry, depth int) (*node, bool) {
	n := &node{sub: map[string]*node{}}
	inlineMaps := false
	var inlined []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.PkgPath != "" {
			continue
		}
		tg := parseTag(sf)
		if tg.skip {
			continue
		}
		ft := sf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if tg.inline {
			switch ft.Kind() {
			case reflect.Map:
				n.inlineMap, inlineMaps = true, true
			case reflect.Struct:
				inlined = append(inlined, ft)
			}
			continue
		}
		if _, dup := n.sub[tg.name]; dup {
			continue
		}
		var sub *node
		if ft.Kind() == reflect.Struct && depth < maxTreeDepth && isStructCodec(reg, ft) {
			var im bool
			sub, im = buildTree(ft, reg, depth+1)
			inlineMaps = inlineMaps || im
		}
		n.sub[tg.name] = sub
	}
	for _, it := range inlined {
		if depth >= maxTreeDepth {
			break
		}
		s, im := buildTree(it, reg, depth+1)
		inlineMaps = inlineMaps || im
		n.inlineMap = n.inlineMap || s.inlineMap
		for k, v := range s.sub {
			if _, dup := n.sub[k]; !dup {
				n.sub[k] = v
			}
		}
	}
	return n, inlineMaps
}

// isStructCodec reports whether the registry writes t with the default
// struct codec (and not a Marshaler or a type codec such as time.Time's).
func isStructCodec(reg *bsoncodec.Registry, t reflect.Type) bool {
	if t == timeType {
		return false
	}
	enc, err := reg.LookupEncoder(t)
	if err != nil {
		return false
	}
	//lint:ignore SA1019 only the type is used, to tell the default struct codec from a custom one
	_, ok := enc.(*bsoncodec.StructCodec)
	return ok
}

// rawKey returns the BSON key of the Go path before timestamp renaming.
func (m *Model) rawKey(path string) (string, error) {
	chain, err := FieldChain(m.typ, path)
	if err != nil {
		return "", err
	}
	return BSONKey(chain)
}

// Type returns the model struct type.
func (m *Model) Type() reflect.Type { return m.typ }

// Schema returns the model's Schema.
func (m *Model) Schema() *ports.Schema { return m.schema }

// Registry returns the model's registry: the driver's default registry
// with the model's ID, DocRef and timestamp codecs.
func (m *Model) Registry() *bsoncodec.Registry { return m.reg }

// CreatedKey returns the key of the created time.
func (m *Model) CreatedKey() string { return m.createdKey }

// CreatedOf returns the created time a stored document holds (the BSON
// date under CreatedKey, in UTC), or the zero time when it has none.
func (m *Model) CreatedOf(doc bson.Raw) time.Time {
	v, err := doc.LookupErr(m.createdKey)
	if err != nil {
		return time.Time{}
	}
	if ms, ok := v.DateTimeOK(); ok {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}

// UpdatedKey returns the key of the updated time.
func (m *Model) UpdatedKey() string { return m.updatedKey }

// VersionField returns the model's ports.Version field, or nil.
func (m *Model) VersionField() *ports.Field { return m.version }

// VersionKey returns the key of the Version field, "" when there is none.
func (m *Model) VersionKey() string { return m.versionKey }

// HasInlineMaps reports whether the model has an inline map at some
// level, which makes every key of that level declared.
func (m *Model) HasInlineMaps() bool { return m.inlineMaps }

// Indexes returns the declared indexes, resolved to BSON keys.
func (m *Model) Indexes() []ResolvedIndex { return m.indexes }

// Key returns the BSON key of the Go field path a Query, a sort or a Patch
// names, and the field; an error for a field the Schema does not have or
// the driver does not store.
func (m *Model) Key(path string) (string, *ports.Field, error) {
	f, ok := m.schema.Lookup(path)
	if !ok {
		return "", nil, fmt.Errorf("%s has no queryable field %q", m.typ.Name(), path)
	}
	k, ok := m.keys[path]
	if !ok {
		_, err := BSONKey(f.Chain)
		if err == nil {
			err = errors.New("not stored")
		}
		return "", nil, fmt.Errorf("%s.%s: %w", m.typ.Name(), path, err)
	}
	return k, f, nil
}

// IndexKey returns the BSON key of any stored field path (slices and maps
// included), for indexes.
func (m *Model) IndexKey(path string) (string, reflect.Type, error) {
	if k, ok := m.keys[path]; ok {
		f, _ := m.schema.Lookup(path)
		return k, f.Type, nil
	}
	chain, err := FieldChain(m.typ, path)
	if err != nil {
		return "", nil, fmt.Errorf("%s %w", m.typ.Name(), err)
	}
	k, err := BSONKey(chain)
	if err != nil {
		return "", nil, fmt.Errorf("%s.%s: %w", m.typ.Name(), path, err)
	}
	if k == DefaultCreatedKey {
		k = m.createdKey
	} else if k == DefaultUpdatedKey {
		k = m.updatedKey
	}
	return k, chain[len(chain)-1].Type, nil
}

// Encode encodes doc (a *T) with the model's registry and checks the
// result against the portable document rules (see Check). The error names
// the field at fault and never quotes a value.
func (m *Model) Encode(doc any) (bson.Raw, error) {
	raw, err := m.encoders.marshal(doc)
	if err != nil {
		return nil, describeEncodeError(doc, err)
	}
	if err := Check(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// Decode decodes raw into out (a *T) with the model's registry.
func (m *Model) Decode(raw bson.Raw, out any) error {
	return unmarshal(m.reg, raw, out)
}

// Version returns the version held by the model value v (a *T).
func (m *Model) Version(v any) ports.Version {
	if m.version == nil {
		return 0
	}
	return ports.Version(reflect.ValueOf(v).Elem().FieldByIndex(m.version.Index).Int())
}

// SetVersion sets the version of the model value v (a *T).
func (m *Model) SetVersion(v any, n ports.Version) {
	if m.version == nil {
		return
	}
	reflect.ValueOf(v).Elem().FieldByIndex(m.version.Index).SetInt(int64(n))
}

// OmitEmpty reports whether the field at the Go path is stored as absent
// when it holds its zero value (a non-pointer omitempty field).
func (m *Model) OmitEmpty(path string) bool {
	f, ok := m.schema.Lookup(path)
	return ok && !f.Nullable && m.omitEmpty[path]
}

// pathKey is strings.Split for dotted keys.
func pathKey(k string) []string { return strings.Split(k, ".") }
