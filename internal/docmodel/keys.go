package docmodel

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// BSONKey returns the dotted BSON path of a struct field reached through
// chain (one StructField per step, embedded steps included), named as the
// driver names it: the bson tag's name, or the lowercased Go name; an
// inline step adds nothing. A step the driver skips (tag "-", unexported),
// or a key that is empty, starts with "$" or holds a "." or a NUL, is an
// error.
func BSONKey(chain []reflect.StructField) (string, error) {
	parts := make([]string, 0, len(chain))
	for _, sf := range chain {
		if sf.PkgPath != "" {
			return "", fmt.Errorf("field %s is unexported: the driver does not store it", sf.Name)
		}
		tag := parseTag(sf)
		if tag.skip {
			return "", fmt.Errorf("field %s is not stored (bson:\"-\")", sf.Name)
		}
		if tag.inline {
			continue
		}
		if err := checkModelKey(tag.name); err != nil {
			return "", fmt.Errorf("field %s: %w", sf.Name, err)
		}
		parts = append(parts, tag.name)
	}
	if len(parts) == 0 {
		return "", errors.New("field has no BSON key")
	}
	return strings.Join(parts, "."), nil
}

// checkModelKey rejects a key of the model's own tags that no filter or
// update can name.
func checkModelKey(k string) error {
	if k == "" || strings.HasPrefix(k, "$") || strings.ContainsAny(k, ".\x00") {
		return fmt.Errorf("BSON key %q cannot be stored portably or queried (empty, '$' first, '.' or NUL)", k)
	}
	return nil
}

// tag is a field's parsed bson tag.
type tag struct {
	name      string
	skip      bool
	inline    bool
	omitEmpty bool
}

// parseTag reads sf's bson tag as the driver's default struct tag parser
// does (bsoncodec.DefaultStructTagParser, deprecated in v1.17 but still
// what the default registry uses): the key is the tag's name or else the
// lowercased field name; a tag without "bson:" and without any ':' is
// taken whole; "-" skips the field.
func parseTag(sf reflect.StructField) tag {
	t := tag{name: strings.ToLower(sf.Name)}
	s, ok := sf.Tag.Lookup("bson")
	if !ok && !strings.Contains(string(sf.Tag), ":") && len(sf.Tag) > 0 {
		s = string(sf.Tag)
	}
	if s == "-" {
		t.skip = true
		return t
	}
	for i, part := range strings.Split(s, ",") {
		if i == 0 && part != "" {
			t.name = part
		}
		switch part {
		case "inline":
			t.inline = true
		case "omitempty":
			t.omitEmpty = true
		}
	}
	return t
}

// FieldChain returns the StructField of every step of the dotted Go path
// in t, following embedded structs as Go promotes their fields. Unlike
// ports.Schema it also reaches fields that cannot be queried (slices,
// maps), for indexes.
func FieldChain(t reflect.Type, path string) ([]reflect.StructField, error) {
	var chain []reflect.StructField
	for _, seg := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seg == "" {
			return nil, fmt.Errorf("no field %q", path)
		}
		sf, ok := t.FieldByName(seg)
		if !ok || !sf.IsExported() {
			return nil, fmt.Errorf("no field %q", path)
		}
		// Record every step of the index, embedded structs included.
		st := t
		for _, i := range sf.Index {
			for st.Kind() == reflect.Pointer {
				st = st.Elem()
			}
			f := st.Field(i)
			chain = append(chain, f)
			st = f.Type
		}
		t = sf.Type
	}
	return chain, nil
}
