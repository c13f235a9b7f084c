package fakes

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The equality key of a string agrees with compare (two strings have one
// key exactly when they compare equal) and compare is a total order, on
// random strings of characters chosen to tie: case, accents, spaces,
// control characters, emoji.
func TestCollationKeyAgreesWithCompare(t *testing.T) {
	alphabet := []string{"a", "A", "á", "b", " ", "\t", "\x00", "\u00a0", "😀", "😁", "\ufffd", "ß", "s", "S"}
	rng := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		var b strings.Builder
		for range rng.IntN(5) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for _, c := range []collation{collGeneralCI, collBinary} {
		for range 20000 {
			a, b, d := word(), word(), word()
			ab, ba := c.compare(a, b), c.compare(b, a)
			if ab != -ba {
				t.Fatalf("%v: compare(%+q, %+q) = %d but compare(b, a) = %d", c, a, b, ab, ba)
			}
			if (ab == 0) != (c.key(a) == c.key(b)) {
				t.Fatalf("%v: compare(%+q, %+q) = %d, keys equal = %v", c, a, b, ab, c.key(a) == c.key(b))
			}
			if ab <= 0 && c.compare(b, d) <= 0 && c.compare(a, d) > 0 {
				t.Fatalf("%v: %+q <= %+q <= %+q but compare(a, c) > 0", c, a, b, d)
			}
		}
	}
	// The key relies on no character but the space weighing a space.
	w := generalCIWeights()
	for cp, x := range w {
		if x == ' ' && cp != ' ' {
			t.Errorf("U+%04X weighs a space: trailing-space trimming in key is not enough", cp)
		}
	}
}

func TestCollationExamples(t *testing.T) {
	for _, c := range []struct {
		a, b string
		ci   int // general_ci
		bin  int
	}{
		{"abc", "ABC", 0, 1},
		{"cafe", "café", 0, -1},
		{"abc ", "abc", 0, 1},
		{"a\t", "a", -1, 1},
		{"😀", "😁", 0, -1},
		{"ä", "b", -1, 1},
		{"Z", "a", 1, -1},
	} {
		if got := collGeneralCI.compare(c.a, c.b); got != c.ci {
			t.Errorf("general_ci compare(%+q, %+q) = %d, want %d", c.a, c.b, got, c.ci)
		}
		if got := collBinary.compare(c.a, c.b); got != c.bin {
			t.Errorf("binary compare(%+q, %+q) = %d, want %d", c.a, c.b, got, c.bin)
		}
	}
}

// window never overflows: Offset(1).Limit(MaxInt64) used to make a slice
// of lo+limit (negative) elements.
func TestWindowHugeValues(t *testing.T) {
	for _, c := range []struct{ n, offset, limit, lo, hi int }{
		{5, 1, math.MaxInt, 1, 5},
		{5, math.MaxInt, 3, 5, 5},
		{5, 2, 2, 2, 4},
		{5, 0, 0, 0, 5},
		{5, 6, 0, 5, 5},
		{0, 1, 1, 0, 0},
	} {
		if lo, hi := window(c.n, c.offset, c.limit); lo != c.lo || hi != c.hi {
			t.Errorf("window(%d, %d, %d) = %d, %d; want %d, %d", c.n, c.offset, c.limit, lo, hi, c.lo, c.hi)
		}
	}
}
