package portstest

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// keyNamer names a stored key by the operation that created it ("#3",
// "#3.1" for the second entity of a CreateMany), false when the key is not
// one a create of the sequence returned.
type keyNamer func(k any) (string, bool)

// differ compares values of the two sides with the model's
// normalisations.
type differ struct {
	m      *model
	na, nb keyNamer
}

// diff returns the dotted paths at which a and b differ (sorted, no
// duplicates).
func (d differ) diff(a, b reflect.Value) []string {
	var out []string
	d.walk(a, b, "", true, &out, 0)
	slices.Sort(out)
	return slices.Compact(out)
}

func (d differ) walk(a, b reflect.Value, path string, exported bool, out *[]string, depth int) {
	if d.m.ignored[path] || depth > 12 {
		return
	}
	mark := func() {
		p := path
		if p == "" {
			p = "value"
		}
		*out = append(*out, p)
	}
	if !a.IsValid() || !b.IsValid() {
		if a.IsValid() != b.IsValid() {
			mark()
		}
		return
	}
	if a.Type() != b.Type() {
		mark()
		return
	}
	if exported && path == d.m.pkPath && d.na != nil {
		ka, oka := d.na(a.Interface())
		kb, okb := d.nb(b.Interface())
		switch {
		case oka && okb:
			if ka != kb {
				mark()
			}
			return
		case oka != okb:
			mark()
			return
		}
	}
	if a.Type() == timeT {
		if !exported {
			return
		}
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if d.m.stamped[path] {
			if !sameStamp(ta, tb, d.m.tol) {
				mark()
			}
			return
		}
		if !ta.Equal(tb) || ta.Location().String() != tb.Location().String() {
			mark()
		}
		return
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				mark()
			}
			return
		}
		if a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type() {
			mark()
			return
		}
		d.walk(a.Elem(), b.Elem(), path, exported, out, depth+1)
	case reflect.String:
		if a.String() != b.String() {
			mark()
		}
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			mark()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			mark()
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if a.Uint() != b.Uint() {
			mark()
		}
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		if !(math.IsNaN(x) && math.IsNaN(y)) && math.Float64bits(x) != math.Float64bits(y) {
			mark()
		}
	case reflect.Slice, reflect.Map:
		if a.IsNil() != b.IsNil() && (!d.m.nilEq || a.Len() != 0 || b.Len() != 0) {
			mark()
			return
		}
		if a.Len() != b.Len() {
			mark()
			return
		}
		if a.Kind() == reflect.Slice {
			for i := range a.Len() {
				d.walk(a.Index(i), b.Index(i), path, exported, out, depth+1)
			}
			return
		}
		for _, k := range a.MapKeys() {
			vb := b.MapIndex(k)
			if !vb.IsValid() {
				mark()
				return
			}
			d.walk(a.MapIndex(k), vb, path, exported, out, depth+1)
		}
	case reflect.Array:
		for i := range a.Len() {
			d.walk(a.Index(i), b.Index(i), path, exported, out, depth+1)
		}
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			p := path
			if !f.Anonymous {
				if p != "" {
					p += "."
				}
				p += f.Name
			}
			d.walk(a.Field(i), b.Field(i), p, exported && f.IsExported(), out, depth+1)
		}
	}
}

// sameStamp compares two times a store stamped: both zero, or within tol
// of each other, in the same location, with the same precision class.
func sameStamp(a, b time.Time, tol time.Duration) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	d := a.Sub(b)
	if d < 0 {
		d = -d
	}
	return d <= tol && a.Location().String() == b.Location().String() && precision(a) == precision(b)
}

// precision classes a time as "sub-µs" or "µs", so that a store keeping
// the clock's nanoseconds differs from one truncating to its column. The
// class stops at microseconds: a microsecond clock reads a whole
// millisecond once in a thousand, so telling a millisecond column from a
// microsecond one by a single stamp would fail at random; that the fakes
// stamp at each dialect's precision is asserted directly
// (fakes.TestSQLAutoTimesUTC). The other way round, a nanosecond stamp
// that happens to be a whole microsecond only hides a divergence once.
func precision(t time.Time) string {
	if t.Nanosecond()%int(time.Microsecond) != 0 {
		return "sub-µs"
	}
	return "µs"
}

// render renders a value compactly for reports; keys go through name.
func (d differ) render(v reflect.Value, name keyNamer) string {
	var b strings.Builder
	d.renderTo(&b, v, "", name, 0)
	return b.String()
}

func (d differ) renderTo(b *strings.Builder, v reflect.Value, path string, name keyNamer, depth int) {
	if !v.IsValid() {
		b.WriteString("nil")
		return
	}
	if depth > 10 {
		b.WriteString("…")
		return
	}
	if path == d.m.pkPath && name != nil && v.CanInterface() {
		if n, ok := name(v.Interface()); ok {
			b.WriteString(n)
			return
		}
	}
	if v.Type() == timeT {
		if !v.CanInterface() {
			b.WriteString("time")
			return
		}
		b.WriteString(fmtDiffTime(v.Interface().(time.Time)))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		b.WriteString("&")
		d.renderTo(b, v.Elem(), path, name, depth+1)
	case reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		if v.Elem().Kind() != reflect.Map && v.Elem().Kind() != reflect.Slice && v.Elem().Type() != timeT {
			fmt.Fprintf(b, "%s(", v.Elem().Type())
			d.renderTo(b, v.Elem(), path, name, depth+1)
			b.WriteString(")")
			return
		}
		d.renderTo(b, v.Elem(), path, name, depth+1)
	case reflect.String:
		b.WriteString(shortQuote(v.String()))
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if f == 0 && math.Signbit(f) {
			b.WriteString("-0")
			return
		}
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			b.WriteString("nil")
			return
		}
		if isHexArray(v.Type()) && v.CanInterface() {
			b.WriteString(v.MethodByName("Hex").Call(nil)[0].String())
			return
		}
		b.WriteString("[")
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(" ")
			}
			if i == 6 {
				fmt.Fprintf(b, "…(%d)", v.Len())
				break
			}
			d.renderTo(b, v.Index(i), path, name, depth+1)
		}
		b.WriteString("]")
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) })
		b.WriteString("map[")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" ")
			}
			d.renderTo(b, k, "", nil, depth+1)
			b.WriteString(":")
			d.renderTo(b, v.MapIndex(k), path, name, depth+1)
		}
		b.WriteString("]")
	case reflect.Struct:
		t := v.Type()
		b.WriteString("{")
		first := true
		for i := range t.NumField() {
			f := t.Field(i)
			fv := v.Field(i)
			p := path
			if !f.Anonymous {
				if p != "" {
					p += "."
				}
				p += f.Name
			}
			if isZero(fv) && p != d.m.pkPath {
				continue
			}
			if !first {
				b.WriteString(" ")
			}
			first = false
			if f.Anonymous && fv.Kind() == reflect.Struct {
				d.renderTo(b, fv, p, name, depth+1)
				continue
			}
			b.WriteString(f.Name)
			b.WriteString(":")
			if !f.IsExported() {
				fmt.Fprintf(b, "%v", fv)
				continue
			}
			d.renderTo(b, fv, p, name, depth+1)
		}
		b.WriteString("}")
	default:
		if v.CanInterface() {
			fmt.Fprintf(b, "%v", v.Interface())
		} else {
			fmt.Fprintf(b, "%v", v)
		}
	}
}

// isZero is reflect.Value.IsZero but for -0, which it counts as zero and
// a store may not keep.
func isZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(v.Float()) == 0
	}
	return v.IsZero()
}

// fmtDiffTime renders a time with its zone and full precision.
func fmtDiffTime(t time.Time) string {
	if t.IsZero() {
		return "time{}"
	}
	return t.Format("2006-01-02T15:04:05.999999999Z07:00") + "(" + t.Location().String() + ")"
}

// shortQuote quotes s, abbreviating long strings.
func shortQuote(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q…(%d bytes)", s[:24], len(s))
	}
	return strconv.Quote(s)
}
