package ports_test

import (
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// krow has a field of every class, nullable ones, and an int64 key.
type krow struct {
	ID int64
	I  int8
	U  uint64
	F  float64
	S  string
	B  bool
	T  time.Time
	P  *int
	PS *string
	PT *time.Time
}

type otherRow struct {
	ID int64
	I  int8
}

func kschema(t *testing.T) *ports.Schema {
	t.Helper()
	s, err := ports.SchemaOf[krow]()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func intp(i int) *int       { return &i }
func strp(s string) *string { return &s }

func TestCursorRoundTrip(t *testing.T) {
	s := kschema(t)
	at := time.Date(2024, 2, 3, 4, 5, 6, 789_123_456, time.FixedZone("X", 3600))
	row := krow{ID: 42, I: -7, U: math.MaxUint64, F: math.Copysign(0, -1), S: "é'\"; DROP", B: true, T: at, P: nil, PS: strp(""), PT: &at}
	q := ports.Where("I", ports.Gt, -100).OrderBy("I", "-U", "F", "-S", "B", "T", "-P", "PS", "PT")
	c, err := s.EncodeCursor(q, "ID", &row)
	if err != nil {
		t.Fatalf("EncodeCursor: %v", err)
	}
	if strings.ContainsAny(c, "+/= ") {
		t.Errorf("cursor %q is not URL-safe base64 without padding", c)
	}
	got, err := s.DecodeCursor(q, "ID", c)
	if err != nil {
		t.Fatalf("DecodeCursor: %v", err)
	}
	want := []any{int64(-7), uint64(math.MaxUint64), math.Copysign(0, -1), "é'\"; DROP", true, at.UTC(), nil, "", at.UTC(), int64(42)}
	if len(got) != len(want) {
		t.Fatalf("DecodeCursor returned %d values, want %d (the sort keys, then the key)", len(got), len(want))
	}
	for i := range want {
		if reflect.TypeOf(got[i]) != reflect.TypeOf(want[i]) {
			t.Errorf("value %d: %T, want %T", i, got[i], want[i])
			continue
		}
		switch w := want[i].(type) {
		case float64:
			if math.Float64bits(got[i].(float64)) != math.Float64bits(w) {
				t.Errorf("value %d: %v, want %v exactly (bits)", i, got[i], w)
			}
		case time.Time:
			if g := got[i].(time.Time); !g.Equal(w) || g.Location() != time.UTC {
				t.Errorf("value %d: %v, want %v in UTC", i, g, w)
			}
		default:
			if got[i] != want[i] {
				t.Errorf("value %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
	// A value and a pointer encode alike.
	c2, err := s.EncodeCursor(q, "ID", row)
	if err != nil || c2 != c {
		t.Errorf("EncodeCursor of the value = %q, %v; of the pointer %q", c2, err, c)
	}
}

func TestCursorEncodeRejects(t *testing.T) {
	s := kschema(t)
	q := ports.All().OrderBy("I")
	for what, row := range map[string]any{
		"a nil row":             (*krow)(nil),
		"a row of another type": otherRow{ID: 1},
	} {
		if _, err := s.EncodeCursor(q, "ID", row); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("EncodeCursor of %s: %v, want ErrInvalid", what, err)
		}
	}
	if _, err := s.EncodeCursor(ports.All().OrderBy("Nope"), "ID", krow{}); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("EncodeCursor with an unknown sort field: %v, want ErrInvalid", err)
	}
}

func TestCursorRejectsTamperingAndForeignQueries(t *testing.T) {
	s := kschema(t)
	q := ports.Where("S", ports.Eq, "x").OrderBy("-I", "P")
	row := krow{ID: 3, I: 5, S: "x", P: intp(9)}
	c, err := s.EncodeCursor(q, "ID", row)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecodeCursor(q, "ID", c); err != nil {
		t.Fatalf("DecodeCursor of an intact cursor: %v", err)
	}
	wantInvalid := func(what string, q ports.Query, c string) {
		t.Helper()
		vals, err := s.DecodeCursor(q, "ID", c)
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("DecodeCursor of %s = %v, %v; want ErrInvalid", what, vals, err)
		}
		if err != nil && len(c) >= 8 && strings.Contains(err.Error(), c) {
			t.Errorf("the error quotes the cursor: %v", err)
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(c) {
		for _, r := range []byte{alphabet[(strings.IndexByte(alphabet, c[i])+1)%64], alphabet[(strings.IndexByte(alphabet, c[i])+33)%64]} {
			b := []byte(c)
			b[i] = r
			// The last character may carry only padding bits: a change
			// there can decode to the same bytes, which is not tampering.
			if raw1, raw2 := decodeB64(c), decodeB64(string(b)); raw2 != nil && slices.Equal(raw1, raw2) {
				continue
			}
			wantInvalid("a cursor with character "+string(rune('0'+i%10))+" changed", q, string(b))
		}
	}
	for n := range len(c) {
		wantInvalid("a truncated cursor", q, c[:n])
	}
	wantInvalid("a cursor with a character added", q, c+"A")
	wantInvalid("an SQL injection", q, "' OR 1=1 --")
	wantInvalid("a JSON payload", q, `{"v":1,"k":[]}`)
	for what, other := range map[string]ports.Query{
		"another condition value": ports.Where("S", ports.Eq, "y").OrderBy("-I", "P"),
		"another operator":        ports.Where("S", ports.Ne, "x").OrderBy("-I", "P"),
		"no condition":            ports.All().OrderBy("-I", "P"),
		"another direction":       ports.Where("S", ports.Eq, "x").OrderBy("I", "P"),
		"another sort key":        ports.Where("S", ports.Eq, "x").OrderBy("-I", "PS"),
		"one sort key fewer":      ports.Where("S", ports.Eq, "x").OrderBy("-I"),
	} {
		wantInvalid("the cursor of "+what, other, c)
	}
	if _, err := s.DecodeCursor(q, "I", c); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("DecodeCursor with another key field: %v, want ErrInvalid", err)
	}
	os, err := ports.SchemaOf[otherRow]()
	if err != nil {
		t.Fatal(err)
	}
	oc, err := os.EncodeCursor(ports.All().OrderBy("I"), "ID", otherRow{ID: 1, I: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid("a cursor of another model", ports.All().OrderBy("I"), oc)
	// Limits do not matter: a page size may change between pages.
	if _, err := s.DecodeCursor(q.Limit(7), "ID", c); err != nil {
		t.Errorf("DecodeCursor with another limit: %v, want the cursor accepted", err)
	}
}

func decodeB64(s string) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var out []byte
	var acc, bits uint
	for i := range len(s) {
		j := strings.IndexByte(alphabet, s[i])
		if j < 0 {
			return nil
		}
		acc = acc<<6 | uint(j)
		bits += 6
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	return out
}

func TestKeysetOrder(t *testing.T) {
	got := ports.KeysetOrder(ports.All().OrderBy("-I", "S"), "ID")
	want := []ports.Order{{Field: "I", Desc: true}, {Field: "S"}, {Field: "ID"}}
	if !slices.Equal(got, want) {
		t.Errorf("KeysetOrder = %v, want %v", got, want)
	}
	got = ports.KeysetOrder(ports.All().OrderBy("-ID"), "ID")
	if !slices.Equal(got, []ports.Order{{Field: "ID", Desc: true}}) {
		t.Errorf("KeysetOrder of a query sorting by the key = %v, want the query's own order", got)
	}
	q := ports.Where("S", ports.Eq, "x").OrderBy("I").Limit(3)
	kq := ports.KeysetQuery(q, []ports.Condition{{Field: "I", Op: ports.Gt, Value: int64(1)}})
	if len(kq.Conditions()) != 2 || len(q.Conditions()) != 1 {
		t.Errorf("KeysetQuery = %v (q %v), want q's condition and the term's, q unchanged", kq, q)
	}
}

// eval reports whether row matches c under the port's rules: NULL matches
// Eq nil only, and Ne nil never; Lt, Lte, Gt, Gte never match NULL.
func eval(t *testing.T, s *ports.Schema, row krow, c ports.Condition) bool {
	f, ok := s.Lookup(c.Field)
	if !ok {
		t.Fatalf("unknown field %s", c.Field)
	}
	v := reflect.ValueOf(row).FieldByIndex(f.Index)
	null := v.Kind() == reflect.Pointer && v.IsNil()
	if v.Kind() == reflect.Pointer && !null {
		v = v.Elem()
	}
	if c.Value == nil {
		switch c.Op {
		case ports.Eq:
			return null
		case ports.Ne:
			return !null
		}
		t.Fatalf("nil with %s", c.Op)
	}
	if null {
		return c.Op == ports.Ne
	}
	d := compareValue(v, c.Value)
	switch c.Op {
	case ports.Eq:
		return d == 0
	case ports.Ne:
		return d != 0
	case ports.Lt:
		return d < 0
	case ports.Lte:
		return d <= 0
	case ports.Gt:
		return d > 0
	case ports.Gte:
		return d >= 0
	}
	t.Fatalf("operator %s", c.Op)
	return false
}

func compareValue(v reflect.Value, x any) int {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int64:
		return cmp.Compare(v.Int(), x.(int64))
	case reflect.Uint64:
		return cmp.Compare(v.Uint(), x.(uint64))
	case reflect.Float64:
		return cmp.Compare(v.Float(), x.(float64))
	case reflect.String:
		return strings.Compare(v.String(), x.(string))
	case reflect.Bool:
		a, b := v.Bool(), x.(bool)
		switch {
		case a == b:
			return 0
		case !a:
			return -1
		}
		return 1
	}
	return v.Interface().(time.Time).Compare(x.(time.Time))
}

// sortRows sorts rows in keyset order: NULL first ascending, last
// descending, then by key.
func sortRows(s *ports.Schema, rows []krow, order []ports.Order) {
	slices.SortStableFunc(rows, func(a, b krow) int {
		for _, o := range order {
			f, _ := s.Lookup(o.Field)
			va, vb := reflect.ValueOf(a).FieldByIndex(f.Index), reflect.ValueOf(b).FieldByIndex(f.Index)
			na := va.Kind() == reflect.Pointer && va.IsNil()
			nb := vb.Kind() == reflect.Pointer && vb.IsNil()
			var d int
			switch {
			case na && nb:
				d = 0
			case na:
				d = -1
			case nb:
				d = 1
			default:
				if va.Kind() == reflect.Pointer {
					va, vb = va.Elem(), vb.Elem()
				}
				d = compareValue(va, canon(vb))
			}
			if o.Desc {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return 0
	})
}

// canon returns v as the cursor's decoded type.
func canon(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int64:
		return v.Int()
	case reflect.Uint64:
		return v.Uint()
	}
	return v.Interface()
}

// TestKeysetMatchesBruteForce checks Keyset against a brute-force sort:
// for random rows with NULLs and ties, random sort keys in mixed
// directions, the rows "after" each row's cursor are exactly those that
// follow it in the sorted order.
func TestKeysetMatchesBruteForce(t *testing.T) {
	s := kschema(t)
	r := rand.New(rand.NewPCG(1, 2))
	fields := []string{"I", "U", "F", "S", "B", "T", "P", "PS", "PT"}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 300 {
		rows := make([]krow, 2+r.IntN(14))
		for i := range rows {
			row := krow{ID: int64(i + 1), I: int8(r.IntN(3) - 1), U: uint64(r.IntN(3)), F: []float64{-1.5, 0, 2}[r.IntN(3)],
				S: []string{"", "a", "b"}[r.IntN(3)], B: r.IntN(2) == 0, T: t0.Add(time.Duration(r.IntN(3)) * time.Hour)}
			if r.IntN(3) > 0 {
				row.P = intp(r.IntN(3))
			}
			if r.IntN(3) > 0 {
				row.PS = strp([]string{"", "x"}[r.IntN(2)])
			}
			if r.IntN(3) > 0 {
				tm := t0.Add(time.Duration(r.IntN(2)) * time.Minute)
				row.PT = &tm
			}
			rows[i] = row
		}
		var keys []string
		for _, f := range r.Perm(len(fields))[:1+r.IntN(3)] {
			k := fields[f]
			if r.IntN(2) == 0 {
				k = "-" + k
			}
			keys = append(keys, k)
		}
		q := ports.All().OrderBy(keys...)
		order := ports.KeysetOrder(q, "ID")
		sorted := slices.Clone(rows)
		sortRows(s, sorted, order)
		for i, row := range sorted {
			c, err := s.EncodeCursor(q, "ID", row)
			if err != nil {
				t.Fatalf("EncodeCursor: %v", err)
			}
			vals, err := s.DecodeCursor(q, "ID", c)
			if err != nil {
				t.Fatalf("DecodeCursor: %v", err)
			}
			terms := ports.Keyset(q, "ID", vals)
			var after []int64
			for _, cand := range rows {
				for _, term := range terms {
					all := true
					for _, cond := range term {
						if !eval(t, s, cand, cond) {
							all = false
							break
						}
					}
					if all {
						after = append(after, cand.ID)
						break
					}
				}
			}
			var want []int64
			for _, w := range sorted[i+1:] {
				want = append(want, w.ID)
			}
			slices.Sort(after)
			slices.Sort(want)
			if !slices.Equal(after, want) {
				t.Fatalf("round %d, order %v, after row %d (%+v): Keyset matches %v, want %v (terms %v)", round, keys, row.ID, row, after, want, terms)
			}
		}
	}
}

func TestValidatePage(t *testing.T) {
	s := kschema(t)
	if err := s.ValidatePage(ports.All().OrderBy("I").Limit(5)); err != nil {
		t.Errorf("ValidatePage of a valid page query: %v", err)
	}
	for what, q := range map[string]ports.Query{
		"no limit":         ports.All(),
		"a negative limit": ports.All().Limit(-1),
		"an offset":        ports.All().Limit(2).Offset(1),
		"an unknown field": ports.Where("Nope", ports.Eq, 1).Limit(2),
	} {
		if err := s.ValidatePage(q); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("ValidatePage with %s: %v, want ErrInvalid", what, err)
		}
	}
}

func TestValidateDeleteWhere(t *testing.T) {
	s := kschema(t)
	if err := s.ValidateDeleteWhere(ports.Where("I", ports.Eq, 1)); err != nil {
		t.Errorf("ValidateDeleteWhere of a condition: %v", err)
	}
	for what, q := range map[string]ports.Query{
		"no condition":     ports.All(),
		"an order":         ports.Where("I", ports.Eq, 1).OrderBy("I"),
		"a limit":          ports.Where("I", ports.Eq, 1).Limit(1),
		"an offset":        ports.Where("I", ports.Eq, 1).Offset(1),
		"an unknown field": ports.Where("Nope", ports.Eq, 1),
	} {
		if err := s.ValidateDeleteWhere(q); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("ValidateDeleteWhere with %s: %v, want ErrInvalid", what, err)
		}
	}
}
